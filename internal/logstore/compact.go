package logstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// Compaction merges the small segments of one time partition of a table
// into bigger ones: every flush writes a segment per hour its rows fall in,
// and every scan opens every segment, so a table that is flushed often
// gathers many small ones. A merge reads the rows of its segments and
// writes them again through the flush's segWriter, sealed under the current
// key, so the merged segment has every index a flush writes.
//
// A merge changes what the manifest lists in two steps, each one manifest
// write, and a crash at any point leaves every row listed exactly once:
//
//  1. intent: it takes the next sequence number and lists it as a merge
//     under way. Its segments, named after it, are not listed yet: an open
//     removes them.
//  2. commit: it lists the merged segments in place of the old ones, and
//     lists those as retired: an open removes their files.
//
// The old files are removed after the commit, once no scan that began
// before it is open (scans hold their snapshot's segments: scanHold). Rows
// keep their columns, types, nulls, TimeGenerated and ingestion times; a
// merged block holds only blocks whose columns have the same types, so
// that no value is read as another type than before.

// compactStep names a step of a merge, for the tests' fault hook.
type compactStep string

const (
	stepIntent    compactStep = "intent"    // the manifest lists the merge under way
	stepPartial   compactStep = "partial"   // a first merged block is written, in a temporary file
	stepWritten   compactStep = "written"   // the merged segments are named, not listed
	stepCommitted compactStep = "committed" // the manifest lists them, the old files are still there
	stepRemoved   compactStep = "removed"   // the old files are gone
)

// Compaction defaults (see Config).
const (
	DefaultCompactRows        = 1_000_000
	DefaultCompactBytes       = 256 << 20
	DefaultCompactMinSegments = 4
	DefaultCompactCPU         = 0.5
)

func (cfg *Config) compactDefaults() {
	if cfg.CompactRows <= 0 {
		cfg.CompactRows = DefaultCompactRows
	}
	if cfg.CompactBytes <= 0 {
		cfg.CompactBytes = DefaultCompactBytes
	}
	if cfg.CompactMinSegments <= 0 {
		cfg.CompactMinSegments = DefaultCompactMinSegments
	}
	cfg.CompactMinSegments = max(cfg.CompactMinSegments, 2)
	if cfg.CompactCPU <= 0 || math.IsNaN(cfg.CompactCPU) {
		cfg.CompactCPU = DefaultCompactCPU
	}
	cfg.CompactCPU = min(cfg.CompactCPU, 1)
	if cfg.Merges == nil {
		cfg.Merges = NewMergeSlots(1)
	}
}

// MergeSlots bounds how many merges run at once in the stores that share
// it: a node's workspaces share one, so that compaction takes a bounded
// share of the node's CPU however many workspaces it serves.
type MergeSlots struct{ slots chan struct{} }

// NewMergeSlots lets n merges (at least 1) run at once.
func NewMergeSlots(n int) *MergeSlots { return &MergeSlots{slots: make(chan struct{}, max(n, 1))} }

// mergeState is a table's part in compaction, under table.mu.
type mergeState struct {
	running bool     // a merge of the table runs; close waits for it
	pending []uint64 // merges whose segments no manifest lists yet
	retired []retiredSeg
	// view counts the merges committed; a scan holds the view it began in.
	view  uint64
	holds map[uint64]int // open scans by view
}

// retiredSeg is a segment a merge replaced, whose file stays for the scans
// that began before the merge committed (in a view before view).
type retiredSeg struct {
	name segName
	view uint64 // the first view that does not list it
	at   int64  // Unix ns it was retired (or, after an open, found retired)
}

// listed is what the manifest lists of the merges: those under way and the
// segments they retired.
func (m *mergeState) listed() ([]uint64, []segName) {
	var retired []segName
	for _, r := range m.retired {
		retired = append(retired, r.name)
	}
	return slices.Clone(m.pending), retired
}

// scanHold keeps the segments of one snapshot on disk while scans of it are
// open.
type scanHold struct {
	t    *table
	view uint64
}

