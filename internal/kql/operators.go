package kql

// Operator is a tabular operator a query is written with, and where.
type Operator struct {
	Name      string // lower case, dashed as written: where, project-away, union
	Line, Col int
}

// Operators lists, in order, the tabular operators a query is written
// with: every name after a pipe, and the operators that start a tabular
// expression (union, search, range, print, datatable, externaldata, find).
// It reads the query's tokens only, so that a caller holding queries to a
// part of the language (a data collection rule's transformation takes only
// operators that see one row at a time) can name where each refused one is
// before binding. The first operator of an mv-apply subquery, written after
// "on (" rather than a pipe, is listed too. A query that does not lex is a
// *SyntaxError.
func Operators(query string) ([]Operator, error) {
	toks, err := lex(query)
	if err != nil {
		return nil, err
	}
	var out []Operator
	applying := 0 // mv-apply operators whose subquery has not started
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tOp && t.text == "|" && i+1 < len(toks) && toks[i+1].kind == tIdent,
			applying > 0 && t.kind == tIdent && t.text == "on" && i+2 < len(toks) && toks[i+1].kind == tOp && toks[i+1].text == "(" && toks[i+2].kind == tIdent:
			if t.kind == tIdent {
				applying--
				i++
			}
			p := &parser{toks: toks, i: i + 1}
			name := p.dashedName()
			if name == "mv-apply" {
				applying++
			}
			out = append(out, Operator{Name: name, Line: toks[i+1].line, Col: toks[i+1].col})
			i = p.i - 1
		case t.kind == tIdent && startsTabular(t.text) && (i == 0 || opensExpression(toks[i-1])):
			out = append(out, Operator{Name: t.text, Line: t.line, Col: t.col})
		}
	}
	return out, nil
}

// startsTabular reports whether name is an operator that may begin a
// tabular expression rather than follow a pipe.
func startsTabular(name string) bool {
	switch name {
	case "union", "search", "range", "print", "datatable", "externaldata", "find":
		return true
	}
	return false
}

// opensExpression reports whether a token may be followed by the start of
// a tabular expression: a statement, an argument or a let's value.
func opensExpression(t token) bool {
	if t.kind != tOp {
		return false
	}
	switch t.text {
	case ";", "(", "=", ",", "{":
		return true
	}
	return false
}
