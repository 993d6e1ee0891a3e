package kql

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
)

// astJoinOp is join or, with Lookup, lookup of Right on On.
type astJoinOp struct {
	P      srcPos
	Kind   string
	Right  astExpr
	On     []astExpr // astIdent, or astBinary == of $left.x / $right.y
	Lookup bool
}

func (o *astJoinOp) opPos() srcPos { return o.P }

// parseJoin reads join and lookup [kind=K] Right on Key, ...
func parseJoin(p *parser, pos srcPos, name string) (astOp, error) {
	prm, err := p.params("kind")
	if err != nil {
		return nil, err
	}
	op := &astJoinOp{P: pos, Kind: strings.ToLower(prm["kind"]), Lookup: name == "lookup"}
	if op.Kind == "" {
		op.Kind = "innerunique"
		if op.Lookup {
			op.Kind = "leftouter"
		}
	}
	switch op.Kind {
	case "innerunique", "inner", "leftouter", "rightouter", "fullouter", "leftanti", "rightanti", "leftsemi", "rightsemi", "leftantisemi", "rightantisemi", "anti", "semi":
	default:
		return nil, p.errAtPos(pos, "unknown join kind "+strconv.Quote(op.Kind)+": expected innerunique, inner, leftouter, rightouter, fullouter, leftanti, rightanti, leftsemi or rightsemi")
	}
	if p.isOp("(") {
		pt := p.next()
		r, err := p.pipeExpr()
		if err != nil {
			return nil, err
		}
		if err := p.wantOp(")"); err != nil {
			return nil, err
		}
		op.Right = &astParen{P: posOf(pt), X: r}
	} else {
		if op.Right, err = p.postfix(); err != nil {
			return nil, err
		}
	}
	if err := p.wantKw("on"); err != nil {
		return nil, err
	}
	for {
		c, err := p.cmpExpr()
		if err != nil {
			return nil, err
		}
		op.On = append(op.On, c)
		if !p.acceptOp(",") && !p.acceptKw("and") {
			return op, nil
		}
	}
}

func (o *astJoinOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.join(in, o, ec.sc)
}

// join plans join and lookup: a hash join that holds the right side in memory and streams
// the left side past it.
func (p *planner) join(left *plan, o *astJoinOp, sc *scope) (*plan, error) {
	right, err := p.tabular(o.Right, sc)
	if err != nil {
		return nil, err
	}
	p.linkClashes(left, right)
	keys, err := p.joinKeys(left, right, o, sc)
	if err != nil {
		return nil, err
	}
	kind, err := joinKind(o)
	if err != nil {
		return nil, err
	}
	jp := newJoinPlan(p, left, right, o, kind, keys)
	return &plan{cols: jp.cols, open: jp.open}, nil
}

// linkClashes links each right column to the left column of its name. Only the keys and what
// is used after the join are read. A right column whose name clashes with a left one is
// renamed name1; if the right one is read, the left one must be too, so that the clash (and
// so the suffix) is the same in both planning passes. Whether it is read is known only once
// the whole query is bound, so the pair is linked for now.
func (p *planner) linkClashes(left, right *plan) {
	for _, rc := range right.cols {
		if li := findCol(left.cols, rc.Name); li >= 0 {
			p.link(rc, left.cols[li])
		}
	}
}

// joinKeys is what a join compares: a key expression per condition on each side.
type joinKeys struct {
	left, right []func(Row) any
	leftCols    []int        // the left key columns
	rightCols   map[int]bool // the right key columns lookup leaves out of its output
}

