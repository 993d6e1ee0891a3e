package kql

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestGuideListsTheLanguage keeps the user guide's KQL reference true: every operator,
// evaluate plugin, scalar function and aggregate the engine knows is named there, in
// backquotes, so that a user can tell from the guide alone whether a query of theirs runs.
func TestGuideListsTheLanguage(t *testing.T) {
	b, err := os.ReadFile("../../docs/guide.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(b)
	start := strings.Index(guide, "\n## KQL reference")
	if start < 0 {
		t.Fatal(`docs/guide.md has no "## KQL reference" section`)
	}
	ref := guide[start:]
	if end := strings.Index(ref[1:], "\n## "); end >= 0 {
		ref = ref[:end+1]
	}
	var missing []string
	want := func(kind, name string) {
		if !strings.Contains(ref, "`"+name+"`") {
			missing = append(missing, kind+" "+name)
		}
	}
	for name := range operatorParsers {
		want("operator", name)
	}
	for name := range evalPlugins {
		want("plugin", name)
	}
	for name := range funcs {
		want("function", name)
	}
	for name := range specialForms {
		want("function", name)
	}
	for name := range aggs {
		want("aggregate", name)
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("the guide's KQL reference does not name the %s", m)
	}
}
