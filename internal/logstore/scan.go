package logstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/objstore"
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
	// OpHasAny is has for any of several strings, the Value a []string.
	OpHasAny Op = "has_any"
)

// Predicate is "Column Op Value", with Value a string, an int or int64, a
// float64, a bool or a time.Time. A null never matches, and neither does a
// value of another type than the constant (a long column compares with an
// int or a float64), but for a string constant and a block whose column
// holds longs, reals, bools or datetimes: a column of strings holds such
// blocks where they came before its first string (see Schema), and the
// engine reads their values as text, which the store does not, so it keeps
// those rows for the engine to match, and a scan for row counts (RowsOnly)
// fails with ErrCountNeedsRows.
//
// Column may be AnyColumn, with Has or Contains and a string: see there.
type Predicate struct {
	Column string
	Op     Op
	Value  any
}

// ScanRequest asks for the rows of one table in [From, To) (a zero time is
// no bound) that match every predicate, with the given columns (none: all).
//
// IngestedAfter and IngestedUpTo bound the rows' ingestion time, exclusive
// and inclusive (a zero time is no bound): exactly, not as a hint. A row
// stored before ingestion times were (see IngestionTimeColumn) counts as
// ingested before any bound: inside every IngestedUpTo, outside every
// IngestedAfter.
//
// RowsOnly asks only how many rows match: batches carry Len and no columns,
// and Columns must be empty. A segment the bounds take whole, with no
// predicate, is counted from the manifest without being opened, a block
// the bounds take whole from the sealed index without decrypting a column;
// otherwise only the predicate columns, and the time or ingestion-time
// column where a bound cuts a block, are read.
type ScanRequest struct {
	Workspace                   string
	Table                       string
	From, To                    time.Time
	IngestedAfter, IngestedUpTo time.Time
	Columns                     []string
	Predicates                  []Predicate
	RowsOnly                    bool
}

// IngestionTimeColumn is the hidden column of each row's ingestion time
// (datetime; null where unknown: a row stored before ingestion times were).
// A scan returns it only when asked for by name: it is in no schema and not
// among "all columns". Its name is not valid UTF-8, so no ingested column
// can have it.
const IngestionTimeColumn = "\xffIngestionTime"

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

// AnyColumn, as a predicate's column, asks for the rows in which some
// column's value, as the query engine reads it as text, has (or contains)
// the constant: search "x" and where * has "x". The store matches string
// columns exactly and keeps every row it cannot rule out: a bool reads
// "true" or "false"; a long, real or datetime is kept whenever the constant
// is made of the characters their text may hold (digits, signs, '.', ':',
// 'e', 'T', 'Z', NaN, Infinity); a dynamic value, JSON text the engine
// decodes and renders again, is matched for has of a word (see isWord) and
// kept otherwise, and also when it holds an escape or a byte outside ASCII.
// A has predicate skips a block whose any-column bloom filter (or, in a
// segment written before those, whose string columns' filters) lack one of
// the constant's terms. The hidden ingestion time is not searched. Its name
// is not valid UTF-8, so no ingested column can have it. A scan for row
// counts (RowsOnly) counts exactly the rows the engine's has would find, or
// fails with ErrCountNeedsRows where a block holds values it keeps without
// matching them: a long, real or datetime column whose text may hold the
// constant, or a dynamic one.
const AnyColumn = "\xffAnyColumn"

// pred is a Predicate checked and prepared.
type pred struct {
	col    string
	op     Op
	kind   Type // TypeString, TypeLong, TypeReal, TypeBool or TypeDatetime
	i      int64
	f      float64
	s      string
	sb     []byte     // s, for values compared in place
	lower  []byte     // has, contains: the constant lower-cased
	needle foldNeedle // has, contains: lower, to search for
	terms  []uint64   // has, == of a string: bloom keys of the constant's terms
	any    *anyPred   // column AnyColumn
	alts   []pred     // has_any: a has predicate for each string
}

// anyPred is what an AnyColumn predicate knows of the column types that
// cannot hold text of their own.
type anyPred struct {
	// which of a bool's texts match
	true_, false_ bool
	// whether the constant may be in the text of a long, a real, a datetime
	long, real, datetime bool
	// the constant is a word (see isWord): a dynamic value's terms decide
	word bool
	// the constant's terms are all words: a filter holds them where the
	// engine finds them in a dynamic value
	words bool
}

func compile(p Predicate) (pred, error) {
	c := pred{col: p.Column, op: p.Op}
	if p.Column == "" {
		return c, fmt.Errorf("%w: a predicate needs a column", ErrInvalidScan)
	}
	if _, ok := p.Value.(string); p.Column == AnyColumn && (!ok || p.Op != OpHas && p.Op != OpContains) {
		return c, fmt.Errorf("%w: a predicate on any column takes has or contains and a string", ErrInvalidScan)
	}
	if p.Op == OpHasAny {
		return compileHasAny(p)
	}
	switch v := p.Value.(type) {
	case string:
		c.kind, c.s, c.sb = TypeString, v, []byte(v)
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
	case OpEq:
		if c.kind == TypeString {
			// a value equal to the constant has its terms (page filters)
			forTerms(c.sb, func(t []byte) { c.terms = append(c.terms, bloomHash(bloomTerm, t, true)) })
		}
	case OpNe:
	case OpLt, OpLe, OpGt, OpGe:
		if c.kind == TypeBool {
			return c, fmt.Errorf("%w: %s does not order booleans", ErrInvalidScan, p.Op)
		}
	case OpHas, OpContains:
		if c.kind != TypeString {
			return c, fmt.Errorf("%w: %s needs a string", ErrInvalidScan, p.Op)
		}
		c.lower = bytes.ToLower([]byte(c.s))
		c.needle = newFoldNeedle(c.lower)
		if p.Op == OpHas {
			forTerms(c.lower, func(t []byte) { c.terms = append(c.terms, bloomHash(bloomTerm, t, true)) })
		}
		if p.Column == AnyColumn {
			c.any = newAnyPred(&c)
		}
	default:
		return c, fmt.Errorf("%w: unknown operator %q", ErrInvalidScan, p.Op)
	}
	return c, nil
}

