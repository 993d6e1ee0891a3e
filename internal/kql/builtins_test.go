package kql

import (
	"slices"
	"testing"
)

func TestBuiltinNamesAreWhatQueriesWrite(t *testing.T) {
	b := BuiltinNames()
	for _, tc := range []struct {
		list  string
		names []string
		want  []string
	}{
		{"operators", b.Operators, []string{"where", "summarize", "project", "render", "mv-expand"}},
		{"functions", b.Functions, []string{"strcat", "bin", "ago", "now", "tostring"}},
		{"aggregations", b.Aggregations, []string{"count", "dcount", "make_set"}},
	} {
		t.Run(tc.list, func(t *testing.T) {
			if !slices.IsSorted(tc.names) {
				t.Errorf("the %s are not sorted", tc.list)
			}
			for _, name := range tc.want {
				if _, ok := slices.BinarySearch(tc.names, name); !ok {
					t.Errorf("the %s lack %s", tc.list, name)
				}
			}
		})
	}
	if slices.Contains(b.Functions, "dcount") || slices.Contains(b.Operators, "strcat") {
		t.Error("a name is listed in the wrong list")
	}
}
