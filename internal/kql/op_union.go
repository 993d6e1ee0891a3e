package kql

import (
	"context"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"
)

// astUnion is union [params] T, ... as a source or (with astPipe input) as an operator.
type astUnion struct {
	P          srcPos
	Fuzzy      bool
	WithSource string
	Inner      bool
	Tables     []astExpr
	// each, when set, plans something over each table before the union combines them
	// (search filters each table on its own columns, by column batch)
	each func(*plan) (*plan, error)
}

// astUnionOp is union used as an operator: the input is its first table.
type astUnionOp struct {
	P srcPos
	U *astUnion
}

func (e *astUnion) pos() srcPos { return e.P }

func (o *astUnionOp) opPos() srcPos { return o.P }

// parseUnion reads union as an operator: the pipe's input is its first table.
func parseUnion(p *parser, pos srcPos, _ string) (astOp, error) {
	u, err := p.union(pos)
	return &astUnionOp{P: pos, U: u}, err
}

func (o *astUnionOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.union(in, o.U, ec.sc)
}

func (p *parser) union(pos srcPos) (*astUnion, error) {
	prm, err := p.params("isfuzzy", "withsource", "kind")
	if err != nil {
		return nil, err
	}
	u := &astUnion{P: pos, WithSource: prm["withsource"], Fuzzy: strings.EqualFold(prm["isfuzzy"], "true"), Inner: strings.EqualFold(prm["kind"], "inner")}
	for {
		var e astExpr
		if p.isOp("(") {
			t := p.next()
			inner, err := p.pipeExpr()
			if err != nil {
				return nil, err
			}
			if err := p.wantOp(")"); err != nil {
				return nil, err
			}
			e = &astParen{P: posOf(t), X: inner}
		} else {
			t := p.peek()
			var n string
			if !p.isOp("*") {
				if n, err = p.name("a table name"); err != nil {
					return nil, err
				}
			} else {
				// * alone, or a pattern that starts with it: *Logs
				p.next()
				n = "*"
				if p.peek().kind == tIdent && p.peek().pos == p.toks[p.i-1].end {
					n += p.next().text
				}
			}
			// wildcard table names: Security*, Device*Events
			for p.isOp("*") && p.peek().pos == p.toks[p.i-1].end {
				p.next()
				n += "*"
				if p.peek().kind == tIdent && p.peek().pos == p.toks[p.i-1].end {
					n += p.next().text
				}
			}
			if p.isOp("(") { // function call or table("x")
				p.i--
				ce, err := p.postfix()
				if err != nil {
					return nil, err
				}
				e = ce
			} else {
				e = &astIdent{P: posOf(t), Name: n}
			}
		}
		u.Tables = append(u.Tables, e)
		if !p.acceptOp(",") {
			break
		}
	}
	return u, nil
}

