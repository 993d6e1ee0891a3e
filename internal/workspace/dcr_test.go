package workspace

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
)

func dcrTo(ws *Workspace, flows ...DCRDataFlow) DataCollectionRule {
	var in DataCollectionRule
	in.Properties.StreamDeclarations = map[string]DCRStream{
		"Custom-Events": {Columns: []DCRColumn{{Name: "TimeGenerated", Type: "datetime"}, {Name: "Message", Type: "string"}}},
	}
	in.Properties.Destinations.LogAnalytics = []DCRDestination{{WorkspaceResourceID: ws.ID, Name: "ws"}}
	in.Properties.DataFlows = flows
	return in
}

// TestCheckDCRRoutesEachStreamAndStoresNothing: CheckDCR gives the caller,
// for each flow's stream, the table, the stream's declared columns and the
// transformation it must check, and stores no rule.
func TestCheckDCRRoutesEachStreamAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ws := f.workspace(t, "secops")
	in := dcrTo(ws,
		DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, TransformKql: "source | where Message != ''", OutputStream: "Custom-Events_CL"},
		DCRDataFlow{Streams: []string{"Microsoft-Syslog"}, Destinations: []string{"ws"}})
	routes, err := f.svc.CheckDCR(ctx, f.g, "events", in)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 {
		t.Fatalf("%d routes, want 2", len(routes))
	}
	custom, builtin := routes[0], routes[1]
	if custom.Table != "Events_CL" || custom.Stream != "Custom-Events" || custom.Transform != "source | where Message != ''" ||
		!reflect.DeepEqual(custom.Columns, in.Properties.StreamDeclarations["Custom-Events"].Columns) ||
		custom.Workspace.Workspace.Properties.CustomerID != ws.Properties.CustomerID {
		t.Fatalf("the Custom- stream's route: %+v", custom)
	}
	if builtin.Table != "Syslog" || builtin.Columns != nil {
		t.Fatalf("a Microsoft- stream is shaped as its table, with no declared columns: %+v", builtin)
	}
	if _, err := f.svc.GetDCR(ctx, f.g, "events"); err == nil {
		t.Fatal("CheckDCR stored the rule")
	}
	if _, _, err := f.svc.PutDCR(ctx, f.g, "events", in); err != nil {
		t.Fatal(err)
	}
	rule, _ := f.svc.GetDCR(ctx, f.g, "events")
	got, err := f.svc.RouteStream(ctx, rule.Properties.ImmutableID, "Custom-Events")
	if err != nil || got.Table != custom.Table || got.Transform != custom.Transform || !reflect.DeepEqual(got.Columns, custom.Columns) {
		t.Fatalf("RouteStream gives %+v (%v), want what CheckDCR gave", got, err)
	}
}

func TestCheckDCRRefusesWhatPutDCRRefuses(t *testing.T) {
	f := newFixture(t)
	ws := f.workspace(t, "secops")
	for name, in := range map[string]DataCollectionRule{
		"an undeclared Custom- stream": dcrTo(ws, DCRDataFlow{Streams: []string{"Custom-Other"}, Destinations: []string{"ws"}}),
		"an unknown destination":       dcrTo(ws, DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"elsewhere"}}),
		"no flow":                      dcrTo(ws),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.CheckDCR(context.Background(), f.g, "events", in)
			wantCode(t, err, CodeBadRequest)
		})
	}
}

