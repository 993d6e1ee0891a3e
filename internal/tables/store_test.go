package tables

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
)

var ctx = context.Background()

const (
	customerID = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"
	resourceID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/secops"
)

func newTestTables(t testing.TB) (*Tables, *envelopetest.Keys, string) {
	t.Helper()
	keys := envelopetest.New("doc-aek")
	docs, path := docstoretest.Open(t, keys)
	return New(docs, customerID, resourceID, 30), keys, path
}

func props(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// schemaProps are a table's properties with columns given as name, type pairs.
func schemaProps(name string, cols ...string) map[string]any {
	var cs []map[string]string
	for i := 0; i+1 < len(cols); i += 2 {
		cs = append(cs, map[string]string{"name": cols[i], "type": cols[i+1]})
	}
	return map[string]any{"schema": map[string]any{"name": name, "columns": cs}}
}

func columnNames(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name + ":" + c.Type
	}
	return out
}

func TestACustomTableKeepsItsColumnsInDeclaredOrder(t *testing.T) {
	tabs, _, _ := newTestTables(t)
	p := schemaProps("Firewall_CL", "Zone", "string", "TimeGenerated", "dateTime", "Bytes", "long", "Port", "int", "Allowed", "bool")
	got, created, err := tabs.Put(ctx, "Firewall_CL", props(t, p), "")
	if err != nil || !created {
		t.Fatalf("create: %+v %v %v", got, created, err)
	}
	want := []string{"Zone:string", "TimeGenerated:datetime", "Bytes:long", "Port:int", "Allowed:boolean"}
	if !slices.Equal(columnNames(got.Properties.Schema.Columns), want) {
		t.Fatalf("columns = %v, want %v (declared order, types as kept)", columnNames(got.Properties.Schema.Columns), want)
	}
	if got.ID != resourceID+"/tables/Firewall_CL" || got.Type != ResourceType || got.Etag == "" ||
		got.Properties.Plan != "Analytics" || got.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("resource: %+v", got)
	}
	if p := got.Properties; p.RetentionInDays != 30 || p.TotalRetentionInDays != 30 || !p.RetentionInDaysAsDefault || !p.TotalRetentionInDaysAsDefault {
		t.Fatalf("default retention: %+v", p)
	}
	s, ok, err := tabs.Declared(ctx, "Firewall_CL")
	if err != nil || !ok || !slices.Equal(columnNames(s.Columns), want) {
		t.Fatalf("Declared = %+v %v %v", s, ok, err)
	}
	if _, ok, err := tabs.Declared(ctx, "Other_CL"); ok || err != nil {
		t.Fatalf("Declared of an undeclared table = %v %v, want false, nil", ok, err)
	}
	if _, ok, err := tabs.Declared(ctx, "no such/name"); ok || err != nil {
		t.Fatalf("Declared of an invalid name = %v %v, want false, nil", ok, err)
	}
	list, err := tabs.List(ctx)
	if err != nil || len(list) != len(Standard())+1 || !slices.ContainsFunc(list, func(t Table) bool { return t.Name == "Firewall_CL" }) {
		t.Fatalf("list: %d tables, %v; want the standard ones and Firewall_CL", len(list), err)
	}
	custom, err := tabs.Custom(ctx)
	if err != nil || len(custom) != 1 || !slices.Equal(columnNames(custom[0].Columns), want) {
		t.Fatalf("custom: %+v %v", custom, err)
	}
}

