package logstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// memSharedWAL is a SharedWAL in memory, for the store's own tests; package
// pgwal's tests run the store on the PostgreSQL one.
type memSharedWAL struct {
	mu   sync.Mutex
	recs map[walPlace][]byte
	down bool // every call fails, as when the database is unreachable
	// hang, if set, makes each Read wait until it is closed, as a read
	// from a database that stopped answering does.
	hang chan struct{}
	// appended, if set, gets each record Append takes, which then waits
	// for its context to end, as a commit that does not answer.
	appended chan WALRecord
}

type walPlace struct {
	ws, table, lineage string
	wal                uint64
	ord                int64
}

var errDown = errors.New("the shared WAL is down")

func (m *memSharedWAL) Append(ctx context.Context, recs []WALRecord) error {
	m.mu.Lock()
	appended := m.appended
	m.mu.Unlock()
	if appended != nil {
		for _, r := range recs {
			appended <- r
		}
		<-ctx.Done()
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	if m.recs == nil {
		m.recs = map[walPlace][]byte{}
	}
	for _, r := range recs {
		p := walPlace{r.Workspace, r.Table, r.Lineage, r.WAL, r.Ord}
		if _, ok := m.recs[p]; ok {
			return fmt.Errorf("record %v is stored already", p)
		}
		m.recs[p] = slices.Clone(r.Data)
	}
	return nil
}

func (m *memSharedWAL) Read(_ context.Context, q WALQuery) ([]WALRecord, error) {
	m.mu.Lock()
	hang := m.hang
	m.mu.Unlock()
	if hang != nil {
		<-hang
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	from := map[[2]any]int64{}
	for _, c := range q.From {
		from[[2]any{c.Lineage, c.WAL}] = c.Next
	}
	var out []WALRecord
	for p, data := range m.recs {
		switch {
		case p.ws != q.Workspace || p.table != q.Table:
			continue
		case q.Lineage != "" && p.lineage != q.Lineage, q.Lineage == "" && p.lineage == q.Except:
			continue
		}
		if next, ok := from[[2]any{p.lineage, p.wal}]; ok && p.ord < next {
			continue
		}
		out = append(out, WALRecord{Workspace: p.ws, Table: p.table, Lineage: p.lineage, WAL: p.wal, Ord: p.ord, Data: slices.Clone(data)})
	}
	slices.SortFunc(out, func(a, b WALRecord) int {
		return cmp.Or(cmp.Compare(a.Lineage, b.Lineage), cmp.Compare(a.WAL, b.WAL), cmp.Compare(a.Ord, b.Ord))
	})
	return out, nil
}

func (m *memSharedWAL) Prune(_ context.Context, ws, table, lineage string, below uint64, keep []uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	for p := range m.recs {
		if p.ws == ws && p.table == table && p.lineage == lineage && p.wal < below && !slices.Contains(keep, p.wal) {
			delete(m.recs, p)
		}
	}
	return nil
}

func (m *memSharedWAL) DeleteWorkspace(_ context.Context, ws string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.recs {
		if p.ws == ws {
			delete(m.recs, p)
		}
	}
	return nil
}

func (m *memSharedWAL) setDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// records counts the records (not headers) held of a lineage.
func (m *memSharedWAL) records(lineage string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for p := range m.recs {
		if p.lineage == lineage && p.ord != WALHeader {
			n++
		}
	}
	return n
}

// edit changes the first record (not header) of lineage's table that f
// takes.
func (m *memSharedWAL) edit(lineage, table string, f func(p *walPlace, data []byte) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, data := range m.recs {
		if p.lineage != lineage || p.table != table || p.ord == WALHeader {
			continue
		}
		q := p
		if f(&q, data) {
			delete(m.recs, p)
			m.recs[q] = data
			return true
		}
	}
	return false
}

// sharedNodeIn is a store of lineage on c and sh over directory dir.
func sharedNodeIn(t *testing.T, c cluster, sh *memSharedWAL, dir, lineage string) *Store {
	t.Helper()
	return newTestStore(t, dir, c.keys, func(cfg *Config) {
		cfg.Ledger, cfg.Objects, cfg.CacheDir, cfg.Lineage, cfg.SharedWAL = c.ledger, c.objects, t.TempDir(), lineage, sh
	})
}

func sharedCluster(t *testing.T) (cluster, *memSharedWAL) {
	return cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}, &memSharedWAL{}
}

// loseDiskWithUnflushedRows runs node-a on c and sh: 20 rows ingested and
// flushed, then 15 acknowledged and not flushed, and then its disk is
// lost, the 15 in the shared WAL alone.
func loseDiskWithUnflushedRows(t *testing.T, c cluster, sh *memSharedWAL) {
	t.Helper()
	dir := t.TempDir()
	a := sharedNodeIn(t, c, sh, dir, "node-a")
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 20, testNow.Add(-time.Hour)))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, ws, tbl, eventsBody(t, 20, 15, testNow))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

