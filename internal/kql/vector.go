package kql

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"
)

// The columnar path: a table scan, and the filters right after it, can hand their rows on
// still by column (colBatch) instead of as boxed rows. Summarize and join read group and join
// keys, and filters simple comparisons, from the source's typed vectors, and box a row only
// where an operator needs one. Plans that cannot stay columnar have no openCols, and their
// consumers take the row path; both give the same answers.

// colBatch is a batch of scanned rows still by column: column i of the plan is b's column i,
// and sel lists, in order, the rows of b that are in.
type colBatch struct {
	b    *Batch
	sel  []int
	strs []bool // which of the plan's columns are strings (a null string reads as "")
}

// colIter yields column batches until io.EOF.
type colIter interface {
	Next(ctx context.Context) (*colBatch, error)
	Close()
}

// value is column c of row r as the engine's run-time value.
func (cb *colBatch) value(c, r int) any {
	if v := cb.b.vector(c); v != nil {
		return v.Value(r)
	}
	x := cb.b.Columns[c][r]
	if x == nil && cb.strs[c] {
		return ""
	}
	return x
}

// str is string column c of row r.
func (cb *colBatch) str(c, r int) string {
	if v := cb.b.vector(c); v != nil && v.Type == TypeString {
		return v.Str(r)
	}
	s, _ := cb.value(c, r).(string)
	return s
}

// rows boxes the selected rows, all cells in one allocation.
func (cb *colBatch) rows() []Row {
	w := len(cb.strs)
	cells := make([]any, len(cb.sel)*w)
	out := make([]Row, len(cb.sel))
	for i, r := range cb.sel {
		row := cells[i*w : (i+1)*w : (i+1)*w]
		for c := range row {
			row[c] = cb.value(c, r)
		}
		out[i] = row
	}
	return out
}

// row boxes row r alone.
func (cb *colBatch) row(r int) Row {
	row := make(Row, len(cb.strs))
	for c := range row {
		row[c] = cb.value(c, r)
	}
	return row
}

// keyAppend appends the join key encoding of column c of row r (as keyAppend does for its
// value) and reports false for a null, which matches nothing.
func (cb *colBatch) keyAppend(b []byte, c, r int) ([]byte, bool) {
	if v := cb.b.vector(c); v != nil && (v.Type == TypeString || v.integers()) {
		if v.Type == TypeString {
			s := v.Str(r)
			b = append(b, 1)
			b = strconv.AppendInt(b, int64(len(s)), 10)
			b = append(b, ':')
			return append(b, s...), true
		}
		if v.Valid != nil && !v.Valid[r] {
			return b, false
		}
		return strconv.AppendInt(append(b, 2), v.Ints[r], 10), true
	}
	x := cb.value(c, r)
	if x == nil {
		return b, false
	}
	return keyAppend(b, x), true
}

// scanCols reads a source's batches and drops the rows outside the time range.
type scanCols struct {
	it       BatchIterator
	timeIdx  int       // column of TimeGenerated in the batch, -1: no time filter
	from, to time.Time // set by setBounds
	nanos    bool      // fromNs and toNs hold from and to
	fromNs   int64
	toNs     int64
	strs     []bool
	run      *runState
	acct     *memAccount // set: what the scan holds is charged to it until the scan closes
	held     bool        // the source said what it holds (MemoryHolder): the batches are not charged again
	all      []int       // 0, 1, 2, …: see every
}

func (s *scanCols) Next(ctx context.Context) (*colBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := s.it.Next(ctx)
		if err != nil {
			return nil, err
		}
		s.run.rowsScanned += int64(b.Len)
		if s.acct != nil && !s.held {
			if err := s.acct.add(batchBytes(b)); err != nil {
				return nil, err
			}
		}
		var sel []int
		if s.timeIdx < 0 {
			sel = s.every(b.Len)
		} else {
			sel = make([]int, 0, b.Len)
			for r := range b.Len {
				if s.inRange(b, r) {
					sel = append(sel, r)
				}
			}
		}
		if len(sel) > 0 {
			return &colBatch{b: b, sel: sel, strs: s.strs}, nil
		}
	}
}

// every is the selection of all n rows of a batch. The scan's batches share
// one slice, as no consumer writes to a selection: a batch of row counts (a
// count's scan reads no column) then costs no selection of its own.
func (s *scanCols) every(n int) []int {
	for len(s.all) < n {
		s.all = append(s.all, len(s.all))
	}
	return s.all[:n:n]
}

func (s *scanCols) inRange(b *Batch, r int) bool {
	v := b.vector(s.timeIdx)
	if v != nil && v.Type == TypeDatetime && s.nanos {
		// as Unix nanoseconds: no time.Time per row
		return (v.Valid == nil || v.Valid[r]) && v.Ints[r] >= s.fromNs && v.Ints[r] <= s.toNs
	}
	var x any
	if v != nil {
		x = v.Value(r)
	} else {
		x = b.Columns[s.timeIdx][r]
	}
	t, ok := x.(time.Time)
	return ok && (s.from.IsZero() || !t.Before(s.from)) && (s.to.IsZero() || !t.After(s.to))
}

