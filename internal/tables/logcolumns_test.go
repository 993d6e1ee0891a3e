package tables

import (
	"slices"
	"testing"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// TestEveryStandardTableTypesItsRows: each built-in column's type is one
// ingestion converts rows to, so that rows sent to any standard table are
// typed by it.
func TestEveryStandardTableTypesItsRows(t *testing.T) {
	for _, s := range Standard() {
		cols, err := s.LogColumns()
		if err != nil || len(cols) != len(s.Columns) {
			t.Errorf("%s: %d columns (%v), want %d", s.Name, len(cols), err, len(s.Columns))
		}
	}
	if _, err := (Schema{Name: "X_CL", Columns: []Column{{Name: "A", Type: "timespan"}}}).LogColumns(); err == nil {
		t.Error("a type rows cannot be converted to was taken")
	}
}

// TestWidenedReadsEveryStoredValue: a column whose declared type would read
// some stored values as null is widened to a type that reads them all; a
// column that reads them, one with no rows, and TimeGenerated are kept.
func TestWidenedReadsEveryStoredValue(t *testing.T) {
	for _, c := range []struct {
		name, declared string
		stored         logstore.Type
		want           string
	}{
		{"an int stored as a long", "int", logstore.TypeLong, "int"},
		{"an int stored with fractions", "int", logstore.TypeReal, "real"},
		{"a long stored as strings", "long", logstore.TypeString, "string"},
		{"a real stored as a long", "real", logstore.TypeLong, "real"},
		{"a boolean stored as strings", "boolean", logstore.TypeString, "string"},
		{"a datetime stored as strings", "datetime", logstore.TypeString, "string"},
		{"a guid stored as strings", "guid", logstore.TypeString, "string"},
		{"an int stored as objects", "int", logstore.TypeDynamic, "dynamic"},
		{"a string stored as numbers", "string", logstore.TypeLong, "string"},
		{"a dynamic stored as strings", "dynamic", logstore.TypeString, "dynamic"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Schema{Name: "X_CL", Columns: []Column{{Name: "TimeGenerated", Type: "datetime"}, {Name: "A", Type: c.declared}, {Name: "Unstored", Type: "int"}}}
			got := s.Widened([]logstore.ColumnSchema{{Name: "TimeGenerated", Type: logstore.TypeString}, {Name: "A", Type: c.stored}})
			want := []Column{{Name: "TimeGenerated", Type: "datetime"}, {Name: "A", Type: c.want}, {Name: "Unstored", Type: "int"}}
			if !slices.Equal(got.Columns, want) {
				t.Fatalf("columns %v, want %v", got.Columns, want)
			}
		})
	}
}
