package kql

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Row is one row of values laid out as its plan's columns.
type Row = []any

// cexpr is a bound, compiled scalar expression.
type cexpr struct {
	t     Type
	fn    func(Row) any
	konst bool   // does not depend on the row
	col   int    // index of the column when the expression is a bare column reference, else -1
	name  string // the column name the language derives for it ("" if none)
	// tests, when set, is the same predicate as column tests that typed vectors answer
	// without boxing (all must hold); fn stays the reference.
	tests []colTest
	// batch, when set, is the same predicate over a column batch: it returns the rows of sel
	// that pass, reading the typed vectors (search's any-column match).
	batch func(cb *colBatch, sel []int) []int
	// ints, when set, is the same expression over a column batch's typed vectors, unboxed
	// (bin of a column by a constant): a group key read without a value per row.
	ints *vecInt
}

func (c cexpr) value() any { return c.fn(nil) }

// ectx is what an expression may refer to: the input row's columns and the let scope; for
// join conditions, the two sides.
type ectx struct {
	cols        []colInfo
	sc          *scope
	left, right []colInfo // join conditions only
	search      bool      // inside search: bare strings are term lookups
	searchCS    bool
	byCols      map[string]bool // summarize: group columns, left out of arg_max(x, *)
	aggNames    []string        // summarize: the names the query gives the aggregate being bound
	ing         *ingestCell     // where ingestion_time() is in the rows; nil: not known here
	win         *windowSet      // the window function calls of the operator (window.go)
	dataSchema  *dataCols       // the plugin whose data decide some of cols (plan.dataSchema)
	scan        *scanScope      // scan: the steps whose state Step.Column reads (op_scan.go)
}

func konstOf(t Type, v any) cexpr {
	return cexpr{t: t, fn: func(Row) any { return v }, konst: true, col: -1}
}

// cached makes a row-independent expression evaluate once per run.
func cached(fn func(Row) any) func(Row) any {
	var done bool
	var v any
	return func(r Row) any {
		if !done {
			v, done = fn(nil), true
		}
		return v
	}
}

