package wsdata

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// leasedNode is a node's data plane with a lineage, on a shared control
// database and object store, on a clock the test moves.
// leasedStorage is what the nodes of a lineage test share: a control
// database, an object store and a clock, set to now.
func leasedStorage(t *testing.T) (kv.DB, objstore.Store, *atomic.Int64) {
	t.Helper()
	objects, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	return controlDB(t), objects, &clock
}

func leasedNode(t *testing.T, db kv.DB, objects objstore.Store, lineage string, clock *atomic.Int64) *Data {
	t.Helper()
	return leasedNodeIn(t, filepath.Join(t.TempDir(), "logs"), db, objects, lineage, clock)
}

// leasedNodeIn is leasedNode over the directory dir.
func leasedNodeIn(t *testing.T, dir string, db kv.DB, objects objstore.Store, lineage string, clock *atomic.Int64) *Data {
	t.Helper()
	d := nodeDataIn(t, dir, db, Options{ControlDB: db, Objects: objects, Lineage: lineage, LineageLease: time.Minute})
	d.now = func() time.Time { return time.Unix(0, clock.Load()) }
	return d
}

// renew renews the lineage leases of nodes ds.
func renew(t *testing.T, ds ...*Data) {
	t.Helper()
	for _, d := range ds {
		if err := d.RenewLineage(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func ingestAndFlush(t *testing.T, d *Data, ws *workspace.WorkspaceInfo, first, rows int) error {
	t.Helper()
	ctx := context.Background()
	st, err := d.Logs(ctx, ws)
	if err != nil {
		return err
	}
	if _, err := st.Ingest(ctx, ws.Workspace.Properties.CustomerID, "Nodes_CL", numberedAt(first, rows, time.Now())); err != nil {
		return err
	}
	return d.FlushLogs(ctx, ws, "Nodes_CL")
}

// numbersThrough are the N of every row of the table a node answers.
func numbersThrough(t *testing.T, d *Data, ws *workspace.WorkspaceInfo) []int64 {
	t.Helper()
	st, err := d.Logs(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := st.Scan(context.Background(), logstore.ScanRequest{Workspace: ws.Workspace.Properties.CustomerID, Table: "Nodes_CL", Columns: []string{"N"}})
	if err != nil {
		t.Fatal(err)
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
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	return out
}

func onceEach(t *testing.T, got []int64, n int, when string) {
	t.Helper()
	seen := map[int64]bool{}
	for _, v := range got {
		if seen[v] {
			t.Fatalf("%s: row %d is read twice", when, v)
		}
		seen[v] = true
	}
	if len(seen) != n {
		t.Fatalf("%s: %d rows, want %d", when, len(seen), n)
	}
}

// TestALineageWhoseLeaseRanOutIsAdoptedByOneLiveNode: of three nodes, a
// stops renewing its lease; once it has run out one live node claims and
// adopts a's lineage, the other leaves it, and every row is read once. a
// wakes up: its renewal and its next flush are refused, and it goes on
// under a new lineage, whose rows every node reads.
func TestALineageWhoseLeaseRanOutIsAdoptedByOneLiveNode(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b, c := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock), leasedNode(t, db, objects, "node-c", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	all := []workspace.WorkspaceInfo{*ws}
	renew(t, a, b, c)
	if err := ingestAndFlush(t, a, ws, 0, 30); err != nil {
		t.Fatal(err)
	}
	if err := ingestAndFlush(t, b, ws, 30, 20); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Data{b, c} {
		if n, err := d.AdoptLineages(ctx, all); err != nil || n != 0 {
			t.Fatalf("adopted %d tables within the lease, %v", n, err)
		}
	}

	clock.Add(int64(2 * time.Minute)) // a's lease runs out; b and c renew
	renew(t, b, c)
	nb, err := b.AdoptLineages(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := c.AdoptLineages(ctx, all)
	if err != nil || nb+nc != 1 {
		t.Fatalf("b adopted %d tables, c %d (%v); want one node to adopt a's one table", nb, nc, err)
	}
	for name, d := range map[string]*Data{"b": b, "c": c} {
		onceEach(t, numbersThrough(t, d, ws), 50, "node "+name+" after the adoption")
	}
	ptrs, err := kvLedger{db}.Lineages(ctx, ws.Workspace.Properties.CustomerID, "Nodes_CL")
	if err != nil || ptrs["node-a"].Retired == 0 {
		t.Fatalf("a's pointer after the adoption: %+v, %v; want it retired", ptrs["node-a"], err)
	}

	// a wakes up.
	if err := ingestAndFlush(t, a, ws, 50, 5); !errors.Is(err, logstore.ErrLineageAdopted) {
		t.Fatalf("the old owner's flush after the adoption: %v; want ErrLineageAdopted", err)
	}
	if err := a.RenewLineage(ctx); !errors.Is(err, logstore.ErrLineageAdopted) {
		t.Fatalf("the old owner's renewal after the adoption: %v; want ErrLineageAdopted", err)
	}
	if err := a.ChangeLineage(ctx, "node-a2", all); err != nil {
		t.Fatal(err)
	}
	if err := a.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ingestAndFlush(t, a, ws, 60, 5); err != nil {
		t.Fatalf("ingest under the new lineage: %v", err)
	}
	for name, d := range map[string]*Data{"a": a, "b": b, "c": c} {
		onceEach(t, numbersThrough(t, d, ws), 55, "node "+name+" after a's new lineage flushed")
	}
}

// TestOneNodeScrubsAWorkspacePerInterval: of two nodes sharing the control
// plane, the first to claim a workspace's scrub round takes it; the other
// skips it until the interval has passed. A node alone always scrubs.
func TestOneNodeScrubsAWorkspacePerInterval(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock)
	ctx := context.Background()
	const interval = time.Hour
	claim := func(d *Data) bool {
		t.Helper()
		mine, err := d.claimScrub(ctx, "ws1", interval)
		if err != nil {
			t.Fatal(err)
		}
		return mine
	}
	if !claim(a) || claim(b) || claim(a) {
		t.Fatal("a round was claimed twice within the interval")
	}
	clock.Add(int64(interval))
	if !claim(b) || claim(a) {
		t.Fatal("after the interval, one node (b) should claim the next round")
	}
	alone := nodeData(t, controlDB(t), Options{})
	if !claim(alone) || !claim(alone) {
		t.Fatal("a node in no cluster skipped a round")
	}
}

// TestAWorkspaceDeletedThroughOneNodeIsClosedOnTheOthers: b has the
// workspace's store open, with rows in its WAL, when a deletes it. b's
// flush cannot bring the workspace's tables back into the control plane;
// b closes its store, removes its files and what the flush put in the
// bucket; and neither node opens the workspace again.
func TestAWorkspaceDeletedThroughOneNodeIsClosedOnTheOthers(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	id := ws.Workspace.Properties.CustomerID
	for i, d := range []*Data{a, b} {
		if err := ingestAndFlush(t, d, ws, i*10, 10); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.Logs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(ctx, id, "Nodes_CL", numberedAt(20, 5, time.Now())); err != nil {
		t.Fatal(err)
	}

	if err := a.DeleteWorkspace(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.FlushLogs(ctx, ws, "Nodes_CL"); err == nil {
		t.Fatal("b flushed a deleted workspace's rows")
	}
	if tables, err := (kvLedger{db}).Tables(ctx, id); err != nil || len(tables) != 0 {
		t.Fatalf("the deleted workspace's tables after b's flush: %v, %v; want none", tables, err)
	}
	if n, err := b.CloseDeleted(ctx); err != nil || n != 1 {
		t.Fatalf("b closed %d deleted workspaces' stores, %v; want 1", n, err)
	}
	if open := b.openStores(); len(open) != 0 {
		t.Fatalf("b keeps stores open: %v", open)
	}
	if entries, err := objects.List(ctx, id+"/"); err != nil || len(entries) != 0 {
		t.Fatalf("the bucket holds %d objects of the deleted workspace (%v)", len(entries), err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, id)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b's directory of the deleted workspace: %v; want it gone", err)
	}
	c := leasedNode(t, db, objects, "node-c", clock) // never saw it
	for name, d := range map[string]*Data{"a": a, "b": b, "c": c} {
		if _, err := d.Logs(ctx, ws); err == nil {
			t.Fatalf("node %s opened the deleted workspace's store", name)
		}
	}
}

// TestALineageWrittenBeforeLeasesIsGivenOneAndAdoptedOnceItRunsOut: a
// lineage with tables and no lease (its node ran before leases, or never
// renewed) is given a lease by the first node to look, and adopted once
// that has run out unrenewed.
func TestALineageWrittenBeforeLeasesIsGivenOneAndAdoptedOnceItRunsOut(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	ws := capWorkspace(1)
	id := ws.Workspace.Properties.CustomerID
	old := nodeData(t, db, Options{ControlDB: db, Objects: objects, Lineage: "node-old"}) // never renews
	if err := ingestAndFlush(t, old, ws, 0, 10); err != nil {
		t.Fatal(err)
	}
	b := leasedNode(t, db, objects, "node-b", clock)
	ctx := context.Background()
	all := []workspace.WorkspaceInfo{*ws}
	if err := b.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 0 {
		t.Fatalf("adopted %d tables of a lineage just given a lease, %v", n, err)
	}
	clock.Add(int64(2 * time.Minute))
	if err := b.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 1 {
		t.Fatalf("adopted %d tables once the lease ran out, %v; want 1", n, err)
	}
	onceEach(t, numbersThrough(t, b, ws), 10, "after the adoption")
	if ptrs, err := (kvLedger{db}).Lineages(ctx, id, "Nodes_CL"); err != nil || ptrs["node-old"].Retired == 0 {
		t.Fatalf("node-old's pointer: %+v, %v; want it retired", ptrs["node-old"], err)
	}
}

// TestAVerificationOnOneNodeIsReportedByEvery: a verifies the workspace
// (one node scrubs it per interval); b, which did not, reports when it
// was verified and the damage a found.
func TestAVerificationOnOneNodeIsReportedByEvery(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	id := ws.Workspace.Properties.CustomerID
	if err := ingestAndFlush(t, a, ws, 0, 10); err != nil {
		t.Fatal(err)
	}
	if in := b.Integrity(id); !in.LastVerified.IsZero() {
		t.Fatalf("b reports a verification before any: %v", in.LastVerified)
	}
	rep, err := a.Verify(ctx, ws, nil)
	if err != nil || !rep.Healthy() {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	clock.Add(int64(reportFresh))
	if in := b.Integrity(id); !in.LastVerified.Equal(rep.Finished) || len(in.Damaged) != 0 {
		t.Fatalf("b's integrity: %+v; want a's verification at %v, healthy", in, rep.Finished)
	}

	entries, err := objects.List(ctx, id+"/Nodes_CL/node-a/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Key, ".seg") {
			if err := objects.Delete(ctx, e.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Add(int64(time.Second))
	if rep, err = a.Verify(ctx, ws, nil); err != nil || rep.Healthy() {
		t.Fatalf("verify after node a's segments went: %+v, %v; want damage", rep, err)
	}
	clock.Add(int64(reportFresh))
	if in := b.Integrity(id); len(in.Damaged) == 0 || !strings.HasPrefix(in.Damaged[0].Object, "node-a/") {
		t.Fatalf("b's integrity after a found damage: %+v; want node-a's segment named", in)
	}
}

// TestANodeWhoseLineageWasAdoptedClaimsNoOther: node a, paused long enough
// for b to adopt its lineage, wakes and runs an adoption round before its
// renewal finds the claim. It must not claim the lineage of c, gone
// meanwhile: a claim held by a lineage no node writes any more would be
// adopted into that lineage, where nothing purges or compacts it again.
func TestANodeWhoseLineageWasAdoptedClaimsNoOther(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b, c := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock), leasedNode(t, db, objects, "node-c", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	all := []workspace.WorkspaceInfo{*ws}
	renew(t, a, b, c)
	if err := ingestAndFlush(t, c, ws, 0, 10); err != nil {
		t.Fatal(err)
	}
	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 0 { // b sees the leases
		t.Fatalf("b adopted %d tables within the leases, %v", n, err)
	}
	clock.Add(int64(2 * time.Minute)) // a is paused; b and c renew
	renew(t, b, c)
	if _, err := b.AdoptLineages(ctx, all); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(2 * time.Minute)) // c is gone; b renews
	if err := b.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}

	n, err := a.AdoptLineages(ctx, all)
	if !errors.Is(err, logstore.ErrLineageAdopted) || n != 0 {
		t.Fatalf("a round of the node whose lineage was adopted: %d tables, %v; want none, ErrLineageAdopted", n, err)
	}
	leases, err := a.readLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := leases["node-c"].Adopter; got != "" {
		t.Fatalf("c's lineage is claimed by %s; want it left for a live node", got)
	}
	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 1 {
		t.Fatalf("b adopted %d tables of c's lineage, %v; want its one table", n, err)
	}
	onceEach(t, numbersThrough(t, b, ws), 10, "node b after it adopted c's lineage")
}

// TestANodeWhoseClockRunsAheadAdoptsNoLiveLineage: b's clock is three
// minutes ahead of a's, more than a's one-minute lease: by b's clock a's
// lease has always run out. b claims it only once it has seen it unrenewed
// for a lease term by its own clock, so not while a renews, and still
// once a is gone.
func TestANodeWhoseClockRunsAheadAdoptsNoLiveLineage(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock)
	b.now = func() time.Time { return time.Unix(0, clock.Load()).Add(3 * time.Minute) }
	ctx := context.Background()
	ws := capWorkspace(1)
	all := []workspace.WorkspaceInfo{*ws}
	if err := ingestAndFlush(t, a, ws, 0, 10); err != nil {
		t.Fatal(err)
	}
	for round := range 15 { // three minutes, a renewing five times a lease
		for _, d := range []*Data{a, b} {
			if err := d.RenewLineage(ctx); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if n, err := b.AdoptLineages(ctx, all); err != nil || n != 0 {
			t.Fatalf("round %d: b adopted %d tables of a, which renews its lease (%v)", round, n, err)
		}
		clock.Add(int64(12 * time.Second))
	}

	adopted := 0
	for range 10 { // a is gone
		if err := b.RenewLineage(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := b.AdoptLineages(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		adopted += n
		clock.Add(int64(12 * time.Second))
	}
	if adopted != 1 {
		t.Fatalf("b adopted %d tables within two minutes of a being gone; want a's one", adopted)
	}
	onceEach(t, numbersThrough(t, b, ws), 10, "b after it adopted a")
}

// TestAnAdoptedLineageStartsNoTable: a, paused long enough for b to adopt
// its lineage, wakes and, before its renewal finds the claim, writes a
// table it never wrote, so has no pointer of that the adoption could
// retire. The control plane refuses the new pointer (ErrLineageAdopted):
// a live table in a lineage no node writes any more would never be adopted,
// purged or compacted again.
func TestAnAdoptedLineageStartsNoTable(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	a, b := leasedNode(t, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	all := []workspace.WorkspaceInfo{*ws}
	renew(t, a, b)
	if err := ingestAndFlush(t, a, ws, 0, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AdoptLineages(ctx, all); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(2 * time.Minute)) // a is paused; b renews
	if err := b.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 1 {
		t.Fatalf("b adopted %d tables of a, %v; want its one", n, err)
	}

	st, err := a.Logs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	id := ws.Workspace.Properties.CustomerID
	_, err = st.Ingest(ctx, id, "Other_CL", numberedAt(100, 5, time.Now()))
	if err == nil {
		err = a.FlushLogs(ctx, ws, "Other_CL")
	}
	if !errors.Is(err, logstore.ErrLineageAdopted) {
		t.Fatalf("the adopted lineage's ingest and flush of a table it never wrote: %v; want ErrLineageAdopted", err)
	}
	if ptrs, err := (kvLedger{db}).Lineages(ctx, id, "Other_CL"); err != nil || len(ptrs) != 0 {
		t.Fatalf("pointers of the table: %v, %v; want none", ptrs, err)
	}
}
