package kql

// Expressions over aggregates, such as summarize Rate = sum(Failed) / count(): summarize
// computes each aggregation call in them as a hidden column, after the aggregates written as
// calls so that those keep their names, then a projection evaluates the expressions over the
// hidden columns and leaves them out.

// liftedAggs is summarize's aggregates when some are expressions over aggregates.
type liftedAggs struct {
	direct []astNamedExpr // the aggregates written as calls
	hidden []astNamedExpr // the aggregation calls inside expressions
	refs   []hiddenRef    // the references to hidden columns in the rewritten expressions
	outs   []liftedOut    // one per aggregate the query wrote, in order
}

// hiddenRef is a reference to hidden[i]'s column, named once that column's name is known.
type hiddenRef struct {
	id *astIdent
	i  int
}

// liftedOut is one aggregate the query wrote: direct[call], or, when call is -1, an
// expression whose aggregation calls refer to hidden columns.
type liftedOut struct {
	call int
	expr astNamedExpr
}

// liftAggregates returns list rewritten so, or nil when every entry is an aggregation call
// (or one is no aggregate at all, which summarizeGroups refuses with its position).
func liftAggregates(list []astNamedExpr) *liftedAggs {
	l := &liftedAggs{}
	for _, ne := range list {
		if isAggCall(ne.X) {
			l.outs = append(l.outs, liftedOut{call: len(l.direct)})
			l.direct = append(l.direct, ne)
			continue
		}
		if len(ne.Names) > 0 {
			return nil // a tuple names the columns of one aggregation call
		}
		before := len(l.hidden)
		x := l.lift(ne.X)
		if len(l.hidden) == before {
			return nil
		}
		l.outs = append(l.outs, liftedOut{call: -1, expr: astNamedExpr{Name: ne.Name, X: x}})
	}
	if len(l.hidden) == 0 {
		return nil
	}
	return l
}

func isAggCall(e astExpr) bool {
	c, ok := unparen(e).(*astCall)
	return ok && isAggregateCall(c)
}

// lift returns a copy of e in which each aggregation call is a reference to the hidden
// column that computes it; the query's tree is left as it is, for the other planning pass.
func (l *liftedAggs) lift(e astExpr) astExpr {
	switch x := e.(type) {
	case *astCall:
		if isAggregateCall(x) {
			id := &astIdent{P: x.P}
			l.refs = append(l.refs, hiddenRef{id: id, i: len(l.hidden)})
			l.hidden = append(l.hidden, astNamedExpr{X: x})
			return id
		}
		c := *x
		c.Args = l.liftAll(x.Args)
		return &c
	case *astBinary:
		c := *x
		c.L, c.R = l.lift(x.L), l.lift(x.R)
		return &c
	case *astUnary:
		c := *x
		c.X = l.lift(x.X)
		return &c
	case *astParen:
		c := *x
		c.X = l.lift(x.X)
		return &c
	case *astMember:
		c := *x
		c.X = l.lift(x.X)
		return &c
	case *astIndex:
		c := *x
		c.X, c.I = l.lift(x.X), l.lift(x.I)
		return &c
	case *astListOp:
		c := *x
		c.L, c.List = l.lift(x.L), l.liftAll(x.List)
		return &c
	case *astBetween:
		c := *x
		c.X, c.Lo, c.Hi = l.lift(x.X), l.lift(x.Lo), l.lift(x.Hi)
		return &c
	}
	return e
}

func (l *liftedAggs) liftAll(es []astExpr) []astExpr {
	out := make([]astExpr, len(es))
	for i, e := range es {
		out[i] = l.lift(e)
	}
	return out
}

// summarizeExprs plans summarize with expressions over aggregates: the groups with every
// aggregation call, then a projection of the group columns, the aggregates written as calls
// and the expressions, in the query's order. An unnamed expression is named as extend names
// it: tostring(make_set(x)) is set_x, sum(x) / count() is Column1.
func (p *planner) summarizeExprs(in *plan, o *astSummarizeOp, l *liftedAggs, ec *ectx, opName string) (*plan, error) {
	calls := append(append([]astNamedExpr(nil), l.direct...), l.hidden...)
	grouped, starts, err := p.summarizeGroups(in, &astSummarizeOp{P: o.P, Aggs: calls, By: o.By}, ec, opName)
	if err != nil {
		return nil, err
	}
	for _, r := range l.refs {
		k := len(l.direct) + r.i
		end := len(grouped.cols)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		if end-starts[k] != 1 {
			return nil, bindErr(r.id.P, "%s() gives %d columns and cannot be part of an expression; compute it on its own", l.hidden[r.i].X.(*astCall).Name, end-starts[k])
		}
		r.id.Name = grouped.cols[starts[k]].Name
	}
	var proj []astNamedExpr
	keep := func(from, to int) {
		for i := from; i < to; i++ {
			proj = append(proj, astNamedExpr{X: &astIdent{P: o.P, Name: grouped.cols[i].Name}})
		}
	}
	keep(0, len(o.By))
	for _, out := range l.outs {
		if out.call < 0 {
			proj = append(proj, out.expr)
			continue
		}
		end := len(grouped.cols)
		if out.call+1 < len(starts) {
			end = starts[out.call+1]
		}
		keep(starts[out.call], end)
	}
	return p.extend(grouped, proj, &ectx{cols: grouped.cols, sc: ec.sc}, true)
}
