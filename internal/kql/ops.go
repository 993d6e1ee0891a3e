package kql

import (
	"context"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func (p *planner) operator(in *plan, op astOp, sc *scope) (*plan, error) {
	ec := &ectx{cols: in.cols, sc: sc}
	var out *plan
	var err error
	switch o := op.(type) {
	case *astWhereOp:
		out, err = p.where(in, o, withIngest(ec, in))
	case *astExtendOp:
		out, err = p.extend(in, o.Cols, withIngest(ec, in), false)
	case *astProjectOp:
		out, err = p.extend(in, o.Cols, withIngest(ec, in), true)
	case *astProjectAwayOp:
		out, err = p.projectAway(in, o)
	case *astProjectRenameOp:
		out, err = p.projectRename(in, o)
	case *astProjectReorderOp:
		out, err = p.projectReorder(in, o)
	case *astSummarizeOp:
		out, err = p.summarize(in, o, withIngest(ec, in), "summarize")
	case *astSortOp:
		out, err = p.sortOp(in, o.Keys, nil, ec, "sort")
	case *astTopOp:
		out, err = p.sortOp(in, o.Keys, o.N, ec, "top")
	case *astTakeOp:
		out, err = p.take(in, o, ec)
	case *astCountOp:
		out = p.count(in)
	case *astDistinctOp:
		if o.Cols == nil {
			p.markAll(in)
			var all []astNamedExpr
			for _, c := range in.cols {
				all = append(all, astNamedExpr{X: &astIdent{P: o.P, Name: c.Name}})
			}
			out, err = p.summarize(in, &astSummarizeOp{P: o.P, By: all}, ec, "distinct")
		} else {
			out, err = p.summarize(in, &astSummarizeOp{P: o.P, By: o.Cols}, ec, "distinct")
		}
	case *astJoinOp:
		out, err = p.join(in, o, sc)
	case *astUnionOp:
		out, err = p.union(in, o.U, sc)
	case *astMvExpandOp:
		out, err = p.mvExpand(in, o, ec)
	case *astParseOp:
		out, err = p.parse(in, o, ec)
	case *astAsOp:
		// as binds the name for the rest of the query (a later join (X) or statement) and
		// names the result table; the input runs once however often the name is used
		p.markAll(in)
		m := p.materialize(in)
		m.name, m.render = o.Name, in.render
		sc.names[o.Name] = &binding{tabPlan: m}
		out = m
	case *astGetSchemaOp:
		out = p.getschema(in)
	case *astRenderOp:
		p.markAll(in)
		cp := *in
		cp.scan = nil
		cp.render = &Visualization{Visualization: o.Chart, Properties: o.Props}
		out = &cp
	case *astSearchOp:
		out, err = p.search(in, o.S, sc)
	case *astSerializeOp:
		if len(o.Cols) > 0 {
			out, err = p.extend(in, o.Cols, ec, false)
		} else {
			cp := *in
			cp.scan = nil
			out = &cp
		}
	default:
		return nil, bindErr(op.opPos(), "unsupported operator")
	}
	if err != nil {
		return nil, err
	}
	if out.render == nil {
		out.render = in.render
	}
	if out.name == "" {
		out.name = in.name
	}
	return out, nil
}

func (p *planner) where(in *plan, o *astWhereOp, ec *ectx) (*plan, error) {
	pred, err := p.expr(o.Pred, ec)
	if err != nil {
		return nil, err
	}
	if pred.t != TypeBool && pred.t != TypeDynamic && pred.t != TypeNull {
		return nil, bindErr(o.P, "where needs a bool predicate, not %s", pred.t)
	}
	if in.scan != nil && p.run != nil {
		p.pushdown(in, o.Pred, ec)
	}
	switch {
	case ec.usesIngest():
		return narrowed(filterPlan(in.ingest(), pred)), nil
	case in.ingest != nil:
		out := filterPlan(in, pred)
		out.ingest = func() *plan { return filterPlan(in.ingest(), pred) }
		return out, nil
	}
	return filterPlan(in, pred), nil
}

func (p *planner) extend(in *plan, cols []astNamedExpr, ec *ectx, project bool) (*plan, error) {
	var outCols []colInfo
	if !project {
		outCols = append(outCols, in.cols...)
	}
	type slot struct {
		idx int
		fn  func(Row) any
		src int // for project of a bare column: copy
	}
	var slots []slot
	auto := 0
	for _, ne := range cols {
		c, err := p.expr(ne.X, ec)
		if err != nil {
			return nil, err
		}
		name := ne.Name
		if name == "" {
			name = c.name
			if name == "" || (c.konst && c.col < 0 && isLiteral(ne.X)) {
				used := func(n string) bool { return findCol(outCols, n) >= 0 || findCol(in.cols, n) >= 0 }
				for {
					auto++
					name = "Column" + strconv.Itoa(auto)
					if !used(name) {
						break
					}
				}
			}
		}
		ci := colInfo{Name: name, Type: nonNull(c.t)}
		if c.col >= 0 && ne.Name == "" || (c.col >= 0 && project) {
			ci.origin = in.cols[c.col].origin
		}
		idx := findCol(outCols, name)
		if idx >= 0 {
			if project {
				return nil, bindErr(ne.X.pos(), "column %q is projected twice", name)
			}
			outCols[idx] = ci
		} else {
			idx = len(outCols)
			outCols = append(outCols, ci)
		}
		slots = append(slots, slot{idx: idx, fn: c.fn, src: c.col})
	}
	if ec.usesIngest() {
		in = in.ingest() // rows carry the cell after their columns, which inWidth leaves out
	}
	width, inWidth := len(outCols), len(in.cols)
	// extend and project keep every row, and pass-through columns keep their origin, so a
	// later where on them may still be pushed to the scan
	out := &plan{cols: outCols, scan: in.scan}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			cells := make([]any, len(rows)*width)
			out := make([]Row, len(rows))
			for i, r := range rows {
				row := cells[i*width : (i+1)*width : (i+1)*width]
				if !project {
					copy(row, r[:inWidth])
				}
				for _, s := range slots {
					row[s.idx] = s.fn(r)
				}
				out[i] = row
			}
			return out
		}}, nil
	}
	return out, nil
}

