package logstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
)

// ColumnSchema is a column of a table as stored: its name, and the one type
// that holds every value written to it.
type ColumnSchema struct {
	Name string
	Type Type
}

// Schema returns a table's columns: TimeGenerated first, then by name. Column
// names are sealed like the values, so this reads each segment's index (and
// needs the key). Where blocks disagree on a column's type, long and real
// widen to real and anything else to string.
func (st *Store) Schema(ctx context.Context, workspace, table string) ([]ColumnSchema, error) {
	t, err := st.table(workspace, table)
	if err != nil {
		return nil, err
	}
	segs, mems, err := t.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	types := map[string]Type{}
	note := func(name string, typ Type) {
		if typ == TypeNull {
			if _, ok := types[name]; !ok {
				types[name] = TypeNull
			}
			return
		}
		types[name] = widen(types[name], typ)
	}
	for _, s := range segs {
		blocks, err := st.segmentBlocks(ctx, filepath.Join(t.dir, s.name.String()), workspace, table, s)
		if errors.Is(err, fs.ErrNotExist) {
			continue // purged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("schema of %s/%s: %w", workspace, table, err)
		}
		for _, b := range blocks {
			for _, c := range b.cols {
				note(c.name, c.typ)
			}
		}
	}
	if len(mems) > 0 {
		sc := &Scanner{st: st}
		for _, b := range mems {
			rows := make([]memRow, len(b.refs))
			for i, ref := range b.refs {
				rows[i] = memRow{b.payload, ref}
			}
			for len(rows) > 0 {
				n := min(len(rows), st.cfg.BlockRows)
				batch, err := sc.memBatch(rows[:n])
				rows = rows[n:]
				if err != nil {
					return nil, fmt.Errorf("schema of %s/%s: %w", workspace, table, err)
				}
				if batch == nil {
					continue
				}
				for _, c := range batch.Columns {
					note(c.Name, c.Type)
				}
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

// segmentBlocks is a segment's index: the cached one when the segment's key
// can still be derived (no file is read: a schema needs nothing else), else
// read from the file.
func (st *Store) segmentBlocks(ctx context.Context, path, ws, table string, s segFile) ([]blockMeta, error) {
	if e, ok := st.indexes.lookup(path, s.size); ok {
		if _, err := st.aead(ctx, e.hdr, purposeSegment); err != nil {
			return nil, err
		}
		return e.blocks, nil
	}
	r, err := st.openSegment(ctx, path, ws, table, s.name)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.blocks, nil
}
