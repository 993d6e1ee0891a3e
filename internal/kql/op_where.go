package kql

// astWhereOp is where (filter) Pred.
type astWhereOp struct {
	P    srcPos
	Pred astExpr
}

func (o *astWhereOp) opPos() srcPos { return o.P }

// parseWhere reads where (filter) Predicate.
func parseWhere(p *parser, pos srcPos, _ string) (astOp, error) {
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &astWhereOp{P: pos, Pred: x}, nil
}

func (o *astWhereOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.where(in, o, withIngest(ec, in))
}

func (p *planner) where(in *plan, o *astWhereOp, ec *ectx) (*plan, error) {
	pred, err := p.expr(o.Pred, ec)
	if err != nil {
		return nil, err
	}
	if pred.t != TypeBool && pred.t != TypeDynamic && pred.t != TypeNull {
		return nil, bindErr(o.P, "where needs a bool predicate, not %s", pred.t)
	}
	bounds := false // the clause is all time bounds of the scan
	if in.scan != nil && p.run != nil {
		bounds = p.pushdown(in, o.Pred, ec)
	}
	switch {
	case ec.usesIngest():
		return narrowed(filterPlan(in.ingest(), pred)), nil
	case in.ingest != nil:
		out := filterPlan(in, pred)
		out.ingest = func() *plan { return filterPlan(in.ingest(), pred) }
		out.bounded = in.bounded && bounds
		return out, nil
	}
	out := filterPlan(in, pred)
	out.bounded = in.bounded && bounds
	return out, nil
}