func matchPattern(pat, name string) bool {
	if !strings.ContainsAny(pat, "*?[") {
		return pat == name
	}
	ok, _ := path.Match(pat, name)
	return ok
}

func selectCols(in *plan, idx []int) *plan {
	cols := make([]colInfo, len(idx))
	for i, j := range idx {
		cols[i] = in.cols[j]
	}
	width := len(idx)
	out := &plan{cols: cols, scan: in.scan}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			cells := make([]any, len(rows)*width)
			out := make([]Row, len(rows))
			for i, r := range rows {
				row := cells[i*width : (i+1)*width : (i+1)*width]
				for k, j := range idx {
					row[k] = r[j]
				}
				out[i] = row
			}
			return out
		}}, nil
	}
	return out
}

func (p *planner) projectAway(in *plan, o *astProjectAwayOp) (*plan, error) {
	hit := make([]bool, len(in.cols))
	for _, pat := range o.Pats {
		any := false
		for i, c := range in.cols {
			if matchPattern(pat, c.Name) {
				hit[i], any = true, true
			}
		}
		// the run pass sees only used columns; a name the bind pass accepted may be absent
		if !any && !strings.Contains(pat, "*") && p.run == nil {
			return nil, bindErr(o.P, "unknown column %q in %s", pat, map[bool]string{true: "project-keep", false: "project-away"}[o.Keep])
		}
	}
	var idx []int
	for i := range in.cols {
		if hit[i] == o.Keep {
			idx = append(idx, i)
		}
	}
	return selectCols(in, idx), nil
}

func (p *planner) projectRename(in *plan, o *astProjectRenameOp) (*plan, error) {
	cols := append([]colInfo(nil), in.cols...)
	for _, pr := range o.Pairs {
		i := findCol(cols, pr[1])
		if i < 0 {
			if p.run != nil {
				continue
			}
			return nil, bindErr(o.P, "unknown column %q in project-rename", pr[1])
		}
		cols[i].Name = pr[0]
	}
	out := *in
	out.cols = cols
	return &out, nil
}

func (p *planner) projectReorder(in *plan, o *astProjectReorderOp) (*plan, error) {
	var idx []int
	taken := make([]bool, len(in.cols))
	for _, pat := range o.Pats {
		found := false
		for i, c := range in.cols {
			if !taken[i] && matchPattern(pat, c.Name) {
				idx = append(idx, i)
				taken[i], found = true, true
			}
		}
		if !found && !strings.Contains(pat, "*") && p.run == nil {
			return nil, bindErr(o.P, "unknown column %q in project-reorder", pat)
		}
	}
	for i := range in.cols {
		if !taken[i] {
			idx = append(idx, i)
		}
	}
	return selectCols(in, idx), nil
}

