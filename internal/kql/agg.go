package kql

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// aggState accumulates one aggregate for one group. add returns an estimate of the bytes the
// state newly holds because of r (see valueBytes), which summarize charges to the query's
// memory: 0 for states of fixed size, the value's size for one that collects values.
type aggState interface {
	add(r Row) int64
	result() []any
}

// aggSpec binds an aggregate call: it returns the output columns and a state factory.
type aggSpec func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error)

var aggs map[string]aggSpec

func init() {
	aggs = map[string]aggSpec{
		"count":    aggCount(false),
		"countif":  aggCount(true),
		"dcount":   aggDcount(false, 2),
		"dcountif": aggDcount(true, 2),
		// count_distinct is dcount exact, and takes no accuracy
		"count_distinct":   aggDcount(false, 1),
		"count_distinctif": aggDcount(true, 1),
		"sum":              aggSum(false),
		"sumif":            aggSum(true),
		"avg":              aggAvg(false),
		"avgif":            aggAvg(true),
		"min":              aggMinMax(-1, false),
		"max":              aggMinMax(1, false),
		"minif":            aggMinMax(-1, true),
		"maxif":            aggMinMax(1, true),
		"arg_max":          aggArg(1, false),
		"arg_min":          aggArg(-1, false),
		"argmax":           aggArg(1, true),
		"argmin":           aggArg(-1, true),
		"make_set":         aggMake("set", true, false),
		"makeset":          aggMake("set", true, false),
		"make_set_if":      aggMake("set", true, true),
		"make_list":        aggMake("list", false, false),
		"makelist":         aggMake("list", false, false),
		"make_list_if":     aggMake("list", false, true),
		// make_list_with_nulls keeps the nulls every other make_ form skips
		"make_list_with_nulls": aggMakeWithNulls,
		"make_bag":             aggBag(false),
		"make_bag_if":          aggBag(true),
		"percentile":           aggPercentiles(false),
		"percentiles":          aggPercentiles(true),
		"stdev":                aggStdev(false, false),
		"stdevif":              aggStdev(true, false),
		"variance":             aggStdev(false, true),
		"any":                  aggAny(false),
		"take_any":             aggAny(false),
		"take_anyif":           aggAny(true),
		"anyif":                aggAny(true), // legacy name
		"hll":                  aggHll(false),
		"hll_if":               aggHll(true),
		"hll_merge":            aggHllMerge,
	}
}

// aggPrefix is the start of an aggregate's column name: its function's name and "_".
func aggPrefix(x *astCall) string { return strings.ToLower(x.Name) + "_" }

// argName derives the column name part of an aggregate from its first argument: a column's
// name, a property path, or the first column the expression mentions.
func argName(e astExpr, c cexpr) string {
	if c.name != "" {
		return c.name
	}
	var first string
	var walk func(astExpr)
	walk = func(e astExpr) {
		if first != "" || e == nil {
			return
		}
		switch x := e.(type) {
		case *astIdent:
			first = x.Name
		case *astCall:
			for _, a := range x.Args {
				walk(a)
			}
		case *astBinary:
			walk(x.L)
			walk(x.R)
		case *astUnary:
			walk(x.X)
		case *astParen:
			walk(x.X)
		case *astMember:
			walk(x.X)
		case *astIndex:
			walk(x.X)
		}
	}
	walk(e)
	return first
}

