package kql

import (
	"context"
	"io"
	"strings"
	"time"
)

// Window functions — prev, next, row_number, row_cumsum, row_rank_dense, row_rank_min and
// row_window_session — read the rows around the current one, so the language allows them only
// over a serialized row set: after serialize, sort, top or range (and the operators that keep
// the order; serializedAfter). Here they are allowed in extend, project, where and serialize,
// the operators that evaluate expressions row by row over their input.
//
// Each call is bound to a cell after the input's columns: windowIter, which the operator reads
// its input through, computes the cells of each row in order before the operator sees it, so
// that the functions see every row even where an iff() or a where skips their expression, and
// a re-opened plan starts over. next() needs rows not yet read: windowIter holds back as many
// rows as the largest offset of a next() before handing them on.

// maxWindowOffset bounds the offset of prev() and next(), which decides how many rows or values
// a window holds.
const maxWindowOffset = 1 << 16

// rowOrder says what an operator does to the order of its rows, as the language documents it.
type rowOrder int

const (
	keepsOrder rowOrder = iota // the output is serialized when the input is
	serializes                 // the output is serialized
	losesOrder                 // the output is not serialized
)

// orderedOp is implemented by the operators that do not keep their input's order as it is:
// every other operator keeps it.
type orderedOp interface{ rowOrder() rowOrder }

func (*astSerializeOp) rowOrder() rowOrder  { return serializes }
func (*astSortOp) rowOrder() rowOrder       { return serializes }
func (*astTopOp) rowOrder() rowOrder        { return serializes }
func (*astGetSchemaOp) rowOrder() rowOrder  { return serializes }
func (*astCountOp) rowOrder() rowOrder      { return losesOrder }
func (*astDistinctOp) rowOrder() rowOrder   { return losesOrder }
func (*astJoinOp) rowOrder() rowOrder       { return losesOrder }
func (*astMakeSeriesOp) rowOrder() rowOrder { return losesOrder }
func (*astMvExpandOp) rowOrder() rowOrder   { return losesOrder }
func (*astSummarizeOp) rowOrder() rowOrder  { return losesOrder }
func (*astEvaluateOp) rowOrder() rowOrder   { return losesOrder }
func (*astSampleOp) rowOrder() rowOrder     { return losesOrder }
func (*astTopNestedOp) rowOrder() rowOrder  { return losesOrder }

// serializedAfter reports whether op's output is serialized when in tells whether its input is.
func serializedAfter(op astOp, in bool) bool {
	o, ok := op.(orderedOp)
	if !ok {
		return in
	}
	switch o.rowOrder() {
	case serializes:
		return true
	case losesOrder:
		return false
	}
	return in
}

// windowSet is the window calls of one operator's expressions.
type windowSet struct {
	op         string // the operator, for messages
	allowed    bool   // the operator evaluates its expressions row by row over its input
	serialized bool   // its input is serialized
	width      int    // the input's columns; the cells follow them
	calls      []*windowCall
	copies     bool  // the operator keeps copies of its input rows' cells, never the rows
	nested     int   // > 0 while the arguments of a window call are bound
	lookahead  int64 // the largest offset of a next()
}

// windowCall is one call of a window function: it computes its cell of each row.
type windowCall struct {
	cell    int
	newStep func() windowStep // a fresh state for each run over the rows
	next    int64             // next(): the offset; its cell is filled when that row arrives
	arg     func(Row) any     // next(): the value it reads
	def     any               // next(): the value past the last row
}

// windowStep computes a call's cell for the next row.
type windowStep func(r Row) any

// windowOperator names op when its expressions may call window functions.
func windowOperator(op astOp) (string, bool) {
	switch op.(type) {
	case *astExtendOp:
		return "extend", true
	case *astProjectOp:
		return "project", true
	case *astWhereOp:
		return "where", true
	case *astSerializeOp:
		return "serialize", true
	}
	return "", false
}

