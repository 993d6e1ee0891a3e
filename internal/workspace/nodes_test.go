package workspace

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// onTwoNodes runs fn with two Services on one control database, as two nodes
// sharing it hold: on one bbolt file (two Services in one process) and on
// PostgreSQL (two connection pools). f.svc is node a.
func onTwoNodes(t *testing.T, fn func(t *testing.T, f *fixture, a, b *Service)) {
	newNode := func(t *testing.T, f *fixture, db kv.DB) *Service {
		t.Helper()
		svc, err := New(db, f.ids, f.keys, f.svc.seal, f.svc.opts)
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	t.Run("bbolt", func(t *testing.T) {
		f := newFixture(t)
		fn(t, f, f.svc, newNode(t, f, f.db))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		f := newFixture(t)
		url := pgtest.New(t)
		f.svc = newNode(t, f, pgkvtest.Open(t, url, "control"))
		fn(t, f, f.svc, newNode(t, f, pgkvtest.Open(t, url, "control")))
	})
}

// BenchmarkLookupOnPostgreSQL is BenchmarkWorkspaceByCustomerID and
// BenchmarkRouteStream with the control database on PostgreSQL: a cached lookup
// still reads the generation, one key in a read transaction.
func BenchmarkLookupOnPostgreSQL(b *testing.B) {
	f := newFixture(b)
	svc, err := New(pgkvtest.Open(b, pgtest.New(b), "control"), f.ids, f.keys, f.svc.seal, f.svc.opts)
	if err != nil {
		b.Fatal(err)
	}
	f.svc = svc
	ctx := context.Background()
	ws := f.workspace(b, "secops")
	flow := DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-Events_CL"}
	rule, _, err := svc.PutDCR(ctx, f.g, "events", dcrTo(ws, flow))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("WorkspaceByCustomerID", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.WorkspaceByCustomerID(ctx, ws.Properties.CustomerID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RouteStream", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.RouteStream(ctx, rule.Properties.ImmutableID, "Custom-Events"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func lookupOn(t *testing.T, svc *Service, customerID string) *WorkspaceInfo {
	t.Helper()
	info, err := svc.WorkspaceByCustomerID(context.Background(), customerID)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestAKeyLinkedOnOneNodeGovernsTheNextIngestOnAnother: node b has the workspace
// cached under the platform key when node a links it to a CMK cluster; b's next lookup
// says CMK, and b cannot mark platform data on it with what it had looked up before.
// With the lookup cache's generation in memory, b would keep sealing under the
// platform key.
func TestAKeyLinkedOnOneNodeGovernsTheNextIngestOnAnother(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, f *fixture, a, b *Service) {
		ctx := context.Background()
		c := f.cluster(t, "cluster1")
		if err := f.setKey(t, "cluster1", "good-key"); err != nil {
			t.Fatal(err)
		}
		id := f.workspace(t, "secops").Properties.CustomerID
		stale := lookupOn(t, b, id)
		if stale.CMK {
			t.Fatal("the workspace is under a CMK before it is linked")
		}

		if _, err := a.Link(ctx, f.g, "secops", c.ID); err != nil {
			t.Fatal(err)
		}
		fresh := lookupOn(t, b, id)
		if !fresh.CMK || fresh.ClusterID != c.Properties.ClusterID {
			t.Fatalf("node b after node a linked the workspace: CMK %v, cluster %q; want CMK under %q", fresh.CMK, fresh.ClusterID, c.Properties.ClusterID)
		}
		if err := b.MarkData(ctx, stale); !errorsIsKeyChanged(err) {
			t.Fatalf("node b marking platform data with its earlier lookup = %v, want WorkspaceKeyChanged", err)
		}
		if err := b.MarkData(ctx, fresh); err != nil {
			t.Fatalf("marking data under the cluster key: %v", err)
		}
		w, err := a.cachedWorkspace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.platformData || !w.clusterKeyData {
			t.Fatalf("marks on node a: platform %v, cluster key %v; want only the cluster key's", w.platformData, w.clusterKeyData)
		}
	})
}

// TestPlatformDataMarkedOnOneNodeKeepsTheWorkspaceFromACMKOnAnother: the mark is
// written before the rows are sealed, so a link to a CMK cluster on another node,
// after it, is refused.
func TestPlatformDataMarkedOnOneNodeKeepsTheWorkspaceFromACMKOnAnother(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, f *fixture, a, b *Service) {
		ctx := context.Background()
		c := f.cluster(t, "cluster1")
		if err := f.setKey(t, "cluster1", "good-key"); err != nil {
			t.Fatal(err)
		}
		id := f.workspace(t, "secops").Properties.CustomerID
		lookupOn(t, a, id) // node a has it cached, unmarked
		if err := b.MarkData(ctx, lookupOn(t, b, id)); err != nil {
			t.Fatal(err)
		}
		_, err := a.Link(ctx, f.g, "secops", c.ID)
		wantCode(t, err, CodeWorkspaceNotCmkEligible)
	})
}

func TestAWorkspaceDeletedOnOneNodeIsGoneOnAnother(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, f *fixture, a, b *Service) {
		ctx := context.Background()
		id := f.workspace(t, "secops").Properties.CustomerID
		stale := lookupOn(t, b, id)
		if err := a.DeleteWorkspace(ctx, f.g, "secops", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := b.WorkspaceByCustomerID(ctx, id); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("node b's lookup after node a deleted the workspace = %v, want NotFound", err)
		}
		if err := b.MarkData(ctx, stale); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("node b marking data in the deleted workspace = %v, want NotFound", err)
		}
	})
}