func (p *planner) aggArgs(x *astCall, ec *ectx, lo, hi int) ([]cexpr, error) {
	if len(x.Args) < lo || (hi >= 0 && len(x.Args) > hi) {
		return nil, bindErr(x.P, "%s() expects %d to %d arguments, got %d", x.Name, lo, hi, len(x.Args))
	}
	out := make([]cexpr, len(x.Args))
	for i, a := range x.Args {
		if _, ok := a.(*astStar); ok {
			out[i] = konstOf(TypeNull, nil)
			continue
		}
		c, err := p.expr(a, ec)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// condArgs is aggArgs for an aggregate with an -if form (cond), which takes a predicate
// after the first argument: it returns the predicate too, nil without cond.
func (p *planner) condArgs(x *astCall, ec *ectx, cond bool, lo, hi int) ([]cexpr, func(Row) bool, error) {
	if cond {
		lo, hi = lo+1, hi+1
	}
	cs, err := p.aggArgs(x, ec, lo, hi)
	if err != nil || !cond {
		return cs, nil, err
	}
	return cs, predFn(cs[1]), nil
}

// onlyIf makes the states newState makes see only the rows where pred holds; a nil pred
// lets every row through.
func onlyIf(pred func(Row) bool, newState func() aggState) func() aggState {
	if pred == nil {
		return newState
	}
	return func() aggState { return &condState{pred: pred, aggState: newState()} }
}

// condState is the state of an -if aggregate.
type condState struct {
	pred func(Row) bool
	aggState
}

func (s *condState) add(r Row) int64 {
	if s.pred(r) {
		return s.aggState.add(r)
	}
	return 0
}

func predFn(c cexpr) func(Row) bool {
	f := c.fn
	return func(r Row) bool { b, _ := f(r).(bool); return b }
}

type funcState struct {
	addFn    func(Row) int64
	resultFn func() []any
}

func (s *funcState) add(r Row) int64 { return s.addFn(r) }
func (s *funcState) result() []any   { return s.resultFn() }

type countState struct {
	n    int64
	pred func(Row) bool
}

func (s *countState) add(r Row) int64 {
	if s.pred == nil || s.pred(r) {
		s.n++
	}
	return 0
}
func (s *countState) result() []any { return []any{s.n} }

func aggCount(cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		lo, hi := 0, 1
		if cond {
			lo = 1
		}
		cs, err := p.aggArgs(x, ec, lo, hi)
		if err != nil {
			return nil, nil, err
		}
		var pred func(Row) bool
		if cond {
			pred = predFn(cs[0])
		} else if len(cs) == 1 && cs[0].t != TypeNull {
			// count(x) counts rows where x is not null
			f := cs[0].fn
			pred = func(r Row) bool { return f(r) != nil }
		}
		name := aggPrefix(x) // count_, countif_: a predicate does not name the column
		if !cond && len(cs) == 1 {
			name += argName(x.Args[0], cs[0]) // count(x) is count_x
		}
		return []colInfo{{Name: name, Type: TypeLong}}, func() aggState { return &countState{pred: pred} }, nil
	}
}

func aggDcount(cond bool, maxArgs int) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, maxArgs)
		if err != nil {
			return nil, nil, err
		}
		f := cs[0].fn
		return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: TypeLong}}, onlyIf(pred, func() aggState {
			seen := map[any]struct{}{}
			return &funcState{addFn: func(r Row) int64 {
				if v := f(r); v != nil {
					k := scalarKey(v)
					if _, ok := seen[k]; !ok {
						seen[k] = struct{}{}
						return mapEntryBytes + cellBytes + valueBytes(k)
					}
				}
				return 0
			}, resultFn: func() []any { return []any{int64(len(seen))} }}
		}), nil
	}
}

func aggSum(cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 1)
		if err != nil {
			return nil, nil, err
		}
		t := cs[0].t
		switch t {
		case TypeInt:
			t = TypeLong
		case TypeLong, TypeReal, TypeTimespan, TypeDynamic:
		default:
			return nil, nil, bindErr(x.P, "%s() needs a number or timespan, not %s", x.Name, t)
		}
		if t == TypeDynamic {
			t = TypeReal
		}
		f := cs[0].fn
		return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: t}}, onlyIf(pred, func() aggState {
			var il int64
			var fl float64
			return &funcState{addFn: func(r Row) int64 {
				switch v := f(r).(type) {
				case int64:
					il += v
					fl += float64(v)
				case float64:
					fl += v
				case time.Duration:
					il += int64(v)
				}
				return 0
			}, resultFn: func() []any {
				switch t {
				case TypeLong:
					return []any{il}
				case TypeTimespan:
					return []any{time.Duration(il)}
				}
				return []any{fl}
			}}
		}), nil
	}
}

