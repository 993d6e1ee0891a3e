package tables

import "testing"

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
