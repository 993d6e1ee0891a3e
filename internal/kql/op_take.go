package kql

import (
	"context"
	"io"
)

// astTakeOp is take (limit) N.
type astTakeOp struct {
	P srcPos
	N astExpr
}

func (o *astTakeOp) opPos() srcPos { return o.P }

// parseTake reads take (limit) N.
func parseTake(p *parser, pos srcPos, _ string) (astOp, error) {
	n, err := p.expr()
	return &astTakeOp{P: pos, N: n}, err
}

func (o *astTakeOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.take(in, o, ec)
}

func (p *planner) take(in *plan, o *astTakeOp, ec *ectx) (*plan, error) {
	c, err := p.expr(o.N, ec)
	if err != nil {
		return nil, err
	}
	if !isNumeric(c.t) || !c.konst {
		return nil, bindErr(o.P, "take needs a constant row count")
	}
	out := &plan{cols: in.cols}
	out.open = func(ctx context.Context) (iterator, error) {
		n, _ := asLong(c.fn(nil))
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &takeIter{in: it, left: max(n, 0)}, nil
	}
	return out, nil
}

type takeIter struct {
	in   iterator
	left int64
}

func (t *takeIter) Next(ctx context.Context) ([]Row, error) {
	if t.left <= 0 {
		return nil, io.EOF
	}
	rows, err := t.in.Next(ctx)
	if err != nil {
		return nil, err
	}
	if int64(len(rows)) > t.left {
		rows = rows[:t.left]
	}
	t.left -= int64(len(rows))
	return rows, nil
}

func (t *takeIter) Close() { t.in.Close() }
