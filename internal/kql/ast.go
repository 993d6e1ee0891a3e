package kql

// srcPos is a 1-based line and column in the query text.
type srcPos struct{ Line, Col int }

// astExpr is any node of the AST. Scalar and tabular expressions share one interface because the
// language does not separate them syntactically (a bare name may be a column, a scalar let or a
// table); the planner decides from what the name is bound to.
type astExpr interface{ pos() srcPos }

type (
	// astLit is a literal of a known type; Val is the run-time value (nil for typed nulls).
	astLit struct {
		P   srcPos
		T   Type
		Val any
	}
	// astIdent is a bare or bracketed name.
	astIdent struct {
		P    srcPos
		Name string
	}
	// astStar is * as a function argument (count(*), arg_max(x, *), pack_all).
	astStar struct{ P srcPos }
	// astCall is f(args...).
	astCall struct {
		P    srcPos
		Name string
		Args []astExpr
	}
	// astBinary covers arithmetic, logic, comparisons and the string operators; astOp is the
	// operator's text as written (lower-cased for word operators).
	astBinary struct {
		P    srcPos
		Op   string
		L, R astExpr
	}
	// astUnary is -x or +x.
	astUnary struct {
		P  srcPos
		Op string
		X  astExpr
	}
	// astMember is x.name on a dynamic value (or $left.x / $right.x in join conditions).
	astMember struct {
		P    srcPos
		X    astExpr
		Name string
	}
	// astIndex is x[i] on a dynamic value.
	astIndex struct {
		P    srcPos
		X, I astExpr
	}
	// astListOp is in, !in, in~, !in~, has_any, has_all with either a list or a tabular operand.
	astListOp struct {
		P    srcPos
		Op   string
		L    astExpr
		List []astExpr
	}
	// astBetween is x [!]between (lo .. hi).
	astBetween struct {
		P         srcPos
		Not       bool
		X, Lo, Hi astExpr
	}
	// astParen keeps parentheses so that `(T | where ...)` stays a tabular operand.
	astParen struct {
		P srcPos
		X astExpr
	}
	// astNamedArg is Name = X among the arguments of a call: the argument of the user
	// function's parameter Name.
	astNamedArg struct {
		P    srcPos
		Name string
		X    astExpr
	}
	// astSearchTerm is Col:"text" inside a search predicate.
	astSearchTerm struct {
		P    srcPos
		Col  string
		Term astExpr
	}
)

func (e *astLit) pos() srcPos        { return e.P }
func (e *astIdent) pos() srcPos      { return e.P }
func (e *astStar) pos() srcPos       { return e.P }
func (e *astCall) pos() srcPos       { return e.P }
func (e *astBinary) pos() srcPos     { return e.P }
func (e *astUnary) pos() srcPos      { return e.P }
func (e *astMember) pos() srcPos     { return e.P }
func (e *astIndex) pos() srcPos      { return e.P }
func (e *astListOp) pos() srcPos     { return e.P }
func (e *astBetween) pos() srcPos    { return e.P }
func (e *astParen) pos() srcPos      { return e.P }
func (e *astSearchTerm) pos() srcPos { return e.P }
func (e *astNamedArg) pos() srcPos   { return e.P }

// Tabular sources and the pipe.
type (
	// astPipe is Source | astOp | astOp ...
	astPipe struct {
		P      srcPos
		Source astExpr
		Ops    []astOp
	}
	// astDatatable is datatable(Col:type, ...)[values...].
	astDatatable struct {
		P    srcPos
		Cols []astColDecl
		Vals []astExpr
	}
	// astPrint is print [Name=]expr, ...
	astPrint struct {
		P    srcPos
		Cols []astNamedExpr
	}
	// astRange is range Col from a to b step s.
	astRange struct {
		P              srcPos
		Col            string
		From, To, Step astExpr
	}
)

func (e *astPipe) pos() srcPos      { return e.P }
func (e *astDatatable) pos() srcPos { return e.P }
func (e *astPrint) pos() srcPos     { return e.P }
func (e *astRange) pos() srcPos     { return e.P }

// astColDecl is Name:type in datatable, function parameters and tabular parameter schemas.
type astColDecl struct {
	P    srcPos
	Name string
	Type Type
}

// astNamedExpr is [Name =] astExpr.
type astNamedExpr struct {
	Name  string   // empty when the name is to be derived
	Names []string // (a, b) = …: the names of a tuple assignment, for the columns in order
	X     astExpr
}

// astOp is one tabular operator after a pipe. Each lives in its file op_<name>.go with its
// parse function (registered in operatorParsers) and its bind, which plans it over the
// plan of its input; ec is the input's columns in the pipe's scope.
type astOp interface {
	opPos() srcPos
	bind(p *planner, in *plan, ec *ectx) (*plan, error)
}

// astLetStmt is let Name = Value; or let Name = [view] (params) { body }.
type astLetStmt struct {
	P      srcPos
	Name   string
	Value  astExpr
	IsFunc bool
	View   bool // a function of no parameters that wildcard table names also match
	Params []astParam
	Body   *astBlock
}

// astParam is a function parameter: scalar (Type) or tabular (Tabular, with the columns
// a table passed for it must have; none for (*)).
type astParam struct {
	Name    string
	Type    Type
	Tabular bool
	Cols    []astColDecl
	Default astExpr
}

// astBlock is a sequence of lets and a final expression (a function body or the whole query).
type astBlock struct {
	Lets  []*astLetStmt
	Exprs []astExpr // the query may hold several result statements; a function body one
}
