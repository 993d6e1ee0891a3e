package logstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"time"
)

// Op is the operator of a predicate.
type Op string

// Operators. Has and Contains apply to strings (and to dynamic columns as
// JSON text) and ignore ASCII case: Has matches whole terms (runs of letters
// and digits), Contains any substring.
const (
	OpEq       Op = "=="
	OpNe       Op = "!="
	OpLt       Op = "<"
	OpLe       Op = "<="
	OpGt       Op = ">"
	OpGe       Op = ">="
	OpHas      Op = "has"
	OpContains Op = "contains"
)

// Predicate is "Column Op Value", with Value a string, an int or int64, a
// float64, a bool or a time.Time. A null never matches, and neither does a
// value of another type than the constant (a long column compares with an
// int or a float64).
type Predicate struct {
	Column string
	Op     Op
	Value  any
}

// ScanRequest asks for the rows of one table in [From, To) (a zero time is
// no bound) that match every predicate, with the given columns (none: all).
type ScanRequest struct {
	Workspace  string
	Table      string
	From, To   time.Time
	Columns    []string
	Predicates []Predicate
	// Shard and Shards split one scan into Shards disjoint scans that can run
	// side by side: shard i reads every Shards-th segment from the i-th, and
	// shard 0 also the rows not yet flushed. Shards 0 or 1 reads everything.
	Shard, Shards int
}

// Batch is some rows of a scan, by column: in the order requested, or in the
// block's order (TimeGenerated first) when all were asked for. A requested
// column with no value in these rows has TypeNull.
type Batch struct {
	Len     int
	Columns []Column
}

// Column returns the named column, or nil.
func (b *Batch) Column(name string) *Column {
	for i := range b.Columns {
		if b.Columns[i].Name == name {
			return &b.Columns[i]
		}
	}
	return nil
}

// pred is a Predicate checked and prepared.
type pred struct {
	col   string
	op    Op
	kind  Type // TypeString, TypeLong, TypeReal, TypeBool or TypeDatetime
	i     int64
	f     float64
	s     string
	lower []byte   // has, contains: the constant lower-cased
	terms []uint64 // has: bloom keys of the constant's terms
}

func compile(p Predicate) (pred, error) {
	c := pred{col: p.Column, op: p.Op}
	if p.Column == "" {
		return c, fmt.Errorf("%w: a predicate needs a column", ErrInvalidScan)
	}
	switch v := p.Value.(type) {
	case string:
		c.kind, c.s = TypeString, v
	case int:
		c.kind, c.i, c.f = TypeLong, int64(v), float64(v)
	case int64:
		c.kind, c.i, c.f = TypeLong, v, float64(v)
	case float64:
		if math.IsNaN(v) {
			return c, fmt.Errorf("%w: NaN compares with nothing", ErrInvalidScan)
		}
		c.kind, c.f = TypeReal, v
	case bool:
		c.kind = TypeBool
		if v {
			c.i = 1
		}
	case time.Time:
		c.kind, c.i = TypeDatetime, v.UnixNano()
	default:
		return c, fmt.Errorf("%w: a predicate on %s has a constant of type %T", ErrInvalidScan, p.Column, p.Value)
	}
	switch p.Op {
	case OpEq, OpNe:
	case OpLt, OpLe, OpGt, OpGe:
		if c.kind == TypeBool {
			return c, fmt.Errorf("%w: %s does not order booleans", ErrInvalidScan, p.Op)
		}
	case OpHas, OpContains:
		if c.kind != TypeString {
			return c, fmt.Errorf("%w: %s needs a string", ErrInvalidScan, p.Op)
		}
		c.lower = bytes.ToLower([]byte(c.s))
		if p.Op == OpHas {
			forTerms(c.lower, func(t []byte) { c.terms = append(c.terms, bloomHash(bloomTerm, t, true)) })
		}
	default:
		return c, fmt.Errorf("%w: unknown operator %q", ErrInvalidScan, p.Op)
	}
	return c, nil
}

// Scanner iterates over the batches of a scan:
//
//	sc, err := st.Scan(ctx, req)
//	...
//	defer sc.Close()
//	for sc.Next() {
//		b := sc.Batch()
//	}
//	if err := sc.Err(); err != nil { ... }
//
// Segments are opened one at a time, and only the blocks and columns that
// the time range, the predicates and the statistics leave are decrypted.
type Scanner struct {
	st       *Store
	ctx      context.Context
	ws, tbl  string
	dir      string
	from, to int64 // [from, to)
	preds    []pred
	columns  []string        // requested; nil: all
	want     map[string]bool // requested and predicate columns; nil: all

	segs  []segFile
	mem   []memRow // unflushed rows in the time range
	seg   *segReader
	block int

	batch  *Batch
	err    error
	closed bool
}

