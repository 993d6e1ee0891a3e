package kql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type parser struct {
	toks  []token
	i     int
	depth int
	src   string
}

// parseQuery parses a whole query: let statements and one or more tabular expressions
// separated by semicolons.
func parseQuery(src string) (*astBlock, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: src}
	b, err := p.block(tEOF, "")
	if err != nil {
		return nil, err
	}
	if len(b.Exprs) == 0 {
		t := p.peek()
		return nil, p.errAt(t, "expected a tabular expression after the let statements")
	}
	return b, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func posOf(t token) srcPos { return srcPos{t.line, t.col} }

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tLong, tReal, tTimespan:
		return "number"
	case tTyped:
		return t.text + "(...)"
	}
	return strconv.Quote(t.text)
}

func (p *parser) errAt(t token, msg string) error {
	return p.errAtPos(posOf(t), msg)
}

func (p *parser) errAtPos(pos srcPos, msg string) error {
	return &SyntaxError{Line: pos.Line, Col: pos.Col, Msg: msg}
}

func (p *parser) expected(what string) error {
	t := p.peek()
	return p.errAt(t, fmt.Sprintf("expected %s but found %s", what, describe(t)))
}

func (p *parser) isOp(s string) bool { t := p.peek(); return t.kind == tOp && t.text == s }
func (p *parser) isKw(s string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, s)
}
func (p *parser) acceptOp(s string) bool {
	if p.isOp(s) {
		p.i++
		return true
	}
	return false
}
func (p *parser) acceptKw(s string) bool {
	if p.isKw(s) {
		p.i++
		return true
	}
	return false
}
func (p *parser) wantOp(s string) error {
	if !p.acceptOp(s) {
		return p.expected(strconv.Quote(s))
	}
	return nil
}
func (p *parser) wantKw(s string) error {
	if !p.acceptKw(s) {
		return p.expected(strconv.Quote(s))
	}
	return nil
}

// list reads comma-separated items, each by item, up to and including the closing close.
func (p *parser) list(close string, item func() error) error {
	for !p.isOp(close) {
		if err := item(); err != nil {
			return err
		}
		if !p.acceptOp(",") {
			break
		}
	}
	return p.wantOp(close)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek(), fmt.Sprintf("expression nested deeper than %d levels", maxDepth))
	}
	return nil
}
func (p *parser) leave() { p.depth-- }

// name reads an identifier or a bracketed name ['x'] / ["x"].
func (p *parser) name(what string) (string, error) {
	t := p.peek()
	if t.kind == tIdent && !strings.HasPrefix(t.text, "!") {
		p.i++
		return t.text, nil
	}
	if t.kind == tOp && t.text == "[" && p.peekN(1).kind == tString && p.peekN(2).kind == tOp && p.peekN(2).text == "]" {
		p.i += 3
		return p.toks[p.i-2].text, nil
	}
	return "", p.expected(what)
}

// dashedName joins adjacent words and dashes (project-away, mv-expand) as the operator
// names are written without spaces.
func (p *parser) dashedName() string {
	t := p.next()
	name := t.text
	for p.isOp("-") && p.peek().pos == p.toks[p.i-1].end && p.peekN(1).kind == tIdent && p.peekN(1).pos == p.peek().end {
		p.i++
		name += "-" + p.next().text
	}
	return strings.ToLower(name)
}

func (p *parser) block(end tokKind, endOp string) (*astBlock, error) {
	b := &astBlock{}
	atEnd := func() bool {
		t := p.peek()
		if end == tEOF {
			return t.kind == tEOF
		}
		return t.kind == tOp && t.text == endOp
	}
	for !atEnd() {
		if p.acceptOp(";") {
			continue
		}
		switch {
		case p.isKw("let"):
			l, err := p.let()
			if err != nil {
				return nil, err
			}
			b.Lets = append(b.Lets, l)
		case p.isKw("set") && p.peekN(1).kind == tIdent:
			// set option=value; query options do not change results here.
			for !atEnd() && !p.isOp(";") {
				p.next()
			}
		default:
			e, err := p.pipeExpr()
			if err != nil {
				return nil, err
			}
			if len(b.Lets) > 0 || len(b.Exprs) > 0 {
				// later lets may not follow a result expression in a function body, but a query
				// may hold several; nothing to check here.
			}
			b.Exprs = append(b.Exprs, e)
			if !atEnd() && !p.isOp(";") {
				return nil, p.expected(`";", "|" or end of query`)
			}
		}
	}
	return b, nil
}

