package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// putTable declares a custom table over HTTPS.
func (f *fullEnv) putTable(name, columns string) {
	f.t.Helper()
	var er errResp
	if resp := f.do("PUT", f.tableURL(name), f.mgmt, `{"properties":{"schema":{"columns":[`+columns+`]}}}`, &er); resp.StatusCode != 200 {
		f.t.Fatalf("declare %s: %d %+v", name, resp.StatusCode, er)
	}
}

// putDCR creates a rule sending stream (declared with columns) through
// transform into table, and returns its status, immutable ID and refusal.
func (f *fullEnv) putDCR(name, stream, columns, transform, table string) (int, string, errResp) {
	f.t.Helper()
	wsID := "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/secops"
	tk, _ := json.Marshal(transform)
	body := `{"location":"local","properties":{
		"streamDeclarations":{"` + stream + `":{"columns":[` + columns + `]}},
		"destinations":{"logAnalytics":[{"workspaceResourceId":"` + wsID + `","name":"ws"}]},
		"dataFlows":[{"streams":["` + stream + `"],"destinations":["ws"],"transformKql":` + string(tk) + `,"outputStream":"` + table + `"}]}}`
	var out struct {
		errResp
		Properties struct {
			ImmutableID string `json:"immutableId"`
		} `json:"properties"`
	}
	resp := f.do("PUT", f.url("", f.arm("Microsoft.Insights/dataCollectionRules/"+name)), f.mgmt, body, &out)
	return resp.StatusCode, out.Properties.ImmutableID, out.errResp
}

// send posts rows to a rule's stream over HTTPS.
func (f *fullEnv) send(immutableID, stream, rows string) (int, errResp) {
	f.t.Helper()
	var er errResp
	resp := f.do("POST", f.url("", "/dataCollectionRules/"+immutableID+"/streams/"+stream+"?api-version=2023-01-01"), f.ingest, rows, &er)
	return resp.StatusCode, er
}

// queryRows runs a query over HTTPS and returns its columns (name:type)
// and rows.
func (f *fullEnv) queryRows(q string) (string, [][]any) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]string{"query": q, "timespan": "P1D"})
	var res struct {
		Tables []struct {
			Columns []struct{ Name, Type string }
			Rows    [][]any
		}
	}
	if resp := f.do("POST", f.url("", "/v1/workspaces/"+f.customerID+"/query"), f.query, string(body), &res); resp.StatusCode != 200 || len(res.Tables) == 0 {
		f.t.Fatalf("query %q: %d", q, resp.StatusCode)
	}
	var cols []string
	for _, c := range res.Tables[0].Columns {
		cols = append(cols, c.Name+":"+c.Type)
	}
	return strings.Join(cols, ","), res.Tables[0].Rows
}

const typedColumns = `{"name":"TimeGenerated","type":"datetime"},{"name":"Host","type":"string"},{"name":"EventID","type":"int"},
	{"name":"Score","type":"real"},{"name":"Ok","type":"boolean"},{"name":"Seen","type":"datetime"},{"name":"DeviceId","type":"guid"},
	{"name":"Props","type":"dynamic"}`