// union plans union (as a source, or as an operator with input first).
func (p *planner) union(input *plan, u *astUnion, sc *scope) (*plan, error) {
	type part struct {
		pl   *plan
		name string
	}
	var parts []part
	var skipped *BindError // why the first fuzzy leg left out was
	if input != nil {
		parts = append(parts, part{input, ""})
	}
	for _, t := range u.Tables {
		if id, ok := t.(*astIdent); ok && strings.Contains(id.Name, "*") {
			matched := false
			for _, name := range p.wildcardTables(id.Name) {
				pl, err := p.scanTable(p.synthIdent(id, name), name, false)
				if err != nil {
					return nil, err
				}
				// wildcard tables get their own node so marks do not mix
				parts = append(parts, part{pl, name})
				matched = true
			}
			for _, v := range sc.views() {
				if ok, _ := path.Match(id.Name, v); ok {
					pl, err := p.tabular(p.synthIdent(id, v), sc)
					if err != nil {
						return nil, err
					}
					parts = append(parts, part{pl, v})
					matched = true
				}
			}
			if !matched {
				err := bindErr(id.P, "no table matches %q", id.Name)
				if !u.Fuzzy {
					return nil, err
				}
				if skipped == nil {
					skipped = err.(*BindError)
				}
			}
			continue
		}
		pl, err := p.tabular(t, sc)
		if err != nil {
			// isfuzzy: a leg that does not resolve (a table, function or column missing
			// from this workspace) is left out, as long as another leg resolves
			var be *BindError
			if u.Fuzzy && errors.As(err, &be) {
				if skipped == nil {
					skipped = be
				}
				continue
			}
			return nil, err
		}
		name := ""
		if id, ok := t.(*astIdent); ok {
			name = id.Name
		}
		parts = append(parts, part{pl, name})
	}
	if len(parts) == 0 {
		if skipped != nil {
			return nil, bindErr(u.P, "union isfuzzy=true: none of its tables resolves; the first, at %d:%d: %s", skipped.Line, skipped.Col, skipped.Msg)
		}
		return nil, bindErr(u.P, "union has no tables to combine")
	}
	if u.each != nil {
		for i := range parts {
			var err error
			if parts[i].pl, err = u.each(parts[i].pl); err != nil {
				return nil, err
			}
		}
	}
	// output columns: by name, in order of first appearance; one name with several types
	// becomes name_type per type
	types := map[string][]Type{}
	var order []string
	counts := map[string]int{}
	shown := map[string]bool{} // a column is hidden in the union when it is in every part it is in
	for _, pt := range parts {
		p.markAll(pt.pl)
		for _, c := range pt.pl.cols {
			shown[c.Name] = shown[c.Name] || !c.hidden
			if _, ok := types[c.Name]; !ok {
				order = append(order, c.Name)
			}
			counts[c.Name]++
			found := false
			for _, t := range types[c.Name] {
				found = found || t == c.Type
			}
			if !found {
				types[c.Name] = append(types[c.Name], c.Type)
			}
		}
	}
	var cols []colInfo
	if u.WithSource != "" {
		cols = append(cols, colInfo{Name: u.WithSource, Type: TypeString})
	}
	colIdx := map[string]int{}
	for _, n := range order {
		if u.Inner && counts[n] < len(parts) {
			continue
		}
		ts := types[n]
		if len(ts) == 1 {
			colIdx[n+"\x00"+ts[0].String()] = len(cols)
			cols = append(cols, colInfo{Name: n, Type: ts[0], hidden: !shown[n]})
			continue
		}
		for _, t := range ts {
			colIdx[n+"\x00"+t.String()] = len(cols)
			cols = append(cols, colInfo{Name: n + "_" + t.String(), Type: t, hidden: !shown[n]})
		}
	}
	// a hidden column is read only where a later operator names it: the union's own
	// column then has the parts' columns read (hidden.go)
	for i := range cols {
		if cols[i].hidden {
			cols[i].origin = &origin{node: u, name: cols[i].Name}
		}
	}
	maps := make([][]int, len(parts))
	for i, pt := range parts {
		m := make([]int, len(pt.pl.cols))
		for j, c := range pt.pl.cols {
			if k, ok := colIdx[c.Name+"\x00"+c.Type.String()]; ok {
				m[j] = k
				if cols[k].hidden {
					p.link(cols[k], c)
				}
			} else {
				m[j] = -1
			}
		}
		maps[i] = m
	}
	width := len(cols)
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		return &unionIter{parts: len(parts), open: func(i int) (iterator, error) { return parts[i].pl.open(ctx) }, conv: func(i int, r Row) Row {
			row := make(Row, width)
			if u.WithSource != "" {
				name := parts[i].name
				if name == "" {
					name = "union_arg" + strconv.Itoa(i)
				}
				row[0] = name
			}
			for j, k := range maps[i] {
				if k >= 0 {
					row[k] = r[j]
				}
			}
			for k, c := range cols {
				if row[k] == nil && c.Type == TypeString {
					row[k] = ""
				}
			}
			return row
		}}, nil
	}
	return out, nil
}

// wildcardTables are the tables a union's pattern (*, Device*, *Logs) names: those that hold
// rows, so that union * in a workspace of many built-in tables, most never written, scans and
// widens its result by the few that hold data; when none of the tables it matches holds rows,
// all of them, so that a rule written against them compiles in a new workspace (and finds
// nothing). Watchlists are left out; they are read with _GetWatchlist.
func (p *planner) wildcardTables(pattern string) []string {
	var full, empty []string
	for _, ts := range p.cat.Tables {
		if _, wl := WatchlistAlias(ts.Name); wl {
			continue
		}
		if ok, _ := path.Match(pattern, ts.Name); !ok {
			continue
		}
		if ts.Empty {
			empty = append(empty, ts.Name)
		} else {
			full = append(full, ts.Name)
		}
	}
	if len(full) > 0 {
		return full
	}
	return empty
}

type unionIter struct {
	parts int
	cur   int
	it    iterator
	open  func(int) (iterator, error)
	conv  func(int, Row) Row
}

func (u *unionIter) Next(ctx context.Context) ([]Row, error) {
	for u.cur < u.parts {
		if u.it == nil {
			it, err := u.open(u.cur)
			if err != nil {
				return nil, err
			}
			u.it = it
		}
		rows, err := u.it.Next(ctx)
		if errors.Is(err, io.EOF) {
			u.it.Close()
			u.it = nil
			u.cur++
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]Row, len(rows))
		for i, r := range rows {
			out[i] = u.conv(u.cur, r)
		}
		return out, nil
	}
	return nil, io.EOF
}

func (u *unionIter) Close() {
	if u.it != nil {
		u.it.Close()
	}
}