func (p *parser) let() (*astLetStmt, error) {
	t := p.next() // let
	l := &astLetStmt{P: posOf(t)}
	var err error
	if l.Name, err = p.name("a name after let"); err != nil {
		return nil, err
	}
	if err := p.wantOp("="); err != nil {
		return nil, err
	}
	// A view: a function of no parameters that union T* also finds.
	if p.isKw("view") && p.peekN(1).kind == tOp && p.peekN(1).text == "(" {
		p.next()
		l.View = true
		if !(p.peekN(1).kind == tOp && p.peekN(1).text == ")") {
			return nil, p.errAt(p.peekN(1), "a view takes no parameters: let Name = view () { ... }")
		}
	}
	// A function: (params) { body }. Distinguish from a parenthesised expression by looking
	// for ")" "{" or "name :" right after "(".
	if p.isOp("(") && (l.View || p.looksLikeParams()) {
		p.next()
		l.IsFunc = true
		err := p.list(")", func() error {
			prm, err := p.param()
			if err != nil {
				return err
			}
			l.Params = append(l.Params, prm)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := p.wantOp("{"); err != nil {
			return nil, err
		}
		if err := p.enter(); err != nil {
			return nil, err
		}
		body, err := p.block(tOp, "}")
		p.leave()
		if err != nil {
			return nil, err
		}
		if err := p.wantOp("}"); err != nil {
			return nil, err
		}
		if len(body.Exprs) != 1 {
			return nil, p.errAt(t, "function "+l.Name+" must end in exactly one expression")
		}
		l.Body = body
		return l, nil
	}
	if l.Value, err = p.pipeExpr(); err != nil {
		return nil, err
	}
	return l, nil
}

// param reads one function parameter: name:type or name:(tabular schema), with an optional
// default.
func (p *parser) param() (astParam, error) {
	var prm astParam
	var err error
	if prm.Name, err = p.name("a parameter name"); err != nil {
		return prm, err
	}
	if err := p.wantOp(":"); err != nil {
		return prm, err
	}
	if p.acceptOp("(") {
		// tabular parameter: (*) or (col:type, ...), the columns a table passed for it must have
		prm.Tabular = true
		err := p.list(")", func() error {
			if p.acceptOp("*") {
				return nil
			}
			cd, err := p.colDecl()
			prm.Cols = append(prm.Cols, cd)
			return err
		})
		if err != nil {
			return prm, err
		}
	} else {
		tn, err := p.name("a parameter type")
		if err != nil {
			return prm, err
		}
		if prm.Type, err = p.parseType(p.toks[p.i-1], tn); err != nil {
			return prm, err
		}
	}
	if p.acceptOp("=") {
		if prm.Default, err = p.expr(); err != nil {
			return prm, err
		}
	}
	return prm, nil
}

func (p *parser) looksLikeParams() bool {
	a, b := p.peekN(1), p.peekN(2)
	if a.kind == tOp && a.text == ")" {
		c := p.peekN(2)
		return c.kind == tOp && c.text == "{"
	}
	return a.kind == tIdent && b.kind == tOp && b.text == ":"
}

// pipeExpr parses an expression and, if pipes follow, the operators applied to it.
func (p *parser) pipeExpr() (astExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	start := p.peek()
	var src astExpr
	var err error
	switch {
	case p.isKw("datatable") && p.peekN(1).kind == tOp && p.peekN(1).text == "(":
		src, err = p.datatable()
	case p.isKw("externaldata") && p.peekN(1).kind == tOp && p.peekN(1).text == "(":
		src, err = p.externalData()
	case p.isKw("print"):
		src, err = p.print()
	case p.isKw("range") && p.peekN(1).kind == tIdent && strings.EqualFold(p.peekN(2).text, "from"):
		src, err = p.rangeSrc()
	case p.isKw("union"):
		p.next()
		src, err = p.union(posOf(start))
	case p.isKw("search") && !(p.peekN(1).kind == tOp && (p.peekN(1).text == "(" || p.peekN(1).text == "|")):
		p.next()
		src, err = p.search(posOf(start))
	default:
		src, err = p.expr()
	}
	if err != nil {
		return nil, err
	}
	if !p.isOp("|") {
		return src, nil
	}
	pipe := &astPipe{P: posOf(start), Source: src}
	for p.acceptOp("|") {
		op, err := p.operator()
		if err != nil {
			return nil, err
		}
		pipe.Ops = append(pipe.Ops, op)
	}
	return pipe, nil
}

func (p *parser) datatable() (astExpr, error) {
	t := p.next()
	d := &astDatatable{P: posOf(t)}
	var err error
	if d.Cols, d.Vals, err = p.colsThenValues(); err != nil {
		return nil, err
	}
	return d, nil
}

// colsThenValues reads what datatable and externaldata start with, after
// their name: (Name:Type, ...) [Expr, ...].
func (p *parser) colsThenValues() ([]astColDecl, []astExpr, error) {
	var cols []astColDecl
	var vals []astExpr
	p.next() // (
	err := p.list(")", func() error {
		cd, err := p.colDecl()
		if err != nil {
			return err
		}
		cols = append(cols, cd)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := p.wantOp("["); err != nil {
		return nil, nil, err
	}
	err = p.list("]", func() error {
		e, err := p.expr()
		if err != nil {
			return err
		}
		vals = append(vals, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return cols, vals, nil
}

func (p *parser) colDecl() (astColDecl, error) {
	t := p.peek()
	n, err := p.name("a column name")
	if err != nil {
		return astColDecl{}, err
	}
	if err := p.wantOp(":"); err != nil {
		return astColDecl{}, err
	}
	typ, err := p.typ()
	if err != nil {
		return astColDecl{}, err
	}
	return astColDecl{P: posOf(t), Name: n, Type: typ}, nil
}

// parseType is ParseType for the type name tn read at t.
func (p *parser) parseType(t token, tn string) (Type, error) {
	typ, ok := ParseType(tn)
	if !ok {
		return typ, p.errAt(t, "unknown type "+strconv.Quote(tn)+": expected string, int, long, real, bool, datetime, timespan, guid or dynamic")
	}
	return typ, nil
}

// typ reads a type name and returns the type it names.
func (p *parser) typ() (Type, error) {
	t := p.peek()
	tn, err := p.typeName()
	if err != nil {
		return TypeNull, err
	}
	return p.parseType(t, tn)
}

// typeName reads a type name; datetime/dynamic/timespan are plain words here.
func (p *parser) typeName() (string, error) {
	t := p.peek()
	if t.kind == tIdent {
		p.i++
		return t.text, nil
	}
	return "", p.expected("a type name")
}

func (p *parser) print() (astExpr, error) {
	t := p.next()
	cols, err := p.namedList()
	if err != nil {
		return nil, err
	}
	return &astPrint{P: posOf(t), Cols: cols}, nil
}

func (p *parser) rangeSrc() (astExpr, error) {
	t := p.next()
	r := &astRange{P: posOf(t)}
	var err error
	if r.Col, err = p.name("a column name"); err != nil {
		return nil, err
	}
	if err := p.wantKw("from"); err != nil {
		return nil, err
	}
	if r.From, err = p.expr(); err != nil {
		return nil, err
	}
	if err := p.wantKw("to"); err != nil {
		return nil, err
	}
	if r.To, err = p.expr(); err != nil {
		return nil, err
	}
	if err := p.wantKw("step"); err != nil {
		return nil, err
	}
	if r.Step, err = p.expr(); err != nil {
		return nil, err
	}
	return r, nil
}

// params reads Name=Value operator parameters such as kind=inner or hint.strategy=broadcast.
func (p *parser) params(names ...string) (map[string]string, error) {
	out := map[string]string{}
	for {
		t := p.peek()
		if t.kind != tIdent {
			return out, nil
		}
		// hint.x=y
		key := strings.ToLower(t.text)
		n := 1
		for p.peekN(n).kind == tOp && p.peekN(n).text == "." && p.peekN(n+1).kind == tIdent {
			key += "." + strings.ToLower(p.peekN(n+1).text)
			n += 2
		}
		if !(p.peekN(n).kind == tOp && p.peekN(n).text == "=") {
			return out, nil
		}
		known := strings.HasPrefix(key, "hint.")
		for _, nm := range names {
			if key == nm {
				known = true
			}
		}
		if !known {
			return out, nil
		}
		p.i += n + 1
		v := p.next()
		switch v.kind {
		case tIdent, tString:
			out[key] = v.text
		case tLong:
			out[key] = strconv.FormatInt(v.long, 10)
		default:
			return nil, p.errAt(v, "expected a value for "+key)
		}
	}
}

func (p *parser) namedList() ([]astNamedExpr, error) {
	var out []astNamedExpr
	for {
		ne, err := p.named()
		if err != nil {
			return nil, err
		}
		out = append(out, ne)
		if !p.acceptOp(",") {
			return out, nil
		}
	}
}

func (p *parser) named() (astNamedExpr, error) {
	t, t1 := p.peek(), p.peekN(1)
	if (t.kind == tIdent || (t.kind == tOp && t.text == "[")) && !strings.HasPrefix(t.text, "!") {
		save := p.i
		if n, err := p.name(""); err == nil && p.isOp("=") && !(t1.kind == tOp && t1.text == "==") {
			p.next()
			x, err := p.expr()
			if err != nil {
				return astNamedExpr{}, err
			}
			return astNamedExpr{Name: n, X: x}, nil
		}
		p.i = save
	}
	x, err := p.expr()
	if err != nil {
		return astNamedExpr{}, err
	}
	return astNamedExpr{X: x}, nil
}

// colPatterns reads column names that may contain * wildcards.
func (p *parser) colPatterns() ([]string, error) {
	var out []string
	for {
		var b strings.Builder
		t := p.peek()
		for {
			tt := p.peek()
			if (tt.kind == tIdent && !strings.HasPrefix(tt.text, "!")) || (tt.kind == tOp && tt.text == "*") || tt.kind == tLong {
				if b.Len() > 0 && tt.pos != p.toks[p.i-1].end {
					break
				}
				if tt.kind == tLong {
					b.WriteString(strconv.FormatInt(tt.long, 10))
				} else {
					b.WriteString(tt.text)
				}
				p.i++
				continue
			}
			if tt.kind == tOp && tt.text == "[" && b.Len() == 0 {
				n, err := p.name("a column name")
				if err != nil {
					return nil, err
				}
				b.WriteString(n)
			}
			break
		}
		if b.Len() == 0 {
			return nil, p.errAt(t, "expected a column name or wildcard but found "+describe(t))
		}
		out = append(out, b.String())
		// project-reorder accepts asc/desc after wildcards; we keep the written order.
		p.acceptKw("asc")
		p.acceptKw("desc")
		if !p.acceptOp(",") {
			return out, nil
		}
	}
}

// opParser reads one tabular operator after its name: pos is where the name starts and name
// is the name as written (dashed words joined, lower-cased), which tells aliases apart.
type opParser func(p *parser, pos srcPos, name string) (astOp, error)

// operatorParsers holds every tabular operator by the names it may be written with.
var operatorParsers map[string]opParser

func init() {
	operatorParsers = map[string]opParser{
		"where":           parseWhere,
		"filter":          parseWhere,
		"extend":          parseExtend,
		"project":         parseProject,
		"project-away":    parseProjectAway,
		"project-keep":    parseProjectAway,
		"project-rename":  parseProjectRename,
		"project-reorder": parseProjectReorder,
		"summarize":       parseSummarize,
		"sort":            parseSort,
		"order":           parseSort,
		"top":             parseTop,
		"take":            parseTake,
		"limit":           parseTake,
		"count":           parseCount,
		"distinct":        parseDistinct,
		"join":            parseJoin,
		"lookup":          parseJoin,
		"union":           parseUnion,
		"mv-expand":       parseMvExpand,
		"mvexpand":        parseMvExpand,
		"mv-apply":        parseMvApply,
		"evaluate":        parseEvaluate,
		"parse":           parseParse,
		"parse-where":     parseParse,
		"as":              parseAs,
		"getschema":       parseGetSchema,
		"render":          parseRender,
		"search":          parseSearch,
		"serialize":       parseSerialize,
		"make-series":     parseMakeSeries,
		"scan":            parseScan,
		"sample":          parseSample,
		"sample-distinct": parseSample,
		"top-nested":      parseTopNested,
		"invoke":          parseInvoke,
	}
}

// operator reads the tabular operator after a pipe.
func (p *parser) operator() (astOp, error) {
	t := p.peek()
	if t.kind != tIdent {
		return nil, p.expected("a tabular operator")
	}
	name := p.dashedName()
	parse, ok := operatorParsers[name]
	if !ok {
		if hint := didYouMean(name, operatorNames()); hint != "" {
			return nil, p.errAt(t, "unknown tabular operator "+strconv.Quote(name)+hint)
		}
		return nil, p.errAt(t, "unknown tabular operator "+strconv.Quote(name)+": expected where, extend, project, summarize, join, sort, take, … ")
	}
	return parse(p, posOf(t), name)
}

// Expressions, lowest precedence first.

func (p *parser) expr() (astExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.orExpr()
}

func (p *parser) orExpr() (astExpr, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.isKw("or") {
		t := p.next()
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		l = &astBinary{P: posOf(t), Op: "or", L: l, R: r}
	}
	return l, nil
}

func (p *parser) andExpr() (astExpr, error) {
	l, err := p.cmpExpr()
	if err != nil {
		return nil, err
	}
	for p.isKw("and") {
		t := p.next()
		r, err := p.cmpExpr()
		if err != nil {
			return nil, err
		}
		l = &astBinary{P: posOf(t), Op: "and", L: l, R: r}
	}
	return l, nil
}

var stringOps = map[string]bool{}

func init() {
	for _, base := range []string{"has", "contains", "startswith", "endswith", "hasprefix", "hassuffix", "has_cs", "contains_cs", "startswith_cs", "endswith_cs", "hasprefix_cs", "hassuffix_cs"} {
		stringOps[base] = true
		stringOps["!"+base] = true
	}
	stringOps["like"] = true
	stringOps["notlike"] = true
	stringOps["notcontains"] = true
	stringOps["notcontainscs"] = true
	stringOps["containscs"] = true
	stringOps["nothas"] = true
}

func (p *parser) cmpExpr() (astExpr, error) {
	l, err := p.addExpr()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tOp && (t.text == "==" || t.text == "!=" || t.text == "<>" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=" || t.text == "=~" || t.text == "!~"):
			p.next()
			r, err := p.addExpr()
			if err != nil {
				return nil, err
			}
			op := t.text
			if op == "<>" {
				op = "!="
			}
			l = &astBinary{P: posOf(t), Op: op, L: l, R: r}
		case t.kind == tOp && t.text == ":":
			id, ok := l.(*astIdent)
			if !ok {
				return l, nil
			}
			p.next()
			r, err := p.addExpr()
			if err != nil {
				return nil, err
			}
			l = &astSearchTerm{P: posOf(t), Col: id.Name, Term: r}
		case t.kind == tIdent && stringOps[strings.ToLower(t.text)]:
			p.next()
			r, err := p.addExpr()
			if err != nil {
				return nil, err
			}
			l = &astBinary{P: posOf(t), Op: strings.ToLower(t.text), L: l, R: r}
		case t.kind == tIdent && strings.EqualFold(t.text, "matches"):
			p.next()
			if err := p.wantKw("regex"); err != nil {
				return nil, err
			}
			r, err := p.addExpr()
			if err != nil {
				return nil, err
			}
			l = &astBinary{P: posOf(t), Op: "matches regex", L: l, R: r}
		case t.kind == tIdent && isListOp(strings.ToLower(t.text)):
			p.next()
			op := strings.ToLower(t.text)
			lo := &astListOp{P: posOf(t), Op: op, L: l}
			if err := p.wantOp("("); err != nil {
				return nil, err
			}
			err := p.list(")", func() error {
				e, err := p.pipeExpr()
				if err != nil {
					return err
				}
				lo.List = append(lo.List, e)
				return nil
			})
			if err != nil {
				return nil, err
			}
			l = lo
		case t.kind == tIdent && (strings.EqualFold(t.text, "between") || strings.EqualFold(t.text, "!between")):
			p.next()
			b := &astBetween{P: posOf(t), Not: t.text[0] == '!', X: l}
			if err := p.wantOp("("); err != nil {
				return nil, err
			}
			if b.Lo, err = p.addExpr(); err != nil {
				return nil, err
			}
			if err := p.wantOp(".."); err != nil {
				return nil, err
			}
			if b.Hi, err = p.addExpr(); err != nil {
				return nil, err
			}
			if err := p.wantOp(")"); err != nil {
				return nil, err
			}
			l = b
		default:
			return l, nil
		}
	}
}

func isListOp(s string) bool {
	switch s {
	case "in", "!in", "in~", "!in~", "has_any", "has_all":
		return true
	}
	return false
}

func (p *parser) addExpr() (astExpr, error) {
	l, err := p.mulExpr()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		t := p.next()
		r, err := p.mulExpr()
		if err != nil {
			return nil, err
		}
		l = &astBinary{P: posOf(t), Op: t.text, L: l, R: r}
	}
	return l, nil
}

func (p *parser) mulExpr() (astExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("%") {
		t := p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &astBinary{P: posOf(t), Op: t.text, L: l, R: r}
	}
	return l, nil
}

func (p *parser) unary() (astExpr, error) {
	if p.isOp("-") || p.isOp("+") {
		t := p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		// Fold -literal so that -1 and -1d stay literals (needed by take, bin sizes, etc.).
		if l, ok := x.(*astLit); ok && t.text == "-" {
			switch v := l.Val.(type) {
			case int64:
				return &astLit{P: posOf(t), T: l.T, Val: -v}, nil
			case float64:
				return &astLit{P: posOf(t), T: l.T, Val: -v}, nil
			case time.Duration:
				return &astLit{P: posOf(t), T: l.T, Val: -v}, nil
			}
		}
		if t.text == "+" {
			return x, nil
		}
		return &astUnary{P: posOf(t), Op: "-", X: x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (astExpr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			t := p.next()
			nt := p.peek()
			switch {
			case nt.kind == tIdent:
				p.next()
				x = &astMember{P: posOf(t), X: x, Name: nt.text}
			case nt.kind == tOp && nt.text == "[":
				// x.[0], x.["k"] and x.['k'] are the index forms x[0] and x["k"] written
				// after a dot, as published content does.
				p.next()
				if x, err = p.index(t, x); err != nil {
					return nil, err
				}
			default:
				return nil, p.expected("a property name or [index] after '.'")
			}
		case p.isOp("["):
			t := p.next()
			if x, err = p.index(t, x); err != nil {
				return nil, err
			}
		default:
			return x, nil
		}
	}
}

// index reads the subscript of x[...] after its "[", up to and including the "]".
func (p *parser) index(open token, x astExpr) (astExpr, error) {
	i, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.wantOp("]"); err != nil {
		return nil, err
	}
	return &astIndex{P: posOf(open), X: x, I: i}, nil
}

func (p *parser) primary() (astExpr, error) {
	t := p.peek()
	pos := posOf(t)
	switch t.kind {
	case tString:
		p.next()
		s := t.text
		for p.peek().kind == tString { // adjacent literals concatenate
			s += p.next().text
		}
		return &astLit{P: pos, T: TypeString, Val: s}, nil
	case tLong:
		p.next()
		return &astLit{P: pos, T: TypeLong, Val: t.long}, nil
	case tReal:
		p.next()
		return &astLit{P: pos, T: TypeReal, Val: t.real}, nil
	case tTimespan:
		p.next()
		return &astLit{P: pos, T: TypeTimespan, Val: t.span}, nil
	case tTyped:
		p.next()
		return typedLiteral(t)
	case tIdent:
		if strings.HasPrefix(t.text, "!") {
			return nil, p.expected("an expression")
		}
		p.next()
		switch strings.ToLower(t.text) {
		case "true":
			return &astLit{P: pos, T: TypeBool, Val: true}, nil
		case "false":
			return &astLit{P: pos, T: TypeBool, Val: false}, nil
		case "null":
			return &astLit{P: pos, T: TypeNull}, nil
		}
		if p.isOp("(") && strings.EqualFold(t.text, "externaldata") {
			p.i--
			return p.externalData()
		}
		if p.isOp("(") {
			return p.call(t)
		}
		return &astIdent{P: pos, Name: t.text}, nil
	case tOp:
		switch t.text {
		case "(":
			p.next()
			x, err := p.pipeExpr()
			if err != nil {
				return nil, err
			}
			if err := p.wantOp(")"); err != nil {
				return nil, err
			}
			return &astParen{P: pos, X: x}, nil
		case "[":
			n, err := p.name("an expression")
			if err != nil {
				return nil, err
			}
			return &astIdent{P: pos, Name: n}, nil
		case "*":
			p.next()
			return &astStar{P: pos}, nil
		}
	}
	return nil, p.expected("an expression")
}

func (p *parser) call(name token) (astExpr, error) {
	p.next() // (
	c := &astCall{P: posOf(name), Name: name.text}
	lname := strings.ToLower(name.text)
	err := p.list(")", func() error {
		var a astExpr
		if p.isOp("*") && (p.peekN(1).text == ")" || p.peekN(1).text == ",") {
			a = &astStar{P: posOf(p.next())}
		} else if lname == "typeof" {
			tt := p.next()
			if tt.kind != tIdent {
				return p.errAt(tt, "expected a type name")
			}
			a = &astIdent{P: posOf(tt), Name: tt.text}
		} else if t := p.peek(); t.kind == tIdent && p.peekN(1).kind == tOp && p.peekN(1).text == "=" {
			// name = value: an argument of a user function given by its parameter's name
			p.i += 2
			x, err := p.pipeExpr()
			if err != nil {
				return err
			}
			a = &astNamedArg{P: posOf(t), Name: t.text, X: x}
		} else {
			// toscalar, materialize and user functions take tabular arguments.
			var err error
			if a, err = p.pipeExpr(); err != nil {
				return err
			}
		}
		c.Args = append(c.Args, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// typedLiteral turns datetime(...), timespan(...), dynamic(...), guid(...) into literals.
func typedLiteral(t token) (astExpr, error) {
	pos := posOf(t)
	raw := strings.TrimSpace(t.raw)
	bad := func(what string) error {
		return &SyntaxError{Line: t.line, Col: t.col, Msg: fmt.Sprintf("bad %s literal %q: expected %s", t.text, raw, what)}
	}
	if strings.EqualFold(raw, "null") {
		typ, _ := ParseType(t.text)
		return &astLit{P: pos, T: typ}, nil
	}
	if len(raw) >= 2 && (raw[0] == '"' || raw[0] == '\'') && raw[len(raw)-1] == raw[0] {
		raw = raw[1 : len(raw)-1]
	}
	switch t.text {
	case "int", "long", "real", "double", "bool", "boolean", "decimal":
		typ, _ := ParseType(t.text)
		v := convertTo(raw, typ)
		if v == nil {
			return nil, bad("a " + typ.String() + " value")
		}
		return &astLit{P: pos, T: typ, Val: v}, nil
	case "datetime", "date":
		tm, ok := parseDatetime(raw)
		if !ok {
			return nil, bad("a date such as 2024-01-31 or 2024-01-31T10:00:00Z")
		}
		return &astLit{P: pos, T: TypeDatetime, Val: tm}, nil
	case "timespan", "time":
		d, ok := parseTimespan(raw)
		if !ok {
			return nil, bad("a timespan such as 1d, 2h, 00:30:00 or 1.02:03:04")
		}
		return &astLit{P: pos, T: TypeTimespan, Val: d}, nil
	case "guid":
		g, ok := parseGUID(raw)
		if !ok {
			return nil, bad("a GUID such as 74be27de-1e4e-49d9-b579-fe0b331d3642")
		}
		return &astLit{P: pos, T: TypeGUID, Val: g}, nil
	case "dynamic":
		v, ok := parseDynamic(raw)
		if !ok {
			// the language's literals: 'single', @"verbatim", datetime(...), ... (dynamic_literal.go)
			if v, ok = parseDynamicLiteral(raw); !ok {
				return nil, bad("a JSON value or the language's literals, such as [\"a\", @'C:\\x', datetime(2024-01-01)]")
			}
		}
		return &astLit{P: pos, T: TypeDynamic, Val: v}, nil
	}
	return nil, bad("a literal")
}
