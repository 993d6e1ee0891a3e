package logstore

import (
	"context"
	"fmt"
	"sort"
)

// ColumnSchema is a column of a table as stored: its name, and the one type
// that holds every value written to it.
type ColumnSchema struct {
	Name string
	Type Type
}

// Changes counts what may change the answers of Tables and Schema: a table
// created, opened or deleted, rows an ingest made visible that bring a
// column, or a class of value of a column, its unflushed rows did not hold
// (or any rows, while a column of those holds values of more than one
// type: see memtable.add), a flush or a merge published, segments purged,
// damage found. An ingest of rows of the columns and types already held
// leaves it, so that a catalog kept under it stands under steady ingest;
// nothing Tables or Schema answers depends on row counts or time spans.
// A caller that keeps those answers (a
// query catalog) reads it before asking for them and keeps them under the
// count it read: while the count is the same, they stand. It needs no
// key, and says nothing of whether the key still opens the data.
func (st *Store) Changes() uint64 { return st.changes.Load() }

// changed moves Changes on; called after the change is visible to Tables
// and Schema, so that answers read before it are kept under an older count.
func (st *Store) changed() { st.changes.Add(1) }

// Schema returns a table's columns: TimeGenerated first, then by name. Column
// names are sealed like the values: those of the segments are in the
// table's manifest (so a damaged segment does not hide them), those of rows
// not yet flushed in memory; reading either needs the key. Where blocks
// disagree on a column's type, long and real widen to real and anything
// else to string.
func (st *Store) Schema(ctx context.Context, workspace, table string) ([]ColumnSchema, error) {
	t, err := st.table(workspace, table)
	if err != nil {
		return nil, err
	}
	snap, err := t.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	types := snap.schema
	if types == nil {
		types = map[string]Type{}
	}
	if err := buildBlocks(snap.mems); err != nil {
		return nil, fmt.Errorf("schema of %s/%s: %w", workspace, table, err)
	}
	for _, b := range snap.mems {
		for _, c := range b.meta.cols {
			if c.name != IngestionTimeColumn {
				noteType(types, c.name, c.typ)
			}
		}
	}
	out := make([]ColumnSchema, 0, len(types))
	for name, typ := range types {
		if typ == TypeNull {
			typ = TypeString
		}
		out = append(out, ColumnSchema{Name: name, Type: typ})
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == timeColumn) != (out[j].Name == timeColumn) {
			return out[i].Name == timeColumn
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// noteType adds a column of type typ to types, widening the type it has.
func noteType(types map[string]Type, name string, typ Type) {
	if typ == TypeNull {
		if _, ok := types[name]; !ok {
			types[name] = TypeNull
		}
		return
	}
	types[name] = widen(types[name], typ)
}

func widen(have, typ Type) Type {
	switch {
	case have == TypeNull || have == 0 || have == typ:
		return typ
	case (have == TypeLong && typ == TypeReal) || (have == TypeReal && typ == TypeLong):
		return TypeReal
	default:
		return TypeString
	}
}