func TestACustomTableIsRefusedWithWhatIsWrong(t *testing.T) {
	many := []string{"TimeGenerated", "datetime"}
	for i := range MaxColumns {
		many = append(many, "C"+strings.Repeat("x", i%40)+string(rune('a'+i%26))+"_"+string(rune('a'+i/26)), "string")
	}
	cases := []struct {
		name  string
		table string
		props any
		want  string
	}{
		{"a name without _CL", "Firewall", schemaProps("Firewall", "TimeGenerated", "datetime"), "a custom table's name ends in _CL"},
		{"only the suffix", "_CL", schemaProps("_CL", "TimeGenerated", "datetime"), "starting with a letter"},
		{"a name with a dash", "Fire-wall_CL", schemaProps("Fire-wall_CL", "TimeGenerated", "datetime"), "letters, digits and underscores"},
		{"a name too long", strings.Repeat("a", 61) + "_CL", schemaProps("", "TimeGenerated", "datetime"), "1-63 letters"},
		{"no properties", "Fw_CL", nil, "has no properties"},
		{"an unknown property", "Fw_CL", map[string]any{"retention": 5}, `unknown field "retention"`},
		{"an unknown column field", "Fw_CL", map[string]any{"schema": map[string]any{"columns": []any{map[string]any{"name": "TimeGenerated", "type": "datetime", "size": 3}}}}, `unknown field "size"`},
		{"no schema", "Fw_CL", map[string]any{"retentionInDays": 30}, "a new table needs properties.schema"},
		{"another schema name", "Fw_CL", schemaProps("Other_CL", "TimeGenerated", "datetime"), "is not the table's name"},
		{"no TimeGenerated", "Fw_CL", schemaProps("Fw_CL", "Zone", "string"), "has no TimeGenerated column"},
		{"TimeGenerated not a datetime", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "string"), "TimeGenerated must be a datetime"},
		{"an unknown type", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "Zone", "text"), "has type 'text'"},
		{"a timespan column", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "Took", "timespan"), "has type 'timespan'"},
		{"a column twice", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "Zone", "string", "zone", "string"), "repeats columns[1] 'Zone'"},
		{"a reserved column", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "TenantId", "string"), "'TenantId' is a reserved column name"},
		{"a reserved column in other case", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "type", "string"), "'type' is a reserved column name"},
		{"a column starting with _", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "_ResourceId", "string"), "starting with a letter"},
		{"a column with a dot", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", "a.b", "string"), "columns[1]: column names are"},
		{"a column name too long", "Fw_CL", schemaProps("Fw_CL", "TimeGenerated", "datetime", strings.Repeat("c", 46), "string"), "1-45 letters"},
		{"too many columns", "Fw_CL", schemaProps("Fw_CL", many...), "has 501 columns; a table has at most 500"},
		{"another plan", "Fw_CL", map[string]any{"plan": "Basic", "schema": schemaProps("Fw_CL", "TimeGenerated", "datetime")["schema"]}, "plan 'Basic' is not offered"},
		{"retention too short", "Fw_CL", map[string]any{"retentionInDays": 3, "schema": schemaProps("Fw_CL", "TimeGenerated", "datetime")["schema"]}, "retentionInDays is 3; it is 4 to 730"},
		{"retention too long", "Fw_CL", map[string]any{"retentionInDays": 731, "schema": schemaProps("Fw_CL", "TimeGenerated", "datetime")["schema"]}, "retentionInDays is 731"},
		{"total retention too long", "Fw_CL", map[string]any{"totalRetentionInDays": 4384, "schema": schemaProps("Fw_CL", "TimeGenerated", "datetime")["schema"]}, "totalRetentionInDays is 4384; it is 4 to 4383"},
		{"total below retention", "Fw_CL", map[string]any{"retentionInDays": 90, "totalRetentionInDays": 60, "schema": schemaProps("Fw_CL", "TimeGenerated", "datetime")["schema"]}, "totalRetentionInDays (60) is less than retentionInDays (90)"},
		{"total below the workspace's retention", "Fw_CL", map[string]any{"totalRetentionInDays": 10, "schema": schemaProps("Fw_CL", "TimeGenerated", "datetime")["schema"]}, "totalRetentionInDays (10) is less than retentionInDays (30)"},
		{"a retention of the wrong type", "Fw_CL", map[string]any{"retentionInDays": "30"}, "retentionInDays must be a JSON integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tabs, _, _ := newTestTables(t)
			var p json.RawMessage
			if c.props != nil {
				p = props(t, c.props)
			}
			_, _, err := tabs.Put(ctx, c.table, p, "")
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want an Invalid refusal containing %q", err, c.want)
			}
			if custom, err := tabs.Custom(ctx); err != nil || len(custom) != 0 {
				t.Fatalf("a refused table was stored: %+v %v", custom, err)
			}
		})
	}
}

