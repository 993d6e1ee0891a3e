package wsdata

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/tables"
)

// declaredSource is a source over a fresh workspace whose custom table
// Firewall_CL declares Zone, TimeGenerated, Port (int), Bytes (long),
// Allowed (boolean), Session (guid), Seen (datetime), in that order.
func declaredSource(t testing.TB) (*Source, *logstore.Store) {
	t.Helper()
	ctx := context.Background()
	keys := envelopetest.New("aek")
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	docs, _ := docstoretest.Open(t, keys)
	tabs := tables.New(docs, "ws", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w", 30)
	props, _ := json.Marshal(map[string]any{"schema": map[string]any{"columns": []map[string]string{
		{"name": "Zone", "type": "string"}, {"name": "TimeGenerated", "type": "datetime"}, {"name": "Port", "type": "int"},
		{"name": "Bytes", "type": "long"}, {"name": "Allowed", "type": "boolean"}, {"name": "Session", "type": "guid"},
		{"name": "Seen", "type": "datetime"},
	}}})
	if _, _, err := tabs.Put(ctx, "Firewall_CL", props, ""); err != nil {
		t.Fatal(err)
	}
	return NewSource(st, "ws").WithTables(tabs), st
}

// run compiles q against src's catalog and runs it.
func run(t *testing.T, src *Source, q string) kql.Table {
	t.Helper()
	ctx := context.Background()
	cat, err := src.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cq, err := kql.Compile(q, kql.Catalog{Tables: cat})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	res, err := cq.Run(ctx, src, kql.Options{})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Tables[0]
}

func columnsOf(t kql.Table) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%s", c.Name, c.Type)
	}
	return b.String()
}

func rowsOf(t *testing.T, tab kql.Table) string {
	t.Helper()
	b, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Rows json.RawMessage }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return string(out.Rows)
}

// TestDeclaredTablesAreInAFreshWorkspacesCatalog: the standard tables and
// the custom ones declared are there before any row is, in declared order
// with declared types, and scanning one answers no rows, not an error.
func TestDeclaredTablesAreInAFreshWorkspacesCatalog(t *testing.T) {
	src, _ := declaredSource(t)
	const declared = "Zone:string,TimeGenerated:datetime,Port:int,Bytes:long,Allowed:bool,Session:guid,Seen:datetime"
	if got := columnsOf(run(t, src, "Firewall_CL")); got != declared {
		t.Fatalf("columns = %s, want %s", got, declared)
	}
	if got := rowsOf(t, run(t, src, "Firewall_CL | getschema | project ColumnName, ColumnType")); got !=
		`[["Zone","string"],["TimeGenerated","datetime"],["Port","int"],["Bytes","long"],["Allowed","bool"],["Session","guid"],["Seen","datetime"]]` {
		t.Fatalf("getschema = %s, want the declared order", got)
	}
	if got := rowsOf(t, run(t, src, "Firewall_CL | count")); got != "[[0]]" {
		t.Fatalf("count of a declared table without rows = %s", got)
	}
	if got := rowsOf(t, run(t, src, `SecurityEvent | where EventID == 4625 | summarize n = count() by Account`)); got != "[]" {
		t.Fatalf("a rule's query over SecurityEvent in a fresh workspace = %s", got)
	}
	std, _ := tables.StandardSchema("SecurityEvent")
	if got := run(t, src, "SecurityEvent | getschema"); len(got.Rows) != len(std.Columns) || got.Rows[0][0] != std.Columns[0].Name {
		t.Fatalf("SecurityEvent getschema: %d columns, first %v; want %d, first %s", len(got.Rows), got.Rows[0][0], len(std.Columns), std.Columns[0].Name)
	}
}