// compileHasAny compiles a has_any predicate into a has predicate for
// each of its strings.
func compileHasAny(p Predicate) (pred, error) {
	c := pred{col: p.Column, op: p.Op, kind: TypeString}
	vs, ok := p.Value.([]string)
	if !ok || len(vs) == 0 || p.Column == AnyColumn {
		return c, fmt.Errorf("%w: has_any needs a column and strings", ErrInvalidScan)
	}
	for _, v := range vs {
		alt, err := compile(Predicate{Column: p.Column, Op: OpHas, Value: v})
		if err != nil {
			return c, err
		}
		c.alts = append(c.alts, alt)
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
	from, to int64 // [from, to)
	// ingLo, ingHi bound the ingestion time, inclusive; a row whose time
	// is unknown has unknownIngest.
	ingLo, ingHi int64
	preds        []pred
	columns      []string        // requested; nil: all
	want         map[string]bool // requested and predicate columns; nil: all
	// rowsOnly: batches carry only Len (ScanRequest.RowsOnly); counted is
	// the rows counted and not yet handed out.
	rowsOnly bool
	counted  int64
	// spanLo and spanHi are the earliest and latest TimeGenerated of the
	// rows counted, when the scan has no predicate (see TimeSpan).
	spanLo, spanHi int64

	segs    []segFile
	mem     []*memBlock // of unflushed rows
	seg     *segReader
	segFile segFile // the open segment as the manifest lists it
	// purgedBefore is the table's retention horizon: a segment gone and
	// older than it was purged while the scan ran.
	purgedBefore int64
	// hold keeps the segments of the scan's snapshot that a merge replaces
	// on disk until Close.
	hold  *scanHold
	block int

	buf     chunkBuffers
	rawBufs map[string]*chunkBuffers // of predicate columns read in place
	sel     []bool                   // see allRows
	batch   *Batch
	err     error
	closed  bool
	inUse   bool // counted in st.users until closed
	stats   ScanStats
}

// Scan starts a scan. It reads nothing yet but the list of segments and the
// unflushed rows, which it checks the key for.
func (st *Store) Scan(ctx context.Context, req ScanRequest) (*Scanner, error) {
	scs, err := st.ScanShards(ctx, req, 1)
	if err != nil {
		return nil, err
	}
	return scs[0], nil
}

// ScanShards splits one scan into n disjoint scans that can run side by
// side: scan i reads every n-th segment from the i-th, and likewise every
// n-th block of the rows not yet flushed. All n read one snapshot of the
// table, so a flush that completes meanwhile moves no row from one scan to
// another.
func (st *Store) ScanShards(ctx context.Context, req ScanRequest, n int) ([]*Scanner, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d shards", ErrInvalidScan, n)
	}
	t, err := st.table(req.Workspace, req.Table)
	if err != nil {
		return nil, err
	}
	base, err := st.newScanner(ctx, t, req)
	if err != nil {
		return nil, err
	}
	snap, hold, err := t.scanSnapshot(ctx, n)
	if err != nil {
		return nil, err
	}
	if base.from >= base.to {
		// The predicates on TimeGenerated leave no time: no row matches,
		// and no segment is read.
		hold.release(n)
		scs := make([]*Scanner, n)
		for i := range scs {
			sc := *base
			scs[i] = &sc
		}
		return scs, nil
	}
	// Damage known before the scan starts refuses it at once, if the scan
	// needs the damaged object; a scan that does not answers as usual.
	for _, ie := range snap.damage {
		if ie.affects(base.from, base.to) {
			hold.release(n)
			return nil, ie
		}
	}
	for _, s := range snap.segs {
		if s.damage != nil && s.damage.affects(base.from, base.to) {
			hold.release(n)
			return nil, s.damage
		}
	}
	base.purgedBefore, base.hold = snap.purgedBefore, hold
	scs := make([]*Scanner, n)
	for i := range scs {
		sc := *base
		sc.segs = nil
		if n == 1 {
			sc.segs = snap.segs // the snapshot's own copy
		}
		for k := i; n > 1 && k < len(snap.segs); k += n {
			sc.segs = append(sc.segs, snap.segs[k])
		}
		sc.inUse = true
		scs[i] = &sc
	}
	st.users.Add(int64(n))
	for k, b := range snap.mems {
		sc := scs[(len(snap.segs)+k)%n]
		sc.mem = append(sc.mem, b)
	}
	return scs, nil
}

// newScanner checks a scan request and compiles it, without reading.
func (st *Store) newScanner(ctx context.Context, t *table, req ScanRequest) (*Scanner, error) {
	sc := &Scanner{st: st, ctx: ctx, ws: req.Workspace, tbl: req.Table, from: math.MinInt64, to: math.MaxInt64,
		ingLo: math.MinInt64, ingHi: math.MaxInt64, spanLo: math.MaxInt64, spanHi: math.MinInt64}
	if !req.From.IsZero() {
		sc.from = req.From.UnixNano()
	}
	if !req.To.IsZero() {
		sc.to = req.To.UnixNano()
	}
	if sc.from >= sc.to {
		return nil, fmt.Errorf("%w: From must be before To", ErrInvalidScan)
	}
	if !req.IngestedAfter.IsZero() {
		// After the instant, and so after every unknown time. A range
		// left empty is no error: a scheduler asks for the rows since its
		// last watermark, and there may be none.
		sc.ingLo = min(unixNano(req.IngestedAfter), math.MaxInt64-1) + 1
	}
	if !req.IngestedUpTo.IsZero() {
		sc.ingHi = unixNano(req.IngestedUpTo)
	}
	for _, p := range req.Predicates {
		c, err := compile(p)
		if err != nil {
			return nil, err
		}
		if !sc.narrowTime(c) {
			sc.preds = append(sc.preds, c)
		}
	}
	if req.RowsOnly {
		if len(req.Columns) > 0 {
			return nil, fmt.Errorf("%w: a scan for row counts reads no columns", ErrInvalidScan)
		}
		// Only the predicate columns are read.
		sc.rowsOnly, sc.columns, sc.want = true, []string{}, make(map[string]bool, len(sc.preds))
		for _, p := range sc.preds {
			sc.want[p.col] = true
		}
		return sc, nil
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
	return sc, nil
}

// narrowTime folds a predicate on TimeGenerated with a datetime constant
// into the scan's time range, and reports whether it did. Every row has a
// TimeGenerated, so the range selects exactly the rows the predicate would;
// and unlike the predicate, it prunes by file name and needs no column
// read in a block that lies inside it.
func (sc *Scanner) narrowTime(p pred) bool {
	if p.col != timeColumn || p.kind != TypeDatetime {
		return false
	}
	if p.i == math.MaxInt64 && (p.op == OpGt || p.op == OpLe || p.op == OpEq) {
		return false // the bound past it does not fit in an int64
	}
	switch p.op {
	case OpGe:
		sc.from = max(sc.from, p.i)
	case OpGt:
		sc.from = max(sc.from, p.i+1)
	case OpLt:
		sc.to = min(sc.to, p.i)
	case OpLe:
		sc.to = min(sc.to, p.i+1)
	case OpEq:
		sc.from, sc.to = max(sc.from, p.i), min(sc.to, p.i+1)
	default:
		return false
	}
	return true
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
			b, err := sc.readBlock(&sc.seg.blocks[sc.block], sc.segmentBlock(sc.block))
			sc.block++
			switch {
			case errors.Is(err, ErrCorrupt):
				sc.err = sc.st.foundDamage(&IntegrityError{Workspace: sc.ws, Table: sc.tbl, Object: sc.segFile.object(),
					Problem: blockProblem(err), Detail: fmt.Sprintf("block %d: %v", sc.block-1, err),
					MinT: sc.segFile.name.minT, MaxT: sc.segFile.name.maxT})
			case err != nil:
				sc.err = fmt.Errorf("scan %s/%s: %w", sc.ws, sc.tbl, err)
			case b != nil && sc.rowsOnly:
				sc.counted += int64(b.Len)
			case b != nil:
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
				sc.stats.SegmentsSkipped++
				continue // pruned by the file name: nothing decrypted
			}
			if s.ingested.known && (s.ingested.hi < sc.ingLo || s.ingested.lo > sc.ingHi) {
				sc.stats.SegmentsSkipped++
				continue // pruned by the manifest's ingestion times: not even opened
			}
			if sc.countsWhole(s) {
				if sc.found(s, sc.st.checkSegmentObject(sc.ctx, sc.ws, sc.tbl, s)) {
					sc.counted += s.rows
					sc.widen(s.name.minT, s.name.maxT) // its first and last row's
				}
				continue
			}
			r, err := sc.st.openSegment(sc.ctx, sc.ws, sc.tbl, s)
			if sc.found(s, err) {
				sc.seg, sc.segFile, sc.block = r, s, 0
			}
		case len(sc.mem) > 0:
			mb := sc.mem[0]
			sc.mem = sc.mem[1:]
			var b *Batch
			err := mb.build()
			if err == nil {
				b, err = sc.readBlock(&mb.meta, func() (blockReader, error) { return mb, nil })
			}
			if err != nil {
				sc.err = fmt.Errorf("scan %s/%s: %w", sc.ws, sc.tbl, err)
			} else if b != nil && sc.rowsOnly {
				sc.counted += int64(b.Len)
			} else if b != nil {
				sc.batch = b
				return true
			}
		case sc.counted > 0:
			n := min(sc.counted, maxCountBatch)
			sc.counted -= n
			sc.batch = &Batch{Len: int(n)}
			return true
		default:
			return false
		}
	}
	return false
}

