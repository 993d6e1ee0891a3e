package logstore

import (
	"context"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// waitFlushed waits until table tbl of ws in st has a segment and no WAL
// waiting for its flush.
func waitFlushed(t *testing.T, st *Store, ws, tbl string) {
	t.Helper()
	waitTable(t, st, ws, tbl, func(tb *table) bool { return len(tb.segs) > 0 && len(tb.flushing) == 0 })
}

// waitTable waits, on the changes of table tbl of ws in st, until cond
// holds (called with the table's lock held).
func waitTable(t *testing.T, st *Store, ws, tbl string, cond func(*table) bool) {
	t.Helper()
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for !cond(tb) {
		ch := tb.changed
		tb.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			tb.mu.Lock()
			t.Fatalf("%s/%s: the condition did not come", ws, tbl)
		}
		tb.mu.Lock()
	}
}

func segmentCount(t *testing.T, st *Store, ws, tbl string) int {
	t.Helper()
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.segs)
}

// TestBudgetFlushesTheLargestWALOfAnyStore: two stores (two workspaces of
// a node) share one budget; rows of the second that take the node over it
// flush the largest WAL, the first's, long before its own size or age
// would.
func TestBudgetFlushesTheLargestWALOfAnyStore(t *testing.T) {
	keys := envelopetest.New("aek")
	big, small := eventsBody(t, 0, 40, testNow), eventsBody(t, 100, 20, testNow)
	// The WAL holds rows more compactly than their JSON: the big body
	// alone stays under the budget, the two together do not.
	budget := NewMemoryBudget(int64(len(big)))
	cfg := func(c *Config) { c.Budget = budget }
	a := newTestStore(t, t.TempDir(), keys, cfg)
	b := newTestStore(t, t.TempDir(), keys, cfg)

	mustIngest(t, a, "ws-a", tbl, big)
	if got := budget.Unflushed(); got < int64(len(big))/2 || got > budget.Limit() {
		t.Fatalf("unflushed %d after one ingest of %d bytes under a budget of %d", got, len(big), budget.Limit())
	}
	if n := segmentCount(t, a, "ws-a", tbl); n != 0 {
		t.Fatalf("flushed under the budget: %d segments", n)
	}

	mustIngest(t, b, "ws-b", tbl, small)
	waitFlushed(t, a, "ws-a", tbl)
	if n := segmentCount(t, b, "ws-b", tbl); n != 0 {
		t.Fatalf("the smaller WAL was flushed too: %d segments", n)
	}
	if got := budget.Unflushed(); got < int64(len(small))/2 || got > int64(len(small)) {
		t.Fatalf("unflushed %d after the flush, want the second store's rows (%d bytes of JSON)", got, len(small))
	}
	// The flushed rows read back from the segments, the others from the WAL.
	for _, c := range []struct {
		st   *Store
		ws   string
		rows int
	}{{a, "ws-a", 40}, {b, "ws-b", 20}} {
		got, err := scanAll(c.st, ScanRequest{Workspace: c.ws, Table: tbl, Columns: []string{"EventID"}})
		if err != nil || countRows(got) != c.rows {
			t.Fatalf("%s: %d rows, %v; want %d", c.ws, countRows(got), err, c.rows)
		}
	}
}

// TestClosedStoreLeavesTheBudget: rows left in the WAL of a closed store
// are no longer in memory, and count no more.
func TestClosedStoreLeavesTheBudget(t *testing.T) {
	budget := NewMemoryBudget(1 << 30)
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.Budget = budget })
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 10, testNow))
	if budget.Unflushed() == 0 {
		t.Fatal("ingested rows not counted")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := budget.Unflushed(); got != 0 {
		t.Fatalf("a closed store still counts %d bytes", got)
	}
}

// TestStoreInUseWhileAScannerIsOpen: a store with an open scanner is not
// idle, whatever its last ingest.
func TestStoreInUseWhileAScannerIsOpen(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 10, testNow))
	if st.InUse() {
		t.Fatal("in use with nothing under way")
	}
	scs, err := st.ScanShards(context.Background(), ScanRequest{Workspace: ws, Table: tbl}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		if !st.InUse() {
			t.Fatal("not in use with a scanner open")
		}
		sc.Close()
		sc.Close()
	}
	if st.InUse() {
		t.Fatal("still in use with every scanner closed")
	}
}

// TestHeldStoreIsInUseUntilReleased: a query holds its store from its
// first scan to its last; a release counts once, however often it is called.
func TestHeldStoreIsInUseUntilReleased(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	first, second := st.Hold(), st.Hold()
	first()
	first()
	if !st.InUse() {
		t.Fatal("not in use while a hold is left: the first release counted twice")
	}
	second()
	if st.InUse() {
		t.Fatal("still in use with every hold released")
	}
}

// TestSharedCodecOutlivesAStore: stores of one node share a Codec; closing
// one (a workspace's store closed as idle) leaves it to the others.
func TestSharedCodecOutlivesAStore(t *testing.T) {
	codec, err := NewCodec(2)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	keys := envelopetest.New("aek")
	shared := func(c *Config) { c.Codec = codec }
	a := newTestStore(t, t.TempDir(), keys, shared)
	b := newTestStore(t, t.TempDir(), keys, shared)
	ctx := context.Background()
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, b, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := scanAll(b, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Computer"}})
	if err != nil || countRows(got) != 10 {
		t.Fatalf("after the other store closed: %d rows, %v", countRows(got), err)
	}
}