// TestDeclaredOrderAndTypesHoldOverStoredRows: rows stored in a declared
// table come back in its declared order and types, int columns as int (the
// store holds them as long), and a column stored but not declared follows
// the declared ones.
func TestDeclaredOrderAndTypesHoldOverStoredRows(t *testing.T) {
	src, st := declaredSource(t)
	now := time.Now().UTC().Truncate(time.Second)
	var rows []map[string]any
	for i := range 6 {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339),
			"Zone": []string{"dmz", "lan"}[i%2], "Port": []int{443, 22, 443}[i%3], "Bytes": 1000 * (i + 1), "Allowed": i%2 == 0,
			"Session": fmt.Sprintf("5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1%d", i), "Seen": now.Format(time.RFC3339), "Legacy": "x"})
	}
	body, _ := json.Marshal(rows)
	if _, err := st.Ingest(context.Background(), "ws", "Firewall_CL", body); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	const want = "Zone:string,TimeGenerated:datetime,Port:int,Bytes:long,Allowed:bool,Session:guid,Seen:datetime,Legacy:string"
	if got := columnsOf(run(t, src, "Firewall_CL")); got != want {
		t.Fatalf("columns = %s, want %s", got, want)
	}
	if got := columnsOf(run(t, src, "Firewall_CL | take 1")); got != want {
		t.Fatalf("result columns = %s, want %s", got, want)
	}
	cases := []struct{ query, want string }{
		{"Firewall_CL | where Port == 443 | count", "[[4]]"},
		{"Firewall_CL | summarize n = count() by Port | order by Port asc", "[[22,2],[443,4]]"},
		{"Firewall_CL | where Port > 100 and Allowed | summarize sum(Bytes)", "[[4000]]"},
		{"Firewall_CL | join kind=inner (print Port = 22) on Port | count", "[[2]]"},
		{"Firewall_CL | where Session == '5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f10' | project Zone, Legacy", `[["dmz","x"]]`},
	}
	for _, c := range cases {
		if got := rowsOf(t, run(t, src, c.query)); got != c.want {
			t.Errorf("%s = %s, want %s", c.query, got, c.want)
		}
	}
}

// TestValuesStoredBeforeADeclarationReadAsTheDeclaredType: rows written
// into a table before it was declared keep what they were; a value that is
// not of the declared type reads as null rather than as another type.
func TestValuesStoredBeforeADeclarationReadAsTheDeclaredType(t *testing.T) {
	src, st := declaredSource(t)
	now := time.Now().UTC().Format(time.RFC3339)
	body := `[{"TimeGenerated":"` + now + `","Zone":7,"Port":"ssh","Bytes":2.0,"Allowed":"yes","Session":"not a guid","Seen":"never"},
		{"TimeGenerated":"` + now + `","Zone":"dmz","Port":8080,"Bytes":2.5,"Allowed":true,"Session":"5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f10","Seen":"` + now + `"}]`
	if _, err := st.Ingest(context.Background(), "ws", "Firewall_CL", []byte(body)); err != nil {
		t.Fatal(err)
	}
	got := rowsOf(t, run(t, src, "Firewall_CL | project Zone, Port, Bytes, Allowed, Session, isnull(Seen) | order by Zone asc"))
	if want := `[["7",null,2,null,null,true],["dmz",8080,null,true,"5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f10",false]]`; got != want {
		t.Fatalf("rows = %s, want %s", got, want)
	}
}

