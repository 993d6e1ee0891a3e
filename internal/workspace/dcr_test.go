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
