package kql

import (
	"slices"
	"strings"
)

// This file holds hll(), hll_if() and hll_merge(), which build and merge the intermediate
// results of a distinct count, and dcount_hll(), which reads one. The cloud keeps a
// HyperLogLog sketch; the engine keeps the distinct values themselves, as its dcount() does, so
// dcount_hll() is exact. The value is a dynamic array of those values, sorted by their
// encoding so that equal sets render alike; a query should treat it as opaque, as the cloud's.

// scalarAggregates are the names that are an aggregation with one argument and a scalar
// function with more: hll_merge(hll) merges a column's values, hll_merge(h1, h2, ...) a row's.
var scalarAggregates = map[string]bool{"hll_merge": true}

// isAggregateCall reports whether x calls an aggregation rather than a scalar function.
func isAggregateCall(x *astCall) bool {
	name := strings.ToLower(x.Name)
	if aggs[name] == nil {
		return false
	}
	return !scalarAggregates[name] || len(x.Args) <= 1
}

// aggHll is hll(expr[, accuracy]) and hll_if(expr, predicate[, accuracy]).
func aggHll(cond bool) aggSpec {
	return func(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
		cs, pred, err := p.condArgs(x, ec, cond, 1, 2)
		if err != nil {
			return nil, nil, err
		}
		if acc := len(cs) - 1; acc > 0 && !(cond && acc == 1) {
			a := cs[acc]
			n, ok := asLong(a.value())
			if !a.konst || !ok || n < 0 || n > 4 {
				return nil, nil, bindErr(x.Args[acc].pos(), "%s(): the accuracy must be a constant 0 to 4", x.Name)
			}
		}
		f := cs[0].fn
		return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: TypeDynamic}}, onlyIf(pred, func() aggState {
			s := hllSet{}
			return &funcState{addFn: func(r Row) int64 { return s.add(f(r)) }, resultFn: func() []any { return []any{s.value()} }}
		}), nil
	}
}

// aggHllMerge is hll_merge(hll): the union of the column's sets.
func aggHllMerge(p *planner, x *astCall, ec *ectx) ([]colInfo, func() aggState, error) {
	cs, err := p.aggArgs(x, ec, 1, 1)
	if err != nil {
		return nil, nil, err
	}
	f := cs[0].fn
	return []colInfo{{Name: aggPrefix(x) + argName(x.Args[0], cs[0]), Type: TypeDynamic}}, func() aggState {
		s := hllSet{}
		return &funcState{addFn: func(r Row) int64 {
			arr, _ := f(r).([]any)
			var grown int64
			for _, v := range arr {
				grown += s.add(v)
			}
			return grown
		}, resultFn: func() []any { return []any{s.value()} }}
	}, nil
}

// hllSet is the distinct non-null values seen, by their encoding.
type hllSet map[string]any

func (s hllSet) add(v any) int64 {
	if v == nil {
		return 0
	}
	k := string(keyAppend(nil, v))
	if _, ok := s[k]; ok {
		return 0
	}
	s[k] = v
	return mapEntryBytes + cellBytes + valueBytes(v) + int64(len(k))
}

func (s hllSet) value() []any {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = s[k]
	}
	return out
}

// registerHllFuncs adds the scalar hll_merge and dcount_hll to the table built in funcs.go.
func registerHllFuncs(m map[string]fnSpec) {
	m["hll_merge"] = fnSpec{min: 2, max: 64, ret: checked(TypeDynamic, kArray), impl: func(a []any) any {
		s := hllSet{}
		for _, v := range a {
			if v == nil {
				continue
			}
			arr, ok := v.([]any)
			if !ok {
				return nil
			}
			for _, e := range arr {
				s.add(e)
			}
		}
		return s.value()
	}}
	m["dcount_hll"] = fnSpec{min: 1, max: 1, ret: checked(TypeLong, kArray), impl: func(a []any) any {
		arr, ok := a[0].([]any)
		if !ok {
			return nil
		}
		return int64(len(arr))
	}}
}
