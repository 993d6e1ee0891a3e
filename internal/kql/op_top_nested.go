package kql

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// astTopNestedOp is top-nested [N] of Expr [with others = C] by Agg [asc|desc], top-nested ...
type astTopNestedOp struct {
	P      srcPos
	Levels []topNestedLevel
}

// topNestedLevel is one top-nested clause.
type topNestedLevel struct {
	P      srcPos
	N      astExpr // nil: every value
	Of     astNamedExpr
	Others astExpr // nil: no others row
	By     astNamedExpr
	Asc    bool
}

func (o *astTopNestedOp) opPos() srcPos { return o.P }

// parseTopNested reads the clauses of top-nested, the first one's name already read.
func parseTopNested(p *parser, pos srcPos, _ string) (astOp, error) {
	op := &astTopNestedOp{P: pos}
	for {
		lv, err := p.topNestedLevel(pos)
		if err != nil {
			return nil, err
		}
		op.Levels = append(op.Levels, lv)
		if !p.isOp(",") {
			return op, nil
		}
		p.next()
		t := p.peek()
		if !(p.isKw("top") && p.peekN(1).kind == tOp && p.peekN(1).text == "-" && strings.EqualFold(p.peekN(2).text, "nested")) {
			return nil, p.errAt(t, "expected top-nested after the comma")
		}
		pos = posOf(t)
		p.i += 3
	}
}

func (p *parser) topNestedLevel(pos srcPos) (topNestedLevel, error) {
	lv := topNestedLevel{P: pos}
	var err error
	if !p.isKw("of") {
		if lv.N, err = p.expr(); err != nil {
			return lv, err
		}
	}
	if err := p.wantKw("of"); err != nil {
		return lv, err
	}
	if lv.Of, err = p.named(); err != nil {
		return lv, err
	}
	if p.acceptKw("with") {
		if err := p.wantKw("others"); err != nil {
			return lv, err
		}
		if err := p.wantOp("="); err != nil {
			return lv, err
		}
		if lv.Others, err = p.expr(); err != nil {
			return lv, err
		}
	}
	if err := p.wantKw("by"); err != nil {
		return lv, err
	}
	if lv.By, err = p.named(); err != nil {
		return lv, err
	}
	if p.acceptKw("asc") {
		lv.Asc = true
	} else {
		p.acceptKw("desc")
	}
	return lv, nil
}

// nestedLevel is a bound top-nested clause.
type nestedLevel struct {
	n       int64 // -1: every value
	key     func(Row) any
	agg     func() aggState
	others  any
	hasRest bool // with others
	asc     bool
}

// maxNestedLevels bounds the clauses: each may multiply the rows of the result.
const maxNestedLevels = 32

