package logstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// maxImmutable is how many full WALs may wait for their flush before ingest
// waits: one being flushed while the next fills keeps both cores busy and
// memory bounded.
const maxImmutable = 1

// table is the state of one table: the WAL being filled (active), full WALs
// being flushed, and the segments. Rows of a WAL are held in memory
// (memtable) until its segments are written, so that scans see them.
type table struct {
	st       *Store
	ws, name string
	lineage  string // this node's (Config.Lineage): the objects it writes
	// absorbed are the lineages this one adopted (adopt.go) since the
	// table opened: a snapshot does not take them from pointers read
	// before the adoption (lockWithOthers).
	absorbed map[string]bool
	dir      string
	ctx      context.Context // ends with Close or workspace deletion
	cancel   context.CancelFunc

	mu       sync.Mutex
	changed  chan struct{} // closed, and replaced, on every change below
	opened   bool
	closed   bool
	active   *generation
	flushing []*generation
	segs     []segFile // as the manifest lists them, damaged ones included
	nextSeq  uint64
	flusher  bool  // a flush loop runs
	flushErr error // why the last flush loop stopped
	// writingManifest is set while the flush loop writes a manifest
	// without holding mu; other changes of what it lists wait for it.
	writingManifest bool

	// The manifest: its epoch and header (whose key reading the schema
	// needs), the schema it holds, and the damage that keeps parts or all
	// of the table from being read.
	epoch       uint64
	manHdr      header
	schema      map[string]Type
	damagedWALs []damagedWAL
	broken      *IntegrityError // the manifest itself: nothing can be read
	// purgedBefore is the ledger's retention horizon (Unix ns).
	purgedBefore int64
	// merge is the table's part in compaction (compact.go).
	merge mergeState
	// tails are the other lineages' rows not yet flushed, read from the
	// shared WAL (sharedwal.go).
	tails foreignTails
}

// segFile is a segment as the manifest lists it.
type segFile struct {
	name     segName
	lineage  string // whose segment it is: "" in a store in no cluster
	size     int64
	rows     int64
	tag      [indexTagSize]byte // of the sealed index
	ingested ingestRange        // of its rows' ingestion times
	damage   *IntegrityError    // found on open or read; nil: none known
}

// object is the segment's name as damage names it: with its lineage, if
// it has one, as two lineages may hold segments of one name.
func (s segFile) object() string {
	if s.lineage == "" {
		return s.name.String()
	}
	return s.lineage + "/" + s.name.String()
}

// segObject is the name damage gives the table's own segment n.
func (t *table) segObject(n segName) string { return segFile{name: n, lineage: t.lineage}.object() }

// ingestRange is the range of the ingestion times of a segment's rows, an
// unknown time counting as unknownIngest; known is false when the range was
// not recorded (a segment listed before manifests held it).
type ingestRange struct {
	known  bool
	lo, hi int64
}

// blocksIngestRange is the range of the ingestion times of a segment's
// blocks.
func blocksIngestRange(blocks []blockMeta) ingestRange {
	r := ingestRange{known: true, lo: math.MaxInt64, hi: math.MinInt64}
	for i := range blocks {
		lo, hi := ingestSpan(&blocks[i])
		r.lo, r.hi = min(r.lo, lo), max(r.hi, hi)
	}
	return r
}

// damagedWAL is a WAL that lost acknowledged records (or all of them): it
// stays listed, and its rows are withheld, so that the loss stays evident.
type damagedWAL struct {
	entry  walEntry
	damage *IntegrityError
}

// generation is one WAL file and the rows it holds.
type generation struct {
	seq     uint64
	path    string
	hdr     header
	wal     *walWriter // nil when replayed: only new WALs take appends
	created time.Time
	mem     memtable
	pending sync.WaitGroup // appends written but not yet in mem
	// acknowledged is, for a replayed WAL, how many of its records the
	// manifest or its mark vouched for: whole records past them, written by
	// a writer that crashed before its sync, are served but may not be on
	// stable storage, so no manifest vouches for them.
	acknowledged uint64
	// leftovers: segments of this WAL may be stored already, from a flush
	// that failed or, for a replayed WAL, one a crash cut short; the next
	// flush removes them first. A new WAL has none, and its flush lists no
	// objects.
	leftovers bool
	// sharedFailed: a record of the WAL could not be stored in the shared
	// WAL, whose copy of it now lacks a record; the next append rotates.
	sharedFailed atomic.Bool
}

