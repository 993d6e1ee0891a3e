package kql

import (
	"context"
	"regexp"
	"strconv"
	"strings"
)

// astParseOp is parse (parse-where) X with Pattern.
type astParseOp struct {
	P       srcPos
	Kind    string // simple, relaxed, regex
	Where   bool   // parse-where: a row the pattern does not match is dropped
	X       astExpr
	Pattern []astParsePart
}

// astParsePart is a literal, a capture (Name[:type]) or a * wildcard of a parse pattern.
type astParsePart struct {
	Text     string
	Col      string
	Type     Type
	Wildcard bool
	IsLit    bool
}

func (o *astParseOp) opPos() srcPos { return o.P }

// parseParse reads parse and parse-where [kind=K] Expr with Pattern.
func parseParse(p *parser, pos srcPos, name string) (astOp, error) {
	prm, err := p.params("kind", "flags")
	if err != nil {
		return nil, err
	}
	op := &astParseOp{P: pos, Kind: strings.ToLower(prm["kind"]), Where: name == "parse-where"}
	if op.Kind == "" {
		op.Kind = "simple"
	}
	if op.Kind != "simple" && op.Kind != "relaxed" && op.Kind != "regex" {
		return nil, p.errAtPos(pos, "unknown parse kind "+strconv.Quote(op.Kind)+": expected simple, relaxed or regex")
	}
	if op.X, err = p.addExpr(); err != nil {
		return nil, err
	}
	if err := p.wantKw("with"); err != nil {
		return nil, err
	}
	for {
		tt := p.peek()
		switch {
		case tt.kind == tString:
			p.next()
			op.Pattern = append(op.Pattern, astParsePart{Text: tt.text, IsLit: true})
		case tt.kind == tOp && tt.text == "*":
			p.next()
			op.Pattern = append(op.Pattern, astParsePart{Wildcard: true})
		case tt.kind == tIdent || (tt.kind == tOp && tt.text == "["):
			n, err := p.name("a column name")
			if err != nil {
				return nil, err
			}
			pp := astParsePart{Col: n, Type: TypeString}
			if p.acceptOp(":") {
				typ, err := p.typ()
				if err != nil {
					return nil, err
				}
				pp.Type = typ
			}
			op.Pattern = append(op.Pattern, pp)
		default:
			if len(op.Pattern) == 0 {
				return nil, p.expected("a parse pattern")
			}
			return op, nil
		}
	}
}

func (o *astParseOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.parse(in, o, ec)
}

func (p *planner) parse(in *plan, o *astParseOp, ec *ectx) (*plan, error) {
	src, err := p.expr(o.X, ec)
	if err != nil {
		return nil, err
	}
	cols := append([]colInfo(nil), in.cols...)
	var b strings.Builder
	b.WriteString(`(?s)^`)
	type capt struct {
		idx int
		t   Type
	}
	var caps []capt
	for i, part := range o.Pattern {
		last := i == len(o.Pattern)-1
		switch {
		case part.IsLit:
			if o.Kind == "regex" {
				b.WriteString(part.Text)
			} else {
				b.WriteString(regexp.QuoteMeta(part.Text))
			}
		case part.Wildcard:
			b.WriteString(`.*?`)
		default:
			g := `(.*?)`
			if last {
				g = `(.*)`
			}
			if o.Kind == "simple" || o.Kind == "regex" {
				switch part.Type {
				case TypeInt, TypeLong:
					g = `(-?\d+)`
				case TypeReal:
					g = `(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)`
				case TypeBool:
					g = `((?i:true|false))`
				}
			}
			b.WriteString(g)
			idx := findCol(cols, part.Col)
			ci := colInfo{Name: part.Col, Type: part.Type}
			if idx >= 0 {
				cols[idx] = ci
			} else {
				idx = len(cols)
				cols = append(cols, ci)
			}
			caps = append(caps, capt{idx: idx, t: part.Type})
		}
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, bindErr(o.P, "bad parse pattern: %v", err)
	}
	if re.NumSubexp() != len(caps) {
		return nil, bindErr(o.P, "parse pattern has %d regex groups but %d columns; use (?:...) for non-capturing groups", re.NumSubexp(), len(caps))
	}
	width, inWidth, f, where := len(cols), len(in.cols), src.fn, o.Where
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			out := make([]Row, 0, len(rows))
			for _, r := range rows {
				m := re.FindStringSubmatch(toString(f(r)))
				if m == nil && where {
					continue
				}
				row := make(Row, width)
				copy(row, r[:inWidth])
				for k, c := range caps {
					var v any
					if m != nil {
						// relaxed: a capture that does not convert is null, the others stay
						v = convertTo(m[k+1], c.t)
					}
					if v == nil && c.t == TypeString {
						v = ""
					}
					row[c.idx] = v
				}
				out = append(out, row)
			}
			return out
		}}, nil
	}
	return out, nil
}