func aggAvg(cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 1)
		if err != nil {
			return nil, nil, err
		}
		if !isNumeric(cs[0].t) && cs[0].t != TypeDynamic && cs[0].t != TypeTimespan {
			return nil, nil, bindErr(x.P, "%s() needs a number, not %s", x.Name, cs[0].t)
		}
		f := cs[0].fn
		t := TypeReal
		if cs[0].t == TypeTimespan {
			t = TypeTimespan
		}
		return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: t}}, onlyIf(pred, func() aggState {
			var sum float64
			var n int64
			return &funcState{addFn: func(r Row) int64 {
				v := f(r)
				if d, ok := v.(time.Duration); ok {
					v = float64(d)
				}
				if x, ok := asReal(v); ok {
					sum += x
					n++
				}
				return 0
			}, resultFn: func() []any {
				if n == 0 {
					return []any{nil}
				}
				if t == TypeTimespan {
					return []any{time.Duration(sum / float64(n))}
				}
				return []any{sum / float64(n)}
			}}
		}), nil
	}
}

func aggMinMax(sign int, cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 1)
		if err != nil {
			return nil, nil, err
		}
		f := cs[0].fn
		return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: nonNull(cs[0].t)}}, onlyIf(pred, func() aggState {
			var best any
			// the best value replaces the one before: a group holds one value per aggregate
			return &funcState{addFn: func(r Row) int64 {
				v := f(r)
				if v == nil {
					return 0
				}
				if best == nil {
					best = v
					return valueBytes(v)
				}
				if c, ok := compareValues(v, best); ok && c*sign > 0 {
					grown := valueBytes(v) - valueBytes(best)
					best = v
					return max(grown, 0)
				}
				return 0
			}, resultFn: func() []any { return []any{best} }}
		}), nil
	}
}

// aggArg is arg_max/arg_min: the row where the first argument is extreme, projecting the
// named columns (or all with *). Output names: the expression's column, then the others.
//
// The deprecated argmax and argmin name their columns as the engine once did: the extreme
// max_t (min_t), and each returned column max_t_c, which content written then still reads.
func aggArg(sign int, legacy bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		if len(x.Args) < 1 {
			return nil, nil, bindErr(x.P, "%s() expects an expression to maximize and columns to return", x.Name)
		}
		key, err := p.expr(x.Args[0], ec)
		if err != nil {
			return nil, nil, err
		}
		prefix := map[int]string{1: "max_", -1: "min_"}[sign]
		keyName := key.name
		if keyName == "" || legacy {
			keyName = prefix + argName(x.Args[0], key)
		}
		returned := func(name string) string { return name }
		if legacy {
			returned = func(name string) string { return prefix + argName(x.Args[0], key) + "_" + name }
		}
		if len(ec.aggNames) > 0 {
			// X = arg_max(t, *) names t's column X, and * then includes t under its own name
			keyName = ec.aggNames[0]
		}
		cols := []colInfo{{Name: keyName, Type: nonNull(key.t)}}
		var fns []func(Row) any
		for _, a := range x.Args[1:] {
			if _, ok := a.(*astStar); ok {
				for i, c := range ec.cols {
					if (c.Name == keyName && key.col == i) || ec.byCols[c.Name] || c.hidden {
						continue
					}
					p.mark(c)
					j := i
					c.Name = returned(c.Name)
					cols = append(cols, c)
					fns = append(fns, func(r Row) any { return r[j] })
				}
				continue
			}
			c, err := p.expr(a, ec)
			if err != nil {
				return nil, nil, err
			}
			n := c.name
			if n == "" {
				n = prefix + argName(a, c)
			}
			ci := colInfo{Name: returned(n), Type: nonNull(c.t)}
			if c.col >= 0 {
				ci.origin = ec.cols[c.col].origin
			}
			cols = append(cols, ci)
			fns = append(fns, c.fn)
		}
		kf := key.fn
		return cols, func() aggState {
			var best any
			var vals []any
			return &funcState{addFn: func(r Row) int64 {
				v := kf(r)
				if v == nil && vals != nil {
					return 0
				}
				if vals != nil {
					if c, ok := compareValues(v, best); !ok || c*sign <= 0 {
						if best != nil || v == nil {
							return 0
						}
					}
				}
				best = v
				var grown int64
				if vals == nil {
					vals = make([]any, len(fns))
					grown = int64(cellBytes * len(fns))
				}
				for i, f := range fns {
					vals[i] = f(r)
				}
				return grown // the values are the input row's, which the row no longer needs
			}, resultFn: func() []any {
				out := make([]any, 0, 1+len(fns))
				out = append(out, best)
				if vals == nil {
					vals = make([]any, len(fns))
				}
				return append(out, vals...)
			}}
		}, nil
	}
}

