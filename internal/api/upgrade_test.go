package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// legacyStream is a Custom- stream as rules stored before tables declared
// it: EventID and Score typed int, though the old version stored what was
// sent.
const legacyStream = `{"name":"TimeGenerated","type":"datetime"},{"name":"Host","type":"string"},{"name":"EventID","type":"int"},{"name":"Score","type":"int"}`

var legacyColumns = []workspace.DCRColumn{{Name: "TimeGenerated", Type: "datetime"}, {Name: "Host", Type: "string"}, {Name: "EventID", Type: "int"}, {Name: "Score", Type: "int"}}

// legacyRule stores a rule from stream (declared with cols) into table as
// the version before tables did: with the workspace service directly,
// declaring no table; and stores rows in its table as that version's
// ingestion did, with the types inferred from them. It returns the rule's
// immutable ID.
func (f *fullEnv) legacyRule(name, stream, table string, cols []workspace.DCRColumn, rows string) string {
	f.t.Helper()
	ctx := context.Background()
	ws, err := f.server.cfg.Workspaces.WorkspaceByCustomerID(ctx, f.customerID)
	if err != nil {
		f.t.Fatal(err)
	}
	var in workspace.DataCollectionRule
	in.Location = "local"
	in.Properties.StreamDeclarations = map[string]workspace.DCRStream{stream: {Columns: cols}}
	in.Properties.Destinations.LogAnalytics = []workspace.DCRDestination{{WorkspaceResourceID: ws.Workspace.ID, Name: "ws"}}
	in.Properties.DataFlows = []workspace.DCRDataFlow{{Streams: []string{stream}, Destinations: []string{"ws"}, TransformKql: "source", OutputStream: "Custom-" + table}}
	rule, _, err := f.server.cfg.Workspaces.PutDCR(ctx, workspace.ResourceGroup{Subscription: testSub, Group: "rg1"}, name, in)
	if err != nil {
		f.t.Fatal(err)
	}
	if rows != "" {
		store, err := f.server.cfg.Data.Logs(ctx, ws)
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := store.Ingest(ctx, f.customerID, table, []byte(rows)); err != nil {
			f.t.Fatal(err)
		}
	}
	return rule.Properties.ImmutableID
}

// TestUpgradedRuleIngestsAndKeepsItsStoredRowsReadable: a rule stored
// before tables existed, whose custom table holds rows stored as sent,
// goes on ingesting after the upgrade with no change by an operator: its
// first call declares the table from the stream, widening each column
// whose stored values the stream's type would read as null, so the old
// rows keep their values, and new rows are typed.
func TestUpgradedRuleIngestsAndKeepsItsStoredRowsReadable(t *testing.T) {
	f := newFullEnv(t)
	old := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	id := f.legacyRule("legacy-dcr", "Custom-Legacy", "Legacy_CL", legacyColumns,
		`[{"TimeGenerated":"`+old+`","Host":"a-old","EventID":"4625","Score":2.5},{"TimeGenerated":"`+old+`","Host":"b-old","EventID":"x","Score":1}]`)
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	if st, er := f.send(id, "Custom-Legacy", `[{"TimeGenerated":"`+now+`","Host":"c-new","EventID":"4624","Score":"3"}]`); st != 204 {
		t.Fatalf("the first ingest after the upgrade: %d %+v, want 204", st, er)
	}
	var tab struct {
		Properties struct {
			Schema struct{ Columns []struct{ Name, Type string } }
		}
	}
	f.mustDo(200, "GET", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Legacy_CL"), "", &tab)
	if got, want := fmt.Sprint(tab.Properties.Schema.Columns), "[{TimeGenerated datetime} {Host string} {EventID string} {Score real}]"; got != want {
		t.Fatalf("declared %s, want %s: the stream's types widened to what is stored", got, want)
	}
	cols, rows := f.queryRows("Legacy_CL | project Host, EventID, Score | order by Host asc")
	if got, want := cols+" "+fmt.Sprint(rows), "Host:string,EventID:string,Score:real [[a-old 4625 2.5] [b-old x 1] [c-new 4624 3]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	if st, er := f.send(id, "Custom-Legacy", `[{"Host":"d","Score":"many"}]`); st != 400 || !strings.Contains(er.Error.Message, `column "Score"`) {
		t.Fatalf("a value the stream's int does not take: %d %+v, want 400 naming the column", st, er)
	}
}

// TestConcurrentFirstIngestsOfAnUpgradedRuleAllSucceed: calls that find
// the table undeclared at once declare it once between them, and none
// fails.
func TestConcurrentFirstIngestsOfAnUpgradedRuleAllSucceed(t *testing.T) {
	f := newFullEnv(t)
	id := f.legacyRule("race-dcr", "Custom-Race", "Race_CL", legacyColumns, "")
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = f.send(id, "Custom-Race", fmt.Sprintf(`[{"TimeGenerated":"%s","Host":"h%d","EventID":%d}]`, now, i, i))
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 204 {
			t.Errorf("call %d: %d, want 204", i, st)
		}
	}
	if _, rows := f.queryRows("Race_CL | count"); fmt.Sprint(rows) != fmt.Sprintf("[[%d]]", n) {
		t.Fatalf("count %v, want %d", rows, n)
	}
}

