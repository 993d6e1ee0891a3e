package kql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/heaptest"
)

// bigSource holds Big: n rows of a unique 100-byte message, one of 100 hosts, five tags and a
// constant key K, enough to exceed the small memory limits the tests set.
func bigSource(t testing.TB, n int) *MemSource {
	big := NewMemTable("Big", Column{"TimeGenerated", TypeDatetime}, Column{"Host", TypeString},
		Column{"Msg", TypeString}, Column{"Tags", TypeDynamic}, Column{"Bag", TypeDynamic}, Column{"K", TypeLong})
	for i := range n {
		msg := fmt.Sprintf("%06d %s", i, strings.Repeat("x", 93))
		tags := []any{"a", "b", "c", "d", fmt.Sprint(i)}
		bag := map[string]any{fmt.Sprint("k", i): int64(i)}
		if err := big.Append(fixtureNow.Add(-time.Duration(i)*time.Second), fmt.Sprintf("host%02d", i%100), msg, tags, bag, 1); err != nil {
			t.Fatal(err)
		}
	}
	return NewMemSource(big)
}

// TestMemoryLimitNamesTheOperatorAndTheLimit runs, for every operator that holds rows or
// state, a query whose holding exceeds a 256 KiB limit; each is refused with a LimitError
// naming that operator and the limit, and every byte is back in the node's pool afterwards.
func TestMemoryLimitNamesTheOperatorAndTheLimit(t *testing.T) {
	src := bigSource(t, 20000)
	const limit = 256 << 10
	for _, tc := range []struct{ name, q, op string }{
		{"sort holds its input", `Big | sort by Msg | take 1`, "sort"},
		{"top holds up to its count", `Big | top 100000 by Msg`, "top"},
		{"summarize holds its groups", `Big | summarize count() by Msg | count`, "summarize"},
		{"distinct holds its values", `Big | distinct Msg | count`, "distinct"},
		{"make_set collects into one group", `Big | summarize make_set(Msg)`, "summarize"},
		{"make_list collects into one group", `Big | summarize make_list(Msg)`, "summarize"},
		{"make_bag collects into one group", `Big | summarize make_bag(Bag)`, "summarize"},
		{"dcount remembers what it saw", `Big | summarize dcount(Msg)`, "summarize"},
		{"percentile keeps every value", `Big | summarize percentile(Msg, 50)`, "summarize"},
		{"join holds its right side", `Big | take 1 | join kind=inner (Big) on K | count`, "join"},
		{"join builds its output", `Big | take 4000 | join kind=inner (Big | take 100 | project K) on K | count`, "join"},
		{"lookup holds its right side", `Big | take 1 | lookup (Big | project Msg, Host) on Msg | count`, "lookup"},
		{"mv-expand builds its output", `Big | mv-expand Tags | count`, "mv-expand"},
		{"materialize holds its rows", `let m = materialize(Big | project Msg); m | count`, "materialize"},
		{"as holds its rows", `Big | project Msg | as B | count`, "materialize"},
		{"a subquery holds its rows", `Big | where Msg in ((Big | project Msg)) | count`, "subquery"},
		{"range holds its rows", `range x from 1 to 100000 step 1 | count`, "range"},
		{"make-series holds its series", `Big | make-series count() on TimeGenerated step 1s by Msg | count`, "make-series"},
		{"sample holds its rows", `Big | sample 20000 | count`, "sample"},
		{"sample-distinct holds its values", `Big | sample-distinct 20000 of Msg | count`, "sample-distinct"},
		{"top-nested holds its input", `Big | top-nested of Msg by count() | count`, "top-nested"},
		{"next() holds rows back", `Big | serialize | extend n = next(Msg, 10000) | count`, "next()"},
		{"the result holds its rows", `Big | project Msg`, "result"},
		{"a union's rows are held by the result", `union Big, Big | project Msg`, "result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Compile(tc.q, src.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			pool := NewMemoryPool(1<<30, time.Second)
			_, err = q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: limit, Memory: pool})
			var le *LimitError
			if !errors.Is(err, ErrMemoryLimit) || !errors.As(err, &le) || le.Operator != tc.op || le.Limit != limit {
				t.Fatalf("err = %v, want a memory limit error naming %s and %d bytes", err, tc.op, limit)
			}
			if msg := err.Error(); !strings.Contains(msg, "operator "+tc.op+" ") || !strings.Contains(msg, "256 KiB") {
				t.Fatalf("message %q names neither the operator nor the limit", msg)
			}
			if used := pool.Used(); used != 0 {
				t.Fatalf("%d bytes still reserved from the pool after the query failed", used)
			}
		})
	}
}