// scanSnapshot is snapshot for n scans, which hold its segments until each
// releases its hold.
func (t *table) scanSnapshot(ctx context.Context, n int) (tableSnapshot, *scanHold, error) {
	f, err := t.lockWithOthers(ctx)
	if err != nil {
		return tableSnapshot{}, nil, err
	}
	defer t.mu.Unlock()
	snap, err := t.snapshotLocked(ctx)
	if err != nil {
		return snap, nil, err
	}
	snap.add(f)
	if t.merge.holds == nil {
		t.merge.holds = make(map[uint64]int)
	}
	t.merge.holds[t.merge.view] += n
	return snap, &scanHold{t: t, view: t.merge.view}, nil
}

// release ends n scans of the hold's snapshot, and removes the retired
// files no open scan may read any more.
func (h *scanHold) release(n int) {
	t := h.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.merge.holds[h.view] -= n; t.merge.holds[h.view] <= 0 {
		delete(t.merge.holds, h.view)
	}
	t.removeRetiredLocked()
}

// removeRetired is removeRetiredLocked, for the segments whose grace
// ended while no scan or merge came.
func (t *table) removeRetired() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.merge.retired) > 0 {
		t.removeRetiredLocked()
	}
}

// removeRetiredLocked removes the files of the retired segments that no
// open scan began early enough to read, once retired for RetiredGrace:
// other nodes' scans of this lineage hold no place here.
func (t *table) removeRetiredLocked() {
	oldest := uint64(math.MaxUint64)
	for v := range t.merge.holds {
		oldest = min(oldest, v)
	}
	now := t.st.cfg.Now().UnixNano()
	t.merge.retired = slices.DeleteFunc(t.merge.retired, func(r retiredSeg) bool {
		if oldest < r.view || now-r.at < int64(t.st.cfg.RetiredGrace) {
			return false
		}
		key := segmentKey(t.ws, t.name, t.lineage, r.name)
		t.st.indexes.forget(key)
		if err := t.st.objects.delete(t.st.ctx, key); err != nil {
			t.st.log.Warn("remove a merged segment; the next open removes it", "workspace", t.ws, "table", t.name,
				"segment", r.name.String(), "error", err)
			return false
		}
		return true
	})
}

// Compact merges the small segments of a table, partition by partition,
// until no partition has two segments it could merge, and returns how many
// segments it replaced. It waits for a merge running in the background,
// and runs at full speed (a background merge is paced by CompactCPU). It
// needs the key: while it is revoked, nothing is merged and the error is
// the key's.
func (st *Store) Compact(ctx context.Context, workspace, table string) (int, error) {
	t, err := st.table(workspace, table)
	if err != nil {
		return 0, err
	}
	select {
	case st.compacting <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-st.compacting }()
	st.users.Add(1) // see InUse
	defer st.users.Add(-1)
	return t.compact(ctx, mergePolicy{minSegs: 2, rows: st.cfg.CompactRows, bytes: st.cfg.CompactBytes, full: true}, 1)
}

// compactInBackground starts the merges due in the tables that are open,
// one table after another, unless a merge is running already. A failure
// (a revoked key) is logged, and the merge tried again at the next tick.
// The store is in use meanwhile: a caller closing idle stores waits for the
// merge rather than cutting it short.
func (st *Store) compactInBackground(tables []*table) {
	select {
	case st.compacting <- struct{}{}:
	default:
		return
	}
	st.users.Add(1) // a merge under way keeps the store open (see InUse)
	st.wg.Go(func() {
		defer func() { <-st.compacting }()
		defer st.users.Add(-1)
		for _, t := range tables {
			if !t.isOpen() {
				continue // opening it needs the key and replays its WALs: left to its first use
			}
			n, err := t.compact(st.ctx, st.mergePolicy(), st.cfg.CompactCPU)
			switch {
			case err != nil && st.ctx.Err() == nil && !errors.Is(err, ErrClosed):
				st.log.Warn("compaction failed; it is tried again later", "workspace", t.ws, "table", t.name, "error", err)
			case n > 0:
				st.log.Debug("merged segments", "workspace", t.ws, "table", t.name, "segments", n)
			}
		}
	})
}