// bindOp binds one operator over in; where its input is serialized, the operator reads it
// through a windowIter, which computes the cells of the window calls its expressions make.
func (p *planner) bindOp(in *plan, op astOp, sc *scope) (*plan, error) {
	name, allowed := windowOperator(op)
	ws := &windowSet{op: name, allowed: allowed, width: len(in.cols), copies: name != "where"}
	_, isSerialize := op.(*astSerializeOp)
	ws.serialized = in.serialized || isSerialize
	ec := &ectx{cols: in.cols, sc: sc, win: ws, dataSchema: in.dataSchema}
	if !ws.serialized || !allowed {
		return op.bind(p, in, ec)
	}
	// the window reads the input row by row and its cells follow the columns: no columnar
	// path, no ingestion-time cell
	src := *in
	src.openCols, src.ingest, src.scan = nil, nil, nil
	src.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil || len(ws.calls) == 0 {
			return it, err
		}
		w := newWindowIter(it, ws)
		if ws.lookahead > 0 {
			w.acct = p.run.account("next()") // the rows held back until the rows after them arrive
		}
		return w, nil
	}
	out, err := op.bind(p, &src, ec)
	if err != nil || len(ws.calls) == 0 {
		return out, err
	}
	// rows an operator passes through (where) leave their cells behind
	width, open := len(out.cols), out.open
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			for i, r := range rows {
				if len(r) > width {
					rows[i] = r[:width:width]
				}
			}
			return rows
		}}, nil
	}
	return out, nil
}

// windowIter computes the window cells of each row of its input, in order.
type windowIter struct {
	in    iterator
	ws    *windowSet
	steps []windowStep
	held  []Row // rows whose next() cells may still change
	done  bool
	acct  *memAccount // what held holds, when next() holds rows back
	buf   []any       // the cells of the last batch, when they may be reused (cells)
}

func newWindowIter(in iterator, ws *windowSet) *windowIter {
	w := &windowIter{in: in, ws: ws, steps: make([]windowStep, len(ws.calls))}
	for i, c := range ws.calls {
		if c.newStep != nil {
			w.steps[i] = c.newStep()
		}
	}
	return w
}

