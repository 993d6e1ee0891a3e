package kql

import (
	"fmt"
	"slices"
	"testing"
)

// anyPreds are the any-column predicates of a run's first scan request, as text.
func anyPreds(src *countingSource) []string {
	var out []string
	for _, p := range src.reqs[0].Predicates {
		if p.Column == AnyColumn {
			out = append(out, p.String())
		}
	}
	return out
}

func TestSearchAndStarHasPushAnAnyColumnPredicate(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{`Events | where * has "carol"`, "* has carol"},
		{`Events | where * has_cs "carol"`, "* has_cs carol"},
		{`Events | where * contains "aro"`, "* contains aro"},
		{`Events | where Computer == "db01" and * has "carol"`, "* has carol"},
		{`Events | where * has 4625`, "* has 4625"},
		{`search in (Events) "carol"`, "* has carol"},
		{`search in (Events) "*aro*"`, "* contains aro"},
		{`search kind=case_sensitive in (Events) "carol"`, "* has_cs carol"},
		{`search in (Events) "carol" and Computer == "db01"`, "* has carol"},
		{`search in (Events) ("carol" and "db01")`, "* has db01"},
		{`Events | search "carol"`, "* has carol"},
		{`Events | project-rename Host = Computer | where * has "db01"`, "* has db01"},
		{`Events | project Computer, Account | where * has "carol"`, "* has carol"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			src := newCountingSource(t)
			runOn(t, src, src.Catalog(), tc.q+" | count", Options{})
			if got := anyPreds(src); !slices.Contains(got, tc.want) {
				t.Fatalf("any-column predicates %v lack %q", got, tc.want)
			}
		})
	}
}

func TestAnyColumnPredicateIsNotPushedWhereAScanCannotMatchLikeTheEngine(t *testing.T) {
	for _, q := range []string{
		// a computed column is searched too, and the scan has no such column
		`Events | extend Note = strcat(Account, "!") | where * has "carol"`,
		`Events | extend Account = toupper(Account) | where * has "CAROL"`,
		// the empty term matches every row, null cells too
		`Events | where * has ""`,
		// the engine folds the case of letters outside ASCII
		`Events | where * has "élan"`,
		// term prefixes, suffixes and patterns
		`search in (Events) "car*"`,
		`search in (Events) "*rol"`,
		`search in (Events) "c*l"`,
		// an or needs either side, a not neither
		`search in (Events) "carol" or "bob"`,
		`search in (Events) not("carol")`,
		// a filter after take must not move before it
		`Events | take 2 | where * has "carol"`,
	} {
		t.Run(q, func(t *testing.T) {
			src := newCountingSource(t)
			runOn(t, src, src.Catalog(), q+" | count", Options{})
			if got := anyPreds(src); len(got) != 0 {
				t.Fatalf("pushed %v", got)
			}
		})
	}
}

func TestAnyColumnPredicateAnswersAsTheEngineAlone(t *testing.T) {
	// The in-memory source applies the any-column predicate to every column; the sloppy one
	// drops it. Every term, table and form of the query answers the same both ways.
	src := fixtureSource(t)
	terms := []string{"carol", "CAROL", "Alice", "web01", "WEB01", "db01", "10.0.0.1", "10.0.0", "0.0", "4625", "4624",
		"1.5", "-1", "true", "false", "ip", "tags", "a", "b", "2026", "08:30", "password", "Failed password",
		"sshd:session", "user=carol", "id", "42", "/dev/sda1", "ssh2", "nothing", "e", "u", "*ass*", "*10.0*"}
	for _, term := range terms {
		for _, form := range []string{
			`Events | where * has %q`,
			`Logs | where * has %q`,
			`Events | where * contains %q`,
			`Events | where * has_cs %q`,
			`search in (Events, Logs, Users) %q`,
			`search %q`,
			`search kind=case_sensitive in (Events) %q`,
			`search in (Logs) %q and Host == "db01"`,
			`Events | project Account, Props | where * has %q`,
		} {
			q := fmt.Sprintf(form, term) + ` | order by tostring(pack_all()) asc`
			t.Run(q, func(t *testing.T) {
				got := runOn(t, src, src.Catalog(), q, Options{})
				want := runOn(t, sloppySource{src}, src.Catalog(), q, Options{})
				if g, w := fmt.Sprint(got.Tables[0].Rows), fmt.Sprint(want.Tables[0].Rows); g != w {
					t.Fatalf("pushed down: %s\nengine alone: %s", g, w)
				}
			})
		}
	}
}

func TestHasAnyAndHasAllArePushedDown(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want []string // predicates pushed; none if empty
	}{
		{`Events | where Account has_any ("carol", "bob")`, []string{"Account has_any [carol bob]"}},
		{`Events | where Account has_any (dynamic(["carol", "bob"]))`, []string{"Account has_any [carol bob]"}},
		{`Events | where Account has_all ("carol", "x")`, []string{"Account has carol", "Account has x"}},
		{`Events | where Account has_any ("carol", "")`, nil},
		{`Events | where Account has_any ("carol", "élan")`, nil},
		{`Events | where Props has_any ("a")`, nil}, // a dynamic column reads as JSON text
		{`Events | extend A = strcat(Account, "") | where A has_any ("carol")`, nil},
	} {
		t.Run(tc.q, func(t *testing.T) {
			src := newCountingSource(t)
			res := runOn(t, src, src.Catalog(), tc.q+" | count", Options{})
			var got []string
			for _, p := range src.reqs[0].Predicates {
				got = append(got, p.String())
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Fatalf("predicates %v lack %q", got, w)
				}
			}
			if len(tc.want) == 0 && len(got) != 0 {
				t.Fatalf("pushed %v", got)
			}
			all := runOn(t, sloppySource{fixtureSource(t)}, src.Catalog(), tc.q+" | count", Options{})
			if fmt.Sprint(res.Tables[0].Rows) != fmt.Sprint(all.Tables[0].Rows) {
				t.Fatalf("count %v, the engine alone %v", res.Tables[0].Rows, all.Tables[0].Rows)
			}
		})
	}
}
