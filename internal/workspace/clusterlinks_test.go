package workspace

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// linkedNames is what GetCluster lists as linked to a cluster.
func linkedNames(t *testing.T, f *fixture, cluster string) []string {
	t.Helper()
	c, err := f.svc.GetCluster(context.Background(), f.g, cluster)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range c.Properties.AssociatedWorkspaces {
		names = append(names, a.WorkspaceName)
	}
	return names
}

// clusterOf is the clusterId the data plane sees a workspace under.
func clusterOf(t *testing.T, f *fixture, ws *Workspace) string {
	t.Helper()
	info, err := f.svc.WorkspaceByCustomerID(context.Background(), ws.Properties.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	return info.ClusterID
}

func TestClusterLinksFollowLinkUnlinkAndDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	var wss []*Workspace
	for _, name := range []string{"ws-c", "ws-a", "ws-b"} {
		ws := f.workspace(t, name)
		if _, err := f.svc.Link(ctx, f.g, name, c.ID); err != nil {
			t.Fatal(err)
		}
		wss = append(wss, ws)
	}
	if got := linkedNames(t, f, "cluster1"); !slices.Equal(got, []string{"ws-a", "ws-b", "ws-c"}) {
		t.Fatalf("linked = %v", got)
	}
	for _, ws := range wss {
		if got := clusterOf(t, f, ws); got != c.Properties.ClusterID {
			t.Fatalf("%s under cluster %q, want %q", ws.Name, got, c.Properties.ClusterID)
		}
	}

	if err := f.svc.Unlink(ctx, f.g, "ws-a"); err != nil {
		t.Fatal(err)
	}
	if got := clusterOf(t, f, wss[1]); got != "" {
		t.Fatalf("unlinked workspace still under cluster %q", got)
	}
	if err := f.svc.DeleteWorkspace(ctx, f.g, "ws-b", nil); err != nil {
		t.Fatal(err)
	}
	if got := linkedNames(t, f, "cluster1"); !slices.Equal(got, []string{"ws-c"}) {
		t.Fatalf("after unlink and delete, linked = %v", got)
	}
	list, err := f.svc.ListClusters(ctx, f.g)
	if err != nil || len(list) != 1 || len(list[0].Properties.AssociatedWorkspaces) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	wantCode(t, f.svc.DeleteCluster(ctx, f.g, "cluster1"), CodeConflict)

	// Linking again after an unlink is counted once.
	if _, err := f.svc.Link(ctx, f.g, "ws-a", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Link(ctx, f.g, "ws-a", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := linkedNames(t, f, "cluster1"); !slices.Equal(got, []string{"ws-a", "ws-c"}) { // one clock instant: by resource ID
		t.Fatalf("after relinking, linked = %v", got)
	}
	for _, name := range []string{"ws-a", "ws-c"} {
		if err := f.svc.DeleteWorkspace(ctx, f.g, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.DeleteCluster(ctx, f.g, "cluster1"); err != nil {
		t.Fatalf("cluster without workspaces not deleted: %v", err)
	}
}

// TestClusterRecordStaysSmallAsWorkspacesAreLinked protects the hot path:
// every ingest and query decodes the record of the workspace's cluster.
func TestClusterRecordStaysSmallAsWorkspacesAreLinked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	size := func() int {
		var n int
		f.db.View(ctx, func(tx kv.Tx) error {
			n = len(tx.Bucket(bucketClusters).Get(storeKey(f.g, "cluster1")))
			return nil
		})
		return n
	}
	link := func(i int) {
		name := fmt.Sprintf("ws-%03d", i)
		f.workspace(t, name)
		if _, err := f.svc.Link(ctx, f.g, name, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	link(0)
	one := size()
	for i := 1; i < 50; i++ {
		link(i)
	}
	if got := size(); got > one+8 { // the count's digits may grow
		t.Fatalf("the cluster's record grew from %d to %d bytes with 50 links", one, got)
	}
	if got := len(linkedNames(t, f, "cluster1")); got != 50 {
		t.Fatalf("%d links listed, want 50", got)
	}
}

// TestOpenMovesLinksOutOfAnOldClusterRecord upgrades a database written
// when the cluster's record held its list of workspaces.
func TestOpenMovesLinksOutOfAnOldClusterRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	for _, name := range []string{"ws-a", "ws-b"} {
		f.workspace(t, name)
		if _, err := f.svc.Link(ctx, f.g, name, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Write it as the old version did: the list in the record, no link keys.
	err := f.db.Update(ctx, func(tx kv.Tx) error {
		k := storeKey(f.g, "cluster1")
		links, err := linksOf(tx, k)
		if err != nil {
			return err
		}
		rec, err := getJSON[clusterRecord](tx.Bucket(bucketClusters), k)
		if err != nil {
			return err
		}
		rec.Cluster.Properties.AssociatedWorkspaces, rec.LinkedWorkspaces = links, 0
		if err := tx.DeleteBucket(bucketClusterLinks); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketClusters), k, rec)
	})
	if err != nil {
		t.Fatal(err)
	}

	f.svc, err = New(f.db, f.ids, f.keys, f.svc.seal, f.svc.opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := linkedNames(t, f, "cluster1"); !slices.Equal(got, []string{"ws-a", "ws-b"}) {
		t.Fatalf("after the upgrade, linked = %v", got)
	}
	f.db.View(ctx, func(tx kv.Tx) error {
		rec, _ := getJSON[clusterRecord](tx.Bucket(bucketClusters), storeKey(f.g, "cluster1"))
		if len(rec.Cluster.Properties.AssociatedWorkspaces) != 0 || rec.LinkedWorkspaces != 2 {
			t.Errorf("record after the upgrade holds %d links, counts %d", len(rec.Cluster.Properties.AssociatedWorkspaces), rec.LinkedWorkspaces)
		}
		return nil
	})
	for _, name := range []string{"ws-a", "ws-b"} {
		if err := f.svc.Unlink(ctx, f.g, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.DeleteCluster(ctx, f.g, "cluster1"); err != nil {
		t.Fatalf("upgraded cluster's links not all removed: %v", err)
	}
}

// TestMarkDataWritesOnce keeps ingestion from taking a write transaction
// (a sync of the control database) per call.
func TestMarkDataWritesOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ws := f.workspace(t, "ws-a")
	other := f.workspace(t, "ws-b")
	db := &countingDB{DB: f.db}
	svc, err := New(db, f.ids, f.keys, f.svc.seal, f.svc.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.MarkData(ctx, f.info(t, ws.Properties.CustomerID)); err != nil {
		t.Fatal(err)
	}
	before := db.updates.Load()
	for range 3 {
		if err := svc.MarkData(ctx, f.info(t, ws.Properties.CustomerID)); err != nil {
			t.Fatal(err)
		}
	}
	if after := db.updates.Load(); after != before {
		t.Fatalf("marking a marked workspace wrote %d transactions", after-before)
	}
	if err := svc.MarkData(ctx, f.info(t, other.Properties.CustomerID)); err != nil {
		t.Fatal(err)
	}
	if after := db.updates.Load(); after != before+1 {
		t.Fatalf("a new mark wrote %d transactions, want 1", after-before)
	}
}

// info is the workspace with customerID as the data plane looks it up.
func (f *fixture) info(t testing.TB, customerID string) *WorkspaceInfo {
	t.Helper()
	info, err := f.svc.WorkspaceByCustomerID(context.Background(), customerID)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// countingDB counts the write transactions run through it.
type countingDB struct {
	kv.DB
	updates atomic.Int64
}

func (c *countingDB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	c.updates.Add(1)
	return c.DB.Update(ctx, fn)
}

// BenchmarkWorkspaceByCustomerID is the lookup every query makes, with 10
// and with 1,000 workspaces linked to the workspace's cluster.
func BenchmarkWorkspaceByCustomerID(b *testing.B) {
	for _, n := range []int{10, MaxWorkspacesPerCluster} {
		b.Run(fmt.Sprintf("linked=%d", n), func(b *testing.B) {
			f := newFixture(b)
			ctx := context.Background()
			c := f.cluster(b, "cluster1")
			var id string
			for i := range n {
				name := fmt.Sprintf("ws-%04d", i)
				id = f.workspace(b, name).Properties.CustomerID
				if _, err := f.svc.Link(ctx, f.g, name, c.ID); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if _, err := f.svc.WorkspaceByCustomerID(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
