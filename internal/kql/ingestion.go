package kql

import (
	"context"
	"strings"
	"time"
)

// ingestion_time() is each row's ingestion time, a hidden column of the source's tables: in no
// schema, never among a table's columns, returned by a scan only when asked for by
// IngestionTimeColumn. The rows of a scan, and of the where clauses right after it, can carry
// it as one more cell after their columns (a plan's ingest variant); the where, extend,
// project and summarize that read such rows may call ingestion_time(). The cell never leaves
// the operator that reads it: every other plan's rows are as wide as its columns, so that no
// operator, result or schema ever sees it.

// IngestionTimeColumn is the name under which a scan asks a source for each row's ingestion
// time (datetime; null where unknown). It is not valid UTF-8, so no table's column has it.
const IngestionTimeColumn = "\xffIngestionTime"

// ingestCell is the place, in the rows of the plan an expression reads, of the ingestion-time
// cell; used is set once an expression of the operator calls ingestion_time(), so that the
// operator reads its input's ingest variant. Copies of an ectx share it.
type ingestCell struct {
	idx  int
	used bool
}

// withIngest is ec for an operator that may call ingestion_time() on the rows of in: those of
// a scan and its where clauses.
func withIngest(ec *ectx, in *plan) *ectx {
	if in.ingest != nil {
		ec.ing = &ingestCell{idx: len(in.cols)}
	}
	return ec
}

// usesIngest reports whether the operator's expressions called ingestion_time(): it must then
// read in.ingest(), whose rows have the cell.
func (ec *ectx) usesIngest() bool { return ec.ing != nil && ec.ing.used }

// ingestionTime compiles a call of ingestion_time().
func (p *planner) ingestionTime(x *astCall, ec *ectx) (cexpr, error) {
	if len(x.Args) != 0 {
		return cexpr{}, bindErr(x.P, "ingestion_time() takes no arguments, got %d", len(x.Args))
	}
	if ec.ing == nil {
		return cexpr{}, bindErr(x.P, "ingestion_time() is known only for the rows of a table: "+
			"use it in a where, extend, project or summarize right after the table and its where clauses "+
			"(extend it into a column to keep it further)")
	}
	ec.ing.used = true
	i := ec.ing.idx
	return cexpr{t: TypeDatetime, col: -1, fn: func(r Row) any { return r[i] }}, nil
}

// isIngestionTimeCall reports whether e is a call of ingestion_time() with no arguments.
func isIngestionTimeCall(e astExpr) bool {
	c, ok := unparen(e).(*astCall)
	return ok && strings.EqualFold(c.Name, "ingestion_time") && len(c.Args) == 0
}

// narrowed is the plan w, whose rows carry the ingestion-time cell, with rows as wide as its
// columns; its ingest variant is w.
func narrowed(w *plan) *plan {
	n := len(w.cols)
	out := &plan{cols: w.cols, scan: w.scan, ingest: func() *plan { return w }}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := w.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			for i, r := range rows {
				rows[i] = r[:n:n]
			}
			return rows
		}}, nil
	}
	if w.openCols != nil {
		out.openCols = func(ctx context.Context) (colIter, error) {
			it, err := w.openCols(ctx)
			if err != nil {
				return nil, err
			}
			return &narrowCols{in: it, n: n}, nil
		}
	}
	return out
}

// narrowCols leaves the ingestion-time cell out of the rows its batches box.
type narrowCols struct {
	in colIter
	n  int
}

func (c *narrowCols) Next(ctx context.Context) (*colBatch, error) {
	cb, err := c.in.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &colBatch{b: cb.b, sel: cb.sel, strs: cb.strs[:c.n]}, nil
}

func (c *narrowCols) Close() { c.in.Close() }

// pushIngestBound narrows the scan's ingestion-time bounds by the conjunct "ingestion_time()
// op t" (a nanosecond inside t for a strict comparison: the bounds are exclusive after,
// inclusive up to). The where still filters: a row whose ingestion time is unknown passes
// the source's IngestedUpTo and fails the comparison.
func pushIngestBound(sn *scanNode, op string, t time.Time) {
	after := func(t time.Time) {
		if sn.req.IngestedAfter.IsZero() || t.After(sn.req.IngestedAfter) {
			sn.req.IngestedAfter = t
		}
	}
	upTo := func(t time.Time) {
		if sn.req.IngestedUpTo.IsZero() || t.Before(sn.req.IngestedUpTo) {
			sn.req.IngestedUpTo = t
		}
	}
	switch op {
	case ">":
		after(t)
	case ">=":
		after(t.Add(-time.Nanosecond))
	case "<":
		upTo(t.Add(-time.Nanosecond))
	case "<=":
		upTo(t)
	case "==":
		after(t.Add(-time.Nanosecond))
		upTo(t)
	}
}

// pushIngestion pushes a conjunct that compares ingestion_time() with a constant datetime, and
// reports whether it was one.
func (p *planner) pushIngestion(sn *scanNode, conj astExpr, ec *ectx) bool {
	konst := func(e astExpr) (time.Time, bool) {
		c, err := p.expr(e, ec)
		if err != nil || !c.konst {
			return time.Time{}, false
		}
		t, ok := c.value().(time.Time)
		return t, ok
	}
	switch x := conj.(type) {
	case *astBinary:
		op := x.Op
		k := x.R
		if !isIngestionTimeCall(x.L) {
			if !isIngestionTimeCall(x.R) {
				return false
			}
			op, k = flipOp(op), x.L
		}
		if t, ok := konst(k); ok {
			pushIngestBound(sn, op, t)
		}
		return true
	case *astBetween:
		if !isIngestionTimeCall(x.X) {
			return false
		}
		lo, ok1 := konst(x.Lo)
		hi, ok2 := konst(x.Hi)
		if !x.Not && ok1 && ok2 {
			pushIngestBound(sn, ">=", lo)
			pushIngestBound(sn, "<=", hi)
		}
		return true
	}
	return false
}

// ingestBounds applies the run's ingestion-time bounds (Options) to a scan's: the tighter of
// each.
func ingestBounds(req *ScanRequest, opts Options) {
	if a := opts.IngestedAfter; !a.IsZero() && (req.IngestedAfter.IsZero() || a.After(req.IngestedAfter)) {
		req.IngestedAfter = a
	}
	if u := opts.IngestedUpTo; !u.IsZero() && (req.IngestedUpTo.IsZero() || u.Before(req.IngestedUpTo)) {
		req.IngestedUpTo = u
	}
}