// TestIngestConvertsRowsToTheDeclaredTypesOverHTTPS: rows sent to a stream
// are stored as the table declares them, converted as the cloud converts
// them; a value that does not convert, and a column the stream does not
// declare, refuse the whole body, naming the row and the column and never
// the value.
func TestIngestConvertsRowsToTheDeclaredTypesOverHTTPS(t *testing.T) {
	f := newFullEnv(t)
	f.putTable("Typed_CL", typedColumns)
	status, id, er := f.putDCR("typed-dcr", "Custom-Typed", typedColumns, "source", "Custom-Typed_CL")
	if status != 201 {
		t.Fatalf("create the rule: %d %+v", status, er)
	}
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	row := `{"TimeGenerated":"` + now + `","Host":42,"EventID":"4624","Score":"1.5","Ok":"TRUE","Seen":"2026-03-10 11:00","DeviceId":"{74BE27DE1E4E49D9B579FE0B331D3642}","Props":{"a":[1]}}`
	if st, er := f.send(id, "Custom-Typed", "["+row+"]"); st != 204 {
		t.Fatalf("ingest: %d %+v", st, er)
	}
	for _, c := range []struct {
		name, rows string
		want       []string
		secret     string
	}{
		{"an int that is a word", `[` + row + `,{"EventID":"logon"}]`, []string{"row 1", `column \"EventID\"`, "int"}, "logon"},
		{"notadate", `[{"Seen":"notadate"}]`, []string{"row 0", `column \"Seen\"`, "datetime"}, "notadate"},
		{"a fraction for an int", `[{"EventID":2.5}]`, []string{"row 0", `column \"EventID\"`, "int"}, "2.5"},
		{"a column the stream does not declare", `[{"Host":"a"},{"Host":"b","Extra":"x"}]`, []string{"row 1", `column "Extra"`, "stream 'Custom-Typed'", "Typed_CL"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, er := f.send(id, "Custom-Typed", c.rows)
			msg := er.Error.Message
			if st != 400 || er.Error.Code != "InvalidPayload" {
				t.Fatalf("%d %s %q, want 400 InvalidPayload", st, er.Error.Code, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, strings.ReplaceAll(w, `\"`, `"`)) {
					t.Fatalf("%q does not say %s", msg, w)
				}
			}
			if head, _, _ := strings.Cut(msg, ": it takes"); c.secret != "" && strings.Contains(head, c.secret) {
				t.Fatalf("%q holds the value %s", msg, c.secret)
			}
		})
	}
	cols, rows := f.queryRows("Typed_CL | project Host, EventID, Score, Ok, Seen, DeviceId, Props")
	if len(rows) != 1 {
		t.Fatalf("%d rows stored, want the one taken", len(rows))
	}
	got, _ := json.Marshal(rows[0])
	const want = `["42",4624,1.5,true,"2026-03-10T11:00:00Z","74be27de-1e4e-49d9-b579-fe0b331d3642",{"a":[1]}]`
	if string(got) != want {
		t.Fatalf("stored %s, want %s (columns %s)", got, want, cols)
	}
	for _, c := range []string{"Host:string", "Score:real", "Ok:bool", "Seen:datetime", "Props:dynamic"} {
		if !strings.Contains(cols, c) {
			t.Fatalf("columns %s, want %s among them", cols, c)
		}
	}
}

// TestRuleDeclaresTheCustomTableItsStreamWrites: a rule whose Custom-
// stream writes a custom table that is not declared declares it from the
// stream, as the portal's wizard does; a flow into a table that is neither
// declared nor custom is refused, and declares nothing.
func TestRuleDeclaresTheCustomTableItsStreamWrites(t *testing.T) {
	f := newFullEnv(t)
	status, _, er := f.putDCR("new-dcr", "Custom-New", `{"name":"Message","type":"string"},{"name":"N","type":"long"}`, "source", "Custom-New_CL")
	if status != 201 {
		t.Fatalf("create the rule: %d %+v", status, er)
	}
	var got tableResp
	if resp := f.do("GET", f.tableURL("New_CL"), f.mgmt, "", &got); resp.StatusCode != 200 ||
		columnList(got.Properties.Schema.Columns) != "TimeGenerated:datetime,Message:string,N:long" {
		t.Fatalf("declared table: %d %+v", resp.StatusCode, got.Properties.Schema)
	}
	for _, c := range []struct {
		name, columns, transform, table, want string
	}{
		{"a table that is neither declared nor custom", `{"name":"Message","type":"string"}`, "source", "Microsoft-Nowhere", "table Nowhere, which is not declared"},
		{"a stream column of another type than the standard table's", `{"name":"EventID","type":"string"}`, "source", "Microsoft-SecurityEvent", "EventID is string in stream"},
		{"a stream column the standard table lacks", `{"name":"Nope","type":"string"}`, "source", "Microsoft-SecurityEvent", "column Nope of stream"},
		{"a custom table's column that cannot be declared", `{"name":"Type","type":"string"}`, "source", "Custom-Reserved_CL", "declaring table Reserved_CL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, er := f.putDCR("bad-dcr", "Custom-Bad", c.columns, c.transform, c.table)
			if status != 400 || !strings.Contains(er.Error.Message, c.want) {
				t.Fatalf("%d %q, want 400 saying %q", status, er.Error.Message, c.want)
			}
		})
	}
	for _, path := range []string{f.url("", f.arm("Microsoft.Insights/dataCollectionRules/bad-dcr")), f.tableURL("Reserved_CL")} {
		if resp := f.do("GET", path, f.mgmt, "", nil); resp.StatusCode != 404 {
			t.Fatalf("a refused rule left %s behind: %d", path, resp.StatusCode)
		}
	}
}