func (t *table) isOpen() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opened && !t.closed && t.broken == nil
}

// compact runs the merges p finds due, with share of a core, and returns how
// many segments they replaced.
func (t *table) compact(ctx context.Context, p mergePolicy, share float64) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)() // ends with the table
	merged := 0
	for {
		// The key first: a workspace whose key is revoked merges nothing.
		sealer, err := t.st.keys.Current(ctx)
		if err != nil {
			return merged, fmt.Errorf("compact %s/%s: %w", t.ws, t.name, err)
		}
		srcs, seq, err := t.startMerge(ctx, p)
		if err != nil || srcs == nil {
			return merged, err
		}
		t.st.hook(stepIntent)
		m := &merger{t: t, seq: seq, sealer: sealer, pace: pacer{share: share}}
		committed, err := m.run(ctx, srcs)
		t.mu.Lock()
		t.merge.running = false
		t.notifyLocked()
		t.mu.Unlock()
		if err != nil {
			return merged, fmt.Errorf("compact %s/%s: %w", t.ws, t.name, err)
		}
		if committed {
			merged += len(srcs)
		}
	}
}

// startMerge picks the segments of the next merge and lists the merge as
// under way under a new sequence number. It returns no segments when no
// merge is due.
func (t *table) startMerge(ctx context.Context, p mergePolicy) ([]segFile, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.readyLocked(ctx); err != nil {
		return nil, 0, err
	}
	for t.writingManifest {
		if err := t.waitChangeLocked(ctx); err != nil {
			return nil, 0, err
		}
	}
	if t.closed {
		return nil, 0, ErrClosed
	}
	srcs := p.plan(t.segs)
	if srcs == nil {
		return nil, 0, nil
	}
	seq := t.nextSeq
	t.nextSeq++
	t.merge.pending = append(t.merge.pending, seq)
	if err := t.saveManifestLocked(ctx, t.manifestLocked(nil)); err != nil {
		// Nothing is named after seq yet: listed or not, it names nothing.
		t.merge.pending = slices.DeleteFunc(t.merge.pending, func(s uint64) bool { return s == seq })
		return nil, 0, err
	}
	t.merge.running = true
	return srcs, seq, nil
}

func (st *Store) hook(step compactStep) {
	if st.compactHook != nil {
		st.compactHook(step)
	}
}

// mergePolicy says which segments a merge takes.
type mergePolicy struct {
	minSegs     int   // of one partition, at least
	rows, bytes int64 // a merged segment's, at most
	// full takes every small segment of a partition, up to rows and bytes;
	// otherwise only segments of about the same size are merged (tiers),
	// so that a row is written again only when its segment has grown
	// several times over, not at each merge of its hour.
	full bool
	// coldBefore: a partition whose small segments hold only rows ingested
	// before it (Unix ns) most likely gets no more; it is merged in full,
	// from two segments on, so that no hour keeps a tail of small ones.
	coldBefore int64
}

// tierRatio is how much bigger than the one before a segment a tiered merge
// takes may be.
const tierRatio = 2

// coldAfter is how long after its last ingest a partition is taken for
// cold, in flush intervals: by then every WAL with rows of it was flushed.
const coldAfter = 2

func (st *Store) mergePolicy() mergePolicy {
	return mergePolicy{minSegs: st.cfg.CompactMinSegments, rows: st.cfg.CompactRows, bytes: st.cfg.CompactBytes,
		coldBefore: st.cfg.Now().Add(-coldAfter * st.cfg.FlushInterval).UnixNano()}
}

