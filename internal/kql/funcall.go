package kql

import (
	"errors"
	"slices"
	"strings"
	"sync"
)

// User functions are those a query declares with let and those its workspace stores
// (Catalog.Functions). A call binds the function's body anew at each call site, with the
// call's arguments bound to the parameters, so that an argument that is a constant is a
// constant in the body (table(name) resolves it at bind time) and each call pushes its own
// filters and columns down to the scans.

// storedFuncs resolves a Query's stored functions. Each is parsed the first time the query
// names it and not before, since a workspace may store hundreds of parsers and a query calls
// few; and it is kept, so that the bind and run passes bind the very same nodes (the marks of
// the columns a scan needs are keyed by node).
type storedFuncs struct {
	funcs  []Function
	mu     sync.Mutex // queries may Run concurrently
	index  map[string]int
	parsed map[string]*binding
}

func newStoredFuncs(fs []Function) *storedFuncs {
	return &storedFuncs{funcs: fs, parsed: map[string]*binding{}}
}

// binding returns the stored function called name as the binding of its declaration, or
// nil when the workspace stores no function of that name. A function whose text does not
// parse is a binding too, holding the error, which a call reports.
func (s *storedFuncs) binding(name string) *binding {
	if s == nil || len(s.funcs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.parsed[name]; ok {
		return b
	}
	if s.index == nil {
		s.index = make(map[string]int, len(s.funcs))
		for i, f := range s.funcs {
			if _, dup := s.index[f.Name]; !dup {
				s.index[f.Name] = i
			}
		}
	}
	i, ok := s.index[name]
	if !ok {
		return nil
	}
	// its body sees the tables and the other stored functions, never the calling query's lets
	b := &binding{stored: name, fnScope: &scope{names: map[string]*binding{}, stored: s}}
	b.fn, b.err = parseStoredFunction(s.funcs[i])
	s.parsed[name] = b
	return b
}

// parseStoredFunction parses f as let f.Name = (f.Parameters) { f.Body } declares it. The
// parameters and the body are parsed apart so that an error's line and column count within
// the text at fault, as its author wrote it: the error is a *FunctionError.
func parseStoredFunction(f Function) (*astLetStmt, error) {
	params, err := parseParams(f.Parameters)
	if err != nil {
		return nil, functionSyntaxError(FunctionPartParameters, err)
	}
	body, err := parseQuery(f.Body)
	if err != nil {
		return nil, functionSyntaxError(FunctionPartBody, err)
	}
	if len(body.Exprs) != 1 {
		return nil, &FunctionError{Part: FunctionPartBody, Err: &SyntaxError{Line: 1, Col: 1,
			Msg: "a function's body is lets and exactly one expression"}}
	}
	return &astLetStmt{Name: f.Name, IsFunc: true, Params: params, Body: body}, nil
}

func functionSyntaxError(part string, err error) error {
	var se *SyntaxError
	if errors.As(err, &se) {
		return &FunctionError{Part: part, Err: se}
	}
	return err
}

// parseParams parses a parameter list written without its parentheses.
func parseParams(text string) ([]astParam, error) {
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: text}
	var out []astParam
	for p.peek().kind != tEOF {
		prm, err := p.param()
		if err != nil {
			return nil, err
		}
		out = append(out, prm)
		if !p.acceptOp(",") && p.peek().kind != tEOF {
			return nil, p.expected(`"," or the end of the parameters`)
		}
	}
	return out, nil
}

// isFunc reports whether b is a function: declared by let, or stored, parsed or not.
func (b *binding) isFunc() bool { return b.fn != nil || b.err != nil }

// views returns the names of the views visible in s (let Name = view () { ... }), sorted.
func (s *scope) views() []string {
	seen := map[string]bool{}
	var out []string
	for ; s != nil; s = s.parent {
		for n, b := range s.names {
			if !seen[n] && b.fn != nil && b.fn.View {
				out = append(out, n)
			}
			seen[n] = true
		}
	}
	slices.Sort(out)
	return out
}

// userTabularCall binds a call of the user function b whose body is tabular; input, when
// set, is the function's first, tabular, argument (invoke).
func (p *planner) userTabularCall(x *astCall, b *binding, caller *scope, input *plan) (*plan, error) {
	fsc, done, err := p.enterCall(x, b, caller, nil, input)
	if err != nil {
		return nil, err
	}
	pl, err := p.tabular(b.fn.Body.Exprs[0], fsc)
	if err := done(err); err != nil {
		return nil, err
	}
	return pl, nil
}

