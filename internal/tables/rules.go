package tables

import (
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// The cloud's limits on a custom table, which Sealwatch keeps so that a
// table declared here can be declared there too.
const (
	// CustomSuffix ends the name of every custom table.
	CustomSuffix = "_CL"
	// MaxNameLength bounds a table's name (the tables API's path limit).
	MaxNameLength = 63
	// MaxColumnNameLength bounds a custom column's name.
	MaxColumnNameLength = 45
	// MaxColumns bounds a custom table's columns.
	MaxColumns = 500
	// MaxDescription bounds a table's and a column's description.
	MaxDescription = 1024
	// TimeColumn is the column every table has: the time a row is about.
	TimeColumn = "TimeGenerated"
)

// reservedColumns are the column names the cloud keeps for itself in every
// table (compared case-insensitively): a custom column may not take one.
var reservedColumns = []string{"id", "_ResourceId", "_SubscriptionId", "TenantId", "Type", "UniqueId", "Title"}

// typeList is the accepted types, for messages.
const typeList = "string, int, long, real, boolean (or bool), datetime, guid, dynamic"

// bad is a refusal of the caller's input.
func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "InvalidParameter", format, args...)
}

// ColumnType returns the spelling a declared column keeps for a type the
// tables API accepts (any case; bool for boolean), or false: the types the
// log store converts ingested values to.
func ColumnType(t string) (string, bool) {
	d, ok := logstore.ParseDeclaredType(t)
	if !ok {
		return "", false
	}
	return d.String(), true
}

// wordChars reports whether s is letters, digits and underscores, starting
// with a letter.
func wordChars(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// ValidName refuses a name no table can have: 1-63 letters, digits and
// underscores, starting with a letter. Table names are shown and stored in
// the clear (they are not customer data), so only these characters are kept.
func ValidName(name string) error {
	if len(name) > MaxNameLength || !wordChars(name) {
		return bad("table names are 1-%d letters, digits and underscores, starting with a letter, not '%s'", MaxNameLength, fault.Shorten(name))
	}
	return nil
}

// IsCustomName reports whether name is a custom table's: it ends in _CL.
func IsCustomName(name string) bool { return strings.HasSuffix(name, CustomSuffix) }

// validCustomName refuses a custom table's name that is not valid or does
// not end in _CL.
func validCustomName(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if !IsCustomName(name) || len(name) == len(CustomSuffix) {
		return bad("'%s' is not a standard table, and a custom table's name ends in %s, such as %s%s", name, CustomSuffix, strings.TrimSuffix(name, "_"), CustomSuffix)
	}
	return nil
}

// validColumns checks a custom table's columns: each a valid name and type,
// no name twice (case-insensitively, as the cloud compares them), none
// reserved, at most MaxColumns, and TimeGenerated among them as a datetime.
// It returns the columns with their types spelled as declared columns keep
// them.
func validColumns(table string, cols []Column) ([]Column, error) {
	if len(cols) > MaxColumns {
		return nil, bad("table '%s' has %d columns; a table has at most %d", table, len(cols), MaxColumns)
	}
	out := make([]Column, len(cols))
	seen := make(map[string]int, len(cols))
	hasTime := false
	for i, c := range cols {
		if err := validColumnName(i, c.Name); err != nil {
			return nil, err
		}
		if j, dup := seen[strings.ToLower(c.Name)]; dup {
			return nil, bad("columns[%d] '%s' repeats columns[%d] '%s': column names must differ in more than case", i, c.Name, j, cols[j].Name)
		}
		seen[strings.ToLower(c.Name)] = i
		typ, ok := ColumnType(c.Type)
		if !ok {
			return nil, bad("columns[%d] '%s' has type '%s'; a column's type is one of %s", i, c.Name, fault.Shorten(c.Type), typeList)
		}
		if len(c.Description) > MaxDescription {
			return nil, bad("columns[%d] '%s' has a description of %d bytes; at most %d", i, c.Name, len(c.Description), MaxDescription)
		}
		if c.Name == TimeColumn {
			if typ != "datetime" {
				return nil, bad("column %s must be a datetime, not %s: it is the time each row is about", TimeColumn, typ)
			}
			hasTime = true
		}
		out[i] = Column{Name: c.Name, Type: typ, Description: c.Description}
	}
	if !hasTime {
		return nil, bad("table '%s' has no %s column; every table needs one, of type datetime: {\"name\":\"%s\",\"type\":\"datetime\"}", table, TimeColumn, TimeColumn)
	}
	return out, nil
}

// validColumnName refuses the name of columns[i] that the cloud would.
func validColumnName(i int, name string) error {
	if len(name) > MaxColumnNameLength || !wordChars(name) {
		return bad("columns[%d]: column names are 1-%d letters, digits and underscores, starting with a letter, not '%s'", i, MaxColumnNameLength, fault.Shorten(name))
	}
	for _, r := range reservedColumns {
		if strings.EqualFold(name, r) {
			return bad("columns[%d]: '%s' is a reserved column name (reserved: %s); name the column otherwise", i, name, strings.Join(reservedColumns, ", "))
		}
	}
	return nil
}