func (p *planner) sortOp(in *plan, keys []astSortKey, n astExpr, ec *ectx, opName string) (*plan, error) {
	var sk []sortKey
	for _, k := range keys {
		c, err := p.expr(k.X, ec)
		if err != nil {
			return nil, err
		}
		sk = append(sk, sortKey{fn: c.fn, asc: k.Asc, nullsFirst: k.NullsFirst})
	}
	var nfn func(Row) any
	if n != nil {
		c, err := p.expr(n, ec)
		if err != nil {
			return nil, err
		}
		if !isNumeric(c.t) || !c.konst {
			return nil, bindErr(n.pos(), "top needs a constant row count")
		}
		nfn = c.fn
	}
	out := &plan{cols: in.cols}
	out.open = func(ctx context.Context) (iterator, error) {
		limit := int64(-1)
		if nfn != nil {
			l, _ := asLong(nfn(nil))
			limit = max(l, 0)
		}
		// the account holds the rows until the consumer closes the iterator that replays them
		acct := p.run.account(opName)
		var all []Row
		err := readAll(ctx, in.open, func(rows []Row) error {
			if err := acct.addRows(rows); err != nil {
				return err
			}
			all = append(all, rows...)
			// top keeps memory bounded: trim to the best `limit` rows now and then
			if limit >= 0 && int64(len(all)) > 2*limit+4096 {
				sortRows(all, sk)
				clear(all[limit:]) // let the trimmed rows go
				all = all[:limit]
				return acct.setRows(all)
			}
			return nil
		})
		if err != nil {
			acct.release()
			return nil, err
		}
		sortRows(all, sk)
		if limit >= 0 && int64(len(all)) > limit {
			all = all[:limit]
		}
		return &sliceIter{rows: all, acct: acct}, nil
	}
	return out, nil
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

func (p *planner) getschema(in *plan) *plan {
	p.markAll(in)
	cols := []colInfo{{Name: "ColumnName", Type: TypeString}, {Name: "ColumnOrdinal", Type: TypeInt}, {Name: "DataType", Type: TypeString}, {Name: "ColumnType", Type: TypeString}}
	netNames := map[Type]string{TypeString: "System.String", TypeInt: "System.Int32", TypeLong: "System.Int64", TypeReal: "System.Double", TypeBool: "System.SByte", TypeDatetime: "System.DateTime", TypeTimespan: "System.TimeSpan", TypeGUID: "System.Guid", TypeDynamic: "System.Object"}
	var rows []Row
	for i, c := range in.cols {
		rows = append(rows, Row{c.Name, int64(i), netNames[c.Type], c.Type.String()})
	}
	return rowsPlan(cols, func() ([]Row, error) { return rows, nil })
}

func (p *planner) mvExpand(in *plan, o *astMvExpandOp, ec *ectx) (*plan, error) {
	cols := append([]colInfo(nil), in.cols...)
	type ex struct {
		fn  func(Row) any
		idx int
		to  Type
	}
	var exs []ex
	for _, mc := range o.Cols {
		c, err := p.expr(mc.X, ec)
		if err != nil {
			return nil, err
		}
		if c.t != TypeDynamic && c.t != TypeNull {
			return nil, bindErr(mc.X.pos(), "mv-expand needs a dynamic array or bag, not %s", c.t)
		}
		name := mc.Name
		if name == "" {
			name = c.name
		}
		if name == "" {
			name = uniqueName("Column1", func(n string) bool { return findCol(cols, n) >= 0 })
		}
		ci := colInfo{Name: name, Type: mc.To}
		idx := findCol(cols, name)
		if idx >= 0 {
			cols[idx] = ci
		} else {
			idx = len(cols)
			cols = append(cols, ci)
		}
		exs = append(exs, ex{fn: c.fn, idx: idx, to: mc.To})
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
				n := 0
				for k, e := range exs {
					vals[k] = expandValue(e.fn(r), bag)
					n = max(n, len(vals[k]))
				}
				n = int(min(int64(n), limit))
				// the new rows' cells; array elements are the input's values (a bag's
				// entries become small new bags, which this leaves out)
				var err error
				if res, err = out.grow(res, n, rowCost); err != nil {
					return nil, err
				}
				for i := 0; i < n; i++ {
					row := make(Row, width)
					copy(row, r[:inWidth])
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
					res = append(res, row)
				}
			}
			return res, nil
		}}, nil
	}
	return out, nil
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

