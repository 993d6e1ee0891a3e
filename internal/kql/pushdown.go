package kql

import (
	"strings"
	"time"
)

// pushdown turns the where clause's conjuncts of the form column <op> constant into scan
// predicates and TimeGenerated bounds. It reports whether every conjunct became a bound of
// the scan's time range or a predicate a source matches exactly as the engine does (see
// exactPred), which then select exactly the rows the clause keeps.
func (p *planner) pushdown(in *plan, pred astExpr, ec *ectx) bool {
	bounds := true
	for _, conj := range conjuncts(pred) {
		if !p.pushConjunct(in, conj, ec) {
			bounds = false
		}
	}
	return bounds
}

// pushConjunct pushes one conjunct down to in's scan, and reports whether it became a bound
// of the scan's time range or exact predicates (see addPred).
func (p *planner) pushConjunct(in *plan, conj astExpr, ec *ectx) bool {
	sn := in.scan
	if in.ingest != nil && p.pushIngestion(sn, conj, ec) {
		return false
	}
	switch x := conj.(type) {
	case *astBinary:
		if _, ok := x.L.(*astStar); ok {
			return p.pushStar(sn, x, ec)
		}
		eq := x.Op == "==" || x.Op == "!="
		op := x.Op
		col, k, ok := p.colConst(x.L, x.R, ec, eq)
		if !ok {
			if col, k, ok = p.colConst(x.R, x.L, ec, eq); !ok {
				return false
			}
			op = flipOp(x.Op)
		}
		return p.addPred(sn, col, op, k)
	case *astBetween:
		if x.Not {
			return false
		}
		id, ok := x.X.(*astIdent)
		if !ok {
			return false
		}
		i := findCol(ec.cols, id.Name)
		if i < 0 || ec.cols[i].origin == nil || ec.cols[i].origin.node != sn.node {
			return false
		}
		col := cexpr{t: ec.cols[i].Type, col: i}
		lo, err1 := p.expr(x.Lo, ec)
		if err1 == nil {
			lo, err1 = numericLiterals(col, lo, x.Lo.pos())
		}
		hi, err2 := p.expr(x.Hi, ec)
		if err2 == nil {
			hi, err2 = numericLiterals(col, hi, x.Hi.pos())
		}
		if err1 != nil || err2 != nil || !lo.konst || !hi.konst {
			return false
		}
		hi = rangeEnd(col, lo, hi)
		from := p.addPred(sn, ec.cols[i], ">=", lo.value())
		to := p.addPred(sn, ec.cols[i], "<=", hi.value())
		return from && to
	case *astListOp:
		id, ok := x.L.(*astIdent)
		if ok && (x.Op == "has_any" || x.Op == "has_all") {
			p.pushHasList(sn, id, x, ec)
			return false
		}
		if !ok || (x.Op != "in" && x.Op != "in~") {
			return false
		}
		i := findCol(ec.cols, id.Name)
		if i < 0 || ec.cols[i].origin == nil || ec.cols[i].origin.node != sn.node {
			return false
		}
		var vals []any
		okAll := true
		for _, e := range x.List {
			if p.isTabular(e, ec.sc) {
				okAll = false
				break
			}
			c, err := p.expr(e, ec)
			if err == nil {
				// as the where clause compares them: EventID in ("4728") pushes 4728
				c, err = numericLiterals(cexpr{t: ec.cols[i].Type, col: i}, c, e.pos())
			}
			if err == nil && x.Op == "in" {
				c, err = equalityLiterals(cexpr{t: ec.cols[i].Type, col: i}, c, e.pos()) // ResultType in (0) pushes "0"
			}
			if err != nil || !c.konst || c.value() == "" && ec.cols[i].Type == TypeString {
				okAll = false // (the engine reads a null cell as the empty string, a scan matches no null)
				break
			}
			v := c.value()
			if arr, ok := v.([]any); ok {
				vals = append(vals, arr...)
			} else {
				vals = append(vals, v)
			}
		}
		if !okAll {
			return false
		}
		op := PredIn
		if x.Op == "in~" {
			op = PredInFold
		}
		sn.req.Predicates = append(sn.req.Predicates, Predicate{Column: ec.cols[i].origin.name, Op: op, Values: vals})
	}
	return false
}

func conjuncts(e astExpr) []astExpr {
	if pe, ok := e.(*astParen); ok {
		return conjuncts(pe.X)
	}
	if b, ok := e.(*astBinary); ok && b.Op == "and" {
		return append(conjuncts(b.L), conjuncts(b.R)...)
	}
	return []astExpr{e}
}

