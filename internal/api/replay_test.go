package api

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestReplayCache(limit int) (*replayCache, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	return newReplayCache(limit, collectorClockSkew, clock.now), clock
}

func macOf(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// wantRefusal checks that err is the API refusal status/code.
func wantRefusal(t *testing.T, err error, status int, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	return e
}

func TestReplayCacheTakesEachSignatureOnce(t *testing.T) {
	c, clock := newTestReplayCache(10)
	date := clock.now()
	if _, err := c.reserve(macOf("a"), date); err != nil {
		t.Fatalf("first request: %v", err)
	}
	for i := range 2 {
		_, err := c.reserve(macOf("a"), date)
		e := wantRefusal(t, err, 409, "DuplicateRequest")
		if i == 0 {
			t.Logf("refusal: %s", e.Message)
		}
	}
	if _, err := c.reserve(macOf("b"), date); err != nil {
		t.Fatalf("another signature with the same date: %v", err)
	}
	if n := c.len(); n != 2 {
		t.Fatalf("cache holds %d signatures, want 2", n)
	}
}

func TestReplayCacheForgetsARequestThatWasNotStored(t *testing.T) {
	c, clock := newTestReplayCache(10)
	forget, err := c.reserve(macOf("a"), clock.now())
	if err != nil {
		t.Fatal(err)
	}
	forget()
	if n := c.len(); n != 0 {
		t.Fatalf("cache holds %d signatures after forget, want 0", n)
	}
	if _, err := c.reserve(macOf("a"), clock.now()); err != nil {
		t.Fatalf("retry of a request that was not stored: %v", err)
	}
	forget() // a second forget of the first reservation leaves the second alone
	wantRefusal(t, func() error { _, err := c.reserve(macOf("a"), clock.now()); return err }(), 409, "DuplicateRequest")
}

// TestReplayCacheBoundHolds: a full cache refuses new signatures until the
// oldest leaves the window, and never forgets one still inside it.
func TestReplayCacheBoundHolds(t *testing.T) {
	const limit = 3
	c, clock := newTestReplayCache(limit)
	start := clock.now()
	for i := range limit {
		if _, err := c.reserve(macOf(fmt.Sprint(i)), start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(5 * time.Minute)
	_, err := c.reserve(macOf("new"), clock.now())
	// The oldest (dated start) leaves the window at start+15m: 10 minutes on.
	if e := wantRefusal(t, err, 429, "ThrottledError"); e.RetryAfter != 600 {
		t.Fatalf("Retry-After = %d, want 600", e.RetryAfter)
	}
	for i := range limit {
		_, err := c.reserve(macOf(fmt.Sprint(i)), start.Add(time.Duration(i)*time.Minute))
		wantRefusal(t, err, 409, "DuplicateRequest")
	}
	if n := c.len(); n != limit {
		t.Fatalf("cache holds %d signatures, want %d", n, limit)
	}

	clock.advance(10*time.Minute + time.Second)
	if _, err := c.reserve(macOf("new"), clock.now()); err != nil {
		t.Fatalf("after the oldest left the window: %v", err)
	}
	if n := c.len(); n != limit {
		t.Fatalf("cache holds %d signatures, want %d", n, limit)
	}
	// The forgotten one is outside the window: refused as stale, not taken.
	_, err = c.reserve(macOf("0"), start)
	wantRefusal(t, err, 403, "InvalidAuthorization")
}

func TestReplayCacheEntriesAgeOutWithTheirDate(t *testing.T) {
	c, clock := newTestReplayCache(100)
	clock.advance(time.Hour) // the node has run for a while
	start := clock.now()
	// Dated from 10 minutes ago to 4 minutes ahead, one a minute.
	for i := -10; i < 5; i++ {
		if _, err := c.reserve(macOf(fmt.Sprint(i)), start.Add(time.Duration(i)*time.Minute)); err != nil {
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
		clock.t = start.Add(step.at)
		// A reservation runs the eviction; the probe is then taken back.
		forget, err := c.reserve(macOf("probe"), clock.now())
		if err != nil {
			t.Fatal(err)
		}
		forget()
		if n := c.len(); n != step.want {
			t.Fatalf("at start+%v the cache holds %d of the signatures, want %d", step.at, n, step.want)
		}
	}
}

func TestReplayCacheRefusesRequestsSignedBeforeItStarted(t *testing.T) {
	c, clock := newTestReplayCache(10)
	_, err := c.reserve(macOf("a"), clock.now().Add(-time.Second))
	wantRefusal(t, err, 403, "InvalidAuthorization")
	if _, err := c.reserve(macOf("a"), clock.now()); err != nil {
		t.Fatalf("signed in the second the node started: %v", err)
	}
}

// TestReplayCacheChecksTheWindowOnItsOwnClock: a request whose body arrives
// after its date left the window is refused, even though its headers came in
// time, since its twin's record may be gone.
func TestReplayCacheChecksTheWindowOnItsOwnClock(t *testing.T) {
	c, clock := newTestReplayCache(10)
	date := clock.now()
	if _, err := c.reserve(macOf("a"), date); err != nil {
		t.Fatal(err)
	}
	clock.advance(collectorClockSkew + time.Second)
	_, err := c.reserve(macOf("a"), date)
	wantRefusal(t, err, 403, "InvalidAuthorization")
}

// TestReplayCacheIsNotFooledByAClockSteppedBack: once a signature has left
// the window and been forgotten, a wall clock stepped back does not let the
// request in again.
func TestReplayCacheIsNotFooledByAClockSteppedBack(t *testing.T) {
	c, clock := newTestReplayCache(10)
	date := clock.now()
	if _, err := c.reserve(macOf("a"), date); err != nil {
		t.Fatal(err)
	}
	clock.advance(collectorClockSkew + time.Second)
	if _, err := c.reserve(macOf("b"), clock.now()); err != nil { // evicts a
		t.Fatal(err)
	}
	clock.advance(-time.Minute)
	_, err := c.reserve(macOf("a"), date)
	wantRefusal(t, err, 403, "InvalidAuthorization")
}

func TestReplayCacheTakesOneOfConcurrentTwins(t *testing.T) {
	c, clock := newTestReplayCache(10)
	var taken atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.reserve(macOf("a"), clock.t); err == nil {
				taken.Add(1)
			}
		})
	}
	wg.Wait()
	if n := taken.Load(); n != 1 {
		t.Fatalf("%d of 16 concurrent copies were taken, want 1", n)
	}
}

// BenchmarkReplayCacheReserve is the cost a Data Collector request pays to be
// remembered, in a cache the window keeps at 90% of its default bound (one
// request every 10 ms of clock), and the heap each remembered signature holds.
func BenchmarkReplayCacheReserve(b *testing.B) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	c := newReplayCache(collectorReplayLimit, collectorClockSkew, clock.now)
	held := collectorReplayLimit * 9 / 10
	step := collectorClockSkew / time.Duration(held)
	macs := make([][sha256.Size]byte, 1<<16)
	for i := range macs {
		macs[i] = macOf(fmt.Sprint(i))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range held {
		mac := macOf(fmt.Sprint("fill", i))
		if _, err := c.reserve(mac, clock.t.Truncate(time.Second)); err != nil {
			b.Fatal(err)
		}
		clock.advance(step)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / float64(c.len())
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		mac := macs[i%len(macs)]
		mac[0] ^= byte(i >> 16) // distinct from the fill and from each lap
		mac[1] ^= byte(i >> 24)
		clock.advance(step)
		if _, err := c.reserve(mac, clock.t.Truncate(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perEntry, "B/entry")
}
