package kql

import (
	"context"
	"slices"
)

// astMvApplyOp is mv-apply Expansion on (SubQuery): the expansion is written as mv-expand's
// (item index, columns with their types, limit), the subquery as the operators of a pipe
// whose input is the expanded rows of one input row.
type astMvApplyOp struct {
	P      srcPos
	Expand *astMvExpandOp
	Sub    []astOp
}

func (o *astMvApplyOp) opPos() srcPos { return o.P }

// parseMvApply reads mv-apply [with_itemindex=N] [Name=]Expr [to typeof(T)], ... [limit N]
// on (Operator | Operator ...); the subquery's first operator may be written after a pipe.
func parseMvApply(p *parser, pos srcPos, _ string) (astOp, error) {
	ex, err := parseMvExpand(p, pos, "mv-apply")
	if err != nil {
		return nil, err
	}
	op := &astMvApplyOp{P: pos, Expand: ex.(*astMvExpandOp)}
	if err := p.wantKw("on"); err != nil {
		return nil, err
	}
	if err := p.wantOp("("); err != nil {
		return nil, err
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.acceptOp("|")
	for {
		sub, err := p.operator()
		if err != nil {
			return nil, err
		}
		op.Sub = append(op.Sub, sub)
		if !p.acceptOp("|") {
			break
		}
	}
	return op, p.wantOp(")")
}

// bind plans mv-apply as the documentation describes it: each input row expands (as
// mv-expand does) into a subtable of its other columns, the expanded values and the item
// index; the subquery runs over that subtable; each row the subquery returns gets the input
// row's columns that were not expanded, those the subquery returned taking precedence. A
// column expanded under its own name leaves the input's columns (its values come from the
// subquery); one expanded under a new name (x = Column) stays, as content relies on when it
// applies to the same column twice.
func (o *astMvApplyOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	x := o.Expand
	removed := map[int]bool{}
	type bound struct {
		c    cexpr
		name string
		to   Type
	}
	var bs []bound
	for _, mc := range x.Cols {
		c, err := p.expr(mc.X, ec)
		if err != nil {
			return nil, err
		}
		if c.t != TypeDynamic && c.t != TypeNull {
			return nil, bindErr(mc.X.pos(), "mv-apply needs a dynamic array or bag to expand, not %s", c.t)
		}
		if c.col >= 0 && (mc.Name == "" || mc.Name == in.cols[c.col].Name) {
			removed[c.col] = true
		}
		bs = append(bs, bound{c: c, name: mc.Name, to: mc.To})
	}
	// the subtable: the input's columns less the expanded ones, then the expansions
	var outerIdx []int
	var sub []colInfo
	for i, c := range in.cols {
		if !removed[i] {
			outerIdx = append(outerIdx, i)
			sub = append(sub, c)
		}
	}
	outer := slices.Clone(sub)
	var exs []mvCol
	for _, b := range bs {
		var e mvCol
		sub, e = placeMvCol(sub, b.name, b.c, b.to)
		exs = append(exs, e)
	}
	itemIdx := -1
	if x.ItemIndex != "" {
		if findCol(sub, x.ItemIndex) >= 0 {
			return nil, bindErr(x.P, "mv-apply with_itemindex=%s names a column the expansion already has; choose another name", x.ItemIndex)
		}
		itemIdx = len(sub)
		sub = append(sub, colInfo{Name: x.ItemIndex, Type: TypeLong})
	}
	limit, err := p.mvLimit(x, ec)
	if err != nil {
		return nil, err
	}
	// the subquery, planned once over a source that replays the current row's subtable
	var cur []Row
	src := &plan{cols: sub, open: func(context.Context) (iterator, error) { return &sliceIter{rows: cur}, nil }}
	sp := src
	p.perRow++
	for _, op := range o.Sub {
		if sp, err = p.operator(sp, op, ec.sc); err != nil {
			p.perRow--
			return nil, err
		}
	}
	p.perRow--
	// the output: the input's other columns the subquery did not return, then its columns
	var cols []colInfo
	type cell struct{ fromSub, idx int }
	var cells []cell
	for k, c := range outer {
		if findCol(sp.cols, c.Name) < 0 {
			cols = append(cols, c)
			cells = append(cells, cell{fromSub: -1, idx: outerIdx[k]})
		}
	}
	for i, c := range sp.cols {
		cols = append(cols, c)
		cells = append(cells, cell{fromSub: i})
	}
	width, subWidth, bag := len(cols), len(sub), x.Bag
	rowCost := int64(rowHeaderBytes + cellBytes*width)
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		vals := make([][]any, len(exs))
		held := p.run.account("mv-apply")
		return &expandIter{in: it, out: batchAccount{acct: p.run.account("mv-apply")}, fn: func(rows []Row, ob *batchAccount) ([]Row, error) {
			var res []Row
			for _, r := range rows {
				n := mvValues(vals, exs, r, bag, limit)
				cur = make([]Row, n)
				for i := range cur {
					row := make(Row, subWidth)
					for k, j := range outerIdx {
						row[k] = r[j]
					}
					setMvCells(row, i, vals, exs, itemIdx)
					cur[i] = row
				}
				if err := held.addRows(cur); err != nil {
					return nil, err
				}
				got, err := p.run.collect(sp, held)
				if err != nil {
					held.release()
					return nil, err
				}
				if res, err = ob.grow(res, len(got), rowCost); err != nil {
					held.release()
					return nil, err
				}
				for _, g := range got {
					row := make(Row, width)
					for k, c := range cells {
						if c.fromSub >= 0 {
							row[k] = g[c.fromSub]
						} else {
							row[k] = r[c.idx]
						}
					}
					res = append(res, row)
				}
				held.release()
			}
			cur = nil
			return res, nil
		}}, nil
	}
	return out, nil
}

// mvLimit is the constant limit of mv-expand or mv-apply, or no limit.
func (p *planner) mvLimit(x *astMvExpandOp, ec *ectx) (int64, error) {
	if x.Limit == nil {
		return 1<<31 - 1, nil
	}
	c, err := p.expr(x.Limit, ec)
	if err != nil {
		return 0, err
	}
	if !c.konst || !isNumeric(c.t) {
		return 0, bindErr(x.Limit.pos(), "the limit of mv-expand or mv-apply must be a constant number")
	}
	l, ok := asLong(c.value())
	if !ok || l < 0 {
		return 0, bindErr(x.Limit.pos(), "the limit of mv-expand or mv-apply must be a constant number of at least 0")
	}
	return l, nil
}