// userScalarCall inlines a call of the user function b whose body is scalar: parameters are
// bound to the argument expressions, evaluated in the caller's row.
func (p *planner) userScalarCall(x *astCall, b *binding, ec *ectx) (cexpr, error) {
	if err := p.enter(x.P); err != nil {
		return cexpr{}, err
	}
	defer p.leave()
	if p.work++; p.work > maxPlanWork {
		return cexpr{}, bindErr(x.P, "query is too complex: more than %d function expansions", maxPlanWork)
	}
	fsc, done, err := p.enterCall(x, b, ec.sc, ec, nil)
	if err != nil {
		return cexpr{}, err
	}
	body := b.fn.Body.Exprs[0]
	if p.isTabular(body, fsc) {
		return cexpr{}, done(bindErr(x.P, "function %s returns a table; a scalar is needed here", x.Name))
	}
	c, err := p.expr(body, &ectx{cols: ec.cols, sc: fsc})
	return c, done(err)
}

// enterCall begins a call of b's function at x: it binds the parameters to the arguments and
// then the lets of the body, and returns the scope the body's expression binds in. The
// caller ends the call with done, passing the body's binding error, if any; done attributes
// an error inside a stored function to that function.
func (p *planner) enterCall(x *astCall, b *binding, caller *scope, ec *ectx, input *plan) (*scope, func(error) error, error) {
	if b.err != nil {
		return nil, nil, bindErr(x.P, "stored function %s does not parse: %v", b.stored, b.err)
	}
	if i := slices.Index(p.calls, b.fn); i >= 0 {
		var chain []string
		for _, f := range p.calls[i:] {
			chain = append(chain, f.Name)
		}
		return nil, nil, bindErr(x.P, "function %s calls itself (%s → %s); functions may not be recursive", b.fn.Name, strings.Join(chain, " → "), b.fn.Name)
	}
	fsc, err := p.bindParams(x, b, caller, ec, input)
	if err != nil {
		return nil, nil, err
	}
	p.calls = append(p.calls, b.fn)
	if b.stored != "" {
		p.inStored++
	}
	done := func(err error) error {
		p.calls = p.calls[:len(p.calls)-1]
		if b.stored != "" {
			p.inStored--
		}
		return inStoredFunction(x, b, "body", err)
	}
	for _, l := range b.fn.Body.Lets {
		if err := p.let(l, fsc); err != nil {
			return nil, nil, done(err)
		}
	}
	return fsc, done, nil
}

// inStoredFunction moves a binding error found in the text of the stored function b to the
// call x that reached it, saying where in the function it is: the function's text is not
// the query's, so its line and column alone would point at the wrong place.
func inStoredFunction(x *astCall, b *binding, part string, err error) error {
	var be *BindError
	if b.stored == "" || !errors.As(err, &be) {
		return err
	}
	return bindErr(x.P, "in stored function %s, at %d:%d of its %s: %s", b.stored, be.Line, be.Col, part, be.Msg)
}

// bindParams binds the parameters of b's function in a new scope: each to its argument in
// the call x, bound in the caller's scope (and row, ec, for a scalar call), or else to its
// default, bound where the function is declared. input, when set, is the first argument.
func (p *planner) bindParams(x *astCall, b *binding, caller *scope, ec *ectx, input *plan) (*scope, error) {
	f := b.fn
	skip := 0
	if input != nil {
		if len(f.Params) == 0 || !f.Params[0].Tabular {
			return nil, bindErr(x.P, "invoke %s: the function's first parameter must be tabular, to take invoke's input", f.Name)
		}
		skip = 1
	}
	args, err := pairArgs(x, f, skip)
	if err != nil {
		return nil, err
	}
	sc := newScope(b.fnScope)
	for i, prm := range f.Params {
		arg, argScope, argEc := args[i], caller, ec
		if arg == nil && i >= skip {
			arg, argScope, argEc = prm.Default, b.fnScope, nil
		}
		if prm.Tabular {
			tp := input
			if i >= skip {
				if tp, err = p.tabular(arg, argScope); err != nil {
					return nil, err
				}
			}
			if err := p.checkTableArg(x, f, prm, tp); err != nil {
				return nil, err
			}
			sc.names[prm.Name] = &binding{tabPlan: tp}
			continue
		}
		if argEc == nil {
			argEc = &ectx{sc: argScope}
		}
		c, err := p.expr(arg, argEc)
		if err != nil {
			if args[i] == nil {
				return nil, inStoredFunction(x, b, "parameters", err)
			}
			return nil, err
		}
		if c.t != prm.Type && c.t != TypeNull && !(isNumeric(c.t) && isNumeric(prm.Type)) && prm.Type != TypeDynamic {
			return nil, bindErr(arg.pos(), "function %s: argument %s must be %s, not %s", f.Name, prm.Name, prm.Type, c.t)
		}
		if isNumeric(c.t) && isNumeric(prm.Type) && c.t != prm.Type {
			fn, t := c.fn, prm.Type
			c.fn = func(r Row) any { return convertTo(fn(r), t) }
			c.t = t
		}
		sc.names[prm.Name] = &binding{scalar: &c}
	}
	return sc, nil
}