// Scan starts a scan. It reads nothing yet but the list of segments and the
// unflushed rows, which it checks the key for.
func (st *Store) Scan(ctx context.Context, req ScanRequest) (*Scanner, error) {
	t, err := st.table(req.Workspace, req.Table)
	if err != nil {
		return nil, err
	}
	sc := &Scanner{st: st, ctx: ctx, ws: req.Workspace, tbl: req.Table, dir: t.dir, from: math.MinInt64, to: math.MaxInt64}
	if !req.From.IsZero() {
		sc.from = req.From.UnixNano()
	}
	if !req.To.IsZero() {
		sc.to = req.To.UnixNano()
	}
	if sc.from >= sc.to {
		return nil, fmt.Errorf("%w: From must be before To", ErrInvalidScan)
	}
	for _, p := range req.Predicates {
		c, err := compile(p)
		if err != nil {
			return nil, err
		}
		sc.preds = append(sc.preds, c)
	}
	if len(req.Columns) > 0 {
		sc.columns = req.Columns
		sc.want = make(map[string]bool)
		for _, c := range req.Columns {
			if c == "" {
				return nil, fmt.Errorf("%w: empty column name", ErrInvalidScan)
			}
			sc.want[c] = true
		}
		for _, p := range sc.preds {
			sc.want[p.col] = true
		}
	}
	if req.Shards > 1 && (req.Shard < 0 || req.Shard >= req.Shards) {
		return nil, fmt.Errorf("%w: shard %d of %d", ErrInvalidScan, req.Shard, req.Shards)
	}
	segs, mems, err := t.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if req.Shards > 1 {
		mine := segs[:0:0]
		for i, s := range segs {
			if i%req.Shards == req.Shard {
				mine = append(mine, s)
			}
		}
		segs = mine
		if req.Shard != 0 {
			mems = nil
		}
	}
	sc.segs = segs
	for _, b := range mems {
		for _, r := range b.refs {
			if r.time >= sc.from && r.time < sc.to {
				sc.mem = append(sc.mem, memRow{b.payload, r})
			}
		}
	}
	return sc, nil
}

// Next reads the next batch with rows; false at the end or on an error.
func (sc *Scanner) Next() bool {
	sc.batch = nil
	for !sc.closed && sc.err == nil {
		if err := sc.ctx.Err(); err != nil {
			sc.err = err
			break
		}
		switch {
		case sc.seg != nil && sc.block < len(sc.seg.blocks):
			b, err := sc.readBlock(sc.block)
			sc.block++
			if err != nil {
				sc.err = fmt.Errorf("scan %s/%s: %w", sc.ws, sc.tbl, err)
			} else if b != nil {
				sc.batch = b
				return true
			}
		case sc.seg != nil:
			sc.seg.close()
			sc.seg = nil
		case len(sc.segs) > 0:
			s := sc.segs[0]
			sc.segs = sc.segs[1:]
			if s.name.maxT < sc.from || s.name.minT >= sc.to {
				continue // pruned by the file name: nothing decrypted
			}
			r, err := sc.st.openSegment(sc.ctx, filepath.Join(sc.dir, s.name.String()), sc.ws, sc.tbl, s.name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // purged since the scan started
			}
			if err != nil {
				sc.err = fmt.Errorf("scan %s/%s: %w", sc.ws, sc.tbl, err)
				break
			}
			sc.seg, sc.block = r, 0
		case len(sc.mem) > 0:
			n := min(len(sc.mem), sc.st.cfg.BlockRows)
			b, err := sc.memBatch(sc.mem[:n])
			sc.mem = sc.mem[n:]
			if err != nil {
				sc.err = fmt.Errorf("scan %s/%s: %w", sc.ws, sc.tbl, err)
			} else if b != nil {
				sc.batch = b
				return true
			}
		default:
			return false
		}
	}
	return false
}

// Batch is the batch Next read.
func (sc *Scanner) Batch() *Batch { return sc.batch }

// Err is the error that ended the scan, if any.
func (sc *Scanner) Err() error { return sc.err }

// Close releases the scan's file and rows; it may be called at any time.
func (sc *Scanner) Close() error {
	sc.closed = true
	sc.segs, sc.mem, sc.batch = nil, nil, nil
	if sc.seg != nil {
		err := sc.seg.close()
		sc.seg = nil
		return err
	}
	return nil
}

