package wsdata

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// ingestUnflushed ingests rows on a node without flushing them, and returns
// an instant at or after their ingestion time.
func ingestUnflushed(t *testing.T, d *Data, ws *workspace.WorkspaceInfo, first, rows int) time.Time {
	t.Helper()
	ctx := context.Background()
	st, err := d.Logs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(ctx, ws.Workspace.Properties.CustomerID, "Nodes_CL", numberedAt(first, rows, time.Now())); err != nil {
		t.Fatal(err)
	}
	return st.IngestionWatermark()
}

func mustPublish(t *testing.T, ds ...*Data) {
	t.Helper()
	for _, d := range ds {
		if err := d.PublishMarks(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func clusterMark(t *testing.T, d *Data, ws *workspace.WorkspaceInfo) ClusterMark {
	t.Helper()
	m, err := d.ClusterMark(context.Background(), ws.Workspace.Properties.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTheClusterMarkWaitsForRowsAnotherNodeHasNotFlushed: x's rules may run
// up to the cluster mark; y's rows, unflushed, are visible to y alone, and
// hold it before them until y flushes them and publishes again. A mark y
// has not published since holds it where it was.
func TestTheClusterMarkWaitsForRowsAnotherNodeHasNotFlushed(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	x, y := leasedNode(t, db, objects, "node-x", clock), leasedNode(t, db, objects, "node-y", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	renew(t, x, y)
	if _, err := x.ClusterMark(ctx, ws.Workspace.Properties.CustomerID); !errors.Is(err, ErrNoMark) {
		t.Fatalf("x's cluster mark while y, live, published none: %v; want ErrNoMark", err)
	}
	stamped := ingestUnflushed(t, y, ws, 0, 10)
	mustPublish(t, x, y)
	held := clusterMark(t, x, ws)
	ys, err := y.Logs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	if n := countIngested(t, ys, ws, held.At, stamped); held.Lineage != "node-y" || n != 10 {
		t.Fatalf("x's cluster mark with y's rows unflushed: %+v, before %d of the 10; want node-y's, before all", held, n)
	}
	if m := clusterMark(t, y, ws); m.Lineage != "node-x" || m.At.Before(stamped) {
		t.Fatalf("y's cluster mark: %+v; want x's, which holds no row, past %v", m, stamped)
	}
	if other := clusterMark(t, x, capWorkspace(2)); other.At.Before(stamped) {
		t.Fatalf("another workspace's cluster mark %v is held by y's rows of this one (%v)", other.At, stamped)
	}

	if err := y.FlushLogs(ctx, ws, "Nodes_CL"); err != nil {
		t.Fatal(err)
	}
	if m := clusterMark(t, x, ws); !m.At.Equal(held.At) {
		t.Fatalf("x's cluster mark before y publishes again: %v; want it held at y's last, %v", m.At, held.At)
	}
	mustPublish(t, y)
	if m := clusterMark(t, x, ws); m.At.Before(stamped) {
		t.Fatalf("x's cluster mark after y flushed and published: %v; want past y's rows (%v)", m.At, stamped)
	}
	st, err := x.Logs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	if n := countIngested(t, st, ws, held.At, clusterMark(t, x, ws).At); n != 10 {
		t.Fatalf("x reads %d of y's rows between the two marks; want the 10", n)
	}
}

// TestALineageGoneHoldsTheClusterMarkUntilItsLeaseRunsOut: a node that
// stops publishing holds the others' mark at its last, a lag and never a
// gap, until its lease runs out; then, and once it is adopted, not at all.
func TestALineageGoneHoldsTheClusterMarkUntilItsLeaseRunsOut(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	x, y := leasedNode(t, db, objects, "node-x", clock), leasedNode(t, db, objects, "node-y", clock)
	ctx := context.Background()
	ws := capWorkspace(1)
	renew(t, x, y)
	ingestUnflushed(t, y, ws, 0, 10)
	mustPublish(t, y)
	last := clusterMark(t, x, ws)
	if last.Lineage != "node-y" {
		t.Fatalf("x's cluster mark: %+v; want y's", last)
	}
	if n, err := x.AdoptLineages(ctx, []workspace.WorkspaceInfo{*ws}); err != nil || n != 0 { // x sees y's lease
		t.Fatalf("x adopted %d tables within y's lease: %v", n, err)
	}
	clock.Add(int64(30 * time.Second)) // y is gone, its lease still runs
	if m := clusterMark(t, x, ws); !m.At.Equal(last.At) {
		t.Fatalf("x's cluster mark within y's lease: %v; want y's last, %v", m.At, last.At)
	}
	clock.Add(int64(time.Minute)) // y's lease runs out
	if err := x.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if m := clusterMark(t, x, ws); !m.At.IsZero() {
		t.Fatalf("x's cluster mark once y's lease ran out: %+v; want none held", m)
	}
	if n, err := x.AdoptLineages(ctx, []workspace.WorkspaceInfo{*ws}); err != nil {
		t.Fatalf("x adopted %d tables: %v", n, err)
	}
	if m := clusterMark(t, x, ws); !m.At.IsZero() {
		t.Fatalf("x's cluster mark once y was adopted: %+v; want none held", m)
	}
	// x done with y (its objects swept after their grace): y's marks go
	if err := x.finish(ctx, "node-x", []string{"node-y"}); err != nil {
		t.Fatal(err)
	}
	err := db.View(ctx, func(tx kv.Tx) error {
		if v := tx.Bucket(markBucket).Get([]byte("node-y")); v != nil {
			return errors.New("y's marks are kept after x finished adopting it")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countIngested counts the rows of the table ingested in (after, upTo].
func countIngested(t *testing.T, st *logstore.Store, ws *workspace.WorkspaceInfo, after, upTo time.Time) int {
	t.Helper()
	sc, err := st.Scan(context.Background(), logstore.ScanRequest{Workspace: ws.Workspace.Properties.CustomerID, Table: "Nodes_CL",
		Columns: []string{"N"}, IngestedAfter: after, IngestedUpTo: upTo})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	n := 0
	for sc.Next() {
		n += sc.Batch().Len
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	return n
}

// TestANodeWhoseClockRunsAheadStillWaitsForLiveNodes: x's clock runs three
// minutes ahead of y's, so y's lease, renewed all along, has run out by x's
// clock; x still holds its rules at y's mark, since it sees the lease
// renewed, and stops waiting only once y is gone for a whole lease.
func TestANodeWhoseClockRunsAheadStillWaitsForLiveNodes(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	x, y := leasedNode(t, db, objects, "node-x", clock), leasedNode(t, db, objects, "node-y", clock)
	x.now = func() time.Time { return time.Unix(0, clock.Load()).Add(3 * time.Minute) }
	ctx := context.Background()
	ws := capWorkspace(1)
	ingestUnflushed(t, y, ws, 0, 10)
	for round := range 15 { // three minutes, y renewing five times a lease
		for _, d := range []*Data{x, y} {
			if err := d.RenewLineage(ctx); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		mustPublish(t, y)
		if m := clusterMark(t, x, ws); m.Lineage != "node-y" {
			t.Fatalf("round %d: x's cluster mark %+v while y renews its lease; want y's", round, m)
		}
		clock.Add(int64(12 * time.Second))
	}
	for range 10 { // y is gone: x stops waiting within two leases
		if err := x.RenewLineage(ctx); err != nil {
			t.Fatal(err)
		}
		if m := clusterMark(t, x, ws); m.At.IsZero() {
			return
		}
		clock.Add(int64(12 * time.Second))
	}
	t.Fatal("x still waits for y two minutes after y stopped renewing its lease")
}
