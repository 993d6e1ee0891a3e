package kql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// colInfo is a column of a plan; origin names the scanned table column it passes through
// unchanged, so that using it downstream marks that column as needed.
type colInfo struct {
	Name   string
	Type   Type
	origin *origin
	hidden bool // a hidden standard column, passed through but left out of results (hidden.go)
}

type origin struct {
	node astExpr
	name string
}

// iterator yields batches of rows until io.EOF. Batches are never reused by their producer,
// so consumers may keep rows.
type iterator interface {
	Next(ctx context.Context) ([]Row, error)
	Close()
}

// readAll opens a stream of batches (rows or column batches) and hands each to fn, to the
// end or fn's first error.
func readAll[B any, I interface {
	Next(context.Context) (B, error)
	Close()
}](ctx context.Context, open func(context.Context) (I, error), fn func(B) error) error {
	it, err := open(ctx)
	if err != nil {
		return err
	}
	defer it.Close()
	for {
		b, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
}

// plan is a bound tabular expression: its columns and how to open a stream of its rows.
type plan struct {
	cols []colInfo
	open func(ctx context.Context) (iterator, error)
	// openCols, when set, opens the same rows by column (a scan and the filters after it);
	// operators with a columnar path use it instead of open.
	openCols func(ctx context.Context) (colIter, error)
	scan     *scanNode // set while the plan is a bare table scan (plus filters), for pushdown
	// bounded: the plan's rows are exactly those of scan within its time bounds that match
	// its exact predicates (a bare scan, or where clauses pushdown took whole into those),
	// so a source that counts exactly (RowCounter) can count them without reading them
	bounded bool
	// ingest, set for a scan and the where clauses right after it, is the same plan with
	// each row's ingestion time as one more cell after its columns (ingestion.go).
	ingest func() *plan
	name   string // result table name set by `as`
	render *Visualization
	// serialized: the rows come in an order window functions may rely on (window.go)
	serialized bool
	// dataSchema, when set, is the evaluate plugin whose input's rows decide some of the
	// plan's columns (bag_unpack, pivot): the bind pass lets later operators name columns it
	// cannot know, and the run pass, which knows them, names the plugin when one is missing.
	dataSchema *dataCols
}

func (pl *plan) schema() []Column {
	out := make([]Column, len(pl.cols))
	for i, c := range pl.cols {
		out[i] = Column{Name: c.Name, Type: c.Type}
	}
	return out
}

type binding struct {
	scalar   *cexpr
	tab      astExpr // tabular let: planned again at each use
	tabScope *scope
	tabPlan  *plan // tabular parameter or materialized value
	fn       *astLetStmt
	fnScope  *scope
	stored   string // the name of a stored function
	err      error  // why a stored function does not parse
}

// scope holds the names a let or a function's parameters bind; stored resolves the names
// none of them binds to the catalog's stored functions, which rank after every let.
type scope struct {
	parent *scope
	names  map[string]*binding
	stored *storedFuncs
}

func newScope(parent *scope) *scope {
	s := &scope{parent: parent, names: map[string]*binding{}}
	if parent != nil {
		s.stored = parent.stored
	}
	return s
}

func (s *scope) lookup(name string) *binding {
	stored := s.stored
	for ; s != nil; s = s.parent {
		if b, ok := s.names[name]; ok {
			return b
		}
	}
	return stored.binding(name)
}

// planner binds the AST. It runs twice: once at Compile (run == nil) to report errors and to
// learn which columns of each scanned table the query uses, and once per Run to build the
// pipeline over just those columns, with now() and the pushed-down predicates fixed.
type planner struct {
	cat      Catalog
	run      *runState
	marks    map[astExpr]map[string]bool // written by the bind pass, read by the run pass
	depth    int
	work     int // tabular expressions planned so far; bounds re-planning of nested lets
	fixedNow time.Time
	synth    map[synthKey]*astIdent // table references the planner makes up (search, union T*), kept stable across passes
	calls    []*astLetStmt          // the user functions whose calls are being bound, outermost first
	shaping  []*astLetStmt          // the user functions isTabular is looking into
	inStored int                    // how many calls of stored functions are being bound
	links    []markLink             // bind pass: marks that imply others, applied by settleMarks
	tables   map[string]bool        // bind pass: the tables scanned
	perRow   int                    // mv-apply subqueries being planned, which run once per row
}

// markLink says that if column if is read, column then must be read too.
type markLink struct{ ifCol, then *origin }

const maxPlanWork = 20000

type synthKey struct {
	owner astExpr
	name  string
}

// synthIdent returns the same made-up table reference for (owner, name) in both passes, so
// that the columns marked in the bind pass are found again in the run pass.
func (p *planner) synthIdent(owner astExpr, name string) *astIdent {
	k := synthKey{owner, name}
	if id, ok := p.synth[k]; ok {
		return id
	}
	id := &astIdent{P: owner.pos(), Name: name}
	if p.run == nil { // runs share the Query and only read what the bind pass stored
		p.synth[k] = id
	}
	return id
}

func (p *planner) now() time.Time {
	if p.run != nil {
		return p.run.now
	}
	return p.fixedNow
}

func (p *planner) enter(pos srcPos) error {
	p.depth++
	if p.depth > maxDepth {
		return bindErr(pos, "query nests functions or subqueries deeper than %d levels", maxDepth)
	}
	return nil
}
func (p *planner) leave() { p.depth-- }

func (p *planner) mark(c colInfo) {
	if c.origin == nil || p.run != nil {
		return
	}
	m := p.marks[c.origin.node]
	if m == nil {
		m = map[string]bool{}
		p.marks[c.origin.node] = m
	}
	m[c.origin.name] = true
}

// link records that c2 must be read whenever c1 is; a c1 that is not a scanned column is
// always there, so c2 is marked at once.
func (p *planner) link(c1, c2 colInfo) {
	if c2.origin == nil || p.run != nil {
		return
	}
	if c1.origin == nil {
		p.mark(c2)
		return
	}
	p.links = append(p.links, markLink{ifCol: c1.origin, then: c2.origin})
}

// settleMarks applies the links to the marks of a finished bind pass, until nothing changes
// (a link may depend on another).
func (p *planner) settleMarks() {
	for changed := true; changed; {
		changed = false
		for _, l := range p.links {
			if p.marks[l.ifCol.node][l.ifCol.name] && !p.marks[l.then.node][l.then.name] {
				p.mark(colInfo{origin: l.then})
				changed = true
			}
		}
	}
}

// markAll marks every column of pl but the hidden ones (hidden.go), which are read only
// where a query names them: a *-expansion, a union or a materialize does not scan them.
func (p *planner) markAll(pl *plan) {
	for _, c := range pl.cols {
		if !c.hidden {
			p.mark(c)
		}
	}
}

func (p *planner) let(l *astLetStmt, sc *scope) error {
	if l.IsFunc {
		sc.names[l.Name] = &binding{fn: l, fnScope: sc}
		return nil
	}
	if c, ok := l.Value.(*astCall); ok && strings.EqualFold(c.Name, "materialize") {
		if len(c.Args) != 1 {
			return bindErr(c.P, "materialize() expects one tabular argument")
		}
		tp, err := p.tabular(c.Args[0], sc)
		if err != nil {
			return err
		}
		p.markAll(tp)
		sc.names[l.Name] = &binding{tabPlan: p.materialize(tp)}
		return nil
	}
	if p.isTabular(l.Value, sc) {
		// check it binds now; it is planned again at each use so that each use pushes its
		// own filters and columns down. The run pass need not check again: planning may read
		// data there (evaluate bag_unpack reads its input to learn its columns).
		if p.run == nil {
			if _, err := p.tabular(l.Value, sc); err != nil {
				return err
			}
		}
		sc.names[l.Name] = &binding{tab: l.Value, tabScope: newScope(sc)}
		copyScope(sc.names[l.Name].tabScope, sc)
		return nil
	}
	c, err := p.expr(l.Value, &ectx{sc: sc})
	if err != nil {
		return err
	}
	if c.name == "" {
		c.name = l.Name
	}
	sc.names[l.Name] = &binding{scalar: &c}
	return nil
}

// copyScope snapshots the names visible at a let so that a later let of the same name does
// not change what an earlier tabular let refers to.
func copyScope(dst, src *scope) {
	for s := src; s != nil; s = s.parent {
		for k, v := range s.names {
			if _, ok := dst.names[k]; !ok {
				dst.names[k] = v
			}
		}
	}
	dst.parent = nil
	dst.stored = src.stored
}

// bareCall is the call that a function's name written without parentheses stands for: the
// language lets a function whose parameters all have defaults be called either way (noParams
// checks that).
func bareCall(x *astIdent) *astCall { return &astCall{P: x.P, Name: x.Name} }

// bareCallable reports whether the function of b may be called by its bare name: every
// parameter it has has a default (_Im_Dns | where …), or it does not parse, which the call
// then reports.
func bareCallable(b *binding) bool {
	return b.fn == nil || !slices.ContainsFunc(b.fn.Params, func(prm astParam) bool { return prm.Default == nil })
}

// noParams refuses a bare name for function b when the function needs arguments.
func noParams(x *astIdent, b *binding) error {
	if !bareCallable(b) {
		n := len(b.fn.Params)
		return bindErr(x.P, "%s is a function of %d parameter(s); call it as %s(...)", x.Name, n, x.Name)
	}
	return nil
}

// isTabular decides whether an expression denotes a table.
func (p *planner) isTabular(e astExpr, sc *scope) bool {
	if p.depth > maxDepth {
		return false // the caller's enter() reports the depth
	}
	p.depth++
	defer func() { p.depth-- }()
	switch x := e.(type) {
	case *astPipe, *astDatatable, *astExternalData, *astPrint, *astUnion, *astSearch, *astRange:
		return true
	case *astMember:
		_, cross := crossServiceCall(x, sc) // arg("").Resources: refused by tabular
		return cross
	case *astParen:
		return p.isTabular(x.X, sc)
	case *astIdent:
		if b := sc.lookup(x.Name); b != nil {
			if b.isFunc() && bareCallable(b) {
				return p.shapeFunc(b)
			}
			return b.tab != nil || b.tabPlan != nil
		}
		_, ok := p.cat.Table(x.Name)
		return ok
	case *astCall:
		n := strings.ToLower(x.Name)
		if b := sc.lookup(x.Name); b != nil && b.isFunc() {
			return p.shapeFunc(b)
		}
		return n == "table" || n == "materialize" || n == "datatable" || x.Name == watchlistOperator
	}
	return false
}

// tabular plans a tabular expression.
func (p *planner) tabular(e astExpr, sc *scope) (*plan, error) {
	if err := p.enter(e.pos()); err != nil {
		return nil, err
	}
	// each use of a tabular let is planned again; a chain of lets that each use the previous
	// one twice would otherwise take exponential time
	if p.work++; p.work > maxPlanWork {
		p.leave()
		return nil, bindErr(e.pos(), "query is too complex: more than %d tabular expressions after expanding lets and functions", maxPlanWork)
	}
	defer p.leave()
	switch x := e.(type) {
	case *astParen:
		return p.tabular(x.X, sc)
	case *astIdent:
		if b := sc.lookup(x.Name); b != nil {
			switch {
			case b.tabPlan != nil:
				cp := *b.tabPlan
				cp.name = "" // a name bound by as names that statement's table, not its uses
				return &cp, nil
			case b.tab != nil:
				return p.tabular(b.tab, b.tabScope)
			case b.isFunc():
				if err := noParams(x, b); err != nil {
					return nil, err
				}
				return p.tabularCall(bareCall(x), sc)
			}
			return nil, bindErr(x.P, "%s is a scalar, not a table", x.Name)
		}
		return p.scanTable(x, x.Name, false)
	case *astCall:
		return p.tabularCall(x, sc)
	case *astPipe:
		pl, err := p.tabular(x.Source, sc)
		if err != nil {
			return nil, err
		}
		for _, op := range x.Ops {
			if pl, err = p.operator(pl, op, sc); err != nil {
				return nil, err
			}
		}
		return pl, nil
	case *astDatatable:
		return p.datatable(x, sc)
	case *astExternalData:
		return p.externalData(x, sc)
	case *astPrint:
		return p.print(x, sc)
	case *astRange:
		return p.rangeSrc(x, sc)
	case *astUnion:
		return p.union(nil, x, sc)
	case *astSearch:
		return p.search(nil, x, sc)
	}
	if _, ok := e.(*astLit); ok {
		return nil, bindErr(e.pos(), "expected a tabular expression but found a literal")
	}
	if c, ok := crossServiceCall(e, sc); ok {
		return nil, crossServiceErr(c)
	}
	return nil, bindErr(e.pos(), "expected a tabular expression (a table, let name or pipeline)")
}

func (p *planner) tabularCall(x *astCall, sc *scope) (*plan, error) {
	if b := sc.lookup(x.Name); b != nil && b.isFunc() {
		return p.userTabularCall(x, b, sc, nil)
	}
	if x.Name == watchlistOperator {
		return p.getWatchlist(x)
	}
	switch strings.ToLower(x.Name) {
	case "table":
		name, err := p.tableName(x, sc)
		if err != nil {
			return nil, err
		}
		if b := sc.lookup(name); b != nil && (b.tab != nil || b.tabPlan != nil) {
			return p.tabular(&astIdent{P: x.P, Name: name}, sc)
		}
		// a node per name: one table(T) in a function may scan a different table per call
		return p.scanTable(p.synthIdent(x, name), name, false)
	case "materialize":
		if len(x.Args) != 1 {
			return nil, bindErr(x.P, "materialize() expects one tabular argument")
		}
		tp, err := p.tabular(x.Args[0], sc)
		if err != nil {
			return nil, err
		}
		p.markAll(tp)
		return p.materialize(tp), nil
	}
	if _, ok := funcs[strings.ToLower(x.Name)]; ok {
		return nil, bindErr(x.P, "%s() returns a scalar; a table is needed here", x.Name)
	}
	if err := defenderCloudCallErr(x); err != nil {
		return nil, err
	}
	return nil, bindErr(x.P, "unknown function or table %q%s", x.Name, didYouMean(x.Name, append(p.cat.tableNames(), p.cat.functionNames()...)))
}

// scanNode is one table scan; the run pass fills in the request from the marks and the
// filters that follow it.
type scanNode struct {
	req     ScanRequest
	node    astExpr
	timeCol bool
	// exact are the predicates of req a source matches exactly as the engine does (see
	// exactPred), which a count of a bounded plan hands to the source
	exact   []Predicate
	all     []colInfo
	account string // set: the operator whose memory the scanned rows count as, while the scan is open
}

func (p *planner) scanTable(node astExpr, name string, fuzzy bool) (*plan, error) {
	ts, ok := p.cat.Table(name)
	if !ok {
		return nil, bindErr(node.pos(), "unknown table or let name %q%s", name, didYouMean(name, p.cat.tableNames()))
	}
	if _, wl := WatchlistAlias(name); !wl && p.tables != nil {
		p.tables[name] = true // a watchlist is not ingested: no late rows to watch for
	}
	sn := &scanNode{node: node, req: ScanRequest{Table: name}}
	var cols []colInfo
	for i, c := range append(slices.Clip(ts.Columns), ts.Hidden...) {
		ci := colInfo{Name: c.Name, Type: c.Type, origin: &origin{node: node, name: c.Name}, hidden: i >= len(ts.Columns)}
		sn.all = append(sn.all, ci)
		if c.Name == TimeColumn && c.Type == TypeDatetime {
			sn.timeCol = true
		}
		// the run pass exposes only the columns the bind pass saw used
		if p.run == nil || p.marks[node][c.Name] {
			cols = append(cols, ci)
		}
	}
	pl := p.scanPlan(sn, cols, false)
	pl.ingest = func() *plan { return p.scanPlan(sn, cols, true) }
	return pl, nil
}

// scanPlan is the plan of a scan of cols; with ingest, its rows carry the ingestion-time cell.
func (p *planner) scanPlan(sn *scanNode, cols []colInfo, ingest bool) *plan {
	width := len(cols)
	if ingest {
		width++
	}
	pl := &plan{cols: cols, scan: sn, bounded: !ingest}
	pl.openCols = func(ctx context.Context) (colIter, error) { return p.openScan(ctx, sn, cols, ingest) }
	pl.open = func(ctx context.Context) (iterator, error) {
		sc, err := p.openScan(ctx, sn, cols, ingest)
		if err != nil {
			return nil, err
		}
		return &scanIter{in: sc, width: width}, nil
	}
	return pl
}

// scanRequest is the request of a scan of cols: the scan's time bounds, narrowed to the
// run's timespan, and the run's ingestion bounds.
func (p *planner) scanRequest(sn *scanNode, cols []colInfo, ingest bool) ScanRequest {
	run := p.run
	req := sn.req
	req.Columns = nil
	for _, c := range cols {
		req.Columns = append(req.Columns, c.Name)
	}
	if ingest {
		req.Columns = append(req.Columns, IngestionTimeColumn)
	}
	if _, wl := WatchlistAlias(req.Table); !wl {
		ingestBounds(&req, run.opts) // a watchlist is reference rows, not logs: never ingested
	}
	var from, to time.Time = req.From, req.To
	if run.opts.Timespan > 0 && sn.timeCol {
		lo, hi := run.now.Add(-run.opts.Timespan), run.now
		if from.IsZero() || lo.After(from) {
			from = lo
		}
		if to.IsZero() || hi.Before(to) {
			to = hi
		}
		req.From, req.To = from, to
	}
	return req
}

func (p *planner) openScan(ctx context.Context, sn *scanNode, cols []colInfo, ingest bool) (*scanCols, error) {
	run := p.run
	req := p.scanRequest(sn, cols, ingest)
	timeIdx := -1
	if sn.timeCol && (!req.From.IsZero() || !req.To.IsZero()) {
		timeIdx = findCol(cols, TimeColumn)
		if timeIdx < 0 {
			req.Columns = append(req.Columns, TimeColumn)
			timeIdx = len(req.Columns) - 1
		}
	}
	run.scans = append(run.scans, req)
	it, err := run.src.Scan(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", req.Table, err)
	}
	strs := make([]bool, len(cols), len(cols)+1)
	for i, c := range cols {
		strs[i] = c.Type == TypeString
	}
	if ingest {
		strs = append(strs, false)
	}
	sc := &scanCols{it: it, timeIdx: timeIdx, strs: strs, run: run}
	if sn.account != "" {
		if err := sc.charge(sn.account); err != nil {
			return nil, err
		}
	}
	sc.setBounds(req.From, req.To)
	return sc, nil
}

// scanIter is a scan's rows, boxed.
type scanIter struct {
	in    *scanCols
	width int
}

func (s *scanIter) Next(ctx context.Context) ([]Row, error) {
	cb, err := s.in.Next(ctx)
	if err != nil {
		return nil, err
	}
	if s.width == 1 && len(cb.sel) == cb.b.Len && cb.b.vector(0) == nil && noNils(cb.b.Columns[0], cb.strs[0]) {
		// one boxed column: rows are windows on the batch's column, no copy
		col := cb.b.Columns[0]
		rows := make([]Row, len(col))
		for r := range rows {
			rows[r] = col[r : r+1 : r+1]
		}
		return rows, nil
	}
	return cb.rows(), nil
}

func (s *scanIter) Close() { s.in.Close() }

// noNils reports whether a column needs no null-to-empty rewriting.
func noNils(col []any, str bool) bool {
	if !str {
		return true
	}
	for _, v := range col {
		if v == nil {
			return false
		}
	}
	return true
}

// sliceIter replays rows held in memory; acct, when set, is what holds them, released when
// the consumer closes the iterator.
type sliceIter struct {
	rows []Row
	pos  int
	acct *memAccount
}

func (s *sliceIter) Next(ctx context.Context) ([]Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.pos >= len(s.rows) {
		return nil, io.EOF
	}
	end := min(s.pos+1024, len(s.rows))
	// a copy of the row headers: consumers filter batches in place, and materialized rows
	// are replayed more than once
	out := append([]Row(nil), s.rows[s.pos:end]...)
	s.pos = end
	return out, nil
}
func (s *sliceIter) Close() {
	if s.acct != nil {
		s.acct.release()
	}
}

func rowsPlan(cols []colInfo, rows func() ([]Row, error)) *plan {
	return &plan{cols: cols, open: func(ctx context.Context) (iterator, error) {
		rs, err := rows()
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: rs}, nil
	}}
}

