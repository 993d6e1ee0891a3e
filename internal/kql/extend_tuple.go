package kql

import "strings"

// Tuple assignment in extend and project: (a, b) = f(x) names the columns of a function that
// the language expands into several (multiColumnFuncs), such as
// extend (anomalies, score, baseline) = series_decompose_anomalies(n). Here such a function
// returns one array of those values; the tuple spreads it over its columns, typed as the
// language types them. Names fewer than the columns name the first ones; as documented,
// extend then returns only the named columns, while project (and a call with no names) returns
// the others too under the names the language derives: f_arg_column, as in
// series_fit_line_n_slope.

// spreadSlot writes the values of one multi-column call into the output row.
type spreadSlot struct {
	fn    func(Row) any
	idx   []int  // output column of each value
	types []Type // type of each value
}

// fill evaluates the call over input row in and writes its values into out.
func (s spreadSlot) fill(out, in Row) {
	arr, _ := s.fn(in).([]any)
	for j, i := range s.idx {
		var v any
		if j < len(arr) {
			v = convertTo(arr[j], s.types[j])
		}
		out[i] = v
	}
}

// spread binds a tuple assignment, adding or replacing its columns in outCols.
func (p *planner) spread(ne astNamedExpr, ec *ectx, outCols *[]colInfo, project bool) (spreadSlot, error) {
	call, ok := unparen(ne.X).(*astCall)
	var cols []outColumn
	if ok {
		cols = multiColumnFuncs[strings.ToLower(call.Name)]
	}
	if cols == nil {
		return spreadSlot{}, bindErr(ne.X.pos(), "a tuple (a, b) = names the columns of a function that returns several, such as series_fit_line() or series_decompose_anomalies(); name an expression with one name")
	}
	if len(ne.Names) > len(cols) {
		return spreadSlot{}, bindErr(call.P, "%d names for the %d columns of %s(); name each column once", len(ne.Names), len(cols), call.Name)
	}
	c, err := p.expr(call, ec)
	if err != nil {
		return spreadSlot{}, err
	}
	prefix := strings.ToLower(call.Name) + "_"
	if len(call.Args) > 0 {
		if a, err := p.expr(call.Args[0], ec); err == nil {
			if n := argName(call.Args[0], a); n != "" {
				prefix += n + "_"
			}
		}
	}
	sp := spreadSlot{fn: c.fn}
	if !project && len(ne.Names) > 0 {
		cols = cols[:len(ne.Names)]
	}
	for j, oc := range cols {
		name := prefix + oc.name
		if j < len(ne.Names) {
			name = ne.Names[j]
		}
		i := findCol(*outCols, name)
		switch {
		case i >= 0 && project:
			return spreadSlot{}, bindErr(call.P, "column %q is projected twice", name)
		case i >= 0:
			(*outCols)[i] = colInfo{Name: name, Type: oc.t}
		default:
			i = len(*outCols)
			*outCols = append(*outCols, colInfo{Name: name, Type: oc.t})
		}
		sp.idx = append(sp.idx, i)
		sp.types = append(sp.types, oc.t)
	}
	return sp, nil
}