func TestACustomTableGainsColumnsButNeverLosesOrRetypesOne(t *testing.T) {
	tabs, _, _ := newTestTables(t)
	first, _, err := tabs.Put(ctx, "App_CL", props(t, schemaProps("App_CL", "TimeGenerated", "datetime", "User", "string", "Count", "int")), "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cols []string
		want string
	}{
		{"a column dropped", []string{"TimeGenerated", "datetime", "User", "string"}, "would lose column 'Count'"},
		{"a column retyped", []string{"TimeGenerated", "datetime", "User", "string", "Count", "long"}, "'Count' is a int and cannot become a long: rows stored in it keep their type"},
		{"a column renamed in case", []string{"TimeGenerated", "datetime", "user", "string", "Count", "int"}, "'User' cannot be renamed to 'user'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := tabs.Put(ctx, "App_CL", props(t, schemaProps("App_CL", c.cols...)), "")
			if fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a Conflict containing %q", err, c.want)
			}
		})
	}
	grown, created, err := tabs.Put(ctx, "App_CL", props(t, schemaProps("App_CL", "TimeGenerated", "datetime", "User", "string", "Count", "int", "Host", "string")), first.Etag)
	if err != nil || created {
		t.Fatalf("add a column: %v %v", created, err)
	}
	if want := []string{"TimeGenerated:datetime", "User:string", "Count:int", "Host:string"}; !slices.Equal(columnNames(grown.Properties.Schema.Columns), want) {
		t.Fatalf("columns = %v, want %v", columnNames(grown.Properties.Schema.Columns), want)
	}
	if _, _, err := tabs.Put(ctx, "App_CL", props(t, schemaProps("App_CL", "TimeGenerated", "datetime")), first.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("a stale etag: %v", err)
	}
	// A PATCH of the retention alone keeps the columns.
	patched, err := tabs.Patch(ctx, "App_CL", props(t, map[string]any{"retentionInDays": 90, "totalRetentionInDays": 365}), "")
	if err != nil || patched.Properties.RetentionInDays != 90 || patched.Properties.TotalRetentionInDays != 365 ||
		patched.Properties.ArchiveRetentionInDays != 275 || patched.Properties.RetentionInDaysAsDefault || len(patched.Properties.Schema.Columns) != 4 {
		t.Fatalf("patch retention: %+v %v", patched, err)
	}
	// A PUT replaces: the retention left out is the default again.
	put, _, err := tabs.Put(ctx, "App_CL", props(t, map[string]any{"schema": map[string]any{"description": "app events"}}), "")
	if err != nil || put.Properties.RetentionInDays != 30 || put.Properties.Schema.Description != "app events" || len(put.Properties.Schema.Columns) != 4 {
		t.Fatalf("put without columns: %+v %v", put, err)
	}
	if _, _, err := tabs.Put(ctx, "app_CL", props(t, schemaProps("app_CL", "TimeGenerated", "datetime")), ""); fault.KindOf(err) != fault.Conflict ||
		!strings.Contains(err.Error(), "table 'app_CL' is already declared as 'App_CL': table names differ in more than case") {
		t.Fatalf("a table differing only in case: %v", err)
	}
	if _, err := tabs.Patch(ctx, "New_CL", props(t, map[string]any{"retentionInDays": 90}), ""); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("patch a missing table: %v", err)
	}
	if _, _, err := tabs.Put(ctx, "New_CL", props(t, schemaProps("New_CL", "TimeGenerated", "datetime")), "*"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("If-Match * on a missing table: %v", err)
	}
}