// plan picks the segments of one partition to merge: its smallest ones,
// up to p.rows rows and p.bytes bytes in all, at least p.minSegs of them
// (2 of a cold partition), or none. Partitions are tried oldest first; a
// damaged segment, or one already as big as a merge makes, is never taken.
func (p mergePolicy) plan(segs []segFile) []segFile {
	parts := make(map[int64][]segFile)
	for _, s := range segs {
		k := floorDiv(s.name.minT, partitionNanos)
		if s.damage != nil || k != floorDiv(s.name.maxT, partitionNanos) || s.rows >= p.rows || s.size >= p.bytes {
			continue
		}
		parts[k] = append(parts[k], s)
	}
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		cands := parts[k]
		full, minSegs := p.full, p.minSegs
		if !slices.ContainsFunc(cands, func(s segFile) bool { return s.ingested.known && s.ingested.hi >= p.coldBefore }) {
			full, minSegs = true, 2
		}
		if len(cands) < minSegs {
			continue
		}
		slices.SortFunc(cands, func(a, b segFile) int { return cmp.Or(cmp.Compare(a.rows, b.rows), cmp.Compare(a.size, b.size)) })
		var taken []segFile
		var rows, bytes int64
		for i, s := range cands {
			if i > 0 && (rows+s.rows > p.rows || bytes+s.size > p.bytes || !full && s.rows > tierRatio*cands[i-1].rows) {
				break
			}
			taken = append(taken, s)
			rows, bytes = rows+s.rows, bytes+s.size
		}
		if len(taken) >= minSegs {
			slices.SortFunc(taken, func(a, b segFile) int { return cmp.Compare(a.name.minT, b.name.minT) })
			return taken
		}
	}
	return nil
}

// merger writes the rows of some segments of one partition into new ones.
type merger struct {
	t      *table
	seq    uint64 // of the merge: its segments' names hold it
	sealer envelope.Sealer
	pace   pacer

	classes []*mergeClass
	bb      *blockBuilder
	sealed  []byte // scratch for sealed chunks
	w       *segWriter
	wMin    int64 // of the rows in w
	wMax    int64
	out     []segFile
	partial bool // a block was written
}

// run merges srcs: writes the merged segments, lists them in place of srcs,
// and removes the files of srcs that no scan holds. It reports whether it
// did: a merge whose segments changed meanwhile is dropped.
func (m *merger) run(ctx context.Context, srcs []segFile) (bool, error) {
	m.bb = newBlockBuilder(nil)
	m.pace.start()
	err := m.write(ctx, srcs)
	if err == nil {
		err = m.check(srcs)
	}
	if err != nil {
		m.discard()
		if errors.Is(err, errSourceGone) {
			return false, nil
		}
		return false, err
	}
	m.t.st.hook(stepWritten)
	return m.commit(ctx, srcs)
}

// write reads every block of srcs, in order, into the merged segments.
func (m *merger) write(ctx context.Context, srcs []segFile) error {
	for _, s := range srcs {
		if err := m.readSegment(ctx, s); err != nil {
			return err
		}
	}
	for _, c := range m.classes {
		if err := m.emit(ctx, c); err != nil {
			return err
		}
	}
	if m.w == nil {
		return nil
	}
	return m.finish()
}

// check refuses a merge whose segments do not hold the rows of srcs, as
// their listings count them: it would lose or duplicate rows.
func (m *merger) check(srcs []segFile) error {
	var in, out int64
	for _, s := range srcs {
		in += s.rows
	}
	for _, s := range m.out {
		out += s.rows
	}
	if in != out {
		return fmt.Errorf("merged %d rows from segments that list %d", out, in)
	}
	return nil
}