const alertStream = `{"name":"TimeGenerated","type":"datetime"},{"name":"Message","type":"string"},{"name":"Severity","type":"int"}`

// TestTransformKqlFiltersAndExtendsRowsEndToEnd: a rule's transformation
// runs over each batch before it is stored: the rows its where drops are
// not stored, and the column it extends lands with the table's type.
func TestTransformKqlFiltersAndExtendsRowsEndToEnd(t *testing.T) {
	f := newFullEnv(t)
	f.putTable("Alerts_CL", alertStream+`,{"name":"Level","type":"string"},{"name":"Score","type":"real"},{"name":"Code","type":"int"}`)
	status, id, er := f.putDCR("alerts-dcr", "Custom-Alerts", alertStream,
		"source\n| where Severity >= 3\n| extend Level = iif(Severity >= 4, \"high\", \"medium\"), Score = Severity * 1.5, Code = tostring(Severity * 100)",
		"Custom-Alerts_CL")
	if status != 201 {
		t.Fatalf("create the rule: %d %+v", status, er)
	}
	at := time.Now().UTC().Add(-time.Minute)
	var rows []string
	for i, sev := range []int{1, 4, 3, 2} {
		rows = append(rows, fmt.Sprintf(`{"TimeGenerated":%q,"Message":"m%d","Severity":%d}`, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i, sev))
	}
	if st, er := f.send(id, "Custom-Alerts", "["+strings.Join(rows, ",")+"]"); st != 204 {
		t.Fatalf("ingest: %d %+v", st, er)
	}
	if st, er := f.send(id, "Custom-Alerts", `[`+rows[0]+`]`); st != 204 {
		t.Fatalf("a batch the transformation keeps no row of: %d %+v", st, er)
	}
	cols, got := f.queryRows("Alerts_CL | project Message, Severity, Level, Score, Code | order by Message asc")
	text, _ := json.Marshal(got)
	if string(text) != `[["m1",4,"high",6,400],["m2",3,"medium",4.5,300]]` {
		t.Fatalf("stored %s (columns %s)", text, cols)
	}
	if !strings.Contains(cols, "Score:real") || !strings.Contains(cols, "Level:string") {
		t.Fatalf("columns %s", cols)
	}
	if st, er := f.send(id, "Custom-Alerts", `[{"Severity":"high"}]`); st != 400 || !strings.Contains(er.Error.Message, `column "Severity"`) {
		t.Fatalf("a stream value that does not convert: %d %+v", st, er)
	}
}

// TestBadTransformsAreRefusedWithLineAndColumn: a transformation the cloud
// would refuse is refused when the rule is put, with where it is wrong,
// and nothing is stored or declared.
func TestBadTransformsAreRefusedWithLineAndColumn(t *testing.T) {
	f := newFullEnv(t)
	for _, c := range []struct{ name, transform, want string }{
		{"summarize", "source\n| summarize count() by Message", "at 2:3: summarize is not taken"},
		{"take", "source | take 5", "at 1:10: take is not taken"},
		{"another table", "SecurityEvent | extend Message = Activity", "at 1:1: unknown table"},
		{"a syntax error", "source\n| where (Severity > ", "at 2:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, er := f.putDCR("bad-dcr", "Custom-Alerts", alertStream, c.transform, "Custom-Alerts_CL")
			if status != 400 || er.Error.Code != "InvalidTransform" || !strings.Contains(er.Error.Message, c.want) {
				t.Fatalf("%d %s %q, want 400 InvalidTransform saying %q", status, er.Error.Code, er.Error.Message, c.want)
			}
		})
	}
	if resp := f.do("GET", f.tableURL("Alerts_CL"), f.mgmt, "", nil); resp.StatusCode != 404 {
		t.Fatalf("a refused rule declared its table: %d", resp.StatusCode)
	}
	// Into a declared table, the transformation gives only its columns.
	f.putTable("Alerts_CL", alertStream)
	status, _, er := f.putDCR("bad-dcr", "Custom-Alerts", alertStream, "source | extend Extra = 1", "Custom-Alerts_CL")
	if status != 400 || !strings.Contains(er.Error.Message, "column Extra, which is not a column of table Alerts_CL") {
		t.Fatalf("%d %q, want the extended column refused", status, er.Error.Message)
	}
}

