package kql

import (
	"context"
	"strings"
)

// astMvExpandOp is mv-expand Cols.
type astMvExpandOp struct {
	P         srcPos
	Bag       bool // bagexpansion=bag (default) vs array
	ItemIndex string
	Cols      []astMvCol
	Limit     astExpr
}

// astMvCol is one expanded column of mv-expand.
type astMvCol struct {
	Name string
	X    astExpr
	To   Type // TypeDynamic unless `to typeof(T)`
}

func (o *astMvExpandOp) opPos() srcPos { return o.P }

// parseMvExpand reads mv-expand [bagexpansion=K] [with_itemindex=N] [Name=]Expr [to typeof(T)], ... [limit N].
func parseMvExpand(p *parser, pos srcPos, _ string) (astOp, error) {
	prm, err := p.params("bagexpansion", "kind", "with_itemindex")
	if err != nil {
		return nil, err
	}
	op := &astMvExpandOp{P: pos, Bag: !strings.EqualFold(prm["bagexpansion"]+prm["kind"], "array"), ItemIndex: prm["with_itemindex"]}
	for {
		ne, err := p.named()
		if err != nil {
			return nil, err
		}
		mc := astMvCol{Name: ne.Name, X: ne.X, To: TypeDynamic}
		if p.acceptKw("to") {
			if err := p.wantKw("typeof"); err != nil {
				return nil, err
			}
			if err := p.wantOp("("); err != nil {
				return nil, err
			}
			if mc.To, err = p.typ(); err != nil {
				return nil, err
			}
			if err := p.wantOp(")"); err != nil {
				return nil, err
			}
		}
		op.Cols = append(op.Cols, mc)
		if !p.acceptOp(",") {
			break
		}
	}
	if p.acceptKw("limit") {
		if op.Limit, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return op, nil
}

func (o *astMvExpandOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.mvExpand(in, o, ec)
}

func (p *planner) mvExpand(in *plan, o *astMvExpandOp, ec *ectx) (*plan, error) {
	cols := append([]colInfo(nil), in.cols...)
	var exs []mvCol
	for _, mc := range o.Cols {
		c, err := p.expr(mc.X, ec)
		if err != nil {
			return nil, err
		}
		if c.t != TypeDynamic && c.t != TypeNull {
			return nil, bindErr(mc.X.pos(), "mv-expand needs a dynamic array or bag, not %s", c.t)
		}
		var e mvCol
		cols, e = placeMvCol(cols, mc.Name, c, mc.To)
		exs = append(exs, e)
	}
	itemIdx := -1
	if o.ItemIndex != "" {
		itemIdx = len(cols)
		cols = append(cols, colInfo{Name: o.ItemIndex, Type: TypeLong})
	}
	limit := int64(1<<31 - 1)
	if o.Limit != nil {
		c, err := p.expr(o.Limit, ec)
		if err != nil {
			return nil, err
		}
		if !c.konst || !isNumeric(c.t) {
			return nil, bindErr(o.Limit.pos(), "mv-expand limit must be a constant number")
		}
		if l, ok := asLong(c.value()); ok {
			limit = l
		}
	}
	width, inWidth, bag := len(cols), len(in.cols), o.Bag
	rowCost := int64(cellBytes * width)
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		vals := make([][]any, len(exs))
		return &expandIter{in: it, out: batchAccount{acct: p.run.account("mv-expand")}, fn: func(rows []Row, out *batchAccount) ([]Row, error) {
			var res []Row
			for _, r := range rows {
				n := mvValues(vals, exs, r, bag, limit)
				// the new rows' cells; array elements are the input's values (a bag's
				// entries become small new bags, which this leaves out)
				var err error
				if res, err = out.grow(res, n, rowCost); err != nil {
					return nil, err
				}
				for i := 0; i < n; i++ {
					row := make(Row, width)
					copy(row, r[:inWidth])
					setMvCells(row, i, vals, exs, itemIdx)
					res = append(res, row)
				}
			}
			return res, nil
		}}, nil
	}
	return out, nil
}

// mvCol is one expanded column of mv-expand or mv-apply: how to compute its
// array, where it lands in the row and the type its elements take.
type mvCol struct {
	fn  func(Row) any
	idx int
	to  Type
}

// placeMvCol names an expanded column (name as written, else the expression's,
// else a new ColumnN) and puts it in cols: over the column of that name, or
// at the end.
func placeMvCol(cols []colInfo, name string, c cexpr, to Type) ([]colInfo, mvCol) {
	if name == "" {
		name = c.name
	}
	if name == "" {
		name = uniqueName("Column1", func(n string) bool { return findCol(cols, n) >= 0 })
	}
	ci := colInfo{Name: name, Type: to}
	idx := findCol(cols, name)
	if idx >= 0 {
		cols[idx] = ci
	} else {
		idx = len(cols)
		cols = append(cols, ci)
	}
	return cols, mvCol{fn: c.fn, idx: idx, to: to}
}

// mvValues expands r's value of each column of exs into vals and returns how
// many rows they make: the longest, at most limit.
func mvValues(vals [][]any, exs []mvCol, r Row, bag bool, limit int64) int {
	n := 0
	for k, e := range exs {
		vals[k] = expandValue(e.fn(r), bag)
		n = max(n, len(vals[k]))
	}
	return int(min(int64(n), limit))
}

// setMvCells writes the i-th expanded row's cells into row: each column's
// i-th value cast to its type (null past a shorter column's end), and the
// item index when asked for.
func setMvCells(row Row, i int, vals [][]any, exs []mvCol, itemIdx int) {
	for k, e := range exs {
		var v any
		if i < len(vals[k]) {
			v = vals[k][i]
		}
		row[e.idx] = castFromDynamic(v, e.to)
	}
	if itemIdx >= 0 {
		row[itemIdx] = int64(i)
	}
}

// expandIter is an operator whose output batch may be many times its input batch (mv-expand):
// fn charges the batch it builds to out, and empty batches are skipped.
type expandIter struct {
	in  iterator
	out batchAccount
	fn  func([]Row, *batchAccount) ([]Row, error)
}

func (e *expandIter) Next(ctx context.Context) ([]Row, error) {
	e.out.next()
	for {
		rows, err := e.in.Next(ctx)
		if err != nil {
			return nil, err
		}
		out, err := e.fn(rows, &e.out)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

func (e *expandIter) Close() {
	e.in.Close()
	e.out.next()
}

// expandValue lists the elements mv-expand produces for one value: array elements, bag
// entries as single-key bags (or [key, value] arrays), null once, an empty collection never.
func expandValue(v any, bag bool) []any {
	switch x := v.(type) {
	case []any:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sortStrings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			if bag {
				out[i] = map[string]any{k: x[k]}
			} else {
				out[i] = []any{k, x[k]}
			}
		}
		return out
	}
	return []any{v}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