func (p *planner) parse(in *plan, o *astParseOp, ec *ectx) (*plan, error) {
	src, err := p.expr(o.X, ec)
	if err != nil {
		return nil, err
	}
	cols := append([]colInfo(nil), in.cols...)
	var b strings.Builder
	b.WriteString(`(?s)^`)
	type capt struct {
		idx int
		t   Type
	}
	var caps []capt
	for i, part := range o.Pattern {
		last := i == len(o.Pattern)-1
		switch {
		case part.IsLit:
			if o.Kind == "regex" {
				b.WriteString(part.Text)
			} else {
				b.WriteString(regexp.QuoteMeta(part.Text))
			}
		case part.Wildcard:
			b.WriteString(`.*?`)
		default:
			g := `(.*?)`
			if last {
				g = `(.*)`
			}
			if o.Kind == "simple" || o.Kind == "regex" {
				switch part.Type {
				case TypeInt, TypeLong:
					g = `(-?\d+)`
				case TypeReal:
					g = `(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)`
				case TypeBool:
					g = `((?i:true|false))`
				}
			}
			b.WriteString(g)
			idx := findCol(cols, part.Col)
			ci := colInfo{Name: part.Col, Type: part.Type}
			if idx >= 0 {
				cols[idx] = ci
			} else {
				idx = len(cols)
				cols = append(cols, ci)
			}
			caps = append(caps, capt{idx: idx, t: part.Type})
		}
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, bindErr(o.P, "bad parse pattern: %v", err)
	}
	if re.NumSubexp() != len(caps) {
		return nil, bindErr(o.P, "parse pattern has %d regex groups but %d columns; use (?:...) for non-capturing groups", re.NumSubexp(), len(caps))
	}
	width, inWidth, f := len(cols), len(in.cols), src.fn
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			out := make([]Row, len(rows))
			for i, r := range rows {
				row := make(Row, width)
				copy(row, r[:inWidth])
				m := re.FindStringSubmatch(toString(f(r)))
				for k, c := range caps {
					var v any
					if m != nil {
						// relaxed: a capture that does not convert is null, the others stay
						v = convertTo(m[k+1], c.t)
					}
					if v == nil && c.t == TypeString {
						v = ""
					}
					row[c.idx] = v
				}
				out[i] = row
			}
			return out
		}}, nil
	}
	return out, nil
}

// pushdown turns the where clause's conjuncts of the form column <op> constant into scan
// predicates and TimeGenerated bounds.
func (p *planner) pushdown(in *plan, pred astExpr, ec *ectx) {
	sn := in.scan
	for _, conj := range conjuncts(pred) {
		if in.ingest != nil && p.pushIngestion(sn, conj, ec) {
			continue
		}
		switch x := conj.(type) {
		case *astBinary:
			col, k, op, ok := p.colConst(x.L, x.R, ec)
			if !ok {
				if col, k, op, ok = p.colConst(x.R, x.L, ec); ok {
					op = flipOp(x.Op)
				} else {
					continue
				}
			} else {
				op = x.Op
			}
			p.addPred(sn, col, op, k)
		case *astBetween:
			if x.Not {
				continue
			}
			id, ok := x.X.(*astIdent)
			if !ok {
				continue
			}
			i := findCol(ec.cols, id.Name)
			if i < 0 || ec.cols[i].origin == nil || ec.cols[i].origin.node != sn.node {
				continue
			}
			col := cexpr{t: ec.cols[i].Type, col: i}
			lo, err1 := p.expr(x.Lo, ec)
			if err1 == nil {
				lo, err1 = numericLiterals(col, lo, x.Lo.pos())
			}
			hi, err2 := p.expr(x.Hi, ec)
			if err2 == nil {
				hi, err2 = numericLiterals(col, hi, x.Hi.pos())
			}
			if err1 != nil || err2 != nil || !lo.konst || !hi.konst {
				continue
			}
			p.addPred(sn, ec.cols[i], ">=", lo.value())
			p.addPred(sn, ec.cols[i], "<=", hi.value())
		case *astListOp:
			id, ok := x.L.(*astIdent)
			if !ok || (x.Op != "in" && x.Op != "in~") {
				continue
			}
			i := findCol(ec.cols, id.Name)
			if i < 0 || ec.cols[i].origin == nil || ec.cols[i].origin.node != sn.node {
				continue
			}
			var vals []any
			okAll := true
			for _, e := range x.List {
				if p.isTabular(e, ec.sc) {
					okAll = false
					break
				}
				c, err := p.expr(e, ec)
				if err == nil {
					// as the where clause compares them: EventID in ("4728") pushes 4728
					c, err = numericLiterals(cexpr{t: ec.cols[i].Type, col: i}, c, e.pos())
				}
				if err != nil || !c.konst {
					okAll = false
					break
				}
				v := c.value()
				if arr, ok := v.([]any); ok {
					vals = append(vals, arr...)
				} else {
					vals = append(vals, v)
				}
			}
			if !okAll {
				continue
			}
			op := PredIn
			if x.Op == "in~" {
				op = PredInFold
			}
			sn.req.Predicates = append(sn.req.Predicates, Predicate{Column: ec.cols[i].origin.name, Op: op, Values: vals})
		}
	}
}

