package kql

import (
	"fmt"
	"testing"
)

// syntaxCases cover forms that published detection content writes and the cloud's engine
// accepts: dotted index forms, string literals compared with number columns, and
// zero-argument functions called without parentheses. They also seed FuzzParse.
var syntaxCases = []kqlCase{
	{name: "dotted index into array", q: `Events | take 1 | project t = Props.tags.[0]`, want: `[["a"]]`, cols: "t:dynamic"},
	{name: "dotted index negative from end", q: `Events | take 1 | project t = Props.tags.[-1]`, want: `[["b"]]`},
	{name: "dotted index past end is null", q: `Events | take 1 | project t = Props.tags.[5]`, want: `[[null]]`},
	{name: "dotted index double-quoted key", q: `print x = dynamic({"#text":"v"}).["#text"]`, want: `[["v"]]`, cols: "x:dynamic"},
	{name: "dotted index single-quoted key", q: `Events | take 1 | project Props.['ip']`, want: `[["10.0.0.1"]]`, cols: "Props_ip:dynamic"},
	{name: "dotted index names its column like bracket index", q: `Events | take 1 | project Props.["ip"]`, want: `[["10.0.0.1"]]`, cols: "Props_ip:dynamic"},
	{name: "dotted index chains with members", q: `print x = dynamic({"a":[{"b":7}]}).a.[0].b`, want: `[[7]]`},
	{name: "dotted index with expression", q: `Events | take 1 | project t = Props.tags.[Count]`, want: `[["b"]]`},
	{name: "bare zero-argument function as in list", q: `let Allowed = () { dynamic(["alice","bob"]) }; Events | where Account in (Allowed) | count`, want: `[[3]]`},
	{name: "bare zero-argument function as scalar", q: `let Two = () { 2 }; print x = Two * 3`, want: `[[6]]`, cols: "x:long"},
	{name: "bare zero-argument function as table", q: `let T2 = () { Events | where Ok }; T2 | count`, want: `[[3]]`},
	{name: "bare zero-argument function as join side", q: `let U = () { Users | where Level > 2 }; Events | join kind=inner (U) on Account | project Account, Dept`, want: `[["alice","eng"],["bob","sec"],["bob","sec"]]`},
	{name: "bare zero-argument function in union", q: `let U = () { Users | take 1 }; union U, (Users | take 1) | count`, want: `[[2]]`},
	{name: "bare tabular function as in operand", q: `let Eng = () { Users | where Dept == "eng" | project Account }; Events | where Account in (Eng) | count`, want: `[[1]]`},
	{name: "bare tabular function in lookup", q: `let U = () { Users | where Dept == "eng" }; Events | lookup U on Account | where isnotempty(Dept) | project Account, Level`, want: `[["alice",3]]`},
	{name: "bare scalar function names its column as the call does", q: `let Two = () { 2 }; print Two, Two()`, want: `[[2,2]]`, cols: "print_0:long,print_1:long"},
	{name: "bare and called forms agree", q: `let T2 = () { Users | where Dept == "eng" }; T2 | join kind=inner (T2()) on Account | count`, want: `[[2]]`},
	{name: "bare function with defaulted let inside", q: `let T2 = () { let d = "ops"; Users | where Dept == d }; T2 | project Account`, want: `[["bob"]]`},
	{name: "int column in string literals", q: `Events | where EventID in ("4624", "4688") | project Account`, want: `[["alice"],["Alice"],["bob"]]`},
	{name: "int column !in string literals", q: `Events | where EventID !in ("4624", "4688") | project Account`, want: `[["bob"],["carol"],[""]]`},
	{name: "int column == string literal", q: `Events | where EventID == "4625" | count`, want: `[[3]]`},
	{name: "int column != string literal", q: `Events | where EventID != "4625" | count`, want: `[[3]]`},
	{name: "string literal == int column", q: `Events | where "4688" == EventID | project Account`, want: `[["bob"]]`},
	{name: "long column ordered against string literal", q: `Events | where Count >= "5" | project Count`, want: `[[5],[6]]`},
	{name: "string literal with spaces converts", q: `Events | where EventID == " 4688 " | count`, want: `[[1]]`},
	{name: "real column == string literal", q: `Events | where Score == "2.5" | project Account`, want: `[["bob"]]`},
	{name: "int column == fractional string literal", q: `Events | where EventID == "4624.5" | count`, want: `[[0]]`},
	{name: "int column in mixed literals", q: `Events | where EventID in (4624, "4688") | count`, want: `[[3]]`},
	{name: "int column in string let", q: `let ids = "4688"; Events | where EventID in (ids) | count`, want: `[[1]]`},
	{name: "int column between string literals", q: `Events | where EventID between ("4624" .. "4625") | count`, want: `[[5]]`},
	{name: "int column !between string literals", q: `Events | where EventID !between ("4624" .. "4625") | project Account`, want: `[["bob"]]`},
	{name: "null int never equals string literal", q: `Events | where Count == "0" or Count != "1" | count`, want: `[[4]]`},
	{name: "comparison with converted literal has bool type", q: `Events | take 1 | project x = EventID == "4624"`, want: `[[true]]`, cols: "x:bool"},
	{name: "int column from a join == string literal", q: `Users | join kind=inner (Events) on Account | where EventID == "4688" | project Dept`, want: `[["ops"],["sec"]]`},
	{name: "in~ folds case of the column", q: `Events | where Computer in~ ("web01") | project Computer`, want: `[["web01"],["web01"],["WEB01"]]`},
	{name: "in~ folds case of the list", q: `Events | where Account in~ ("ALICE", "Carol") | project Account`, want: `[["alice"],["Alice"],["carol"]]`},
	{name: "!in~ folds case", q: `Events | where Computer !in~ ("WEB01", "DC01") | project Computer`, want: `[["db01"],["db01"]]`},
	{name: "in~ over a dynamic array", q: `Events | where Account in~ (dynamic(["BOB"])) | count`, want: `[[2]]`},
	{name: "in~ over a tabular operand", q: `Events | where Account in~ (Users | where Dept == "eng" | project Account) | project Account`, want: `[["alice"],["Alice"]]`},
	{name: "in~ over a bare function", q: `let Names = () { dynamic(["ALICE"]) }; Events | where Account in~ (Names) | count`, want: `[[2]]`},
	{name: "in~ has bool type", q: `Events | take 1 | project x = Account in~ ("ALICE")`, want: `[[true]]`, cols: "x:bool"},
	{name: "in~ on an int column compares text", q: `Events | where EventID in~ ("4688") | count`, want: `[[1]]`},
	{name: "in is case-sensitive where in~ is not", q: `Events | where Account in ("Alice") | count`, want: `[[1]]`},
}

