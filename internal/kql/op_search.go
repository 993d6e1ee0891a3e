package kql

import (
	"errors"
	"regexp"
	"strings"
)

// astSearch is search [kind=case_sensitive] [in (T, ...)] predicate.
type astSearch struct {
	P             srcPos
	CaseSensitive bool
	Tables        []astExpr
	Pred          astExpr
}

// astSearchOp is search used as an operator, over its input.
type astSearchOp struct {
	P srcPos
	S *astSearch
}

func (e *astSearch) pos() srcPos { return e.P }

func (o *astSearchOp) opPos() srcPos { return o.P }

// parseSearch reads search as an operator, over the pipe's input.
func parseSearch(p *parser, pos srcPos, _ string) (astOp, error) {
	s, err := p.search(pos)
	return &astSearchOp{P: pos, S: s}, err
}

func (o *astSearchOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.search(in, o.S, ec.sc)
}

func (p *parser) search(pos srcPos) (*astSearch, error) {
	prm, err := p.params("kind")
	if err != nil {
		return nil, err
	}
	s := &astSearch{P: pos, CaseSensitive: strings.EqualFold(prm["kind"], "case_sensitive")}
	if p.isKw("in") && p.peekN(1).kind == tOp && p.peekN(1).text == "(" {
		p.i += 2
		err := p.list(")", func() error {
			t := p.peek()
			n, err := p.name("a table name")
			if err != nil {
				return err
			}
			s.Tables = append(s.Tables, &astIdent{P: posOf(t), Name: n})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if s.Pred, err = p.expr(); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *planner) search(input *plan, s *astSearch, sc *scope) (*plan, error) {
	pl := input
	if pl == nil {
		u := &astUnion{P: s.P, WithSource: "$table", Fuzzy: true}
		if len(s.Tables) > 0 {
			u.Tables = s.Tables
			u.Fuzzy = false
		} else {
			for _, t := range p.cat.Tables {
				if _, wl := WatchlistAlias(t.Name); wl {
					continue
				}
				u.Tables = append(u.Tables, p.synthIdent(s, t.Name))
			}
		}
		// each table is searched on its own columns, before the union makes its rows
		// alike, so that the match runs on the scan's column batches; a predicate that needs
		// the union's columns ($table, or a column some table lacks) runs after it
		u.each = func(leg *plan) (*plan, error) { return p.searchPlan(leg, s, sc) }
		out, err := p.union(nil, u, sc)
		var be *BindError
		if !errors.As(err, &be) {
			return out, err
		}
		u.each = nil
		if pl, err = p.union(nil, u, sc); err != nil {
			return nil, err
		}
	}
	return p.searchPlan(pl, s, sc)
}

// searchPlan filters pl by the search predicate.
func (p *planner) searchPlan(pl *plan, s *astSearch, sc *scope) (*plan, error) {
	p.markAll(pl)
	ec := &ectx{cols: pl.cols, sc: sc, search: true, searchCS: s.CaseSensitive}
	pred, err := p.searchPred(s.Pred, ec)
	if err != nil {
		return nil, err
	}
	exact := false // the predicate is all exact predicates of the scan
	if pl.scan != nil && p.run != nil {
		exact = p.pushSearch(pl.scan, s, ec)
	}
	out := filterPlan(pl, pred)
	out.bounded = pl.bounded && exact
	return out, nil
}

func (p *planner) searchPred(e astExpr, ec *ectx) (cexpr, error) {
	switch x := e.(type) {
	case *astStar: // search *: every row
		return konstOf(TypeBool, true), nil
	case *astLit:
		if x.T == TypeString {
			return p.searchMatch(p.allColumns(ec, x.P), konstOf(TypeString, x.Val), ec.searchCS), nil
		}
	case *astParen:
		return p.searchPred(x.X, ec)
	case *astBinary:
		if x.Op == "and" || x.Op == "or" {
			l, err := p.searchPred(x.L, ec)
			if err != nil {
				return l, err
			}
			r, err := p.searchPred(x.R, ec)
			if err != nil {
				return r, err
			}
			fl, fr, and := l.fn, r.fn, x.Op == "and"
			return cexpr{t: TypeBool, col: -1, fn: func(row Row) any {
				a, _ := fl(row).(bool)
				if and != a {
					return a
				}
				b, _ := fr(row).(bool)
				return b
			}}, nil
		}
	case *astCall:
		if strings.EqualFold(x.Name, "not") && len(x.Args) == 1 {
			c, err := p.searchPred(x.Args[0], ec)
			if err != nil {
				return c, err
			}
			f := c.fn
			return cexpr{t: TypeBool, col: -1, fn: func(row Row) any { b, _ := f(row).(bool); return !b }}, nil
		}
	}
	c, err := p.expr(e, ec)
	if err != nil {
		return c, err
	}
	if c.t != TypeBool && c.t != TypeDynamic {
		return c, bindErr(e.pos(), "search needs a bool predicate, not %s", c.t)
	}
	return c, nil
}

// allColumns is a reference to each column of the input a search term looks in: all but the
// $table column that names each row's table.
func (p *planner) allColumns(ec *ectx, pos srcPos) []cexpr {
	var all []cexpr
	for i, c := range ec.cols {
		if c.Name != "$table" && !c.hidden {
			all = append(all, p.colRef(ec.cols, i, pos))
		}
	}
	return all
}

// starOps are the string operators that may take * (every column) on their left, as
// search's predicates are documented in terms of (search "x" is where * has "x"): a row
// matches when any of its columns does. The negated operators are left out: whether "no
// column" or "some column" is meant is not documented.
var starOps = map[string]bool{}

func init() {
	for _, op := range []string{"has", "contains", "startswith", "endswith", "hasprefix", "hassuffix"} {
		starOps[op] = true
		starOps[op+"_cs"] = true
	}
	starOps["containscs"] = true
}

// starMatch binds * op "term" (where * has "x"): the term, a constant, matched against every
// column of the input.
func (p *planner) starMatch(x *astBinary, ec *ectx) (cexpr, error) {
	if !starOps[x.Op] {
		return cexpr{}, bindErr(x.P, "* on the left of %s is not supported: * (every column) takes has, contains, startswith, endswith, hasprefix, hassuffix and their _cs forms", x.Op)
	}
	term, err := p.expr(x.R, ec)
	if err != nil {
		return term, err
	}
	if !term.konst {
		return term, bindErr(x.R.pos(), "* %s needs a constant term", x.Op)
	}
	op := x.Op
	if op == "containscs" {
		op = "contains_cs"
	}
	return anyColumn(p.allColumns(ec, x.P), stringMatcher(op, toString(term.value()))), nil
}

// anyColumn is the predicate that m holds for one of cols' values as text. When every one
// of cols is a bare column, it also runs on column batches: column by column, on the rows
// no column has matched yet, reading strings from their vectors unboxed and testing a
// dictionary-coded column's distinct values once each.
func anyColumn(cols []cexpr, m func(string) bool) cexpr {
	out := cexpr{t: TypeBool, col: -1, fn: func(r Row) any {
		for _, c := range cols {
			if m(toString(c.fn(r))) {
				return true
			}
		}
		return false
	}}
	idx := make([]int, len(cols))
	for i, c := range cols {
		if c.col < 0 {
			return out
		}
		idx[i] = c.col
	}
	empty := m("") // a null string reads as ""
	out.batch = func(cb *colBatch, sel []int) []int {
		hit := make([]bool, len(sel))
		left := len(sel)
		var dict []int8 // per entry: 0 untested, 1 matches, 2 does not
		for _, c := range idx {
			if left == 0 {
				break
			}
			v := cb.b.vector(c)
			switch {
			case v != nil && v.Type == TypeString && v.Dict != nil:
				dict = append(dict[:0], make([]int8, len(v.Dict))...)
				for i, r := range sel {
					if hit[i] {
						continue
					}
					match := empty
					if v.Valid == nil || v.Valid[r] {
						code := v.Codes[r]
						if dict[code] == 0 {
							dict[code] = 2
							if m(v.Dict[code]) {
								dict[code] = 1
							}
						}
						match = dict[code] == 1
					}
					if match {
						hit[i] = true
						left--
					}
				}
			case v != nil && v.Type == TypeString:
				for i, r := range sel {
					if !hit[i] && m(v.Str(r)) {
						hit[i] = true
						left--
					}
				}
			default:
				for i, r := range sel {
					if !hit[i] && m(toString(cb.value(c, r))) {
						hit[i] = true
						left--
					}
				}
			}
		}
		keep := make([]int, 0, len(sel)-left)
		for i, r := range sel {
			if hit[i] {
				keep = append(keep, r)
			}
		}
		return keep
	}
	return out
}

// andBatch is the batch form of l and r when either has one (where * has "x" and Ok): that
// side runs first on the batch, the other only on the rows it kept. Nil when neither has.
func andBatch(l, r cexpr) func(*colBatch, []int) []int {
	first, then := l, r
	if first.batch == nil {
		first, then = r, l
	}
	if first.batch == nil {
		return nil
	}
	return func(cb *colBatch, sel []int) []int {
		return then.selectRows(cb, first.batch(cb, sel))
	}
}

// selectRows keeps the rows of sel for which c holds: by its batch form, its column tests, or
// else on boxed rows.
func (c cexpr) selectRows(cb *colBatch, sel []int) []int {
	if c.batch != nil {
		return c.batch(cb, sel)
	}
	if c.tests != nil && typed(c.tests, cb) {
		return selectTests(c.tests, cb, sel)
	}
	keep := make([]int, 0, len(sel)) // new: sel may be a batch's, read again
	for _, r := range sel {
		if isTrue(c.fn(cb.row(r))) {
			keep = append(keep, r)
		}
	}
	return keep
}

func isTrue(v any) bool { b, _ := v.(bool); return b }

// wildcardTerm is the regular expression of a search term with * inside it ("Lab*PC"), which
// the documentation equates to matches regex @"\bLab.*PC\b".
func wildcardTerm(k string, cs bool) *regexp.Regexp {
	parts := strings.Split(k, "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	pat := `\b` + strings.Join(parts, ".*") + `\b`
	if !cs {
		pat = "(?i)" + pat
	}
	return regexp.MustCompile(pat)
}