// setBounds sets from and to, and their Unix nanoseconds when both are within what
// nanoseconds can hold (zero: unbounded).
func (s *scanCols) setBounds(from, to time.Time) {
	s.from, s.to = from, to
	lo, hi := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	in := func(t time.Time) bool { return t.IsZero() || !t.Before(lo) && !t.After(hi) }
	s.nanos = in(from) && in(to)
	s.fromNs, s.toNs = math.MinInt64, math.MaxInt64
	if !from.IsZero() {
		s.fromNs = from.UnixNano()
	}
	if !to.IsZero() {
		s.toNs = to.UnixNano()
	}
}

func (s *scanCols) Close() {
	s.it.Close()
	if s.acct != nil {
		s.acct.release()
	}
}

// colTest is a filter on one column that a typed vector answers without boxing: the same
// test as the expression's generic function, on the column's unboxed value. A null fails.
type colTest struct {
	col  int
	str  func(string) bool // for a string column
	long func(int64) bool  // for an int or long column
}

// selectTests keeps the rows of sel that pass every test, in a new slice (sel may be a
// batch's, read again); every tested column must be typed as its test needs (see typed). A
// string test on a dictionary-coded column runs once per entry the rows use, not per row.
func selectTests(tests []colTest, cb *colBatch, sel []int) []int {
	keep := slices.Clone(sel)
	var memo []int8 // per entry, then for a null: 0 untested, 1 passes, 2 fails
	for _, t := range tests {
		v := cb.b.vector(t.col)
		n := 0
		switch {
		case t.str != nil && v.Dict != nil:
			memo = append(memo[:0], make([]int8, len(v.Dict)+1)...)
			for _, r := range keep {
				code := len(v.Dict)
				if v.Valid == nil || v.Valid[r] {
					code = int(v.Codes[r])
				}
				if memo[code] == 0 {
					memo[code] = 2
					if t.str(dictEntry(v, code)) {
						memo[code] = 1
					}
				}
				if memo[code] == 1 {
					keep[n] = r
					n++
				}
			}
		case t.str != nil:
			for _, r := range keep {
				if t.str(v.Str(r)) {
					keep[n] = r
					n++
				}
			}
		default:
			for _, r := range keep {
				if (v.Valid == nil || v.Valid[r]) && t.long(v.Ints[r]) {
					keep[n] = r
					n++
				}
			}
		}
		keep = keep[:n]
	}
	return keep
}

// dictEntry is entry code of v's dictionary, or "" (a null string) for code len(v.Dict).
func dictEntry(v *Vector, code int) string {
	if code == len(v.Dict) {
		return ""
	}
	return v.Dict[code]
}

// typed reports whether every tested column of cb is typed as its test needs.
func typed(tests []colTest, cb *colBatch) bool {
	for _, t := range tests {
		v := cb.b.vector(t.col)
		if v == nil || t.str != nil && v.Type != TypeString || t.long != nil && !v.integers() {
			return false
		}
	}
	return true
}

// filterCols keeps the rows of each batch for which the predicate holds (cexpr.selectRows:
// its batch form, its column tests on the typed vectors, or else on boxed rows).
type filterCols struct {
	in   colIter
	pred cexpr
}

func (f *filterCols) Next(ctx context.Context) (*colBatch, error) {
	for {
		cb, err := f.in.Next(ctx)
		if err != nil {
			return nil, err
		}
		// a new selection: a batch may be read again (a materialized source)
		if keep := f.pred.selectRows(cb, cb.sel); len(keep) > 0 {
			return &colBatch{b: cb.b, sel: keep, strs: cb.strs}, nil
		}
	}
}

func (f *filterCols) Close() { f.in.Close() }

// vecInt is an integer or datetime expression of one column that a batch's typed vectors
// answer unboxed: row r's value is prepare's function of the column's value (an int64; a
// datetime in Unix nanoseconds), or null where the column's is.
type vecInt struct {
	col int  // the input column
	in  Type // its vector's type: TypeDatetime, or TypeLong for an int or long vector
	out Type // the value's type: TypeDatetime or TypeLong
	// prepare is the function of a non-null value for this run, or nil when the constants
	// leave the expression to its row form (which then gives null, or fails, as it does).
	prepare func() func(int64) int64
}

// typed reports whether cb's column is a vector of the type e reads.
func (e *vecInt) typed(cb *colBatch) bool {
	v := cb.b.vector(e.col)
	return v != nil && (e.in == TypeDatetime && v.Type == TypeDatetime || e.in == TypeLong && v.integers())
}

// box is value x (ok false: null) as the row form gives it.
func (e *vecInt) box(x int64, ok bool) any {
	switch {
	case !ok:
		return nil
	case e.out == TypeDatetime:
		return time.Unix(0, x).UTC()
	}
	return x
}
