package kql

// astDistinctOp is distinct Cols.
type astDistinctOp struct {
	P    srcPos
	Cols []astNamedExpr // nil for *
}

func (o *astDistinctOp) opPos() srcPos { return o.P }

// parseDistinct reads distinct * or distinct [Name=]Expr, ...
func parseDistinct(p *parser, pos srcPos, _ string) (astOp, error) {
	if p.acceptOp("*") {
		return &astDistinctOp{P: pos}, nil
	}
	cols, err := p.namedList()
	return &astDistinctOp{P: pos, Cols: cols}, err
}

// bind plans distinct as a summarize by its columns (all of them for *) with no aggregates.
func (o *astDistinctOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	if o.Cols == nil {
		p.markAll(in)
		var all []astNamedExpr
		for _, c := range in.cols {
			if !c.hidden {
				all = append(all, astNamedExpr{X: &astIdent{P: o.P, Name: c.Name}})
			}
		}
		return p.summarize(in, &astSummarizeOp{P: o.P, By: all}, ec, "distinct")
	}
	return p.summarize(in, &astSummarizeOp{P: o.P, By: o.Cols}, ec, "distinct")
}
