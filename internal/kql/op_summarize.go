package kql

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// astSummarizeOp is summarize Aggs by By.
type astSummarizeOp struct {
	P    srcPos
	Aggs []astNamedExpr
	By   []astNamedExpr
}

func (o *astSummarizeOp) opPos() srcPos { return o.P }

// parseSummarize reads summarize [Aggregates] [by Groups].
func parseSummarize(p *parser, pos srcPos, _ string) (astOp, error) {
	if _, err := p.params(); err != nil {
		return nil, err
	}
	op := &astSummarizeOp{P: pos}
	var err error
	if !p.isKw("by") {
		if op.Aggs, err = p.aggList(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("by") {
		if op.By, err = p.namedList(); err != nil {
			return nil, err
		}
	}
	if len(op.Aggs) == 0 && len(op.By) == 0 {
		return nil, p.expected("an aggregation or by")
	}
	return op, nil
}

func (o *astSummarizeOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.summarize(in, o, withIngest(ec, in), "summarize")
}

// aggList is summarize's aggregates: namedList, where an aggregate may also be named by a
// tuple, (a, b) = arg_max(t, x).
func (p *parser) aggList() ([]astNamedExpr, error) {
	var out []astNamedExpr
	for {
		var ne astNamedExpr
		var err error
		if names := p.tupleNames(); names != nil {
			ne.Names = names
			ne.X, err = p.expr()
		} else {
			ne, err = p.named()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ne)
		if !p.acceptOp(",") {
			return out, nil
		}
	}
}

// tupleNames reads the (a, b) = of a tuple assignment and returns its names, or nil with
// nothing read when the input is not one (a parenthesized expression).
func (p *parser) tupleNames() []string {
	if !p.isOp("(") {
		return nil
	}
	save := p.i
	p.next()
	var names []string
	for {
		n, err := p.name("")
		if err != nil {
			p.i = save
			return nil
		}
		names = append(names, n)
		if !p.acceptOp(",") {
			break
		}
	}
	if !p.acceptOp(")") || !p.acceptOp("=") {
		p.i = save
		return nil
	}
	return names
}

// summarize groups rows by the by-expressions and folds each group with the aggregates;
// opName is the operator the query wrote (summarize, or distinct which is planned as one).
func (p *planner) summarize(in *plan, o *astSummarizeOp, ec *ectx, opName string) (*plan, error) {
	if lifted := liftAggregates(o.Aggs); lifted != nil {
		return p.summarizeExprs(in, o, lifted, ec, opName)
	}
	out, _, err := p.summarizeGroups(in, o, ec, opName)
	return out, err
}

// summarizeGroups is summarize where every aggregate is a call of an aggregation function;
// starts is the index of the first output column of each aggregate.
func (p *planner) summarizeGroups(in *plan, o *astSummarizeOp, ec *ectx, opName string) (out *plan, starts []int, err error) {
	sp := &summarizePlan{p: p, opName: opName}
	if err := sp.bindKeys(in, o.By, ec); err != nil {
		return nil, nil, err
	}
	if starts, err = sp.bindAggs(o.Aggs, ec); err != nil {
		return nil, nil, err
	}
	if ec.usesIngest() {
		in = in.ingest()
	}
	sp.in = in
	sp.columnar = in.openCols != nil
	for k, c := range sp.keyCols {
		sp.columnar = sp.columnar && (c >= 0 || sp.keyInts[k] != nil)
		sp.exprKeys = sp.exprKeys || c < 0
	}
	sp.countOnly = true
	for _, f := range sp.factories {
		if c, ok := f().(*countState); !ok || c.pred != nil {
			sp.countOnly = false
		}
	}
	out = &plan{cols: sp.cols, open: sp.open}
	if aggs := spanAggs(o, in, ec); aggs != nil {
		out.open = func(ctx context.Context) (iterator, error) {
			row, ok, err := p.spanRow(ctx, in, aggs)
			switch {
			case err != nil:
				return nil, err
			case !ok:
				return sp.open(ctx)
			}
			return &sliceIter{rows: []Row{row}}, nil
		}
	}
	return out, starts, nil
}

// summarizePlan is a bound summarize: its group keys, then its aggregates, as output columns.
type summarizePlan struct {
	p         *planner
	opName    string
	in        *plan
	cols      []colInfo
	keyFns    []func(Row) any
	keyCols   []int     // input column of each key when it is a bare column, else -1
	keyInts   []*vecInt // of each key that is an expression: its unboxed form, if it has one
	exprKeys  bool      // some key is an expression (with an unboxed form, when columnar)
	factories []func() aggState
	columnar  bool // the keys are read by column, typed where the source typed them
	countOnly bool // every aggregate is a plain count()
}

func (sp *summarizePlan) used(n string) bool { return findCol(sp.cols, n) >= 0 }

// bindKeys binds the by-expressions: each names a column, written or derived.
func (sp *summarizePlan) bindKeys(in *plan, by []astNamedExpr, ec *ectx) error {
	auto := 0
	for _, ne := range by {
		c, err := sp.p.expr(ne.X, ec)
		if err != nil {
			return err
		}
		name := ne.Name
		if name == "" {
			name = c.name
		}
		if name == "" {
			auto++
			name = "Column" + strconv.Itoa(auto)
		}
		if sp.used(name) && ne.Name == "" && c.col < 0 {
			// a name derived from an expression (tostring(x) again) is made unique, as
			// the cloud's engine does; a name written or a column grouped twice is a mistake
			name = uniqueName(name, sp.used)
		}
		if sp.used(name) {
			return bindErr(ne.X.pos(), "column %q appears twice in summarize", name)
		}
		ci := colInfo{Name: name, Type: nonNull(c.t)}
		if c.col >= 0 {
			ci.origin = in.cols[c.col].origin
		}
		sp.cols = append(sp.cols, ci)
		sp.keyFns = append(sp.keyFns, c.fn)
		sp.keyCols = append(sp.keyCols, c.col)
		sp.keyInts = append(sp.keyInts, c.ints)
	}
	return nil
}

// bindAggs binds the aggregates, each a call of an aggregation function, and returns the
// index of the first output column of each.
func (sp *summarizePlan) bindAggs(list []astNamedExpr, ec *ectx) (starts []int, err error) {
	// arg_max(x, *) and take_any(*) leave out the group columns, which lead the row anyway:
	// an input column of a group column's name (Computer, or tostring(Computer))
	aec := *ec
	aec.byCols = map[string]bool{}
	for _, c := range sp.cols {
		aec.byCols[c.Name] = true
	}
	for _, ne := range list {
		call, ok := unparen(ne.X).(*astCall)
		var spec aggSpec
		if ok {
			spec = aggs[strings.ToLower(call.Name)]
		}
		if spec == nil && len(ne.Names) > 0 {
			return nil, bindErr(ne.X.pos(), "a tuple (a, b) = names the columns of one aggregation call, such as arg_max(); name an expression with one name")
		}
		if spec == nil {
			return nil, bindErr(ne.X.pos(), "summarize needs an aggregation function such as count(), sum() or make_set()")
		}
		aec.aggNames = ne.Names
		if ne.Name != "" {
			aec.aggNames = []string{ne.Name}
		}
		acols, fac, err := spec(sp.p, call, &aec)
		if err != nil {
			return nil, err
		}
		if err := nameAggColumns(acols, ne, call); err != nil {
			return nil, err
		}
		starts = append(starts, len(sp.cols))
		for i := range acols {
			acols[i].Name = uniqueName(acols[i].Name, sp.used)
			sp.cols = append(sp.cols, acols[i])
		}
		sp.factories = append(sp.factories, fac)
	}
	return starts, nil
}

// open runs the summarize: it folds the whole input into groups, then replays a row per
// group in order of first appearance.
func (sp *summarizePlan) open(ctx context.Context) (iterator, error) {
	// the account holds the groups, then the rows made of them until the consumer closes
	// the iterator that replays them
	acct := sp.p.run.account(sp.opName)
	g := sp.newGroups(acct)
	var err error
	if sp.columnar {
		err = summarizeCols(ctx, sp.in, sp.countOnly, acct, g.ofBatch)
	} else {
		err = summarizeRows(ctx, sp.in, acct, g.ofRow)
	}
	if err != nil {
		acct.release()
		return nil, err
	}
	return &sliceIter{rows: g.rows(), acct: acct}, nil
}

// groups is one run's groups of a summarize, found by their keys and charged to acct.
type groups struct {
	*summarizePlan
	acct   *memAccount
	byKey  map[any]*group
	byStr  map[string]*group // single string key: no interface hashing
	byKeys map[string]*group // several keys: by their encoding in kb (keyAppend's)
	order  []*group
	kb     []byte              // several keys: their encoding
	kv     []any               // the keys keyGroup looks for
	intFns []func(int64) int64 // expression keys: the function of each for the batch (see vecInt)
	counts []int64             // count by dictionary: a count per entry
	firsts []int               // count by dictionary: the entries in order of first appearance
}

func (sp *summarizePlan) newGroups(acct *memAccount) *groups {
	g := &groups{summarizePlan: sp, acct: acct, byKey: map[any]*group{}, kv: make([]any, len(sp.keyFns)),
		intFns: make([]func(int64) int64, len(sp.keyFns))}
	if len(sp.keyFns) == 1 && sp.cols[0].Type == TypeString {
		g.byStr = map[string]*group{}
	}
	if len(sp.keyFns) > 1 {
		g.byKeys = map[string]*group{}
	}
	if len(sp.keyFns) == 0 {
		g.byKey[nil] = g.newGroup(nil)
	}
	return g
}

func (g *groups) newGroup(keys []any) *group {
	ng := &group{keys: keys, states: make([]aggState, len(g.factories))}
	for i, f := range g.factories {
		ng.states[i] = f()
	}
	g.order = append(g.order, ng)
	return ng
}

// stringGroup is the group of a single string key.
func (g *groups) stringGroup(s string) (*group, error) {
	sg := g.byStr[s]
	if sg == nil {
		sg = g.newGroup([]any{s})
		g.byStr[s] = sg
		if err := g.acct.add(int64(64+48*len(g.factories)) + int64(len(s))); err != nil {
			return nil, err
		}
	}
	return sg, nil
}

// keyGroup is the group of the keys in kv, which it does not keep.
func (g *groups) keyGroup() (*group, error) {
	var k any
	switch len(g.kv) {
	case 0:
	case 1:
		k = scalarKey(g.kv[0])
	default:
		g.kb = g.kb[:0]
		for _, v := range g.kv {
			g.kb = keyAppend(g.kb, v)
		}
		return g.keysGroup(nil, 0)
	}
	kg := g.byKey[k]
	if kg == nil {
		kg = g.newGroup(slices.Clone(g.kv))
		g.byKey[k] = kg
		if err := g.acct.add(int64(64+48*len(g.factories)) + rowBytes(kg.keys)); err != nil {
			return nil, err
		}
	}
	return kg, nil
}

// keysGroup is the group of several keys encoded in kb: their values are kv, or row r of
// cb's key columns if cb is set, read only when the group is new. Looking a group up
// allocates nothing.
func (g *groups) keysGroup(cb *colBatch, r int) (*group, error) {
	if kg := g.byKeys[string(g.kb)]; kg != nil {
		return kg, nil
	}
	if cb != nil {
		for k := range g.keyCols {
			g.kv[k] = g.keyValue(cb, k, r)
		}
	}
	kg := g.newGroup(slices.Clone(g.kv))
	g.byKeys[string(g.kb)] = kg
	if err := g.acct.add(int64(64+48*len(g.factories)) + rowBytes(kg.keys)); err != nil {
		return nil, err
	}
	return kg, nil
}

// intVector reports whether v holds integers (an int or a long column).
func intVector(v *Vector) bool { return v != nil && v.integers() }

// intGroup is the group of a single integer key, row r of v: found without boxing the
// value, which keyGroup would (its map holds an integer key as an int64).
func (g *groups) intGroup(v *Vector, r int) (*group, error) {
	if v.Valid != nil && !v.Valid[r] {
		g.kv[0] = nil
		return g.keyGroup()
	}
	if kg := g.byKey[v.Ints[r]]; kg != nil {
		return kg, nil
	}
	g.kv[0] = v.Ints[r]
	return g.keyGroup()
}

// typedKeys reports whether every bare-column key of cb is a vector appendVectorKey encodes.
func (g *groups) typedKeys(cb *colBatch) bool {
	for _, c := range g.keyCols {
		if c >= 0 && cb.b.vector(c) == nil {
			return false
		}
	}
	return true
}

// appendVectorKey appends row r of v as keyAppend does its value (v.Value(r)), without
// boxing it.
func appendVectorKey(b []byte, v *Vector, r int) []byte {
	if v.Type == TypeString {
		s := v.Str(r) // a null string is ""
		b = append(b, 1)
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		return append(b, s...)
	}
	if v.Valid != nil && !v.Valid[r] {
		return append(b, 0)
	}
	switch v.Type {
	case TypeInt, TypeLong:
		return strconv.AppendInt(append(b, 2), v.Ints[r], 10)
	case TypeDatetime:
		return strconv.AppendInt(append(b, 5), v.Ints[r], 10)
	case TypeBool:
		if v.Bools[r] {
			return append(b, 4, 1)
		}
		return append(b, 4, 0)
	}
	return keyAppend(b, v.Value(r))
}

// ofRow is the group of row r.
func (g *groups) ofRow(r Row) (*group, error) {
	if g.byStr != nil {
		s, _ := g.keyFns[0](r).(string)
		return g.stringGroup(s)
	}
	for i, f := range g.keyFns {
		g.kv[i] = f(r)
	}
	return g.keyGroup()
}

// ofBatch finds the groups gs of a batch's rows by column; with count() alone over a
// dictionary-coded string key it counts the batch itself and reports so.
func (g *groups) ofBatch(cb *colBatch, gs []*group) (bool, error) {
	if g.exprKeys {
		return false, g.ofExprBatch(cb, gs)
	}
	var v *Vector
	if g.byStr != nil {
		v = cb.b.vector(g.keyCols[0])
	}
	switch {
	case v != nil && v.Dict != nil && g.countOnly:
		return true, g.countByDict(cb, v)
	case v != nil && v.Dict != nil:
		return false, g.ofDict(cb, v, gs)
	case g.byStr != nil:
		for i, r := range cb.sel {
			var err error
			if gs[i], err = g.stringGroup(cb.str(g.keyCols[0], r)); err != nil {
				return false, err
			}
		}
	case len(g.keyCols) == 1 && g.byStr == nil && intVector(cb.b.vector(g.keyCols[0])):
		v := cb.b.vector(g.keyCols[0])
		for i, r := range cb.sel {
			var err error
			if gs[i], err = g.intGroup(v, r); err != nil {
				return false, err
			}
		}
	case g.byKeys != nil && g.typedKeys(cb):
		for i, r := range cb.sel {
			g.kb = g.kb[:0]
			for _, c := range g.keyCols {
				g.kb = appendVectorKey(g.kb, cb.b.vector(c), r)
			}
			var err error
			if gs[i], err = g.keysGroup(cb, r); err != nil {
				return false, err
			}
		}
	default:
		for i, r := range cb.sel {
			for k, c := range g.keyCols {
				g.kv[k] = cb.value(c, r)
			}
			var err error
			if gs[i], err = g.keyGroup(); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// ofExprBatch finds the groups of a batch's rows where some key is an expression with an
// unboxed form (vecInt): read from the vectors, a value boxed only for a new group; or, for a
// batch whose vectors do not serve, by the key expressions on boxed rows.
func (g *groups) ofExprBatch(cb *colBatch, gs []*group) error {
	var err error
	if !g.prepareInts(cb) || !g.typedKeys(cb) {
		for i, r := range cb.sel {
			row := cb.row(r)
			for k, f := range g.keyFns {
				g.kv[k] = f(row)
			}
			if gs[i], err = g.keyGroup(); err != nil {
				return err
			}
		}
		return nil
	}
	if len(g.keyCols) == 1 {
		e, fn := g.keyInts[0], g.intFns[0]
		v := cb.b.vector(e.col)
		for i, r := range cb.sel {
			if v.Valid != nil && !v.Valid[r] {
				g.kv[0] = nil
			} else {
				x := fn(v.Ints[r])
				k := x // scalarKey's of the boxed value: a long itself, a datetime encoded
				if e.out == TypeDatetime {
					k = x<<3 | 5
				}
				if gs[i] = g.byKey[k]; gs[i] != nil {
					continue
				}
				g.kv[0] = e.box(x, true)
			}
			if gs[i], err = g.keyGroup(); err != nil {
				return err
			}
		}
		return nil
	}
	for i, r := range cb.sel {
		g.kb = g.kb[:0]
		for k, c := range g.keyCols {
			if c >= 0 {
				g.kb = appendVectorKey(g.kb, cb.b.vector(c), r)
				continue
			}
			x, ok := g.intKey(cb, k, r)
			switch {
			case !ok:
				g.kb = append(g.kb, 0)
			case g.keyInts[k].out == TypeDatetime:
				g.kb = strconv.AppendInt(append(g.kb, 5), x, 10)
			default:
				g.kb = strconv.AppendInt(append(g.kb, 2), x, 10)
			}
		}
		if gs[i], err = g.keysGroup(cb, r); err != nil {
			return err
		}
	}
	return nil
}

// prepareInts readies the expression keys' unboxed forms for batch cb, and reports whether
// every one serves it.
func (g *groups) prepareInts(cb *colBatch) bool {
	for k, e := range g.keyInts {
		if e == nil {
			continue
		}
		if !e.typed(cb) {
			return false
		}
		if g.intFns[k] = e.prepare(); g.intFns[k] == nil {
			return false
		}
	}
	return true
}

// intKey is expression key k of row r of cb, unboxed (see prepareInts); false for a null.
func (g *groups) intKey(cb *colBatch, k, r int) (int64, bool) {
	v := cb.b.vector(g.keyInts[k].col)
	if v.Valid != nil && !v.Valid[r] {
		return 0, false
	}
	return g.intFns[k](v.Ints[r]), true
}

// keyValue is key k of row r of cb as the row form gives it: a column's value, or an
// expression's from its unboxed form.
func (g *groups) keyValue(cb *colBatch, k, r int) any {
	if c := g.keyCols[k]; c >= 0 {
		return cb.value(c, r)
	}
	return g.keyInts[k].box(g.intKey(cb, k, r))
}

// countByDict is count() alone by a dictionary-coded key: a count per dictionary entry
// (entry len(Dict) for nulls), groups found once per entry in order of first appearance.
func (g *groups) countByDict(cb *colBatch, v *Vector) error {
	g.counts = slices.Grow(g.counts[:0], len(v.Dict)+1)[:len(v.Dict)+1]
	clear(g.counts)
	g.firsts = g.firsts[:0]
	for _, r := range cb.sel {
		code := len(v.Dict)
		if v.Valid == nil || v.Valid[r] {
			code = int(v.Codes[r])
		}
		if g.counts[code] == 0 {
			g.firsts = append(g.firsts, code)
		}
		g.counts[code]++
	}
	for _, code := range g.firsts {
		key := ""
		if code < len(v.Dict) {
			key = v.Dict[code]
		}
		sg, err := g.stringGroup(key)
		if err != nil {
			return err
		}
		sg.counted += g.counts[code]
	}
	return nil
}

// ofDict finds the groups of a batch by a dictionary-coded key: one map lookup per
// dictionary entry, not per row.
func (g *groups) ofDict(cb *colBatch, v *Vector, gs []*group) error {
	var err error
	byCode := make([]*group, len(v.Dict))
	for i, r := range cb.sel {
		if v.Valid != nil && !v.Valid[r] {
			if gs[i], err = g.stringGroup(""); err != nil {
				return err
			}
			continue
		}
		code := v.Codes[r]
		if byCode[code] == nil {
			if byCode[code], err = g.stringGroup(v.Dict[code]); err != nil {
				return err
			}
		}
		gs[i] = byCode[code]
	}
	return nil
}

// rows is a row per group: its keys, then its aggregates' results.
func (g *groups) rows() []Row {
	rows := make([]Row, 0, len(g.order))
	for _, gr := range g.order {
		row := make(Row, 0, len(g.cols))
		row = append(row, gr.keys...)
		for _, s := range gr.states {
			if gr.counted != 0 {
				s.(*countState).n += gr.counted // countOnly: every state is a plain count()
			}
			row = append(row, s.result()...)
		}
		gr.counted = 0
		for i, c := range g.cols {
			if row[i] == nil && c.Type == TypeString {
				row[i] = ""
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// nameAggColumns applies the names the query gives an aggregate to its columns acols: a
// tuple (a, b) = names the columns in order; a single name names a single column, or the
// first column of arg_max/arg_min (the extreme value), whose other columns keep their names.
func nameAggColumns(acols []colInfo, ne astNamedExpr, call *astCall) error {
	switch {
	case len(ne.Names) > len(acols):
		return bindErr(call.P, "%d names for the %d columns of %s(); name each column once", len(ne.Names), len(acols), call.Name)
	case len(ne.Names) > 0:
		for i, n := range ne.Names {
			acols[i].Name = n
		}
	case ne.Name != "" && (len(acols) == 1 || isArgAgg(call)):
		acols[0].Name = ne.Name
	}
	return nil
}

// isArgAgg reports whether call is arg_max/arg_min or a legacy name of them.
func isArgAgg(call *astCall) bool {
	switch strings.ToLower(call.Name) {
	case "arg_max", "arg_min", "argmax", "argmin":
		return true
	}
	return false
}

// group is one group of summarize: its keys and the states of its aggregates.
type group struct {
	keys   []any
	states []aggState
	// counted are the rows counted by the column path when every aggregate is a plain
	// count() (countOnly): added to each countState when the groups are read (rows), not
	// through an interface per row.
	counted int64
}

// summarizeRows folds the input's rows into the groups groupOf finds for them, charging
// what the aggregates collect to acct once per batch.
func summarizeRows(ctx context.Context, in *plan, acct *memAccount, groupOf func(Row) (*group, error)) error {
	return readAll(ctx, in.open, func(rows []Row) error {
		var grown int64
		for _, r := range rows {
			g, err := groupOf(r)
			if err != nil {
				return err
			}
			for _, s := range g.states {
				grown += s.add(r)
			}
		}
		return acct.add(grown)
	})
}

// summarizeCols is summarizeRows over the input by column: groupsOf finds the groups of a
// batch's rows (keys are bare columns, or expressions with an unboxed form, read typed where
// the source typed them), and a row is boxed only for aggregates other than a plain count()
// (countOnly), which count in the group (group.counted). When all aggregates are a plain
// count(), groupsOf may count the batch itself and report so.
func summarizeCols(ctx context.Context, in *plan, countOnly bool, acct *memAccount, groupsOf func(*colBatch, []*group) (counted bool, err error)) error {
	var gs []*group
	return readAll(ctx, in.openCols, func(cb *colBatch) error {
		gs = slices.Grow(gs[:0], len(cb.sel))[:len(cb.sel)]
		counted, err := groupsOf(cb, gs)
		if err != nil || counted {
			return err
		}
		var grown int64
		for i, g := range gs {
			if countOnly {
				g.counted++
				continue
			}
			row := cb.row(cb.sel[i])
			for _, s := range g.states {
				grown += s.add(row)
			}
		}
		return acct.add(grown)
	})
}