// widen makes the span of the rows counted take in [lo, hi].
func (sc *Scanner) widen(lo, hi int64) {
	sc.spanLo, sc.spanHi = min(sc.spanLo, lo), max(sc.spanHi, hi)
}

// widenRows makes the span of the rows counted take in the given rows of
// block bm (all if nil), whose times are in column tc.
func (sc *Scanner) widenRows(bm *blockMeta, tc *Column, rows []int) {
	switch {
	case rows == nil:
		sc.widen(bm.minT, bm.maxT)
	case tc != nil && tc.Type == TypeDatetime:
		for _, i := range rows {
			sc.widen(tc.Ints[i], tc.Ints[i])
		}
	}
}

// TimeSpan is the earliest and latest TimeGenerated, in Unix ns, of the rows
// a scan for row counts with no predicate counted, once Next has returned
// false; false for another scan, or when it counted no row.
func (sc *Scanner) TimeSpan() (lo, hi int64, ok bool) {
	return sc.spanLo, sc.spanHi, sc.rowsOnly && len(sc.preds) == 0 && sc.spanLo <= sc.spanHi
}

// maxCountBatch bounds the Len of a batch of a scan for row counts, which
// gathers the counts of many blocks and segments: a consumer may hold a
// slice as long as a batch.
const maxCountBatch = 1 << 16

// countsWhole reports whether a scan for row counts takes segment s whole
// by the manifest's count of its rows: no predicate, and every row inside
// the time range and the ingestion bounds.
func (sc *Scanner) countsWhole(s segFile) bool {
	if !sc.rowsOnly || len(sc.preds) > 0 || s.damage != nil || s.rows <= 0 {
		return false
	}
	if s.name.minT < sc.from || s.name.maxT >= sc.to {
		return false
	}
	if sc.ingLo == math.MinInt64 && sc.ingHi == math.MaxInt64 {
		return true
	}
	return s.ingested.known && s.ingested.lo >= sc.ingLo && s.ingested.hi <= sc.ingHi
}

// checkSegmentObject checks, without reading it, that a segment counted
// from the manifest is stored at the size the manifest lists: a lost or
// truncated segment is found as a read of it would find it. (What the
// object holds is checked when it is read: a count from the manifest does
// not.)
func (st *Store) checkSegmentObject(ctx context.Context, ws, table string, want segFile) error {
	damage := func(p Problem, detail string) error {
		return &IntegrityError{Workspace: ws, Table: table, Object: want.object(), Problem: p, Detail: detail,
			MinT: want.name.minT, MaxT: want.name.maxT}
	}
	size, err := st.objects.size(ctx, segmentKey(ws, table, want.lineage, want.name))
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		return damage(ProblemMissing, fileGone)
	case err != nil:
		return err
	case size < want.size:
		return damage(ProblemTruncated, fmt.Sprintf("the file has %d bytes, the manifest lists %d", size, want.size))
	case size > want.size:
		return damage(ProblemAuthentication, fmt.Sprintf("the file has %d bytes, the manifest lists %d", size, want.size))
	}
	return nil
}

// found reports whether segment s, opened or checked with the given
// error, is there to read. An error ends the scan, but for a segment purged
// since the scan started, which is skipped.
func (sc *Scanner) found(s segFile, err error) bool {
	if err == nil {
		return true // before ie, which errors.As moves to the heap: a count calls this per segment
	}
	var ie *IntegrityError
	switch {
	case errors.As(err, &ie) && ie.Problem == ProblemMissing && (sc.st.expired(sc.tbl, s.name.maxT) || s.name.maxT < sc.purgedBefore):
		// purged since the scan started
	case ie != nil:
		sc.err = sc.st.foundDamage(ie)
	default:
		sc.err = fmt.Errorf("scan %s/%s: %w", sc.ws, sc.tbl, err)
	}
	return false
}

// Batch is the batch Next read.
func (sc *Scanner) Batch() *Batch { return sc.batch }

// Err is the error that ended the scan, if any.
func (sc *Scanner) Err() error { return sc.err }

// Close releases the scan's file and rows; it may be called at any time.
func (sc *Scanner) Close() error {
	if sc.inUse {
		sc.inUse = false
		sc.st.users.Add(-1)
	}
	sc.closed = true
	sc.segs, sc.mem, sc.batch = nil, nil, nil
	if sc.hold != nil {
		sc.hold.release(1)
		sc.hold = nil
	}
	if sc.seg != nil {
		err := sc.seg.close()
		sc.seg = nil
		return err
	}
	return nil
}

