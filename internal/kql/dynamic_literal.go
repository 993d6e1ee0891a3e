package kql

import "strings"

// A dynamic literal, dynamic([...]) or dynamic({...}), holds JSON-like arrays and property
// bags whose scalars are the language's literals, as the language documents it ("an array of
// dynamic or other scalar literals"): besides JSON, published rules write single-quoted and
// verbatim strings (@"C:\Windows"), obfuscated ones (h"..."), adjacent strings that
// concatenate, typed literals (datetime(2024-01-01), timespan(1d), guid(...), long(5)),
// timespans (1h), and keys bare or quoted, followed by : or =. Plain JSON takes the fast path
// (parseDynamic); the rest is read from the literal's tokens here.

// parseDynamicLiteral reads the contents of dynamic(...) written with the language's literals.
func parseDynamicLiteral(raw string) (any, bool) {
	toks, err := lex(raw)
	if err != nil {
		return nil, false
	}
	d := &dynLit{toks: toks}
	v, ok := d.value(0)
	if !ok || d.peek().kind != tEOF {
		return nil, false
	}
	return v, true
}

type dynLit struct {
	toks []token
	i    int
}

func (d *dynLit) peek() token { return d.toks[d.i] } // lex ends the tokens with tEOF

func (d *dynLit) next() token {
	t := d.toks[d.i]
	if t.kind != tEOF {
		d.i++
	}
	return t
}

func (d *dynLit) isOp(s string) bool {
	t := d.peek()
	return t.kind == tOp && t.text == s
}

func (d *dynLit) value(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	t := d.next()
	switch t.kind {
	case tString:
		s := t.text
		for d.peek().kind == tString { // adjacent literals concatenate
			s += d.next().text
		}
		return s, true
	case tLong:
		return t.long, true
	case tReal:
		return t.real, true
	case tTimespan:
		return t.span, true
	case tTyped:
		lit, err := typedLiteral(t)
		if err != nil {
			return nil, false
		}
		return lit.(*astLit).Val, true
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true":
			return true, true
		case "false":
			return false, true
		case "null":
			return nil, true
		}
	case tOp:
		switch t.text {
		case "-", "+":
			n := d.next()
			switch {
			case n.kind == tLong && t.text == "-":
				return -n.long, true
			case n.kind == tLong:
				return n.long, true
			case n.kind == tReal && t.text == "-":
				return -n.real, true
			case n.kind == tReal:
				return n.real, true
			case n.kind == tTimespan && t.text == "-":
				return -n.span, true
			case n.kind == tTimespan:
				return n.span, true
			}
		case "[":
			return d.array(depth)
		case "{":
			return d.bag(depth)
		}
	}
	return nil, false
}

func (d *dynLit) array(depth int) (any, bool) {
	out := []any{}
	for !d.isOp("]") {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if !d.isOp(",") {
			break
		}
		d.next()
		if d.isOp("]") {
			return nil, false // a trailing comma
		}
	}
	if !d.isOp("]") {
		return nil, false
	}
	d.next()
	return out, true
}

func (d *dynLit) bag(depth int) (any, bool) {
	out := map[string]any{}
	for !d.isOp("}") {
		k := d.next()
		if k.kind != tString && k.kind != tIdent {
			return nil, false
		}
		if !d.isOp(":") && !d.isOp("=") {
			return nil, false
		}
		d.next()
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		out[k.text] = v
		if !d.isOp(",") {
			break
		}
		d.next()
		if d.isOp("}") {
			return nil, false // a trailing comma
		}
	}
	if !d.isOp("}") {
		return nil, false
	}
	d.next()
	return out, true
}