func (o *astTopNestedOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	if len(o.Levels) > maxNestedLevels {
		return nil, bindErr(o.P, "top-nested takes at most %d clauses", maxNestedLevels)
	}
	var cols []colInfo
	used := func(n string) bool { return findCol(cols, n) >= 0 }
	levels := make([]nestedLevel, len(o.Levels))
	for k, lv := range o.Levels {
		b := &levels[k]
		b.n = -1
		if lv.N != nil {
			c, err := p.expr(lv.N, ec)
			if err != nil {
				return nil, err
			}
			n, ok := konstLong(c)
			if !ok || n < 0 {
				return nil, bindErr(lv.N.pos(), "top-nested needs a constant number of values, 0 or more")
			}
			b.n = n
		}
		key, err := p.expr(lv.Of.X, ec)
		if err != nil {
			return nil, err
		}
		b.key = key.fn
		name := lv.Of.Name
		if name == "" {
			name = key.name
		}
		if name == "" {
			name = "Column" + strconv.Itoa(k+1)
		}
		if used(name) {
			return nil, bindErr(lv.Of.X.pos(), "column %q appears twice in top-nested", name)
		}
		cols = append(cols, colInfo{Name: name, Type: nonNull(key.t)})
		if lv.Others != nil {
			c, err := p.expr(lv.Others, ec)
			if err != nil {
				return nil, err
			}
			if !c.konst {
				return nil, bindErr(lv.Others.pos(), "with others needs a constant")
			}
			b.others, b.hasRest = convertTo(c.value(), nonNull(key.t)), true
		}
		call, ok := unparen(lv.By.X).(*astCall)
		var spec aggSpec
		if ok {
			spec = aggs[strings.ToLower(call.Name)]
		}
		if spec == nil {
			return nil, bindErr(lv.By.X.pos(), "top-nested needs an aggregation such as sum(), count(), max(), min(), dcount(), avg() or percentile() after by")
		}
		acols, fac, err := spec(p, call, ec)
		if err != nil {
			return nil, err
		}
		if len(acols) != 1 {
			return nil, bindErr(call.P, "top-nested needs an aggregation of one value; %s() gives %d", call.Name, len(acols))
		}
		aname := lv.By.Name
		if aname == "" {
			aname = "aggregated_" + name
		}
		cols = append(cols, colInfo{Name: uniqueName(aname, used), Type: acols[0].Type})
		b.agg, b.asc = fac, lv.Asc
	}
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		acct := p.run.account("top-nested")
		var rows []Row
		err := readAll(ctx, in.open, func(b []Row) error {
			rows = append(rows, b...)
			return acct.addRows(b)
		})
		if err != nil {
			acct.release()
			return nil, err
		}
		tn := &topNested{levels: levels, cols: cols, acct: acct}
		if err := tn.level(0, rows, nil); err != nil {
			acct.release()
			return nil, err
		}
		return &sliceIter{rows: tn.out, acct: acct}, nil
	}
	return out, nil
}

// topNested builds the rows of a top-nested over rows held in memory.
type topNested struct {
	levels []nestedLevel
	cols   []colInfo
	acct   *memAccount
	out    []Row
}

// nestedGroup is the rows of one value of a clause's expression and their aggregate.
type nestedGroup struct {
	key   any
	rows  []Row
	state aggState
	value any
}

// level groups rows by clause k's expression, keeps the top groups by their aggregate and
// goes on with each below prefix, the values of the clauses above.
func (t *topNested) level(k int, rows []Row, prefix Row) error {
	if k == len(t.levels) {
		t.out = append(t.out, slices.Clone(prefix))
		return t.acct.addRows(t.out[len(t.out)-1:])
	}
	lv := t.levels[k]
	byKey := map[string]*nestedGroup{}
	var groups []*nestedGroup
	var kb []byte
	for _, r := range rows {
		v := lv.key(r)
		kb = keyAppend(kb[:0], v)
		g := byKey[string(kb)]
		if g == nil {
			g = &nestedGroup{key: v, state: lv.agg()}
			byKey[string(kb)] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
		g.state.add(r)
	}
	if err := t.acct.add(int64(len(groups)) * (mapEntryBytes + 96)); err != nil {
		return err
	}
	for _, g := range groups {
		g.value = g.state.result()[0]
	}
	slices.SortStableFunc(groups, func(a, b *nestedGroup) int {
		switch {
		case a.value == nil && b.value == nil:
			return 0
		case a.value == nil:
			return 1
		case b.value == nil:
			return -1
		}
		if lv.asc {
			return sortCompare(a.value, b.value)
		}
		return sortCompare(b.value, a.value)
	})
	top := groups
	if lv.n >= 0 && int64(len(groups)) > lv.n {
		top = groups[:lv.n]
	}
	for _, g := range top {
		if err := t.level(k+1, g.rows, append(prefix, g.key, g.value)); err != nil {
			return err
		}
	}
	if lv.hasRest && len(top) < len(groups) {
		st := lv.agg()
		for _, g := range groups[len(top):] {
			for _, r := range g.rows {
				st.add(r)
			}
		}
		row := make(Row, len(t.cols))
		copy(row, prefix)
		row[len(prefix)], row[len(prefix)+1] = lv.others, st.result()[0]
		for i := len(prefix) + 2; i < len(row); i++ {
			if t.cols[i].Type == TypeString {
				row[i] = "" // the clauses below an others row have no value
			}
		}
		t.out = append(t.out, row)
		return t.acct.addRows(t.out[len(t.out)-1:])
	}
	return nil
}