// TestTableARuleWritesIsNotDeleted: deleting a custom table that a rule
// writes is refused, naming the rule, for the rule's next call would
// declare it again; once the rule is deleted the table is.
func TestTableARuleWritesIsNotDeleted(t *testing.T) {
	f := newFullEnv(t)
	if st, _, er := f.putDCR("writer-dcr", "Custom-Kept", legacyStream, "source", "Custom-Kept_CL"); st != 201 {
		t.Fatalf("create the rule: %d %+v", st, er)
	}
	var er errResp
	if resp := f.do("DELETE", f.tableURL("Kept_CL"), f.mgmt, "", &er); resp.StatusCode != 409 || er.Error.Code != "TableInUse" ||
		!strings.Contains(er.Error.Message, "'writer-dcr'") || !strings.Contains(er.Error.Message, "delete the rule") {
		t.Fatalf("delete of a table a rule writes: %d %+v, want 409 TableInUse naming the rule", resp.StatusCode, er)
	}
	f.mustDo(200, "GET", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Kept_CL"), "", nil)
	f.mustDo(200, "DELETE", f.arm("Microsoft.Insights/dataCollectionRules/writer-dcr"), "", nil)
	f.mustDo(200, "DELETE", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Kept_CL"), "", nil)
}

// TestCompiledFlowFollowsItsTable: a flow is compiled once and kept, and
// compiled again when its table changes: after a column is added, a
// transformation writing it is taken.
func TestCompiledFlowFollowsItsTable(t *testing.T) {
	f := newFullEnv(t)
	f.putTable("Grow_CL", `{"name":"TimeGenerated","type":"datetime"},{"name":"Host","type":"string"}`)
	if st, _, er := f.putDCR("grow-dcr", "Custom-Grow", `{"name":"TimeGenerated","type":"datetime"},{"name":"Host","type":"string"}`, "source", "Custom-Grow_CL"); st != 201 {
		t.Fatalf("create the rule: %d %+v", st, er)
	}
	ctx := context.Background()
	rule, err := f.server.cfg.Workspaces.GetDCR(ctx, workspace.ResourceGroup{Subscription: testSub, Group: "rg1"}, "grow-dcr")
	if err != nil {
		t.Fatal(err)
	}
	route, err := f.server.cfg.Workspaces.RouteStream(ctx, rule.Properties.ImmutableID, "Custom-Grow")
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.server.flowTransform(ctx, route)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := f.server.flowTransform(ctx, route); again != first {
		t.Fatal("the flow was compiled again with its table unchanged")
	}
	f.putTable("Grow_CL", `{"name":"TimeGenerated","type":"datetime"},{"name":"Host","type":"string"},{"name":"Added","type":"string"}`)
	changed, err := f.server.flowTransform(ctx, route)
	if err != nil || changed == first {
		t.Fatalf("after the table gained a column the old flow was kept (%v)", err)
	}
	route.Transform = "source | extend Added = Host"
	if tr, err := f.server.flowTransform(ctx, route); err != nil || tr == changed || tr.PassThrough() {
		t.Fatalf("after the rule changed its transformation the old flow was kept (%v)", err)
	}
	if n := f.server.flows.len(); n != 1 {
		t.Fatalf("%d flows kept, want 1: the one for the table's current version", n)
	}
}

// TestUpgradedRuleThatCannotDeclareItsTableIsAConflict: a stored rule whose
// stream no table can take (a reserved column name) is the operator's to
// put right, and its calls say so with 409, not 400 or 500.
func TestUpgradedRuleThatCannotDeclareItsTableIsAConflict(t *testing.T) {
	f := newFullEnv(t)
	cols := append(legacyColumns[:2:2], workspace.DCRColumn{Name: "Type", Type: "string"})
	id := f.legacyRule("reserved-dcr", "Custom-Reserved", "Reserved_CL", cols, "")
	st, er := f.send(id, "Custom-Reserved", `[{"Host":"a","Type":"x"}]`)
	if st != 409 || er.Error.Code != "InvalidTransform" || !strings.Contains(er.Error.Message, "reserved") || !strings.Contains(er.Error.Message, "PUT …/tables/Reserved_CL") {
		t.Fatalf("ingest: %d %+v, want 409 InvalidTransform saying what to change", st, er)
	}
}

// TestUpgradedRulePutAgainDeclaresItsTableWide: PUT of a stored rule over a
// table holding rows declares the table as its first call would, wide
// enough to read them.
func TestUpgradedRulePutAgainDeclaresItsTableWide(t *testing.T) {
	f := newFullEnv(t)
	old := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	f.legacyRule("reput-dcr", "Custom-Reput", "Reput_CL", legacyColumns, `[{"TimeGenerated":"`+old+`","Host":"a","EventID":"x","Score":2.5}]`)
	if st, _, er := f.putDCR("reput-dcr", "Custom-Reput", legacyStream, "source", "Custom-Reput_CL"); st != 200 {
		t.Fatalf("PUT the rule again: %d %+v", st, er)
	}
	cols, rows := f.queryRows("Reput_CL | project Host, EventID, Score")
	if got, want := cols+" "+fmt.Sprint(rows), "Host:string,EventID:string,Score:real [[a x 2.5]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
}
