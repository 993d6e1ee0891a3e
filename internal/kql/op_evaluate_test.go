package kql

import "testing"

const bagData = `datatable(id:long, d:dynamic)[1, dynamic({"Name": "John", "Age": 20}), 2, dynamic({"Name": "Dave", "Age": 40.5, "Tags": ["a"]}), 3, dynamic(null), 4, dynamic({"Age": "old", "id": 9})]`

var evaluateCases = []kqlCase{
	{name: "bag_unpack: a column per key, sorted, typed when the values agree", q: `datatable(d:dynamic)[dynamic({"Name": "John", "Age": 20}), dynamic({"Name": "Dave", "Age": 40})] | evaluate bag_unpack(d)`,
		want: `[[20,"John"],[40,"Dave"]]`, cols: "Age:long,Name:string"},
	{name: "bag_unpack: mixed types are dynamic, a missing key null, the input's other columns first", q: bagData + ` | where id < 4 | evaluate bag_unpack(d)`,
		want: `[[1,20,"John",null],[2,40.5,"Dave",["a"]],[3,null,"",null]]`, cols: "id:long,Age:dynamic,Name:string,Tags:dynamic"},
	{name: "bag_unpack: a key named like a column is an error by default", q: bagData + ` | evaluate bag_unpack(d)`, err: `bag_unpack: the bags' key "id" would be a second column "id"`},
	{name: "bag_unpack: replace_source", q: bagData + ` | where id == 4 | evaluate bag_unpack(d, columnsConflict='replace_source')`,
		want: `[["old",9]]`, cols: "Age:string,id:long"},
	{name: "bag_unpack: keep_source", q: bagData + ` | where id == 4 | evaluate bag_unpack(d, columnsConflict='keep_source')`,
		want: `[[4,"old"]]`, cols: "id:long,Age:string"},
	{name: "bag_unpack: prefix and ignored properties", q: bagData + ` | evaluate bag_unpack(d, 'p_', 'error', dynamic(["Tags", "id"]))`,
		want: `[[1,20,"John"],[2,40.5,"Dave"],[3,null,""],[4,"old",""]]`, cols: "id:long,p_Age:dynamic,p_Name:string"},
	{name: "bag_unpack: later operators use the unpacked columns", q: bagData + ` | where id < 3 | evaluate bag_unpack(d) | where Name startswith "J" | project id, Name, n = Age + 1`,
		want: `[[1,"John",21]]`},
	{name: "bag_unpack: a column the data lack is a run error naming the plugin", q: bagData + ` | where id < 3 | evaluate bag_unpack(d) | where Nope == 1`, err: `unknown column "Nope": the columns after evaluate bag_unpack come from its input's rows`},
	{name: "bag_unpack: no rows, so a column the data might give is null", q: bagData + ` | where id > 10 | evaluate bag_unpack(d) | project id, Nope | where isnull(Nope)`, want: `[]`, cols: "id:long,Nope:dynamic"},
	{name: "bag_unpack then pivot on a column of the bags", q: `datatable(d:dynamic)[dynamic({"k":"a","h":"x"}), dynamic({"k":"b","h":"x"}), dynamic({"k":"a","h":"y"})] | evaluate bag_unpack(d) | evaluate pivot(k, count(), h)`,
		want: `[["x",1,1],["y",1,0]]`, cols: "h:string,a:long,b:long"},
	{name: "bag_unpack: project-rename and project-away of columns the data give", q: bagData + ` | where id < 3 | evaluate bag_unpack(d) | project-rename Who = Name | project-away Tags`,
		want: `[[1,20,"John"],[2,40.5,"Dave"]]`, cols: "id:long,Age:dynamic,Who:string"},
	{name: "bag_unpack: columns closed by project are checked when compiling", q: bagData + ` | evaluate bag_unpack(d) | project id | where Name == "x"`, err: `unknown column or variable "Name"`},
	{name: "bag_unpack: column_ifexists for a key the data may lack", q: bagData + ` | where id == 1 | evaluate bag_unpack(d) | project n = column_ifexists("Nope", "none"), a = column_ifexists("Age", 0)`,
		want: `[["none",20]]`},
	{name: "bag_unpack: empty input", q: bagData + ` | where id > 10 | evaluate bag_unpack(d)`, want: `[]`, cols: "id:long"},
	{name: "bag_unpack: output schema", q: bagData + ` | where id < 3 | evaluate bag_unpack(d) : (Name:string, Age:long, Missing:string)`,
		want: `[["John",20,""],["Dave",40,""]]`, cols: "Name:string,Age:long,Missing:string"},
	{name: "bag_unpack: output schema with the input's columns", q: bagData + ` | where id < 3 | evaluate bag_unpack(d) : (*, Name:string)`,
		want: `[[1,"John"],[2,"Dave"]]`, cols: "id:long,Name:string"},
	{name: "bag_unpack: a string column is refused", q: `Users | evaluate bag_unpack(Account)`, err: "bag_unpack unpacks a dynamic column; Account is string"},
	{name: "bag_unpack: an unknown conflict mode is refused", q: bagData + ` | evaluate bag_unpack(d, columnsConflict='merge')`, err: `columnsConflict is error, replace_source or keep_source, not "merge"`},
	{name: "bag_unpack: an unknown argument name is refused", q: bagData + ` | evaluate bag_unpack(d, prefix='x')`, err: "bag_unpack takes no argument named prefix"},
	{name: "bag_unpack inside mv-apply needs its schema", q: `print a = dynamic([{"k": 1}]) | mv-apply a on (evaluate bag_unpack(a))`, err: "inside mv-apply needs an output schema"},
	{name: "bag_unpack inside mv-apply with its schema", q: `print a = dynamic([{"k": 1}, {"k": 2}]) | mv-apply a on (evaluate bag_unpack(a) : (k:long) | summarize s = sum(k))`, want: `[[3]]`},
	{name: "pivot: count by default, groups are the other columns, value columns sorted", q: `Events | project Computer, Ok | evaluate pivot(Ok)`,
		want: `[["web01",1,1],["db01",1,1],["WEB01",0,1],["dc01",1,0]]`, cols: "Computer:string,false:long,true:long"},
	{name: "pivot: aggregation and group column", q: `Events | evaluate pivot(Computer, sum(Count), Ok) | project Ok, db01, web01`,
		want: `[[true,3,1],[false,0,2]]`, cols: "Ok:bool,db01:long,web01:long"},
	{name: "pivot: an aggregation of strings leaves empty cells empty", q: `Events | evaluate pivot(Ok, take_any(Account), EventID) | sort by EventID asc`,
		want: `[[4624,"","alice"],[4625,"bob",""],[4688,"","bob"]]`, cols: "EventID:int,false:string,true:string"},
	{name: "pivot: later operators use the value columns", q: `Events | project Computer, EventID | evaluate pivot(EventID) | where ['4625'] > 0 | project Computer`,
		want: `[["web01"],["db01"],["dc01"]]`},
	{name: "pivot: output schema", q: `Events | project Computer, Ok | evaluate pivot(Ok) : (Computer:string, true:long, maybe:long) | take 1`,
		want: `[["web01",1,null]]`, cols: "Computer:string,true:long,maybe:long"},
	{name: "pivot: empty input", q: `Events | where EventID == 1 | project Computer, Ok | evaluate pivot(Ok)`, want: `[]`, cols: "Computer:string"},
	{name: "pivot: a second argument that is not an aggregation is refused", q: `Events | evaluate pivot(Ok, strlen(Account))`, err: "strlen() is not one"},
	{name: "pivot: the pivot column must be a column", q: `Events | evaluate pivot(Nope)`, err: `pivot's pivot column "Nope" is not a column of its input`},
	{name: "an unknown plugin names the supported ones", q: `Users | evaluate nope()`, err: `unknown evaluate plugin "nope": the plugins supported are`},
}

// A tabular let whose plugin reads its input to learn its columns reads it once per use, not
// once more where the let is written.
func TestDataColumnsOfALetAreReadOncePerUse(t *testing.T) {
	src := fixtureSource(t)
	q, err := Compile(`let x = Events | project Props | evaluate bag_unpack(Props); x | count`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(t.Context(), src, Options{Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Stats.Scans); n != 1 {
		t.Fatalf("the let's table was scanned %d times, want once", n)
	}
}
