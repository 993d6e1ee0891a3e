package kql

import (
	"context"
	"math"
	"strings"
	"time"
)

// astMakeSeriesOp is make-series [kind=nonempty] Aggs on Axis (from/to/step | in range(...)) [by By].
type astMakeSeriesOp struct {
	P        srcPos
	NonEmpty bool // kind=nonempty: an empty input still gives a row of defaults
	Aggs     []seriesAgg
	Axis     string
	AxisPos  srcPos
	From, To astExpr // nil when not written
	Step     astExpr
	InRange  bool // in range(From, To, Step): To is inclusive, bins are aligned to 0
	By       []astNamedExpr
}

// seriesAgg is one aggregate of make-series and the value of the bins it has no rows for.
type seriesAgg struct {
	astNamedExpr
	Default astExpr // nil: 0
}

func (o *astMakeSeriesOp) opPos() srcPos { return o.P }

// maxSeriesBins is the most values a series holds, as the language documents for make-series.
const maxSeriesBins = 1 << 20

// seriesAggs are the aggregation functions the language documents for make-series: those of a
// numeric result.
var seriesAggs = map[string]bool{
	"avg": true, "avgif": true, "count": true, "countif": true, "dcount": true, "dcountif": true,
	"max": true, "maxif": true, "min": true, "minif": true, "percentile": true, "take_any": true,
	"stdev": true, "stdevif": true, "sum": true, "sumif": true, "variance": true,
}