func TestDeletingACustomTableForgetsItsDeclaration(t *testing.T) {
	tabs, _, _ := newTestTables(t)
	got, _, err := tabs.Put(ctx, "App_CL", props(t, schemaProps("App_CL", "TimeGenerated", "datetime")), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tabs.Delete(ctx, "App_CL", `"stale"`); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("delete with a stale etag: %v", err)
	}
	if deleted, err := tabs.Delete(ctx, "App_CL", got.Etag); err != nil || !deleted {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if deleted, err := tabs.Delete(ctx, "App_CL", ""); err != nil || deleted {
		t.Fatalf("delete again: %v %v, want false, nil", deleted, err)
	}
	if _, ok, err := tabs.Declared(ctx, "App_CL"); ok || err != nil {
		t.Fatalf("declared after delete: %v %v", ok, err)
	}
	if _, err := tabs.Get(ctx, "App_CL"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestTablesNeedTheKeyAndKeepColumnNamesSealed(t *testing.T) {
	tabs, keys, path := newTestTables(t)
	if _, _, err := tabs.Put(ctx, "Secret_CL", props(t, schemaProps("Secret_CL", "TimeGenerated", "datetime", "PatientDiagnosis", "string")), ""); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), "PatientDiagnosis") {
		t.Fatal("a column name is stored in the clear")
	}
	keys.Revoke()
	for name, op := range map[string]func() error{
		"create": func() error {
			_, _, err := tabs.Put(ctx, "New_CL", props(t, schemaProps("New_CL", "TimeGenerated", "datetime")), "")
			return err
		},
		"update": func() error {
			_, err := tabs.Patch(ctx, "Secret_CL", props(t, map[string]any{"retentionInDays": 60}), "")
			return err
		},
		"get":      func() error { _, err := tabs.Get(ctx, "Secret_CL"); return err },
		"list":     func() error { _, err := tabs.List(ctx); return err },
		"declared": func() error { _, _, err := tabs.Declared(ctx, "Secret_CL"); return err },
		"delete":   func() error { _, err := tabs.Delete(ctx, "Secret_CL", ""); return err },
	} {
		if err := op(); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Errorf("%s while revoked: %v, want the revoked error", name, err)
		}
	}
	keys.Restore()
	if _, ok, err := tabs.Declared(ctx, "Secret_CL"); !ok || err != nil {
		t.Fatalf("after restore: %v %v", ok, err)
	}
}