// TestASharedKeyRegeneratedOnOneNodeIsTheOneAnotherChecks: the Data
// Collector's keys come from the lookup cache, which a regeneration on
// another node empties.
func TestASharedKeyRegeneratedOnOneNodeIsTheOneAnotherChecks(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, f *fixture, a, b *Service) {
		ctx := context.Background()
		id := f.workspace(t, "secops").Properties.CustomerID
		_, old, err := b.CollectorWorkspace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := a.RegenerateSharedKey(ctx, f.g, "secops", "primary")
		if err != nil {
			t.Fatal(err)
		}
		if fresh.PrimarySharedKey == old.PrimarySharedKey {
			t.Fatal("the regenerated key is the old one")
		}
		_, now, err := b.CollectorWorkspace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if now.PrimarySharedKey != fresh.PrimarySharedKey || now.SecondarySharedKey != old.SecondarySharedKey {
			t.Fatal("node b checks Data Collector requests against the keys before node a regenerated the primary")
		}
	})
}

func TestARuleChangedOnOneNodeRoutesAnewOnAnother(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, f *fixture, a, b *Service) {
		ctx := context.Background()
		ws := f.workspace(t, "secops")
		flow := DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-Events_CL"}
		rule, _, err := a.PutDCR(ctx, f.g, "events", dcrTo(ws, flow))
		if err != nil {
			t.Fatal(err)
		}
		tableOn := func(svc *Service) string {
			t.Helper()
			r, err := svc.RouteStream(ctx, rule.Properties.ImmutableID, "Custom-Events")
			if err != nil {
				return fault.KindOf(err).String()
			}
			return r.Table
		}
		if got := tableOn(b); got != "Events_CL" {
			t.Fatalf("node b routes to %q", got)
		}
		flow.OutputStream = "Custom-Other_CL"
		if _, _, err := a.PutDCR(ctx, f.g, "events", dcrTo(ws, flow)); err != nil {
			t.Fatal(err)
		}
		if got := tableOn(b); got != "Other_CL" {
			t.Fatalf("node b routes to %q after node a changed the rule, want Other_CL", got)
		}
		if err := a.DeleteDCR(ctx, f.g, "events"); err != nil {
			t.Fatal(err)
		}
		if got := tableOn(b); got != fault.NotFound.String() {
			t.Fatalf("node b routes to %q after node a deleted the rule, want NotFound", got)
		}
	})
}

func errorsIsKeyChanged(err error) bool {
	var e *fault.Error
	return errors.Is(err, ErrWorkspaceKeyChanged) && errors.As(err, &e) && e.Kind == fault.Conflict
}

// beforeUpdateDB runs before ahead of its first Update, as another node's write
// that lands between a read and the write that follows it.
type beforeUpdateDB struct {
	kv.DB
	before func()
}

func (d *beforeUpdateDB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if f := d.before; f != nil {
		d.before = nil
		f()
	}
	return d.DB.Update(ctx, fn)
}

// TestMarkDataRefusesAKeyThatChangedAfterItsLookup: node a links the workspace to a
// CMK cluster after node b's MarkData found it unmarked under the platform key and
// before b's write: the write, which reads the workspace again, refuses, and marks
// nothing.
func TestMarkDataRefusesAKeyThatChangedAfterItsLookup(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	id := f.workspace(t, "secops").Properties.CustomerID
	db := &beforeUpdateDB{DB: f.db}
	b, err := New(db, f.ids, f.keys, f.svc.seal, f.svc.opts)
	if err != nil {
		t.Fatal(err)
	}
	db.before = func() {
		if _, err := f.svc.Link(ctx, f.g, "secops", c.ID); err != nil {
			t.Error(err)
		}
	}
	if err := b.MarkData(ctx, lookupOn(t, b, id)); !errorsIsKeyChanged(err) {
		t.Fatalf("MarkData under the platform key after the link = %v, want WorkspaceKeyChanged", err)
	}
	if db.before != nil {
		t.Fatal("MarkData did not write: the test did not reach the write")
	}
	w, err := f.svc.cachedWorkspace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if w.platformData || !w.info.CMK {
		t.Fatalf("after the refused mark: platform data %v, CMK %v; want no mark on a CMK workspace", w.platformData, w.info.CMK)
	}
}

// TestAClusterChangedOnOneNodeKeepsTheKeySetMeanwhileOnAnother: node b reads
// a cluster to change its tags, and node a puts another key in force before
// b writes. b's write must keep the key a stored: writing back the key it
// read would leave the control plane naming a key that is no longer in
// force, which the other nodes then cannot follow, and every node after a
// restart opens under the wrong key.
func TestAClusterChangedOnOneNodeKeepsTheKeySetMeanwhileOnAnother(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.cluster(t, "cluster1")
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	db := &beforeUpdateDB{DB: f.db}
	b, err := New(db, f.ids, f.keys, f.svc.seal, f.svc.opts)
	if err != nil {
		t.Fatal(err)
	}
	db.before = func() {
		if err := f.setKey(t, "cluster1", "good-key-2"); err != nil {
			t.Error(err)
		}
	}
	if _, err := b.PatchCluster(ctx, f.g, "cluster1", ClusterParameters{Tags: map[string]string{"team": "secops"}}); err != nil {
		t.Fatal(err)
	}
	if db.before != nil {
		t.Fatal("the tag change did not write: the test did not reach the write")
	}
	got, err := f.svc.GetCluster(ctx, f.g, "cluster1")
	if err != nil {
		t.Fatal(err)
	}
	if kv := got.Properties.KeyVaultProperties; kv == nil || kv.KeyName != "good-key-2" || got.Tags["team"] != "secops" {
		t.Fatalf("cluster after both changes: key %+v, tags %v; want good-key-2 and the tag", kv, got.Tags)
	}
}
