package kql

import (
	"strings"
	"time"
)

// call binds a function call: user functions from let first, then the special forms (they
// need the planner or lazy evaluation), then the built-in scalar functions.
func (p *planner) call(x *astCall, ec *ectx) (cexpr, error) {
	name := strings.ToLower(x.Name)
	if b := ec.sc.lookup(x.Name); b != nil && b.isFunc() {
		return p.userScalarCall(x, b, ec)
	}
	if isAggregateCall(x) {
		return cexpr{col: -1}, bindErr(x.P, "aggregation %s() is allowed only in summarize", x.Name)
	}
	if form, ok := specialForms[name]; ok {
		return form(p, x, ec)
	}
	return p.builtinCall(name, x, ec)
}

// specialForms are the scalar functions call binds itself rather than through funcs: they
// read the planner's clock or the input's columns, run a subquery, or evaluate their
// arguments lazily.
var specialForms map[string]func(p *planner, x *astCall, ec *ectx) (cexpr, error)

func init() {
	specialForms = map[string]func(p *planner, x *astCall, ec *ectx) (cexpr, error){
		"ingestion_time":  (*planner).ingestionTime,
		"now":             (*planner).nowCall,
		"ago":             (*planner).agoCall,
		"iff":             (*planner).iffCall,
		"iif":             (*planner).iffCall,
		"case":            (*planner).caseCall,
		"coalesce":        (*planner).coalesceCall,
		"toscalar":        (*planner).toscalarCall,
		"column_ifexists": (*planner).columnIfExistsCall,
		"columnifexists":  (*planner).columnIfExistsCall,
		"pack_all":        (*planner).packAllCall,
		"bag_pack_all":    (*planner).packAllCall,
		"typeof":          (*planner).typeofCall,
		"materialize":     (*planner).tabularOnlyCall,
		"table":           (*planner).tabularOnlyCall,
		"bin":             (*planner).binCall,
		"floor":           (*planner).binCall,
		// window functions (window.go)
		"prev":               (*planner).windowCall,
		"next":               (*planner).windowCall,
		"row_number":         (*planner).windowCall,
		"row_cumsum":         (*planner).windowCall,
		"row_rank_dense":     (*planner).windowCall,
		"row_rank_min":       (*planner).windowCall,
		"row_window_session": (*planner).windowCall,
	}
}

// callArgs binds the arguments of x.
func (p *planner) callArgs(x *astCall, ec *ectx) ([]cexpr, error) {
	cs := make([]cexpr, len(x.Args))
	for i, a := range x.Args {
		c, err := p.expr(a, ec)
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return cs, nil
}

// checkArity refuses a call of x with fewer than lo or more than hi (unless negative)
// arguments.
func checkArity(x *astCall, lo, hi int) error {
	if len(x.Args) < lo || (hi >= 0 && len(x.Args) > hi) {
		if lo == hi {
			return bindErr(x.P, "%s() expects %d argument(s), got %d", x.Name, lo, len(x.Args))
		}
		return bindErr(x.P, "%s() expects %d to %d arguments, got %d", x.Name, lo, hi, len(x.Args))
	}
	return nil
}

// nowCall is now([offset]): the planner's fixed clock, plus a constant offset.
func (p *planner) nowCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 0, 1); err != nil {
		return out, err
	}
	now := p.now()
	if len(x.Args) == 1 {
		cs, err := p.callArgs(x, ec)
		if err != nil {
			return out, err
		}
		if !cs[0].konst || cs[0].t != TypeTimespan {
			return out, bindErr(x.P, "now() takes a constant timespan offset")
		}
		d, _ := cs[0].value().(time.Duration)
		now = now.Add(d)
	}
	return konstOf(TypeDatetime, now), nil
}

// agoCall is ago(span): the planner's fixed clock less span.
func (p *planner) agoCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 1, 1); err != nil {
		return out, err
	}
	cs, err := p.callArgs(x, ec)
	if err != nil {
		return out, err
	}
	if cs[0].t != TypeTimespan && cs[0].t != TypeNull {
		return out, bindErr(x.P, "ago() expects a timespan, not %s", cs[0].t)
	}
	now, f := p.now(), cs[0].fn
	return cexpr{t: TypeDatetime, konst: cs[0].konst, col: -1, fn: func(r Row) any {
		d, ok := f(r).(time.Duration)
		if !ok {
			return nil
		}
		return now.Add(-d)
	}}, nil
}

// iffCall is iff(cond, then, else), which evaluates only the branch it returns.
func (p *planner) iffCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 3, 3); err != nil {
		return out, err
	}
	cs, err := p.callArgs(x, ec)
	if err != nil {
		return out, err
	}
	t, err := firstNonNullType(1, 2)(cs)
	if err != nil {
		return out, bindErr(x.P, "iff(): %v", err)
	}
	c, a, b := cs[0].fn, cs[1].fn, cs[2].fn
	return cexpr{t: t, col: -1, konst: cs[0].konst && cs[1].konst && cs[2].konst, fn: func(r Row) any {
		if v, _ := c(r).(bool); v {
			return a(r)
		}
		return b(r)
	}}, nil
}

