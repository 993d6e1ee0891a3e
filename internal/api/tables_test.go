package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

func (f *fullEnv) tableURL(name string) string {
	return f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/"+name))
}

type tableResp struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Etag       string `json:"etag"`
	Properties struct {
		RetentionInDays      int    `json:"retentionInDays"`
		TotalRetentionInDays int    `json:"totalRetentionInDays"`
		Plan                 string `json:"plan"`
		ProvisioningState    string `json:"provisioningState"`
		Schema               struct {
			Name            string          `json:"name"`
			TableType       string          `json:"tableType"`
			Columns         []tables.Column `json:"columns"`
			StandardColumns []tables.Column `json:"standardColumns"`
		} `json:"schema"`
	} `json:"properties"`
}

func columnList(cols []tables.Column) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.Name + ":" + c.Type)
	}
	return b.String()
}

const firewallTable = `{"properties":{"schema":{"name":"Firewall_CL","columns":[
	{"name":"TimeGenerated","type":"datetime"},{"name":"Zone","type":"string","description":"where"},
	{"name":"Bytes","type":"long"},{"name":"Port","type":"int"}]}}}`

// TestTablesOverHTTPSAreDeclaredReadChangedAndDeleted walks a custom
// table's life as the cloud's tables API has it: PUT answers 200 with the
// table, GET and the list show the columns in declared order, a PATCH sets
// the retention, a stale etag is refused, DELETE answers 200 then 204.
func TestTablesOverHTTPSAreDeclaredReadChangedAndDeleted(t *testing.T) {
	f := newFullEnv(t)
	var got tableResp
	resp := f.do("PUT", f.tableURL("Firewall_CL"), f.mgmt, firewallTable, &got)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" || got.Etag != resp.Header.Get("ETag") {
		t.Fatalf("create: %d %s %+v", resp.StatusCode, resp.Header.Get("ETag"), got)
	}
	const order = "TimeGenerated:datetime,Zone:string,Bytes:long,Port:int"
	if got.Type != "Microsoft.OperationalInsights/workspaces/tables" || !strings.HasSuffix(got.ID, "/workspaces/secops/tables/Firewall_CL") ||
		got.Properties.Plan != "Analytics" || got.Properties.ProvisioningState != "Succeeded" || got.Properties.Schema.TableType != "CustomLog" ||
		columnList(got.Properties.Schema.Columns) != order || got.Properties.RetentionInDays != 90 {
		t.Fatalf("created table: %+v", got)
	}
	var read tableResp
	if resp := f.do("GET", f.tableURL("Firewall_CL"), f.mgmt, "", &read); resp.StatusCode != 200 || columnList(read.Properties.Schema.Columns) != order || read.Etag != got.Etag {
		t.Fatalf("get: %d %+v", resp.StatusCode, read)
	}
	var list struct{ Value []tableResp }
	if resp := f.do("GET", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables")), f.mgmt, "", &list); resp.StatusCode != 200 ||
		len(list.Value) != len(tables.Standard())+2 || !slices.ContainsFunc(list.Value, func(t tableResp) bool { return t.Name == "Firewall_CL" }) {
		t.Fatalf("list: %d, %d tables; want the standard ones, Firewall_CL and Events_CL (declared by the test's rule)", resp.StatusCode, len(list.Value))
	}
	var patched tableResp
	if resp := f.do("PATCH", f.tableURL("Firewall_CL"), f.mgmt, `{"properties":{"retentionInDays":120,"totalRetentionInDays":730}}`, &patched); resp.StatusCode != 200 ||
		patched.Properties.RetentionInDays != 120 || patched.Properties.TotalRetentionInDays != 730 || columnList(patched.Properties.Schema.Columns) != order {
		t.Fatalf("patch retention: %d %+v", resp.StatusCode, patched)
	}
	var er errResp
	stale := strings.Replace(firewallTable, `{"properties"`, `{"etag":`+jsonQuote(got.Etag)+`,"properties"`, 1)
	if resp := f.do("PUT", f.tableURL("Firewall_CL"), f.mgmt, stale, &er); resp.StatusCode != http.StatusPreconditionFailed || er.Error.Code != "PreconditionFailed" {
		t.Fatalf("a PUT with the etag from before the PATCH: %d %+v", resp.StatusCode, er)
	}
	// A table read back can be sent again as it is.
	var again tableResp
	raw := f.serve("GET", "127.0.0.1", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Firewall_CL"), f.mgmt, "").Body.String()
	if resp := f.do("PUT", f.tableURL("Firewall_CL"), f.mgmt, raw, &again); resp.StatusCode != 200 || columnList(again.Properties.Schema.Columns) != order {
		t.Fatalf("PUT of the table as read: %d %+v", resp.StatusCode, again)
	}
	if resp := f.do("DELETE", f.tableURL("Firewall_CL"), f.mgmt, "", nil); resp.StatusCode != 200 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp := f.do("DELETE", f.tableURL("Firewall_CL"), f.mgmt, "", nil); resp.StatusCode != 204 {
		t.Fatalf("delete again: %d", resp.StatusCode)
	}
	if resp := f.do("GET", f.tableURL("Firewall_CL"), f.mgmt, "", &er); resp.StatusCode != 404 {
		t.Fatalf("get after delete: %d %+v", resp.StatusCode, er)
	}
}

// TestStandardTablesOverHTTPSAreBuiltInAndKeepTheirColumns: a fresh
// workspace has SecurityEvent, its columns read-only in standardColumns as
// the cloud shows them; its retention can be set; it cannot be deleted.
func TestStandardTablesOverHTTPSAreBuiltInAndKeepTheirColumns(t *testing.T) {
	f := newFullEnv(t)
	builtIn, _ := tables.StandardSchema("SecurityEvent")
	var got tableResp
	if resp := f.do("GET", f.tableURL("SecurityEvent"), f.mgmt, "", &got); resp.StatusCode != 200 || got.Properties.Schema.TableType != "Microsoft" ||
		len(got.Properties.Schema.Columns) != 0 || columnList(got.Properties.Schema.StandardColumns) != columnList(builtIn.Columns) {
		t.Fatalf("get SecurityEvent: %d %+v", resp.StatusCode, got.Properties.Schema.TableType)
	}
	var set tableResp
	if resp := f.do("PUT", f.tableURL("SecurityEvent"), f.mgmt, `{"properties":{"retentionInDays":365,"totalRetentionInDays":1000}}`, &set); resp.StatusCode != 200 ||
		set.Properties.RetentionInDays != 365 || set.Properties.TotalRetentionInDays != 1000 || resp.Header.Get("ETag") == "" {
		t.Fatalf("set SecurityEvent's retention: %d %+v", resp.StatusCode, set.Properties)
	}
	var er errResp
	if resp := f.do("DELETE", f.tableURL("SecurityEvent"), f.mgmt, "", &er); resp.StatusCode != 400 || er.Error.Code != "InvalidOperation" ||
		!strings.Contains(er.Error.Message, "cannot be deleted") {
		t.Fatalf("delete SecurityEvent: %d %+v", resp.StatusCode, er)
	}
}

func jsonQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// TestBadTablesAreRefusedOverHTTPSWithWhatIsWrong: each bad table is a 4xx
// whose message names what is wrong, and nothing is stored.
func TestBadTablesAreRefusedOverHTTPSWithWhatIsWrong(t *testing.T) {
	f := newFullEnv(t)
	f.mustDo(200, "PUT", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Kept_CL"),
		`{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"N","type":"int"}]}}}`, nil)
	cases := []struct {
		name, table, body string
		status            int
		code, want        string
	}{
		{"a name without _CL", "Firewall", firewallTable, 400, "InvalidParameter", "a custom table's name ends in _CL"},
		{"a name with a hyphen", "Fire-wall_CL", firewallTable, 400, "InvalidResourceName", "a table name is 1-63 letters, digits and underscores"},
		{"a name over 63 characters", strings.Repeat("a", 61) + "_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"}]}}}`, 400, "InvalidResourceName", "table name"},
		{"not JSON", "Fw_CL", `{"properties":`, 400, "BadParameter", "not valid JSON"},
		{"no properties", "Fw_CL", `{}`, 400, "InvalidParameter", "has no properties"},
		{"an unknown property", "Fw_CL", `{"properties":{"columns":[]}}`, 400, "InvalidParameter", `unknown field "columns"`},
		{"no schema", "Fw_CL", `{"properties":{"retentionInDays":30}}`, 400, "InvalidParameter", "a new table needs properties.schema"},
		{"another schema name", "Fw_CL", firewallTable, 400, "InvalidParameter", "schema.name 'Firewall_CL' is not the table's name 'Fw_CL'"},
		{"no TimeGenerated", "Fw_CL", `{"properties":{"schema":{"columns":[{"name":"Zone","type":"string"}]}}}`, 400, "InvalidParameter", "has no TimeGenerated column"},
		{"TimeGenerated a string", "Fw_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"string"}]}}}`, 400, "InvalidParameter", "TimeGenerated must be a datetime"},
		{"an unknown type", "Fw_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Z","type":"varchar"}]}}}`, 400, "InvalidParameter", "has type 'varchar'"},
		{"a reserved column", "Fw_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Type","type":"string"}]}}}`, 400, "InvalidParameter", "'Type' is a reserved column name"},
		{"a column twice", "Fw_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"A","type":"string"},{"name":"a","type":"long"}]}}}`, 400, "InvalidParameter", "repeats columns[1] 'A'"},
		{"retention of 2 days", "Fw_CL", `{"properties":{"retentionInDays":2,"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"}]}}}`, 400, "InvalidParameter", "retentionInDays is 2; it is 4 to 730"},
		{"total retention below retention", "Fw_CL", `{"properties":{"retentionInDays":60,"totalRetentionInDays":30,"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"}]}}}`, 400, "InvalidParameter", "totalRetentionInDays (30) is less than retentionInDays (60)"},
		{"the Basic plan", "Fw_CL", `{"properties":{"plan":"Basic","schema":{"columns":[{"name":"TimeGenerated","type":"datetime"}]}}}`, 400, "InvalidParameter", "plan 'Basic' is not offered"},
		{"a column dropped", "Kept_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"}]}}}`, 409, "InvalidColumnChange", "would lose column 'N'"},
		{"a column retyped", "Kept_CL", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"N","type":"string"}]}}}`, 409, "InvalidColumnChange", "'N' is a int and cannot become a string"},
		{"a standard table's columns", "SecurityEvent", `{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime"}]}}}`, 400, "InvalidParameter", "'SecurityEvent' is a standard table: its columns are built in and cannot change"},
		{"a standard table's retention of 1000 days", "SecurityEvent", `{"properties":{"retentionInDays":1000}}`, 400, "InvalidParameter", "retentionInDays is 1000; it is 4 to 730"},
		{"a PATCH of a missing table", "Gone_CL", `{"properties":{"retentionInDays":30}}`, 404, "NotFound", "table 'Gone_CL' was not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "PUT"
			if strings.HasPrefix(c.name, "a PATCH") {
				method = "PATCH"
			}
			var er errResp
			resp := f.do(method, f.tableURL(c.table), f.mgmt, c.body, &er)
			if resp.StatusCode != c.status || er.Error.Code != c.code || !strings.Contains(er.Error.Message, c.want) {
				t.Fatalf("%d %s %q, want %d %s containing %q", resp.StatusCode, er.Error.Code, er.Error.Message, c.status, c.code, c.want)
			}
		})
	}
	var list struct{ Value []tableResp }
	f.mustDo(200, "GET", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables"), "", &list)
	var custom []string
	for _, tab := range list.Value {
		if tab.Properties.Schema.TableType == "CustomLog" {
			custom = append(custom, tab.Name+"("+columnList(tab.Properties.Schema.Columns)+")")
		}
	}
	// Events_CL is the test environment's rule's table, declared with it.
	if strings.Join(custom, " ") != "Events_CL(TimeGenerated:datetime,Message:string) Kept_CL(TimeGenerated:datetime,N:int)" {
		t.Fatalf("a refused change was stored: %v", custom)
	}
}