// readBlock reads block bi of the open segment, or returns nil when the
// block is pruned or no row matches.
func (sc *Scanner) readBlock(bi int) (*Batch, error) {
	bm := &sc.seg.blocks[bi]
	if bm.maxT < sc.from || bm.minT >= sc.to {
		return nil, nil
	}
	var blooms []*pred
	for i := range sc.preds {
		pruned, bloom := prune(bm, &sc.preds[i])
		if pruned {
			return nil, nil
		}
		if bloom {
			blooms = append(blooms, &sc.preds[i])
		}
	}
	names := sc.columns
	if names == nil {
		names = make([]string, len(bm.cols))
		for i, c := range bm.cols {
			names[i] = c.name
		}
	}
	load := make(map[string]bool, len(names)+len(sc.preds)+1)
	for _, n := range names {
		load[n] = true
	}
	for _, p := range sc.preds {
		load[p.col] = true
	}
	timeFilter := bm.minT < sc.from || bm.maxT >= sc.to
	if timeFilter {
		load[timeColumn] = true
	}
	aead, err := sc.seg.blockAEAD(sc.ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range blooms {
		f, err := sc.seg.readBloom(aead, bi, bm.col(p.col))
		if err != nil {
			return nil, err
		}
		if !bloomAdmits(f, p) {
			return nil, nil
		}
	}
	cols := make(map[string]*Column, len(load))
	for i := range bm.cols {
		cm := &bm.cols[i]
		if !load[cm.name] {
			continue
		}
		c, err := sc.seg.readColumn(aead, bi, cm)
		if err != nil {
			return nil, err
		}
		cols[cm.name] = &c
	}
	var sel []bool
	if timeFilter {
		sel = make([]bool, bm.rows)
		if tc := cols[timeColumn]; tc != nil && tc.Type == TypeDatetime {
			for i, v := range tc.Ints {
				sel[i] = tc.Valid[i] && v >= sc.from && v < sc.to
			}
		}
	}
	return sc.emit(bm.rows, cols, names, sel), nil
}

// memBatch builds a batch from unflushed rows (already in the time range)
// through the same column encoding as a flush, so that both read alike.
func (sc *Scanner) memBatch(rows []memRow) (*Batch, error) {
	bb := newBlockBuilder(sc.want)
	for _, r := range rows {
		if err := bb.add(r.p, r.ref); err != nil {
			return nil, err
		}
	}
	n := bb.rows()
	times := Column{Name: timeColumn, Type: TypeDatetime, Valid: make([]bool, n), Ints: bb.times}
	for i := range times.Valid {
		times.Valid[i] = true
	}
	cols := map[string]*Column{timeColumn: &times}
	names := []string{timeColumn}
	var plain []byte
	for _, c := range bb.columns() {
		t, ts := resolveType(c.cells)
		plain, _ = encodeColumn(plain[:0], t, c.cells, ts)
		col, err := decodeColumn(plain, c.name)
		if err != nil {
			return nil, err
		}
		cols[c.name] = &col
		names = append(names, c.name)
	}
	if sc.columns != nil {
		names = sc.columns
	}
	return sc.emit(n, cols, names, nil), nil
}

// emit applies the predicates to n rows (those sel leaves, all if nil) and
// returns the named columns of the rows that match, or nil if none does.
func (sc *Scanner) emit(n int, cols map[string]*Column, names []string, sel []bool) *Batch {
	if sel == nil && len(sc.preds) > 0 {
		sel = make([]bool, n)
		for i := range sel {
			sel[i] = true
		}
	}
	for i := range sc.preds {
		evaluate(cols[sc.preds[i].col], &sc.preds[i], sel)
	}
	count := n
	if sel != nil {
		count = 0
		for _, ok := range sel {
			if ok {
				count++
			}
		}
	}
	if count == 0 {
		return nil
	}
	b := &Batch{Len: count, Columns: make([]Column, len(names))}
	for i, name := range names {
		c := cols[name]
		switch {
		case c == nil:
			b.Columns[i] = Column{Name: name, Type: TypeNull, Valid: make([]bool, count)}
		case count == n:
			b.Columns[i] = *c
		default:
			b.Columns[i] = gather(c, sel, count)
		}
	}
	return b
}

func gather(c *Column, sel []bool, count int) Column {
	out := Column{Name: c.Name, Type: c.Type, Valid: make([]bool, 0, count)}
	for i, ok := range sel {
		if !ok {
			continue
		}
		out.Valid = append(out.Valid, c.Valid[i])
		switch c.Type {
		case TypeLong, TypeDatetime:
			out.Ints = append(out.Ints, c.Ints[i])
		case TypeReal:
			out.Reals = append(out.Reals, c.Reals[i])
		case TypeBool:
			out.Bools = append(out.Bools, c.Bools[i])
		case TypeString, TypeDynamic:
			out.Strings = append(out.Strings, c.Strings[i])
			if c.Dict != nil {
				out.Codes = append(out.Codes, c.Codes[i])
			}
		}
	}
	out.Dict = c.Dict
	return out
}

// evaluate clears sel where the row does not match p.
func evaluate(c *Column, p *pred, sel []bool) {
	for i := range sel {
		if sel[i] {
			sel[i] = c != nil && c.Valid[i] && matches(c, i, p)
		}
	}
}

func matches(c *Column, i int, p *pred) bool {
	switch {
	case c.Type == TypeLong && p.kind == TypeLong, c.Type == TypeDatetime && p.kind == TypeDatetime:
		return holds(p.op, cmp.Compare(c.Ints[i], p.i))
	case c.Type == TypeLong && p.kind == TypeReal:
		return holds(p.op, cmp.Compare(float64(c.Ints[i]), p.f))
	case c.Type == TypeReal && (p.kind == TypeLong || p.kind == TypeReal):
		return holds(p.op, cmp.Compare(c.Reals[i], p.f))
	case c.Type == TypeBool && p.kind == TypeBool:
		v := int64(0)
		if c.Bools[i] {
			v = 1
		}
		return holds(p.op, cmp.Compare(v, p.i))
	case (c.Type == TypeString || c.Type == TypeDynamic) && p.kind == TypeString:
		switch p.op {
		case OpHas:
			return hasTerm(c.Strings[i], p.lower)
		case OpContains:
			return containsFold(c.Strings[i], p.lower)
		}
		return holds(p.op, cmp.Compare(c.Strings[i], p.s))
	}
	return false
}

// holds says whether a comparison result c satisfies op.
func holds(op Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	}
	return false
}

