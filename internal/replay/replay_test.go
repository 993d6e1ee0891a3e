package replay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

const window = 15 * time.Minute

// clock is a clock tests move by hand; several guards (nodes) may share it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingDB counts claims, and holds each until gate lets it through when gate is set.
type countingDB struct {
	kv.DB
	claims atomic.Int64
	gate   chan struct{}
}

func (d *countingDB) Claim(ctx context.Context, set []byte, keys [][]byte) ([]bool, error) {
	d.claims.Add(1)
	if d.gate != nil {
		<-d.gate
	}
	return d.DB.(kv.Claimer).Claim(ctx, set, keys)
}

func (d *countingDB) Unclaim(ctx context.Context, set []byte, keys [][]byte, before []byte) error {
	return d.DB.(kv.Claimer).Unclaim(ctx, set, keys, before)
}

func openDB(t testing.TB) *boltkv.DB {
	t.Helper()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newGuard(t testing.TB, db kv.DB, c *clock) *Guard {
	t.Helper()
	g, err := New(context.Background(), db, Options{Window: window, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mac(s string) []byte { return []byte("signature of " + s) }

// stored counts how many of the signatures (made by mac) signed at dates the record holds:
// a claim of one it holds is refused, one it does not is taken back.
func stored(t testing.TB, db kv.DB, dates map[string]time.Time) int {
	t.Helper()
	var keys [][]byte
	for s, date := range dates {
		keys = append(keys, recordKey(mac(s), date))
	}
	claims := db.(kv.Claimer)
	claimed, err := claims.Claim(context.Background(), seenSet, keys)
	if err != nil {
		t.Fatal(err)
	}
	var added [][]byte
	for i, c := range claimed {
		if c {
			added = append(added, keys[i])
		}
	}
	if err := claims.Unclaim(context.Background(), seenSet, added, nil); err != nil {
		t.Fatal(err)
	}
	return len(keys) - len(added)
}

// guard is what Guard and Memory both offer, the contract the API relies on.
type guard interface {
	Reserve(ctx context.Context, mac []byte, date time.Time) (func(context.Context) error, error)
	CheckDate(date time.Time) error
	Since() time.Time
}

// onEachGuard runs fn on both kinds of guard: open makes one on the clock it is given.
func onEachGuard(t *testing.T, fn func(t *testing.T, open func(c *clock) guard)) {
	t.Run("Guard", func(t *testing.T) {
		fn(t, func(c *clock) guard { return newGuard(t, openDB(t), c) })
	})
	t.Run("Memory", func(t *testing.T) {
		fn(t, func(c *clock) guard { return newMemory(t, 100, c) })
	})
}

func newMemory(t testing.TB, limit int, c *clock) *Memory {
	t.Helper()
	m, err := NewMemory(limit, Options{Window: window, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func reserve(g guard, s string, date time.Time) error {
	_, err := g.Reserve(context.Background(), mac(s), date)
	return err
}

func TestEachSignatureIsTakenOnce(t *testing.T) { onEachGuard(t, testEachSignatureIsTakenOnce) }

func testEachSignatureIsTakenOnce(t *testing.T, open func(*clock) guard) {
	c := newClock()
	g := open(c)
	date := c.now()
	if err := reserve(g, "a", date); err != nil {
		t.Fatalf("first request: %v", err)
	}
	if err := reserve(g, "a", date); !errors.Is(err, ErrSeen) {
		t.Fatalf("the same request again = %v, want ErrSeen", err)
	}
	if err := reserve(g, "b", date); err != nil {
		t.Fatalf("another signature with the same date: %v", err)
	}
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// onTwoNodes runs fn with two handles on one control database, as two nodes sharing it
// hold: one bbolt file opened once, and one PostgreSQL database through two connection
// pools.
func onTwoNodes(t *testing.T, fn func(t *testing.T, a, b kv.DB)) {
	t.Run("bbolt", func(t *testing.T) {
		db := openDB(t)
		fn(t, db, db)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.New(t)
		fn(t, pgkvtest.Open(t, url, "control"), pgkvtest.Open(t, url, "control"))
	})
}

// TestASignatureTakenOnOneNodeIsRefusedOnAnother: two Guards on one database are two nodes
// sharing the control database.
func TestASignatureTakenOnOneNodeIsRefusedOnAnother(t *testing.T) {
	onTwoNodes(t, testTakenOnOneNodeRefusedOnAnother)
}

func testTakenOnOneNodeRefusedOnAnother(t *testing.T, dbA, dbB kv.DB) {
	c := newClock()
	a, b := newGuard(t, dbA, c), newGuard(t, dbB, c)
	date := c.now()
	if err := reserve(a, "a", date); err != nil {
		t.Fatal(err)
	}
	if err := reserve(b, "a", date); !errors.Is(err, ErrSeen) {
		t.Fatalf("node b took a signature node a took: %v, want ErrSeen", err)
	}

	// Copies sent to both nodes at once: one is taken in the whole cluster.
	if n := takenOfCopies(t, 32, date, a, b); n != 1 {
		t.Fatalf("%d of 32 copies sent to two nodes were taken, want 1", n)
	}
}

func TestConcurrentCopiesOfARequestAreTakenOnce(t *testing.T) {
	onEachGuard(t, func(t *testing.T, open func(*clock) guard) {
		c := newClock()
		if n := takenOfCopies(t, 16, c.now(), open(c)); n != 1 {
			t.Fatalf("%d of 16 concurrent copies were taken, want 1", n)
		}
	})
}

// takenOfCopies sends copies of one request signed at date to the guards at once, in
// turn, and returns how many were taken.
func takenOfCopies(t *testing.T, copies int, date time.Time, guards ...guard) int32 {
	t.Helper()
	var taken atomic.Int32
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() {
			switch err := reserve(guards[i%len(guards)], "twin", date); {
			case err == nil:
				taken.Add(1)
			case !errors.Is(err, ErrSeen):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return taken.Load()
}

func TestAReleasedSignatureMayBeTakenAgain(t *testing.T) {
	c := newClock()
	db := openDB(t)
	a, b := newGuard(t, db, c), newGuard(t, db, c)
	release, err := a.Reserve(context.Background(), mac("a"), c.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := reserve(b, "a", c.now()); err != nil {
		t.Fatalf("a retry, on another node, of a request that was not taken: %v", err)
	}
}

func TestRequestsOutsideTheWindowAreRefused(t *testing.T) {
	onEachGuard(t, testRequestsOutsideTheWindowAreRefused)
}

func testRequestsOutsideTheWindowAreRefused(t *testing.T, open func(*clock) guard) {
	c := newClock()
	c.advance(time.Hour) // the record began an hour ago
	g := open(c)
	c.advance(time.Hour)
	for _, tc := range []struct {
		name string
		date time.Time
		want error
	}{
		{"signed more than the window ago", c.now().Add(-window - time.Second), ErrOutsideWindow},
		{"signed more than the window ahead", c.now().Add(window + time.Second), ErrOutsideWindow},
		{"signed at the window's far edge", c.now().Add(-window), nil},
		{"signed at the window's near edge", c.now().Add(window), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := g.CheckDate(tc.date); !errors.Is(err, tc.want) {
				t.Errorf("CheckDate = %v, want %v", err, tc.want)
			}
			if err := reserve(g, tc.name, tc.date); !errors.Is(err, tc.want) {
				t.Errorf("Reserve = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRequestsSignedBeforeTheRecordBeganAreRefused: they may have been taken before it (by
// a previous process, for a guard in memory), so whether they were cannot be told.
func TestRequestsSignedBeforeTheRecordBeganAreRefused(t *testing.T) {
	onEachGuard(t, func(t *testing.T, open func(*clock) guard) {
		c := newClock()
		g := open(c)
		if !g.Since().Equal(c.now()) {
			t.Fatalf("Since = %v, want %v", g.Since(), c.now())
		}
		if err := reserve(g, "a", c.now().Add(-time.Second)); !errors.Is(err, ErrBeforeRecord) {
			t.Fatalf("signed before the record began = %v, want ErrBeforeRecord", err)
		}
		if err := reserve(g, "a", c.now()); err != nil {
			t.Fatalf("signed in the second the record began: %v", err)
		}
	})
}

// TestTheRecordBeginsOnceForTheCluster: a node started later, or restarted, keeps the
// record's beginning, since the signatures taken since then are all recorded.
func TestTheRecordBeginsOnceForTheCluster(t *testing.T) {
	c := newClock()
	db := openDB(t)
	a := newGuard(t, db, c)
	began := c.now()
	if err := reserve(a, "a", began); err != nil {
		t.Fatalf("signed in the second the record began: %v", err)
	}
	c.advance(time.Minute)
	b := newGuard(t, db, c) // a node started later, or a restart
	if !b.Since().Equal(began) {
		t.Fatalf("the record began at %v for a later node, want %v", b.Since(), began)
	}
	if err := reserve(b, "b", began.Add(30*time.Second)); err != nil {
		t.Fatalf("signed before this node started, after the record began: %v", err)
	}
	if err := reserve(b, "a", began); !errors.Is(err, ErrSeen) {
		t.Fatalf("taken before this node started = %v, want ErrSeen", err)
	}
}

// TestRecordsAreDeletedOnceNoNodeCanTakeThem: a record is kept for the window and the window
// again (other nodes' clocks may be behind) and then deleted by a later commit.
func TestRecordsAreDeletedOnceNoNodeCanTakeThem(t *testing.T) {
	c := newClock()
	db := openDB(t)
	g := newGuard(t, db, c)
	start := c.now()
	dates := map[string]time.Time{}
	for i := range 10 {
		dates[fmt.Sprint(i)] = start.Add(time.Duration(i) * time.Minute)
		if err := reserve(g, fmt.Sprint(i), dates[fmt.Sprint(i)]); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		at   time.Duration // after start
		want int           // of the ten
	}{
		{0, 10},
		{2 * window, 10},              // the oldest is kept up to start+2·window
		{2*window + time.Second, 9},   // and deleted after it
		{2*window + 5*time.Minute, 5}, // up to start+4m
		{2*window + time.Hour, 0},
	} {
		c.t = start.Add(step.at)
		// A commit deletes what expired; the probe is then taken back.
		release, err := g.Reserve(context.Background(), mac(fmt.Sprint("probe", step.at)), c.now())
		if err != nil {
			t.Fatal(err)
		}
		if err := release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := stored(t, db, dates); n != step.want {
			t.Fatalf("at start+%v %d records are kept, want %d", step.at, n, step.want)
		}
	}
}

// TestAClockSteppedBackDoesNotReadmitAForgottenSignature: once a signature's record is
// gone, its date outside the window (and the window again, for a shared record), a wall
// clock stepped back does not take its request in again; nor is a request taken whose body
// arrives after its date left the window.
func TestAClockSteppedBackDoesNotReadmitAForgottenSignature(t *testing.T) {
	onEachGuard(t, func(t *testing.T, open func(*clock) guard) {
		c := newClock()
		g := open(c)
		date := c.now()
		if err := reserve(g, "a", date); err != nil {
			t.Fatal(err)
		}
		c.advance(2*window + time.Second)
		if err := reserve(g, "a", date); !errors.Is(err, ErrOutsideWindow) {
			t.Fatalf("after the window = %v, want ErrOutsideWindow", err)
		}
		if err := reserve(g, "b", c.now()); err != nil { // forgets a
			t.Fatal(err)
		}
		c.advance(-2 * window)
		if err := reserve(g, "a", date); !errors.Is(err, ErrOutsideWindow) {
			t.Fatalf("after the clock stepped back = %v, want ErrOutsideWindow", err)
		}
	})
}

// TestReservationsWaitingForACommitShareTheNext: while one commit is under way, the
// reservations that arrive are written together in one more, not one each.
func TestReservationsWaitingForACommitShareTheNext(t *testing.T) {
	c := newClock()
	inner := openDB(t)
	g := newGuard(t, inner, c)
	db := &countingDB{DB: inner, gate: make(chan struct{})}
	g.claims = db // from now on, every commit waits for the gate

	const n = 50
	errs := make(chan error, n)
	go func() { errs <- reserve(g, "first", c.now()) }()
	waitFor(t, func() bool { return db.claims.Load() == 1 }) // the first commit is held
	for i := range n - 1 {
		go func() { errs <- reserve(g, fmt.Sprint(i), c.now()) }()
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) == n-1 })
	close(db.gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if u := db.claims.Load(); u != 2 {
		t.Fatalf("%d reservations took %d claims, want 2", n, u)
	}
	dates := map[string]time.Time{"first": c.now()}
	for i := range n - 1 {
		dates[fmt.Sprint(i)] = c.now()
	}
	if s := stored(t, inner, dates); s != n {
		t.Fatalf("%d records kept, want %d", s, n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewRefusesBadArguments(t *testing.T) {
	if _, err := New(context.Background(), nil, Options{}); err == nil {
		t.Error("New accepted a nil database")
	}
	if _, err := New(context.Background(), openDB(t), Options{Window: -time.Second}); err == nil {
		t.Error("New accepted a negative window")
	}
	if _, err := New(context.Background(), struct{ kv.DB }{openDB(t)}, Options{}); err == nil {
		t.Error("New accepted a database that keeps no claims")
	}
}

// BenchmarkReserve is what a Data Collector request pays to be recorded: one at a time, each
// pays a claim (on boltkv, an Update and its fsync; on PostgreSQL, one INSERT); many at once
// (parallelism × GOMAXPROCS callers) share claims.
func BenchmarkReserve(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) kv.DB
	}{
		{"bbolt", func(b *testing.B) kv.DB { return openDB(b) }},
		{"PostgreSQL", func(b *testing.B) kv.DB { return pgkvtest.Open(b, pgtest.New(b), "control") }},
	}
	for _, backend := range backends {
		for _, parallel := range []int{1, 16} {
			b.Run(fmt.Sprintf("backend=%s/parallelism=%d", backend.name, parallel), func(b *testing.B) {
				db := &countingDB{DB: backend.open(b)}
				g, err := New(context.Background(), db, Options{})
				if err != nil {
					b.Fatal(err)
				}
				db.claims.Store(0)
				var next atomic.Int64
				date := time.Now()
				b.SetParallelism(parallel)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := g.Reserve(context.Background(), mac(fmt.Sprint(next.Add(1))), date); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
				b.ReportMetric(float64(db.claims.Load())/float64(b.N), "claims/reservation")
			})
		}
	}
}