// colConst reads a conjunct column <op> constant, converting the constant as the where clause
// does; eq says whether op compares for equality.
func (p *planner) colConst(a, b astExpr, ec *ectx, eq bool) (colInfo, any, bool) {
	id, ok := a.(*astIdent)
	if !ok {
		return colInfo{}, nil, false
	}
	i := findCol(ec.cols, id.Name)
	if i < 0 || ec.cols[i].origin == nil { // addPred checks that it is this scan's column
		return colInfo{}, nil, false
	}
	c, err := p.expr(b, ec)
	if err == nil {
		c, err = numericLiterals(cexpr{t: ec.cols[i].Type, col: i}, c, b.pos()) // EventID == "4625" pushes 4625
	}
	if err == nil && eq {
		c, err = equalityLiterals(cexpr{t: ec.cols[i].Type, col: i}, c, b.pos()) // ResultType == 0 pushes "0"
	}
	if err != nil || !c.konst {
		return colInfo{}, nil, false
	}
	return ec.cols[i], c.value(), true
}

func flipOp(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	case "==", "!=", "=~":
		return op
	}
	return "" // string operators are not symmetric
}

var pushOps = map[string]PredOp{"==": PredEq, "!=": PredNe, "=~": PredEqFold, "<": PredLt, "<=": PredLe, ">": PredGt, ">=": PredGe,
	"has": PredHas, "has_cs": PredHasCS, "contains": PredContains, "contains_cs": PredContainsCS,
	"startswith": PredStartsWith, "startswith_cs": PredStartsWithCS, "endswith": PredEndsWith, "endswith_cs": PredEndsWithCS}

// addPred pushes column <op> constant down to the scan as a predicate, and reports whether
// it selects exactly the rows the comparison keeps: as a bound of the scan's time range
// (TimeGenerated compared with a datetime), or as a predicate a source matches as the
// engine does (exactPred), which the scan then holds among its exact ones.
func (p *planner) addPred(sn *scanNode, col colInfo, op string, k any) bool {
	if col.origin == nil || col.origin.node != sn.node || k == nil {
		return false
	}
	po, ok := pushOps[op]
	if !ok {
		return false
	}
	bound := false
	// only push what compares like for like; the engine's own filter handles the rest
	switch col.Type {
	case TypeString:
		s, ok := k.(string)
		if !ok {
			return false
		}
		if foldsCase[po] && !isASCII(s) {
			return false // the engine folds the case of letters outside ASCII too, a scan only of ASCII ones
		}
		if emptyMatches(po, s) {
			return false // the engine reads a null cell as the empty string, a scan matches no null
		}
	case TypeInt, TypeLong, TypeReal:
		if _, ok := asReal(k); !ok || po >= PredIn {
			return false
		}
	case TypeDatetime:
		t, ok := k.(time.Time)
		if !ok || po >= PredIn || po == PredEqFold {
			return false
		}
		if col.origin.name == TimeColumn && sn.timeCol {
			bound = narrowTime(&sn.req, po, t)
		}
	case TypeBool, TypeTimespan, TypeGUID:
		if po >= PredIn || po == PredEqFold {
			return false
		}
	default:
		return false
	}
	pred := Predicate{Column: col.origin.name, Op: po, Value: k}
	sn.req.Predicates = append(sn.req.Predicates, pred)
	if !bound && exactPred(col.Type, po, k) {
		sn.exact = append(sn.exact, pred)
		return true
	}
	return bound
}

// emptyMatches reports whether the empty string compares with s by po: then the engine
// keeps a row whose string cell is null, which it reads as the empty string, and which no
// scan predicate matches.
func emptyMatches(po PredOp, s string) bool {
	switch po {
	case PredLe:
		return true
	case PredGt:
		return false
	case PredNe, PredLt:
		return s != ""
	}
	return s == "" // ==, =~, >=, and every text operator: the empty text has, contains, starts and ends only ""
}

// exactPred reports whether a source's predicate on a column of type t matches exactly the
// rows the engine's comparison keeps, so that a count of them may come from the source
// (RowCounter): == of a string, has of an ASCII string (the engine folds the case of other
// letters too, a source only of ASCII ones), each not empty (a string column's null cell
// reads as the empty string, and no source predicate matches a null), and ==, <, <=, > and
// >= of a long. != is left out: the engine keeps a null string cell, no source does.
func exactPred(t Type, po PredOp, k any) bool {
	switch t {
	case TypeString:
		s, ok := k.(string)
		return ok && s != "" && (po == PredEq || po == PredHas && isASCII(s))
	case TypeInt, TypeLong:
		_, ok := k.(int64)
		return ok && (po == PredEq || po == PredLt || po == PredLe || po == PredGt || po == PredGe)
	}
	return false
}

// narrowTime narrows the request's time range to the rows whose TimeGenerated compares with
// t by po, and reports whether it did: a comparison the range cannot hold (!=), or one with
// the zero time, which the range takes for no bound, leaves it as it was.
func narrowTime(req *ScanRequest, po PredOp, t time.Time) bool {
	// From and To are inclusive, so a strict comparison bounds the scan a nanosecond inside
	// t: `< 02:00` must not need a segment (damaged, say) whose first row is at 02:00.
	switch po {
	case PredGt:
		t = t.Add(time.Nanosecond)
	case PredLt:
		t = t.Add(-time.Nanosecond)
	case PredGe, PredLe, PredEq:
	default:
		return false
	}
	if t.IsZero() {
		return false
	}
	if po != PredLt && po != PredLe && (req.From.IsZero() || t.After(req.From)) {
		req.From = t
	}
	if po != PredGt && po != PredGe && (req.To.IsZero() || t.Before(req.To)) {
		req.To = t
	}
	return true
}