// unixNano is t in Unix ns, clamped to the range int64 holds.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// ingestSpan is the range of a block's ingestion times, an unknown one
// counting as unknownIngest.
func ingestSpan(bm *blockMeta) (lo, hi int64) {
	c := bm.col(IngestionTimeColumn)
	if c == nil || c.nulls >= bm.rows {
		return unknownIngest, unknownIngest
	}
	if c.nulls > 0 {
		return unknownIngest, c.maxI
	}
	return c.minI, c.maxI
}

// blockReader reads the column chunks and bloom filters of one block: of a
// segment (segBlock), or of rows not yet flushed (memBlock).
type blockReader interface {
	// column reads a column chunk, as segReader.readColumn does
	column(cm *colMeta, buf *chunkBuffers, rows []int, raw bool, skip *pageSkip) (Column, error)
	// match clears sel (one per row of the block) where column cm's value
	// does not match p, as evaluate does on the column read raw.
	match(cm *colMeta, buf *chunkBuffers, p *pred, sel []bool) error
	bloom(cm *colMeta) ([]byte, error)
	anyBloom() ([]byte, error) // the any-column filter (see anyTerms)
}

// segBlock is block bi of an open segment, under its object key.
type segBlock struct {
	r    *segReader
	aead cipher.AEAD
	bi   int
}

func (b segBlock) column(cm *colMeta, buf *chunkBuffers, rows []int, raw bool, skip *pageSkip) (Column, error) {
	return b.r.readColumn(b.aead, b.bi, cm, buf, rows, raw, skip)
}

func (b segBlock) match(cm *colMeta, buf *chunkBuffers, p *pred, sel []bool) error {
	return b.r.matchColumn(b.aead, b.bi, cm, buf, p, sel)
}

func (b segBlock) bloom(cm *colMeta) ([]byte, error) { return b.r.readBloom(b.aead, b.bi, cm) }

func (b segBlock) anyBloom() ([]byte, error) { return b.r.readAnyBloom(b.aead, b.bi) }

// segmentBlock returns how to read block bi of the open segment: its object
// key is derived only for a block that is not pruned.
func (sc *Scanner) segmentBlock(bi int) func() (blockReader, error) {
	return func() (blockReader, error) {
		aead, err := sc.seg.blockAEAD(sc.ctx)
		return segBlock{sc.seg, aead, bi}, err
	}
}

// readBlock reads the block that bm describes through the reader that
// reader returns, or returns nil when the block is pruned or no row
// matches. Each step may end the read early: what is ruled out by the
// sealed index is never decrypted, and the columns the batch carries are
// read only once a row is known to match.
func (sc *Scanner) readBlock(bm *blockMeta, reader func() (blockReader, error)) (*Batch, error) {
	sc.stats.Blocks++
	bp := blockPlan{bm: bm}
	if !sc.planTimes(&bp) {
		return nil, nil
	}
	if bp.span && !bp.timeFilter && !bp.ingestFilter {
		sc.widen(bm.minT, bm.maxT)
		return &Batch{Len: bm.rows}, nil // by the sealed index: nothing decrypted
	}
	blooms, pruned, err := sc.pruneByIndex(bm)
	if pruned || err != nil {
		return nil, err
	}
	sc.planLoad(&bp)
	rd, err := reader()
	if err != nil {
		return nil, err
	}
	if ok, err := sc.admitByBlooms(rd, &bp, blooms); !ok || err != nil {
		return nil, err
	}
	if sc.rowsOnly && sc.anyUndecided(&bp) {
		return nil, ErrCountNeedsRows
	}
	sc.planFirst(&bp)
	sc.stats.BlocksRead++
	sc.planInPlace(&bp)
	sel, ok, err := sc.matchInPlace(rd, &bp)
	if !ok || err != nil {
		return nil, err
	}
	cols, holed, err := sc.readFirst(rd, &bp)
	if err != nil {
		return nil, err
	}
	sel = sc.selectTimes(&bp, cols, sel)
	count, rows := sc.match(bm.rows, cols, sel, bp.inPlace, !sc.rowsOnly || bp.span)
	if count == 0 {
		return nil, nil
	}
	if bp.span {
		sc.widenRows(bm, cols[timeColumn], rows)
	}
	if sc.rowsOnly {
		return &Batch{Len: count}, nil
	}
	picked, err := sc.fillHoles(rd, &bp, cols, holed, rows, count)
	if err != nil {
		return nil, err
	}
	sc.keepFirst(&bp, cols, rows, picked)
	if err := sc.readRest(rd, &bp, cols, rows, picked); err != nil {
		return nil, err
	}
	return assemble(count, cols, bp.names, rows, picked), nil
}

// blockPlan is what readBlock decides about one block as it goes: which
// rows need filtering and which columns are read, when.
type blockPlan struct {
	bm *blockMeta
	// timeFilter and ingestFilter: the block reaches past the scan's time
	// or ingestion-time bounds, so its rows are filtered on them.
	timeFilter, ingestFilter bool
	// span: a count that wants the rows' times (see TimeSpan).
	span  bool
	names []string        // the columns of the batch
	load  map[string]bool // read after the predicates, if a row matches
	// first: the columns read before any row is known to match (the time
	// and predicate columns).
	first map[string]bool
	// narrowed: of AnyColumn predicates, the columns their filters leave.
	narrowed map[*pred]map[string]bool
	inPlace  []bool // by predicate: matched in place (see Scanner.inPlace)
	// anyInPlace, by predicate: an AnyColumn one of a count that searches
	// only strings in the block, matched in place (see matchAnyInPlace).
	anyInPlace []bool
}

// planTimes sets the time filters of bp, or reports false when the block is
// wholly outside the scan's time or ingestion-time bounds.
func (sc *Scanner) planTimes(bp *blockPlan) bool {
	bm := bp.bm
	if bm.maxT < sc.from || bm.minT >= sc.to {
		return false
	}
	ingLo, ingHi := ingestSpan(bm)
	if ingHi < sc.ingLo || ingLo > sc.ingHi {
		return false // pruned by the ingestion time: nothing decrypted
	}
	bp.ingestFilter = ingLo < sc.ingLo || ingHi > sc.ingHi
	bp.timeFilter = bm.minT < sc.from || bm.maxT >= sc.to
	bp.span = sc.rowsOnly && len(sc.preds) == 0
	return true
}

// pruneByIndex checks each predicate against the block's sealed index
// (ranges, counts): pruned when one rules the block out. It returns the
// predicates whose bloom filters must be consulted. A count fails with
// ErrCountNeedsRows when the index cannot decide a predicate.
func (sc *Scanner) pruneByIndex(bm *blockMeta) (blooms []*pred, pruned bool, err error) {
	for i := range sc.preds {
		if sc.rowsOnly && undecided(bm.col(sc.preds[i].col), &sc.preds[i]) {
			return nil, false, ErrCountNeedsRows
		}
		pruned, bloom := prune(bm, &sc.preds[i])
		if pruned {
			return nil, true, nil
		}
		if bloom {
			blooms = append(blooms, &sc.preds[i])
		}
	}
	return blooms, false, nil
}

