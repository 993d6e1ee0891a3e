package replay

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAMemoryGuardReleasesARequestThatWasNotTaken(t *testing.T) {
	c := newClock()
	m := newMemory(t, 10, c)
	release, err := m.Reserve(context.Background(), mac("a"), c.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("holds %d signatures after release, want 0", n)
	}
	if err := reserve(m, "a", c.now()); err != nil {
		t.Fatalf("retry of a request that was not taken: %v", err)
	}
	// A second release of the first reservation leaves the second alone.
	if err := release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := reserve(m, "a", c.now()); !errors.Is(err, ErrSeen) {
		t.Fatalf("after a stale release = %v, want ErrSeen", err)
	}
}

// TestAFullMemoryGuardRefusesUntilTheOldestLeavesTheWindow: a full guard refuses new
// signatures until the oldest leaves the window, and never forgets one still inside it.
func TestAFullMemoryGuardRefusesUntilTheOldestLeavesTheWindow(t *testing.T) {
	const limit = 3
	c := newClock()
	m := newMemory(t, limit, c)
	start := c.now()
	for i := range limit {
		if err := reserve(m, fmt.Sprint(i), start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(5 * time.Minute)
	// The oldest (dated start) leaves the window at start+15m: 10 minutes on.
	var full *FullError
	if err := reserve(m, "new", c.now()); !errors.As(err, &full) || full.RetryAfter != 10*time.Minute || full.Limit != limit {
		t.Fatalf("a new signature in a full guard = %v, want FullError after 10m", err)
	}
	for i := range limit {
		if err := reserve(m, fmt.Sprint(i), start.Add(time.Duration(i)*time.Minute)); !errors.Is(err, ErrSeen) {
			t.Fatalf("signature %d in a full guard = %v, want ErrSeen", i, err)
		}
	}
	c.advance(10*time.Minute + time.Second)
	if err := reserve(m, "new", c.now()); err != nil {
		t.Fatalf("after the oldest left the window: %v", err)
	}
	if n := m.Len(); n != limit {
		t.Fatalf("holds %d signatures, want %d", n, limit)
	}
	// The forgotten one is outside the window: refused as stale, not taken.
	if err := reserve(m, "0", start); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("the evicted signature = %v, want ErrOutsideWindow", err)
	}
}

func TestMemoryGuardEntriesAgeOutWithTheirDate(t *testing.T) {
	c := newClock()
	m := newMemory(t, 100, c)
	c.advance(time.Hour) // the node has run for a while
	start := c.now()
	// Dated from 10 minutes ago to 4 minutes ahead, one a minute.
	for i := -10; i < 5; i++ {
		if err := reserve(m, fmt.Sprint(i), start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		at   time.Duration // after start
		want int
	}{
		{0, 15},
		{5 * time.Minute, 15},             // the oldest (start-10m) leaves at start+5m, not before
		{5*time.Minute + time.Second, 14}, // now it has
		{10*time.Minute + time.Second, 9}, // up to start-5m gone
		{19*time.Minute + time.Second, 0}, // the newest (start+4m) gone
	} {
		c.t = start.Add(step.at)
		// A reservation evicts; the probe is then taken back.
		release, err := m.Reserve(context.Background(), mac("probe"), c.now())
		if err != nil {
			t.Fatal(err)
		}
		if err := release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := m.Len(); n != step.want {
			t.Fatalf("at start+%v the guard holds %d of the signatures, want %d", step.at, n, step.want)
		}
	}
}

func TestNewMemoryRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		opts  Options
	}{
		{"no room for a signature", 0, Options{}},
		{"a negative limit", -1, Options{}},
		{"a negative window", 10, Options{Window: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewMemory(tc.limit, tc.opts); err == nil {
				t.Fatal("NewMemory accepted it")
			}
		})
	}
}
