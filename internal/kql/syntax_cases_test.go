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
}

var syntaxErrorCases = []kqlCase{
	{name: "dot followed by nothing", q: `Events | project Props.`, err: `1:24: expected a property name or [index] after '.'`},
	{name: "dotted index unclosed", q: `Events | project Props.[0`, err: `1:26: expected "]" but found end of query`},
	{name: "dotted index empty", q: `Events | project Props.[]`, err: `1:25: expected an expression but found "]"`},
	{name: "dotted index on a string column", q: `Events | project Account.[0]`, err: `1:25: cannot index a string value`},
}
