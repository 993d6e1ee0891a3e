package kql

import (
	"context"
	"slices"
	"sort"
	"strings"
)

// astEvaluateOp is evaluate Plugin(Args) [: (OutputSchema)].
type astEvaluateOp struct {
	P      srcPos
	Name   string // lower case
	Args   []astNamedExpr
	Schema *astOutputSchema
}

// astOutputSchema is the : (Name:type, ...) after a plugin call; Star, written (*, ...),
// keeps the input's columns before the declared ones.
type astOutputSchema struct {
	Star bool
	Cols []astColDecl
}

func (o *astEvaluateOp) opPos() srcPos { return o.P }

// evalPlugin binds one plugin of evaluate over its input.
type evalPlugin func(p *planner, in *plan, o *astEvaluateOp, ec *ectx) (*plan, error)

// evalPlugins are the plugins evaluate runs, by name.
var evalPlugins map[string]evalPlugin

func init() {
	evalPlugins = map[string]evalPlugin{
		"bag_unpack":  bindBagUnpack,
		"pivot":       bindPivot,
		"ipv4_lookup": bindIPv4Lookup,
		"autocluster": bindAutocluster,
		"basket":      bindBasket,
	}
}

// parseEvaluate reads evaluate [hint.x=y] Plugin([Name=]Arg, ...) [: ([*,] Name:type, ...)];
// an argument may be tabular (ipv4_lookup's table).
func parseEvaluate(p *parser, pos srcPos, _ string) (astOp, error) {
	if _, err := p.params(); err != nil {
		return nil, err
	}
	t := p.peek()
	name, err := p.name("a plugin name such as bag_unpack or pivot")
	if err != nil {
		return nil, err
	}
	op := &astEvaluateOp{P: posOf(t), Name: strings.ToLower(name)}
	if err := p.wantOp("("); err != nil {
		return nil, err
	}
	err = p.list(")", func() error {
		var ne astNamedExpr
		if t, t1 := p.peek(), p.peekN(1); t.kind == tIdent && t1.kind == tOp && t1.text == "=" {
			p.i += 2
			ne.Name = t.text
		}
		x, err := p.pipeExpr()
		if err != nil {
			return err
		}
		ne.X = x
		op.Args = append(op.Args, ne)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.acceptOp(":") {
		op.Schema = &astOutputSchema{}
		if err := p.wantOp("("); err != nil {
			return nil, err
		}
		if p.acceptOp("*") {
			op.Schema.Star = true
			if !p.acceptOp(",") && !p.isOp(")") {
				return nil, p.expected(`"," or ")"`)
			}
		}
		err := p.list(")", func() error {
			cd, err := p.colDecl()
			op.Schema.Cols = append(op.Schema.Cols, cd)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return op, nil
}

func (o *astEvaluateOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	plugin, ok := evalPlugins[o.Name]
	if !ok {
		names := make([]string, 0, len(evalPlugins))
		for n := range evalPlugins {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, bindErr(o.P, "unknown evaluate plugin %q: the plugins supported are %s", o.Name, strings.Join(names, ", "))
	}
	return plugin(p, in, o, ec)
}

// arg is the plugin argument of that name, or else the positional one at i (named arguments
// do not count as positions); nil when absent or written as the default marker "~".
func (o *astEvaluateOp) arg(i int, name string) astExpr {
	for _, a := range o.Args {
		if name != "" && strings.EqualFold(a.Name, name) {
			return a.X
		}
	}
	n := 0
	for _, a := range o.Args {
		if a.Name != "" {
			continue
		}
		if n == i {
			if l, ok := a.X.(*astLit); ok && l.Val == "~" {
				return nil
			}
			return a.X
		}
		n++
	}
	return nil
}

// positional is how many arguments are written without a name.
func (o *astEvaluateOp) positional() int {
	n := 0
	for _, a := range o.Args {
		if a.Name == "" {
			n++
		}
	}
	return n
}

// checkNames refuses an argument name the plugin does not take.
func (o *astEvaluateOp) checkNames(names ...string) error {
	for _, a := range o.Args {
		if a.Name != "" && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, a.Name) }) {
			return bindErr(a.X.pos(), "%s takes no argument named %s; it takes %s", o.Name, a.Name, strings.Join(names, ", "))
		}
	}
	return nil
}

// inputColumn is the input column an argument names; -1 when the input's columns come from
// data not yet read (dataCols.open), which may give it.
func (o *astEvaluateOp) inputColumn(in *plan, e astExpr, what string) (int, error) {
	id, ok := unparen(e).(*astIdent)
	if !ok {
		return -1, bindErr(e.pos(), "%s's %s must be a column of its input", o.Name, what)
	}
	i := findCol(in.cols, id.Name)
	if i < 0 && (in.dataSchema == nil || !in.dataSchema.open) {
		return -1, bindErr(e.pos(), "%s's %s %q is not a column of its input", o.Name, what, id.Name)
	}
	return i, nil
}

// constArg is a constant argument's value, nil when absent.
func (p *planner) constArg(o *astEvaluateOp, e astExpr, what string, ec *ectx, want ...Type) (any, error) {
	if e == nil {
		return nil, nil
	}
	c, err := p.expr(e, ec)
	if err != nil {
		return nil, err
	}
	if !c.konst || !slices.Contains(want, c.t) && !(isNumeric(c.t) && slices.ContainsFunc(want, isNumeric)) {
		names := make([]string, len(want))
		for i, t := range want {
			names[i] = t.String()
		}
		return nil, bindErr(e.pos(), "%s's %s must be a constant %s", o.Name, what, strings.Join(names, " or "))
	}
	return c.value(), nil
}

// dataDependent plans a plugin whose output columns depend on its input's rows. The bind
// pass cannot know them: it gives the columns known from the query (known) and marks the
// plan with the plugin's name, so that later operators may name columns it does not list
// (they bind as dynamic) and a misspelt one is caught by the run. The run pass reads the
// whole input first, as the cloud's engine does for these plugins without an output schema,
// and plans what follows over the columns the data gave; a name those lack is then an
// error. compute builds the columns and rows from the input's rows.
func (p *planner) dataDependent(in *plan, o *astEvaluateOp, known []colInfo, compute func([]Row) ([]colInfo, []Row, error)) (*plan, error) {
	p.markAll(in)
	if p.run == nil {
		return &plan{cols: known, dataSchema: &dataCols{plugin: o.Name, open: true}}, nil
	}
	if p.perRow > 0 {
		return nil, bindErr(o.P, "evaluate %s inside mv-apply needs an output schema, as in evaluate %s(...) : (Name:type, ...): its columns would otherwise change from row to row", o.Name, o.Name)
	}
	acct := p.run.account(o.Name)
	rows, err := p.run.collect(in, acct)
	if err != nil {
		acct.release()
		return nil, err
	}
	cols, out, err := compute(rows)
	if err != nil {
		acct.release()
		return nil, err
	}
	if err := acct.setRows(out); err != nil {
		acct.release()
		return nil, err
	}
	// no rows: a name the data might have given binds as null, as nothing reads it
	return &plan{cols: cols, dataSchema: &dataCols{plugin: o.Name, open: len(out) == 0}, open: func(context.Context) (iterator, error) {
		return &sliceIter{rows: out, acct: acct}, nil
	}}, nil
}

// withSchema plans a plugin run with its output schema declared: the columns are known
// when binding, and compute's result is laid onto them by name, each value converted to
// the declared type; a declared column the data did not produce is null, one the data
// produced and the schema leaves out is dropped. Star keeps first the input's columns that
// the plugin passes on (known).
func (p *planner) withSchema(in *plan, o *astEvaluateOp, known []colInfo, compute func([]Row) ([]colInfo, []Row, error)) (*plan, error) {
	p.markAll(in)
	var cols []colInfo
	if o.Schema.Star {
		cols = append(cols, known...)
	}
	for _, cd := range o.Schema.Cols {
		if findCol(cols, cd.Name) >= 0 {
			return nil, bindErr(cd.P, "column %q appears twice in the output schema of %s", cd.Name, o.Name)
		}
		cols = append(cols, colInfo{Name: cd.Name, Type: cd.Type})
	}
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		acct := p.run.account(o.Name)
		rows, err := p.run.collect(in, acct)
		if err != nil {
			acct.release()
			return nil, err
		}
		got, grows, err := compute(rows)
		if err != nil {
			acct.release()
			return nil, err
		}
		from := make([]int, len(cols))
		for i, c := range cols {
			from[i] = findCol(got, c.Name)
		}
		res := make([]Row, len(grows))
		for r, g := range grows {
			row := make(Row, len(cols))
			for i, j := range from {
				if j >= 0 {
					row[i] = convertTo(g[j], cols[i].Type)
				} else if cols[i].Type == TypeString {
					row[i] = ""
				}
			}
			res[r] = row
		}
		if err := acct.setRows(res); err != nil {
			acct.release()
			return nil, err
		}
		return &sliceIter{rows: res, acct: acct}, nil
	}
	return out, nil
}

// plugin plans a data-dependent plugin with or without its declared output schema.
func (p *planner) plugin(in *plan, o *astEvaluateOp, known []colInfo, compute func([]Row) ([]colInfo, []Row, error)) (*plan, error) {
	if o.Schema != nil {
		return p.withSchema(in, o, known, compute)
	}
	return p.dataDependent(in, o, known, compute)
}

// valueType is the column type a dynamic value unpacks to: dynTypeOf's,
// but a null or an unknown value stays dynamic.
func valueType(v any) Type {
	if t := dynTypeOf(v); t != TypeNull {
		return t
	}
	return TypeDynamic
}

// bindBagUnpack is bag_unpack(Column [, OutputColumnPrefix] [, columnsConflict]
// [, ignoredProperties]): the input less Column, then a column per distinct top-level key of
// its bags, sorted by name, typed by the key's values when they share a type (nulls aside)
// and dynamic otherwise.
func bindBagUnpack(p *planner, in *plan, o *astEvaluateOp, ec *ectx) (*plan, error) {
	if err := o.checkNames("OutputColumnPrefix", "columnsConflict", "ignoredProperties"); err != nil {
		return nil, err
	}
	if o.positional() < 1 || o.positional() > 4 {
		return nil, bindErr(o.P, "bag_unpack expects a dynamic column, then optionally a column prefix, columnsConflict and ignoredProperties")
	}
	col, err := o.inputColumn(in, o.arg(0, ""), "column")
	if err != nil {
		return nil, err
	}
	if col < 0 { // a column earlier data may give; with none at run, no rows
		return p.dataDependent(in, o, in.cols, func([]Row) ([]colInfo, []Row, error) { return in.cols, nil, nil })
	}
	if t := in.cols[col].Type; t != TypeDynamic {
		return nil, bindErr(o.P, "bag_unpack unpacks a dynamic column; %s is %s", in.cols[col].Name, t)
	}
	prefix, err := p.constArg(o, o.arg(1, "OutputColumnPrefix"), "OutputColumnPrefix", ec, TypeString)
	if err != nil {
		return nil, err
	}
	conflict, err := p.constArg(o, o.arg(2, "columnsConflict"), "columnsConflict", ec, TypeString)
	if err != nil {
		return nil, err
	}
	switch conflict {
	case nil, "error", "replace_source", "keep_source":
	default:
		return nil, bindErr(o.P, "bag_unpack's columnsConflict is error, replace_source or keep_source, not %q", conflict)
	}
	ignoredArg, err := p.constArg(o, o.arg(3, "ignoredProperties"), "ignoredProperties", ec, TypeDynamic)
	if err != nil {
		return nil, err
	}
	bu := &bagUnpack{pos: o.P, in: in.cols, col: col, ignored: map[string]bool{}}
	bu.prefix, _ = prefix.(string)
	bu.conflict, _ = conflict.(string)
	if arr, ok := ignoredArg.([]any); ok {
		for _, v := range arr {
			bu.ignored[toString(v)] = true
		}
	}
	var known []colInfo
	for i, c := range in.cols {
		if i != col {
			known = append(known, c)
		}
	}
	return p.plugin(in, o, known, bu.unpack)
}

// bagUnpack is one bound bag_unpack.
type bagUnpack struct {
	pos      srcPos
	in       []colInfo
	col      int
	prefix   string
	conflict string // "", error, replace_source or keep_source
	ignored  map[string]bool
}

// unpack finds the bags' keys and their types, then lays each row out over them.
func (b *bagUnpack) unpack(rows []Row) ([]colInfo, []Row, error) {
	types := map[string]Type{}
	for _, r := range rows {
		bag, _ := r[b.col].(map[string]any)
		for k, v := range bag {
			if b.ignored[k] || v == nil {
				if _, seen := types[k]; !seen && !b.ignored[k] {
					types[k] = TypeNull
				}
				continue
			}
			t, seen := types[k]
			switch vt := valueType(v); {
			case !seen || t == TypeNull:
				types[k] = vt
			case t != vt:
				types[k] = TypeDynamic
			}
		}
	}
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// the input's columns less the unpacked one, then the keys
	var cols []colInfo
	var from []int
	for i, c := range b.in {
		if i != b.col {
			cols = append(cols, c)
			from = append(from, i)
		}
	}
	keep := len(cols)
	var keyOf []string
	for _, k := range keys {
		name := b.prefix + k
		if i := findCol(cols[:keep], name); i >= 0 {
			switch b.conflict {
			case "keep_source":
				continue
			case "replace_source":
				cols = slices.Delete(cols, i, i+1)
				from = slices.Delete(from, i, i+1)
				keep--
			default:
				return nil, nil, bindErr(b.pos, "bag_unpack: the bags' key %q would be a second column %q; pass columnsConflict='replace_source' or 'keep_source', or an OutputColumnPrefix", k, name)
			}
		}
		t := types[k]
		if t == TypeNull {
			t = TypeDynamic
		}
		cols = append(cols, colInfo{Name: name, Type: t})
		keyOf = append(keyOf, k)
	}
	out := make([]Row, len(rows))
	for n, r := range rows {
		row := make(Row, len(cols))
		for i, j := range from {
			row[i] = r[j]
		}
		bag, _ := r[b.col].(map[string]any)
		for i, k := range keyOf {
			row[keep+i] = castFromDynamic(bag[k], cols[keep+i].Type)
		}
		out[n] = row
	}
	return cols, out, nil
}

// closesSchema reports whether op's output columns are all named by the query, so that
// columns an evaluate plugin's data decided before it are no longer open to reference.
func closesSchema(op astOp) bool {
	switch op.(type) {
	case *astProjectOp, *astSummarizeOp, *astCountOp, *astDistinctOp, *astGetSchemaOp, *astMakeSeriesOp, *astTopNestedOp:
		return true
	}
	return false
}

// dataColumn is a name no column of the input has, after a plugin whose data decide its
// columns: in the bind pass, a column those data may give (dynamic, until the run knows it);
// in the run pass, an error naming the plugin, unless its input had no rows.
func (p *planner) dataColumn(x *astIdent, ec *ectx) (cexpr, error) {
	if ec.dataSchema.open {
		return cexpr{t: TypeDynamic, col: -1, name: x.Name, fn: func(Row) any { return nil }}, nil
	}
	return cexpr{}, bindErr(x.P, "unknown column %q: the columns after evaluate %s come from its input's rows, and this run's rows gave none of that name; use column_ifexists(%q, default), or declare the columns as in evaluate %s(...) : (%s:string, ...)", x.Name, ec.dataSchema.plugin, x.Name, ec.dataSchema.plugin, x.Name)
}

// dataCols is the plugin whose input's rows decide columns of a plan, and whether a column
// the plan lacks may still be named: always when binding, which cannot know the columns,
// and at run when the plugin had no rows, so that no rows give no rows rather than an error.
type dataCols struct {
	plugin string
	open   bool
}