func (w *windowIter) Next(ctx context.Context) ([]Row, error) {
	for {
		if w.done {
			if len(w.held) == 0 {
				return nil, io.EOF
			}
			out := w.held
			w.held = nil
			return out, nil
		}
		rows, err := w.in.Next(ctx)
		if err == io.EOF {
			w.done = true
			continue
		}
		if err != nil {
			return nil, err
		}
		out := w.add(rows)
		if w.acct != nil {
			if err := w.acct.setRows(w.held); err != nil {
				return nil, err
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

// add computes the cells of rows and returns the rows no next() waits on any more.
func (w *windowIter) add(rows []Row) []Row {
	width := w.ws.width + len(w.ws.calls)
	cells := w.cells(len(rows) * width)
	for i, r := range rows {
		row := cells[i*width : (i+1)*width : (i+1)*width]
		copy(row, r[:w.ws.width])
		w.held = append(w.held, row)
		for k, c := range w.ws.calls {
			if c.next > 0 {
				row[c.cell] = c.def
				if back := len(w.held) - 1 - int(c.next); back >= 0 {
					w.held[back][c.cell] = c.arg(row)
				}
				continue
			}
			row[c.cell] = w.steps[k](row)
		}
	}
	keep := int(w.ws.lookahead)
	if keep == 0 && w.ws.copies {
		out := w.held
		w.held = w.held[:0] // the operator is done with out when it asks for more (cells)
		return out
	}
	if len(w.held) <= keep {
		return nil
	}
	n := len(w.held) - keep
	out := w.held[:n:n]
	w.held = append([]Row(nil), w.held[n:]...)
	return out
}

// cells is room for n cells. An operator that copies what it keeps (extend, project) is done
// with a batch when it asks for the next, so without next() holding rows back the same room
// serves every batch; otherwise each batch gets its own.
func (w *windowIter) cells(n int) []any {
	if !w.ws.copies || w.ws.lookahead > 0 {
		return make([]any, n)
	}
	if cap(w.buf) < n {
		w.buf = make([]any, n)
	}
	return w.buf[:n]
}

func (w *windowIter) Close() {
	if w.acct != nil {
		w.acct.release()
	}
	w.in.Close()
}

// windowFuncs are the window functions by name.
var windowFuncs map[string]func(p *planner, x *astCall, ec *ectx) (windowCall, Type, error)

func init() {
	windowFuncs = map[string]func(p *planner, x *astCall, ec *ectx) (windowCall, Type, error){
		"prev":               (*planner).prevNextCall,
		"next":               (*planner).prevNextCall,
		"row_number":         (*planner).rowNumberCall,
		"row_cumsum":         (*planner).rowCumsumCall,
		"row_rank_dense":     (*planner).rowRankCall,
		"row_rank_min":       (*planner).rowRankCall,
		"row_window_session": (*planner).rowSessionCall,
	}
}

// windowCall binds a call of a window function to its cell.
func (p *planner) windowCall(x *astCall, ec *ectx) (cexpr, error) {
	out := cexpr{col: -1}
	name := strings.ToLower(x.Name)
	ws := ec.win
	switch {
	case ws == nil || !ws.allowed:
		return out, bindErr(x.P, "%s() is a window function: use it in extend, project, where or serialize over serialized rows", name)
	case !ws.serialized:
		return out, bindErr(x.P, "%s() needs serialized rows: add | serialize (or | sort by …) before this %s", name, ws.op)
	case name == "next" && ws.nested > 0:
		return out, bindErr(x.P, "next() cannot be an argument of another window function")
	}
	ws.nested++
	wc, t, err := windowFuncs[name](p, x, ec)
	ws.nested--
	if err != nil {
		return out, err
	}
	wc.cell = ws.width + len(ws.calls)
	ws.calls = append(ws.calls, &wc)
	if wc.next > ws.lookahead {
		ws.lookahead = wc.next
	}
	i, str := wc.cell, t == TypeString
	return cexpr{t: t, col: -1, fn: func(r Row) any {
		if i >= len(r) {
			return nil
		}
		if v := r[i]; v != nil || !str {
			return v
		}
		return ""
	}}, nil
}

// windowArgs binds the arguments of a window function.
func (p *planner) windowArgs(x *astCall, ec *ectx, lo, hi int) ([]cexpr, error) {
	if err := checkArity(x, lo, hi); err != nil {
		return nil, err
	}
	return p.callArgs(x, ec)
}

// konstLong is the value of a constant integer expression.
func konstLong(c cexpr) (int64, bool) {
	if !c.konst || c.t != TypeInt && c.t != TypeLong {
		return 0, false
	}
	return asLong(c.value())
}

// restartFn is the optional restart predicate of argument i, false without it.
func restartFn(x *astCall, cs []cexpr, i int) (func(Row) bool, error) {
	if len(cs) <= i {
		return func(Row) bool { return false }, nil
	}
	if cs[i].t != TypeBool && cs[i].t != TypeNull && cs[i].t != TypeDynamic {
		return nil, bindErr(x.Args[i].pos(), "the restart argument of %s() must be bool, not %s", x.Name, cs[i].t)
	}
	return predFn(cs[i]), nil
}

// prevNextCall is prev(expr[, offset[, default]]) and next(expr[, offset[, default]]): the value
// of expr offset rows before or after the current one, default (null) where there is none.
func (p *planner) prevNextCall(x *astCall, ec *ectx) (windowCall, Type, error) {
	cs, err := p.windowArgs(x, ec, 1, 3)
	if err != nil {
		return windowCall{}, 0, err
	}
	name := strings.ToLower(x.Name)
	t := cs[0].t
	offset := int64(1)
	if len(cs) > 1 {
		n, ok := konstLong(cs[1])
		if !ok || n < 0 || n > maxWindowOffset {
			return windowCall{}, 0, bindErr(x.Args[1].pos(), "the offset of %s() must be a constant integer from 0 to %d", name, maxWindowOffset)
		}
		offset = n
	}
	var def any
	if len(cs) > 2 {
		d := cs[2]
		if !d.konst {
			return windowCall{}, 0, bindErr(x.Args[2].pos(), "the default of %s() must be a constant", name)
		}
		if d.t != t && d.t != TypeNull && !(isNumeric(d.t) && isNumeric(t)) && t != TypeDynamic {
			return windowCall{}, 0, bindErr(x.Args[2].pos(), "the default of %s() must be %s like its value, not %s", name, t, d.t)
		}
		def = convertTo(d.value(), t)
	}
	arg := cs[0].fn
	if offset == 0 {
		return windowCall{newStep: func() windowStep { return windowStep(arg) }}, t, nil
	}
	if name == "next" {
		return windowCall{next: offset, arg: arg, def: def}, t, nil
	}
	return windowCall{newStep: func() windowStep {
		ring := make([]any, 0, min(offset, 1024)) // the last offset values
		oldest := 0
		return func(r Row) any {
			v := arg(r)
			if int64(len(ring)) < offset {
				ring = append(ring, v)
				return def
			}
			old := ring[oldest]
			ring[oldest] = v
			oldest = (oldest + 1) % len(ring)
			return old
		}
	}}, t, nil
}

// rowNumberCall is row_number([start[, restart]]): the row's number from start (1), which
// starts over where restart is true.
func (p *planner) rowNumberCall(x *astCall, ec *ectx) (windowCall, Type, error) {
	cs, err := p.windowArgs(x, ec, 0, 2)
	if err != nil {
		return windowCall{}, 0, err
	}
	start := int64(1)
	if len(cs) > 0 {
		n, ok := konstLong(cs[0])
		if !ok {
			return windowCall{}, 0, bindErr(x.Args[0].pos(), "the start of row_number() must be a constant integer")
		}
		start = n
	}
	restart, err := restartFn(x, cs, 1)
	if err != nil {
		return windowCall{}, 0, err
	}
	return windowCall{newStep: func() windowStep {
		n, first := start, true
		return func(r Row) any {
			if first || restart(r) {
				n, first = start, false
			} else {
				n++
			}
			return n
		}
	}}, TypeLong, nil
}

// rowCumsumCall is row_cumsum(term[, restart]): the sum of term over the rows so far, which
// starts over where restart is true; a null term adds nothing.
func (p *planner) rowCumsumCall(x *astCall, ec *ectx) (windowCall, Type, error) {
	cs, err := p.windowArgs(x, ec, 1, 2)
	if err != nil {
		return windowCall{}, 0, err
	}
	t := cs[0].t
	switch t {
	case TypeInt:
		t = TypeLong
	case TypeLong, TypeReal:
	default:
		return windowCall{}, 0, bindErr(x.Args[0].pos(), "row_cumsum() sums numbers, not %s", t)
	}
	restart, err := restartFn(x, cs, 1)
	if err != nil {
		return windowCall{}, 0, err
	}
	term := cs[0].fn
	return windowCall{newStep: func() windowStep {
		var sum any = int64(0)
		if t == TypeReal {
			sum = 0.0
		}
		zero := sum
		return func(r Row) any {
			if restart(r) {
				sum = zero
			}
			if v := term(r); v != nil {
				sum = arith("+", sum, v, t)
			}
			return sum
		}
	}}, t, nil
}

// rowRankCall is row_rank_dense(term[, restart]), which counts the changes of term so far
// from 1, and row_rank_min(term[, restart]), the number of the first row of the run of equal
// terms the row is in; both start over where restart is true.
func (p *planner) rowRankCall(x *astCall, ec *ectx) (windowCall, Type, error) {
	cs, err := p.windowArgs(x, ec, 1, 2)
	if err != nil {
		return windowCall{}, 0, err
	}
	restart, err := restartFn(x, cs, 1)
	if err != nil {
		return windowCall{}, 0, err
	}
	dense := strings.EqualFold(x.Name, "row_rank_dense")
	term := cs[0].fn
	return windowCall{newStep: func() windowStep {
		var last any
		var rank, row int64
		return func(r Row) any {
			v := term(r)
			row++
			switch {
			case rank == 0 || restart(r):
				rank, row = 1, 1
			case !valuesEqual(v, last) && dense:
				rank++
			case !valuesEqual(v, last):
				rank = row
			}
			last = v
			return rank
		}
	}}, TypeLong, nil
}

// rowSessionCall is row_window_session(expr, maxFromFirst, maxBetween[, restart]): the value
// of expr where the row's session began. A session begins at the first row, after a null, at
// a value at or past the session's first plus maxFromFirst or the previous value plus
// maxBetween, and where restart is true.
func (p *planner) rowSessionCall(x *astCall, ec *ectx) (windowCall, Type, error) {
	cs, err := p.windowArgs(x, ec, 3, 4)
	if err != nil {
		return windowCall{}, 0, err
	}
	if cs[0].t != TypeDatetime {
		return windowCall{}, 0, bindErr(x.Args[0].pos(), "row_window_session() groups datetimes, not %s", cs[0].t)
	}
	var spans [2]time.Duration
	for i := range spans {
		var d time.Duration
		ok := cs[i+1].konst && cs[i+1].t == TypeTimespan
		if ok {
			d, ok = cs[i+1].value().(time.Duration)
		}
		if !ok {
			return windowCall{}, 0, bindErr(x.Args[i+1].pos(), "argument %d of row_window_session() must be a constant timespan", i+2)
		}
		spans[i] = d
	}
	restart, err := restartFn(x, cs, 3)
	if err != nil {
		return windowCall{}, 0, err
	}
	expr := cs[0].fn
	return windowCall{newStep: func() windowStep {
		var first, prev time.Time
		open := false
		return func(r Row) any {
			v, ok := expr(r).(time.Time)
			if !ok {
				open = false
				return nil
			}
			if !open || restart(r) || !v.Before(first.Add(spans[0])) || !v.Before(prev.Add(spans[1])) {
				first, open = v, true
			}
			prev = v
			return first
		}
	}}, TypeDatetime, nil
}
