package kql

import (
	"sort"
	"strings"
)

// bindPivot is pivot(PivotColumn [, Aggregation] [, Column, ...]): a row per distinct value
// of the group columns (by default every column but the pivot column and those the
// aggregation reads), then a column per distinct value of the pivot column, sorted by name,
// holding the aggregation (count() by default) of the rows with that value; a pair no row
// has holds the aggregation of no rows (0 for count()).
func bindPivot(p *planner, in *plan, o *astEvaluateOp, ec *ectx) (*plan, error) {
	if err := o.checkNames(); err != nil {
		return nil, err
	}
	if len(o.Args) == 0 {
		return nil, bindErr(o.P, "pivot expects the column to pivot, then optionally an aggregation such as count() or sum(x) and the columns to group by")
	}
	pcol, err := o.inputColumn(in, o.Args[0].X, "pivot column")
	if err != nil {
		return nil, err
	}
	agg := &astCall{P: o.P, Name: "count"}
	rest := o.Args[1:]
	if len(rest) > 0 {
		if c, ok := unparen(rest[0].X).(*astCall); ok {
			if aggs[strings.ToLower(c.Name)] == nil {
				return nil, bindErr(c.P, "pivot's second argument is an aggregation such as count(), sum(x) or take_any(x); %s() is not one", c.Name)
			}
			agg, rest = c, rest[1:]
		}
	}
	var by []astNamedExpr
	if len(rest) > 0 {
		for _, a := range rest {
			if _, err := o.inputColumn(in, a.X, "group column"); err != nil {
				return nil, err
			}
			by = append(by, astNamedExpr{X: unparen(a.X)})
		}
	} else {
		read := map[string]bool{}
		walkIdents(agg, func(n string) { read[n] = true })
		for i, c := range in.cols {
			if i != pcol && !read[c.Name] {
				by = append(by, astNamedExpr{X: &astIdent{P: o.P, Name: c.Name}})
			}
		}
	}
	groups := len(by)
	by = append(by, astNamedExpr{X: unparen(o.Args[0].X)})
	sp := &summarizePlan{p: p, opName: "pivot"}
	if err := sp.bindKeys(in, by, ec); err != nil {
		return nil, err
	}
	starts, err := sp.bindAggs([]astNamedExpr{{X: agg}}, ec)
	if err != nil {
		return nil, err
	}
	if len(sp.cols)-starts[0] != 1 {
		return nil, bindErr(agg.P, "pivot needs an aggregation of one column; %s() gives %d", agg.Name, len(sp.cols)-starts[0])
	}
	sp.in = in
	aggType := sp.cols[starts[0]].Type
	empty := castFromDynamic(sp.factories[0]().result()[0], aggType)
	known := sp.cols[:groups:groups]
	compute := func(rows []Row) ([]colInfo, []Row, error) {
		return pivotRows(rows, known, aggType, empty)
	}
	input := &plan{cols: sp.cols, open: sp.open}
	return p.plugin(input, o, known, compute)
}

// pivotRows turns the summarized rows (groups, pivot value, aggregate) into a row per group
// and a column per pivot value.
func pivotRows(rows []Row, groups []colInfo, aggType Type, empty any) ([]colInfo, []Row, error) {
	g := len(groups)
	names := map[string]bool{}
	var values []string
	for _, r := range rows {
		n := toString(r[g])
		if !names[n] {
			names[n] = true
			values = append(values, n)
		}
	}
	sort.Strings(values)
	cols := append([]colInfo(nil), groups...)
	colOf := map[string]int{}
	for _, v := range values {
		name := uniqueName(v, func(n string) bool { return findCol(cols, n) >= 0 })
		colOf[v] = len(cols)
		cols = append(cols, colInfo{Name: name, Type: aggType})
	}
	var out []Row
	byKey := map[string]Row{}
	var kb []byte
	for _, r := range rows {
		kb = kb[:0]
		for _, v := range r[:g] {
			kb = keyAppend(kb, v)
		}
		row := byKey[string(kb)]
		if row == nil {
			row = make(Row, len(cols))
			copy(row, r[:g])
			for i := g; i < len(cols); i++ {
				row[i] = empty
			}
			byKey[string(kb)] = row
			out = append(out, row)
		}
		row[colOf[toString(r[g])]] = r[g+1]
	}
	return cols, out, nil
}

// walkIdents calls fn with each name an expression reads.
func walkIdents(e astExpr, fn func(string)) {
	switch x := e.(type) {
	case *astIdent:
		fn(x.Name)
	case *astCall:
		for _, a := range x.Args {
			walkIdents(a, fn)
		}
	case *astBinary:
		walkIdents(x.L, fn)
		walkIdents(x.R, fn)
	case *astUnary:
		walkIdents(x.X, fn)
	case *astParen:
		walkIdents(x.X, fn)
	case *astMember:
		walkIdents(x.X, fn)
	case *astIndex:
		walkIdents(x.X, fn)
		walkIdents(x.I, fn)
	}
}