var syntaxErrorCases = []kqlCase{
	{name: "in~ without a list", q: `Events | where Account in~ "a"`, err: `1:28: expected "(" but found string "a"`},
	{name: "!in~ unclosed list", q: `Events | where Account !in~ ("a"`, err: `1:33: expected ")" but found end of query`},
	{name: "int column == non-number string", q: `Events | where EventID == "abc"`, err: `1:27: cannot compare the int column EventID with the string "abc", which is not a number`},
	{name: "int column in list with non-number string", q: `Events | where EventID in ("4624", "x4")`, err: `1:36: cannot compare the int column EventID with the string "x4", which is not a number`},
	{name: "computed number == string literal stays refused", q: `Events | where EventID + 0 == "4625"`, err: `1:28: cannot compare values of types long and string`},
	{name: "int column between non-number strings", q: `Events | where EventID between ("1" .. "z")`, err: `1:40: cannot compare the int column EventID with the string "z", which is not a number`},
	{name: "string column > number stays refused", q: `Events | where Computer > 1`, err: `1:25: cannot compare values of types string and long`},
	{name: "int column == string column stays refused", q: `Events | where EventID == Computer`, err: `1:24: cannot compare values of types int and string`},
	{name: "bare function that takes parameters as table", q: `let F = (n:long) { Users | take n }; F | count`, err: `1:38: F is a function of 1 parameter(s); call it as F(...)`},
	{name: "bare function that takes parameters as scalar", q: `let F = (n:long) { n + 1 }; print F`, err: `1:35: F is a function of 1 parameter(s); call it as F(...)`},
	{name: "bare recursive function is refused", q: `let f = () { f | take 1 }; f | count`, err: `calls itself`},
	{name: "bare recursive scalar function is refused", q: `let f = () { f + 1 }; print f`, err: `calls itself`},
	{name: "dot followed by nothing", q: `Events | project Props.`, err: `1:24: expected a property name or [index] after '.'`},
	{name: "dotted index unclosed", q: `Events | project Props.[0`, err: `1:26: expected "]" but found end of query`},
	{name: "dotted index empty", q: `Events | project Props.[]`, err: `1:25: expected an expression but found "]"`},
	{name: "dotted index on a string column", q: `Events | project Account.[0]`, err: `1:25: cannot index a string value`},
}

// TestStringLiteralsComparedWithNumbersPushDownAsNumbers: the store sees EventID == "4625" as
// the number it is compared as; a string there would make an exact store drop every row.
func TestStringLiteralsComparedWithNumbersPushDownAsNumbers(t *testing.T) {
	for _, tc := range []struct {
		q, pred string
		rows    int
	}{
		{`Events | where EventID in ("4625", "4688") | project Account`, "EventID in [4625 4688]", 4},
		{`Events | where EventID == "4625" | project Account`, "EventID == 4625", 3},
		{`Events | where "4688" == EventID | project Account`, "EventID == 4688", 1},
		{`Events | where Count > "4" | project Account`, "Count > 4", 2},
		{`Events | where Count between ("2" .. "3") | project Account`, "Count <= 3", 2},
	} {
		t.Run(tc.q, func(t *testing.T) {
			src := newCountingSource(t)
			res := runOn(t, src, src.Catalog(), tc.q, Options{})
			if n := len(res.Tables[0].Rows); n != tc.rows {
				t.Fatalf("%d rows, want %d", n, tc.rows)
			}
			var found bool
			for _, p := range src.reqs[0].Predicates {
				if p.String() != tc.pred {
					continue
				}
				found = true
				for _, v := range append([]any{p.Value}, p.Values...) {
					if _, isStr := v.(string); isStr {
						t.Fatalf("predicate %v carries the string %q, not a number", p, v)
					}
				}
			}
			if !found {
				t.Fatalf("predicates %v lack %q", fmt.Sprint(src.reqs[0].Predicates), tc.pred)
			}
		})
	}
}

// TestInFoldPushesDownFolded: in~ reaches the store as a case-insensitive set, and a store
// that applies it keeps the rows that differ only in case.
func TestInFoldPushesDownFolded(t *testing.T) {
	src := newCountingSource(t)
	res := runOn(t, src, src.Catalog(), `Events | where Account in~ ("ALICE") | project Account`, Options{})
	if n := len(res.Tables[0].Rows); n != 2 {
		t.Fatalf("%d rows, want alice and Alice", n)
	}
	got := fmt.Sprint(src.reqs[0].Predicates)
	if got != "[Account in~ [ALICE]]" {
		t.Fatalf("predicates %s, want [Account in~ [ALICE]]", got)
	}
}
