package workspace

import (
	"context"
	"testing"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// TestLookupsSeeEveryChangeAtOnce: the lookups the data plane makes on
// every call answer from a cache, which no change may outlive.
func TestLookupsSeeEveryChangeAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	ws := f.workspace(t, "secops")
	id := ws.Properties.CustomerID
	lookup := func() *WorkspaceInfo {
		t.Helper()
		info, err := f.svc.WorkspaceByCustomerID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	if info := lookup(); info.ClusterID != "" || info.CMK {
		t.Fatalf("unlinked workspace: cluster %q, CMK %v", info.ClusterID, info.CMK)
	}
	if _, err := f.svc.Link(ctx, f.g, "secops", c.ID); err != nil {
		t.Fatal(err)
	}
	info := lookup()
	if info.ClusterID != c.Properties.ClusterID || !info.CMK {
		t.Fatalf("after linking: cluster %q, CMK %v", info.ClusterID, info.CMK)
	}
	// What a caller does with its answer is not the next caller's.
	info.Workspace.Properties.Features[0].Enabled = true
	info.Workspace.Properties.RetentionInDays = 1
	if again := lookup(); again.Workspace.Properties.Features[0].Enabled || again.Workspace.Properties.RetentionInDays == 1 {
		t.Fatal("a change to one lookup's answer reached the next")
	}
	days := 120
	in := WorkspaceParameters{Properties: &struct {
		RetentionInDays *int          `json:"retentionInDays,omitempty"`
		SKU             *WorkspaceSKU `json:"sku,omitempty"`
		Features        []Feature     `json:"features,omitempty"`
	}{RetentionInDays: &days}}
	if _, _, err := f.svc.PutWorkspace(ctx, f.g, "secops", in); err != nil {
		t.Fatal(err)
	}
	if got := lookup().Workspace.Properties.RetentionInDays; got != days {
		t.Fatalf("after a change of retention: %d days", got)
	}

	flow := DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-Events_CL"}
	rule, _, err := f.svc.PutDCR(ctx, f.g, "events", dcrTo(ws, flow))
	if err != nil {
		t.Fatal(err)
	}
	tableOf := func() string {
		t.Helper()
		r, err := f.svc.RouteStream(ctx, rule.Properties.ImmutableID, "Custom-Events")
		if err != nil {
			return err.Error()
		}
		if r.Workspace.Workspace.Properties.RetentionInDays != days {
			t.Fatalf("route to a workspace of %d days", r.Workspace.Workspace.Properties.RetentionInDays)
		}
		return r.Table
	}
	if got := tableOf(); got != "Events_CL" {
		t.Fatalf("route to %q", got)
	}
	flow.OutputStream = "Custom-Other_CL"
	if _, _, err := f.svc.PutDCR(ctx, f.g, "events", dcrTo(ws, flow)); err != nil {
		t.Fatal(err)
	}
	if got := tableOf(); got != "Other_CL" {
		t.Fatalf("after the rule changed, route to %q", got)
	}
	if err := f.svc.DeleteDCR(ctx, f.g, "events"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RouteStream(ctx, rule.Properties.ImmutableID, "Custom-Events"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a deleted rule still routes: %v", err)
	}

	if err := f.svc.DeleteWorkspace(ctx, f.g, "secops", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.WorkspaceByCustomerID(ctx, id); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a deleted workspace is still found: %v", err)
	}
}

// TestLookupsSeeOnboardingKeyAndUnlinking: the writes that change what a
// lookup answers besides those above — onboarding and offboarding, a key
// set on the cluster after the link, unlinking, and the mark of data — each
// reach the next lookup.
func TestLookupsSeeOnboardingKeyAndUnlinking(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain := f.cluster(t, "plain")
	ws := f.workspace(t, "secops")
	id := ws.Properties.CustomerID
	lookup := func() *WorkspaceInfo {
		t.Helper()
		info, err := f.svc.WorkspaceByCustomerID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}

	if _, err := f.svc.Onboard(ctx, f.g, "secops", false, ""); err != nil {
		t.Fatal(err)
	}
	if info := lookup(); !info.Onboarded || info.CMK {
		t.Fatalf("after onboarding: onboarded %v, CMK %v", info.Onboarded, info.CMK)
	}
	if err := f.svc.Offboard(ctx, f.g, "secops"); err != nil {
		t.Fatal(err)
	}
	if lookup().Onboarded {
		t.Fatal("after offboarding the lookup still says onboarded")
	}

	if _, err := f.svc.Link(ctx, f.g, "secops", plain.ID); err != nil {
		t.Fatal(err)
	}
	if info := lookup(); info.ClusterID != plain.Properties.ClusterID || info.CMK {
		t.Fatalf("linked to a cluster without a key: cluster %q, CMK %v", info.ClusterID, info.CMK)
	}
	if err := f.svc.Unlink(ctx, f.g, "secops"); err != nil {
		t.Fatal(err)
	}
	if info := lookup(); info.ClusterID != "" {
		t.Fatalf("after unlinking: cluster %q", info.ClusterID)
	}
	if _, err := f.svc.Link(ctx, f.g, "secops", plain.ID); err != nil {
		t.Fatal(err)
	}
	lookup() // cached without the key
	if err := f.setKey(t, "plain", "good-key"); err != nil {
		t.Fatal(err)
	}
	if !lookup().CMK {
		t.Fatal("a key set on the linked cluster did not reach the lookup")
	}

	// The data mark, read through the cache, is written once and then seen.
	if err := f.svc.MarkData(ctx, lookup()); err != nil {
		t.Fatal(err)
	}
	if w, err := f.svc.cachedWorkspace(ctx, id); err != nil || !w.clusterKeyData || w.platformData {
		t.Fatalf("after MarkData: under the cluster key %v, under the platform key %v, err %v", w.clusterKeyData, w.platformData, err)
	}
}
