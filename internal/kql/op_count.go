package kql

import (
	"context"
	"fmt"
	"slices"
)

// astCountOp is count.
type astCountOp struct{ P srcPos }

func (o *astCountOp) opPos() srcPos { return o.P }

// parseCount reads count.
func parseCount(_ *parser, pos srcPos, _ string) (astOp, error) {
	return &astCountOp{P: pos}, nil
}

func (o *astCountOp) bind(p *planner, in *plan, _ *ectx) (*plan, error) {
	return p.count(in), nil
}

func (p *planner) count(in *plan) *plan {
	return &plan{cols: []colInfo{{Name: "Count", Type: TypeLong}}, open: func(ctx context.Context) (iterator, error) {
		// a scan within its time bounds and exact predicates (plan.bounded) is counted
		// by the source, when it counts (RowCounter): no row is read
		rc, counted, err := p.rowCount(ctx, in)
		n := rc.Rows
		if err == nil && !counted {
			n, err = countRead(ctx, in)
		}
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: []Row{{n}}}, nil
	}}
}

// countRead counts the rows of in by reading them.
func countRead(ctx context.Context, in *plan) (int64, error) {
	var n int64
	if in.openCols != nil {
		// by column: no row is boxed
		err := readAll(ctx, in.openCols, func(cb *colBatch) error {
			n += int64(len(cb.sel))
			return nil
		})
		return n, err
	}
	err := readAll(ctx, in.open, func(rows []Row) error {
		n += int64(len(rows))
		return nil
	})
	return n, err
}

// rowCount asks the source for its count of the rows of a scan within its time bounds and
// exact predicates, when the plan is one (plan.bounded) and the source counts (RowCounter).
func (p *planner) rowCount(ctx context.Context, in *plan) (RowCount, bool, error) {
	rc, ok := p.run.src.(RowCounter)
	if !ok || !in.bounded || in.scan == nil {
		return RowCount{}, false, nil
	}
	req := p.scanRequest(in.scan, nil, false)
	req.Predicates = slices.Clone(in.scan.exact) // the others are time bounds, which From and To hold
	n, counted, err := rc.CountRows(ctx, req)
	if err != nil {
		return RowCount{}, false, fmt.Errorf("scan %s: %w", req.Table, err)
	}
	if counted {
		p.run.scans = append(p.run.scans, req)
		p.run.rowsScanned += n.Rows
	}
	return n, counted, nil
}