// planLoad sets the batch's columns and those read for it.
func (sc *Scanner) planLoad(bp *blockPlan) {
	bm := bp.bm
	names := sc.columns
	if names == nil {
		names = make([]string, 0, len(bm.cols))
		for _, c := range bm.cols {
			if c.name != IngestionTimeColumn {
				names = append(names, c.name)
			}
		}
	}
	load := make(map[string]bool, len(names)+2)
	for _, n := range names {
		load[n] = true
	}
	if bp.timeFilter || bp.span {
		load[timeColumn] = true
	}
	if bp.ingestFilter {
		load[IngestionTimeColumn] = true
	}
	bp.names, bp.load = names, load
}

// admitByBlooms consults the bloom filters of the predicates in blooms:
// false when one rules the block out. It records in bp.narrowed the
// columns an AnyColumn predicate's filters leave to search.
func (sc *Scanner) admitByBlooms(rd blockReader, bp *blockPlan, blooms []*pred) (bool, error) {
	for _, p := range blooms {
		ok, search, err := admits(rd, bp.bm, p)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
		if search != nil {
			if bp.narrowed == nil {
				bp.narrowed = make(map[*pred]map[string]bool)
			}
			bp.narrowed[p] = search
		}
	}
	return true, nil
}

// planFirst sets the columns read first: the time columns the filters need
// and those AnyColumn predicates search. The others are decrypted only if
// a row matches, and their strings copied out only for the rows that do.
func (sc *Scanner) planFirst(bp *blockPlan) {
	bm := bp.bm
	first := make(map[string]bool, len(sc.preds)+1)
	for i := range sc.preds {
		p := &sc.preds[i]
		if p.any == nil {
			continue
		}
		if sc.rowsOnly && searchesText(bp, p) {
			if bp.anyInPlace == nil {
				bp.anyInPlace = make([]bool, len(sc.preds))
			}
			bp.anyInPlace[i] = true
			continue
		}
		for i := range bm.cols {
			c := &bm.cols[i]
			if search, ok := bp.narrowed[p]; ok && !search[c.name] {
				continue // its filter rules the predicate out
			}
			if p.searched(c, bm.rows) {
				first[c.name] = true
			}
		}
	}
	if bp.timeFilter || bp.span {
		first[timeColumn] = true
	}
	if bp.ingestFilter {
		first[IngestionTimeColumn] = true
	}
	bp.first = first
}

// planInPlace picks the predicates matched in place; the columns of the
// others are read first. It runs after planFirst: a column read first
// anyway is not matched in place.
func (sc *Scanner) planInPlace(bp *blockPlan) {
	bp.inPlace = sc.inPlace(bp.first, bp.names)
	for i := range sc.preds {
		if p := &sc.preds[i]; p.any == nil && !bp.inPlace[i] {
			bp.first[p.col] = true
		}
		if bp.anyInPlace != nil && bp.anyInPlace[i] {
			bp.inPlace[i] = true
		}
	}
}

// matchInPlace applies the predicates matched in place, before any column
// is read: when no row is left (ok false), no column is. It returns the
// selection they leave, nil when there are none.
func (sc *Scanner) matchInPlace(rd blockReader, bp *blockPlan) (sel []bool, ok bool, err error) {
	bm := bp.bm
	// the predicates on one column first: an AnyColumn one then searches
	// only the rows they leave
	for _, anyCol := range []bool{false, true} {
		for i := range sc.preds {
			p := &sc.preds[i]
			if !bp.inPlace[i] || (p.any != nil) != anyCol {
				continue
			}
			if sel == nil {
				sel = sc.allRows(bm.rows)
			}
			if p.any != nil {
				if err := sc.matchAnyInPlace(rd, bp, p, sel); err != nil {
					return nil, false, err
				}
			} else {
				cm := bm.col(p.col)
				if cm == nil {
					return nil, false, nil // no value: nulls never match (prune says so first)
				}
				if err := rd.match(cm, &sc.buf, p, sel); err != nil {
					return nil, false, err
				}
				sc.stats.BytesRead += cm.size
			}
			if !slices.Contains(sel, true) {
				return nil, false, nil
			}
		}
	}
	return sel, true, nil
}

// readFirst reads the columns of bp.first, whole. It returns them and, of
// those whose page filters left rows out for AnyColumn predicates, the
// rows left out (ranges, flattened).
func (sc *Scanner) readFirst(rd blockReader, bp *blockPlan) (cols map[string]*Column, holed map[string][]int, err error) {
	bm := bp.bm
	cols = make(map[string]*Column, len(bp.load))
	for i := range bm.cols {
		cm := &bm.cols[i]
		if !bp.first[cm.name] {
			continue
		}
		buf, raw := sc.firstBuffer(cm)
		skip := sc.pageSkip(cm, bp.narrowed)
		c, err := rd.column(cm, buf, nil, raw, skip)
		if err != nil {
			return nil, nil, err
		}
		sc.stats.BytesRead += cm.size
		cols[cm.name] = &c
		if skip != nil && len(skip.of) == 0 && len(buf.pages.skipped) > 0 {
			if holed == nil {
				holed = make(map[string][]int)
			}
			holed[cm.name] = slices.Clone(buf.pages.skipped)
		}
	}
	return cols, holed, nil
}

// firstBuffer is the buffer column cm is read first into, and whether it
// is read raw. A predicate's string column is read in place, in a buffer of
// its own: it must outlive the reading of the other columns.
func (sc *Scanner) firstBuffer(cm *colMeta) (*chunkBuffers, bool) {
	if cm.name == timeColumn || cm.name == IngestionTimeColumn {
		return &sc.buf, false
	}
	if sc.rawBufs == nil {
		sc.rawBufs = make(map[string]*chunkBuffers)
	}
	buf := sc.rawBufs[cm.name]
	if buf == nil {
		buf = new(chunkBuffers)
		sc.rawBufs[cm.name] = buf
	}
	return buf, true
}

// selectTimes clears sel (made, all set, if nil and a filter applies) where
// a row's time or ingestion time is outside the scan's bounds.
func (sc *Scanner) selectTimes(bp *blockPlan, cols map[string]*Column, sel []bool) []bool {
	if bp.timeFilter {
		if sel == nil {
			sel = sc.allRows(bp.bm.rows)
		}
		if tc := cols[timeColumn]; tc != nil && tc.Type == TypeDatetime {
			for i, v := range tc.Ints {
				sel[i] = sel[i] && tc.Valid[i] && v >= sc.from && v < sc.to
			}
		} else {
			clear(sel)
		}
	}
	if bp.ingestFilter {
		sel = sc.selectIngested(cols[IngestionTimeColumn], bp.bm.rows, sel)
	}
	return sel
}

