package kql

import (
	"context"
	"slices"
	"strings"
)

// A summarize with no group whose aggregates are all count(), min(TimeGenerated) and
// max(TimeGenerated) of a scan within its time bounds is answered by the source's count of
// the rows (RowCounter), which knows their earliest and latest time without reading them.

// spanAgg is an aggregate a RowCount answers.
type spanAgg int

const (
	spanCount spanAgg = iota // count()
	spanMin                  // min(TimeGenerated)
	spanMax                  // max(TimeGenerated)
)

// spanAggs returns what each aggregate of a summarize over in is, when a RowCount answers
// them all: no group, and each aggregate count(), or min() or max() of the scan's
// TimeGenerated. Otherwise it returns nil.
func spanAggs(o *astSummarizeOp, in *plan, ec *ectx) []spanAgg {
	if len(o.By) > 0 || in.scan == nil || !in.scan.timeCol || ec.usesIngest() {
		return nil
	}
	out := make([]spanAgg, 0, len(o.Aggs))
	for _, ne := range o.Aggs {
		call, ok := unparen(ne.X).(*astCall)
		if !ok || len(ne.Names) > 0 {
			return nil
		}
		switch name := strings.ToLower(call.Name); {
		case name == "count" && len(call.Args) == 0:
			out = append(out, spanCount)
		case name == "min" && len(call.Args) == 1 && isScanTime(call.Args[0], in, ec):
			out = append(out, spanMin)
		case name == "max" && len(call.Args) == 1 && isScanTime(call.Args[0], in, ec):
			out = append(out, spanMax)
		default:
			return nil
		}
	}
	return out
}

// isScanTime reports whether x names the TimeGenerated column of in's scan.
func isScanTime(x astExpr, in *plan, ec *ectx) bool {
	id, ok := unparen(x).(*astIdent)
	if !ok {
		return false
	}
	i := findCol(ec.cols, id.Name)
	if i < 0 {
		return false
	}
	o := ec.cols[i].origin
	return o != nil && o.node == in.scan.node && o.name == TimeColumn && ec.cols[i].Type == TypeDatetime
}

// spanRow is the one row of a summarize whose aggregates are aggs, from the source's count
// of in's rows; false when the source does not count them, or counted none (the aggregates
// of no rows are left to the engine).
func (p *planner) spanRow(ctx context.Context, in *plan, aggs []spanAgg) (Row, bool, error) {
	span := slices.ContainsFunc(aggs, func(a spanAgg) bool { return a != spanCount })
	if span && len(in.scan.exact) > 0 {
		return nil, false, nil // a source knows the span of the rows within bounds, not of those a predicate keeps
	}
	rc, counted, err := p.rowCount(ctx, in)
	if err != nil || !counted || rc.Rows == 0 || span && (rc.MinTime.IsZero() || rc.MaxTime.IsZero()) {
		return nil, false, err
	}
	row := make(Row, len(aggs))
	for i, a := range aggs {
		switch a {
		case spanCount:
			row[i] = rc.Rows
		case spanMin:
			row[i] = rc.MinTime.UTC()
		case spanMax:
			row[i] = rc.MaxTime.UTC()
		}
	}
	return row, true, nil
}
