package kql

import (
	"regexp"
	"strings"
	"testing"
)

// TestEveryOperatorAndFunctionHasACase keeps the table-driven cases honest: each tabular
// operator, scalar function and aggregate the engine knows appears in at least one query.
func TestEveryOperatorAndFunctionHasACase(t *testing.T) {
	var all strings.Builder
	for _, cases := range allCases() {
		for _, c := range cases {
			all.WriteString(c.q)
			all.WriteByte('\n')
		}
	}
	for _, c := range detectionQueries {
		all.WriteString(c.q)
		all.WriteByte('\n')
	}
	text := all.String()
	var names []string
	for n := range funcs {
		names = append(names, n+"(")
	}
	for n := range aggs {
		names = append(names, n+"(")
	}
	names = append(names, "materialize(", "table(", "typeof(")
	for op := range operatorParsers {
		names = append(names, "| "+op+" ")
	}
	for n := range specialForms {
		names = append(names, n+"(")
	}
	for _, kw := range []string{"datatable(", "print ", "range ", "let ", "kind=innerunique", "kind=inner", "kind=leftouter", "kind=rightouter",
		"kind=fullouter", "kind=leftanti", "kind=rightanti", "kind=leftsemi", "kind=rightsemi", "kind=relaxed", "kind=regex", "isfuzzy=true",
		"withsource=", "$left.", "$right.", " has ", " !has ", " has_cs ", " !has_cs ", " contains ", " !contains ", " contains_cs ",
		" !contains_cs ", " startswith ", " !startswith ", " startswith_cs ", " !startswith_cs ", " endswith ", " !endswith ", " endswith_cs ",
		" !endswith_cs ", " in (", " !in (", " in~ (", " !in~ (", " has_any (", " has_all (", " between (", " !between (", " matches regex ",
		" =~ ", " !~ ", " == ", " != ", "nulls first", "nulls last", " asc", " desc", "to typeof(", "with_itemindex="} {
		names = append(names, kw)
	}
	missing := 0
	for _, n := range names {
		if !strings.Contains(text, n) && !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(strings.TrimPrefix(n, "| "))).MatchString(text) {
			t.Errorf("no case uses %q", n)
			missing++
		}
	}
	if missing > 0 {
		t.Logf("%d names without a case", missing)
	}
}
