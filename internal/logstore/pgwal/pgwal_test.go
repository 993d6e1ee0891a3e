package pgwal

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	ws  = "ws1"
	tbl = "App_CL"
)

func openWAL(t testing.TB, dbURL string) *WAL {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	w, err := Open(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func rec(lineage string, wal uint64, ord int64, data string) logstore.WALRecord {
	return logstore.WALRecord{Workspace: ws, Table: tbl, Lineage: lineage, WAL: wal, Ord: ord, Data: []byte(data)}
}

func places(recs []logstore.WALRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s/%s/%s/%d/%d=%s", r.Workspace, r.Table, r.Lineage, r.WAL, r.Ord, r.Data))
	}
	return out
}

func TestAppendReadPrune(t *testing.T) {
	ctx := context.Background()
	w := openWAL(t, pgtest.New(t))
	if err := w.Append(ctx, []logstore.WALRecord{
		rec("a", 0, logstore.WALHeader, "ha0"), rec("a", 0, 1, "a01"), rec("a", 0, 0, "a00"),
		rec("a", 1, logstore.WALHeader, "ha1"), rec("a", 1, 0, "a10"),
		rec("b", 3, logstore.WALHeader, "hb3"), rec("b", 3, 0, "b30"),
		{Workspace: ws, Table: "Other_CL", Lineage: "a", WAL: 0, Ord: 0, Data: []byte("other")},
		{Workspace: "ws2", Table: tbl, Lineage: "a", WAL: 0, Ord: 0, Data: []byte("ws2")},
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    logstore.WALQuery
		want []string
	}{
		{"one lineage, in order", logstore.WALQuery{Workspace: ws, Table: tbl, Lineage: "a"},
			[]string{"ws1/App_CL/a/0/-1=ha0", "ws1/App_CL/a/0/0=a00", "ws1/App_CL/a/0/1=a01", "ws1/App_CL/a/1/-1=ha1", "ws1/App_CL/a/1/0=a10"}},
		{"every lineage but one", logstore.WALQuery{Workspace: ws, Table: tbl, Except: "a"},
			[]string{"ws1/App_CL/b/3/-1=hb3", "ws1/App_CL/b/3/0=b30"}},
		{"from cursors", logstore.WALQuery{Workspace: ws, Table: tbl, From: []logstore.WALCursor{{Lineage: "a", WAL: 0, Next: 1}, {Lineage: "b", WAL: 3, Next: 1}}},
			[]string{"ws1/App_CL/a/0/1=a01", "ws1/App_CL/a/1/-1=ha1", "ws1/App_CL/a/1/0=a10"}},
		{"another table", logstore.WALQuery{Workspace: ws, Table: "Other_CL"}, []string{"ws1/Other_CL/a/0/0=other"}},
		{"no such table", logstore.WALQuery{Workspace: ws, Table: "None_CL"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := w.Read(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(places(got), c.want) {
				t.Fatalf("read %+v:\n got %q\nwant %q", c.q, places(got), c.want)
			}
		})
	}
	if err := w.Append(ctx, []logstore.WALRecord{rec("a", 0, 0, "again")}); err == nil {
		t.Fatal("a record stored twice at one place was taken")
	}
	if err := w.Append(ctx, []logstore.WALRecord{rec("a", 2, logstore.WALHeader, "ha2"), rec("a", 3, logstore.WALHeader, "ha3")}); err != nil {
		t.Fatal(err)
	}
	// WALs 0 and 2 of a are flushed, 1 is still listed, 3 is new.
	if err := w.Prune(ctx, ws, tbl, "a", 3, []uint64{1}); err != nil {
		t.Fatal(err)
	}
	got, err := w.Read(ctx, logstore.WALQuery{Workspace: ws, Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ws1/App_CL/a/1/-1=ha1", "ws1/App_CL/a/1/0=a10", "ws1/App_CL/a/3/-1=ha3", "ws1/App_CL/b/3/-1=hb3", "ws1/App_CL/b/3/0=b30"}; !slices.Equal(places(got), want) {
		t.Fatalf("after pruning a below 3 but 1: %q; want %q", places(got), want)
	}
	if err := w.DeleteWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if got, err := w.Read(ctx, logstore.WALQuery{Workspace: ws, Table: tbl}); err != nil || len(got) != 0 {
		t.Fatalf("after deleting the workspace: %q, %v", places(got), err)
	}
	if got, err := w.Read(ctx, logstore.WALQuery{Workspace: "ws2", Table: tbl}); err != nil || len(got) != 1 {
		t.Fatalf("another workspace after deleting one: %q, %v", places(got), err)
	}
}

// TestConcurrentAppendsShareCommits: appends arriving while a commit runs
// are stored by one commit, and each returns only once its own record is
// stored.
func TestConcurrentAppendsShareCommits(t *testing.T) {
	ctx := context.Background()
	w := openWAL(t, pgtest.New(t))
	const writers, each = 16, 25
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				r := rec(fmt.Sprintf("l%d", i), 0, int64(j), "x")
				if err := w.Append(ctx, []logstore.WALRecord{r}); err != nil {
					t.Error(err)
					return
				}
				got, err := w.Read(ctx, logstore.WALQuery{Workspace: ws, Table: tbl, Lineage: r.Lineage,
					From: []logstore.WALCursor{{Lineage: r.Lineage, WAL: 0, Next: r.Ord}}})
				if err != nil || len(got) != 1 {
					t.Errorf("record %s/%d after its append returned: %q, %v", r.Lineage, r.Ord, places(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	commits := w.commits.Load()
	t.Logf("%d appends, %d commits", writers*each, commits)
	if commits >= writers*each {
		t.Fatalf("%d appends took %d commits; want fewer: appends waiting share one", writers*each, commits)
	}
}

// node is a log store of the lineage given on a disk of its own, sharing
// the ledger, the object store and the shared WAL.
type cluster struct {
	ledger  *logstore.MemLedger
	objects objstore.Store
	keys    *envelopetest.Keys
	wal     *WAL
}

func newCluster(t *testing.T, dbURL string) cluster {
	objects, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cluster{ledger: &logstore.MemLedger{}, objects: objects, keys: envelopetest.New("aek"), wal: openWAL(t, dbURL)}
}

func (c cluster) node(t *testing.T, lineage, dir string) *logstore.Store {
	t.Helper()
	st, err := logstore.New(logstore.Config{Dir: dir, Keys: c.keys, Ledger: c.ledger, Objects: c.objects,
		CacheDir: t.TempDir(), Lineage: lineage, SharedWAL: c.wal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const canary = "CANARY-7c1e5d0b"

func body(first, n int) []byte {
	var rows []string
	for i := first; i < first+n; i++ {
		rows = append(rows, fmt.Sprintf(`{"N":%d,"Message":"%s row %d"}`, i, canary, i))
	}
	return []byte("[" + strings.Join(rows, ",") + "]")
}

// rowsOnce fails unless st reads rows 0..want-1, each once.
func rowsOnce(t *testing.T, st *logstore.Store, want int, what string) {
	t.Helper()
	sc, err := st.Scan(context.Background(), logstore.ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"N"}})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer sc.Close()
	var got []int64
	for sc.Next() {
		b := sc.Batch()
		c := b.Column("N")
		got = append(got, c.Ints[:b.Len]...)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	slices.Sort(got)
	if len(got) != want || len(slices.Compact(slices.Clone(got))) != want || (want > 0 && got[want-1] != int64(want-1)) {
		t.Fatalf("%s: %d rows (%d distinct); want rows 0 to %d, each once", what, len(got), len(slices.Compact(slices.Clone(got))), want-1)
	}
}

func ingest(t *testing.T, st *logstore.Store, first, n int) {
	t.Helper()
	if _, err := st.Ingest(context.Background(), ws, tbl, body(first, n)); err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

// TestTheStoreOnPostgreSQL: rows taken by one node are read by another
// before any flush; a node whose disk is lost is replayed from PostgreSQL
// under its lineage; PostgreSQL holds none of the rows' text.
func TestTheStoreOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	c := newCluster(t, dbURL)
	dirA := t.TempDir()
	a, b := c.node(t, "node-a", dirA), c.node(t, "node-b", t.TempDir())
	ingest(t, a, 0, 30)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ingest(t, a, 30, 20)
	ingest(t, b, 50, 10)
	rowsOnce(t, b, 60, "node b before node a's second flush")
	rowsOnce(t, a, 60, "node a before node b's flush")

	dump := pgtest.Dump(t, dbURL)
	for _, needle := range [][]byte{[]byte(canary), []byte(hex.EncodeToString([]byte(canary)))} {
		if bytes.Contains(dump, needle) {
			t.Fatalf("pg_dump holds the rows' text (%q)", needle)
		}
	}
	if !bytes.Contains(dump, []byte("sealwatch_wal")) {
		t.Fatal("pg_dump has no sealwatch_wal: the canary looked at nothing")
	}

	// Node a is killed and its disk lost: never closed, its directory gone.
	if err := os.RemoveAll(dirA); err != nil {
		t.Fatal(err)
	}
	rowsOnce(t, b, 60, "node b once node a is gone")
	again := c.node(t, "node-a", filepath.Join(t.TempDir(), "new-disk"))
	rowsOnce(t, again, 60, "node a on a new disk")
	if err := again.FlushWorkspace(ctx, ws, tbl); err != nil {
		t.Fatal(err)
	}
	if got, err := c.wal.Read(ctx, logstore.WALQuery{Workspace: ws, Table: tbl, Lineage: "node-a"}); err != nil || len(got) != 0 {
		t.Fatalf("node a's shared records after its replay was flushed: %q, %v; want none", places(got), err)
	}
	rowsOnce(t, b, 60, "node b after node a's replay was flushed")
}

// TestAnIngestIsRefusedWhilePostgreSQLIsUnreachable: nothing is
// acknowledged that PostgreSQL did not commit.
func TestAnIngestIsRefusedWhilePostgreSQLIsUnreachable(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	c := newCluster(t, dbURL)
	a, b := c.node(t, "node-a", t.TempDir()), c.node(t, "node-b", t.TempDir())
	ingest(t, a, 0, 10)
	restore := pgtest.Unreachable(t, dbURL)
	if _, err := a.Ingest(ctx, ws, tbl, body(10, 5)); !errors.Is(err, logstore.ErrSharedWALUnavailable) {
		t.Fatalf("ingest with PostgreSQL refusing connections: %v; want ErrSharedWALUnavailable", err)
	}
	restore()
	ingest(t, a, 10, 5)
	rowsOnce(t, b, 15, "node b after PostgreSQL is back")
}

// TestAnAppendGivenUpIsNeitherStoredNorAcknowledged: an append whose
// context ended while it waited for its commit returns its context's error
// and its records are not stored, while the others of its batch are.
func TestAnAppendGivenUpIsNeitherStoredNorAcknowledged(t *testing.T) {
	w := openWAL(t, pgtest.New(t))
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	gone := &appendCall{ctx: ended, recs: []logstore.WALRecord{rec("a", 0, 0, "gone")}, done: make(chan error, 1)}
	kept := &appendCall{ctx: context.Background(), recs: []logstore.WALRecord{rec("a", 0, 1, "kept")}, done: make(chan error, 1)}
	w.mu.Lock()
	w.queue, w.running = []*appendCall{gone, kept}, true
	w.wg.Add(1)
	w.mu.Unlock()
	w.commitLoop()
	if err := <-gone.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the append given up: %v; want context.Canceled", err)
	}
	if err := <-kept.done; err != nil {
		t.Fatalf("the other append: %v", err)
	}
	got, err := w.Read(context.Background(), logstore.WALQuery{Workspace: ws, Table: tbl})
	if err != nil || !slices.Equal(places(got), []string{"ws1/App_CL/a/0/1=kept"}) {
		t.Fatalf("stored: %q, %v; want the other append's record alone", places(got), err)
	}
}

// TestAQueryWhilePostgreSQLIsUnreachableIsUnavailable: a query that cannot
// read the other nodes' rows not yet flushed fails with kv.ErrUnavailable,
// which the API answers 503, not with an error it would answer 500; so do
// the ingest and the prune.
func TestAQueryWhilePostgreSQLIsUnreachableIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	c := newCluster(t, dbURL)
	a, b := c.node(t, "node-a", t.TempDir()), c.node(t, "node-b", t.TempDir())
	ingest(t, a, 0, 10)
	restore := pgtest.Unreachable(t, dbURL)
	defer restore()
	if _, err := b.Scan(ctx, logstore.ScanRequest{Workspace: ws, Table: tbl}); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("a query with PostgreSQL refusing connections: %v; want kv.ErrUnavailable", err)
	}
	if _, err := a.Ingest(ctx, ws, tbl, body(10, 5)); !errors.Is(err, kv.ErrUnavailable) || !errors.Is(err, logstore.ErrSharedWALUnavailable) {
		t.Fatalf("an ingest with PostgreSQL refusing connections: %v; want kv.ErrUnavailable and ErrSharedWALUnavailable", err)
	}
	if err := c.wal.Prune(ctx, ws, tbl, "node-a", 1, nil); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("a prune with PostgreSQL refusing connections: %v; want kv.ErrUnavailable", err)
	}
}
