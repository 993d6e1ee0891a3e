package kql

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
	{name: "bare and called forms agree", q: `let T2 = () { Users | where Dept == "eng" }; T2 | join kind=inner (T2()) on Account | count`, want: `[[2]]`},
	{name: "bare function with defaulted let inside", q: `let T2 = () { let d = "ops"; Users | where Dept == d }; T2 | project Account`, want: `[["bob"]]`},
}

var syntaxErrorCases = []kqlCase{
	{name: "bare function that takes parameters as table", q: `let F = (n:long) { Users | take n }; F | count`, err: `1:38: F is a function of 1 parameter(s); call it as F(...)`},
	{name: "bare function that takes parameters as scalar", q: `let F = (n:long) { n + 1 }; print F`, err: `1:35: F is a function of 1 parameter(s); call it as F(...)`},
	{name: "bare recursive function is refused", q: `let f = () { f | take 1 }; f | count`, err: `deeper than`},
	{name: "bare recursive scalar function is refused", q: `let f = () { f + 1 }; print f`, err: `deeper than`},
	{name: "dot followed by nothing", q: `Events | project Props.`, err: `1:24: expected a property name or [index] after '.'`},
	{name: "dotted index unclosed", q: `Events | project Props.[0`, err: `1:26: expected "]" but found end of query`},
	{name: "dotted index empty", q: `Events | project Props.[]`, err: `1:25: expected an expression but found "]"`},
	{name: "dotted index on a string column", q: `Events | project Account.[0]`, err: `1:25: cannot index a string value`},
}