// TestRulesWritingNamesTheRulesWithAFlowIntoATable: the rules whose flow
// writes a workspace's table are found, by name and without regard to the
// table's case; a rule writing another table, or none left, is not.
func TestRulesWritingNamesTheRulesWithAFlowIntoATable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ws := f.workspace(t, "secops")
	into := func(table string) DataCollectionRule {
		return dcrTo(ws, DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-" + table})
	}
	for name, table := range map[string]string{"b-rule": "Events_CL", "a-rule": "Events_CL", "other": "Other_CL"} {
		if _, _, err := f.svc.PutDCR(ctx, f.g, name, into(table)); err != nil {
			t.Fatal(err)
		}
	}
	cid := ws.Properties.CustomerID
	for _, c := range []struct {
		table string
		want  []string
	}{
		{"Events_CL", []string{"a-rule", "b-rule"}},
		{"events_cl", []string{"a-rule", "b-rule"}},
		{"Other_CL", []string{"other"}},
		{"Unwritten_CL", nil},
	} {
		got, err := f.svc.RulesWriting(ctx, cid, c.table)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("RulesWriting(%s) = %v, %v; want %v", c.table, got, err, c.want)
		}
	}
	if got, _ := f.svc.RulesWriting(ctx, "00000000-0000-0000-0000-000000000000", "Events_CL"); got != nil {
		t.Errorf("another workspace's table is written by %v", got)
	}
	if err := f.svc.DeleteDCR(ctx, f.g, "a-rule"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.RulesWriting(ctx, cid, "Events_CL"); !reflect.DeepEqual(got, []string{"b-rule"}) {
		t.Errorf("after deleting a-rule: %v", got)
	}
}

// TestRouteStreamFindsARuleByItsImmutableID: an ingest call names the rule
// by immutable ID, in any case; the rule is found through the index, a
// store written before the index existed is indexed when it opens, and a
// deleted rule routes nothing.
func TestRouteStreamFindsARuleByItsImmutableID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ws := f.workspace(t, "secops")
	flow := DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-Events_CL"}
	var ids []string
	for _, name := range []string{"first", "second", "third"} {
		rule, _, err := f.svc.PutDCR(ctx, f.g, name, dcrTo(ws, flow))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rule.Properties.ImmutableID)
	}
	routeOf := func(id string) string {
		t.Helper()
		r, err := f.svc.RouteStream(ctx, id, "Custom-Events")
		if err != nil {
			return err.Error()
		}
		return r.Rule.Name
	}
	if got := routeOf(strings.ToUpper(ids[1])); got != "second" {
		t.Fatalf("the second rule's immutable ID, upper case, routes to %q", got)
	}

	// a store from before the index: the index is dropped, and opening the
	// store again rebuilds it
	if err := f.db.Update(ctx, func(tx kv.Tx) error { return tx.DeleteBucket(bucketDCRIDs) }); err != nil {
		t.Fatal(err)
	}
	if got := routeOf(ids[2]); !strings.Contains(got, "no data collection rule has immutable ID") {
		t.Fatalf("without the index the third rule routes to %q: the rule was not found through the index", got)
	}
	reopened, err := New(f.db, f.ids, f.keys, f.svc.seal, f.svc.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = reopened
	if got := routeOf(ids[2]); got != "third" {
		t.Fatalf("after reopening, the third rule routes to %q", got)
	}

	if err := f.svc.DeleteDCR(ctx, f.g, "first"); err != nil {
		t.Fatal(err)
	}
	if got := routeOf(ids[0]); !strings.Contains(got, "no data collection rule has immutable ID") {
		t.Fatalf("a deleted rule routes to %q", got)
	}
	if got := routeOf(ids[1]); got != "second" {
		t.Fatalf("deleting another rule left the second routing to %q", got)
	}
}

// BenchmarkRouteStream is the lookup every ingest call makes, among 500
// stored rules.
func BenchmarkRouteStream(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	ws := f.workspace(b, "secops")
	flow := DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-Events_CL"}
	var id string
	for i := range 500 {
		rule, _, err := f.svc.PutDCR(ctx, f.g, fmt.Sprintf("rule-%03d", i), dcrTo(ws, flow))
		if err != nil {
			b.Fatal(err)
		}
		id = rule.Properties.ImmutableID
	}
	for b.Loop() {
		if _, err := f.svc.RouteStream(ctx, id, "Custom-Events"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenWithRules is the store's open among 500 indexed rules: the
// start-up cost of the rule index.
func BenchmarkOpenWithRules(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	ws := f.workspace(b, "secops")
	flow := DCRDataFlow{Streams: []string{"Custom-Events"}, Destinations: []string{"ws"}, OutputStream: "Custom-Events_CL"}
	for i := range 500 {
		if _, _, err := f.svc.PutDCR(ctx, f.g, fmt.Sprintf("rule-%03d", i), dcrTo(ws, flow)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := New(f.db, f.ids, f.keys, f.svc.seal, f.svc.opts); err != nil {
			b.Fatal(err)
		}
	}
}
