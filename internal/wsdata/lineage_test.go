package wsdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

func controlDB(t *testing.T) kv.DB {
	t.Helper()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// lineageNode is one node's log store of a cluster sharing db and objects.
func lineageNode(t *testing.T, db kv.DB, objects objstore.Store, keys *envelopetest.Keys, lineage string) *logstore.Store {
	t.Helper()
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys, Ledger: kvLedger{db}, Objects: objects,
		CacheDir: t.TempDir(), Lineage: lineage, Now: func() time.Time { return lineageNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var lineageNow = time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)

// numbered are rows first..first+n-1, each with its number in N, a minute
// apart back from lineageNow.
func numbered(first, n int) []byte { return numberedAt(first, n, lineageNow) }

func numberedAt(first, n int, at time.Time) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"TimeGenerated":%q,"N":%d,"Host":"host-%d"}`, at.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339), first+i, i%7)
	}
	b.WriteString("]")
	return []byte(b.String())
}

// numbersIn scans the table and returns the N of every row, sorted.
func numbersIn(t *testing.T, st *logstore.Store) ([]int64, error) {
	t.Helper()
	sc, err := st.Scan(context.Background(), logstore.ScanRequest{Workspace: "ws1", Table: "Nodes_CL", Columns: []string{"N"}})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	var out []int64
	for sc.Next() {
		for _, c := range sc.Batch().Columns {
			if c.Name == "N" {
				out = append(out, c.Ints...)
			}
		}
	}
	slices.Sort(out)
	return out, sc.Err()
}

// TestTwoNodesOverOneControlDatabaseAndBucketEachSeeBoth: two nodes ingest
// into one table, each into its lineage, over one kv database and one
// bucket; after they flush, a query on either sees every row once. Then a
// manifest of one lineage replaced in the bucket by the other's is found.
func TestTwoNodesOverOneControlDatabaseAndBucketEachSeeBoth(t *testing.T) {
	db, objects, keys := controlDB(t), s3test.NewStore(t), envelopetest.New("aek")
	a, b := lineageNode(t, db, objects, keys, "node-a"), lineageNode(t, db, objects, keys, "node-b")
	ctx := context.Background()
	for _, in := range []struct {
		st          *logstore.Store
		first, rows int
	}{{a, 0, 300}, {b, 300, 200}, {a, 500, 40}} {
		if _, err := in.st.Ingest(ctx, "ws1", "Nodes_CL", numbered(in.first, in.rows)); err != nil {
			t.Fatal(err)
		}
		if err := in.st.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]int64, 540)
	for i := range want {
		want[i] = int64(i)
	}
	for name, st := range map[string]*logstore.Store{"a": a, "b": b} {
		got, err := numbersIn(t, st)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("node %s sees %d rows (%v); want each of the 540 once", name, len(got), err)
		}
	}
	ptrs, err := kvLedger{db}.Lineages(ctx, "ws1", "Nodes_CL")
	if err != nil || len(ptrs) != 2 || ptrs["node-a"].Epoch == 0 || ptrs["node-b"].Epoch == 0 {
		t.Fatalf("lineage pointers: %v, %v", ptrs, err)
	}
	if tables, err := (kvLedger{db}).Tables(ctx, "ws1"); err != nil || !slices.Equal(tables, []string{"Nodes_CL"}) {
		t.Fatalf("tables: %v, %v", tables, err)
	}

	// b's current manifest replaced by a's: a finds it.
	bKey := fmt.Sprintf("ws1/Nodes_CL/node-b/manifest-%d", ptrs["node-b"].Epoch)
	aObj, err := objects.Open(ctx, fmt.Sprintf("ws1/Nodes_CL/node-a/manifest-%d", ptrs["node-a"].Epoch))
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, aObj.Size())
	if _, err := aObj.ReadAt(body, 0); err != nil {
		t.Fatal(err)
	}
	if err := objects.Put(ctx, bKey, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	c := lineageNode(t, db, objects, keys, "node-c") // a node that never read b's manifest
	_, err = numbersIn(t, c)
	var ie *logstore.IntegrityError
	if !errors.As(err, &ie) || ie.Problem != logstore.ProblemAuthentication || !strings.HasPrefix(ie.Object, "node-b/manifest-") {
		t.Fatalf("a query after b's manifest was substituted: %v; want the manifest's authentication to fail", err)
	}
}

// TestALineagePointerMovesOnlyFromTheEpochItWasAt: the compare and swap is
// one kv Update, so of two writers publishing from one epoch one wins.
func TestALineagePointerMovesOnlyFromTheEpochItWasAt(t *testing.T) {
	l, ctx := kvLedger{controlDB(t)}, context.Background()
	publish := func(prev, next uint64) error {
		return l.UpdateLineage(ctx, "ws1", "T_CL", "node-a", func(p *logstore.Pointer) error {
			if p.Epoch != prev {
				return logstore.ErrLineageConflict
			}
			p.Epoch, p.Hash = next, [32]byte{byte(next)}
			return nil
		})
	}
	if err := publish(0, 1); err != nil {
		t.Fatal(err)
	}
	if err := publish(0, 1); !errors.Is(err, logstore.ErrLineageConflict) {
		t.Fatalf("a second publication from epoch 0: %v", err)
	}
	if err := l.UpdateLineage(ctx, "ws1", "T_CL", "node-a", func(p *logstore.Pointer) error { p.PurgedBefore = 42; return nil }); err != nil {
		t.Fatal(err)
	}
	ptrs, err := l.Lineages(ctx, "ws1", "T_CL")
	if err != nil || ptrs["node-a"] != (logstore.Pointer{Epoch: 1, Hash: [32]byte{1}, PurgedBefore: 42}) || len(ptrs) != 1 {
		t.Fatalf("pointers: %+v, %v", ptrs, err)
	}
	if ptrs, _ := l.Lineages(ctx, "ws1", "T"); len(ptrs) != 0 {
		t.Fatalf("a table whose name is a prefix of another's has its lineages: %v", ptrs)
	}
	if err := l.ForgetWorkspace(ctx, "ws1"); err != nil {
		t.Fatal(err)
	}
	if ptrs, _ := l.Lineages(ctx, "ws1", "T_CL"); len(ptrs) != 0 {
		t.Fatalf("the lineages of a forgotten workspace: %v", ptrs)
	}
}

// TestTwoDataPlanesOnOneBucketServeEachOthersRows: two nodes' data planes,
// on one control database and one bucket, each with a lineage: rows one
// ingests and flushes are in the bucket, not on its disk, and the other
// answers them; deleting the workspace deletes its objects.
func TestTwoDataPlanesOnOneBucketServeEachOthersRows(t *testing.T) {
	db, objects := controlDB(t), s3test.NewStore(t)
	a := nodeData(t, db, Options{ControlDB: db, Objects: objects, Lineage: "node-a"})
	b := nodeData(t, db, Options{ControlDB: db, Objects: objects, Lineage: "node-b"})
	ws := capWorkspace(1)
	id := ws.Workspace.Properties.CustomerID
	ctx := context.Background()
	for _, in := range []struct {
		d           *Data
		first, rows int
	}{{a, 0, 30}, {b, 30, 20}} {
		st, err := in.d.Logs(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(ctx, id, "Nodes_CL", numberedAt(in.first, in.rows, time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := in.d.FlushLogs(ctx, ws, "Nodes_CL"); err != nil {
			t.Fatal(err)
		}
	}
	for name, d := range map[string]*Data{"a": a, "b": b} {
		st, err := d.Logs(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := st.Scan(ctx, logstore.ScanRequest{Workspace: id, Table: "Nodes_CL", Columns: []string{"N"}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for sc.Next() {
			n += sc.Batch().Len
		}
		sc.Close()
		if sc.Err() != nil || n != 50 {
			t.Fatalf("node %s answers %d rows (%v); want both nodes' 50", name, n, sc.Err())
		}
	}
	entries, err := objects.List(ctx, id+"/Nodes_CL/")
	if err != nil || len(entries) < 4 {
		t.Fatalf("the bucket holds %v (%v); want each lineage's segments and manifest", entries, err)
	}
	for _, d := range []*Data{a, b} {
		filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".seg") && !strings.Contains(p, segmentCacheDir) {
				t.Errorf("a segment on the node's disk outside its cache: %s", p)
			}
			return nil
		})
	}
	if err := a.DeleteWorkspace(ctx, id); err != nil {
		t.Fatal(err)
	}
	if entries, err := objects.List(ctx, id+"/"); err != nil || len(entries) != 0 {
		t.Fatalf("after the workspace was deleted the bucket holds %v (%v)", entries, err)
	}
}