// fillHoles reads again, for the rows kept alone, each column of the batch
// whose first read left rows out by page filter: a row kept may be among
// them. It returns the columns that now hold just the rows kept.
func (sc *Scanner) fillHoles(rd blockReader, bp *blockPlan, cols map[string]*Column, holed map[string][]int, rows []int, count int) (map[string]bool, error) {
	picked := make(map[string]bool, len(bp.load))
	for name, skipped := range holed {
		if !bp.load[name] || !inRanges(rows, count, skipped) {
			continue
		}
		c, err := rd.column(bp.bm.col(name), &sc.buf, rows, false, nil)
		if err != nil {
			return nil, err
		}
		cols[name] = &c
		picked[name] = true
	}
	return picked, nil
}

// keepFirst makes the columns read first fit for the batch: those read raw
// copy out the rows kept, or, all kept, their own copy of their buffer's
// slices, which the next block reuses.
func (sc *Scanner) keepFirst(bp *blockPlan, cols map[string]*Column, rows []int, picked map[string]bool) {
	for name, c := range cols {
		if picked[name] {
			continue
		}
		if c.raw != nil {
			c.materialize(rows)
			picked[name] = rows != nil
		}
		if rows == nil && bp.load[name] && name != timeColumn && name != IngestionTimeColumn {
			c.own() // read raw, whole into the batch: its slices are its buffer's
		}
	}
}

// readRest reads the batch's columns not read first, for the rows kept
// alone.
func (sc *Scanner) readRest(rd blockReader, bp *blockPlan, cols map[string]*Column, rows []int, picked map[string]bool) error {
	bm := bp.bm
	for i := range bm.cols {
		cm := &bm.cols[i]
		if !bp.load[cm.name] || bp.first[cm.name] {
			continue
		}
		c, err := rd.column(cm, &sc.buf, rows, false, nil)
		if err != nil {
			return err
		}
		sc.stats.BytesRead += cm.size
		cols[cm.name] = &c
		picked[cm.name] = true
	}
	return nil
}

// inPlace reports which predicates are matched in place (see
// blockReader.match): each that is alone on a column the batch does not
// carry (not among names, or none for a count) and that nothing else reads
// first (an any-column predicate, the time bounds).
func (sc *Scanner) inPlace(first map[string]bool, names []string) []bool {
	out := make([]bool, len(sc.preds))
	for i := range sc.preds {
		p := &sc.preds[i]
		if p.any != nil || first[p.col] || !sc.rowsOnly && slices.Contains(names, p.col) {
			continue
		}
		alone := true
		for j := range sc.preds {
			alone = alone && (j == i || sc.preds[j].col != p.col)
		}
		out[i] = alone
	}
	return out
}

// allRows is sel for n rows, all set: the scanner's, reused from block to
// block (a selection never outlives its block).
func (sc *Scanner) allRows(n int) []bool {
	sc.sel = slices.Grow(sc.sel[:0], n)[:n]
	for i := range sc.sel {
		sc.sel[i] = true
	}
	return sc.sel
}

// pageSkip is what lets the first read of column cm of a block leave out
// rows by the column's page filter (see decodePaged), or nil: the has
// predicates on cm, or, when none is, the AnyColumn ones that search it
// (narrowed: the columns their block filters left). Rows of a column
// that another predicate reads are not left out for an AnyColumn one: the
// other would read them as nulls.
func (sc *Scanner) pageSkip(cm *colMeta, narrowed map[*pred]map[string]bool) *pageSkip {
	if cm.typ != TypeString {
		return nil // page filters are of text alone
	}
	var s pageSkip
	for i := range sc.preds {
		p := &sc.preds[i]
		switch {
		case p.any == nil && p.col == cm.name:
			s.of = append(s.of, p)
		case p.any != nil:
			if search, ok := narrowed[p]; !ok || search[cm.name] {
				s.anyOf = append(s.anyOf, p)
			}
		}
	}
	if len(s.of) == 0 && len(s.anyOf) == 0 {
		return nil
	}
	return &s
}

// inRanges reports whether one of the rows (ascending; nil: all count of
// them) is in one of the ranges [lo, hi), flattened.
func inRanges(rows []int, count int, ranges []int) bool {
	if rows == nil {
		return count > 0 && len(ranges) > 0
	}
	for k := 0; k+1 < len(ranges); k += 2 {
		lo, hi := ranges[k], ranges[k+1]
		if i, _ := slices.BinarySearch(rows, lo); i < len(rows) && rows[i] < hi {
			return true
		}
	}
	return false
}

// selectIngested clears sel (made, all set, if nil) where a row's ingestion
// time, in c (nil: none known), is outside the scan's bounds.
func (sc *Scanner) selectIngested(c *Column, n int, sel []bool) []bool {
	if sel == nil {
		sel = sc.allRows(n)
	}
	for i := range sel {
		v := int64(unknownIngest)
		if c != nil && c.Type == TypeDatetime && c.Valid[i] {
			v = c.Ints[i]
		}
		sel[i] = sel[i] && v >= sc.ingLo && v <= sc.ingHi
	}
	return sel
}

// match applies the predicates but those matched already (done) to n rows
// (those sel leaves, all if nil): it returns how many match, and which
// unless all do or needRows is unset (a count).
func (sc *Scanner) match(n int, cols map[string]*Column, sel []bool, done []bool, needRows bool) (int, []int) {
	if sel == nil && len(sc.preds) > 0 {
		sel = sc.allRows(n)
	}
	for i := range sc.preds {
		if done[i] {
			continue
		}
		if p := &sc.preds[i]; p.any != nil {
			evaluateAny(cols, p, sel)
		} else {
			evaluate(cols[p.col], p, sel)
		}
	}
	if sel == nil {
		return n, nil
	}
	count := 0
	for _, ok := range sel {
		if ok {
			count++
		}
	}
	if count == n || count == 0 || !needRows {
		return count, nil
	}
	rows := make([]int, 0, count)
	for i, ok := range sel {
		if ok {
			rows = append(rows, i)
		}
	}
	return count, rows
}

// assemble is the batch of count rows with the named columns: the given rows
// of cols (all if nil), but for the picked columns, which hold just those.
func assemble(count int, cols map[string]*Column, names []string, rows []int, picked map[string]bool) *Batch {
	b := &Batch{Len: count, Columns: make([]Column, len(names))}
	for i, name := range names {
		c := cols[name]
		switch {
		case c == nil:
			b.Columns[i] = Column{Name: name, Type: TypeNull, Valid: make([]bool, count)}
		case rows == nil || picked[name]:
			b.Columns[i] = *c
		default:
			b.Columns[i] = gather(c, rows)
		}
	}
	return b
}