// collect runs a plan to completion (used by toscalar, in (subquery), materialize, join).
func (p *planner) collect(pl *plan) ([]Row, error) {
	if p.run == nil {
		return nil, nil
	}
	// callers (toscalar, in) keep a value or a set, not the rows
	acct := p.run.account("subquery")
	defer acct.release()
	return p.run.collect(pl, acct)
}

func (p *planner) materialize(tp *plan) *plan {
	var rows []Row
	var done bool
	var ferr error
	out := &plan{cols: tp.cols, name: tp.name, serialized: tp.serialized}
	out.open = func(ctx context.Context) (iterator, error) {
		if !done {
			// materialized rows stay charged for the whole run
			rows, ferr = p.run.collect(tp, p.run.account("materialize"))
			done = true
		}
		if ferr != nil {
			return nil, ferr
		}
		return &sliceIter{rows: rows}, nil
	}
	return out
}

func (p *planner) datatable(x *astDatatable, sc *scope) (*plan, error) {
	if len(x.Cols) == 0 {
		return nil, bindErr(x.P, "datatable needs at least one column")
	}
	if len(x.Vals)%len(x.Cols) != 0 {
		return nil, bindErr(x.P, "datatable has %d values, not a multiple of its %d columns", len(x.Vals), len(x.Cols))
	}
	cols := make([]colInfo, len(x.Cols))
	for i, c := range x.Cols {
		cols[i] = colInfo{Name: c.Name, Type: c.Type}
	}
	vals := make([]cexpr, len(x.Vals))
	for i, v := range x.Vals {
		c, err := p.expr(v, &ectx{sc: sc})
		if err != nil {
			return nil, err
		}
		want := x.Cols[i%len(x.Cols)].Type
		if c.t != want && c.t != TypeNull && !(isNumeric(c.t) && isNumeric(want)) && want != TypeDynamic && !(want == TypeGUID && c.t == TypeString) {
			return nil, bindErr(v.pos(), "datatable column %s is %s but the value is %s", x.Cols[i%len(x.Cols)].Name, want, c.t)
		}
		vals[i] = c
	}
	return rowsPlan(cols, func() ([]Row, error) {
		var rows []Row
		for i := 0; i < len(vals); i += len(cols) {
			row := make(Row, len(cols))
			for j := range cols {
				row[j] = convertTo(vals[i+j].value(), cols[j].Type)
			}
			rows = append(rows, row)
		}
		return rows, nil
	}), nil
}

