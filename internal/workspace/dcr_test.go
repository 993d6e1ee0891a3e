package workspace

import (
	"context"
	"reflect"
	"testing"
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