// gather is the given rows of c.
func gather(c *Column, rows []int) Column {
	out := Column{Name: c.Name, Type: c.Type, Valid: make([]bool, len(rows)), Dict: c.Dict}
	for j, i := range rows {
		out.Valid[j] = c.Valid[i]
	}
	switch c.Type {
	case TypeLong, TypeDatetime:
		out.Ints = make([]int64, len(rows))
		for j, i := range rows {
			out.Ints[j] = c.Ints[i]
		}
	case TypeReal:
		out.Reals = make([]float64, len(rows))
		for j, i := range rows {
			out.Reals[j] = c.Reals[i]
		}
	case TypeBool:
		out.Bools = make([]bool, len(rows))
		for j, i := range rows {
			out.Bools[j] = c.Bools[i]
		}
	case TypeString, TypeDynamic:
		if c.Dict != nil {
			out.Codes = make([]uint32, len(rows))
			for j, i := range rows {
				out.Codes[j] = c.Codes[i]
			}
			break
		}
		out.Strings = make([]string, len(rows))
		for j, i := range rows {
			out.Strings[j] = c.Strings[i]
		}
	}
	return out
}

// evaluate clears sel where the row does not match p. The common cases loop
// without a type switch per row; a string column with a dictionary is
// matched once per entry.
func evaluate(c *Column, p *pred, sel []bool) {
	switch {
	case p.alts != nil:
		// has_any: the rows that some string's has keeps
		keep := make([]bool, len(sel))
		for i := range p.alts {
			alt := slices.Clone(sel)
			evaluate(c, &p.alts[i], alt)
			for r, ok := range alt {
				keep[r] = keep[r] || ok
			}
		}
		copy(sel, keep)
	case c == nil:
		clear(sel)
	case undecidedType(c.Type, p):
		// kept: the engine matches the value's text (see Predicate)
	case c.raw != nil:
		if p.kind != TypeString {
			clear(sel) // a string never equals or orders with another type
			return
		}
		if p.op == OpHas || p.op == OpContains {
			found := make([]bool, len(c.raw.ends))
			rawFind(c.raw, p, func(j int) { found[j] = true })
			j := 0
			for i := range sel {
				if !c.Valid[i] {
					sel[i] = false
					continue
				}
				sel[i] = sel[i] && found[j]
				j++
			}
			return
		}
		start, j := 0, 0
		for i := range sel {
			if !c.Valid[i] {
				sel[i] = false
				continue
			}
			end := c.raw.ends[j]
			j++
			sel[i] = sel[i] && matchBytes(c.raw.data[start:end], p)
			start = end
		}
	case c.Dict != nil && p.kind == TypeString:
		hit := make([]bool, len(c.Dict))
		for k, v := range c.Dict {
			hit[k] = matchString(v, p)
		}
		for i := range sel {
			sel[i] = sel[i] && c.Valid[i] && hit[c.Codes[i]]
		}
	case (c.Type == TypeLong && p.kind == TypeLong || c.Type == TypeDatetime && p.kind == TypeDatetime) && p.op == OpEq:
		for i := range sel {
			sel[i] = sel[i] && c.Valid[i] && c.Ints[i] == p.i
		}
	case (c.Type == TypeString || c.Type == TypeDynamic) && p.kind == TypeString:
		for i := range sel {
			sel[i] = sel[i] && c.Valid[i] && matchString(c.Strings[i], p)
		}
	default:
		for i := range sel {
			sel[i] = sel[i] && c.Valid[i] && matches(c, i, p)
		}
	}
}

// rawFind calls found with the number, among the valid values of a column
// read in place, of each value that has (or contains) has or contains
// predicate p's constant, once and in order. It searches the chunk's text
// whole, not value by value: a rare term is then found at the speed of
// bytes.IndexByte over the column.
func rawFind(r *rawStrings, p *pred, found func(j int)) {
	n := &p.needle
	data, ends := r.data, r.ends
	if len(n.b) == 0 {
		for j := range ends {
			found(j)
		}
		return
	}
	it := foldIter{n: n, s: data, nextLo: -2, nextUp: -2}
	j := 0
	for i := it.index(0); i >= 0; {
		for j < len(ends) && ends[j] <= i {
			j++ // to the value that holds byte i
		}
		if j == len(ends) {
			return
		}
		start, end := 0, ends[j]
		if j > 0 {
			start = ends[j-1]
		}
		if i+len(n.b) <= end && (p.op == OpContains || termAt(data[start:end], i-start, n.b)) {
			found(j)
			i = it.index(end) // on to the next value
			continue
		}
		i = it.index(i + 1)
	}
}

// foldIter finds a needle's occurrences in s, ignoring ASCII case, at
// positions that only grow from one call to the next: it remembers where
// the next anchor byte of each case is, so that each is searched for once
// through s, however many calls (foldIndex, called afresh at each position,
// would search the whole rest of s for a case that is not there).
type foldIter struct {
	n              *foldNeedle
	s              []byte
	nextLo, nextUp int // -2: not searched; -1: none left
}

// index is the first occurrence at or after from (no less than the last
// call's), or -1.
func (it *foldIter) index(from int) int {
	n := it.n
	next := func(c byte, from int) int {
		if j := bytes.IndexByte(it.s[from:], c); j >= 0 {
			return from + j
		}
		return -1
	}
	for i := from + n.anchor; i < len(it.s); {
		if it.nextLo != -1 && it.nextLo < i {
			it.nextLo = next(n.lo, i)
		}
		if n.up != n.lo && it.nextUp != -1 && it.nextUp < i {
			it.nextUp = next(n.up, i)
		}
		p := it.nextLo
		if n.up != n.lo && it.nextUp >= 0 && (p < 0 || it.nextUp < p) {
			p = it.nextUp
		}
		if p < 0 {
			return -1
		}
		start := p - n.anchor
		if start+len(n.b) > len(it.s) {
			return -1
		}
		if equalFoldLower(it.s[start:start+len(n.b)], n.b) {
			return start
		}
		i = p + 1
	}
	return -1
}

// termAt reports whether needle, found at i in v, is there on term
// boundaries, as foldHas requires.
func termAt(v []byte, i int, needle []byte) bool {
	end := i + len(needle)
	before := i == 0 || !isTermByte(v[i-1]) || !isTermByte(needle[0])
	after := end == len(v) || !isTermByte(v[end]) || !isTermByte(needle[len(needle)-1])
	return before && after
}

// matchBytes is matchString for a value in place in a chunk.
func matchBytes(v []byte, p *pred) bool {
	switch p.op {
	case OpHas:
		return foldHas(&p.needle, v, bytes.IndexByte)
	case OpContains:
		return foldIndex(&p.needle, v, 0, bytes.IndexByte) >= 0
	}
	return holds(p.op, bytes.Compare(v, p.sb))
}