func conjuncts(e astExpr) []astExpr {
	if pe, ok := e.(*astParen); ok {
		return conjuncts(pe.X)
	}
	if b, ok := e.(*astBinary); ok && b.Op == "and" {
		return append(conjuncts(b.L), conjuncts(b.R)...)
	}
	return []astExpr{e}
}

func (p *planner) colConst(a, b astExpr, ec *ectx) (colInfo, any, string, bool) {
	id, ok := a.(*astIdent)
	if !ok {
		return colInfo{}, nil, "", false
	}
	i := findCol(ec.cols, id.Name)
	if i < 0 || ec.cols[i].origin == nil { // addPred checks that it is this scan's column
		return colInfo{}, nil, "", false
	}
	c, err := p.expr(b, ec)
	if err == nil {
		c, err = numericLiterals(cexpr{t: ec.cols[i].Type, col: i}, c, b.pos()) // EventID == "4625" pushes 4625
	}
	if err != nil || !c.konst {
		return colInfo{}, nil, "", false
	}
	return ec.cols[i], c.value(), "", true
}

func flipOp(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	case "==", "!=", "=~":
		return op
	}
	return "" // string operators are not symmetric
}

var pushOps = map[string]PredOp{"==": PredEq, "!=": PredNe, "=~": PredEqFold, "<": PredLt, "<=": PredLe, ">": PredGt, ">=": PredGe,
	"has": PredHas, "has_cs": PredHasCS, "contains": PredContains, "contains_cs": PredContainsCS,
	"startswith": PredStartsWith, "startswith_cs": PredStartsWithCS, "endswith": PredEndsWith, "endswith_cs": PredEndsWithCS}

func (p *planner) addPred(sn *scanNode, col colInfo, op string, k any) {
	if col.origin == nil || col.origin.node != sn.node || k == nil {
		return
	}
	po, ok := pushOps[op]
	if !ok {
		return
	}
	// only push what compares like for like; the engine's own filter handles the rest
	switch col.Type {
	case TypeString:
		if _, ok := k.(string); !ok {
			return
		}
	case TypeInt, TypeLong, TypeReal:
		if _, ok := asReal(k); !ok || po >= PredIn {
			return
		}
	case TypeDatetime:
		t, ok := k.(time.Time)
		if !ok || po >= PredIn || po == PredEqFold {
			return
		}
		if col.origin.name == TimeColumn && sn.timeCol {
			// From and To are inclusive, so a strict comparison bounds the
			// scan a nanosecond inside t: `< 02:00` must not need a segment
			// (damaged, say) whose first row is at 02:00.
			switch po {
			case PredGt, PredGe:
				if po == PredGt {
					t = t.Add(time.Nanosecond)
				}
				if sn.req.From.IsZero() || t.After(sn.req.From) {
					sn.req.From = t
				}
			case PredLt, PredLe:
				if po == PredLt {
					t = t.Add(-time.Nanosecond)
				}
				if sn.req.To.IsZero() || t.Before(sn.req.To) {
					sn.req.To = t
				}
			case PredEq:
				sn.req.From, sn.req.To = t, t
			}
		}
	case TypeBool, TypeTimespan, TypeGUID:
		if po >= PredIn || po == PredEqFold {
			return
		}
	default:
		return
	}
	sn.req.Predicates = append(sn.req.Predicates, Predicate{Column: col.origin.name, Op: po, Value: k})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