// acked is the WAL's entry for the manifest: the records acknowledged so
// far, and the time range of every row it holds.
func (g *generation) acked() walEntry {
	if g.wal != nil {
		mark, final := g.wal.acked()
		return walEntry{seq: g.seq, walMark: mark, final: final}
	}
	m := g.mem.mark()
	m.records = min(m.records, g.acknowledged)
	return walEntry{seq: g.seq, walMark: m, final: true} // replayed: nothing more is appended
}

// oldestUnflushed returns the earliest ingestion time of the rows of the
// table's WALs: a WAL leaves t.flushing only once the manifest listing its
// segments is published.
func (t *table) oldestUnflushed() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var oldest int64
	found := false
	for _, g := range append(slices.Clone(t.flushing), t.active) {
		if g == nil {
			continue
		}
		if o, ok := g.mem.oldestIngest(); ok && (!found || o < oldest) {
			oldest, found = o, true
		}
	}
	return oldest, found
}

// timeRange is the range of the rows' TimeGenerated.
func timeRange(refs []rowRef) (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for _, r := range refs {
		lo, hi = min(lo, r.time), max(hi, r.time)
	}
	return lo, hi
}

func newTable(st *Store, ws, name string) *table {
	t := &table{st: st, ws: ws, name: name, lineage: st.cfg.Lineage, dir: filepath.Join(st.cfg.Dir, ws, name), changed: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(st.ctx)
	return t
}

func (t *table) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func sortSegs(segs []segFile) {
	slices.SortFunc(segs, func(a, b segFile) int { return cmp.Compare(a.name.minT, b.name.minT) })
}

// append writes rec to the active WAL, rotating it when full, when the
// current AEK changed or when its seal budget is spent, and waiting while
// the previous WAL is still being flushed. The record's first bytes get its
// ingestion time, which the store's clock holds in flight: the caller waits
// for durability, then calls t.st.clock.done and g.pending.Done. With a
// shared WAL, it returns the record as written, for the caller to store
// there too.
func (t *table) append(ctx context.Context, sealer envelope.Sealer, rec []byte, minT, maxT int64) (*generation, uint64, int64, []byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	restarted := false
	for {
		if err := t.readyLocked(ctx); err != nil {
			return nil, 0, 0, nil, err
		}
		if a := t.active; a != nil {
			size, records, failed := a.wal.state()
			if failed || a.sharedFailed.Load() || size >= t.st.cfg.FlushBytes || records >= t.st.maxSeals || a.hdr.aekID != sealer.KeyID() {
				t.rotateLocked()
			}
		}
		if len(t.flushing) > maxImmutable {
			if !t.flusher {
				if t.flushErr != nil && restarted {
					return nil, 0, 0, nil, fmt.Errorf("flush earlier rows: %w", t.flushErr)
				}
				restarted = true
				t.startFlusherLocked()
			}
			if err := t.waitChangeLocked(ctx); err != nil {
				return nil, 0, 0, nil, err
			}
			continue
		}
		if t.active == nil && t.writingManifest {
			if err := t.waitChangeLocked(ctx); err != nil {
				return nil, 0, 0, nil, err
			}
			continue
		}
		if t.active == nil {
			if err := os.MkdirAll(t.dir, 0o700); err != nil {
				return nil, 0, 0, nil, fmt.Errorf("create table: %w", err)
			}
			t.st.changed() // Tables lists it from now on
			if err := t.startWALLocked(ctx, sealer); err != nil {
				return nil, 0, 0, nil, err
			}
		}
		break
	}
	g := t.active
	aead, err := sealer.AEAD(g.hdr.salt[:], purposeWAL)
	if err != nil {
		return nil, 0, 0, nil, fmt.Errorf("derive WAL key: %w", err)
	}
	// Stamped under t.mu, right before the write: the instant the record is
	// committed to the WAL.
	stamp := t.st.clock.stamp()
	putIngestTime(rec, stamp)
	ord, sealed, err := g.wal.append(aead, rec, minT, maxT, t.st.cfg.SharedWAL != nil)
	if err != nil {
		t.st.clock.done(stamp)
		return nil, 0, 0, nil, err
	}
	g.pending.Add(1)
	t.st.cfg.Budget.charge(t, int64(len(rec)))
	return g, ord, stamp, sealed, nil
}

// startWALLocked creates the next WAL and lists it in the manifest before
// anything is appended to it: from then on, its loss is damage. A WAL whose
// listing failed stays empty; the next open removes it.
func (t *table) startWALLocked(ctx context.Context, sealer envelope.Sealer) error {
	w, err := createWAL(t.dir, t.nextSeq, t.ws, t.name, t.lineage, sealer.KeyID())
	if err != nil {
		return err
	}
	t.nextSeq++
	if sh := t.st.cfg.SharedWAL; sh != nil {
		// The header goes first: a record is read with the key it names.
		hdr := WALRecord{Workspace: t.ws, Table: t.name, Lineage: t.lineage, WAL: w.seq, Ord: WALHeader, Data: w.hdr.encode()}
		if err := sh.Append(ctx, []WALRecord{hdr}); err != nil {
			w.close()
			return fmt.Errorf("%w: %w", ErrSharedWALUnavailable, err)
		}
	}
	g := &generation{seq: w.seq, path: w.path, hdr: w.hdr, wal: w, created: time.Now()}
	m := t.manifestLocked(nil)
	m.wals = append(m.wals, walEntry{seq: g.seq})
	if err := t.saveManifestLocked(ctx, m); err != nil {
		w.close()
		return err
	}
	t.active = g
	return nil
}

// manifestLocked is the table's next manifest as it stands, without the
// WAL skip (being flushed away).
func (t *table) manifestLocked(skip *generation) *manifest {
	m := &manifest{epoch: t.epoch + 1, nextSeq: t.nextSeq, segs: t.segs, schema: t.schema}
	for _, g := range t.flushing {
		if g != skip {
			m.wals = append(m.wals, g.acked())
		}
	}
	if t.active != nil && t.active != skip {
		m.wals = append(m.wals, t.active.acked())
	}
	for _, d := range t.damagedWALs {
		m.wals = append(m.wals, d.entry)
	}
	m.merging, m.retired = t.merge.listed()
	return m
}

// saveManifestLocked writes m and makes it the table's.
func (t *table) saveManifestLocked(ctx context.Context, m *manifest) error {
	hdr, err := t.writeManifest(ctx, m)
	if err != nil {
		return err
	}
	t.epoch, t.manHdr = m.epoch, hdr
	return nil
}

func (t *table) rotateLocked() {
	t.st.cfg.Budget.rotated(t)
	t.flushing = append(t.flushing, t.active)
	t.active = nil
	t.startFlusherLocked()
	t.notifyLocked()
}

// rotateForBudget rotates the active WAL if it has rows: the node's
// unflushed rows are over its MemoryBudget, and this WAL is the largest.
func (t *table) rotateForBudget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.active == nil {
		return
	}
	if _, records, _ := t.active.wal.state(); records > 0 {
		t.rotateLocked()
	}
}