// caseCall is case(pred, value, ..., else), which evaluates up to the first true predicate.
func (p *planner) caseCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if len(x.Args) < 3 || len(x.Args)%2 == 0 {
		return out, bindErr(x.P, "case() expects pairs of predicate and value followed by an else value")
	}
	cs, err := p.callArgs(x, ec)
	if err != nil {
		return out, err
	}
	var idx []int
	for i := 1; i < len(cs); i += 2 {
		idx = append(idx, i)
	}
	idx = append(idx, len(cs)-1)
	t, err := firstNonNullType(idx...)(cs)
	if err != nil {
		return out, bindErr(x.P, "case(): %v", err)
	}
	return cexpr{t: t, col: -1, fn: func(r Row) any {
		for i := 0; i+1 < len(cs); i += 2 {
			if v, _ := cs[i].fn(r).(bool); v {
				return cs[i+1].fn(r)
			}
		}
		return cs[len(cs)-1].fn(r)
	}}, nil
}

// coalesceCall is coalesce(x, ...), which evaluates up to the first value not null or empty.
func (p *planner) coalesceCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 1, 64); err != nil {
		return out, err
	}
	cs, err := p.callArgs(x, ec)
	if err != nil {
		return out, err
	}
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	t, err := firstNonNullType(idx...)(cs)
	if err != nil {
		return out, bindErr(x.P, "coalesce(): %v", err)
	}
	return cexpr{t: t, col: -1, fn: func(r Row) any {
		for _, c := range cs {
			v := c.fn(r)
			if v != nil && !(t == TypeString && v == "") {
				return v
			}
		}
		if t == TypeString {
			return ""
		}
		return nil
	}}, nil
}

// toscalarCall is toscalar(T): the first cell of a tabular expression, run when first read;
// or toscalar(x) of a scalar x, which may not read the row.
func (p *planner) toscalarCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 1, 1); err != nil {
		return out, err
	}
	if !p.isTabular(x.Args[0], ec.sc) {
		// toscalar of a scalar is that value, bound without the row's columns: the normalizing
		// parsers write toscalar('x' in (T) or 'y' in (T))
		return p.expr(x.Args[0], &ectx{sc: ec.sc})
	}
	tp, err := p.tabular(x.Args[0], ec.sc)
	if err != nil {
		return out, err
	}
	if len(tp.cols) == 0 {
		return out, bindErr(x.P, "toscalar() needs a tabular expression with at least one column")
	}
	p.markAll(tp)
	run := p.run
	return cexpr{t: tp.cols[0].Type, konst: true, col: -1, fn: func(Row) any {
		if run == nil {
			return nil
		}
		rows, err := p.collect(tp)
		if err != nil {
			run.fail(err)
			return nil
		}
		if len(rows) == 0 {
			return nil
		}
		return rows[0][0]
	}}, nil
}

// columnIfExistsCall is column_ifexists(name, default): the column if the input has it.
func (p *planner) columnIfExistsCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 2, 2); err != nil {
		return out, err
	}
	lit, ok := x.Args[0].(*astLit)
	if !ok || lit.T != TypeString {
		return out, bindErr(x.P, "%s() expects a constant column name", x.Name)
	}
	if i := findCol(ec.cols, lit.Val.(string)); i >= 0 {
		return p.colRef(ec.cols, i, x.P), nil
	}
	return p.expr(x.Args[1], ec)
}

// packAllCall is pack_all(): the row as a bag of its non-null columns.
func (p *planner) packAllCall(_ *astCall, ec *ectx) (cexpr, error) {
	cols := ec.cols
	for _, c := range cols {
		p.mark(c)
	}
	return cexpr{t: TypeDynamic, col: -1, fn: func(r Row) any {
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			if r[i] != nil {
				m[c.Name] = r[i]
			}
		}
		return m
	}}, nil
}

// typeofCall is typeof(T): the type's name, for comparing with gettype().
func (p *planner) typeofCall(x *astCall, _ *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	if err := checkArity(x, 1, 1); err != nil {
		return out, err
	}
	id, ok := x.Args[0].(*astIdent)
	if !ok {
		return out, bindErr(x.P, "typeof() expects a type name")
	}
	return konstOf(TypeString, strings.ToLower(id.Name)), nil
}

// tabularOnlyCall refuses materialize() and table() in a scalar expression.
func (p *planner) tabularOnlyCall(x *astCall, _ *ectx) (cexpr, error) {
	if strings.EqualFold(x.Name, "materialize") {
		return cexpr{col: -1}, bindErr(x.P, "materialize() is tabular; use it in a let statement")
	}
	return cexpr{col: -1}, bindErr(x.P, "table() is tabular and is not allowed in a scalar expression")
}

