package kql

import "testing"

var searchCases = []kqlCase{
	{name: "search * keeps every row of every table", q: `search * | summarize count() by $table | sort by $table asc`, want: `[["Events",6],["Logs",4],["Users",4]]`},
	{name: "search * over a piped input", q: `Users | search * | count`, want: `[[4]]`},
	{name: "where * has matches any column", q: `Events | where * has "bob" | project Account`, want: `[["bob"],["bob"]]`},
	{name: "where * has looks in dynamic columns", q: `Events | where * has "192.168.1.5" | project Computer`, want: `[["db01"]]`},
	{name: "where * has looks in number columns", q: `Events | where * has "4688" | project Account`, want: `[["bob"]]`},
	{name: "where * has is a whole term", q: `Logs | where * has "pass" | count`, want: `[[0]]`},
	{name: "where * contains", q: `Logs | where * contains "sda" | project Host`, want: `[["db01"]]`},
	{name: "where * has_cs", q: `Events | where * has_cs "Alice" | project Account`, want: `[["Alice"]]`},
	{name: "where * startswith", q: `Users | where * startswith "se" | project Account`, want: `[["bob"]]`},
	{name: "where * has with and", q: `Events | where * has "web01" and Ok | project Account`, want: `[["alice"],["bob"]]`},
	{name: "where a column test and * has", q: `Events | where Count > 1 and * has "bob" | project Count`, want: `[[2],[5]]`},
	{name: "where * has and * has", q: `Events | where * has "web01" and * has "alice" | project Account`, want: `[["alice"]]`},
	{name: "where * has and an expression", q: `Events | where * has "10" and strlen(Account) == 3 | project Account`, want: `[["bob"]]`},
	{name: "search is where * has", q: `Events | search "bob" | count`, want: `[[2]]`},
	{name: "search wildcard inside a term is a regular expression", q: `search "ali*e" | summarize count() by $table | sort by $table asc`, want: `[["Events",2],["Logs",1],["Users",1]]`},
	{name: "search kind=case_sensitive wildcard", q: `search kind=case_sensitive "Ali*e" | summarize count() by $table`, want: `[["Events",1]]`},
	{name: "search in listed tables with column equality", q: `search in (Events, Users) Account == "dave" | project $table, Account`, want: `[["Users","dave"]]`},
	{name: "search a column some tables lack", q: `search Account:"bob" | summarize count() by $table | sort by $table asc`, want: `[["Events",2],["Users",2]]`},
	{name: "search by $table", q: `search $table == "Users" and "eng" | count`, want: `[[2]]`},
	{name: "search a column only some tables have, in the union", q: `search in (Events, Users) Account == "dave" or Level == 5 | project $table, Account`, want: `[["Users","dave"],["Users","bob"]]`},
	{name: "search on empty input", q: `Users | where Level > 100 | search "x" | count`, want: `[[0]]`},
	{name: "* with a negated operator is refused", q: `Users | where * !has "x"`, err: `* on the left of !has is not supported`},
	{name: "* with a row-dependent term is refused", q: `Users | where * has Account`, err: `needs a constant term`},
	{name: "* elsewhere is refused with what it may do", q: `Users | where * > 1`, err: `* on the left of > is not supported`},
	{name: "* as a value is refused with what it may do", q: `Users | extend x = *`, err: `on the left of a string operator`},
}

func TestSearchGivesDocumentedResults(t *testing.T) {
	src := fixtureSource(t)
	for _, c := range searchCases {
		t.Run(c.name, func(t *testing.T) { runCase(t, src, src.Catalog(), c) })
	}
}

// The any-column match over typed and dictionary-coded vectors, in batches that mix them
// with boxed ones, gives the row path's answers.
func TestSearchOverTypedBatches(t *testing.T) {
	src := fixtureSource(t)
	src.BatchSize = 2
	for _, c := range searchCases {
		t.Run(c.name, func(t *testing.T) { runCase(t, typedSource{src}, src.Catalog(), c) })
	}
	for _, c := range []kqlCase{
		{name: "a null string matches an empty term", q: `Events | where * has "" | count`, want: `[[6]]`},
		{name: "an empty account is no match", q: `Events | where Computer == "dc01" | where * has "carol" | count`, want: `[[0]]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, src, src.Catalog(), c)
			runCase(t, typedSource{src}, src.Catalog(), c)
		})
	}
}