// parseMakeSeries reads make-series [kind=nonempty] [Col=]Agg [default=d], ... on Axis
// [from start] [to end] step s [by ...], or ... on Axis in range(start, stop, step) [by ...].
func parseMakeSeries(p *parser, pos srcPos, _ string) (astOp, error) {
	params, err := p.params("kind")
	if err != nil {
		return nil, err
	}
	op := &astMakeSeriesOp{P: pos}
	if k, ok := params["kind"]; ok {
		if !strings.EqualFold(k, "nonempty") {
			return nil, p.errAtPos(pos, "make-series kind must be nonempty, not "+k)
		}
		op.NonEmpty = true
	}
	for {
		ne, err := p.named()
		if err != nil {
			return nil, err
		}
		agg := seriesAgg{astNamedExpr: ne}
		if p.isKw("default") && p.peekN(1).kind == tOp && p.peekN(1).text == "=" {
			p.i += 2
			if agg.Default, err = p.expr(); err != nil {
				return nil, err
			}
		}
		op.Aggs = append(op.Aggs, agg)
		if !p.acceptOp(",") {
			break
		}
	}
	if err := p.wantKw("on"); err != nil {
		return nil, err
	}
	op.AxisPos = posOf(p.peek())
	if op.Axis, err = p.name("the axis column after on"); err != nil {
		return nil, err
	}
	if err := p.seriesRange(op); err != nil {
		return nil, err
	}
	if p.acceptKw("by") {
		if op.By, err = p.namedList(); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// seriesRange reads the axis range of make-series: in range(start, stop, step), or
// [from start] [to end] step s.
func (p *parser) seriesRange(op *astMakeSeriesOp) error {
	var err error
	if p.acceptKw("in") {
		op.InRange = true
		if err := p.wantKw("range"); err != nil {
			return err
		}
		if err := p.wantOp("("); err != nil {
			return err
		}
		for i, dst := range []*astExpr{&op.From, &op.To, &op.Step} {
			if i > 0 {
				if err := p.wantOp(","); err != nil {
					return err
				}
			}
			if *dst, err = p.expr(); err != nil {
				return err
			}
		}
		return p.wantOp(")")
	}
	if p.acceptKw("from") {
		if op.From, err = p.expr(); err != nil {
			return err
		}
	}
	if p.acceptKw("to") {
		if op.To, err = p.expr(); err != nil {
			return err
		}
	}
	if err := p.wantKw("step"); err != nil {
		return err
	}
	op.Step, err = p.expr()
	return err
}

// seriesPlan is a bound make-series.
type seriesPlan struct {
	p         *planner
	in        *plan
	cols      []colInfo
	keyFns    []func(Row) any
	factories []func() aggState
	defaults  []any
	axisFn    func(Row) any
	axis      seriesAxis
	nonEmpty  bool
}

func (o *astMakeSeriesOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	sp := &seriesPlan{p: p, in: in, nonEmpty: o.NonEmpty}
	keys := &summarizePlan{p: p, opName: "make-series"}
	if err := keys.bindKeys(in, o.By, ec); err != nil {
		return nil, err
	}
	sp.cols, sp.keyFns = keys.cols, keys.keyFns
	if err := sp.bindAggs(o.Aggs, ec); err != nil {
		return nil, err
	}
	if err := sp.bindAxis(o, in, ec); err != nil {
		return nil, err
	}
	return &plan{cols: sp.cols, open: sp.open}, nil
}

// bindAggs binds the aggregates: each must be one of seriesAggs, of one numeric column, and
// becomes a dynamic column of the series of its values.
func (sp *seriesPlan) bindAggs(list []seriesAgg, ec *ectx) error {
	used := func(n string) bool { return findCol(sp.cols, n) >= 0 }
	for _, a := range list {
		call, ok := unparen(a.X).(*astCall)
		if !ok || !seriesAggs[strings.ToLower(call.Name)] {
			return bindErr(a.X.pos(), "make-series needs an aggregation of a numeric result, such as count(), sum(), avg(), min(), max(), dcount() or percentile()")
		}
		acols, fac, err := aggs[strings.ToLower(call.Name)](sp.p, call, ec)
		if err != nil {
			return err
		}
		if err := nameAggColumns(acols, a.astNamedExpr, call); err != nil {
			return err
		}
		if len(acols) != 1 || !isNumeric(acols[0].Type) {
			return bindErr(call.P, "make-series needs an aggregation of a numeric result; %s() gives %s here", call.Name, acols[0].Type)
		}
		def := any(int64(0))
		if a.Default != nil {
			c, err := sp.p.expr(a.Default, ec)
			if err != nil {
				return err
			}
			if !c.konst || !(isNumeric(c.t) || c.t == TypeNull) {
				return bindErr(a.Default.pos(), "the default of %s must be a constant number", acols[0].Name)
			}
			def = c.value()
		}
		sp.defaults = append(sp.defaults, convertTo(def, acols[0].Type))
		sp.factories = append(sp.factories, fac)
		sp.cols = append(sp.cols, colInfo{Name: uniqueName(acols[0].Name, used), Type: TypeDynamic})
	}
	return nil
}

// bindAxis binds the axis column and its range, which must be constants of the axis's kind.
func (sp *seriesPlan) bindAxis(o *astMakeSeriesOp, in *plan, ec *ectx) error {
	i := findCol(in.cols, o.Axis)
	if i < 0 {
		return bindErr(o.AxisPos, "unknown axis column %q", o.Axis)
	}
	ac := sp.p.colRef(in.cols, i, o.AxisPos)
	sp.axisFn = ac.fn
	a := &sp.axis
	a.t = ac.t
	stepType := ac.t
	switch ac.t {
	case TypeDatetime:
		stepType = TypeTimespan
	case TypeInt, TypeLong:
		if c, err := sp.p.expr(o.Step, ec); err == nil && c.t == TypeReal {
			a.t = TypeReal // a fractional step over an integer axis makes real bins
		}
	case TypeTimespan, TypeReal:
	default:
		return bindErr(o.AxisPos, "the axis of make-series must be a datetime, timespan or number, not %s", ac.t)
	}
	konst := func(e astExpr, t Type, what string) (any, error) {
		c, err := sp.p.expr(e, ec)
		if err != nil {
			return nil, err
		}
		if !c.konst || !(c.t == t || isNumeric(c.t) && isNumeric(t)) {
			return nil, bindErr(e.pos(), "the %s of make-series over %s must be a constant %s", what, o.Axis, t)
		}
		v := c.value()
		if v == nil {
			return nil, bindErr(e.pos(), "the %s of make-series is null", what)
		}
		return v, nil
	}
	step, err := konst(o.Step, stepType, "step")
	if err != nil {
		return err
	}
	if !a.setStep(step) {
		return bindErr(o.Step.pos(), "the step of make-series must be greater than zero")
	}
	var from, to any
	if o.From != nil {
		if from, err = konst(o.From, ac.t, "start"); err != nil {
			return err
		}
	}
	if o.To != nil {
		if to, err = konst(o.To, ac.t, "end"); err != nil {
			return err
		}
	}
	a.setRange(from, to, o.InRange)
	if a.hasLo && a.hasHi && a.hi-a.lo > maxSeriesBins {
		return bindErr(o.Step.pos(), "make-series would make %d bins, more than the %d a series holds; use a larger step or a shorter range", a.hi-a.lo, maxSeriesBins)
	}
	used := func(n string) bool { return findCol(sp.cols, n) >= 0 }
	sp.cols = append(sp.cols, colInfo{Name: uniqueName(o.Axis, used), Type: TypeDynamic})
	return nil
}

// seriesAxis turns axis values into bin numbers and back: bin i starts at origin + i*step.
// Datetimes and timespans count in nanoseconds, integers as they are; a real axis in floats.
type seriesAxis struct {
	t              Type
	origin, step   int64
	forigin, fstep float64
	// the bins of the series, [lo, hi), when the query fixes them
	lo, hi       int64
	hasLo, hasHi bool
}

func (a *seriesAxis) real() bool { return a.t == TypeReal }

// num is an axis value as a number (an integer or, for a real axis, a float).
func (a *seriesAxis) num(v any) (int64, float64, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UnixNano(), 0, true
	case time.Duration:
		return int64(x), 0, true
	case int64:
		return x, float64(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, 0, false
		}
		return int64(x), x, true
	}
	return 0, 0, false
}

func (a *seriesAxis) setStep(v any) bool {
	n, f, _ := a.num(v)
	if a.real() {
		a.fstep = f
		return f > 0
	}
	a.step = n
	return n > 0
}

// setRange fixes the origin and, where written, the bins. The main syntax bins from its start
// (bin_at) and ends before its end; in range(...) bins from 0 (bin) and includes its stop.
func (a *seriesAxis) setRange(from, to any, inRange bool) {
	if from != nil && !inRange {
		a.origin, a.forigin, _ = a.num(from)
		if !a.real() {
			a.forigin = 0
		}
	}
	if from != nil {
		a.lo, a.hasLo = a.bin(from), true
	}
	if to != nil {
		a.hasHi = true
		if inRange {
			a.hi = a.bin(to) + 1
		} else {
			a.hi = a.binCeil(to)
		}
	}
}

// bin is the bin of axis value v.
func (a *seriesAxis) bin(v any) int64 {
	n, f, _ := a.num(v)
	if a.real() {
		return int64(math.Floor((f - a.forigin) / a.fstep))
	}
	d := n - a.origin
	q := d / a.step
	if d%a.step != 0 && d < 0 {
		q--
	}
	return q
}

// binCeil is the first bin that starts at or after v.
func (a *seriesAxis) binCeil(v any) int64 {
	n, f, _ := a.num(v)
	if a.real() {
		return int64(math.Ceil((f - a.forigin) / a.fstep))
	}
	d := n - a.origin
	q := d / a.step
	if d%a.step != 0 && d > 0 {
		q++
	}
	return q
}

// value is the start of bin i, of the axis's type.
func (a *seriesAxis) value(i int64) any {
	if a.real() {
		return a.forigin + float64(i)*a.fstep
	}
	n := a.origin + i*a.step
	switch a.t {
	case TypeDatetime:
		return time.Unix(0, n).UTC()
	case TypeTimespan:
		return time.Duration(n)
	}
	return n
}

// seriesGroup is one series: its keys and the states of its aggregates in each bin that has rows.
type seriesGroup struct {
	keys []any
	bins map[int64][]aggState
}

// open folds the input into series, then replays a row per series.
func (sp *seriesPlan) open(ctx context.Context) (iterator, error) {
	acct := sp.p.run.account("make-series")
	rows, err := sp.build(ctx, acct)
	if err != nil {
		acct.release()
		return nil, err
	}
	return &sliceIter{rows: rows, acct: acct}, nil
}

func (sp *seriesPlan) build(ctx context.Context, acct *memAccount) ([]Row, error) {
	a := &sp.axis
	byKey := map[string]*seriesGroup{}
	var order []*seriesGroup
	var kb []byte
	keys := make([]any, len(sp.keyFns))
	binBytes := int64(mapEntryBytes + cellBytes*len(sp.factories) + 24)
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64) // the bins that have rows
	err := readAll(ctx, sp.in.open, func(rows []Row) error {
		var grown int64
		for _, r := range rows {
			av := sp.axisFn(r)
			if _, _, ok := a.num(av); !ok {
				continue // a row without an axis value is in no bin
			}
			b := a.bin(av)
			if a.hasLo && b < a.lo || a.hasHi && b >= a.hi {
				continue
			}
			kb = kb[:0]
			for i, f := range sp.keyFns {
				keys[i] = f(r)
				kb = keyAppend(kb, keys[i])
			}
			g := byKey[string(kb)]
			if g == nil {
				g = &seriesGroup{keys: append([]any(nil), keys...), bins: map[int64][]aggState{}}
				byKey[string(kb)] = g
				order = append(order, g)
				grown += 64 + int64(len(kb)) + rowBytes(g.keys)
			}
			states := g.bins[b]
			if states == nil {
				states = make([]aggState, len(sp.factories))
				for i, f := range sp.factories {
					states[i] = f()
				}
				g.bins[b] = states
				grown += binBytes
			}
			for _, s := range states {
				grown += s.add(r)
			}
			lo, hi = min(lo, b), max(hi, b+1)
		}
		return acct.add(grown)
	})
	if err != nil {
		return nil, err
	}
	if a.hasLo {
		lo = a.lo
	}
	if a.hasHi {
		hi = a.hi
	}
	if lo >= hi { // no rows and no range the query fixed
		lo, hi = 0, 0
	}
	hi = min(hi, lo+maxSeriesBins) // as documented, a longer series is cut
	if len(order) == 0 && sp.nonEmpty {
		order = append(order, &seriesGroup{keys: make([]any, len(sp.keyFns))})
	}
	axis := make([]any, hi-lo)
	for i := range axis {
		axis[i] = a.value(lo + int64(i))
	}
	rowBytes := int64(rowHeaderBytes+cellBytes*len(sp.cols)) + (hi-lo)*int64(cellBytes+8)*int64(len(sp.factories))
	out := make([]Row, 0, len(order))
	for _, g := range order {
		if err := acct.add(rowBytes); err != nil {
			return nil, err
		}
		row := make(Row, 0, len(sp.cols))
		for i, k := range g.keys {
			if k == nil && sp.cols[i].Type == TypeString {
				k = ""
			}
			row = append(row, k)
		}
		for k := range sp.factories {
			series := make([]any, hi-lo)
			for i := range series {
				if states := g.bins[lo+int64(i)]; states != nil {
					series[i] = states[k].result()[0]
				} else {
					series[i] = sp.defaults[k]
				}
			}
			row = append(row, series)
		}
		out = append(out, append(row, append([]any(nil), axis...)))
	}
	return out, nil
}