func (p *planner) print(x *astPrint, sc *scope) (*plan, error) {
	var cols []colInfo
	var cs []cexpr
	for i, ne := range x.Cols {
		c, err := p.expr(ne.X, &ectx{sc: sc})
		if err != nil {
			return nil, err
		}
		name := ne.Name
		if name == "" {
			name = c.name
			if name == "" || c.konst && isLiteral(ne.X) {
				name = "print_" + strconv.Itoa(i)
			}
		}
		cols = append(cols, colInfo{Name: name, Type: nonNull(c.t)})
		cs = append(cs, c)
	}
	return rowsPlan(cols, func() ([]Row, error) {
		row := make(Row, len(cs))
		for i, c := range cs {
			row[i] = c.fn(nil)
		}
		return []Row{row}, nil
	}), nil
}

func isLiteral(e astExpr) bool {
	_, ok := e.(*astLit)
	return ok
}

// nonNull gives untyped nulls a column type.
func nonNull(t Type) Type {
	if t == TypeNull {
		return TypeDynamic
	}
	return t
}

func (p *planner) rangeSrc(x *astRange, sc *scope) (*plan, error) {
	var cs [3]cexpr
	for i, e := range []astExpr{x.From, x.To, x.Step} {
		c, err := p.expr(e, &ectx{sc: sc})
		if err != nil {
			return nil, err
		}
		if !c.konst {
			return nil, bindErr(e.pos(), "range bounds must be constants")
		}
		cs[i] = c
	}
	t := cs[0].t
	if t == TypeInt {
		t = TypeLong
	}
	cols := []colInfo{{Name: x.Col, Type: t}}
	run := p.run
	pl := rowsPlan(cols, func() ([]Row, error) {
		from, to, step := cs[0].value(), cs[1].value(), cs[2].value()
		// the rows stay charged until the run ends; the row limit keeps them few
		acct := run.account("range")
		var rows []Row
		for v := from; ; v = arith("+", v, step, t) {
			c, ok := compareValues(v, to)
			if !ok || c > 0 {
				break
			}
			rows = append(rows, Row{v})
			if int64(len(rows)) > run.opts.MaxRows {
				return nil, &LimitError{Limit: run.opts.MaxRows, Err: ErrTooManyRows}
			}
			if len(rows)%4096 == 0 {
				if err := acct.addRows(rows[len(rows)-4096:]); err != nil {
					return nil, err
				}
			}
		}
		return rows, acct.addRows(rows[len(rows)/4096*4096:])
	})
	pl.serialized = true // the language documents range's rows as serialized
	return pl, nil
}