func withShared(sh SharedWAL) func(*Config) { return func(cfg *Config) { cfg.SharedWAL = sh } }

// wantRows fails unless the scan of st gives want rows, each once.
// wantScanned fails unless a scan of the test table through st reads want
// rows; what says when.
func wantScanned(t *testing.T, st *Store, want int, what string) {
	t.Helper()
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != want {
		t.Fatalf("%s: %d rows, %v; want %d", what, countRows(got), err, want)
	}
}

func wantRows(t *testing.T, st *Store, want int, what string) {
	t.Helper()
	if n := distinctRows(t, st, what); n != want {
		t.Fatalf("%s: %d rows; want %d", what, n, want)
	}
}

func TestANodeReadsTheRowsAnotherHasNotFlushedFromTheSharedWAL(t *testing.T) {
	c, sh := sharedCluster(t)
	a, b := c.node(t, "node-a", withShared(sh)), c.node(t, "node-b", withShared(sh))
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 50, testNow.Add(-time.Hour)))
	mustIngest(t, b, ws, tbl, eventsBody(t, 50, 30, testNow))
	wantRows(t, a, 80, "node a before any flush")
	wantRows(t, b, 80, "node b before any flush")
	schema, err := b.Schema(context.Background(), ws, tbl)
	if err != nil || !slices.ContainsFunc(schema, func(c ColumnSchema) bool { return c.Name == "TargetLogonGuid" }) {
		t.Fatalf("node b's schema: %v, %v", schema, err)
	}

	// Flushed, a WAL's rows are read from its segments, and its shared
	// records are gone.
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := sh.records("node-a"); n != 0 {
		t.Fatalf("the shared WAL holds %d records of node a after its flush; want none", n)
	}
	wantRows(t, b, 80, "node b after node a flushed")
	mustIngest(t, a, ws, tbl, eventsBody(t, 80, 20, testNow))
	wantRows(t, b, 100, "node b after node a took more")
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantRows(t, a, 100, "node a after both flushed")
}

func TestALineageWhoseDiskIsLostIsReplayedFromTheSharedWAL(t *testing.T) {
	c, sh := sharedCluster(t)
	dir := t.TempDir()
	a := sharedNodeIn(t, c, sh, dir, "node-a")
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 40, testNow.Add(-time.Hour)))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, ws, tbl, eventsBody(t, 40, 25, testNow))
	mustIngest(t, a, ws, tbl, eventsBody(t, 65, 10, testNow))
	// Node a is gone, and its disk with it: never closed, its directory
	// removed. Another node reads its rows meanwhile.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	b := c.node(t, "node-b", withShared(sh))
	wantRows(t, b, 75, "node b once node a is gone")

	// A node on a new disk under node a's lineage replays it, and flushes.
	again := c.node(t, "node-a", withShared(sh))
	wantRows(t, again, 75, "node a again on a new disk")
	if err := again.FlushWorkspace(context.Background(), ws, tbl); err != nil {
		t.Fatal(err)
	}
	if n := sh.records("node-a"); n != 0 {
		t.Fatalf("the shared WAL holds %d records of node a after the replay was flushed; want none", n)
	}
	if d := again.Damage(); len(d) != 0 {
		t.Fatalf("damage: %v", d)
	}
	wantRows(t, b, 75, "node b after the replay was flushed")
	wantRows(t, again, 75, "node a after its flush")
}

func TestASharedWALRecordTamperedOrMovedIsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(p *walPlace, data []byte) bool
	}{
		{"a bit flipped", func(_ *walPlace, data []byte) bool { data[len(data)-1] ^= 1; return true }},
		// Each moves the record next to the one record the place it moves
		// to has, in a WAL whose header names the same key.
		{"moved to another lineage", func(p *walPlace, _ []byte) bool { p.lineage, p.ord = "node-c", 1; return true }},
		{"moved to another ordinal", func(p *walPlace, _ []byte) bool { p.ord = 1; return true }},
		{"moved to another table", func(p *walPlace, _ []byte) bool { p.table, p.ord = "Other_CL", 1; return true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, sh := sharedCluster(t)
			a, b := cl.node(t, "node-a", withShared(sh)), cl.node(t, "node-b", withShared(sh))
			mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
			mustIngest(t, a, ws, "Other_CL", eventsBody(t, 100, 1, testNow))
			other := cl.node(t, "node-c", withShared(sh))
			mustIngest(t, other, ws, tbl, eventsBody(t, 200, 1, testNow))
			if !sh.edit("node-a", tbl, c.edit) {
				t.Fatal("no record to edit")
			}
			table := tbl
			if c.name == "moved to another table" {
				table = "Other_CL"
			}
			_, err := scanAll(b, ScanRequest{Workspace: ws, Table: table})
			var ie *IntegrityError
			if !errors.As(err, &ie) {
				t.Fatalf("scan through node b: %v; want an IntegrityError", err)
			}
		})
	}
}