func aggMake(prefix string, set, cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 2)
		if err != nil {
			return nil, nil, err
		}
		f := cs[0].fn
		maxN := int64(1048576)
		// the size limit is the last argument, after the predicate if any
		limitArg := 1
		if cond {
			limitArg = 2
		}
		if limitArg < len(cs) {
			if !cs[limitArg].konst || !isNumeric(cs[limitArg].t) {
				return nil, nil, bindErr(x.Args[limitArg].pos(), "%s(): the size limit must be a constant number", x.Name)
			}
			if n, ok := asLong(cs[limitArg].value()); ok {
				maxN = n
			}
		}
		return []colInfo{{Name: prefix + "_" + argName(x.Args[0], cs[0]), Type: TypeDynamic}}, func() aggState {
			out := []any{}
			seen := map[any]bool{}
			// a kept value costs its cell in the list, what it points to, and for a set its
			// key in the map of those seen
			return &funcState{addFn: func(r Row) int64 {
				if int64(len(out)) >= maxN || (pred != nil && !pred(r)) {
					return 0
				}
				v := f(r)
				if v == nil {
					return 0
				}
				if arr, ok := v.([]any); ok && set {
					var grown int64
					for _, e := range arr {
						if k := scalarKey(e); e != nil && !seen[k] {
							seen[k] = true
							out = append(out, e)
							grown += 2*cellBytes + mapEntryBytes + valueBytes(e) + valueBytes(k)
						}
					}
					return grown
				}
				grown := cellBytes + valueBytes(v)
				if set {
					k := scalarKey(v)
					if seen[k] {
						return 0
					}
					seen[k] = true
					grown += cellBytes + mapEntryBytes + valueBytes(k)
				}
				out = append(out, v)
				return grown
			}, resultFn: func() []any { return []any{out} }}
		}, nil
	}
}

func aggBag(cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 2)
		if err != nil {
			return nil, nil, err
		}
		f := cs[0].fn
		return []colInfo{{Name: "bag_" + argName(x.Args[0], cs[0]), Type: TypeDynamic}}, onlyIf(pred, func() aggState {
			out := map[string]any{}
			return &funcState{addFn: func(r Row) int64 {
				var grown int64
				if m, ok := f(r).(map[string]any); ok {
					for k, v := range m {
						if _, dup := out[k]; !dup {
							out[k] = v
							grown += mapEntryBytes + int64(len(k)) + cellBytes + valueBytes(v)
						}
					}
				}
				return grown
			}, resultFn: func() []any { return []any{out} }}
		}), nil
	}
}

// aggPercentiles uses the nearest-rank method over the exact values; Kusto estimates, and
// agrees with nearest-rank on small inputs.
func aggPercentiles(multi bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		hi := 2
		if multi {
			hi = 64
		}
		cs, err := p.aggArgs(x, ec, 2, hi)
		if err != nil {
			return nil, nil, err
		}
		var ps []float64
		var cols []colInfo
		base := argName(x.Args[0], cs[0])
		for i, c := range cs[1:] {
			if !c.konst {
				return nil, nil, bindErr(x.Args[i+1].pos(), "percentile must be a constant number")
			}
			v, ok := asReal(c.value())
			if !ok {
				return nil, nil, bindErr(x.Args[i+1].pos(), "percentile must be a constant number")
			}
			ps = append(ps, v)
			label := strings.ReplaceAll(strconv.FormatFloat(v, 'f', -1, 64), ".", "_")
			cols = append(cols, colInfo{Name: "percentile_" + base + "_" + label, Type: nonNull(cs[0].t)})
		}
		f := cs[0].fn
		return cols, func() aggState {
			var vals []any
			return &funcState{addFn: func(r Row) int64 {
				if v := f(r); v != nil {
					vals = append(vals, v)
					return cellBytes + valueBytes(v)
				}
				return 0
			}, resultFn: func() []any {
				sort.SliceStable(vals, func(i, j int) bool { return sortCompare(vals[i], vals[j]) < 0 })
				out := make([]any, len(ps))
				for i, pc := range ps {
					if len(vals) == 0 {
						continue
					}
					rank := int(math.Ceil(pc/100*float64(len(vals)))) - 1
					rank = max(0, min(rank, len(vals)-1))
					out[i] = vals[rank]
				}
				return out
			}}
		}, nil
	}
}