// filterPlan keeps rows for which pred is true; the scan stays open to pushdown, and a
// columnar input stays columnar.
func filterPlan(in *plan, pred cexpr) *plan {
	f := pred.fn
	out := &plan{cols: in.cols, scan: in.scan}
	if in.openCols != nil {
		out.openCols = func(ctx context.Context) (colIter, error) {
			it, err := in.openCols(ctx)
			if err != nil {
				return nil, err
			}
			return &filterCols{in: it, pred: pred}, nil
		}
	}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			keep := rows[:0]
			for _, r := range rows {
				if b, _ := f(r).(bool); b {
					keep = append(keep, r)
				}
			}
			return keep
		}}, nil
	}
	return out
}

// mapIter transforms each batch; empty results are skipped.
type mapIter struct {
	in iterator
	fn func([]Row) []Row
}

func (m *mapIter) Next(ctx context.Context) ([]Row, error) {
	for {
		rows, err := m.in.Next(ctx)
		if err != nil {
			return nil, err
		}
		if out := m.fn(rows); len(out) > 0 {
			return out, nil
		}
	}
}
func (m *mapIter) Close() { m.in.Close() }

// uniqueName returns name, or name with the smallest numeric suffix not in use.
func uniqueName(name string, used func(string) bool) string {
	if !used(name) {
		return name
	}
	for i := 1; ; i++ {
		n := name + strconv.Itoa(i)
		if !used(n) {
			return n
		}
	}
}