// TestQueriesWithinTheLimitGiveEverythingBack runs queries that fit: the result's rows hold
// their memory until the result is released, and then the pool is whole, however the operators
// ended (take stops a join and a sort early).
func TestQueriesWithinTheLimitGiveEverythingBack(t *testing.T) {
	src := bigSource(t, 2000)
	pool := NewMemoryPool(1<<30, time.Second)
	for _, q := range []string{
		`Big | sort by Msg | take 3`,
		`Big | summarize make_set(Host) by Host`,
		`Big | join kind=leftouter (Big | take 10) on K | take 5`,
		`Big | mv-expand Tags | take 7`,
		`let m = materialize(Big | take 100); m | join (m) on Msg | count`,
	} {
		cq, err := Compile(q, src.Catalog())
		if err != nil {
			t.Fatal(err)
		}
		res, err := cq.Run(context.Background(), src, Options{Now: fixtureNow, Memory: pool})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if pool.Used() == 0 {
			t.Fatalf("%s: the result's rows were given back before the result was released", q)
		}
		res.Release()
		if used := pool.Used(); used != 0 {
			t.Fatalf("%s: %d bytes still reserved after the result was released", q, used)
		}
	}
}

// TestSelfJoinIsRefusedWithinSecondsUnderTheLimit is the query: a 20,000 × 20,000
// self-join on a constant key, counted. Its 400 million joined rows are refused as memory,
// within seconds, and the heap stays under the limit on the way.
func TestSelfJoinIsRefusedWithinSecondsUnderTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a join up to 256 MiB")
	}
	src := bigSource(t, 20000)
	const limit = 256 << 20
	q, err := Compile(`Big | take 20000 | extend k=1 | join kind=inner (Big | take 20000 | extend k=1) on k | count`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	base := heaptest.Objects()
	peak := heaptest.Watch(t, time.Millisecond)
	start := time.Now()
	_, err = q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: limit})
	took := time.Since(start)
	var le *LimitError
	if !errors.As(err, &le) || le.Err != ErrMemoryLimit || le.Operator != "join" {
		t.Fatalf("err = %v, want the join refused for memory", err)
	}
	if took > 10*time.Second {
		t.Fatalf("refused after %s, want within seconds", took)
	}
	if p := peak() - base; p > limit {
		t.Fatalf("the query's peak heap was %d MiB, over the %d MiB limit", p>>20, limit>>20)
	}
	t.Logf("refused after %s; the query's peak heap was %d MiB", took.Round(time.Millisecond), (peak()-base)>>20)
}

// endlessSource's table Endless yields batches of distinct 1 KiB messages until its context
// ends, after gate (if set) lets each batch past; batches, if set, counts them.
type endlessSource struct {
	gate    chan struct{}
	batches *atomic.Int64
}

func (endlessSource) Catalog() Catalog {
	return Catalog{Tables: []TableSchema{{Name: "Endless", Columns: []Column{{"Msg", TypeString}}}}}
}

func (s endlessSource) Tables(context.Context) ([]TableSchema, error) { return s.Catalog().Tables, nil }

func (s endlessSource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	return &endlessIter{gate: s.gate, batches: s.batches}, nil
}

type endlessIter struct {
	gate    chan struct{}
	batches *atomic.Int64
	n       int
}

