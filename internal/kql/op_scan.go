package kql

import (
	"context"
	"errors"
	"io"
	"strings"
)

// astScanOp is scan [with_match_id=Col] [declare (Col:type[=default], ...)] with (step ...; ...).
type astScanOp struct {
	P       srcPos
	MatchID string
	Declare []scanDecl
	Steps   []scanStep
}

// scanDecl is a column scan declares: its name, type and the value it has until assigned.
type scanDecl struct {
	astColDecl
	Default astExpr // nil: null
}

// scanStep is step Name [output=all|last|none]: Cond [=> Col = Expr, ...];
type scanStep struct {
	P      srcPos
	Name   string
	Output string // all, last or none
	Cond   astExpr
	Assign []astNamedExpr
}

func (o *astScanOp) opPos() srcPos { return o.P }

// parseScan reads the scan operator after its name.
func parseScan(p *parser, pos srcPos, _ string) (astOp, error) {
	params, err := p.params("with_match_id")
	if err != nil {
		return nil, err
	}
	op := &astScanOp{P: pos, MatchID: params["with_match_id"]}
	if p.acceptKw("declare") {
		if err := p.wantOp("("); err != nil {
			return nil, err
		}
		err := p.list(")", func() error {
			cd, err := p.colDecl()
			if err != nil {
				return err
			}
			d := scanDecl{astColDecl: cd}
			if p.acceptOp("=") {
				if d.Default, err = p.expr(); err != nil {
					return err
				}
			}
			op.Declare = append(op.Declare, d)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := p.wantKw("with"); err != nil {
		return nil, err
	}
	if err := p.wantOp("("); err != nil {
		return nil, err
	}
	for !p.acceptOp(")") {
		st, err := p.scanStep()
		if err != nil {
			return nil, err
		}
		op.Steps = append(op.Steps, st)
	}
	if len(op.Steps) == 0 {
		return nil, p.errAtPos(pos, "scan needs at least one step")
	}
	return op, nil
}

// scanStep reads one step definition, up to its semicolon (optional before the closing paren).
func (p *parser) scanStep() (scanStep, error) {
	st := scanStep{P: posOf(p.peek()), Output: "all"}
	if err := p.wantKw("step"); err != nil {
		return st, err
	}
	var err error
	if st.Name, err = p.name("a step name"); err != nil {
		return st, err
	}
	if p.acceptKw("output") {
		if err := p.wantOp("="); err != nil {
			return st, err
		}
		t := p.peek()
		out, err := p.name("all, last or none")
		if err != nil {
			return st, err
		}
		st.Output = strings.ToLower(out)
		if st.Output != "all" && st.Output != "last" && st.Output != "none" {
			return st, p.errAt(t, "a step's output must be all, last or none, not "+out)
		}
	}
	if err := p.wantOp(":"); err != nil {
		return st, err
	}
	if st.Cond, err = p.expr(); err != nil {
		return st, err
	}
	if p.acceptOp("=>") {
		for {
			n, err := p.name("a column to assign")
			if err != nil {
				return st, err
			}
			if err := p.wantOp("="); err != nil {
				return st, err
			}
			x, err := p.expr()
			if err != nil {
				return st, err
			}
			st.Assign = append(st.Assign, astNamedExpr{Name: n, X: x})
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if !p.acceptOp(";") && !p.isOp(")") {
		return st, p.expected(`";" after the step`)
	}
	return st, nil
}

// scanScope lets the expressions of a scan refer to the values in a step's state as
// Step.Column: they are read from the cells after the record's own, width cells per step.
type scanScope struct {
	steps map[string]int
	cols  []colInfo // the record's columns: the input's and the declared ones
}

// scanStateRef binds Step.Column when x is one, in the expressions of a scan.
func (p *planner) scanStateRef(x *astMember, ec *ectx) (cexpr, bool, error) {
	id, ok := x.X.(*astIdent)
	if !ok || ec.scan == nil {
		return cexpr{}, false, nil
	}
	j, ok := ec.scan.steps[id.Name]
	if !ok || findCol(ec.cols, id.Name) >= 0 {
		return cexpr{}, false, nil
	}
	i := findCol(ec.scan.cols, x.Name)
	if i < 0 {
		return cexpr{}, true, bindErr(x.P, "unknown column %q in the state of step %s", x.Name, id.Name)
	}
	w := len(ec.scan.cols)
	cell, t := w+j*w+i, ec.scan.cols[i].Type
	return cexpr{t: t, col: -1, fn: func(r Row) any {
		if v := r[cell]; v != nil || t != TypeString {
			return v
		}
		return ""
	}}, true, nil
}

// boundStep is a bound step of a scan.
type boundStep struct {
	cond   func(Row) bool
	assign []int // the record's column each assignment sets
	values []func(Row) any
	types  []Type
	output string
}

func (o *astScanOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	p.markAll(in) // every input column is in the output
	cols := append([]colInfo(nil), in.cols...)
	defaults := make([]any, len(o.Declare))
	for i, d := range o.Declare {
		if findCol(cols, d.Name) >= 0 {
			return nil, bindErr(d.P, "scan declares %q, which is already a column", d.Name)
		}
		if d.Default != nil {
			c, err := p.expr(d.Default, ec)
			if err != nil {
				return nil, err
			}
			if !c.konst || !assignable(c.t, d.Type) {
				return nil, bindErr(d.Default.pos(), "the default of %s must be a constant %s", d.Name, d.Type)
			}
			defaults[i] = convertTo(c.value(), d.Type)
		}
		cols = append(cols, colInfo{Name: d.Name, Type: d.Type})
	}
	sc := &scanScope{steps: map[string]int{}, cols: cols}
	for j, st := range o.Steps {
		if _, dup := sc.steps[st.Name]; dup {
			return nil, bindErr(st.P, "scan has two steps named %s", st.Name)
		}
		sc.steps[st.Name] = j
	}
	sec := &ectx{cols: cols, sc: ec.sc, scan: sc}
	steps := make([]boundStep, len(o.Steps))
	for j, st := range o.Steps {
		b, err := p.bindScanStep(st, sec, cols, len(in.cols))
		if err != nil {
			return nil, err
		}
		steps[j] = b
	}
	out := cols
	if o.MatchID != "" {
		if findCol(cols, o.MatchID) >= 0 {
			return nil, bindErr(o.P, "with_match_id names %q, which is already a column", o.MatchID)
		}
		out = append(append([]colInfo(nil), cols...), colInfo{Name: o.MatchID, Type: TypeLong})
	}
	width, inWidth, matchID := len(cols), len(in.cols), o.MatchID != ""
	pl := &plan{cols: out}
	pl.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		m := &scanMachine{steps: steps, width: width, inWidth: inWidth, defaults: defaults, matchID: matchID,
			states: make([]*scanState, len(steps)), pending: make([]Row, len(steps))}
		return &seqScanIter{in: it, m: m}, nil
	}
	return pl, nil
}

// assignable reports whether a value of type from may be stored in a column of type to.
func assignable(from, to Type) bool {
	return from == to || from == TypeNull || to == TypeDynamic || isNumeric(from) && isNumeric(to) || to == TypeGUID && from == TypeString
}

func (p *planner) bindScanStep(st scanStep, ec *ectx, cols []colInfo, inWidth int) (boundStep, error) {
	b := boundStep{output: st.Output}
	c, err := p.expr(st.Cond, ec)
	if err != nil {
		return b, err
	}
	if c.t != TypeBool && c.t != TypeDynamic && c.t != TypeNull {
		return b, bindErr(st.Cond.pos(), "the condition of step %s must be bool, not %s", st.Name, c.t)
	}
	b.cond = predFn(c)
	for _, a := range st.Assign {
		i := findCol(cols, a.Name)
		if i < inWidth {
			return b, bindErr(a.X.pos(), "step %s assigns %q, which scan does not declare", st.Name, a.Name)
		}
		v, err := p.expr(a.X, ec)
		if err != nil {
			return b, err
		}
		if !assignable(v.t, cols[i].Type) {
			return b, bindErr(a.X.pos(), "step %s assigns a %s to %s, which is %s", st.Name, v.t, a.Name, cols[i].Type)
		}
		b.assign = append(b.assign, i)
		b.values = append(b.values, v.fn)
		b.types = append(b.types, cols[i].Type)
	}
	return b, nil
}

// scanState is the state of a step: the records of the steps up to it in the sequence that
// reached it, and the sequence's match ID.
type scanState struct {
	recs []Row
	id   int64
}

// scanMachine runs the matching logic of scan over the records in order.
type scanMachine struct {
	steps    []boundStep
	width    int // a record: the input's columns, then the declared ones
	inWidth  int
	defaults []any
	matchID  bool
	states   []*scanState
	pending  []Row // output=last: a step's latest record not yet output
	nextID   int64
	view     Row // the record followed by a state's records, which expressions read
	out      []Row
}

// record is the input row r extended with the declared columns at their defaults.
func (m *scanMachine) record(r Row) Row {
	rec := make(Row, m.width, m.width+1)
	copy(rec, r[:m.inWidth])
	copy(rec[m.inWidth:], m.defaults)
	return rec
}

// against lays out rec and state for a step's expressions to read.
func (m *scanMachine) against(rec Row, st *scanState) Row {
	n := m.width * (1 + len(m.steps))
	if m.view == nil {
		m.view = make(Row, n)
	}
	copy(m.view, rec)
	for j := range m.steps {
		cells := m.view[m.width*(1+j) : m.width*(2+j)]
		if st != nil && j < len(st.recs) {
			copy(cells, st.recs[j])
			continue
		}
		clear(cells[:m.inWidth]) // nothing yet: null columns, default declared ones
		copy(cells[m.inWidth:], m.defaults)
	}
	return m.view
}

// matched applies step k's assignments to a copy of rec, as its state and output record.
func (m *scanMachine) matched(k int, rec, view Row) Row {
	s := m.steps[k]
	out := append(make(Row, 0, m.width+1), rec...)
	for i, col := range s.assign {
		out[col] = convertTo(s.values[i](view), s.types[i])
	}
	return out
}

// emit outputs rec of step k in sequence id, as the step's output mode says.
func (m *scanMachine) emit(k int, rec Row, id int64) {
	if m.matchID {
		rec = append(rec, id)
	}
	switch m.steps[k].output {
	case "all":
		m.out = append(m.out, rec)
	case "last":
		m.pending[k] = rec
	}
}

// leave outputs step k's held record when its sequence moves on or ends (output=last).
func (m *scanMachine) leave(k int) {
	if m.pending[k] != nil {
		m.out = append(m.out, m.pending[k])
		m.pending[k] = nil
	}
}

// step evaluates input row r against the steps, from the last to the first.
func (m *scanMachine) step(r Row) {
	rec := m.record(r)
	for k := len(m.steps) - 1; k >= 0; k-- {
		s := m.steps[k]
		// Check 1: the previous step's sequence moves on to this step
		if prev := m.stateOf(k - 1); prev != nil {
			view := m.against(rec, prev)
			if s.cond(view) {
				out := m.matched(k, rec, view)
				m.leave(k)
				m.leave(k - 1)
				m.states[k] = &scanState{recs: append(append([]Row(nil), prev.recs...), out), id: prev.id}
				m.states[k-1] = nil
				m.emit(k, out, prev.id)
				continue
			}
		}
		// Check 2: this step's sequence matches again, or a sequence starts at the first step
		cur := m.states[k]
		if cur == nil && k > 0 {
			continue
		}
		view := m.against(rec, cur)
		if !s.cond(view) {
			continue
		}
		out := m.matched(k, rec, view)
		if cur == nil {
			cur = &scanState{recs: []Row{nil}, id: m.nextID}
			m.nextID++
			m.states[k] = cur
		}
		cur.recs[k] = out
		m.emit(k, out, cur.id)
	}
}

func (m *scanMachine) stateOf(k int) *scanState {
	if k < 0 {
		return nil
	}
	return m.states[k]
}

// seqScanIter feeds its input to a scanMachine and returns what it outputs.
type seqScanIter struct {
	in   iterator
	m    *scanMachine
	done bool
}

func (s *seqScanIter) Next(ctx context.Context) ([]Row, error) {
	for !s.done {
		rows, err := s.in.Next(ctx)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if err != nil {
			s.done = true
			for k := range s.m.steps {
				s.m.leave(k)
			}
		}
		for _, r := range rows {
			s.m.step(r)
		}
		if out := s.m.out; len(out) > 0 {
			s.m.out = nil
			return out, nil
		}
	}
	if out := s.m.out; len(out) > 0 {
		s.m.out = nil
		return out, nil
	}
	return nil, io.EOF
}

func (s *seqScanIter) Close() { s.in.Close() }
