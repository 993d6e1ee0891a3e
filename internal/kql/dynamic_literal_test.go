package kql

import "testing"

var dynamicLiteralCases = []kqlCase{
	{name: "verbatim strings keep their backslashes", q: `print d = dynamic([@"usermod -aG sudo", @'C:\Windows\Temp\', "x"])`,
		want: `[[["usermod -aG sudo","C:\\Windows\\Temp\\","x"]]]`},
	{name: "a doubled quote inside a verbatim string is one quote", q: `print d = dynamic([@"say ""hi""", @'it''s'])`, want: `[[["say \"hi\"","it's"]]]`},
	{name: "single-quoted strings, one holding a double quote", q: `print d = dynamic(['a', 'say "b"', "it's"])`, want: `[[["a","say \"b\"","it's"]]]`},
	{name: "obfuscated strings", q: `print d = dynamic([h"secret", h@'C:\x'])`, want: `[[["secret","C:\\x"]]]`},
	{name: "adjacent strings concatenate", q: `print d = dynamic(["Security Administrator" "Reader", "b"])`, want: `[[["Security AdministratorReader","b"]]]`},
	{name: "a string spread over lines", q: "print d = dynamic([@'a',\n  @'b'])", want: `[[["a","b"]]]`},
	{name: "typed literals keep their types", q: `print d = dynamic([datetime(2024-01-02), timespan(1d), 2h, long(5), real(1.5), bool(true), guid(74be27de-1e4e-49d9-b579-fe0b331d3642), int(null)]) | extend t = strcat(gettype(d[0]), ",", gettype(d[1]), ",", gettype(d[2]), ",", gettype(d[3]), ",", gettype(d[4]), ",", gettype(d[5])) | project t, d0 = todatetime(d[0]), d1 = totimespan(d[1]) + 0s, n = array_length(d)`,
		want: `[["datetime,timespan,timespan,long,real,bool","2024-01-02T00:00:00Z","1.00:00:00",8]]`},
	{name: "negative numbers", q: `print d = dynamic([-1, -2.5, +3])`, want: `[[[-1,-2.5,3]]]`},
	{name: "property bags with bare keys and =", q: `print d = dynamic({a = 1, 'b': [@"x\y"], "c": {d: true}})`, want: `[[{"a":1,"b":["x\\y"],"c":{"d":true}}]]`},
	{name: "nested dynamic", q: `print d = dynamic([dynamic([1]), dynamic({"k": null})])`, want: `[[[[1],{"k":null}]]]`},
	{name: "JSON still takes the fast path", q: `print d = dynamic({"a": [1, 2.5, "x", null, false]})`, want: `[[{"a":[1,2.5,"x",null,false]}]]`},
	{name: "a verbatim list in has_any", q: `datatable(c:string)["run usermod -aG sudo bob", "ls"] | where c has_any (dynamic([@"usermod -aG sudo"]))`, want: `[["run usermod -aG sudo bob"]]`},
	{name: "a verbatim list in a let, with in~", q: `let L = dynamic([@'C:\A.EXE']); print x = @'c:\a.exe' in~ (L)`, want: `[[true]]`},
	{name: "empty array and bag", q: `print a = dynamic([]), b = dynamic({})`, want: `[[[],{}]]`},
}

var dynamicLiteralErrorCases = []kqlCase{
	{name: "a missing comma", q: `print dynamic([1 2])`, err: `bad dynamic literal "[1 2]"`},
	{name: "an unclosed array", q: `print dynamic([1, 2)`, err: `expected an expression but found "["`},
	{name: "an expression is not a literal", q: `print dynamic([1 + 2])`, err: `bad dynamic literal`},
	{name: "a function call is not a literal", q: `print dynamic([now()])`, err: `bad dynamic literal`},
	{name: "a bad typed literal inside", q: `print dynamic([datetime(not a date)])`, err: `bad dynamic literal`},
	{name: "a key without a value", q: `print dynamic({a})`, err: `bad dynamic literal`},
	{name: "a key that is a number", q: `print dynamic({1: 2})`, err: `bad dynamic literal`},
	{name: "two values", q: `print dynamic(1, 2)`, err: `bad dynamic literal`},
	{name: "a trailing comma", q: `print dynamic([1,])`, err: `bad dynamic literal`},
	{name: "a trailing comma in a bag", q: `print dynamic({a: 1,})`, err: `bad dynamic literal`},
}

func TestDynamicLiteralsTakeTheLanguagesLiterals(t *testing.T) {
	src := fixtureSource(t)
	for _, c := range append(dynamicLiteralCases, dynamicLiteralErrorCases...) {
		t.Run(c.name, func(t *testing.T) { runCase(t, src, src.Catalog(), c) })
	}
}