// rotateAged rotates the active WAL if it has rows and is older than age.
func (t *table) rotateAged(age time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.active == nil || time.Since(t.active.created) < age {
		return
	}
	if _, records, _ := t.active.wal.state(); records > 0 {
		t.rotateLocked()
	}
}

func (t *table) startFlusherLocked() {
	if t.flusher || t.closed || len(t.flushing) == 0 {
		return
	}
	t.flusher, t.flushErr = true, nil
	t.st.wg.Add(1)
	go t.flushLoop()
}

// flushLoop flushes full WALs in order until none is left or one fails; a
// failed WAL stays and is tried again by the next rotation or Flush.
func (t *table) flushLoop() {
	defer t.st.wg.Done()
	for {
		t.mu.Lock()
		if len(t.flushing) == 0 || t.closed {
			t.flusher = false
			t.notifyLocked()
			t.mu.Unlock()
			return
		}
		g := t.flushing[0]
		t.mu.Unlock()
		segs, cols, err := t.flushGeneration(t.ctx, g)
		t.mu.Lock()
		if err == nil {
			err = t.publishFlushLocked(g, segs, cols)
		}
		t.writingManifest = false
		if err != nil {
			g.leftovers = true
			if t.ctx.Err() == nil { // when closing, the WAL is flushed after the next open
				t.st.log.Warn("flush failed; the WAL is kept", "workspace", t.ws, "table", t.name, "wal", filepath.Base(g.path), "error", err)
			}
			t.flusher, t.flushErr = false, err
			t.notifyLocked()
			t.mu.Unlock()
			return
		}
		t.notifyLocked()
		t.mu.Unlock()
	}
}