// BenchmarkCatalog measures building a workspace's catalog for one query,
// with one stored and one declared custom table: the standard tables come
// from schemas built once, and the other sub-benchmark is what building
// them for each query would add.
func BenchmarkCatalog(b *testing.B) {
	src, st := declaredSource(b)
	body := []byte(`[{"TimeGenerated":"` + time.Now().UTC().Format(time.RFC3339) + `","Zone":"dmz"}]`)
	if _, err := st.Ingest(context.Background(), "ws", "Firewall_CL", body); err != nil {
		b.Fatal(err)
	}
	b.Run("catalog", func(b *testing.B) {
		for b.Loop() {
			s := NewSource(st, "ws").WithTables(src.tables)
			if _, err := s.Tables(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("standard-schemas-built-again", func(b *testing.B) {
		for b.Loop() {
			for _, s := range tables.Standard() {
				_ = engineSchema(s)
			}
		}
	})
}

// TestUnionStarReadsTheTablesThatHoldRows: in a fresh workspace, whose built-in and declared
// tables hold no rows, union * binds to all of them and finds nothing; once a table holds rows,
// union * is that table alone, without the columns of the tables never written.
func TestUnionStarReadsTheTablesThatHoldRows(t *testing.T) {
	src, st := declaredSource(t)
	if got := rowsOf(t, run(t, src, "union withsource=T * | count")); got != "[[0]]" {
		t.Fatalf("union * in a fresh workspace = %s, want no rows", got)
	}
	if got := rowsOf(t, run(t, src, "union Security* | where EventID == 4625 | count")); got != "[[0]]" {
		t.Fatalf("union Security* in a fresh workspace = %s, want no rows", got)
	}
	body, _ := json.Marshal([]map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Zone": "dmz", "Port": 22}})
	if _, err := st.Ingest(context.Background(), "ws", "Firewall_CL", body); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	src = NewSource(st, "ws").WithTables(src.tables)
	if got := rowsOf(t, run(t, src, "union withsource=T * | summarize count() by T")); got != `[["Firewall_CL",1]]` {
		t.Fatalf("union * = %s, want Firewall_CL's row", got)
	}
	if got := rowsOf(t, run(t, src, `union * | getschema | where ColumnName == "EventID" | count`)); got != "[[0]]" {
		t.Fatalf("union *'s columns include SecurityEvent's EventID: %s", got)
	}
}

// TestHiddenStandardColumnsBindInEveryTable: _ResourceId, _SubscriptionId, _BilledSize and
// _IsBillable bind in a standard table, a declared one and one that holds rows, read as null
// (empty strings) unless a row carried them, and no result, getschema or search shows them
// unless the query names them.
func TestHiddenStandardColumnsBindInEveryTable(t *testing.T) {
	src, st := declaredSource(t)
	if got := rowsOf(t, run(t, src, "SecurityEvent | where _ResourceId has 'x' | project _ResourceId, _SubscriptionId, _BilledSize, _IsBillable")); got != "[]" {
		t.Fatalf("hidden columns of a standard table in a fresh workspace = %s", got)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	body, _ := json.Marshal([]map[string]any{
		{"TimeGenerated": now, "Zone": "dmz", "_ResourceId": "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/adfs01"},
		{"TimeGenerated": now, "Zone": "lan"},
	})
	if _, err := st.Ingest(context.Background(), "ws", "Firewall_CL", body); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	src = NewSource(st, "ws").WithTables(src.tables)
	for _, c := range []struct{ query, want string }{
		{"Firewall_CL | where _ResourceId has 'adfs01' | project Zone, _ResourceId", `[["dmz","/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/adfs01"]]`},
		{"Firewall_CL | summarize n = count() by _ResourceId | order by n asc | project n", `[[1],[1]]`},
		{"Firewall_CL | where Zone == 'lan' | project _BilledSize, _IsBillable, _SubscriptionId", `[[null,"",""]]`},
		{"Firewall_CL | getschema | where ColumnName startswith '_' | count", `[[0]]`},
		{"Firewall_CL | search 'adfs01' | count", `[[0]]`},
		{"union withsource=T * | where isnotempty(_ResourceId) | summarize count() by T", `[["Firewall_CL",1]]`},
	} {
		if got := rowsOf(t, run(t, src, c.query)); got != c.want {
			t.Errorf("%s = %s, want %s", c.query, got, c.want)
		}
	}
	for _, q := range []string{"Firewall_CL", "Firewall_CL | extend x = 1 | where _ResourceId != ''", "Firewall_CL | join kind=inner (Firewall_CL) on Zone", "union Firewall_CL, SecurityEvent"} {
		for _, c := range run(t, src, q).Columns {
			if strings.HasPrefix(c.Name, "_") {
				t.Errorf("%s shows the hidden column %s", q, c.Name)
			}
		}
	}
}
