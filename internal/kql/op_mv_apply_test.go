package kql

import (
	"strings"
	"testing"
)

const mvApplyData = `datatable(id:long, xs:dynamic)[1, dynamic([5, 1, 9]), 2, dynamic([3]), 3, dynamic([]), 4, dynamic(null)]`

var mvApplyCases = []kqlCase{
	{name: "top per row, typed", q: mvApplyData + ` | mv-apply x = xs to typeof(long) on (top 2 by x desc) | project-away xs`,
		want: `[[1,9],[1,5],[2,3],[4,null]]`, cols: "id:long,x:long"},
	{name: "an expanded column reference keeps its name and leaves the input", q: mvApplyData + ` | mv-apply xs to typeof(long) on (where xs > 2)`,
		want: `[[1,5],[1,9],[2,3]]`, cols: "id:long,xs:long"},
	{name: "summarize per row keeps the input's other columns; a null expands to one null row", q: mvApplyData + ` | mv-apply xs to typeof(long) on (summarize s = sum(xs), n = count())`,
		want: `[[1,15,3],[2,3,1],[3,0,0],[4,0,1]]`, cols: "id:long,s:long,n:long"},
	{name: "project in the subquery does not drop the input's columns", q: mvApplyData + ` | mv-apply x = xs limit 1 on (project x)`,
		want: `[[1,[5,1,9],5],[2,[3],3],[4,null,null]]`, cols: "id:long,xs:dynamic,x:dynamic"},
	{name: "a column expanded under a new name stays for the next mv-apply", q: mvApplyData + ` | where id == 1 | mv-apply x = xs to typeof(long) on (where x == 1) | mv-apply y = xs to typeof(long) on (where y == 9) | project-away xs`,
		want: `[[1,1,9]]`, cols: "id:long,x:long,y:long"},
	{name: "with_itemindex", q: mvApplyData + ` | mv-apply with_itemindex = i xs on (where i > 0)`,
		want: `[[1,1,1],[1,9,2]]`, cols: "id:long,xs:dynamic,i:long"},
	{name: "the subquery's column replaces the input's", q: mvApplyData + ` | where id == 2 | mv-apply xs on (extend id = id * 10)`,
		want: `[[20,3]]`, cols: "id:long,xs:dynamic"},
	{name: "subquery reads the row's other columns", q: `Events | where Account == "alice" | mv-apply t = Props.tags on (extend c = strcat(Computer, "/", t)) | project c`,
		want: `[["web01/a"],["web01/b"]]`},
	{name: "property filter as detection content writes it", q: `Events | mv-apply t = Props.tags on (where t == "a" | extend Tag = tostring(t)) | project Account, Tag`,
		want: `[["alice","a"],["","a"]]`},
	{name: "nested mv-apply", q: `datatable(r:dynamic)[dynamic([{"n":"a","ps":[1,2]},{"n":"b","ps":[3]}])] | mv-apply e = r on (extend name = tostring(e.n) | mv-apply p = e.ps to typeof(long) on (where p > 1)) | project name, p`,
		want: `[["a",2],["b",3]]`},
	{name: "several arrays pad with nulls", q: `print a = dynamic([1, 2]), b = dynamic(["x"]) | mv-apply a, b on (project a, b)`,
		want: `[[1,"x"],[2,null]]`, cols: "a:dynamic,b:dynamic"},
	{name: "elements not of the type become null", q: `print a = dynamic([1, "x", 2.5]) | mv-apply a to typeof(long) on (project a)`,
		want: `[[1],[null],[2]]`, cols: "a:long"},
	{name: "a bag expands into single-key bags", q: `print b = dynamic({"k1": 1, "k2": 2}) | mv-apply b on (where b.k2 == 2)`,
		want: `[[{"k2":2}]]`},
	{name: "bagexpansion=array expands a bag into [key, value] pairs", q: `print b = dynamic({"k1": 1, "k2": 2}) | mv-apply bagexpansion=array b on (where b[1] == 2 | project k = tostring(b[0]))`,
		want: `[["k2"]]`, cols: "k:string"},
	{name: "empty input", q: mvApplyData + ` | where id > 10 | mv-apply xs on (take 1)`, want: `[]`, cols: "id:long,xs:dynamic"},
	{name: "toscalar list expanded per row", q: `let names = datatable(n:string)["web", "db"]; Events | take 3 | mv-apply n = toscalar(names | summarize make_list(n)) to typeof(string) on (where Computer contains n) | project Computer, n`,
		want: `[["web01","web"],["web01","web"],["db01","db"]]`},
	{name: "a scalar to expand is refused", q: `Users | mv-apply Account on (take 1)`, err: "mv-apply needs a dynamic array or bag to expand, not string"},
	{name: "on is required", q: mvApplyData + ` | mv-apply xs take 1`, err: `expected "on"`},
	{name: "the subquery needs an operator", q: mvApplyData + ` | mv-apply xs on ()`, err: "expected a tabular operator"},
	{name: "unknown column in the subquery", q: mvApplyData + ` | mv-apply xs on (where nope > 1)`, err: `unknown column or variable "nope"`},
	{name: "item index clashing with a column", q: mvApplyData + ` | mv-apply with_itemindex = id xs on (take 1)`, err: "with_itemindex=id names a column"},
	{name: "limit must be constant", q: mvApplyData + ` | mv-apply xs limit id on (take 1)`, err: "must be a constant number"},
}

func TestMvApplyChargesItsRowsToTheQueryLimit(t *testing.T) {
	src := fixtureSource(t)
	q, err := Compile(`range i from 1 to 2000 step 1 | extend xs = range(1, 200, 1) | mv-apply x = xs on (extend y = strcat("row ", tostring(x)))`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Run(t.Context(), src, Options{Now: fixtureNow, MaxMemory: 1 << 20, MaxRows: 1 << 30})
	if err == nil || !strings.Contains(err.Error(), "mv-apply") {
		t.Fatalf("want a memory limit error naming mv-apply, got %v", err)
	}
}
