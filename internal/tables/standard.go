package tables

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// The standard tables are data: one file per table under standard/, named
// after the table. Their column names and types are those the public schema
// references publish: the Azure Monitor Logs table reference, with the
// standard columns every table has (TenantId, TimeGenerated, Type); the
// columns of the Microsoft Defender XDR tables as a Sentinel workspace holds
// them, which keep the advanced hunting schema's Timestamp beside
// TimeGenerated; and the Sentinel security alert schema's SourceSystem.
// The advanced hunting tables the Defender portal serves to hunting queries
// but does not stream into a workspace (the DeviceTvm* inventories, the
// exposure graph, the beta sign-in tables) have the hunting schema's
// columns and the three standard ones.
// Types are spelled as a declared column keeps them (boolean, not bool).
// The references list columns alphabetically, and so do the files. The
// hidden columns a workspace adds to every table (_ResourceId,
// _SubscriptionId, _IsBillable, _BilledSize) are not declared: neither
// getschema nor project * shows them. Columns that merely begin with an
// underscore, such as Watchlist's _DTItemId, are ordinary columns.
//
//go:embed standard/*.json
var standardFiles embed.FS

// standardTables is the built-in tables sorted by name, read once. The
// files are part of the program, so one that does not read is a
// programming error, which the package's tests catch before it ships.
var standardTables = sync.OnceValue(func() []Schema {
	s, err := loadStandard(standardFiles, "standard")
	if err != nil {
		panic(err)
	}
	return s
})

// Standard returns the standard security tables, sorted by name. The
// schemas are the caller's to change.
func Standard() []Schema {
	std := standardTables()
	out := make([]Schema, len(std))
	for i, s := range std {
		out[i] = s.clone()
	}
	return out
}

// StandardSchema returns the standard table of that name, matched exactly:
// table names are case-sensitive in KQL.
func StandardSchema(name string) (Schema, bool) {
	i, ok := standardIndex(name)
	if !ok {
		return Schema{}, false
	}
	return standardTables()[i].clone(), true
}

// IsStandard reports whether name is a standard table's, without copying
// its schema.
func IsStandard(name string) bool {
	_, ok := standardIndex(name)
	return ok
}

// standardIndex is the place of the standard table name in standardTables.
func standardIndex(name string) (int, bool) {
	return slices.BinarySearchFunc(standardTables(), name, func(s Schema, name string) int { return strings.Compare(s.Name, name) })
}

func (s Schema) clone() Schema {
	s.Columns = slices.Clone(s.Columns)
	return s
}

// loadStandard reads every .json file in dir of fsys as a Schema named
// after the file, and returns them sorted by name.
func loadStandard(fsys fs.FS, dir string) ([]Schema, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := make([]Schema, 0, len(files))
	for _, f := range files {
		s, err := readSchema(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("standard table %s: %w", f, err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Schema) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// readSchema reads one table's file strictly: a misspelt field would
// otherwise drop a column's type without a word.
func readSchema(fsys fs.FS, file string) (Schema, error) {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return Schema{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Schema
	if err := dec.Decode(&s); err != nil {
		return Schema{}, err
	}
	if dec.More() {
		return Schema{}, fmt.Errorf("more than one schema in the file")
	}
	if want := strings.TrimSuffix(path.Base(file), ".json"); s.Name != want {
		return Schema{}, fmt.Errorf("the file of table %s holds table %q", want, s.Name)
	}
	if len(s.Columns) == 0 {
		return Schema{}, fmt.Errorf("table %s declares no columns", s.Name)
	}
	return s, nil
}