// joinKeys binds the conditions after on: a column name both sides have, or
// $left.a == $right.b.
func (p *planner) joinKeys(left, right *plan, o *astJoinOp, sc *scope) (*joinKeys, error) {
	k := &joinKeys{rightCols: map[int]bool{}}
	jec := &ectx{cols: nil, sc: sc, left: left.cols, right: right.cols}
	for _, cond := range o.On {
		var err error
		switch c := cond.(type) {
		case *astIdent:
			err = p.sameNameKey(left, right, c, k)
		case *astBinary:
			err = p.equalityKey(left, right, c, jec, o.Lookup, k)
		default:
			err = bindErr(cond.pos(), "expected a column name or $left.a == $right.b in the join condition")
		}
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

// sameNameKey adds the key of a condition naming a column of both sides.
func (p *planner) sameNameKey(left, right *plan, c *astIdent, k *joinKeys) error {
	li, ri := findCol(left.cols, c.Name), findCol(right.cols, c.Name)
	if li < 0 || ri < 0 {
		side := "left"
		if li >= 0 {
			side = "right"
		}
		return bindErr(c.P, "join key %q is not a column of the %s side", c.Name, side)
	}
	if !comparable2(left.cols[li].Type, right.cols[ri].Type) {
		return bindErr(c.P, "join key %q has type %s on the left and %s on the right", c.Name, left.cols[li].Type, right.cols[ri].Type)
	}
	p.mark(left.cols[li])
	p.mark(right.cols[ri])
	k.left = append(k.left, func(r Row) any { return r[li] })
	k.leftCols = append(k.leftCols, li)
	k.right = append(k.right, func(r Row) any { return r[ri] })
	k.rightCols[ri] = true
	return nil
}

// equalityKey adds the key of a condition $left.a == $right.b (either way round).
func (p *planner) equalityKey(left, right *plan, c *astBinary, jec *ectx, lookup bool, k *joinKeys) error {
	if c.Op != "==" {
		return bindErr(c.P, "join conditions must be equalities of $left and $right columns")
	}
	a, err := p.expr(c.L, jec)
	if err != nil {
		return err
	}
	b, err := p.expr(c.R, jec)
	if err != nil {
		return err
	}
	if a.col <= -2 && b.col > -2 { // $right == $left
		a, b = b, a
	}
	if a.col <= -2 || b.col > -2 || a.col < 0 {
		return bindErr(c.P, "join conditions must compare a $left column with a $right column")
	}
	if !comparable2(a.t, b.t) {
		return bindErr(c.P, "join keys have types %s and %s", a.t, b.t)
	}
	k.left = append(k.left, a.fn)
	k.leftCols = append(k.leftCols, a.col)
	k.right = append(k.right, b.fn)
	if lookup && left.cols[a.col].Name == right.cols[-2-b.col].Name {
		k.rightCols[-2-b.col] = true
	}
	return nil
}

// joinKind is the kind of o under the name the join runs by; lookup has only two.
func joinKind(o *astJoinOp) (string, error) {
	kind := o.Kind
	switch kind {
	case "anti", "leftantisemi":
		kind = "leftanti"
	case "semi":
		kind = "leftsemi"
	case "rightantisemi":
		kind = "rightanti"
	}
	if o.Lookup && kind != "leftouter" && kind != "inner" {
		return "", bindErr(o.P, "lookup supports kind=leftouter or kind=inner, not %s", kind)
	}
	return kind, nil
}

// joinPlan is a bound join: its output columns and what each run needs to build the right
// side and stream the left side past it.
type joinPlan struct {
	p                   *planner
	left, right         *plan
	kind, opName        string
	keys                *joinKeys
	cols                []colInfo
	rightIdx            []int // the right columns in the output, in order
	withLeft, withRight bool
	lw, width           int
	strCols             []int // a null in these is the empty string
	outRowBytes         int64 // a joined row is new memory for its cells; its values are the inputs'
}

func newJoinPlan(p *planner, left, right *plan, o *astJoinOp, kind string, keys *joinKeys) *joinPlan {
	jp := &joinPlan{p: p, left: left, right: right, kind: kind, opName: "join", keys: keys}
	if o.Lookup {
		jp.opName = "lookup"
	}
	jp.withLeft = kind != "rightsemi" && kind != "rightanti"
	jp.withRight = kind != "leftsemi" && kind != "leftanti"
	var cols []colInfo
	if jp.withLeft {
		cols = append(cols, left.cols...)
	}
	if jp.withRight {
		for i, c := range right.cols {
			if o.Lookup && keys.rightCols[i] {
				continue
			}
			if jp.withLeft {
				c.Name = uniqueName(c.Name, func(n string) bool { return findCol(cols, n) >= 0 })
			}
			cols = append(cols, c)
			jp.rightIdx = append(jp.rightIdx, i)
		}
	}
	jp.cols = cols
	jp.lw = len(left.cols)
	jp.width = len(cols)
	for i, c := range cols {
		if c.Type == TypeString {
			jp.strCols = append(jp.strCols, i)
		}
	}
	jp.outRowBytes = int64(cellBytes * jp.width)
	return jp
}

// open runs the join: it builds the right side, then returns the iterator that probes it
// with the left side, by column when the left side has that path.
func (jp *joinPlan) open(ctx context.Context) (iterator, error) {
	p := jp.p
	// build holds the right side, its hash table and the join's state; the probe's output
	// is charged to j.out as it is built, before the rows are made
	build := p.run.account(jp.opName)
	rrows, table, err := p.buildJoin(jp.right, jp.keys.right, build)
	if err != nil {
		build.release()
		return nil, err
	}
	j := &joinIter{build: build, out: batchAccount{acct: p.run.account(jp.opName)}}
	jr := &joinRun{joinPlan: jp, j: j, rrows: rrows, table: table, matched: make([]bool, len(rrows)), seenLeft: map[string]bool{}}
	if jp.left.openCols != nil {
		cit, err := jp.left.openCols(ctx)
		if err != nil {
			build.release()
			return nil, err
		}
		jr.lrow = make(Row, jp.lw)
		j.cin, j.stepCols = cit, jr.stepCols
	} else {
		lit, err := jp.left.open(ctx)
		if err != nil {
			build.release()
			return nil, err
		}
		j.in, j.step = lit, jr.step
	}
	j.finish = jr.finish
	return j, nil
}

// joinRun is one run of a join: the built right side and what the probe has seen of it.
type joinRun struct {
	*joinPlan
	j        *joinIter
	rrows    []Row
	table    *joinTable
	matched  []bool          // the right rows some left row matched
	seenLeft map[string]bool // innerunique: the left keys output already
	slab     []any           // combine cuts rows from it
	kb       []byte          // by column: the key being built
	lrow     Row             // by column: scratch for the left row, which combine copies
}

// combine joins a left and a right row (nil for a side not output or not matched). Rows
// are cut from a slab allocated now and then, not one by one.
func (jr *joinRun) combine(l, r Row) Row {
	width := jr.width
	if len(jr.slab) < width {
		jr.slab = make([]any, 256*width)
	}
	row := jr.slab[:width:width]
	jr.slab = jr.slab[width:]
	off := 0
	if jr.withLeft {
		if l != nil {
			copy(row, l)
		}
		off = jr.lw
	}
	if jr.withRight && r != nil {
		for k, i := range jr.rightIdx {
			row[off+k] = r[i]
		}
	}
	for _, i := range jr.strCols {
		if row[i] == nil {
			row[i] = ""
		}
	}
	return row
}

// emit appends the output for left row l (nil when the kind does not output it) whose key is
// k (ok false: a null key) and matches ms, having charged it first.
func (jr *joinRun) emit(out []Row, l Row, k string, ok bool, ms []int) (_ []Row, err error) {
	j, rrows, outRowBytes := jr.j, jr.rrows, jr.outRowBytes
	switch kind := jr.kind; kind {
	case "innerunique":
		if !ok || jr.seenLeft[k] || len(ms) == 0 {
			return out, nil
		}
		jr.seenLeft[k] = true
		if err := j.build.add(mapEntryBytes + 16 + int64(len(k))); err != nil {
			return nil, err
		}
		if out, err = j.out.grow(out, len(ms), outRowBytes); err != nil {
			return nil, err
		}
		for _, i := range ms {
			out = append(out, jr.combine(l, rrows[i]))
		}
	case "inner":
		if out, err = j.out.grow(out, len(ms), outRowBytes); err != nil {
			return nil, err
		}
		for _, i := range ms {
			out = append(out, jr.combine(l, rrows[i]))
		}
	case "leftouter", "fullouter", "rightouter":
		if out, err = j.out.grow(out, len(ms)+1, outRowBytes); err != nil {
			return nil, err
		}
		for _, i := range ms {
			jr.matched[i] = true
			out = append(out, jr.combine(l, rrows[i]))
		}
		if len(ms) == 0 && kind != "rightouter" {
			out = append(out, jr.combine(l, nil))
		}
	case "leftsemi", "leftanti":
		if (len(ms) > 0) == (kind == "leftsemi") {
			if out, err = j.out.grow(out, 1, outRowBytes); err != nil {
				return nil, err
			}
			out = append(out, jr.combine(l, nil))
		}
	case "rightsemi", "rightanti":
		// a key's rows are marked together, so a key seen before costs nothing again
		if len(ms) > 0 && !jr.matched[ms[0]] {
			for _, i := range ms {
				jr.matched[i] = true
			}
		}
	}
	return out, nil
}

// stepCols probes with a left batch by column: keys from the typed vectors, and a left row
// boxed only when it is part of the output.
func (jr *joinRun) stepCols(cb *colBatch) ([]Row, error) {
	kind := jr.kind
	var out []Row
	for _, r := range cb.sel {
		jr.kb = jr.kb[:0]
		ok := true
		for _, c := range jr.keys.leftCols {
			if jr.kb, ok = cb.keyAppend(jr.kb, c, r); !ok {
				break
			}
		}
		var ms []int
		if ok {
			ms = jr.table.get(jr.kb)
		}
		if len(ms) == 0 && (kind == "inner" || kind == "innerunique" || kind == "leftsemi" || kind == "rightouter") {
			continue // no output, no state
		}
		var l Row
		if kind != "rightsemi" && kind != "rightanti" {
			for c := range jr.lrow {
				jr.lrow[c] = cb.value(c, r)
			}
			l = jr.lrow
		}
		k := ""
		if kind == "innerunique" {
			k = string(jr.kb) // the only kind that keeps keys
		}
		var err error
		if out, err = jr.emit(out, l, k, ok, ms); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// step probes with a batch of left rows.
func (jr *joinRun) step(rows []Row) ([]Row, error) {
	var out []Row
	for _, l := range rows {
		k, ok := joinKey(jr.keys.left, l)
		var ms []int
		if ok {
			ms = jr.table.get([]byte(k))
		}
		var err error
		if out, err = jr.emit(out, l, k, ok, ms); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// finish is the output once the left side is done: the right rows the kind keeps for
// having been matched or not.
func (jr *joinRun) finish() ([]Row, error) {
	var out []Row
	for i, r := range jr.rrows {
		var keep bool
		switch jr.kind {
		case "rightouter", "fullouter":
			keep = !jr.matched[i]
		case "rightsemi", "rightanti":
			keep = jr.matched[i] == (jr.kind == "rightsemi")
		}
		if keep {
			var err error
			if out, err = jr.j.out.grow(out, 1, jr.outRowBytes); err != nil {
				return nil, err
			}
			out = append(out, jr.combine(nil, r))
		}
	}
	return out, nil
}

// joinKey is the key of row r under the key expressions fns; a null key matches nothing.
func joinKey(fns []func(Row) any, r Row) (string, bool) {
	var b []byte
	for _, f := range fns {
		v := f(r)
		if v == nil {
			return "", false // null keys match nothing
		}
		b = keyAppend(b, v)
	}
	return string(b), true
}

// buildJoin reads the right side of a join and indexes it by key, charging both to acct.
func (p *planner) buildJoin(right *plan, rk []func(Row) any, acct *memAccount) ([]Row, *joinTable, error) {
	rrows, err := p.run.collect(right, acct)
	if err != nil {
		return nil, nil, err
	}
	table := newJoinTable()
	// per row: its index in a key's list, and its flag in matched
	size := int64(len(rrows)) * 9
	for i, r := range rrows {
		if k, ok := joinKey(rk, r); ok {
			if _, seen := table.rows[k]; !seen {
				size += mapEntryBytes + 16 + 24 + int64(len(k)) // the entry, its key and its list
			}
			table.add(k, i)
		}
	}
	size += int64(16*len(table.rows)/8) + 8 // the filter: 16 bits per key
	if err := acct.add(size); err != nil {
		return nil, nil, err
	}
	table.seal()
	return rrows, table, nil
}

// joinIter streams the left side past the built right side. The output of one left batch is
// one batch, charged to out as it is built.
type joinIter struct {
	in       iterator // the left side by rows, or
	cin      colIter  // by column
	step     func([]Row) ([]Row, error)
	stepCols func(*colBatch) ([]Row, error)
	finish   func() ([]Row, error)
	done     bool
	build    *memAccount
	out      batchAccount
}

func (j *joinIter) Next(ctx context.Context) ([]Row, error) {
	j.out.next()
	for !j.done {
		var out []Row
		var err error
		if j.cin != nil {
			var cb *colBatch
			if cb, err = j.cin.Next(ctx); err == nil {
				out, err = j.stepCols(cb)
			}
		} else {
			var rows []Row
			if rows, err = j.in.Next(ctx); err == nil {
				out, err = j.step(rows)
			}
		}
		if errors.Is(err, io.EOF) {
			j.done = true
			out, err := j.finish()
			if err != nil {
				return nil, err
			}
			if len(out) > 0 {
				return out, nil
			}
			break
		}
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, io.EOF
}

func (j *joinIter) Close() {
	if j.cin != nil {
		j.cin.Close()
	} else {
		j.in.Close()
	}
	j.out.next()
	j.build.release()
}

// joinTable holds the right side's rows by join key, behind a bit filter of the keys' hashes:
// in a selective join most left keys match nothing, and the filter, a few kilobytes, answers
// most of those without probing the map.
type joinTable struct {
	rows   map[string][]int
	seed   maphash.Seed
	filter []uint64 // bit hash&mask set for every key
	mask   uint64
}

func newJoinTable() *joinTable {
	return &joinTable{rows: map[string][]int{}, seed: maphash.MakeSeed()}
}

func (t *joinTable) add(k string, i int) { t.rows[k] = append(t.rows[k], i) }

// seal builds the filter once every key is in: about 16 bits per key.
func (t *joinTable) seal() {
	bits := uint64(64)
	for bits < 16*uint64(len(t.rows)) {
		bits *= 2
	}
	t.filter, t.mask = make([]uint64, bits/64), bits-1
	for k := range t.rows {
		h := maphash.String(t.seed, k) & t.mask
		t.filter[h/64] |= 1 << (h % 64)
	}
}

// get returns the right rows whose key is k.
func (t *joinTable) get(k []byte) []int {
	if h := maphash.Bytes(t.seed, k) & t.mask; t.filter[h/64]&(1<<(h%64)) == 0 {
		return nil
	}
	return t.rows[string(k)]
}