func findCol(cols []colInfo, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func (p *planner) colRef(cols []colInfo, i int, pos srcPos) cexpr {
	p.mark(cols[i])
	t := cols[i].Type
	if t == TypeString {
		return cexpr{t: t, col: i, name: cols[i].Name, fn: func(r Row) any {
			if v := r[i]; v != nil {
				return v
			}
			return ""
		}}
	}
	return cexpr{t: t, col: i, name: cols[i].Name, fn: func(r Row) any { return r[i] }}
}

func (p *planner) expr(e astExpr, ec *ectx) (cexpr, error) {
	c, err := p.expr1(e, ec)
	if err != nil {
		return c, err
	}
	if c.konst && c.col < 0 {
		c.fn = cached(c.fn)
	}
	return c, nil
}

func (p *planner) expr1(e astExpr, ec *ectx) (cexpr, error) {
	switch x := e.(type) {
	case *astLit:
		c := konstOf(x.T, x.Val)
		if x.T == TypeString {
			c.name = ""
		}
		return c, nil
	case *astParen:
		return p.expr(x.X, ec)
	case *astIdent:
		if i := findCol(ec.cols, x.Name); i >= 0 {
			return p.colRef(ec.cols, i, x.P), nil
		}
		if b := ec.sc.lookup(x.Name); b != nil {
			if b.isFunc() {
				if err := noParams(x, b); err != nil {
					return cexpr{}, err
				}
				return p.userScalarCall(bareCall(x), b, ec)
			}
			if b.scalar != nil {
				c := *b.scalar
				c.col = -1
				if c.name == "" || !c.konst {
					c.name = x.Name
				}
				return c, nil
			}
			return cexpr{}, bindErr(x.P, "%s is a tabular expression; a scalar is needed here (use toscalar())", x.Name)
		}
		if ec.left != nil && (x.Name == "$left" || x.Name == "$right") {
			return cexpr{}, bindErr(x.P, "expected $left.Column or $right.Column")
		}
		if ec.dataSchema != nil {
			return p.dataColumn(x, ec)
		}
		return cexpr{}, bindErr(x.P, "unknown column or variable %q%s", x.Name, didYouMean(x.Name, colNames(ec.cols)))
	case *astStar:
		return cexpr{}, bindErr(x.P, "* is allowed only as a function argument such as count(*) or arg_max(x, *), or on the left of a string operator (where * has \"x\")")
	case *astUnary:
		c, err := p.expr(x.X, ec)
		if err != nil {
			return c, err
		}
		switch c.t {
		case TypeInt, TypeLong, TypeReal, TypeTimespan, TypeDynamic, TypeNull:
		default:
			return c, bindErr(x.P, "unary - needs a number or timespan, not %s", c.t)
		}
		f := c.fn
		return cexpr{t: c.t, konst: c.konst, col: -1, fn: func(r Row) any { return negate(f(r)) }}, nil
	case *astMember:
		if c, ok, err := p.scanStateRef(x, ec); ok {
			return c, err
		}
		if id, ok := x.X.(*astIdent); ok && (id.Name == "$left" || id.Name == "$right") {
			cols := ec.left
			if id.Name == "$right" {
				cols = ec.right
			}
			if cols == nil {
				return cexpr{}, bindErr(x.P, "%s is allowed only in join conditions", id.Name)
			}
			i := findCol(cols, x.Name)
			if i < 0 {
				return cexpr{}, bindErr(x.P, "unknown column %q on the %s side of the join%s", x.Name, strings.TrimPrefix(id.Name, "$"), didYouMean(x.Name, colNames(cols)))
			}
			c := p.colRef(cols, i, x.P)
			if id.Name == "$right" {
				c.col = -2 - i // marks a right-side reference for the join planner
			}
			return c, nil
		}
		c, err := p.expr(x.X, ec)
		if err != nil {
			return c, err
		}
		if c.t != TypeDynamic && c.t != TypeNull {
			return c, bindErr(x.P, "cannot access property %q of a %s value; only dynamic values have properties", x.Name, c.t)
		}
		f, key := c.fn, x.Name
		name := x.Name
		if c.name != "" {
			name = c.name + "_" + x.Name
		}
		return cexpr{t: TypeDynamic, konst: c.konst, col: -1, name: name, fn: func(r Row) any { return dynGet(f(r), key) }}, nil
	case *astIndex:
		c, err := p.expr(x.X, ec)
		if err != nil {
			return c, err
		}
		ic, err := p.expr(x.I, ec)
		if err != nil {
			return c, err
		}
		if c.t != TypeDynamic && c.t != TypeNull {
			return c, bindErr(x.P, "cannot index a %s value; only dynamic values can be indexed", c.t)
		}
		f, fi := c.fn, ic.fn
		name := c.name
		if ic.konst && ic.t == TypeString && c.name != "" {
			name = c.name + "_" + toString(ic.value())
		}
		return cexpr{t: TypeDynamic, konst: c.konst && ic.konst, col: -1, name: name, fn: func(r Row) any { return dynIndex(f(r), fi(r)) }}, nil
	case *astBinary:
		return p.binary(x, ec)
	case *astListOp:
		return p.listOp(x, ec)
	case *astBetween:
		v, err := p.expr(x.X, ec)
		if err != nil {
			return v, err
		}
		lo, err := p.expr(x.Lo, ec)
		if err != nil {
			return v, err
		}
		hi, err := p.expr(x.Hi, ec)
		if err != nil {
			return v, err
		}
		if lo, err = numericLiterals(v, lo, x.Lo.pos()); err != nil {
			return v, err
		}
		if hi, err = numericLiterals(v, hi, x.Hi.pos()); err != nil {
			return v, err
		}
		hi = rangeEnd(v, lo, hi)
		for _, o := range []cexpr{lo, hi} {
			if !orderable(v.t, o.t) {
				return v, bindErr(x.P, "between needs values of comparable types, not %s and %s", v.t, o.t)
			}
		}
		fv, fl, fh, not := v.fn, lo.fn, hi.fn, x.Not
		return cexpr{t: TypeBool, col: -1, konst: v.konst && lo.konst && hi.konst, fn: func(r Row) any {
			a := fv(r)
			c1, ok1 := compareValues(a, fl(r))
			c2, ok2 := compareValues(a, fh(r))
			if !ok1 || !ok2 {
				return nil
			}
			return (c1 >= 0 && c2 <= 0) != not
		}}, nil
	case *astCall:
		return p.call(x, ec)
	case *astSearchTerm:
		i := findCol(ec.cols, x.Col)
		if i < 0 {
			return cexpr{}, bindErr(x.P, "unknown column %q%s", x.Col, didYouMean(x.Col, colNames(ec.cols)))
		}
		term, err := p.expr(x.Term, ec)
		if err != nil {
			return term, err
		}
		if !term.konst {
			return term, bindErr(x.P, "search %s: needs a constant term", x.Col)
		}
		col := p.colRef(ec.cols, i, x.P)
		return p.searchMatch([]cexpr{col}, term, ec.searchCS), nil
	case *astPipe, *astDatatable, *astExternalData, *astPrint, *astUnion, *astSearch, *astRange:
		return cexpr{}, bindErr(e.pos(), "a tabular expression is not allowed here; a scalar is needed (use toscalar())")
	case *astNamedArg:
		return cexpr{}, bindErr(x.P, "an argument given by name (%s = ...) is allowed only in a call of a user-defined or stored function", x.Name)
	}
	return cexpr{}, bindErr(e.pos(), "unsupported expression")
}

// rangeEnd is the upper end of a between: hi itself, except that a datetime range may end
// with a timespan, which the language reads as that long after lo.
func rangeEnd(v, lo, hi cexpr) cexpr {
	if v.t != TypeDatetime || lo.t != TypeDatetime || hi.t != TypeTimespan {
		return hi
	}
	fl, fh := lo.fn, hi.fn
	return cexpr{t: TypeDatetime, col: -1, konst: lo.konst && hi.konst, fn: func(r Row) any {
		t, ok1 := fl(r).(time.Time)
		d, ok2 := fh(r).(time.Duration)
		if !ok1 || !ok2 {
			return nil
		}
		return t.Add(d)
	}}
}

func negate(v any) any {
	switch x := v.(type) {
	case int64:
		return -x
	case float64:
		return -x
	case time.Duration:
		return -x
	}
	return nil
}

func dynGet(v any, key string) any {
	if m, ok := v.(map[string]any); ok {
		return m[key]
	}
	return nil
}

func dynIndex(v, i any) any {
	switch x := v.(type) {
	case []any:
		n, ok := i.(int64)
		if !ok {
			return nil
		}
		if n < 0 {
			n += int64(len(x))
		}
		if n < 0 || n >= int64(len(x)) {
			return nil
		}
		return x[n]
	case map[string]any:
		if s, ok := i.(string); ok {
			return x[s]
		}
	}
	return nil
}

func comparable2(a, b Type) bool {
	if a == b || a == TypeNull || b == TypeNull || a == TypeDynamic || b == TypeDynamic {
		return true
	}
	if isNumeric(a) && isNumeric(b) {
		return true
	}
	return (a == TypeString && b == TypeGUID) || (a == TypeGUID && b == TypeString)
}

func orderable(a, b Type) bool {
	if a == TypeNull || b == TypeNull || a == TypeDynamic || b == TypeDynamic {
		return true
	}
	if isNumeric(a) && isNumeric(b) {
		return true
	}
	return a == b && a != TypeBool
}

// numericLiterals converts a constant string compared with a number column to a number, as
// the cloud's engine accepts EventID == "4625" and EventID in ("4728") on an int column: the
// literal becomes a long when it is a whole number and a real otherwise, so that it compares
// and pushes down to the store like a number literal. A string that is not a number could
// never be equal to a number, so it is refused at its position rather than quietly matching
// nothing. Other pairs, computed numbers among them (5 == "5"), are returned unchanged for
// the caller's type check to refuse.
func numericLiterals(a, b cexpr, bpos srcPos) (cexpr, error) {
	if !isNumeric(a.t) || a.col == -1 || !b.konst || b.t != TypeString {
		return b, nil
	}
	s, _ := b.value().(string)
	n, ok := numberOf(s)
	if !ok {
		return b, bindErr(bpos, "cannot compare the %s column %s with the string %q, which is not a number; compare it with a number", a.t, a.name, s)
	}
	if _, isLong := n.(int64); isLong {
		return konstOf(TypeLong, n), nil
	}
	return konstOf(TypeReal, n), nil
}

// numberOf reads a decimal number written as a string: an int64 when whole, else a float64.
func numberOf(s string) (any, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return f, true
}

// equalityLiterals converts a constant compared for equality (==, !=, in, !in) with a string or
// bool column to the column's type, as the language's equality takes any scalar on its right
// and published rules write ResultType == 0 on a string column and IsPrivateAddress == 1 or
// IsLocalAdmin == "True" on a bool one: a number becomes its text ("0"), 0 and 1 become false
// and true, and the strings "true" and "false" (in any case) the bools. The constant then
// compares, and pushes down to the store, as a literal of the column's type would. A constant
// that no value of the column could equal (a bool against 2 or "yes") is refused at its
// position. Ordering comparisons (ResultType > 0) and computed operands are returned unchanged
// for the caller's type check to refuse, as the cloud refuses them.
func equalityLiterals(a, b cexpr, bpos srcPos) (cexpr, error) {
	if a.col == -1 || !b.konst {
		return b, nil
	}
	switch {
	case a.t == TypeString && isNumeric(b.t):
		v := b.value()
		if v == nil {
			return b, nil
		}
		return konstOf(TypeString, toString(v)), nil
	case a.t == TypeBool && (isNumeric(b.t) || b.t == TypeString):
		v := b.value()
		if v == nil {
			return b, nil
		}
		switch x := v.(type) {
		case int64:
			if x == 0 || x == 1 {
				return konstOf(TypeBool, x == 1), nil
			}
		case float64:
			if x == 0 || x == 1 {
				return konstOf(TypeBool, x == 1), nil
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return konstOf(TypeBool, true), nil
			case "false":
				return konstOf(TypeBool, false), nil
			}
		}
		return b, bindErr(bpos, "cannot compare the bool column %s with %s, which is neither true nor false; compare it with true, false, 1 or 0", a.name, strconv.Quote(toString(v)))
	}
	return b, nil
}

func cmpErr(p srcPos, a, b Type) error {
	return bindErr(p, "cannot compare values of types %s and %s; try adding explicit casts", a, b)
}

func (p *planner) binary(x *astBinary, ec *ectx) (cexpr, error) {
	if _, ok := x.L.(*astStar); ok {
		return p.starMatch(x, ec)
	}
	l, err := p.expr(x.L, ec)
	if err != nil {
		return l, err
	}
	r, err := p.expr(x.R, ec)
	if err != nil {
		return r, err
	}
	if isComparison(x.Op) {
		if r, err = numericLiterals(l, r, x.R.pos()); err != nil {
			return r, err
		}
		if l, err = numericLiterals(r, l, x.L.pos()); err != nil {
			return l, err
		}
	}
	if x.Op == "==" || x.Op == "!=" {
		if r, err = equalityLiterals(l, r, x.R.pos()); err != nil {
			return r, err
		}
		if l, err = equalityLiterals(r, l, x.L.pos()); err != nil {
			return l, err
		}
	}
	out := cexpr{t: TypeBool, col: -1, konst: l.konst && r.konst}
	fl, fr := l.fn, r.fn
	switch x.Op {
	case "and", "or":
		for _, c := range []cexpr{l, r} {
			if c.t != TypeBool && c.t != TypeDynamic && c.t != TypeNull {
				return out, bindErr(x.P, "%s needs bool operands, not %s", x.Op, c.t)
			}
		}
		if x.Op == "and" {
			if l.tests != nil && r.tests != nil {
				out.tests = append(append([]colTest(nil), l.tests...), r.tests...)
			}
			out.batch = andBatch(l, r)
			out.fn = func(row Row) any {
				a, _ := fl(row).(bool)
				if !a {
					return false
				}
				b, _ := fr(row).(bool)
				return b
			}
		} else {
			out.fn = func(row Row) any {
				if a, _ := fl(row).(bool); a {
					return true
				}
				b, _ := fr(row).(bool)
				return b
			}
		}
		return out, nil
	case "==", "!=":
		if !comparable2(l.t, r.t) {
			return out, cmpErr(x.P, l.t, r.t)
		}
		neg := x.Op == "!="
		if l.t == TypeString && r.konst && r.t == TypeString {
			k, _ := r.value().(string)
			out.fn = func(row Row) any { s, _ := fl(row).(string); return (s == k) != neg }
			if l.col >= 0 {
				out.tests = []colTest{{col: l.col, str: func(s string) bool { return (s == k) != neg }}}
			}
			return out, nil
		}
		out.fn = func(row Row) any {
			a, b := fl(row), fr(row)
			if a == nil || b == nil {
				return nil
			}
			return valuesEqual(a, b) != neg
		}
		if k, ok := longConst(r); ok && (l.t == TypeLong || l.t == TypeInt) && l.col >= 0 {
			// valuesEqual of two longs; a null is not true
			out.tests = []colTest{{col: l.col, long: func(v int64) bool { return (v == k) != neg }}}
		}
		return out, nil
	case "<", "<=", ">", ">=":
		if !orderable(l.t, r.t) {
			return out, cmpErr(x.P, l.t, r.t)
		}
		op := x.Op
		out.fn = func(row Row) any {
			c, ok := compareValues(fl(row), fr(row))
			if !ok {
				return nil
			}
			return orderHolds(op, c)
		}
		if k, ok := longConst(r); ok && (l.t == TypeLong || l.t == TypeInt) && l.col >= 0 {
			// compareValues of two longs; a null is not true
			out.tests = []colTest{{col: l.col, long: func(v int64) bool { return orderHolds(op, cmp3(v, k)) }}}
		}
		return out, nil
	case "=~", "!~":
		neg := x.Op == "!~"
		out.fn = func(row Row) any {
			return strings.EqualFold(toString(fl(row)), toString(fr(row))) != neg
		}
		return out, nil
	case "matches regex":
		if !r.konst {
			return out, bindErr(x.P, "matches regex needs a constant pattern")
		}
		pat, _ := r.value().(string)
		re, err := regexp.Compile(pat)
		if err != nil {
			return out, bindErr(x.R.pos(), "bad regular expression: %v", err)
		}
		out.fn = func(row Row) any { return re.MatchString(toString(fl(row))) }
		return out, nil
	case "+", "-", "*", "/", "%":
		t, err := arithType(x.Op, l.t, r.t)
		if err != nil {
			return out, bindErr(x.P, "%v", err)
		}
		out.t = t
		op := x.Op
		out.fn = func(row Row) any { return arith(op, fl(row), fr(row), t) }
		return out, nil
	}
	if stringOps[x.Op] {
		op := x.Op
		neg := strings.HasPrefix(op, "!") || strings.HasPrefix(op, "not")
		op = strings.TrimPrefix(strings.TrimPrefix(op, "!"), "not")
		if op == "containscs" {
			op = "contains_cs"
		}
		if r.konst {
			k := toString(r.value())
			m := stringMatcher(op, k)
			if l.t == TypeString {
				out.fn = func(row Row) any { s, _ := fl(row).(string); return m(s) != neg }
				if l.col >= 0 {
					out.tests = []colTest{{col: l.col, str: func(s string) bool { return m(s) != neg }}}
				}
			} else {
				out.fn = func(row Row) any { return m(toString(fl(row))) != neg }
			}
			return out, nil
		}
		out.fn = func(row Row) any {
			return stringMatcher(op, toString(fr(row)))(toString(fl(row))) != neg
		}
		return out, nil
	}
	return out, bindErr(x.P, "unknown operator %q", x.Op)
}

func isComparison(op string) bool {
	switch op {
	case "==", "!=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

// stringMatcher returns the test for a string operator with a fixed right-hand side.
func stringMatcher(op, k string) func(string) bool {
	switch op {
	case "has":
		return func(s string) bool { return hasTerm(s, k, false) }
	case "has_cs":
		return func(s string) bool { return hasTerm(s, k, true) }
	case "hasprefix":
		return func(s string) bool { return hasPrefixTerm(s, k, false) }
	case "hasprefix_cs":
		return func(s string) bool { return hasPrefixTerm(s, k, true) }
	case "hassuffix":
		return func(s string) bool { return hasSuffixTerm(s, k, false) }
	case "hassuffix_cs":
		return func(s string) bool { return hasSuffixTerm(s, k, true) }
	case "contains":
		return func(s string) bool { return indexFold(s, k) >= 0 }
	case "contains_cs":
		return func(s string) bool { return strings.Contains(s, k) }
	case "startswith":
		return func(s string) bool { return len(s) >= len(k) && strings.EqualFold(s[:len(k)], k) }
	case "startswith_cs":
		return func(s string) bool { return strings.HasPrefix(s, k) }
	case "endswith":
		return func(s string) bool { return len(s) >= len(k) && strings.EqualFold(s[len(s)-len(k):], k) }
	case "endswith_cs":
		return func(s string) bool { return strings.HasSuffix(s, k) }
	case "like":
		return func(s string) bool { return likeMatch(s, k) }
	}
	return func(string) bool { return false }
}

// likeMatch is SQL-style like with % and _, case-insensitive.
func likeMatch(s, pat string) bool {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}

func arithType(op string, a, b Type) (Type, error) {
	if a == TypeNull {
		a = b
	}
	if b == TypeNull {
		b = a
	}
	if a == TypeDynamic || b == TypeDynamic {
		return TypeDynamic, nil
	}
	switch {
	case isNumeric(a) && isNumeric(b):
		if a == TypeReal || b == TypeReal {
			return TypeReal, nil
		}
		return TypeLong, nil // Kusto widens int arithmetic to long
	case a == TypeDatetime && b == TypeDatetime && op == "-":
		return TypeTimespan, nil
	case a == TypeDatetime && b == TypeTimespan && (op == "+" || op == "-"):
		return TypeDatetime, nil
	case a == TypeTimespan && b == TypeDatetime && op == "+":
		return TypeDatetime, nil
	case a == TypeTimespan && b == TypeTimespan:
		if op == "/" {
			return TypeReal, nil
		}
		if op == "+" || op == "-" || op == "%" {
			return TypeTimespan, nil
		}
	case a == TypeTimespan && isNumeric(b) && (op == "*" || op == "/"):
		return TypeTimespan, nil
	case isNumeric(a) && b == TypeTimespan && op == "*":
		return TypeTimespan, nil
	}
	return TypeNull, fmt.Errorf("operator %s is not defined for %s and %s", op, a, b)
}

func arith(op string, a, b any, t Type) any {
	if a == nil || b == nil {
		return nil
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			switch op {
			case "+":
				return x + y
			case "-":
				return x - y
			case "*":
				return x * y
			case "/":
				if y == 0 {
					return nil
				}
				return x / y
			case "%":
				if y == 0 {
					return nil
				}
				return x % y
			}
		case float64:
			return arithReal(op, float64(x), y)
		case time.Duration:
			if op == "*" {
				return time.Duration(x) * y
			}
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return arithReal(op, x, float64(y))
		case float64:
			return arithReal(op, x, y)
		case time.Duration:
			if op == "*" {
				return time.Duration(x * float64(y))
			}
		}
	case time.Time:
		switch y := b.(type) {
		case time.Time:
			return x.Sub(y)
		case time.Duration:
			if op == "+" {
				return x.Add(y)
			}
			return x.Add(-y)
		}
	case time.Duration:
		switch y := b.(type) {
		case time.Duration:
			switch op {
			case "+":
				return x + y
			case "-":
				return x - y
			case "/":
				if y == 0 {
					return nil
				}
				return float64(x) / float64(y)
			case "%":
				if y == 0 {
					return nil
				}
				return x % y
			}
		case time.Time:
			return y.Add(x)
		case int64:
			switch op {
			case "*":
				return x * time.Duration(y)
			case "/":
				if y == 0 {
					return nil
				}
				return x / time.Duration(y)
			}
		case float64:
			switch op {
			case "*":
				return time.Duration(float64(x) * y)
			case "/":
				return time.Duration(float64(x) / y)
			}
		}
	}
	return nil
}

func arithReal(op string, x, y float64) any {
	switch op {
	case "+":
		return x + y
	case "-":
		return x - y
	case "*":
		return x * y
	case "/":
		return x / y
	case "%":
		return math.Mod(x, y)
	}
	return nil
}

func (p *planner) listOp(x *astListOp, ec *ectx) (cexpr, error) {
	l, err := p.expr(x.L, ec)
	if err != nil {
		return l, err
	}
	out := cexpr{t: TypeBool, col: -1}
	var items []cexpr
	var tabs []*plan
	allKonst := true
	for _, e := range x.List {
		if p.isTabular(e, ec.sc) {
			tp, err := p.tabular(e, ec.sc)
			if err != nil {
				return out, err
			}
			if len(tp.cols) == 0 {
				return out, bindErr(e.pos(), "the tabular operand of %s has no columns", x.Op)
			}
			p.markAll(tp)
			tabs = append(tabs, tp)
			allKonst = false
			continue
		}
		c, err := p.expr(e, ec)
		if err != nil {
			return out, err
		}
		if x.Op == "in" || x.Op == "!in" {
			if c, err = numericLiterals(l, c, e.pos()); err != nil {
				return out, err
			}
			if c, err = equalityLiterals(l, c, e.pos()); err != nil {
				return out, err
			}
		}
		if (x.Op == "in" || x.Op == "!in") && !comparable2(l.t, c.t) {
			return out, cmpErr(e.pos(), l.t, c.t)
		}
		allKonst = allKonst && c.konst
		items = append(items, c)
	}
	op := x.Op
	fold := op == "in~" || op == "!in~" || op == "has_any" || op == "has_all"
	// values gathers the right-hand side, flattening dynamic arrays and reading the first
	// column of tabular operands (once per run: they do not depend on the row).
	values := func(r Row) []any {
		var vs []any
		for _, c := range items {
			v := c.fn(r)
			if arr, ok := v.([]any); ok {
				vs = append(vs, arr...)
			} else {
				vs = append(vs, v)
			}
		}
		for _, tp := range tabs {
			rows, err := p.collect(tp)
			if err != nil {
				p.run.fail(err)
				continue
			}
			for _, row := range rows {
				vs = append(vs, row[0])
			}
		}
		return vs
	}
	fl := l.fn
	switch op {
	case "has_any", "has_all":
		all := op == "has_all"
		test := func(s string, vs []any) bool {
			for _, v := range vs {
				h := hasTerm(s, toString(v), false)
				if all && !h {
					return false
				}
				if !all && h {
					return true
				}
			}
			return all
		}
		if allOrTabs(items) { // nothing depends on the row: gather the list once
			var vs []any
			var done bool
			fixed := func() []any {
				if !done {
					vs, done = values(nil), true
				}
				return vs
			}
			out.fn = func(r Row) any { return test(toString(fl(r)), fixed()) }
			if l.t == TypeString && l.col >= 0 {
				out.tests = []colTest{{col: l.col, str: func(s string) bool { return test(s, fixed()) }}}
			}
		} else {
			out.fn = func(r Row) any { return test(toString(fl(r)), values(r)) }
		}
		return out, nil
	}
	neg := strings.HasPrefix(op, "!")
	build := func(vs []any) map[any]bool {
		set := make(map[any]bool, len(vs))
		for _, v := range vs {
			if fold {
				set[strings.ToLower(toString(v))] = true
			} else if v != nil {
				set[scalarKey(v)] = true
			}
		}
		return set
	}
	probe := func(set map[any]bool, v any) any {
		if fold {
			return set[strings.ToLower(toString(v))] != neg
		}
		if v == nil {
			return neg
		}
		return set[scalarKey(v)] != neg
	}
	if allKonst || len(tabs) > 0 && items == nil || allOrTabs(items) {
		var set map[any]bool
		fixed := func() map[any]bool {
			if set == nil {
				set = build(values(nil))
			}
			return set
		}
		out.fn = func(r Row) any { return probe(fixed(), fl(r)) }
		if l.t == TypeString && l.col >= 0 {
			out.tests = []colTest{{col: l.col, str: func(s string) bool { return probe(fixed(), s) == true }}}
		}
		return out, nil
	}
	out.fn = func(r Row) any { return probe(build(values(r)), fl(r)) }
	return out, nil
}

func allOrTabs(items []cexpr) bool {
	for _, c := range items {
		if !c.konst {
			return false
		}
	}
	return true
}

// searchMatch is a search term over some columns: "x" is has, "*x*" contains, "x*" a term
// prefix, "*x" a term suffix.
func (p *planner) searchMatch(cols []cexpr, term cexpr, cs bool) cexpr {
	k := toString(term.value())
	op := "has"
	switch {
	case strings.HasPrefix(k, "*") && strings.HasSuffix(k, "*") && len(k) > 1:
		op, k = "contains", strings.Trim(k, "*")
	case strings.HasSuffix(k, "*"):
		op, k = "hasprefix", strings.TrimSuffix(k, "*")
	case strings.HasPrefix(k, "*"):
		op, k = "hassuffix", strings.TrimPrefix(k, "*")
	}
	if cs {
		op += "_cs"
	}
	m := stringMatcher(op, k)
	if strings.Contains(k, "*") {
		m = wildcardTerm(k, cs).MatchString
	}
	if k == "" {
		m = func(string) bool { return true }
	}
	return anyColumn(cols, m)
}

// longConst is c's value when c is a constant long.
func longConst(c cexpr) (int64, bool) {
	if !c.konst {
		return 0, false
	}
	k, ok := c.value().(int64)
	return k, ok
}

// orderHolds says whether a comparison that came out c (-1, 0, 1) satisfies
// op: <, <=, > or >=.
func orderHolds(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}
