package kql

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// wildcardSource is the fixture plus two tables that hold no rows, as a workspace's built-in
// tables never written: EmptyEvents (with a column of its own) and Empty_CL.
func wildcardSource(t *testing.T) (*MemSource, Catalog) {
	t.Helper()
	src := fixtureSource(t)
	empty := NewMemTable("EmptyEvents", Column{"TimeGenerated", TypeDatetime}, Column{"OnlyHere", TypeString})
	emptyCL := NewMemTable("Empty_CL", Column{"TimeGenerated", TypeDatetime}, Column{"Note", TypeString})
	var tables []*MemTable
	for _, name := range src.order {
		tables = append(tables, src.tables[name])
	}
	all := NewMemSource(append(tables, empty, emptyCL)...)
	cat := all.Catalog()
	for i := range cat.Tables {
		cat.Tables[i].Empty = strings.HasPrefix(cat.Tables[i].Name, "Empty")
	}
	return all, cat
}

func TestWildcardUnionReadsTheTablesThatHoldRows(t *testing.T) {
	src, cat := wildcardSource(t)
	for _, c := range []struct{ name, q, want, cols string }{
		{name: "union * with the table's name", q: `union withsource=T * | summarize n = count() by T | sort by T asc`,
			want: `[["Events",6],["Logs",4],["Users",4]]`},
		{name: "union * leaves the columns of empty tables out", q: `union * | getschema | where ColumnName in ("OnlyHere", "Note", "Msg", "Dept") | project ColumnName`,
			want: `[["Dept"],["Msg"]]`},
		{name: "a prefix", q: `union withsource=T E* | summarize count() by T`, want: `[["Events",6]]`},
		{name: "a suffix", q: `union withsource=T *s | summarize count() by T | sort by T asc`, want: `[["Events",6],["Logs",4],["Users",4]]`},
		{name: "a star inside", q: `union withsource=T Ev*ts | summarize count() by T`, want: `[["Events",6]]`},
		{name: "a pattern and a table", q: `union withsource=T Us*, Logs | summarize count() by T | sort by T asc`, want: `[["Logs",4],["Users",4]]`},
		{name: "as an operator", q: `Users | union withsource=T L* | summarize count() by T | sort by T asc`, want: `[["Logs",4],["union_arg0",4]]`},
		{name: "a pattern only empty tables match binds to them and finds nothing", q: `union withsource=T Empty* | project T, OnlyHere, Note`,
			want: `[]`, cols: "T:string,OnlyHere:string,Note:string"},
		{name: "union * then filters", q: `union * | where TimeGenerated > datetime(2026-11-26T09:30:00Z) | count`, want: `[[3]]`},
		{name: "a pipe right after the star", q: `union *| count`, want: `[[14]]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runOn(t, src, cat, c.q, Options{})
			checkTable(t, res.Tables[0], c.want, c.cols)
		})
	}
}

func TestWildcardUnionErrors(t *testing.T) {
	_, cat := wildcardSource(t)
	for _, c := range []struct{ name, q, err string }{
		{name: "no table matches", q: `union Nope*`, err: `no table matches "Nope*"`},
		{name: "a star and nothing else after union's options", q: `union withsource=T`, err: `expected a table name`},
		{name: "two stars apart", q: `union * *`, err: `expected ";", "|" or end of query`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.q, cat)
			var se *SyntaxError
			var be *BindError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &se) && !errors.As(err, &be) {
				t.Fatalf("Compile: %v, want an error containing %q", err, c.err)
			}
		})
	}
	// in a workspace where no table holds rows, union * is every table, and finds nothing
	src := NewMemSource(NewMemTable("A", Column{"x", TypeLong}), NewMemTable("B", Column{"y", TypeString}))
	cat = src.Catalog()
	for i := range cat.Tables {
		cat.Tables[i].Empty = true
	}
	q, err := Compile(`union withsource=T * | project T, x, y`, cat)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(context.Background(), src, Options{})
	if err != nil || len(res.Tables[0].Rows) != 0 {
		t.Fatalf("union * over empty tables: %v %v", res, err)
	}
}
