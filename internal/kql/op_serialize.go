package kql

// astSerializeOp is serialize [Cols].
type astSerializeOp struct {
	P    srcPos
	Cols []astNamedExpr
}

func (o *astSerializeOp) opPos() srcPos { return o.P }

// parseSerialize reads serialize [[Name=]Expr, ...].
func parseSerialize(p *parser, pos srcPos, _ string) (astOp, error) {
	op := &astSerializeOp{P: pos}
	if p.peek().kind == tIdent {
		cols, err := p.namedList()
		if err != nil {
			return nil, err
		}
		op.Cols = cols
	}
	return op, nil
}

// bind extends the input by the columns given, if any; rows keep their order either way.
func (o *astSerializeOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	if len(o.Cols) > 0 {
		return p.extend(in, o.Cols, ec, false)
	}
	cp := *in
	cp.scan = nil
	return &cp, nil
}