func (m *merger) readSegment(ctx context.Context, s segFile) error {
	t := m.t
	r, err := t.st.openSegment(ctx, t.ws, t.name, s)
	var ie *IntegrityError
	if errors.As(err, &ie) {
		return t.mergeDamage(s, ie)
	}
	if err != nil {
		return err
	}
	defer r.close()
	for bi := range r.blocks {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := m.readBlock(ctx, r, bi)
		if errors.Is(err, ErrCorrupt) {
			return t.mergeDamage(s, &IntegrityError{Workspace: t.ws, Table: t.name, Object: s.object(),
				Problem: blockProblem(err), Detail: fmt.Sprintf("block %d: %v", bi, err), MinT: s.name.minT, MaxT: s.name.maxT})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errSourceGone drops a merge one of whose segments the table no longer
// lists (purged meanwhile): what is gone was not lost.
var errSourceGone = errors.New("a segment of the merge left the table meanwhile")

// mergeDamage records damage a merge found in one of its segments, which
// no merge takes again, and returns it.
func (t *table) mergeDamage(s segFile, ie *IntegrityError) error {
	if s.lineage != t.lineage {
		return t.st.foundDamage(ie) // adopted (adopt.go): not the table's to mark
	}
	t.mu.Lock()
	i := slices.IndexFunc(t.segs, func(f segFile) bool { return f.name == s.name })
	if i < 0 {
		t.mu.Unlock()
		return errSourceGone
	}
	t.segs[i].damage = ie
	t.mu.Unlock()
	return t.st.foundDamage(ie)
}

// srcColumn is one column of a block being merged, as cells.
type srcColumn struct {
	name  string
	typ   Type
	cells []cell
}

// readBlock decrypts block bi of r and adds its rows to the class its
// column types fit.
func (m *merger) readBlock(ctx context.Context, r *segReader, bi int) error {
	aead, err := r.blockAEAD(ctx)
	if err != nil {
		return err
	}
	bm := &r.blocks[bi]
	var times []int64
	ingested := make([]int64, bm.rows)
	for i := range ingested {
		ingested[i] = unknownIngest
	}
	var cols []srcColumn
	for i := range bm.cols {
		cm := &bm.cols[i]
		if cm.nulls >= bm.rows && cm.name != timeColumn {
			continue // no value: nothing to keep
		}
		buf := &chunkBuffers{sealed: m.sealed} // the cells keep its plain bytes
		c, err := r.readColumn(aead, bi, cm, buf, nil, true, nil)
		m.sealed = buf.sealed
		if err != nil {
			return err
		}
		switch cm.name {
		case timeColumn:
			times = c.Ints
		case IngestionTimeColumn:
			for i, ok := range c.Valid {
				if ok {
					ingested[i] = c.Ints[i]
				}
			}
		default:
			cols = append(cols, srcColumn{name: cm.name, typ: cm.typ, cells: columnCells(&c)})
		}
	}
	if len(times) != bm.rows {
		return corruptf("block without its times")
	}
	return m.classFor(cols).add(ctx, m, times, ingested, cols)
}

// columnCells turns a decoded column back into the cells a flush encodes,
// so that encoding them again gives the column its type again: strings are
// marked text (never read again as datetimes), datetimes stay datetimes.
// The cells refer to the column's bytes.
func columnCells(c *Column) []cell {
	cells := make([]cell, len(c.Valid))
	switch c.Type {
	case TypeLong, TypeDatetime:
		for i, ok := range c.Valid {
			if ok {
				cells[i] = cell{kind: c.Type, i: c.Ints[i]}
			}
		}
	case TypeReal:
		for i, ok := range c.Valid {
			if ok {
				cells[i] = cell{kind: TypeReal, i: int64(math.Float64bits(c.Reals[i]))}
			}
		}
	case TypeBool:
		for i, ok := range c.Valid {
			if ok && c.Bools[i] {
				cells[i] = cell{kind: TypeBool, i: 1}
			} else if ok {
				cells[i] = cell{kind: TypeBool}
			}
		}
	case TypeString, TypeDynamic:
		text := c.Type == TypeString
		switch {
		case c.raw != nil:
			start, j := 0, 0
			for i, ok := range c.Valid {
				if ok {
					end := c.raw.ends[j]
					cells[i] = cell{kind: c.Type, text: text, s: c.raw.data[start:end:end]}
					start = end
					j++
				}
			}
		case c.Dict != nil:
			dict := make([][]byte, len(c.Dict))
			for k, v := range c.Dict {
				dict[k] = []byte(v)
			}
			for i, ok := range c.Valid {
				if ok {
					cells[i] = cell{kind: c.Type, text: text, s: dict[c.Codes[i]]}
				}
			}
		default:
			for i, ok := range c.Valid {
				if ok {
					cells[i] = cell{kind: c.Type, text: text, s: []byte(c.Strings[i])}
				}
			}
		}
	}
	return cells
}

// mergeClass gathers the rows of blocks whose columns have the same types,
// until they fill a block.
type mergeClass struct {
	types    map[string]Type
	times    []int64
	ingested []int64
	names    []string          // the columns, in the order first seen
	cells    map[string][]cell // of the rows so far; shorter: null after
}

// classFor is the class of a block's columns: the first whose types agree
// with theirs, or a new one.
func (m *merger) classFor(cols []srcColumn) *mergeClass {
	fits := func(c *mergeClass) bool {
		for _, col := range cols {
			if t, ok := c.types[col.name]; ok && t != col.typ {
				return false
			}
		}
		return true
	}
	for _, c := range m.classes {
		if fits(c) {
			return c
		}
	}
	c := &mergeClass{types: make(map[string]Type), cells: make(map[string][]cell)}
	m.classes = append(m.classes, c)
	return c
}

// add appends a block's rows, emitting every block they fill.
func (c *mergeClass) add(ctx context.Context, m *merger, times, ingested []int64, cols []srcColumn) error {
	for _, col := range cols {
		if _, ok := c.types[col.name]; !ok {
			c.types[col.name] = col.typ
			c.names = append(c.names, col.name)
		}
	}
	limit := m.t.st.cfg.BlockRows
	for lo := 0; lo < len(times); {
		k := min(len(times)-lo, limit-len(c.times))
		base := len(c.times)
		c.times = append(c.times, times[lo:lo+k]...)
		c.ingested = append(c.ingested, ingested[lo:lo+k]...)
		for _, col := range cols {
			cs := c.cells[col.name]
			for len(cs) < base {
				cs = append(cs, cell{})
			}
			c.cells[col.name] = append(cs, col.cells[lo:lo+k]...)
		}
		lo += k
		if len(c.times) == limit {
			if err := m.emit(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// emit writes the rows of c, sorted by time, as the next block.
func (m *merger) emit(ctx context.Context, c *mergeClass) error {
	n := len(c.times)
	if n == 0 {
		return nil
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return cmp.Compare(c.times[a], c.times[b]) })
	bb := m.bb
	bb.reset()
	for _, i := range perm {
		bb.times = append(bb.times, c.times[i])
		bb.ingested = append(bb.ingested, c.ingested[i])
		if c.ingested[i] != unknownIngest {
			bb.known++
		}
	}
	for _, name := range c.names {
		cs := c.cells[name]
		c.cells[name] = cs[:0]
		if !slices.ContainsFunc(cs, func(v cell) bool { return v.kind != TypeNull }) {
			continue // no value in these rows: no column, as a flush writes none
		}
		col := bb.byName[name]
		if col == nil {
			col = &colCells{name: name}
			bb.byName[name] = col
			bb.cols = append(bb.cols, col)
		}
		col.cells = slices.Grow(col.cells[:0], n)[:n]
		for j, i := range perm {
			col.cells[j] = cell{}
			if i < len(cs) {
				col.cells[j] = cs[i]
			}
		}
	}
	c.times, c.ingested = c.times[:0], c.ingested[:0]
	return m.writeBlock(ctx, bb)
}

// writeBlock writes one block through the flush's segment writer, starting
// a new segment when the object key's seal budget would be spent.
func (m *merger) writeBlock(ctx context.Context, bb *blockBuilder) error {
	t := m.t
	if m.w != nil && m.w.full(len(bb.columns())+2) {
		if err := m.finish(); err != nil {
			return err
		}
	}
	if m.w == nil {
		w, err := t.st.newSegWriter(ctx, t.dir, t.ws, t.name, t.lineage, m.sealer)
		if err != nil {
			return err
		}
		m.w, m.wMin, m.wMax = w, math.MaxInt64, math.MinInt64
	}
	if err := m.w.writeBlock(bb); err != nil {
		return err
	}
	for _, v := range bb.times {
		m.wMin, m.wMax = min(m.wMin, v), max(m.wMax, v)
	}
	if !m.partial {
		m.partial = true
		t.st.hook(stepPartial)
	}
	return m.pace.pause(ctx)
}

// finish names the segment being written.
func (m *merger) finish() error {
	name := segName{minT: m.wMin, maxT: m.wMax, walSeq: m.seq, part: len(m.out)}
	f, err := m.w.finish(name)
	m.w = nil
	if err != nil {
		return err
	}
	m.out = append(m.out, f)
	return nil
}

// discard removes what a merge that did not commit wrote. Once its files
// are gone the merge is no longer under way; a crash before leaves them for
// the next open, which removes them.
func (m *merger) discard() {
	t := m.t
	if m.w != nil {
		m.w.abort()
		m.w = nil
	}
	gone := true
	for _, f := range m.out {
		key := segmentKey(t.ws, t.name, t.lineage, f.name)
		t.st.indexes.forget(key)
		if err := t.st.objects.delete(t.st.ctx, key); err != nil {
			gone = false
		}
	}
	if gone {
		t.mu.Lock()
		t.merge.pending = slices.DeleteFunc(t.merge.pending, func(s uint64) bool { return s == m.seq })
		t.mu.Unlock()
	}
}

// commit lists the merged segments in place of srcs, and the srcs as
// retired, in one manifest write; then removes the files of srcs no scan
// holds. A merge whose segments changed meanwhile (purged, found damaged)
// is discarded. A failed manifest write leaves the merge under way: its
// segments are removed by the next open, if the write did not happen.
func (m *merger) commit(ctx context.Context, srcs []segFile) (bool, error) {
	t := m.t
	t.mu.Lock()
	for t.writingManifest {
		if err := t.waitChangeLocked(ctx); err != nil {
			t.mu.Unlock()
			m.discard()
			return false, err
		}
	}
	if t.closed || !listsAll(t.segs, srcs) {
		closed := t.closed
		t.mu.Unlock()
		m.discard()
		if closed {
			return false, ErrClosed
		}
		return false, nil
	}
	gone := make(map[segName]bool, len(srcs))
	for _, s := range srcs {
		gone[s.name] = true
	}
	segs := slices.DeleteFunc(slices.Clone(t.segs), func(s segFile) bool { return gone[s.name] })
	segs = append(segs, m.out...)
	sortSegs(segs)
	view := t.merge.view + 1
	man := t.manifestLocked(nil)
	man.segs = segs
	man.merging = slices.DeleteFunc(man.merging, func(s uint64) bool { return s == m.seq })
	for _, s := range srcs {
		man.retired = append(man.retired, s.name)
	}
	hdr, err := t.writeManifest(ctx, man)
	if err != nil {
		t.mu.Unlock()
		return false, err
	}
	t.epoch, t.manHdr, t.segs = man.epoch, hdr, segs
	t.st.changed()
	t.merge.view, t.merge.pending = view, man.merging
	for _, s := range srcs {
		t.merge.retired = append(t.merge.retired, retiredSeg{name: s.name, view: view, at: t.st.cfg.Now().UnixNano()})
	}
	t.notifyLocked()
	t.mu.Unlock()
	t.st.hook(stepCommitted)

	t.mu.Lock()
	t.removeRetiredLocked()
	t.mu.Unlock()
	t.st.hook(stepRemoved)
	return true, nil
}

// listsAll reports whether segs still lists every one of srcs, undamaged
// and unchanged.
func listsAll(segs, srcs []segFile) bool {
	for _, s := range srcs {
		i := slices.IndexFunc(segs, func(f segFile) bool { return f.name == s.name })
		if i < 0 || segs[i].tag != s.tag || segs[i].damage != nil {
			return false
		}
	}
	return true
}

// pacer keeps a merge to a share of one core: after each block it pauses
// for as long as the share leaves of the time it worked.
type pacer struct {
	share float64
	since time.Time // when the work since the last pause began
}

func (p *pacer) start() { p.since = time.Now() }

func (p *pacer) pause(ctx context.Context) error {
	if p.share >= 1 {
		return ctx.Err()
	}
	wait := time.Duration(float64(time.Since(p.since)) * (1 - p.share) / p.share)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.since = time.Now()
	return nil
}