// pruneShared deletes the shared WAL's records of the WALs numbered below
// below that manifest m does not list: their rows are in its segments (or,
// a WAL whose listing failed, were never acknowledged). Records a failed
// prune left are harmless, as readers take a WAL's records only while its
// manifest lists it, and go with the next prune.
func (t *table) pruneShared(ctx context.Context, m *manifest, below uint64) {
	sh := t.st.cfg.SharedWAL
	if sh == nil {
		return
	}
	keep := make([]uint64, 0, len(m.wals))
	for _, w := range m.wals {
		keep = append(keep, w.seq)
	}
	if err := sh.Prune(ctx, t.ws, t.name, t.lineage, below, keep); err != nil && ctx.Err() == nil {
		t.st.log.Warn("delete flushed WALs' shared records", "workspace", t.ws, "table", t.name, "error", err)
	}
}

// publishFlushLocked lists the segments flushed from g in the manifest in
// place of g, then removes g's file: before the change is published, so
// that a Flush returns with the WAL gone; scans read its rows from memory
// until then. A WAL left behind by a crash is no longer listed, and the next
// open removes it. With a shared WAL, g's records there are deleted once the
// manifest is published, before g leaves t.flushing. The manifest is
// written with t.mu released, so that
// appends go on during its syncs (which may wait for the segments' data to
// reach the disk); t.writingManifest keeps the manifest writes of new WALs,
// and purges, waiting meanwhile. The caller clears it.
func (t *table) publishFlushLocked(g *generation, segs []segFile, cols map[string]Type) error {
	m := t.manifestLocked(g)
	m.segs = append(slices.Clone(t.segs), segs...)
	sortSegs(m.segs)
	m.schema = maps.Clone(t.schema)
	if m.schema == nil {
		m.schema = make(map[string]Type, len(cols))
	}
	for name, typ := range cols {
		noteType(m.schema, name, typ)
	}
	t.writingManifest = true
	t.mu.Unlock()
	hdr, err := t.writeManifest(t.ctx, m)
	if err == nil {
		t.pruneShared(t.ctx, m, m.nextSeq) // before g leaves t.flushing, so that a Flush returns with it gone
	}
	t.mu.Lock()
	if err != nil {
		return err
	}
	t.epoch, t.manHdr = m.epoch, hdr
	t.segs, t.schema = m.segs, m.schema
	t.st.changed()
	t.flushing = slices.DeleteFunc(t.flushing, func(f *generation) bool { return f == g })
	if g.wal != nil {
		g.wal.close()
	}
	if err := os.Remove(g.path); err != nil && !errors.Is(err, fs.ErrNotExist) { // replayed from the shared WAL
		t.st.log.Warn("remove flushed WAL", "workspace", t.ws, "table", t.name, "error", err)
	}
	return nil
}

// flush rotates the active WAL and waits until every WAL is flushed.
func (t *table) flush(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !t.opened {
		return nil
	}
	if t.active != nil {
		t.rotateLocked()
	}
	t.startFlusherLocked()
	for len(t.flushing) > 0 {
		if !t.flusher {
			return fmt.Errorf("flush %s/%s: %w", t.ws, t.name, t.flushErr)
		}
		if err := t.waitChangeLocked(ctx); err != nil {
			return err
		}
	}
	return nil
}

// openAndFlush is flush, for a table opened first if it is not yet: its
// WALs replayed, then flushed.
func (t *table) openAndFlush(ctx context.Context) error {
	t.mu.Lock()
	err := t.readyLocked(ctx)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	return t.flush(ctx)
}

