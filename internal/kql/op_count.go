package kql

import "context"

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
		var n int64
		var err error
		if in.openCols != nil {
			// by column: no row is boxed
			err = readAll(ctx, in.openCols, func(cb *colBatch) error {
				n += int64(len(cb.sel))
				return nil
			})
		} else {
			err = readAll(ctx, in.open, func(rows []Row) error {
				n += int64(len(rows))
				return nil
			})
		}
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: []Row{{n}}}, nil
	}}
}