// TestTablesNeedAContributorToChangeAndAReaderToRead: a Reader of the
// workspace may read its tables, not declare them.
func TestTablesNeedAContributorToChangeAndAReaderToRead(t *testing.T) {
	f := newFullEnv(t)
	ctx := context.Background()
	f.mustDo(200, "PUT", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Firewall_CL"), firewallTable, nil)
	app, secret, err := f.identity.CreateApplication(ctx, "analyst")
	if err != nil {
		t.Fatal(err)
	}
	wsID := "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/secops"
	if _, err := f.server.cfg.Workspaces.PutRoleAssignment(ctx, wsID, "analyst-reader", workspace.RoleReader, app.ObjectID); err != nil {
		t.Fatal(err)
	}
	tok := f.token(app.AppID, secret, "https://management.azure.com/.default")
	if resp := f.do("GET", f.tableURL("Firewall_CL"), tok, "", nil); resp.StatusCode != 200 {
		t.Fatalf("a Reader reading a table: %d", resp.StatusCode)
	}
	var er errResp
	if resp := f.do("PUT", f.tableURL("Other_CL"), tok, firewallTable, &er); resp.StatusCode != 403 {
		t.Fatalf("a Reader declaring a table: %d %+v", resp.StatusCode, er)
	}
	if resp := f.do("DELETE", f.tableURL("Firewall_CL"), tok, "", &er); resp.StatusCode != 403 {
		t.Fatalf("a Reader deleting a table: %d %+v", resp.StatusCode, er)
	}
	if resp := f.do("GET", f.tableURL("Firewall_CL"), f.query, "", &er); resp.StatusCode != 401 {
		t.Fatalf("a query token on the management API: %d %+v", resp.StatusCode, er)
	}
}

// FuzzTableBody sends arbitrary bodies to a table's PUT: nothing panics or
// answers 5xx, and a table accepted is one the rules allow, read back as
// stored.
func FuzzTableBody(f *testing.F) {
	env := newFullEnv(f)
	for _, s := range []string{firewallTable,
		`{"properties":{"retentionInDays":-1,"totalRetentionInDays":4383,"schema":{"columns":[{"name":"TimeGenerated","type":"DateTime"},{"name":"b","type":"bool"}]}}}`,
		`{"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"datetime","isHidden":false}],"standardColumns":[],"tableType":"CustomLog"}}}`,
		`{"properties":{"schema":{"columns":null}}}`, `{"properties":null}`, `[]`, `{"properties":{"plan":"Analytics"}}`,
	} {
		f.Add(s)
	}
	target := env.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Fuzz_CL")
	f.Fuzz(func(t *testing.T, body string) {
		rec := env.serve("PUT", "127.0.0.1", target, env.mgmt, body)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code != 200 {
			return
		}
		got := env.serve("GET", "127.0.0.1", target, env.mgmt, "")
		if got.Code != 200 || got.Body.String() != rec.Body.String() {
			t.Fatalf("%q: stored %s, read back %d %s", body, rec.Body, got.Code, got.Body)
		}
		if !strings.Contains(rec.Body.String(), `{"name":"TimeGenerated","type":"datetime"`) {
			t.Fatalf("%q: a table without a datetime TimeGenerated was accepted: %s", body, rec.Body)
		}
		env.serve("DELETE", "127.0.0.1", target, env.mgmt, "")
	})
}
