package tables

import (
	"os"
	"strings"
	"testing"
)

// TestGuideListsEveryStandardTable keeps the user guide's list of built-in tables true: a
// user reads there whether a rule's table binds in a fresh workspace.
func TestGuideListsEveryStandardTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/guide.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(b)
	start := strings.Index(guide, "**Built-in standard tables**")
	if start < 0 {
		t.Fatal(`docs/guide.md has no "**Built-in standard tables**" list`)
	}
	list := guide[start:]
	if end := strings.Index(list, "\n\n"); end >= 0 {
		list = list[:end]
	}
	for _, s := range Standard() {
		if !strings.Contains(list, "`"+s.Name+"`") {
			t.Errorf("the guide's list of built-in tables does not name %s", s.Name)
		}
	}
}