func aggStdev(cond, variance bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 1)
		if err != nil {
			return nil, nil, err
		}
		f := cs[0].fn
		return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: TypeReal}}, onlyIf(pred, func() aggState {
			var n, mean, m2 float64
			return &funcState{addFn: func(r Row) int64 {
				v, ok := asReal(f(r))
				if !ok {
					return 0
				}
				n++
				d := v - mean
				mean += d / n
				m2 += d * (v - mean)
				return 0
			}, resultFn: func() []any {
				if n < 2 {
					return []any{0.0}
				}
				if variance {
					return []any{m2 / (n - 1)}
				}
				return []any{math.Sqrt(m2 / (n - 1))}
			}}
		}), nil
	}
}

// aggMakeWithNulls is make_list_with_nulls(expr[, maxSize]): every row's value in order, a
// null kept as null.
func aggMakeWithNulls(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
	cs, err := p.aggArgs(x, ec, 1, 2)
	if err != nil {
		return nil, nil, err
	}
	maxN := int64(1048576)
	if len(cs) == 2 {
		if !cs[1].konst || !isNumeric(cs[1].t) {
			return nil, nil, bindErr(x.Args[1].pos(), "%s(): the size limit must be a constant number", x.Name)
		}
		if n, ok := asLong(cs[1].value()); ok {
			maxN = n
		}
	}
	f := cs[0].fn
	return []colInfo{{Name: "list_" + argName(x.Args[0], cs[0]), Type: TypeDynamic}}, func() aggState {
		out := []any{}
		return &funcState{addFn: func(r Row) int64 {
			if int64(len(out)) >= maxN {
				return 0
			}
			v := f(r)
			out = append(out, v)
			return cellBytes + valueBytes(v)
		}, resultFn: func() []any { return []any{out} }}
	}, nil
}

func aggAny(cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		if len(x.Args) == 0 {
			return nil, nil, bindErr(x.P, "%s() expects at least one argument", x.Name)
		}
		args := x.Args
		var pred func(Row) bool
		if cond {
			if len(args) != 2 {
				return nil, nil, bindErr(x.P, "%s() expects a value and a predicate", x.Name)
			}
			c, err := p.expr(args[1], ec)
			if err != nil {
				return nil, nil, err
			}
			pred, args = predFn(c), args[:1]
		}
		var cols []colInfo
		var fns []func(Row) any
		for _, a := range args {
			if _, ok := a.(*astStar); ok {
				for i, c := range ec.cols {
					if ec.byCols[c.Name] || c.hidden {
						continue
					}
					p.mark(c)
					j := i
					cols = append(cols, c)
					fns = append(fns, func(r Row) any { return r[j] })
				}
				continue
			}
			c, err := p.expr(a, ec)
			if err != nil {
				return nil, nil, err
			}
			name := "any_" + argName(a, c)
			if strings.EqualFold(x.Name, "take_any") && c.name != "" {
				name = c.name // only the deprecated any() adds any_ to a named value
			}
			cols = append(cols, colInfo{Name: name, Type: nonNull(c.t)})
			fns = append(fns, c.fn)
		}
		return cols, func() aggState {
			var vals []any
			return &funcState{addFn: func(r Row) int64 {
				if pred != nil && !pred(r) {
					return 0
				}
				if vals != nil {
					// prefer a row whose first value is not null
					if vals[0] != nil {
						return 0
					}
				}
				vals = make([]any, len(fns))
				for i, f := range fns {
					vals[i] = f(r)
				}
				return int64(cellBytes * len(fns)) // at most twice a group: null first, then not
			}, resultFn: func() []any {
				if vals == nil {
					return make([]any, len(fns))
				}
				return vals
			}}
		}, nil
	}
}

func unparen(e astExpr) astExpr {
	for {
		pe, ok := e.(*astParen)
		if !ok {
			return e
		}
		e = pe.X
	}
}