// matchString reports whether string value s satisfies p, a predicate with a
// string constant.
func matchString(s string, p *pred) bool {
	switch p.op {
	case OpHas:
		return p.needle.has(s)
	case OpContains:
		return p.needle.contains(s)
	}
	return holds(p.op, cmp.Compare(s, p.s))
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
		return matchString(c.Str(i), p)
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

// foldNeedle is a lower-cased constant to find ignoring ASCII case. The
// search anchors on its rarest byte, which strings.IndexByte finds fast, and
// compares the rest only there: has and contains run over every value of a
// column, often long text.
type foldNeedle struct {
	b      []byte // lower-cased
	anchor int    // index in b of the byte searched for first
	lo, up byte   // that byte, and its upper case (lo again if not a letter)
}

// byteRank orders bytes from rare to common in log text: letters by their
// frequency in English, other bytes rarer than any letter.
var byteRank = func() [256]uint8 {
	var r [256]uint8
	for i := range r {
		r[i] = 100
	}
	common := " etaoinsrhldcumfpgwybvkxjqz" // most common first
	for i := 0; i < len(common); i++ {
		r[common[i]] = uint8(200 - i)
	}
	return r
}()

func newFoldNeedle(lower []byte) foldNeedle {
	n := foldNeedle{b: lower}
	for i := 1; i < len(lower); i++ {
		if byteRank[lower[i]] < byteRank[lower[n.anchor]] {
			n.anchor = i
		}
	}
	if len(lower) > 0 {
		n.lo, n.up = lower[n.anchor], lower[n.anchor]
		if n.lo >= 'a' && n.lo <= 'z' {
			n.up = n.lo - 'a' + 'A'
		}
	}
	return n
}

// text is what a needle is searched in: a decoded value, or a value's bytes
// in place in a chunk.
type text interface{ ~string | ~[]byte }

// foldIndex is the first position at or after from where s holds the
// needle, ignoring ASCII case, or -1; indexByte is strings.IndexByte or
// bytes.IndexByte.
func foldIndex[S text](n *foldNeedle, s S, from int, indexByte func(S, byte) int) int {
	if len(n.b) == 0 {
		return from
	}
	next := func(c byte, from int) int {
		if j := indexByte(s[from:], c); j >= 0 {
			return from + j
		}
		return -1
	}
	nextLo, nextUp := -2, -2 // next anchor byte of each case at or after i; -2: not searched, -1: none
	for i := from + n.anchor; i < len(s); {
		if nextLo != -1 && nextLo < i {
			nextLo = next(n.lo, i)
		}
		if n.up != n.lo && nextUp != -1 && nextUp < i {
			nextUp = next(n.up, i)
		}
		p := nextLo
		if n.up != n.lo && nextUp >= 0 && (p < 0 || nextUp < p) {
			p = nextUp
		}
		if p < 0 {
			return -1
		}
		start := p - n.anchor
		if start+len(n.b) > len(s) {
			return -1
		}
		if equalFoldLower(s[start:start+len(n.b)], n.b) {
			return start
		}
		i = p + 1
	}
	return -1
}

// equalFoldLower reports whether s lower-cased (ASCII) is lower.
func equalFoldLower[S text](s S, lower []byte) bool {
	for i := range len(lower) {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// foldHas reports whether the needle occurs in s on term boundaries: not
// preceded or followed by a letter or digit where the needle itself begins
// or ends with one.
func foldHas[S text](n *foldNeedle, s S, indexByte func(S, byte) int) bool {
	if len(n.b) == 0 {
		return true
	}
	for i := foldIndex(n, s, 0, indexByte); i >= 0; i = foldIndex(n, s, i+1, indexByte) {
		end := i + len(n.b)
		before := i == 0 || !isTermByte(s[i-1]) || !isTermByte(n.b[0])
		after := end == len(s) || !isTermByte(s[end]) || !isTermByte(n.b[len(n.b)-1])
		if before && after {
			return true
		}
	}
	return false
}

func (n *foldNeedle) index(s string, from int) int { return foldIndex(n, s, from, strings.IndexByte) }
func (n *foldNeedle) contains(s string) bool       { return n.index(s, 0) >= 0 }
func (n *foldNeedle) has(s string) bool            { return foldHas(n, s, strings.IndexByte) }

// prune reports whether the statistics of a block prove that no row matches
// p (it must never say so when a row could match), or, failing that, whether
// the column's bloom filter could.
func prune(bm *blockMeta, p *pred) (pruned, bloom bool) {
	if p.any != nil {
		return pruneAny(bm, p)
	}
	c := bm.col(p.col)
	if c == nil || c.nulls >= bm.rows {
		return true, false // no values: nulls never match
	}
	switch {
	case undecidedType(c.typ, p):
		return false, false
	case c.typ == TypeLong && p.kind == TypeLong, c.typ == TypeDatetime && p.kind == TypeDatetime,
		c.typ == TypeBool && p.kind == TypeBool:
		return excludes(p.op, c.minI, c.maxI, p.i), false
	case c.typ == TypeLong && p.kind == TypeReal:
		return excludes(p.op, float64(c.minI), float64(c.maxI), p.f), false
	case c.typ == TypeReal && (p.kind == TypeLong || p.kind == TypeReal):
		return excludes(p.op, c.minF, c.maxF, p.f), false
	case (c.typ == TypeString || c.typ == TypeDynamic) && p.kind == TypeString:
		if c.typ == TypeString && !charsHold(c.chars, charsOf(p)) {
			return true, false // a character of the constant is in no value
		}
		useful := p.op == OpEq && c.typ == TypeString || p.op == OpHas && len(p.terms) > 0
		if p.op == OpHasAny {
			useful = true
			for i := range p.alts {
				useful = useful && len(p.alts[i].terms) > 0
			}
		}
		return false, useful && c.bloomSize > 0
	}
	return true, false // the constant's type never matches this column's
}

// undecided reports whether a block's column c (nil: the block has none)
// holds values that p's string constant does not decide for a count: a
// long, real, bool or datetime, which the engine reads as text (see
// Predicate).
func undecided(c *colMeta, p *pred) bool {
	return c != nil && undecidedType(c.typ, p)
}

// undecidedType reports whether p keeps values of type t without matching
// them: a string constant and a long, real, bool or datetime.
func undecidedType(t Type, p *pred) bool {
	return p.any == nil && p.kind == TypeString && (t == TypeLong || t == TypeReal || t == TypeBool || t == TypeDatetime)
}

// bloomAdmits reports whether a block's bloom filter leaves p possible.
func bloomAdmits(f []byte, p *pred) bool {
	if p.op == OpHasAny {
		for i := range p.alts {
			if bloomAdmits(f, &p.alts[i]) {
				return true
			}
		}
		return false
	}
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