// TestCollectorRowsIntoADeclaredTableAreTyped: the Data Collector API's
// suffixed columns are held to the table when it is declared.
func TestCollectorRowsIntoADeclaredTableAreTyped(t *testing.T) {
	f := newFullEnv(t)
	f.putTable("Coll_CL", `{"name":"TimeGenerated","type":"datetime"},{"name":"Name_s","type":"string"},{"name":"Count_d","type":"int"}`)
	_, keys, err := f.server.cfg.Workspaces.CollectorWorkspace(context.Background(), f.customerID)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(keys.PrimarySharedKey)
	post := func(body string) (int, errResp) {
		date := time.Now().UTC().Format(http.TimeFormat)
		sig := base64.StdEncoding.EncodeToString(collectorSignature(key, len(body), "application/json", date))
		req, _ := http.NewRequest("POST", f.url("", "/api/logs?api-version=2016-04-01"), strings.NewReader(body))
		req.Header.Set("Authorization", "SharedKey "+f.customerID+":"+sig)
		req.Header.Set("x-ms-date", date)
		req.Header.Set("Log-Type", "Coll")
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var er errResp
		json.NewDecoder(resp.Body).Decode(&er)
		return resp.StatusCode, er
	}
	if st, er := post(`[{"Name":"a","Count":3}]`); st != 200 {
		t.Fatalf("post: %d %+v", st, er)
	}
	if st, er := post(`[{"Name":"b","Count":2.5}]`); st != 400 || !strings.Contains(er.Error.Message, `column "Count_d"`) {
		t.Fatalf("a fraction for an int: %d %+v", st, er)
	}
	if st, er := post(`[{"Name":"c","Other":true}]`); st != 400 || !strings.Contains(er.Error.Message, `column "Other_b", which table Coll_CL does not declare`) {
		t.Fatalf("an undeclared column: %d %+v", st, er)
	}
	if _, rows := f.queryRows("Coll_CL | project Name_s, Count_d"); len(rows) != 1 {
		t.Fatalf("%d rows stored, want 1", len(rows))
	}
}

// BenchmarkFlowTransform is what each Logs Ingestion call pays to type its
// rows: the flow's table looked up as declared now (a custom table's
// sealed document opened for its etag; a standard table's built in) and
// the flow compiled against it, once per table version (flowCache); for a
// custom table and a standard one, pass-through and with a transformation.
// The cache=miss sub-benchmarks empty the cache before each call: what
// every call paid before flows were kept, and what the first call after a
// change of the table or the rule pays.
//
//	go test -run '^$' -bench FlowTransform -count 6 ./internal/api
func BenchmarkFlowTransform(b *testing.B) {
	f := newFullEnv(b)
	ctx := context.Background()
	f.putDCR("std-dcr", "Custom-Sec", `{"name":"Computer","type":"string"},{"name":"EventID","type":"int"}`, "source", "Microsoft-SecurityEvent")
	f.putDCR("tr-dcr", "Custom-Alerts", alertStream, "source | where Severity >= 3 | extend Level = tostring(Severity)", "Custom-Alerts_CL")
	for _, c := range []struct{ name, rule, stream string }{
		{"table=custom/transform=source", "events-dcr", "Custom-Events"},
		{"table=standard/transform=source", "std-dcr", "Custom-Sec"},
		{"table=custom/transform=kql", "tr-dcr", "Custom-Alerts"},
	} {
		route := benchRoute(b, f, c.rule, c.stream)
		b.Run(c.name+"/cache=hit", func(b *testing.B) {
			for b.Loop() {
				if _, err := f.server.flowTransform(ctx, route); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/cache=miss", func(b *testing.B) {
			for b.Loop() {
				f.server.flows = newFlowCache(maxCachedFlows)
				if _, err := f.server.flowTransform(ctx, route); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRoute is the route of a rule's stream.
func benchRoute(b *testing.B, f *fullEnv, rule, stream string) *workspace.Route {
	b.Helper()
	ctx := context.Background()
	r, err := f.server.cfg.Workspaces.GetDCR(ctx, workspace.ResourceGroup{Subscription: testSub, Group: "rg1"}, rule)
	if err != nil {
		b.Fatal(err)
	}
	route, err := f.server.cfg.Workspaces.RouteStream(ctx, r.Properties.ImmutableID, stream)
	if err != nil {
		b.Fatal(err)
	}
	return route
}