// waitChangeLocked releases t.mu until the table's state changes or ctx
// ends, and takes it again.
func (t *table) waitChangeLocked(ctx context.Context) error {
	ch := t.changed
	t.mu.Unlock()
	defer t.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// memRow is one row of a memtable: the batch that holds it (whose payload
// and ingestion time it shares), and where. Small, as a flush sorts them.
type memRow struct {
	b   *memBatch
	ref rowRef
}

// partitionNanos is the time span of one segment partition: an hour.
const partitionNanos = int64(3600e9)

// flushGeneration writes the rows of g into segments, one or more per hour
// of TimeGenerated, rows sorted by time, and makes their names durable.
func (t *table) flushGeneration(ctx context.Context, g *generation) ([]segFile, map[string]Type, error) {
	g.pending.Wait()
	parts := make(map[int64][]memRow)
	batches := g.mem.snapshot()
	for i := range batches {
		b := &batches[i]
		for _, r := range b.refs {
			k := floorDiv(r.time, partitionNanos)
			parts[k] = append(parts[k], memRow{b, r})
		}
	}
	if g.leftovers {
		if err := t.removeSegmentsOf(ctx, g.seq); err != nil {
			return nil, nil, err
		}
		g.leftovers = false
	}
	if len(parts) == 0 {
		return nil, nil, nil
	}
	sealer, err := t.st.keys.Current(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
	}
	var jobs []flushBlock
	for pi, k := range slices.Sorted(maps.Keys(parts)) {
		rows := parts[k]
		slices.SortFunc(rows, func(a, b memRow) int { return cmp.Compare(a.ref.time, b.ref.time) })
		for i := 0; i < len(rows); i += t.st.cfg.BlockRows {
			jobs = append(jobs, flushBlock{part: pi, rows: rows[i:min(i+t.st.cfg.BlockRows, len(rows))]})
		}
	}
	sw := segmentsWriter{ctx: ctx, t: t, walSeq: g.seq, sealer: sealer, cols: make(map[string]Type)}
	workers := cmp.Or(t.st.flushWorkers, min(runtime.GOMAXPROCS(0), maxFlushWorkers))
	err = t.st.encodeBlocks(ctx, jobs, workers, sw.write)
	if err == nil {
		err = sw.finish()
	}
	if err != nil {
		sw.abort()
		return nil, nil, fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
	}
	return sw.out, sw.cols, nil
}

// maxFlushWorkers bounds the goroutines that build one flush's blocks:
// each holds a block's parsed cells (some 7 MiB for 8,192 rows of twenty
// columns), and a flush is one of the node's ingest's consumers of CPU, not
// the only one.
const maxFlushWorkers = 4

// flushBlock is one block of a flush: rows of one time partition, sorted.
type flushBlock struct {
	part int // the partition's place among the flush's partitions
	rows []memRow
}

// encodeBlocks builds and encodes blocks on up to workers goroutines and
// hands them to write one at a time, in order. A worker takes a block only
// while fewer than 2×workers are built and not yet written, which bounds
// the memory the encoded blocks hold; their buffers go round again.
func (st *Store) encodeBlocks(ctx context.Context, blocks []flushBlock, workers int, write func(*flushBlock, *encodedBlock) error) error {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: a worker may wait for room in the window
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		eb  *encodedBlock
		err error
	}
	done := make([]chan result, len(blocks))
	for i := range done {
		done[i] = make(chan result, 1)
	}
	window := make(chan struct{}, 2*workers)
	free := make(chan *encodedBlock, 2*workers)
	var next atomic.Int64
	for range min(workers, len(blocks)) {
		wg.Go(func() {
			bw, _ := st.blockWorkers.Get().(*blockWorker)
			if bw == nil {
				bw = &blockWorker{bb: newBlockBuilder(nil), enc: st.blockEncoder()}
			}
			defer func() {
				bw.release()
				st.blockWorkers.Put(bw)
			}()
			for {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= len(blocks) {
					return
				}
				var eb *encodedBlock
				select {
				case eb = <-free:
				default:
					eb = new(encodedBlock)
				}
				err := bw.build(ctx, blocks[i].rows, eb)
				done[i] <- result{eb, err}
			}
		})
	}
	for i := range blocks {
		var r result
		select {
		case r = <-done[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		if err := ctx.Err(); err != nil {
			return err // select picks at random when both are ready: no block is sealed after a cancel
		}
		if err := write(&blocks[i], r.eb); err != nil {
			return err
		}
		free <- r.eb
		<-window
	}
	return nil
}

// blockWorker builds and encodes blocks, one at a time.
type blockWorker struct {
	bb  *blockBuilder
	enc blockEncoder
}

// release drops the builder's references to the rows, and the encoder's to
// the JSON text of the last dynamic column and the entries of the last
// dictionary, which the pool must not keep from being freed.
func (bw *blockWorker) release() {
	for _, c := range bw.bb.byName {
		clear(c.cells[:cap(c.cells)])
	}
	bw.bb.reset()
	clear(bw.enc.pages.json[:cap(bw.enc.pages.json)])
	clear(bw.enc.pages.dicts.dict[:cap(bw.enc.pages.dicts.dict)])
}

// build parses rows and encodes them into eb.
func (bw *blockWorker) build(ctx context.Context, rows []memRow, eb *encodedBlock) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bw.bb.reset()
	for _, r := range rows {
		if err := bw.bb.add(r.b.payload, r.ref, r.b.ingested); err != nil {
			return err
		}
	}
	bw.enc.encodeInto(bw.bb, eb)
	return nil
}

// segmentsWriter writes a flush's encoded blocks, in order, into segments:
// one or more per time partition, a new one when one object key's seal
// budget would be spent. The columns written, and their types, are noted in
// cols.
type segmentsWriter struct {
	ctx    context.Context // the flush's
	t      *table
	walSeq uint64
	sealer envelope.Sealer
	w      *segWriter
	part   int   // of w's blocks
	minT   int64 // of w's first row
	maxT   int64 // of w's last row so far
	out    []segFile
	cols   map[string]Type
}

func (s *segmentsWriter) write(fb *flushBlock, eb *encodedBlock) error {
	if s.w != nil && (fb.part != s.part || !s.w.fits(eb)) {
		if err := s.finish(); err != nil {
			return err
		}
	}
	if s.w == nil {
		w, err := s.t.st.newSegWriter(s.ctx, s.t.dir, s.t.ws, s.t.name, s.t.lineage, s.sealer)
		if err != nil {
			return err
		}
		s.w, s.part, s.minT = w, fb.part, fb.rows[0].ref.time
	}
	s.maxT = fb.rows[len(fb.rows)-1].ref.time
	return s.w.writeEncoded(eb)
}

// finish finishes the segment being written, if any.
func (s *segmentsWriter) finish() error {
	if s.w == nil {
		return nil
	}
	w := s.w
	s.w = nil
	f, err := w.finish(segName{minT: s.minT, maxT: s.maxT, walSeq: s.walSeq, part: len(s.out)})
	if err != nil {
		return err
	}
	for _, b := range w.blocks {
		for _, c := range b.cols {
			if c.name != IngestionTimeColumn {
				noteType(s.cols, c.name, c.typ)
			}
		}
	}
	s.out = append(s.out, f)
	return nil
}

// abort removes the segment being written, if any; the finished ones are
// removed by the next try (removeSegmentsOf).
func (s *segmentsWriter) abort() {
	if s.w != nil {
		s.w.abort()
		s.w = nil
	}
}

// removeSegmentsOf deletes segments a failed flush of WAL seq left behind.
func (t *table) removeSegmentsOf(ctx context.Context, seq uint64) error {
	segs, _, err := t.st.objects.listTable(ctx, t.ws, t.name, t.lineage)
	if err != nil {
		return fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
	}
	for n := range segs {
		if n.walSeq == seq {
			key := segmentKey(t.ws, t.name, t.lineage, n)
			t.st.indexes.forget(key)
			if err := t.st.objects.delete(ctx, key); err != nil {
				return fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
			}
		}
	}
	return nil
}

// purge deletes the table's segments whose newest row is older than cutoff.
// It needs no key, so it writes no manifest: the next one leaves them out,
// and an open meanwhile takes a listed segment that is gone and older than
// the horizon the ledger records as purged.
func (t *table) purge(ctx context.Context, cutoff int64) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.writingManifest {
		if err := t.waitChangeLocked(ctx); err != nil {
			return 0, err
		}
	}
	segs := t.segs
	if !t.opened {
		found, _, err := t.st.objects.listTable(ctx, t.ws, t.name, t.lineage)
		if err != nil {
			return 0, fmt.Errorf("purge %s/%s: %w", t.ws, t.name, err)
		}
		segs = nil
		for n := range found {
			segs = append(segs, segFile{name: n})
		}
		sortSegs(segs)
	}
	var expired bool
	for _, s := range segs {
		expired = expired || s.name.maxT < cutoff
	}
	if !expired {
		return 0, nil
	}
	// The horizon is recorded first, so that a segment gone by this purge
	// is never taken for a lost one.
	if err := t.recordPurge(ctx, cutoff); err != nil {
		return 0, fmt.Errorf("purge %s/%s: %w", t.ws, t.name, err)
	}
	t.purgedBefore = max(t.purgedBefore, cutoff)
	purged := 0
	var errs []error
	var kept []segFile
	for _, s := range segs {
		if s.name.maxT >= cutoff {
			kept = append(kept, s)
			continue
		}
		key := segmentKey(t.ws, t.name, t.lineage, s.name)
		t.st.indexes.forget(key)
		if err := t.st.objects.delete(ctx, key); err != nil {
			errs = append(errs, err)
			kept = append(kept, s)
			continue
		}
		purged++
	}
	if t.opened {
		t.segs = kept
		t.st.changed()
	}
	if err := errors.Join(errs...); err != nil {
		return purged, fmt.Errorf("purge %s/%s: %w", t.ws, t.name, err)
	}
	return purged, nil
}

