package wsdata

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/tables"
)

// A workspace's declared tables are in its catalog whether or not they hold
// rows: the standard tables, built in, and the custom tables declared
// through the tables API, each with its columns in declared order and
// declared types, then any column stored in it that is not declared (rows
// written before the declaration). A declared table with no rows scans as
// empty.

// WithTables makes the source serve the custom tables declared in t beside
// the standard ones, and returns it.
func (s *Source) WithTables(t *tables.Tables) *Source {
	s.tables = t
	return s
}

// standardCatalog is the standard tables as the engine's schemas, by name:
// built once, as they are the same for every workspace and every query.
var standardCatalog = sync.OnceValue(func() map[string]kql.TableSchema {
	std := tables.Standard()
	out := make(map[string]kql.TableSchema, len(std))
	for _, s := range std {
		out[s.Name] = engineSchema(s)
	}
	return out
})

// emptyStandard is each standard table as the catalog lists it while it
// holds no rows, as most do: built once, not for every query's catalog.
var emptyStandard = sync.OnceValue(func() map[string]kql.TableSchema {
	out := make(map[string]kql.TableSchema, len(standardCatalog()))
	for name, ts := range standardCatalog() {
		ts.Empty = true
		out[name] = withHidden(ts)
	}
	return out
})

// engineSchema is a declared table as the engine's schema, in declared
// order. The engine keeps int apart from long, as the cloud's query API
// answers them; the store holds both as long, and the scan hands an int
// column over as such (see convert).
func engineSchema(s tables.Schema) kql.TableSchema {
	ts := kql.TableSchema{Name: s.Name, Columns: make([]kql.Column, len(s.Columns))}
	for i, c := range s.Columns {
		t, ok := kql.ParseType(c.Type)
		if !ok {
			t = kql.TypeString // a type the tables package refuses; never declared
		}
		ts.Columns[i] = kql.Column{Name: c.Name, Type: t}
	}
	return ts
}

// declaredTables returns the workspace's declared tables by name: the
// standard ones and, when the source has them, the custom ones, which it
// reads (and decrypts) once per source.
func (s *Source) declaredTables(ctx context.Context) (map[string]kql.TableSchema, error) {
	if s.declared != nil {
		return s.declared, nil
	}
	std := standardCatalog()
	if s.tables == nil {
		s.declared = std
		return std, nil
	}
	custom, err := s.tables.Custom(ctx)
	if err != nil {
		return nil, fmt.Errorf("list declared tables: %w", err)
	}
	out := make(map[string]kql.TableSchema, len(std)+len(custom))
	for name, ts := range std {
		out[name] = ts
	}
	for _, c := range custom {
		out[c.Name] = engineSchema(c)
	}
	s.declared = out
	return out, nil
}

// withStored is a declared table's schema followed by the columns stored
// in it that it does not declare, with their stored types.
func withStored(decl kql.TableSchema, stored []logstore.ColumnSchema) kql.TableSchema {
	var extra []kql.Column
	for _, c := range stored {
		if !slices.ContainsFunc(decl.Columns, func(d kql.Column) bool { return d.Name == c.Name }) {
			extra = append(extra, kql.Column{Name: c.Name, Type: typeMap[c.Type]})
		}
	}
	if extra == nil {
		return decl // shared, never written
	}
	return kql.TableSchema{Name: decl.Name, Columns: append(slices.Clip(decl.Columns), extra...)}
}

// sortSchemas orders a catalog by table name.
func sortSchemas(ts []kql.TableSchema) {
	slices.SortFunc(ts, func(a, b kql.TableSchema) int { return strings.Compare(a.Name, b.Name) })
}

// emptyIter is the scan of a declared table that holds no rows.
type emptyIter struct{}

func (emptyIter) Next(context.Context) (*kql.Batch, error) { return nil, io.EOF }
func (emptyIter) Close() error                             { return nil }
