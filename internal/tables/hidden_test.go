package tables

import (
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// TestHiddenColumnsAreStandardAndTyped: the hidden columns have the documented names, which
// start with an underscore, and types rows can be converted to; no standard table lists one
// among its visible columns.
func TestHiddenColumnsAreStandardAndTyped(t *testing.T) {
	hidden := map[string]bool{}
	for _, c := range HiddenColumns() {
		if !strings.HasPrefix(c.Name, "_") {
			t.Errorf("hidden column %s does not start with _", c.Name)
		}
		if _, ok := logstore.ParseDeclaredType(c.Type); !ok {
			t.Errorf("hidden column %s has type %q", c.Name, c.Type)
		}
		hidden[c.Name] = true
	}
	if len(hidden) != 4 || !hidden["_ResourceId"] || !hidden["_BilledSize"] {
		t.Fatalf("hidden columns %v", hidden)
	}
	for _, s := range Standard() {
		for _, c := range s.Columns {
			if hidden[c.Name] {
				t.Errorf("standard table %s lists the hidden column %s among its columns", s.Name, c.Name)
			}
		}
	}
}