func (it *endlessIter) Next(ctx context.Context) (*Batch, error) {
	if it.gate != nil {
		select {
		case <-it.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	col := make([]any, 1024)
	for i := range col {
		it.n++
		col[i] = fmt.Sprintf("%010d%s", it.n, strings.Repeat("m", 1014))
	}
	if it.batches != nil {
		it.batches.Add(1)
	}
	return &Batch{Len: len(col), Columns: [][]any{col}}, nil
}

func (it *endlessIter) Close() error { return nil }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCancelledQueryGivesItsMemoryBack cancels a sort that is holding an endless input: the
// query stops, its reservation is back in the pool at once, and the heap comes back down.
func TestCancelledQueryGivesItsMemoryBack(t *testing.T) {
	src := endlessSource{}
	q, err := Compile(`Endless | sort by Msg`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	base := heaptest.Objects()
	pool := NewMemoryPool(1<<30, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.Run(ctx, src, Options{Now: fixtureNow, MaxMemory: 1 << 30, Memory: pool})
		done <- err
	}()
	waitFor(t, "the sort to hold 64 MiB", 30*time.Second, func() bool { return pool.Used() >= 64<<20 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the query went on for 5 s after it was cancelled")
	}
	if used := pool.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved after the query was cancelled", used)
	}
	waitFor(t, "the heap to come back down", 10*time.Second, func() bool { return heaptest.Objects() < base+16<<20 })
}

// TestCancellationStopsEveryOperatorPromptly cancels, and times out, queries that would run
// for a long time: a cross product being built, a sort and a summarize holding an endless
// input, an mv-expand streaming one. Each stops within a second or two of it and gives its
// memory back.
func TestCancellationStopsEveryOperatorPromptly(t *testing.T) {
	big := bigSource(t, 20000)
	for _, tc := range []struct {
		name, q string
		src     func(*atomic.Int64) Source
	}{
		{"join building a cross product", `Big | extend k=1 | join kind=inner (Big | extend k=1) on k | count`, func(*atomic.Int64) Source { return big }},
		{"sort holding an endless input", `Endless | sort by Msg`, func(n *atomic.Int64) Source { return endlessSource{batches: n} }},
		{"summarize holding an endless input", `Endless | summarize make_list(Msg) by substring(Msg, 0, 6)`, func(n *atomic.Int64) Source { return endlessSource{batches: n} }},
		{"mv-expand streaming an endless input", `Endless | extend p = split(Msg, "m") | mv-expand p | count`, func(n *atomic.Int64) Source { return endlessSource{batches: n} }},
	} {
		for _, timeout := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", cancelled", true: ", timed out"}[timeout]
			t.Run(name, func(t *testing.T) {
				var batches atomic.Int64
				src := tc.src(&batches)
				cat, _ := src.(interface{ Catalog() Catalog })
				q, err := Compile(tc.q, cat.Catalog())
				if err != nil {
					t.Fatal(err)
				}
				pool := NewMemoryPool(2<<30, time.Second)
				opts := Options{Now: fixtureNow, MaxMemory: 1 << 30, Memory: pool}
				if timeout {
					opts.Timeout = 300 * time.Millisecond
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() {
					_, err := q.Run(ctx, src, opts)
					done <- err
				}()
				if !timeout {
					waitFor(t, "the query to be under way", 30*time.Second, func() bool { return pool.Used() >= 16<<20 || batches.Load() >= 20 })
					cancel()
				}
				select {
				case err := <-done:
					want := context.Canceled
					if timeout {
						want = context.DeadlineExceeded
					}
					if !errors.Is(err, want) {
						t.Fatalf("err = %v, want %v", err, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the query went on for 5 s after it was stopped")
				}
				if used := pool.Used(); used != 0 {
					t.Fatalf("%d bytes still reserved after the query stopped", used)
				}
			})
		}
	}
}

// holdPool starts a query that holds a little over 5 MiB of pool and then blocks until the
// returned cancel; done reports its end.
func holdPool(t *testing.T, pool *MemoryPool) (cancel func(), done <-chan error) {
	t.Helper()
	holder := endlessSource{gate: make(chan struct{})}
	q, err := Compile(`Endless | sort by Msg`, holder.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan error, 1)
	go func() {
		_, err := q.Run(ctx, holder, Options{Now: fixtureNow, MaxMemory: pool.Limit(), Memory: pool})
		ch <- err
	}()
	for range 5 { // each batch is 1024 rows of a little over 1 KiB
		holder.gate <- struct{}{}
	}
	waitFor(t, "the holding query to reserve 5 MiB", 10*time.Second, func() bool { return pool.Used() >= 5<<20 })
	return cancel, ch
}

// TestNodeMemoryIsSharedAndAWaitingQueryGivesUp runs a query that holds most of an 8 MiB pool;
// a second query that needs about 7 MiB waits for the pool's wait, then fails with
// ErrNodeMemory naming the pool's size.
func TestNodeMemoryIsSharedAndAWaitingQueryGivesUp(t *testing.T) {
	const poolSize = 8 << 20
	pool := NewMemoryPool(poolSize, 300*time.Millisecond)
	holdPool(t, pool)
	src := bigSource(t, 40000)
	q, err := Compile(`Big | project Msg | sort by Msg | take 1`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: poolSize, Memory: pool})
	var le *LimitError
	if !errors.Is(err, ErrNodeMemory) || !errors.As(err, &le) || le.Limit != poolSize || !strings.Contains(err.Error(), "8 MiB") {
		t.Fatalf("err = %v, want ErrNodeMemory naming the 8 MiB pool", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("gave up after %s, want after the pool's wait of 300ms", waited)
	}
	// alone, the same query fits
	if _, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: poolSize, Memory: NewMemoryPool(poolSize, 0)}); err != nil {
		t.Fatalf("alone: %v", err)
	}
}

// TestAWaitingQueryGoesOnWhenMemoryComesBack: the second query waits, the first ends and
// gives its memory back, and the second then completes.
func TestAWaitingQueryGoesOnWhenMemoryComesBack(t *testing.T) {
	const poolSize = 8 << 20
	pool := NewMemoryPool(poolSize, time.Minute)
	cancelHolder, holderDone := holdPool(t, pool)
	src := bigSource(t, 40000)
	q, err := Compile(`Big | project Msg | sort by Msg | take 1`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		res, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: poolSize, Memory: pool})
		if err == nil {
			res.Release()
		}
		done <- err
	}()
	waitFor(t, "the second query to wait for memory", 10*time.Second, func() bool {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return pool.waiters > 0
	})
	cancelHolder()
	if err := <-holderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("holder: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the waiting query: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting query did not go on once memory came back")
	}
	if used := pool.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved", used)
	}
}

// TestNegativeLimitAccountsForNothing: a run with a negative MaxMemory is never refused for
// memory and reserves nothing from the pool it is given.
func TestNegativeLimitAccountsForNothing(t *testing.T) {
	src := bigSource(t, 20000)
	q, err := Compile(`Big | sort by Msg | join kind=inner (Big | take 10) on K | count`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	pool := NewMemoryPool(1, 0)
	if _, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: -1, Memory: pool}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxMemory: 1 << 20}); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("with a 1 MiB limit: %v, want ErrMemoryLimit", err)
	}
}