// operator plans one operator of a pipe over the plan of its input. The result keeps the
// input's table name and visualization unless the operator sets its own.
func (p *planner) operator(in *plan, op astOp, sc *scope) (*plan, error) {
	out, err := p.bindOp(in, op, sc)
	if err != nil {
		return nil, err
	}
	out.serialized = serializedAfter(op, in.serialized)
	if out.dataSchema == nil && !closesSchema(op) {
		out.dataSchema = in.dataSchema
	}
	if out.render == nil {
		out.render = in.render
	}
	if out.name == "" {
		out.name = in.name
	}
	return out, nil
}

func matchPattern(pat, name string) bool {
	if !strings.ContainsAny(pat, "*?[") {
		return pat == name
	}
	ok, _ := path.Match(pat, name)
	return ok
}

func selectCols(in *plan, idx []int) *plan {
	cols := make([]colInfo, len(idx))
	for i, j := range idx {
		cols[i] = in.cols[j]
	}
	out := &plan{cols: cols, scan: in.scan}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: pickCells(idx)}, nil
	}
	return out
}

// pickCells returns the mapping of a batch to new rows holding the cells at idx, in that
// order; one slab per batch holds every row's cells.
func pickCells(idx []int) func([]Row) []Row {
	width := len(idx)
	return func(rows []Row) []Row {
		cells := make([]any, len(rows)*width)
		out := make([]Row, len(rows))
		for i, r := range rows {
			row := cells[i*width : (i+1)*width : (i+1)*width]
			for k, j := range idx {
				row[k] = r[j]
			}
			out[i] = row
		}
		return out
	}
}
