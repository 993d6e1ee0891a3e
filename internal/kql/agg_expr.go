package kql

import (
	"strconv"
	"strings"
)

// Expressions over aggregates, such as summarize Rate = sum(Failed) / count(): summarize
// computes each aggregation call in them as a hidden column, then a projection evaluates the
// expressions over those columns and leaves the hidden ones out.

// hiddenAggPrefix starts the names of the hidden columns; a query cannot write it bare.
const hiddenAggPrefix = "$agg"

// liftedAggs is summarize's aggregates when some are expressions over aggregates.
type liftedAggs struct {
	calls []astNamedExpr // the aggregation calls summarizeGroups computes
	outs  []liftedOut    // one per aggregate the query wrote, in order
}

// liftedOut is one aggregate the query wrote: computed as written (calls[call]), or, when
// call is -1, an expression whose aggregation calls refer to hidden columns.
type liftedOut struct {
	call int
	expr astNamedExpr
}

// liftAggregates returns list rewritten so, or nil when every entry is an aggregation call
// (or one is no aggregate at all, which summarizeGroups refuses with its position).
func liftAggregates(list []astNamedExpr) *liftedAggs {
	l := &liftedAggs{}
	exprs := false
	for _, ne := range list {
		if isAggCall(ne.X) {
			l.outs = append(l.outs, liftedOut{call: len(l.calls)})
			l.calls = append(l.calls, ne)
			continue
		}
		if len(ne.Names) > 0 {
			return nil // a tuple names the columns of one aggregation call
		}
		before := len(l.calls)
		x := l.lift(ne.X)
		if len(l.calls) == before {
			return nil
		}
		exprs = true
		l.outs = append(l.outs, liftedOut{call: -1, expr: astNamedExpr{Name: ne.Name, X: x}})
	}
	if !exprs {
		return nil
	}
	return l
}

func isAggCall(e astExpr) bool {
	c, ok := unparen(e).(*astCall)
	return ok && aggs[strings.ToLower(c.Name)] != nil
}

// lift returns a copy of e in which each aggregation call is a reference to the hidden
// column that computes it; the query's tree is left as it is, for the other planning pass.
func (l *liftedAggs) lift(e astExpr) astExpr {
	switch x := e.(type) {
	case *astCall:
		if aggs[strings.ToLower(x.Name)] != nil {
			name := hiddenAggPrefix + strconv.Itoa(len(l.calls)+1)
			l.calls = append(l.calls, astNamedExpr{Name: name, X: x})
			return &astIdent{P: x.P, Name: name}
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
// and the expressions, in the query's order. An unnamed expression is Column1, Column2, …
func (p *planner) summarizeExprs(in *plan, o *astSummarizeOp, l *liftedAggs, ec *ectx, opName string) (*plan, error) {
	grouped, starts, err := p.summarizeGroups(in, &astSummarizeOp{P: o.P, Aggs: l.calls, By: o.By}, ec, opName)
	if err != nil {
		return nil, err
	}
	ends := append(append([]int(nil), starts[1:]...), len(grouped.cols))
	var proj []astNamedExpr
	keep := func(i int) {
		proj = append(proj, astNamedExpr{X: &astIdent{P: o.P, Name: grouped.cols[i].Name}})
	}
	for i := range o.By {
		keep(i)
	}
	used := func(n string) bool {
		if findCol(grouped.cols, n) >= 0 {
			return true
		}
		for _, ne := range proj {
			if ne.Name == n {
				return true
			}
		}
		return false
	}
	auto := 0
	for _, out := range l.outs {
		if out.call >= 0 {
			for i := starts[out.call]; i < ends[out.call]; i++ {
				keep(i)
			}
			continue
		}
		ne := out.expr
		if ne.Name == "" {
			for auto++; used("Column" + strconv.Itoa(auto)); auto++ {
			}
			ne.Name = "Column" + strconv.Itoa(auto)
		}
		proj = append(proj, ne)
	}
	return p.extend(grouped, proj, &ectx{cols: grouped.cols, sc: ec.sc}, true)
}