func TestAnIngestTheSharedWALRefusesIsNotAcknowledged(t *testing.T) {
	c, sh := sharedCluster(t)
	a, b := c.node(t, "node-a", withShared(sh)), c.node(t, "node-b", withShared(sh))
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	sh.setDown(true)
	if _, err := a.Ingest(context.Background(), ws, tbl, eventsBody(t, 10, 5, testNow)); !errors.Is(err, ErrSharedWALUnavailable) {
		t.Fatalf("ingest with the shared WAL down: %v; want ErrSharedWALUnavailable", err)
	}
	sh.setDown(false)
	wantRows(t, a, 10, "node a after the refused call")
	mustIngest(t, a, ws, tbl, eventsBody(t, 20, 5, testNow))
	wantRows(t, b, 15, "node b")
}

func TestAnotherNodeFlushesTheTailOfALineageWhoseDiskIsLost(t *testing.T) {
	c, sh := sharedCluster(t)
	b := c.node(t, "node-b", withShared(sh))
	loseDiskWithUnflushedRows(t, c, sh)
	if err := b.FlushTail(context.Background(), ws, tbl, "node-a"); err != nil {
		t.Fatal(err)
	}
	if n := sh.records("node-a"); n != 0 {
		t.Fatalf("the shared WAL holds %d records of node a after node b flushed its tail; want none", n)
	}
	ptrs, err := c.ledger.Lineages(context.Background(), ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	p := ptrs["node-a"]
	man, _, err := b.readManifestAt(context.Background(), ws, tbl, "node-a", &p)
	if err != nil || len(man.wals) != 0 {
		t.Fatalf("node a's manifest after its tail was flushed: %v, %v; want no WAL listed", man, err)
	}
	wantRows(t, b, 35, "node b after it flushed node a's tail")
	if d := b.Damage(); len(d) != 0 {
		t.Fatalf("damage: %v", d)
	}
}

func TestAnotherNodesRowsNotFlushedNeedTheKey(t *testing.T) {
	c, sh := sharedCluster(t)
	a, b := c.node(t, "node-a", withShared(sh)), c.node(t, "node-b", withShared(sh))
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	wantRows(t, b, 10, "node b with the key")
	mustIngest(t, a, ws, tbl, eventsBody(t, 10, 5, testNow))
	c.keys.Revoke()
	opens := c.keys.Opens()
	if _, err := scanAll(b, ScanRequest{Workspace: ws, Table: tbl}); err == nil {
		t.Fatal("node b read node a's rows with the key revoked")
	}
	if n := c.keys.Opens() - opens; n != 0 {
		t.Fatalf("node b opened %d key(s) with the key revoked", n)
	}
	c.keys.Restore()
	wantRows(t, b, 15, "node b with the key again")
}

func TestSharedRecordsAFailedPruneLeftGoWithTheNextOpen(t *testing.T) {
	c, sh := sharedCluster(t)
	dir := t.TempDir()
	open := func() *Store {
		return sharedNodeIn(t, c, sh, dir, "node-a")
	}
	a := open()
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	sh.setDown(true)
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sh.setDown(false)
	if n := sh.records("node-a"); n != 1 {
		t.Fatalf("the shared WAL holds %d records after a flush whose prune failed; want the 1 left", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	again := open()
	wantRows(t, again, 10, "node a opened again")
	if n := sh.records("node-a"); n != 0 {
		t.Fatalf("the shared WAL holds %d records after the next open; want none", n)
	}
}

// TestQueriesDuringFlushesCountEachRowOnce: node b counts while node a
// takes rows and flushes them, WAL after WAL: every count has each row
// once, and every row acknowledged before it began.
func TestQueriesDuringFlushesCountEachRowOnce(t *testing.T) {
	c, sh := sharedCluster(t)
	a := c.node(t, "node-a", withShared(sh), func(cfg *Config) { cfg.FlushBytes = 16 << 10 })
	b := c.node(t, "node-b", withShared(sh))
	const calls, each = 40, 10
	var acked atomic.Int64
	done := make(chan struct{})
	defer func() { <-done }() // before the cleanups close the stores
	go func() {
		defer close(done)
		for i := range calls {
			if _, err := a.Ingest(context.Background(), ws, tbl, eventsBody(t, i*each, each, testNow)); err != nil {
				t.Error(err)
				return
			}
			acked.Add(each)
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		before := acked.Load()
		n := distinctRows(t, b, "node b while node a takes and flushes rows")
		if int64(n) < before || n > calls*each {
			t.Fatalf("node b counts %d rows, with %d acknowledged before it began", n, before)
		}
	}
	wantRows(t, b, calls*each, "node b once node a is done")
}
