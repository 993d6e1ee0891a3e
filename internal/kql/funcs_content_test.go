package kql

// contentFuncCases cover the functions of funcs_content.go: results and result types as the
// language documents them, nulls and empty input, and arguments refused when the query binds.
var contentFuncCases = []kqlCase{
	// legacy names
	{name: "parsejson is parse_json", q: `print v = parsejson('{"a":[1,2]}').a[1]`, want: `[[2]]`, cols: "v:dynamic"},
	{name: "base64_decodestring is base64_decode_tostring", q: `print base64_decodestring("aGk="), base64_decodestring("***")`, want: `[["hi",""]]`, cols: "print_0:string,print_1:string"},
	{name: "columnifexists binds against the schema", q: `Events | take 1 | project c = columnifexists("Computer", ""), d = columnifexists("Nope", "none")`, want: `[["web01","none"]]`, cols: "c:string,d:string"},
	{name: "columnifexists keeps the column type", q: `Events | take 1 | project columnifexists("Count", 0)`, want: `[[1]]`, cols: "Count:long"},
	{name: "columnifexists refuses a computed name", q: `Events | project columnifexists(strcat("Com", "puter"), "")`, err: "columnifexists() expects a constant column name"},

	// extract_json and extractjson
	{name: "extract_json string", q: `print extract_json("$.name", '{"name":"John","age":30}')`, want: `[["John"]]`, cols: "print_0:string"},
	{name: "extract_json typed long", q: `print extract_json("$.age", '{"name":"John","age":30}', typeof(long))`, want: `[[30]]`, cols: "print_0:long"},
	{name: "extractjson nested and indexed", q: `print extractjson("$.a.b[1]", '{"a":{"b":["x","y"]}}'), extractjson("$['a']['b']", '{"a":{"b":[1]}}')`, want: `[["y","[1]"]]`},
	{name: "extract_json missing is empty or null", q: `print extract_json("$.nope", '{"a":1}'), extract_json("$.nope", '{"a":1}', typeof(long)), extract_json("$.a", "not json")`, want: `[["",null,""]]`},
	{name: "extract_json over a dynamic column", q: `Events | take 1 | project extract_json("$.tags[0]", Props)`, want: `[["a"]]`},
	{name: "extract_json refuses a bad constant path", q: `print extract_json("name", "{}")`, err: `JSONPath "name" must start with $`},
	{name: "extract_json refuses an unknown type", q: `print extract_json("$.a", "{}", "nope")`, err: `unknown type "nope"`},
	{name: "extract_json refuses a number as document", q: `print extract_json("$.a", 1)`, err: "extract_json(): argument 2 must be string, not long"},

	// tohex
	{name: "tohex", q: `print tohex(256), tohex(-256), tohex(toint(-256), 8), tohex(256, 8), tohex(256, 2), tohex(0)`, want: `[["100","ffffffffffffff00","ffffff00","00000100","100","0"]]`, cols: "print_0:string,print_1:string,print_2:string,print_3:string,print_4:string,print_5:string"},
	{name: "tohex min length capped at 16", q: `print tohex(1, 20)`, want: `[["0000000000000001"]]`},
	{name: "tohex of null is null", q: `Events | where Account == "carol" | project tohex(Count)`, want: `[[null]]`, cols: "Count:string"},
	{name: "tohex refuses a string", q: `print tohex("10")`, err: "tohex(): argument 1 must be int or long, not string"},
	{name: "tohex refuses a real", q: `print tohex(1.5)`, err: "argument 1 must be int or long, not real"},
	{name: "tohex arity", q: `print tohex()`, err: "tohex() expects 1 to 2 arguments, got 0"},

	// string_size
	{name: "string_size counts bytes", q: `print string_size("abc"), string_size("⒦⒰⒮⒯⒪"), string_size("")`, want: `[[3,15,0]]`, cols: "print_0:long,print_1:long,print_2:long"},
	{name: "string_size of a null column", q: `Events | where Account == "carol" | project string_size(tostring(Count))`, want: `[[0]]`},
	{name: "string_size refuses a number", q: `print string_size(12)`, err: "string_size(): argument 1 must be string, not long"},

	// array_strcat
	{name: "array_strcat", q: `print array_strcat(dynamic([1, "a", true]), "->"), array_strcat(dynamic([]), ",")`, want: `[["1->a->true",""]]`, cols: "print_0:string,print_1:string"},
	{name: "array_strcat over a dynamic column", q: `Events | take 1 | project array_strcat(Props.tags, ";")`, want: `[["a;b"]]`},
	{name: "array_strcat refuses a string array", q: `print array_strcat("a,b", ",")`, err: "array_strcat(): argument 1 must be dynamic, not string"},

	// translate
	{name: "translate", q: `print translate("krasp", "otsku", "spark"), translate("abc", "x", "abc"), translate("abc", "", "ab"), translate("ab", "xy", "")`, want: `[["kusto","xxx","",""]]`, cols: "print_0:string,print_1:string,print_2:string,print_3:string"},
	{name: "translate keeps characters not searched", q: `print translate("\\", "/", @"C:\Windows\System32")`, want: `[["C:/Windows/System32"]]`},
	{name: "translate arity", q: `print translate("a", "b")`, err: "translate() expects 3 argument(s), got 2"},
	{name: "translate refuses a number", q: `print translate("a", "b", 1)`, err: "argument 3 must be string, not long"},

	// make_datetime
	{name: "make_datetime", q: `print make_datetime(2017, 10, 1), make_datetime(2017, 10, 1, 12, 10), make_datetime(2017, 10, 1, 12, 11, 0.1234567)`, want: `[["2017-10-01T00:00:00Z","2017-10-01T12:10:00Z","2017-10-01T12:11:00.1234567Z"]]`, cols: "print_0:datetime,print_1:datetime,print_2:datetime"},
	{name: "make_datetime out of range is null", q: `print make_datetime(2026, 2, 29), make_datetime(2026, 13, 1), make_datetime(2026, 1, 1, 24, 0), make_datetime(2026, 1, 1, 0, 0, 60)`, want: `[[null,null,null,null]]`},
	{name: "make_datetime with a null part is null", q: `Events | where Account == "carol" | project make_datetime(2026, 1, Count)`, want: `[[null]]`},
	{name: "make_datetime refuses four arguments", q: `print make_datetime(2026, 1, 1, 5)`, err: "make_datetime(): expects 3, 5 or 6 arguments"},
	{name: "make_datetime refuses a string", q: `print make_datetime("2026", 1, 1)`, err: "argument 1 must be int or long, not string"},

	// base64_decode_toarray
	{name: "base64_decode_toarray", q: `print base64_decode_toarray("S3VzdG8="), base64_decode_toarray(""), base64_decode_toarray("***")`, want: `[[[75,117,115,116,111],[],null]]`, cols: "print_0:dynamic,print_1:dynamic,print_2:dynamic"},
	{name: "base64_decode_toarray refuses a number", q: `print base64_decode_toarray(1)`, err: "argument 1 must be string, not long"},

	// indexof_regex
	{name: "indexof_regex", q: `print indexof_regex("abcabc", @"a.c"), indexof_regex("abcabcdefg", @"a.c", 0, 9, 2), indexof_regex("abcabc", @"a.c", 1, -1, 2), indexof_regex("ababaa", @"a.a", 0, -1, 2), indexof_regex("abcabc", @"a|ab", -1)`, want: `[[0,3,-1,-1,null]]`, cols: "print_0:long,print_1:long,print_2:long,print_3:long,print_4:long"},
	{name: "indexof_regex counts characters", q: `print indexof_regex("ééx", "x"), indexof_regex("abc", "z"), indexof_regex("abc", "(")`, want: `[[2,-1,null]]`},
	{name: "indexof_regex with the longest length", q: `print indexof_regex("abc", "c", 1, 9223372036854775807), indexof_regex("abc", "c", 3), indexof_regex("abc", "c", 4)`, want: `[[2,-1,-1]]`},
	{name: "indexof_regex null arguments", q: `print indexof_regex("abc", "b", 0, -2), indexof_regex("abc", "b", 0, -1, 0)`, want: `[[null,null]]`},
	{name: "indexof_regex refuses a string start", q: `print indexof_regex("abc", "b", "1")`, err: "indexof_regex(): argument 3 must be int or long, not string"},

	// unicode_codepoints_to_string
	{name: "unicode_codepoints_to_string", q: `print unicode_codepoints_to_string(75, 117, 115, 116, 111), unicode_codepoints_to_string(dynamic([75, 117, 115]), 116, 111)`, want: `[["Kusto","Kusto"]]`, cols: "print_0:string,print_1:string"},
	{name: "unicode_codepoints_to_string invalid is null", q: `print unicode_codepoints_to_string(55296), unicode_codepoints_to_string(dynamic(["a"])), unicode_codepoints_to_string(-1)`, want: `[[null,null,null]]`},
	{name: "unicode_codepoints_to_string refuses a string", q: `print unicode_codepoints_to_string(75, "u")`, err: "argument 2 must be int or long or dynamic, not string"},

	// parse_command_line
	{name: "parse_command_line", q: `print parse_command_line("echo \"hello world!\"", "windows")`, want: `[[["echo","hello world!"]]]`, cols: "print_0:dynamic"},
	{name: "parse_command_line quoting and backslashes", q: `print parse_command_line(@'"C:\Program Files\a.exe" -x "b c" d\\\"e f\\"g h" "" x\y "a""b"', "windows")`, want: `[[["C:\\Program Files\\a.exe","-x","b c","d\\\"e","f\\g h","","x\\y","a\"b"]]]`},
	{name: "parse_command_line runs of quotes", q: `print parse_command_line(@'exe "two""quotes next "three""" quotes" six""""""quotes', "windows")`, want: `[[["exe","two\"quotes","next","three\" quotes","six\"\"quotes"]]]`},
	{name: "parse_command_line of empty is empty", q: `print parse_command_line("", "windows")`, want: `[[[]]]`},
	{name: "parse_command_line refuses another parser", q: `print parse_command_line("a b", "linux")`, err: `parse_command_line(): the parser type must be the constant "windows"`},

	// zip
	{name: "zip", q: `print zip(dynamic([1,3,5]), dynamic([2,4,6])), zip(dynamic(["A", 1, 1.5]), dynamic([{}, "B"]))`, want: `[[[[1,2],[3,4],[5,6]],[["A",{}],[1,"B"],[1.5,null]]]]`, cols: "print_0:dynamic,print_1:dynamic"},
	{name: "zip of a null array is null", q: `Events | where Account == "carol" | project z = zip(Props.tags, dynamic([1]))`, want: `[[null]]`},
	{name: "zip refuses a string", q: `print zip(dynamic([1]), "a")`, err: "zip(): argument 2 must be dynamic, not string"},
	{name: "zip arity", q: `print zip(dynamic([1]))`, err: "zip() expects 2 to 16 arguments, got 1"},
}
