package kql

import (
	"context"
	"strings"
	"testing"
)

// hiddenSource is the fixture, whose tables have a hidden _ResourceId in the catalog but not in
// the source (a scan asking for it fails), plus Res, which stores one.
func hiddenSource(t *testing.T) (*MemSource, Catalog) {
	t.Helper()
	fx := fixtureSource(t)
	res := NewMemTable("Res", Column{"Name", TypeString}, Column{"_ResourceId", TypeString})
	for _, r := range [][]any{{"a", "/subscriptions/s/vm/adfs01"}, {"b", ""}} {
		if err := res.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	var tables []*MemTable
	for _, name := range fx.order {
		tables = append(tables, fx.tables[name])
	}
	src := NewMemSource(append(tables, res)...)
	cat := src.Catalog()
	for i := range cat.Tables {
		cat.Tables[i].Hidden = []Column{{"_ResourceId", TypeString}}
		if cat.Tables[i].Name == "Res" {
			cat.Tables[i].Columns = cat.Tables[i].Columns[:1]
		}
	}
	return src, cat
}

func TestHiddenColumnsAreReadOnlyWhenNamed(t *testing.T) {
	src, cat := hiddenSource(t)
	for _, c := range []struct{ name, q, want, cols string }{
		{name: "a table's result leaves it out", q: `Res`, want: `[["a"],["b"]]`, cols: "Name:string"},
		{name: "named in project", q: `Res | project Name, _ResourceId`, want: `[["a","/subscriptions/s/vm/adfs01"],["b",""]]`, cols: "Name:string,_ResourceId:string"},
		{name: "a filter on it", q: `Res | where _ResourceId has "adfs01"`, want: `[["a"]]`, cols: "Name:string"},
		{name: "a group by it", q: `Res | summarize n = count() by _ResourceId | where isnotempty(_ResourceId) | project n`, want: `[[1]]`},
		{name: "through extend and where", q: `Res | extend x = 1 | where x == 1 | project _ResourceId`, want: `[["/subscriptions/s/vm/adfs01"],[""]]`},
		{name: "after a union, named", q: `union withsource=T Res, (Res | where Name == "a") | where isnotempty(_ResourceId) | project T, Name`, want: `[["Res","a"],["union_arg1","a"]]`},
		{name: "getschema leaves it out", q: `Res | getschema | project ColumnName`, want: `[["Name"]]`},
		{name: "search leaves it out", q: `Res | search "adfs01"`, want: `[]`},
		// none of these scans a table's hidden column: the fixture's tables have none to give
		{name: "arg_max(*)", q: `Users | summarize arg_max(Level, *) by Account | count`, want: `[[3]]`},
		{name: "take_any(*)", q: `Users | summarize take_any(*) by Dept | count`, want: `[[3]]`},
		{name: "distinct *", q: `Users | distinct * | count`, want: `[[4]]`},
		{name: "a union", q: `union Users, Events | count`, want: `[[10]]`},
		{name: "materialize", q: `let x = materialize(Users); x | count`, want: `[[4]]`},
		{name: "a join and a lookup", q: `Users | join kind=inner (Users | summarize arg_max(Level, *) by Account) on Account | lookup (Users | distinct Account, Dept) on Account, Dept | count`, want: `[[4]]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runOn(t, src, cat, c.q, Options{})
			checkTable(t, res.Tables[0], c.want, c.cols)
		})
	}
	cq, err := Compile(`Res | join kind=inner (Res) on Name`, cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range cq.ResultColumns() {
		if strings.HasPrefix(col.Name, "_") {
			t.Fatalf("a join shows the hidden column %s", col.Name)
		}
	}
	if _, err := cq.Run(context.Background(), src, Options{}); err != nil {
		t.Fatal(err)
	}
}