// snapshot returns what a scan reads: the segments, and the rows of every
// WAL not yet flushed, consistently (a WAL's rows leave the memtables in the
// same step as its segments join the list). Reading a memtable needs the
// same key as reading its WAL: the check fails once the key is revoked.
func (t *table) snapshot(ctx context.Context) (tableSnapshot, error) {
	f, err := t.lockWithOthers(ctx)
	if err != nil {
		return tableSnapshot{}, err
	}
	defer t.mu.Unlock()
	snap, err := t.snapshotLocked(ctx)
	snap.add(f)
	return snap, err
}

// lockWithOthers reads the other lineages (others) and locks the table;
// it reads them again while they hold a lineage the table adopted
// meanwhile (adopt.go): read before the adoption committed, its rows are
// among the table's own segments now. Once it has, the lineage's pointer
// is retired, and no later read holds it.
func (t *table) lockWithOthers(ctx context.Context) (foreign, error) {
	for {
		f, err := t.others(ctx)
		if err != nil {
			return f, err
		}
		t.mu.Lock()
		if !t.heldAbsorbedLocked(f) {
			return f, nil
		}
		t.mu.Unlock()
	}
}

// heldAbsorbedLocked reports whether f holds segments or WALs of a lineage
// the table adopted.
func (t *table) heldAbsorbedLocked(f foreign) bool {
	for l := range t.absorbed {
		if _, ok := f.wals[l]; ok || slices.ContainsFunc(f.segs, func(s segFile) bool { return s.lineage == l }) {
			return true
		}
	}
	return false
}

