package kql

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// funcCallCases cover calling user functions as the language documents it: arguments by
// name and defaults, tabular parameters, table() of a parameter, invoke, views and fuzzy
// unions. They also seed FuzzParse.
var funcCallCases = []kqlCase{
	// named and defaulted arguments
	{name: "defaults fill omitted arguments and names pick parameters", q: `let f = (a:string, b:string, c:string="[", d:string="]") { strcat(c, a, "-", b, d) }; print f("x", "y"), f("x", "y", c="<"), f("x", "y", d=">", c="<"), f(b="y", a="x")`,
		want: `[["[x-y]","<x-y]","<x-y>","[x-y]"]]`, cols: "print_0:string,print_1:string,print_2:string,print_3:string"},
	{name: "tabular function with a named argument", q: `let F = (starttime:datetime=datetime(null), acct:string='*') { Events | where (isnull(starttime) or TimeGenerated >= starttime) and (acct == '*' or Account == acct) | project Account }; F(acct='bob')`,
		want: `[["bob"],["bob"]]`, cols: "Account:string"},
	{name: "positional then named arguments", q: `let F = (starttime:datetime=datetime(null), acct:string='*') { Events | where (isnull(starttime) or TimeGenerated >= starttime) and (acct == '*' or Account == acct) | project Account }; F(datetime(2026-11-26 09:00), acct='bob')`,
		want: `[["bob"]]`},
	{name: "all arguments defaulted", q: `let F = (starttime:datetime=datetime(null), acct:string='*') { Events | where (isnull(starttime) or TimeGenerated >= starttime) and (acct == '*' or Account == acct) }; F() | count`,
		want: `[[6]]`},
	{name: "a named int argument converts to the long parameter", q: `let g = (n:long=2) { Users | take n }; g(n=int(3)) | count`, want: `[[3]]`},
	{name: "a default is bound where the function is declared, not in the caller's row", q: `let Account = "x"; let g = (s:string=Account) { s }; Users | take 1 | project Account, v = g()`,
		want: `[["alice","x"]]`, cols: "Account:string,v:string"},
	{name: "unknown parameter name", q: `let F = (starttime:datetime=datetime(null), acct:string='*') { Events }; F(account='bob')`,
		err: `function F has no parameter account; its parameters are starttime, acct`},
	{name: "parameter given twice", q: `let F = (starttime:datetime=datetime(null), acct:string='*') { Events }; F(datetime(null), starttime=datetime(null))`,
		err: `function F: parameter starttime is given twice`},
	{name: "parameter named twice", q: `let F = (acct:string='*') { Events }; F(acct='a', acct='b')`, err: `function F: parameter acct is given twice`},
	{name: "missing argument without default", q: `let h = (a:string, b:string="x") { print a }; h(b="y")`, err: `function h: missing argument a, which has no default`},
	{name: "positional argument after a named one", q: `let F = (a:string='', b:string='') { print a }; F(b='x', 'y')`, err: `cannot follow one given by name`},
	{name: "too many arguments", q: `let h = (a:string) { print a }; h("x", "y")`, err: `function h takes 1 argument(s), got 2`},
	{name: "named argument of the wrong type", q: `let F = (acct:string='*') { Events }; F(acct=1)`, err: `function F: argument acct must be string, not long`},
	{name: "named argument in a built-in function", q: `print strlen(s="x")`, err: `allowed only in a call of a user-defined or stored function`},
	// tabular parameters
	{name: "tabular parameter with declared columns", q: `let C = (T:(Account:string)) { T | summarize n = count() by Account | sort by Account asc }; C(Users)`,
		want: `[["alice",1],["bob",2],["dave",1]]`, cols: "Account:string,n:long"},
	{name: "tabular parameter of any schema", q: `let C = (T:(*), k:long) { T | take k }; C(Logs, 2) | count`, want: `[[2]]`},
	{name: "tabular argument lacking a declared column", q: `let C = (T:(Account:string)) { T | count }; C(Logs)`,
		err: `function C: the table passed for T has no column Account, which the parameter declares as Account:string`},
	{name: "tabular argument with a declared column of another type", q: `let C = (T:(Account:long)) { T | count }; C(Users)`,
		err: `function C: column Account of the table passed for T is string, but the parameter declares it long`},
	// table(parameter)
	{name: "table of a parameter resolves per call", q: `let Pick = (name:string) { table(name) | count }; union Pick('Users'), Pick('Logs')`,
		want: `[[4],[4]]`, cols: "Count:long"},
	{name: "table of a parameter reads each table's own columns", q: `let First = (name:string) { table(name) | take 1 }; union (First('Users') | project Account), (First('Logs') | project Host)`,
		want: `[["alice",""],["","web01"]]`, cols: "Account:string,Host:string"},
	{name: "table of a named argument", q: `let Pick = (n:long=1, name:string) { table(name) | take n }; Pick(name='Users') | project Account`, want: `[["alice"]]`},
	{name: "table of a constant expression", q: `table(strcat("Us", "ers")) | count`, want: `[[4]]`},
	{name: "table of a value known only at run time", q: `let P = (name:string) { table(name) | count }; P(toscalar(Users | take 1 | project Account))`,
		err: `table() needs a table name known before the query runs`},
	{name: "table of a number", q: `table(1) | count`, err: `table() needs a table name known before the query runs`},
	{name: "table of a parameter naming no table", q: `let Pick = (name:string) { table(name) }; Pick('Nope')`, err: `unknown table or let name "Nope"`},
	// invoke
	{name: "invoke passes its input as the first tabular argument", q: `let clipped_average = (T:(x:long), lowPercentile:double, upPercentile:double) { let high = toscalar(T | summarize percentiles(x, upPercentile)); let low = toscalar(T | summarize percentiles(x, lowPercentile)); T | where x > low and x < high | summarize avg(x) }; range x from 1 to 100 step 1 | invoke clipped_average(5, 99)`,
		want: `[[52]]`, cols: "avg_x:real"},
	{name: "invoke with a named argument", q: `let Top = (T:(*), n:long=3) { T | take n }; Users | invoke Top(n=1) | project Account`, want: `[["alice"]]`},
	{name: "invoke without arguments", q: `let Top = (T:(*), n:long=2) { T | take n }; Users | invoke Top() | count`, want: `[[2]]`},
	{name: "invoke of a function without a tabular first parameter", q: `let f = (n:long) { Users | take n }; Users | invoke f(1)`, err: `the function's first parameter must be tabular`},
	{name: "invoke of an unknown function", q: `Users | invoke nope()`, err: `invoke: unknown function "nope"`},
	{name: "invoke without a call", q: `Users | invoke`, err: `expected a function call after invoke`},
	// views
	{name: "a view called by its name", q: `let v = view () { Users | where Dept == 'eng' }; v | count`, want: `[[2]]`},
	{name: "a view in a union", q: `let v = view () { Users | where Dept == 'eng' }; union v | count`, want: `[[2]]`},
	{name: "wildcard union matches views, not other functions", q: `let U_view = view () { print x=1 }; let U_notview = () { print x=2 }; union withsource=T U* | summarize n = count() by T | sort by T asc`,
		want: `[["U_view",1],["Users",4]]`, cols: "T:string,n:long"},
	{name: "a view with parameters", q: `let v = view (a:long) { Users }; v(1)`, err: `a view takes no parameters`},
	{name: "materialize of a function's result", q: `let f = () { Users | where Level > 1 }; let m = materialize(f()); union m, m | count`, want: `[[6]]`},
	// toscalar of a scalar, as the normalizing parsers write it
	{name: "toscalar of a scalar over a tabular let", q: `let Disabled = datatable(Parser:string)['ExcludeA']; let off = toscalar('ExcludeA' in (Disabled) or 'Any' in (Disabled)); print off`,
		want: `[[true]]`, cols: "off:bool"},
	{name: "toscalar of a constant", q: `print toscalar(1 + 2)`, want: `[[3]]`},
	{name: "toscalar of a scalar does not read the row", q: `Users | extend x = toscalar(Account)`, err: `unknown column or variable "Account"`},
	// union isfuzzy
	{name: "fuzzy union leaves out a missing table", q: `union isfuzzy=true Users, Missing | count`, want: `[[4]]`},
	{name: "fuzzy union leaves out a missing function", q: `union isfuzzy=true Users, _Im_Missing(starttime=ago(1d)) | count`, want: `[[4]]`},
	{name: "fuzzy union leaves out a wildcard matching nothing", q: `union isfuzzy=true Nope*, Users | count`, want: `[[4]]`},
	{name: "fuzzy union with nothing that resolves", q: `union isfuzzy=true Missing, Missing2()`,
		err: `union isfuzzy=true: none of its tables resolves; the first, at 1:20: unknown table or let name "Missing"`},
	{name: "union without fuzzy fails on a missing function", q: `union Users, _Im_Missing()`, err: `unknown function or table "_Im_Missing"`},
}