// containsFold reports whether s contains the lower-cased needle, ignoring
// ASCII case.
func containsFold(s string, needle []byte) bool {
	return indexFold(s, needle, 0) >= 0
}

func indexFold(s string, needle []byte, from int) int {
	if len(needle) == 0 {
		return from
	}
	for i := from; i+len(needle) <= len(s); i++ {
		if lowerASCII(s[i]) != needle[0] {
			continue
		}
		j := 1
		for j < len(needle) && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

// hasTerm reports whether the lower-cased needle occurs in s on term
// boundaries: not preceded or followed by a letter or digit where the needle
// itself begins or ends with one.
func hasTerm(s string, needle []byte) bool {
	if len(needle) == 0 {
		return true
	}
	for i := indexFold(s, needle, 0); i >= 0; i = indexFold(s, needle, i+1) {
		end := i + len(needle)
		before := i == 0 || !isTermByte(s[i-1]) || !isTermByte(needle[0])
		after := end == len(s) || !isTermByte(s[end]) || !isTermByte(needle[len(needle)-1])
		if before && after {
			return true
		}
	}
	return false
}

// prune reports whether the statistics of a block prove that no row matches
// p (it must never say so when a row could match), or, failing that, whether
// the column's bloom filter could.
func prune(bm *blockMeta, p *pred) (pruned, bloom bool) {
	c := bm.col(p.col)
	if c == nil || c.nulls >= bm.rows {
		return true, false // no values: nulls never match
	}
	switch {
	case c.typ == TypeLong && p.kind == TypeLong, c.typ == TypeDatetime && p.kind == TypeDatetime,
		c.typ == TypeBool && p.kind == TypeBool:
		return excludes(p.op, c.minI, c.maxI, p.i), false
	case c.typ == TypeLong && p.kind == TypeReal:
		return excludes(p.op, float64(c.minI), float64(c.maxI), p.f), false
	case c.typ == TypeReal && (p.kind == TypeLong || p.kind == TypeReal):
		return excludes(p.op, c.minF, c.maxF, p.f), false
	case (c.typ == TypeString || c.typ == TypeDynamic) && p.kind == TypeString:
		useful := p.op == OpEq && c.typ == TypeString || p.op == OpHas && len(p.terms) > 0
		return false, useful && c.bloomSize > 0
	}
	return true, false // the constant's type never matches this column's
}

// bloomAdmits reports whether a block's bloom filter leaves p possible.
func bloomAdmits(f []byte, p *pred) bool {
	if p.op == OpEq {
		return bloomHas(f, bloomHash(bloomValue, []byte(p.s), false))
	}
	for _, h := range p.terms {
		if !bloomHas(f, h) {
			return false
		}
	}
	return true
}

// excludes reports whether no value in [lo, hi] satisfies "v op x".
func excludes[T int64 | float64](op Op, lo, hi, x T) bool {
	switch op {
	case OpEq:
		return x < lo || x > hi
	case OpNe:
		return lo == hi && lo == x
	case OpLt:
		return lo >= x
	case OpLe:
		return lo > x
	case OpGt:
		return hi <= x
	case OpGe:
		return hi < x
	}
	return false
}