// binCall is bin(x, size) and floor(x, size), whose result type follows the arguments'.
func (p *planner) binCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	name := strings.ToLower(x.Name)
	if err := checkArity(x, 2, 2); err != nil {
		return out, err
	}
	cs, err := p.callArgs(x, ec)
	if err != nil {
		return out, err
	}
	switch cs[0].t {
	case TypeInt, TypeLong, TypeReal, TypeDatetime, TypeTimespan, TypeNull, TypeDynamic:
	default:
		return out, bindErr(x.P, "%s() cannot round a %s value", name, cs[0].t)
	}
	if cs[0].t == TypeDatetime && cs[1].t != TypeTimespan {
		return out, bindErr(x.P, "%s() of a datetime needs a timespan bin size, not %s", name, cs[1].t)
	}
	c := p.builtin(name, funcs[name], cs)
	c.name = callResultName(name, cs)
	switch {
	case isNumeric(cs[0].t) && cs[1].t == TypeReal:
		c.t = TypeReal
	case cs[0].t == TypeInt:
		c.t = TypeLong // as for arithmetic, Kusto widens int to long
	}
	c.ints = binInts(cs, c.t)
	return c, nil
}

// binInts is the unboxed form of bin(x, size) (see vecInt) for a bare datetime column and
// a constant timespan, or a bare int or long column and a constant long, or nil. It gives
// binFn's values: a datetime rounded in ticks since 0001-01-01, as toLong and toDatetime
// count them.
func binInts(cs []cexpr, t Type) *vecInt {
	if cs[0].col < 0 || !cs[1].konst {
		return nil
	}
	size := cs[1].fn // evaluated when the query runs, as the row form does
	switch {
	case cs[0].t == TypeDatetime && cs[1].t == TypeTimespan && t == TypeDatetime:
		return &vecInt{col: cs[0].col, in: TypeDatetime, out: TypeDatetime, prepare: func() func(int64) int64 {
			s, ok := size(nil).(time.Duration)
			st := int64(s / 100)
			if !ok || st <= 0 {
				return nil
			}
			return func(ns int64) int64 {
				ticks := ns/100 + ticksAtUnixEpoch
				return (floorDiv(ticks, st)*st - ticksAtUnixEpoch) * 100
			}
		}}
	case (cs[0].t == TypeInt || cs[0].t == TypeLong) && (cs[1].t == TypeInt || cs[1].t == TypeLong) && t == TypeLong:
		return &vecInt{col: cs[0].col, in: TypeLong, out: TypeLong, prepare: func() func(int64) int64 {
			s, ok := size(nil).(int64)
			if !ok || s <= 0 {
				return nil
			}
			return func(x int64) int64 { return floorDiv(x, s) * s }
		}}
	}
	return nil
}

// builtinCall binds a call of a function of funcs.
func (p *planner) builtinCall(name string, x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	spec, ok := funcs[name]
	if !ok {
		if ec.sc.lookup(x.Name) != nil {
			return out, bindErr(x.P, "%s is not a function", x.Name)
		}
		if err := defenderCloudCallErr(x); err != nil {
			return out, err
		}
		return out, bindErr(x.P, "unknown function %q%s", x.Name, didYouMean(x.Name, append(builtinNames(), p.cat.functionNames()...)))
	}
	if err := checkArity(x, spec.min, spec.max); err != nil {
		return out, err
	}
	cs, err := p.callArgs(x, ec)
	if err != nil {
		return out, err
	}
	t, err := spec.ret(cs)
	if err != nil {
		return out, bindErr(x.P, "%s(): %v", x.Name, err)
	}
	c := p.builtin(name, spec, cs)
	c.t = t
	c.name = callResultName(name, cs)
	return c, nil
}

func (p *planner) builtin(name string, spec fnSpec, cs []cexpr) cexpr {
	konst := name != "new_guid" && spec.opts == nil
	for _, c := range cs {
		konst = konst && c.konst
	}
	t, _ := spec.ret(cs)
	impl := spec.impl
	if spec.bind != nil {
		impl = spec.bind(cs)
	}
	if spec.opts != nil {
		impl = spec.opts(p.options())
	}
	if spec.rx != nil {
		rc, rx := &regexCache{}, spec.rx
		impl = func(a []any) any { return rx(rc, a) }
	}
	switch len(cs) {
	case 1:
		f0 := cs[0].fn
		return cexpr{t: t, konst: konst, col: -1, fn: func(r Row) any {
			a := [1]any{f0(r)}
			return impl(a[:])
		}}
	case 2:
		f0, f1 := cs[0].fn, cs[1].fn
		return cexpr{t: t, konst: konst, col: -1, fn: func(r Row) any {
			a := [2]any{f0(r), f1(r)}
			return impl(a[:])
		}}
	}
	return cexpr{t: t, konst: konst, col: -1, fn: func(r Row) any {
		a := make([]any, len(cs))
		for i, c := range cs {
			a[i] = c.fn(r)
		}
		return impl(a)
	}}
}
