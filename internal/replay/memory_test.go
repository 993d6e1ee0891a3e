package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// TestAMemoryGuardRefusesRequestsSignedBeforeItStarted: it starts empty, so a request
// signed before it, which a previous process may have taken, is refused.
func TestAMemoryGuardRefusesRequestsSignedBeforeItStarted(t *testing.T) {
	c := newClock()
	m := newMemory(t, 10, c)
	if !m.Since().Equal(c.now()) {
		t.Fatalf("Since = %v, want %v", m.Since(), c.now())
	}
	if err := reserve(m, "a", c.now().Add(-time.Second)); !errors.Is(err, ErrBeforeRecord) {
		t.Fatalf("signed before the guard started = %v, want ErrBeforeRecord", err)
	}
	if err := reserve(m, "a", c.now()); err != nil {
		t.Fatalf("signed in the second the guard started: %v", err)
	}
}

// TestAMemoryGuardIsNotFooledByAClockSteppedBack: once a signature has left the window and
// been forgotten, a wall clock stepped back does not let the request in again; nor does a
// request whose body arrives after its date left the window.
func TestAMemoryGuardIsNotFooledByAClockSteppedBack(t *testing.T) {
	c := newClock()
	m := newMemory(t, 10, c)
	date := c.now()
	if err := reserve(m, "a", date); err != nil {
		t.Fatal(err)
	}
	c.advance(window + time.Second)
	if err := reserve(m, "a", date); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("after the window = %v, want ErrOutsideWindow", err)
	}
	if err := reserve(m, "b", c.now()); err != nil { // evicts a
		t.Fatal(err)
	}
	c.advance(-time.Minute)
	if err := reserve(m, "a", date); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("after the clock stepped back = %v, want ErrOutsideWindow", err)
	}
}

func TestAMemoryGuardTakesOneOfConcurrentTwins(t *testing.T) {
	c := newClock()
	m := newMemory(t, 10, c)
	var taken atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			switch err := reserve(m, "a", c.now()); {
			case err == nil:
				taken.Add(1)
			case !errors.Is(err, ErrSeen):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := taken.Load(); n != 1 {
		t.Fatalf("%d of 16 concurrent copies were taken, want 1", n)
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