func TestAStandardTableIsBuiltInAndOnlyItsRetentionChanges(t *testing.T) {
	tabs, _, _ := newTestTables(t)
	builtIn, ok := StandardSchema("SecurityEvent")
	if !ok {
		t.Fatal("SecurityEvent is not built in")
	}
	s, ok, err := tabs.Declared(ctx, "SecurityEvent")
	if err != nil || !ok || !slices.Equal(columnNames(s.Columns), columnNames(builtIn.Columns)) {
		t.Fatalf("Declared(SecurityEvent) = %v %v, want the built-in columns", ok, err)
	}
	got, err := tabs.Get(ctx, "SecurityEvent")
	if err != nil || got.Properties.Schema.TableType != "Microsoft" || len(got.Properties.Schema.Columns) != 0 ||
		!slices.Equal(columnNames(got.Properties.Schema.StandardColumns), columnNames(builtIn.Columns)) || got.Properties.RetentionInDays != 30 {
		t.Fatalf("get: %+v %v", got.Properties, err)
	}
	if _, err := tabs.Get(ctx, "securityevent"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a standard table's name in another case: %v, want not found (KQL names are case-sensitive)", err)
	}

	set, created, err := tabs.Put(ctx, "SecurityEvent", props(t, map[string]any{"retentionInDays": 180, "totalRetentionInDays": 365}), "")
	if err != nil || created || set.Properties.RetentionInDays != 180 || set.Properties.TotalRetentionInDays != 365 || set.Etag == "" {
		t.Fatalf("set retention: %+v %v %v", set, created, err)
	}
	if got, err := tabs.Get(ctx, "SecurityEvent"); err != nil || got.Properties.RetentionInDays != 180 || got.Etag != set.Etag {
		t.Fatalf("read back: %+v %v", got, err)
	}
	// The table as read can be sent back: its built-in columns are read-only.
	asRead, err := json.Marshal(set.Properties)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tabs.Put(ctx, "SecurityEvent", asRead, set.Etag); err != nil {
		t.Fatalf("PUT of the table as read: %v", err)
	}
	if patched, err := tabs.Patch(ctx, "Syslog", props(t, map[string]any{"retentionInDays": 60}), "*"); err != nil || patched.Properties.RetentionInDays != 60 {
		t.Fatalf("patch a standard table's retention: %+v %v", patched, err)
	}

	for _, c := range []struct {
		name  string
		props any
	}{
		{"columns", schemaProps("SecurityEvent", "TimeGenerated", "datetime", "Extra", "string")},
		{"a description", map[string]any{"schema": map[string]any{"description": "mine"}}},
	} {
		t.Run("changing its "+c.name, func(t *testing.T) {
			_, _, err := tabs.Put(ctx, "SecurityEvent", props(t, c.props), "")
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "'SecurityEvent' is a standard table: its columns are built in and cannot change; only retentionInDays and totalRetentionInDays may be set") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := tabs.Delete(ctx, "SecurityEvent", ""); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "is a standard table, built in, and cannot be deleted") {
		t.Fatalf("delete a standard table: %v", err)
	}
	if s, ok, _ := tabs.Declared(ctx, "SecurityEvent"); !ok || len(s.Columns) != len(builtIn.Columns) {
		t.Fatal("a refused change altered the standard table")
	}
	custom, err := tabs.Custom(ctx)
	if err != nil || len(custom) != 0 {
		t.Fatalf("a standard table's retention made it custom: %+v %v", custom, err)
	}
	list, err := tabs.List(ctx)
	if err != nil || len(list) != len(Standard()) {
		t.Fatalf("list: %d %v, want each standard table once", len(list), err)
	}
}

// TestCreateDeclaresOnceAndNeverReplaces: of many requests creating the
// same table at once exactly one creates it and the others find it,
// without an error; a table declared already keeps its columns.
func TestCreateDeclaresOnceAndNeverReplaces(t *testing.T) {
	tabs, _, _ := newTestTables(t)
	schema := func(extra string) Schema {
		return Schema{Name: "Flow_CL", Columns: []Column{{Name: "TimeGenerated", Type: "datetime"}, {Name: extra, Type: "string"}}}
	}
	const n = 8
	created := make(chan bool, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			ok, err := tabs.Create(ctx, schema("Col"+string(rune('A'+i))))
			created <- ok
			errs <- err
		}()
	}
	wins := 0
	for range n {
		if <-created {
			wins++
		}
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent Create failed: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d Creates created the table, want 1", wins)
	}
	before, _, _ := tabs.Declared(ctx, "Flow_CL")
	if ok, err := tabs.Create(ctx, schema("Other")); ok || err != nil {
		t.Fatalf("Create of a declared table = %v, %v; want false, nil", ok, err)
	}
	if after, _, _ := tabs.Declared(ctx, "Flow_CL"); !slices.Equal(after.Columns, before.Columns) {
		t.Fatalf("Create replaced the columns %v with %v", before.Columns, after.Columns)
	}
	if ok, err := tabs.Create(ctx, Schema{Name: "SecurityEvent"}); ok || err != nil {
		t.Fatalf("Create of a standard table = %v, %v; want false, nil", ok, err)
	}
	if _, err := tabs.Create(ctx, Schema{Name: "FLOW_CL", Columns: schema("X").Columns}); fault.KindOf(err) != fault.Conflict {
		t.Fatalf("Create of a name differing in case: %v, want a conflict", err)
	}
}