// others is what a snapshot reads of the other lineages: their segments
// and, with a shared WAL, their rows not yet flushed, read before their
// manifests (see foreignTails).
func (t *table) others(ctx context.Context) (foreign, error) {
	shared := t.st.cfg.SharedWAL != nil
	var views map[tailKey]tailView
	if shared {
		var err error
		if views, err = t.readTails(ctx); err != nil {
			return foreign{}, err
		}
	}
	f, err := t.otherLineages(ctx)
	if !shared {
		return f, err
	}
	if err != nil {
		t.tails.sync(t.st) // a manifest's key failed: maybe the rows' too
		return f, err
	}
	mems, damage, err := t.tailBlocks(ctx, f, views)
	f.mems, f.damage = mems, append(f.damage, damage...)
	return f, err
}

// add takes the other lineages' segments, and rows not yet flushed, into
// the snapshot.
func (s *tableSnapshot) add(f foreign) {
	s.mems = append(s.mems, f.mems...)
	if len(f.segs) == 0 && len(f.damage) == 0 {
		return
	}
	s.segs = append(s.segs, f.segs...)
	sortSegs(s.segs)
	if s.schema == nil {
		s.schema = map[string]Type{}
	}
	for name, typ := range f.schema {
		noteType(s.schema, name, typ)
	}
	s.damage = append(s.damage, f.damage...)
}

