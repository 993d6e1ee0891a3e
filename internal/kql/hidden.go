package kql

import "context"

// Hidden columns are the standard columns every table of a workspace has but that no result
// shows unless a query names them: _ResourceId, _SubscriptionId, _BilledSize and _IsBillable
// (TableSchema.Hidden, set by the source). A query may filter, group and project by them; they pass
// through the operators that keep their input's columns, hidden, and the last result and the
// *-expansions (getschema, search, where * has, arg_max(t, *), take_any(*), distinct *) leave
// them out. project and summarize make a named one a column like any other. They are marked
// for reading only where named (markAll skips them; a union links its own hidden columns to
// its parts'), so a query that does not name them never scans them.

// visible is pl without its hidden columns: the plan of a statement's result.
func visible(pl *plan) *plan {
	var keep []int
	for i, c := range pl.cols {
		if !c.hidden {
			keep = append(keep, i)
		}
	}
	if len(keep) == len(pl.cols) {
		return pl
	}
	cols := make([]colInfo, len(keep))
	for i, k := range keep {
		cols[i] = pl.cols[k]
	}
	out := *pl
	out.cols, out.scan, out.openCols, out.ingest = cols, nil, nil, nil
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := pl.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: pickCells(keep)}, nil
	}
	return &out
}
