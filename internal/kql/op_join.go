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
	// Only the keys and what is used after the join are read. A right column whose name
	// clashes with a left one is renamed name1; if the right one is read, the left one must be
	// too, so that the clash (and so the suffix) is the same in both planning passes. Whether
	// it is read is known only once the whole query is bound, so the pair is linked for now.
	for _, rc := range right.cols {
		if li := findCol(left.cols, rc.Name); li >= 0 {
			p.link(rc, left.cols[li])
		}
	}
	var lk, rk []func(Row) any
	var lcols []int // the left key columns
	rightKeyCols := map[int]bool{}
	jec := &ectx{cols: nil, sc: sc, left: left.cols, right: right.cols}
	for _, cond := range o.On {
		switch c := cond.(type) {
		case *astIdent:
			li, ri := findCol(left.cols, c.Name), findCol(right.cols, c.Name)
			if li < 0 || ri < 0 {
				side := "left"
				if li >= 0 {
					side = "right"
				}
				return nil, bindErr(c.P, "join key %q is not a column of the %s side", c.Name, side)
			}
			if !comparable2(left.cols[li].Type, right.cols[ri].Type) {
				return nil, bindErr(c.P, "join key %q has type %s on the left and %s on the right", c.Name, left.cols[li].Type, right.cols[ri].Type)
			}
			p.mark(left.cols[li])
			p.mark(right.cols[ri])
			lk = append(lk, func(r Row) any { return r[li] })
			lcols = append(lcols, li)
			rk = append(rk, func(r Row) any { return r[ri] })
			rightKeyCols[ri] = true
		case *astBinary:
			if c.Op != "==" {
				return nil, bindErr(c.P, "join conditions must be equalities of $left and $right columns")
			}
			a, err := p.expr(c.L, jec)
			if err != nil {
				return nil, err
			}
			b, err := p.expr(c.R, jec)
			if err != nil {
				return nil, err
			}
			if a.col <= -2 && b.col > -2 { // $right == $left
				a, b = b, a
			}
			if a.col <= -2 || b.col > -2 || a.col < 0 {
				return nil, bindErr(c.P, "join conditions must compare a $left column with a $right column")
			}
			if !comparable2(a.t, b.t) {
				return nil, bindErr(c.P, "join keys have types %s and %s", a.t, b.t)
			}
			lk = append(lk, a.fn)
			lcols = append(lcols, a.col)
			rk = append(rk, b.fn)
			if o.Lookup && left.cols[a.col].Name == right.cols[-2-b.col].Name {
				rightKeyCols[-2-b.col] = true
			}
		default:
			return nil, bindErr(cond.pos(), "expected a column name or $left.a == $right.b in the join condition")
		}
	}
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
		return nil, bindErr(o.P, "lookup supports kind=leftouter or kind=inner, not %s", kind)
	}
	// output columns
	var cols []colInfo
	var rightIdx []int
	withLeft := kind != "rightsemi" && kind != "rightanti"
	withRight := kind != "leftsemi" && kind != "leftanti"
	if withLeft {
		cols = append(cols, left.cols...)
	}
	if withRight {
		for i, c := range right.cols {
			if o.Lookup && rightKeyCols[i] {
				continue
			}
			if withLeft {
				c.Name = uniqueName(c.Name, func(n string) bool { return findCol(cols, n) >= 0 })
			}
			cols = append(cols, c)
			rightIdx = append(rightIdx, i)
		}
	}
	lw := len(left.cols)
	width := len(cols)
	var strCols []int // a null in these is the empty string
	for i, c := range cols {
		if c.Type == TypeString {
			strCols = append(strCols, i)
		}
	}
	// newCombine returns a function joining a left and a right row, for one run of the
	// join: rows are cut from a slab it allocates now and then, not one by one.
	newCombine := func() func(l, r Row) Row {
		var slab []any
		return func(l, r Row) Row {
			if len(slab) < width {
				slab = make([]any, 256*width)
			}
			row := slab[:width:width]
			slab = slab[width:]
			off := 0
			if withLeft {
				if l != nil {
					copy(row, l)
				}
				off = lw
			}
			if withRight && r != nil {
				for k, i := range rightIdx {
					row[off+k] = r[i]
				}
			}
			for _, i := range strCols {
				if row[i] == nil {
					row[i] = ""
				}
			}
			return row
		}
	}
	keyOf := func(fns []func(Row) any, r Row) (string, bool) {
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
	out := &plan{cols: cols}
	opName := "join"
	if o.Lookup {
		opName = "lookup"
	}
	// a joined row is new memory for its cells; its values are the inputs'
	outRowBytes := int64(cellBytes * width)
	out.open = func(ctx context.Context) (iterator, error) {
		// build holds the right side, its hash table and the join's state; the probe's output
		// is charged to j.out as it is built, before the rows are made
		build := p.run.account(opName)
		rrows, table, err := p.buildJoin(right, rk, keyOf, build)
		if err != nil {
			build.release()
			return nil, err
		}
		matched := make([]bool, len(rrows))
		seenLeft := map[string]bool{}
		combine := newCombine()
		j := &joinIter{build: build, out: batchAccount{acct: p.run.account(opName)}}
		// emit appends the output for left row l (nil when the kind does not output it) whose
		// key is k (ok false: a null key) and matches ms, having charged it first.
		emit := func(out []Row, l Row, k string, ok bool, ms []int) (_ []Row, err error) {
			switch kind {
			case "innerunique":
				if !ok || seenLeft[k] || len(ms) == 0 {
					return out, nil
				}
				seenLeft[k] = true
				if err := build.add(mapEntryBytes + 16 + int64(len(k))); err != nil {
					return nil, err
				}
				if out, err = j.out.grow(out, len(ms), outRowBytes); err != nil {
					return nil, err
				}
				for _, i := range ms {
					out = append(out, combine(l, rrows[i]))
				}
			case "inner":
				if out, err = j.out.grow(out, len(ms), outRowBytes); err != nil {
					return nil, err
				}
				for _, i := range ms {
					out = append(out, combine(l, rrows[i]))
				}
			case "leftouter", "fullouter", "rightouter":
				if out, err = j.out.grow(out, len(ms)+1, outRowBytes); err != nil {
					return nil, err
				}
				for _, i := range ms {
					matched[i] = true
					out = append(out, combine(l, rrows[i]))
				}
				if len(ms) == 0 && kind != "rightouter" {
					out = append(out, combine(l, nil))
				}
			case "leftsemi", "leftanti":
				if (len(ms) > 0) == (kind == "leftsemi") {
					if out, err = j.out.grow(out, 1, outRowBytes); err != nil {
						return nil, err
					}
					out = append(out, combine(l, nil))
				}
			case "rightsemi", "rightanti":
				// a key's rows are marked together, so a key seen before costs nothing again
				if len(ms) > 0 && !matched[ms[0]] {
					for _, i := range ms {
						matched[i] = true
					}
				}
			}
			return out, nil
		}
		if left.openCols != nil {
			// by column: keys from the typed vectors, and a left row boxed only when it
			// is part of the output
			cit, err := left.openCols(ctx)
			if err != nil {
				build.release()
				return nil, err
			}
			j.cin = cit
			var kb []byte
			lrow := make(Row, lw) // scratch: combine copies it
			j.stepCols = func(cb *colBatch) ([]Row, error) {
				var out []Row
				for _, r := range cb.sel {
					kb = kb[:0]
					ok := true
					for _, c := range lcols {
						if kb, ok = cb.keyAppend(kb, c, r); !ok {
							break
						}
					}
					var ms []int
					if ok {
						ms = table.get(kb)
					}
					if len(ms) == 0 && (kind == "inner" || kind == "innerunique" || kind == "leftsemi" || kind == "rightouter") {
						continue // no output, no state
					}
					var l Row
					if kind != "rightsemi" && kind != "rightanti" {
						for c := range lrow {
							lrow[c] = cb.value(c, r)
						}
						l = lrow
					}
					k := ""
					if kind == "innerunique" {
						k = string(kb) // the only kind that keeps keys
					}
					var err error
					if out, err = emit(out, l, k, ok, ms); err != nil {
						return nil, err
					}
				}
				return out, nil
			}
		} else {
			lit, err := left.open(ctx)
			if err != nil {
				build.release()
				return nil, err
			}
			j.in = lit
			j.step = func(rows []Row) ([]Row, error) {
				var out []Row
				for _, l := range rows {
					k, ok := keyOf(lk, l)
					var ms []int
					if ok {
						ms = table.get([]byte(k))
					}
					var err error
					if out, err = emit(out, l, k, ok, ms); err != nil {
						return nil, err
					}
				}
				return out, nil
			}
		}
		j.finish = func() ([]Row, error) {
			var out []Row
			for i, r := range rrows {
				var keep bool
				switch kind {
				case "rightouter", "fullouter":
					keep = !matched[i]
				case "rightsemi", "rightanti":
					keep = matched[i] == (kind == "rightsemi")
				}
				if keep {
					var err error
					if out, err = j.out.grow(out, 1, outRowBytes); err != nil {
						return nil, err
					}
					out = append(out, combine(nil, r))
				}
			}
			return out, nil
		}
		return j, nil
	}
	return out, nil
}

// buildJoin reads the right side of a join and indexes it by key, charging both to acct.
func (p *planner) buildJoin(right *plan, rk []func(Row) any, keyOf func([]func(Row) any, Row) (string, bool), acct *memAccount) ([]Row, *joinTable, error) {
	rrows, err := p.run.collect(right, acct)
	if err != nil {
		return nil, nil, err
	}
	table := newJoinTable()
	// per row: its index in a key's list, and its flag in matched
	size := int64(len(rrows)) * 9
	for i, r := range rrows {
		if k, ok := keyOf(rk, r); ok {
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