// storedSource is the fixture with two DNS tables and the stored functions of a normalizing
// parser: a union parser calling a parser per source with named and defaulted parameters,
// one source's parser not installed, as when only some connectors are.
func storedSource(t testing.TB) *MemSource {
	src := fixtureSource(t)
	a := NewMemTable("DnsA", Column{"TimeGenerated", TypeDatetime}, Column{"Query", TypeString}, Column{"RCode", TypeString}, Column{"Client", TypeString}, Column{"Ttl", TypeLong})
	for _, r := range [][]any{
		{ts("2026-11-26T08:00:00Z"), "example.com", "NOERROR", "10.0.0.1", 60},
		{ts("2026-11-26T09:00:00Z"), "nope.example", "NXDOMAIN", "10.0.0.2", 60},
		{ts("2026-11-26T11:00:00Z"), "bad.example", "NXDOMAIN", "10.0.0.3", 300},
	} {
		if err := a.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	b := NewMemTable("DnsB", Column{"TimeGenerated", TypeDatetime}, Column{"Name", TypeString}, Column{"ResponseCode", TypeLong}, Column{"Src", TypeString})
	for _, r := range [][]any{
		{ts("2026-11-26T10:00:00Z"), "gone.example", 3, "10.0.0.4"},
		{ts("2026-11-26T10:30:00Z"), "ok.example", 0, "10.0.0.5"},
	} {
		if err := b.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	mem := NewMemSource(append(tablesOf(src), a, b)...)
	mem.SetFunctions(
		Function{Name: "_Im_Dns",
			Parameters: "starttime:datetime=datetime(null), endtime:datetime=datetime(null), responsecodename:string='*', pack:bool=false",
			Body: `let DisabledParsers = materialize(_GetWatchlist('ASimDisabledParsers') | where SearchKey in ('Any', 'ExcludeimDns') | extend SourceSpecificParser = column_ifexists('SourceSpecificParser', '') | distinct SourceSpecificParser);
let BuiltInDisabled = toscalar('ExcludeimDnsBuiltIn' in (DisabledParsers) or 'Any' in (DisabledParsers));
union isfuzzy=true
  _Im_Dns_A(starttime=starttime, endtime=endtime, responsecodename=responsecodename, disabled=(BuiltInDisabled or 'Exclude_Im_Dns_A' in (DisabledParsers))),
  _Im_Dns_B(starttime, endtime, responsecodename),
  _Im_Dns_NotInstalled(starttime=starttime)`},
		Function{Name: "_Im_Dns_A",
			Parameters: "starttime:datetime=datetime(null), endtime:datetime=datetime(null), responsecodename:string='*', disabled:bool=false",
			Body: `DnsA
| where not(disabled)
| where (isnull(starttime) or TimeGenerated >= starttime) and (isnull(endtime) or TimeGenerated <= endtime)
| where responsecodename == '*' or RCode =~ responsecodename
| project TimeGenerated, DnsQuery = Query, DnsResponseCodeName = RCode, SrcIpAddr = Client, EventProduct = 'A'`},
		Function{Name: "_Im_Dns_B",
			Parameters: "starttime:datetime=datetime(null), endtime:datetime=datetime(null), responsecodename:string='*'",
			Body: `let codes = datatable(ResponseCode:long, DnsResponseCodeName:string)[0, 'NOERROR', 3, 'NXDOMAIN'];
DnsB
| where (isnull(starttime) or TimeGenerated >= starttime) and (isnull(endtime) or TimeGenerated <= endtime)
| lookup codes on ResponseCode
| where responsecodename == '*' or DnsResponseCodeName =~ responsecodename
| project TimeGenerated, DnsQuery = Name, DnsResponseCodeName, SrcIpAddr = Src, EventProduct = 'B'`},
		Function{Name: "AccountsOf", Parameters: "T:(Account:string), n:long=10", Body: "T | distinct Account | sort by Account asc | take n"},
		Function{Name: "Ping", Parameters: "n:long", Body: "Pong(n)"},
		Function{Name: "Pong", Parameters: "n:long", Body: "Users | union Ping(n)"},
		Function{Name: "Broken", Body: "DnsA\n| where Query ==\n| take 1"},
		Function{Name: "BrokenParams", Parameters: "a:long, b:wibble", Body: "DnsA"},
		Function{Name: "WrongColumn", Body: "DnsA\n| where Nope == 1"},
		Function{Name: "Double", Parameters: "x:long", Body: "x * 2"},
	)
	return mem
}

func tablesOf(s *MemSource) []*MemTable {
	var out []*MemTable
	for _, n := range s.order {
		out = append(out, s.tables[n])
	}
	return out
}

// storedCases run over storedSource; they also seed FuzzParse.
var storedCases = []kqlCase{
	{name: "a union parser over two source parsers, one not installed", q: `_Im_Dns(starttime=datetime(2026-11-26 08:30), responsecodename='NXDOMAIN') | sort by TimeGenerated asc`,
		want: `[["2026-11-26T09:00:00Z","nope.example","NXDOMAIN","10.0.0.2","A"],["2026-11-26T10:00:00Z","gone.example","NXDOMAIN","10.0.0.4","B"],["2026-11-26T11:00:00Z","bad.example","NXDOMAIN","10.0.0.3","A"]]`,
		cols: "TimeGenerated:datetime,DnsQuery:string,DnsResponseCodeName:string,SrcIpAddr:string,EventProduct:string"},
	{name: "every parameter defaulted", q: `_Im_Dns | count`, want: `[[5]]`},
	{name: "called with parentheses and no arguments", q: `_Im_Dns() | summarize n = count() by EventProduct | sort by EventProduct asc`, want: `[["A",3],["B",2]]`},
	{name: "a source parser called directly with a parameter the union parser does not pass", q: `_Im_Dns_A(disabled=true) | count`, want: `[[0]]`},
	{name: "a stored function with a tabular parameter", q: `AccountsOf(Events, n=2)`, want: `[[""],["Alice"]]`, cols: "Account:string"},
	{name: "invoke of a stored function", q: `Users | invoke AccountsOf()`, want: `[["alice"],["bob"],["dave"]]`},
	{name: "a scalar stored function", q: `print Double(21)`, want: `[[42]]`},
	{name: "a let shadows a stored function", q: `let _Im_Dns = () { print x = 1 }; _Im_Dns`, want: `[[1]]`, cols: "x:long"},
	{name: "a missing watchlist is an error outside stored functions", q: `_GetWatchlist('ASimDisabledParsers') | count`, err: `unknown watchlist 'ASimDisabledParsers'`},
	{name: "a function that calls another through a cycle", q: `Ping(1)`, err: `stored function Ping, at 1:1 of its body: in stored function Pong, at 1:15 of its body: function Ping calls itself (Ping → Pong → Ping)`},
	{name: "a stored function that does not parse names itself and the place in its body", q: `Broken | count`,
		err: `semantic error at 1:1: stored function Broken does not parse: function body: syntax error at 3:1: `},
	{name: "a stored function whose parameters do not parse", q: `BrokenParams(1, 2)`,
		err: `stored function BrokenParams does not parse: function parameters: syntax error at 1:11: unknown type "wibble"`},
	{name: "a binding error inside a stored function names it and the place in its body", q: "print 1;\nWrongColumn",
		err: `semantic error at 2:1: in stored function WrongColumn, at 2:9 of its body: unknown column or variable "Nope"`},
	{name: "an unknown parameter of a stored function", q: `_Im_Dns(nope=1)`, err: `function _Im_Dns has no parameter nope`},
}

func TestStoredFunctionsAreCalledAsIfDeclaredByLet(t *testing.T) {
	src := storedSource(t)
	for _, c := range storedCases {
		t.Run(c.name, func(t *testing.T) { runCase(t, src, src.Catalog(), c) })
	}
}

// TestStoredParsersReadOptionalWatchlists: the normalizing parsers read the ASimDisabledParsers
// watchlist to skip source parsers. Inside a stored function a watchlist that does not exist
// has no rows, as in the cloud (storedCases run without it); when it exists, it disables.
func TestStoredParsersReadOptionalWatchlists(t *testing.T) {
	src := storedSource(t)
	wl := NewMemTable(WatchlistTable("ASimDisabledParsers"), append(slices.Clone(WatchlistColumns), Column{"SourceSpecificParser", TypeString})...)
	if err := wl.Append("1", ts("2026-11-26T00:00:00Z"), "ExcludeimDns", dyn(`{}`), "Exclude_Im_Dns_A"); err != nil {
		t.Fatal(err)
	}
	src = NewMemSource(append(tablesOf(src), wl)...)
	src.SetFunctions(storedSource(t).funcs...)
	runCase(t, src, src.Catalog(), kqlCase{q: `_Im_Dns | summarize n = count() by EventProduct`, want: `[["B",2]]`})
	runCase(t, src, src.Catalog(), kqlCase{q: `_GetWatchlist('Nope') | count`, err: `unknown watchlist 'Nope'`})
}

// TestStoredFunctionShadowsTheTableOfItsName, as the language documents: table() still
// reaches the table.
func TestStoredFunctionShadowsTheTableOfItsName(t *testing.T) {
	src := storedSource(t)
	cat := src.Catalog()
	cat.Functions = append(cat.Functions, Function{Name: "Users", Body: "print Account = 'the function, not the table'"})
	for _, c := range []kqlCase{
		{name: "the name calls the function", q: `Users`, want: `[["the function, not the table"]]`},
		{name: "table() reads the table", q: `table('Users') | count`, want: `[[4]]`},
	} {
		t.Run(c.name, func(t *testing.T) { runCase(t, src, cat, c) })
	}
}

// TestStoredFunctionsAreParsedOnlyWhenCalled: a query that calls none of the workspace's
// functions compiles though one of them does not parse, and one that calls a parser reads
// through it just the columns it needs, in the run pass as in the bind pass.
func TestStoredFunctionsAreParsedOnlyWhenCalled(t *testing.T) {
	src := storedSource(t)
	q, err := Compile(`DnsA | count`, src.Catalog())
	if err != nil {
		t.Fatalf("a query calling no stored function: %v", err)
	}
	if len(q.stored.parsed) != 0 {
		t.Errorf("parsed %d stored functions for a query that calls none", len(q.stored.parsed))
	}
	q, err = Compile(`_Im_Dns(responsecodename='NXDOMAIN') | project DnsQuery`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	var parsed []string
	for n := range q.stored.parsed {
		parsed = append(parsed, n)
	}
	slices.Sort(parsed)
	if want := []string{"_Im_Dns", "_Im_Dns_A", "_Im_Dns_B"}; !slices.Equal(parsed, want) {
		t.Errorf("parsed %v, want %v", parsed, want)
	}
	if got := q.Tables(); !slices.Equal(got, []string{"DnsA", "DnsB"}) {
		t.Errorf("Tables() = %v, want the tables the parsers scan", got)
	}
	if res := runOn(t, src, src.Catalog(), `_Im_Dns(responsecodename='NXDOMAIN') | project DnsQuery`, Options{}); len(res.Tables[0].Rows) != 3 {
		t.Errorf("%d rows, want 3", len(res.Tables[0].Rows))
	}
	// the parser never reads DnsA's Ttl: the scan through it does not either
	res := runOn(t, src, src.Catalog(), `_Im_Dns_A(responsecodename='NXDOMAIN') | project DnsQuery`, Options{})
	if len(res.Stats.Scans) != 1 || !slices.Contains(res.Stats.Scans[0].Columns, "Query") || slices.Contains(res.Stats.Scans[0].Columns, "Ttl") {
		t.Errorf("scans %+v, want DnsA's Query and not its Ttl", res.Stats.Scans)
	}
}

func TestStoredFunctionParseErrorIsAFunctionError(t *testing.T) {
	_, err := parseStoredFunction(Function{Name: "f", Parameters: "a:long", Body: "T\n| where"})
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Part != FunctionPartBody || fe.Err.Line != 2 || fe.Err.Col != 8 {
		t.Fatalf("parseStoredFunction = %v, want a body error at 2:8", err)
	}
	if _, err := parseStoredFunction(Function{Name: "f", Parameters: "a:long) { T }; let g = (b:long", Body: "T"}); err == nil || !strings.Contains(err.Error(), "function parameters") {
		t.Fatalf("parameters closing the declaration early: %v, want a parameters error", err)
	}
	if _, err := parseStoredFunction(Function{Name: "f", Body: "T; U"}); err == nil || !strings.Contains(err.Error(), "exactly one expression") {
		t.Fatalf("a body of two statements: %v", err)
	}
}