// pushHasList pushes col has_all (...) as a has predicate for each term, and col has_any
// (...) as one has_any predicate, when every term is a constant the scan matches as the engine
// does (see addAnyPred) and the column is a string column of the scan.
func (p *planner) pushHasList(sn *scanNode, id *astIdent, x *astListOp, ec *ectx) {
	i := findCol(ec.cols, id.Name)
	if i < 0 || ec.cols[i].origin == nil || ec.cols[i].origin.node != sn.node || ec.cols[i].Type != TypeString {
		return
	}
	var terms []any
	for _, e := range x.List {
		if p.isTabular(e, ec.sc) {
			return
		}
		c, err := p.expr(e, ec)
		if err != nil || !c.konst {
			return
		}
		vs, ok := c.value().([]any) // a dynamic array of terms, flattened as the engine does
		if !ok {
			vs = []any{c.value()}
		}
		for _, v := range vs {
			k := toString(v)
			if k == "" || !isASCII(k) {
				return // the empty term matches every row, null cells too
			}
			terms = append(terms, k)
		}
	}
	if len(terms) == 0 {
		return
	}
	if x.Op == "has_all" {
		for _, k := range terms {
			p.addPred(sn, ec.cols[i], "has", k)
		}
		return
	}
	sn.req.Predicates = append(sn.req.Predicates, Predicate{Column: ec.cols[i].origin.name, Op: PredHasAny, Values: terms})
}

// foldsCase are the pushed string operators that ignore case.
var foldsCase = map[PredOp]bool{PredEqFold: true, PredInFold: true, PredHas: true, PredContains: true, PredStartsWith: true, PredEndsWith: true}

// starPushOps are the operators of * <op> "term" that a scan may apply to every column.
var starPushOps = map[string]PredOp{"has": PredHas, "has_cs": PredHasCS, "contains": PredContains,
	"contains_cs": PredContainsCS, "containscs": PredContainsCS}

// pushStar pushes where * <op> "term" (see starMatch) to the scan as an any-column predicate,
// and reports whether it selects exactly the rows the comparison keeps (see addAnyPred).
func (p *planner) pushStar(sn *scanNode, x *astBinary, ec *ectx) bool {
	op, ok := starPushOps[x.Op]
	if !ok {
		return false
	}
	term, err := p.expr(x.R, ec)
	if err != nil || !term.konst {
		return false
	}
	return p.addAnyPred(sn, op, toString(term.value()), ec)
}

// pushSearch pushes the terms that search's predicate requires of every row it keeps ("x",
// "*x*", each side of an and) to the scan as any-column predicates (see searchMatch). It
// reports whether they select exactly the rows the predicate keeps: every conjunct a term
// pushed as an exact predicate (see addAnyPred).
func (p *planner) pushSearch(sn *scanNode, s *astSearch, ec *ectx) bool {
	exact := true
	for _, conj := range conjuncts(s.Pred) {
		lit, ok := conj.(*astLit)
		if !ok || lit.T != TypeString {
			exact = false
			continue
		}
		k := toString(lit.Val)
		op := PredHas
		switch {
		case len(k) > 2 && strings.HasPrefix(k, "*") && strings.HasSuffix(k, "*"):
			op, k = PredContains, k[1:len(k)-1]
		case strings.Contains(k, "*"):
			exact = false
			continue // a term prefix or suffix, or a pattern: no filter holds those
		}
		if s.CaseSensitive {
			op = map[PredOp]PredOp{PredHas: PredHasCS, PredContains: PredContainsCS}[op]
		}
		exact = p.addAnyPred(sn, op, k, ec) && exact
	}
	return exact
}

// addAnyPred adds "any column <op> k" to the scan's predicates when every column the match
// reads (see allColumns) is one the scan reads as it is, and k is text the scan matches as the
// engine does: not empty (which every row has, null cells included), and ASCII (the engine
// folds the case of other letters, a scan only of ASCII ones). It reports whether the
// predicate is one a source may count exactly (see RowCounter), which the scan then holds
// among its exact ones: has, whose case the engine ignores as a source does.
func (p *planner) addAnyPred(sn *scanNode, op PredOp, k string, ec *ectx) bool {
	if k == "" || !isASCII(k) {
		return false
	}
	for _, c := range ec.cols {
		if c.Name != "$table" && !c.hidden && (c.origin == nil || c.origin.node != sn.node) {
			return false
		}
	}
	pred := Predicate{Column: AnyColumn, Op: op, Value: k}
	sn.req.Predicates = append(sn.req.Predicates, pred)
	if op != PredHas {
		return false
	}
	sn.exact = append(sn.exact, pred)
	return true
}
