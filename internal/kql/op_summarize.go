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
	var cols []colInfo
	used := func(n string) bool { return findCol(cols, n) >= 0 }
	var keyFns []func(Row) any
	var keyCols []int // input column of each key when it is a bare column, else -1
	auto := 0
	for _, ne := range o.By {
		c, err := p.expr(ne.X, ec)
		if err != nil {
			return nil, nil, err
		}
		name := ne.Name
		if name == "" {
			name = c.name
		}
		if name == "" {
			auto++
			name = "Column" + strconv.Itoa(auto)
		}
		if used(name) {
			return nil, nil, bindErr(ne.X.pos(), "column %q appears twice in summarize", name)
		}
		ci := colInfo{Name: name, Type: nonNull(c.t)}
		if c.col >= 0 {
			ci.origin = in.cols[c.col].origin
		}
		cols = append(cols, ci)
		keyFns = append(keyFns, c.fn)
		keyCols = append(keyCols, c.col)
	}
	var factories []func() aggState
	// arg_max(x, *) and take_any(*) leave out the group columns, which lead the row anyway:
	// an input column of a group column's name (Computer, or tostring(Computer))
	aec := *ec
	aec.byCols = map[string]bool{}
	for _, c := range cols {
		aec.byCols[c.Name] = true
	}
	for _, ne := range o.Aggs {
		call, ok := unparen(ne.X).(*astCall)
		var spec aggSpec
		if ok {
			spec = aggs[strings.ToLower(call.Name)]
		}
		if spec == nil && len(ne.Names) > 0 {
			return nil, nil, bindErr(ne.X.pos(), "a tuple (a, b) = names the columns of one aggregation call, such as arg_max(); name an expression with one name")
		}
		if spec == nil {
			return nil, nil, bindErr(ne.X.pos(), "summarize needs an aggregation function such as count(), sum() or make_set()")
		}
		aec.aggNames = ne.Names
		if ne.Name != "" {
			aec.aggNames = []string{ne.Name}
		}
		acols, fac, err := spec(p, call, &aec)
		if err != nil {
			return nil, nil, err
		}
		if err := nameAggColumns(acols, ne, call); err != nil {
			return nil, nil, err
		}
		starts = append(starts, len(cols))
		for i := range acols {
			acols[i].Name = uniqueName(acols[i].Name, used)
			cols = append(cols, acols[i])
		}
		factories = append(factories, fac)
	}
	if ec.usesIngest() {
		in = in.ingest()
	}
	nkeys := len(keyFns)
	columnar := in.openCols != nil && !slices.Contains(keyCols, -1)
	countOnly := true // every aggregate is a plain count()
	for _, f := range factories {
		if c, ok := f().(*countState); !ok || c.pred != nil {
			countOnly = false
		}
	}
	out = &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		// the account holds the groups, then the rows made of them until the consumer closes
		// the iterator that replays them
		acct := p.run.account(opName)
		groups := map[any]*group{}
		var sgroups map[string]*group // single string key: no interface hashing
		if nkeys == 1 && cols[0].Type == TypeString {
			sgroups = map[string]*group{}
		}
		var order []*group
		newGroup := func(keys []any) *group {
			g := &group{keys: keys, states: make([]aggState, len(factories))}
			for i, f := range factories {
				g.states[i] = f()
			}
			order = append(order, g)
			return g
		}
		if nkeys == 0 {
			groups[nil] = newGroup(nil)
		}
		// stringGroup is the group of a single string key.
		stringGroup := func(s string) (*group, error) {
			g := sgroups[s]
			if g == nil {
				g = newGroup([]any{s})
				sgroups[s] = g
				if err := acct.add(int64(64+48*len(factories)) + int64(len(s))); err != nil {
					return nil, err
				}
			}
			return g, nil
		}
		// keyGroup is the group of the keys in kv, which it does not keep.
		var kb []byte
		kv := make([]any, nkeys)
		keyGroup := func() (*group, error) {
			var k any
			switch nkeys {
			case 0:
			case 1:
				k = scalarKey(kv[0])
			default:
				kb = kb[:0]
				for _, v := range kv {
					kb = keyAppend(kb, v)
				}
				k = string(kb)
			}
			g := groups[k]
			if g == nil {
				g = newGroup(slices.Clone(kv))
				groups[k] = g
				if err := acct.add(int64(64+48*len(factories)) + rowBytes(g.keys)); err != nil {
					return nil, err
				}
			}
			return g, nil
		}
		var err error
		if columnar {
			var counts []int64
			var firsts []int
			err = summarizeCols(ctx, in, countOnly, acct, func(cb *colBatch, gs []*group) (bool, error) {
				var err error
				var v *Vector
				if sgroups != nil {
					v = cb.b.vector(keyCols[0])
				}
				switch {
				case v != nil && v.Dict != nil && countOnly:
					// count() alone: a count per dictionary entry (entry len(Dict) for
					// nulls), groups found once per entry in order of first appearance
					counts = slices.Grow(counts[:0], len(v.Dict)+1)[:len(v.Dict)+1]
					clear(counts)
					firsts = firsts[:0]
					for _, r := range cb.sel {
						code := len(v.Dict)
						if v.Valid == nil || v.Valid[r] {
							code = int(v.Codes[r])
						}
						if counts[code] == 0 {
							firsts = append(firsts, code)
						}
						counts[code]++
					}
					for _, code := range firsts {
						key := ""
						if code < len(v.Dict) {
							key = v.Dict[code]
						}
						g, err := stringGroup(key)
						if err != nil {
							return false, err
						}
						for _, st := range g.states {
							st.(*countState).n += counts[code]
						}
					}
					return true, nil
				case v != nil && v.Dict != nil:
					// one map lookup per dictionary entry, not per row
					byCode := make([]*group, len(v.Dict))
					for i, r := range cb.sel {
						if v.Valid != nil && !v.Valid[r] {
							if gs[i], err = stringGroup(""); err != nil {
								return false, err
							}
							continue
						}
						code := v.Codes[r]
						if byCode[code] == nil {
							if byCode[code], err = stringGroup(v.Dict[code]); err != nil {
								return false, err
							}
						}
						gs[i] = byCode[code]
					}
				case sgroups != nil:
					for i, r := range cb.sel {
						if gs[i], err = stringGroup(cb.str(keyCols[0], r)); err != nil {
							return false, err
						}
					}
				default:
					for i, r := range cb.sel {
						for k, c := range keyCols {
							kv[k] = cb.value(c, r)
						}
						if gs[i], err = keyGroup(); err != nil {
							return false, err
						}
					}
				}
				return false, nil
			})
		} else {
			err = summarizeRows(ctx, in, acct, func(r Row) (*group, error) {
				if sgroups != nil {
					s, _ := keyFns[0](r).(string)
					return stringGroup(s)
				}
				for i, f := range keyFns {
					kv[i] = f(r)
				}
				return keyGroup()
			})
		}
		if err != nil {
			acct.release()
			return nil, err
		}
		rows := make([]Row, 0, len(order))
		for _, g := range order {
			row := make(Row, 0, len(cols))
			row = append(row, g.keys...)
			for _, s := range g.states {
				row = append(row, s.result()...)
			}
			for i, c := range cols {
				if row[i] == nil && c.Type == TypeString {
					row[i] = ""
				}
			}
			rows = append(rows, row)
		}
		return &sliceIter{rows: rows, acct: acct}, nil
	}
	return out, starts, nil
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
// batch's rows (keys are bare columns, read typed where the source typed them), and a row is
// boxed only for aggregates other than a plain count() (countOnly). When all aggregates are
// a plain count(), groupsOf may count the batch itself and report so.
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
				for _, s := range g.states {
					s.(*countState).n++
				}
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
