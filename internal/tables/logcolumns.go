package tables

import (
	"fmt"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// LogColumns are the schema's columns as the log store converts the rows
// ingested into the table by them.
func (s Schema) LogColumns() ([]logstore.DeclaredColumn, error) {
	cols := make([]logstore.DeclaredColumn, len(s.Columns))
	for i, c := range s.Columns {
		t, ok := logstore.ParseDeclaredType(c.Type)
		if !ok {
			// by position: a column's name is customer data, and this error is logged
			return nil, fmt.Errorf("table %s: column %d has type %q, which rows cannot be converted to", s.Name, i, fault.Shorten(c.Type))
		}
		cols[i] = logstore.DeclaredColumn{Name: c.Name, Type: t}
	}
	return cols, nil
}

// Widened is the schema with each column whose type would not read every
// value stored in it (stored, as the log store gives a table's columns)
// given a type that does: a long column holding fractions becomes a real,
// one holding objects a dynamic, any other a string. A query reads a
// stored value that its column's type does not hold as null, so a table
// declared over rows already stored (a custom table written before tables
// were declared) is declared wide enough that none of them reads as null.
// TimeGenerated stays a datetime: the store keeps it as one.
func (s Schema) Widened(stored []logstore.ColumnSchema) Schema {
	types := make(map[string]logstore.Type, len(stored))
	for _, c := range stored {
		types[c.Name] = c.Type
	}
	out := Schema{Name: s.Name, Description: s.Description, Columns: make([]Column, len(s.Columns))}
	for i, c := range s.Columns {
		if st, ok := types[c.Name]; ok && c.Name != TimeColumn && !reads(c.Type, st) {
			c.Type = widenedType(c.Type, st)
		}
		out.Columns[i] = c
	}
	return out
}

// reads reports whether a column declared typ reads every value the store
// keeps as stored without loss.
func reads(typ string, stored logstore.Type) bool {
	switch t, _ := ColumnType(typ); t {
	case "string", "dynamic":
		return true
	case "int", "long":
		return stored == logstore.TypeLong
	case "real":
		return stored == logstore.TypeLong || stored == logstore.TypeReal
	case "boolean":
		return stored == logstore.TypeBool
	case "datetime":
		return stored == logstore.TypeDatetime
	}
	return false // a guid is stored as a string, which need not be one
}

// widenedType is the type that reads what a column declared typ does and
// the values stored as stored.
func widenedType(typ string, stored logstore.Type) string {
	switch t, _ := ColumnType(typ); {
	case stored == logstore.TypeDynamic:
		return "dynamic"
	case stored == logstore.TypeReal && (t == "int" || t == "long"):
		return "real"
	}
	return "string"
}
