package tables

import (
	"fmt"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// LogColumns are the schema's columns as the log store converts the rows
// ingested into the table by them.
func (s Schema) LogColumns() ([]logstore.DeclaredColumn, error) {
	cols := make([]logstore.DeclaredColumn, len(s.Columns))
	for i, c := range s.Columns {
		t, ok := logstore.ParseDeclaredType(c.Type)
		if !ok {
			return nil, fmt.Errorf("table %s: column %s has type %q, which rows cannot be converted to", s.Name, c.Name, c.Type)
		}
		cols[i] = logstore.DeclaredColumn{Name: c.Name, Type: t}
	}
	return cols, nil
}