// recordPurge records in the control plane that the table's segments
// older than cutoff are purged: with a lineage, in its pointer.
func (t *table) recordPurge(ctx context.Context, cutoff int64) error {
	if t.lineage == "" {
		return t.st.ledger.SetPurgedBefore(ctx, t.ws, t.name, cutoff)
	}
	return t.st.lineages.UpdateLineage(ctx, t.ws, t.name, t.lineage, func(p *Pointer) error {
		p.PurgedBefore = max(p.PurgedBefore, cutoff)
		return nil
	})
}

func (t *table) snapshotLocked(ctx context.Context) (tableSnapshot, error) {
	if err := t.readyLocked(ctx); err != nil {
		return tableSnapshot{}, err
	}
	if t.epoch > 0 {
		if _, err := t.st.aead(ctx, t.manHdr, purposeManifest); err != nil {
			return tableSnapshot{}, fmt.Errorf("read %s/%s: %w", t.ws, t.name, err)
		}
	}
	segs := slices.Clone(t.segs)
	var mems []*memBlock
	gens := slices.Clone(t.flushing)
	if t.active != nil {
		gens = append(gens, t.active)
	}
	for _, g := range gens {
		b := g.mem.view(t.st.cfg.BlockRows)
		if len(b) == 0 {
			continue
		}
		if _, err := t.st.aead(ctx, g.hdr, purposeWAL); err != nil {
			return tableSnapshot{}, fmt.Errorf("read %s/%s: %w", t.ws, t.name, err)
		}
		mems = append(mems, b...)
	}
	snap := tableSnapshot{segs: segs, mems: mems, schema: maps.Clone(t.schema), purgedBefore: t.purgedBefore}
	for _, d := range t.damagedWALs {
		snap.damage = append(snap.damage, d.damage)
	}
	return snap, nil
}

// tableSnapshot is what a scan or a schema read sees of a table.
type tableSnapshot struct {
	segs   []segFile
	mems   []*memBlock       // the rows of the WALs, built when first read
	schema map[string]Type   // of the segments
	damage []*IntegrityError // of WALs whose rows are withheld
	// purgedBefore is the retention horizon (Unix ns).
	purgedBefore int64
}

// readyLocked opens the table if it is not yet, and refuses if it is closed
// or its manifest is damaged.
func (t *table) readyLocked(ctx context.Context) error {
	if t.closed {
		return ErrClosed
	}
	if !t.opened {
		err := t.openLocked(ctx)
		t.st.changed() // opened, found damaged, or partly read
		if err != nil {
			return err
		}
	}
	if t.broken != nil {
		return t.broken
	}
	return nil
}

// close stops the table: its flush loop ends (a WAL being flushed stays for
// the next open) and its WALs are closed.
func (t *table) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.st.cfg.Budget.rotated(t) // its rows stay in the WAL, not in memory
	t.cancel()
	for t.flusher || t.merge.running {
		t.waitChangeLocked(context.Background())
	}
	var errs []error
	for _, g := range append(t.flushing, t.active) {
		if g != nil && g.wal != nil {
			errs = append(errs, g.wal.close())
		}
	}
	t.listFinalMarksLocked()
	t.notifyLocked()
	return errors.Join(errs...)
}

// listFinalMarksLocked lists the WALs' final acknowledged counts and time
// ranges in the manifest, so that a WAL lost while the node is down names
// the rows it held. Without the key it is skipped: each WAL's own mark
// still holds them.
func (t *table) listFinalMarksLocked() {
	if !t.opened || t.broken != nil || t.epoch == 0 || (t.active == nil && len(t.flushing) == 0) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.saveManifestLocked(ctx, t.manifestLocked(nil)); err != nil {
		t.st.log.Debug("closing without listing the WALs' final marks", "workspace", t.ws, "table", t.name, "error", err)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