// pairArgs matches the arguments of the call x with the parameters of f after the first
// skip: positional arguments first, in order, then arguments given by name, in any order.
// It returns each parameter's argument, nil for one left to its default.
func pairArgs(x *astCall, f *astLetStmt, skip int) ([]astExpr, error) {
	out := make([]astExpr, len(f.Params))
	next, named := skip, false
	for _, a := range x.Args {
		na, ok := a.(*astNamedArg)
		if !ok {
			if named {
				return nil, bindErr(a.pos(), "function %s: an argument without a name cannot follow one given by name", f.Name)
			}
			if next >= len(f.Params) {
				return nil, bindErr(x.P, "function %s takes %d argument(s), got %d", f.Name, len(f.Params)-skip, len(x.Args))
			}
			out[next] = a
			next++
			continue
		}
		named = true
		i := slices.IndexFunc(f.Params, func(prm astParam) bool { return prm.Name == na.Name })
		switch {
		case i < 0:
			return nil, bindErr(na.P, "function %s has no parameter %s; its parameters are %s", f.Name, na.Name, paramNames(f))
		case i < skip || out[i] != nil:
			return nil, bindErr(na.P, "function %s: parameter %s is given twice", f.Name, na.Name)
		}
		out[i] = na.X
	}
	for i := skip; i < len(f.Params); i++ {
		if out[i] == nil && f.Params[i].Default == nil {
			return nil, bindErr(x.P, "function %s: missing argument %s, which has no default", f.Name, f.Params[i].Name)
		}
	}
	return out, nil
}

func paramNames(f *astLetStmt) string {
	if len(f.Params) == 0 {
		return "none"
	}
	names := make([]string, len(f.Params))
	for i, prm := range f.Params {
		names[i] = prm.Name
	}
	return strings.Join(names, ", ")
}

// checkTableArg refuses a table passed for the tabular parameter prm of f that lacks a column
// the parameter declares, or has it with a type that does not convert. It checks in the bind
// pass only: the run pass's scans carry just the columns the query uses.
func (p *planner) checkTableArg(x *astCall, f *astLetStmt, prm astParam, tp *plan) error {
	if p.run != nil {
		return nil
	}
	for _, want := range prm.Cols {
		i := findCol(tp.cols, want.Name)
		if i < 0 {
			return bindErr(x.P, "function %s: the table passed for %s has no column %s, which the parameter declares as %s:%s", f.Name, prm.Name, want.Name, want.Name, want.Type)
		}
		got := tp.cols[i].Type
		if got != want.Type && got != TypeDynamic && want.Type != TypeDynamic && !(isNumeric(got) && isNumeric(want.Type)) {
			return bindErr(x.P, "function %s: column %s of the table passed for %s is %s, but the parameter declares it %s", f.Name, want.Name, prm.Name, got, want.Type)
		}
	}
	return nil
}

// shapeFunc reports whether a call of b's function is tabular, from its body's shape, without
// binding it; a function that calls itself is left to binding to refuse.
func (p *planner) shapeFunc(b *binding) bool {
	if b.err != nil {
		return true // the tabular path reports the error
	}
	if slices.Contains(p.shaping, b.fn) {
		return false
	}
	p.shaping = append(p.shaping, b.fn)
	defer func() { p.shaping = p.shaping[:len(p.shaping)-1] }()
	// parameters shadow nothing tabular here
	fsc := newScope(b.fnScope)
	for _, prm := range b.fn.Params {
		if prm.Tabular {
			fsc.names[prm.Name] = &binding{tabPlan: &plan{}}
		} else {
			c := konstOf(prm.Type, nil)
			fsc.names[prm.Name] = &binding{scalar: &c}
		}
	}
	for _, l := range b.fn.Body.Lets {
		if l.IsFunc {
			fsc.names[l.Name] = &binding{fn: l, fnScope: fsc}
		} else if p.isTabular(l.Value, fsc) {
			fsc.names[l.Name] = &binding{tabPlan: &plan{}}
		}
	}
	return p.isTabular(b.fn.Body.Exprs[0], fsc)
}

// tableName is the name table(name) refers to: a string known at bind time, a literal or a
// function's parameter whose argument is one.
func (p *planner) tableName(x *astCall, sc *scope) (string, error) {
	if len(x.Args) != 1 {
		return "", bindErr(x.P, "table() expects one argument, a table's name")
	}
	c, err := p.expr(x.Args[0], &ectx{sc: sc})
	if err != nil {
		return "", err
	}
	var name string
	if c.konst && c.t == TypeString {
		name, _ = c.value().(string)
	}
	if name == "" {
		return "", bindErr(x.P, "table() needs a table name known before the query runs: a string literal, or a function parameter whose argument is one")
	}
	return name, nil
}
