package logstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	dir      string
	ctx      context.Context // ends with Close or workspace deletion
	cancel   context.CancelFunc

	mu       sync.Mutex
	changed  chan struct{} // closed, and replaced, on every change below
	opened   bool
	closed   bool
	active   *generation
	flushing []*generation
	segs     []segFile
	nextSeq  uint64
	flusher  bool  // a flush loop runs
	flushErr error // why the last flush loop stopped
}

type segFile struct {
	name segName
	size int64
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
}

// memtable is the rows of one generation: payloads as written to the WAL.
type memtable struct {
	mu      sync.Mutex
	batches []memBatch
	rows    int
}

type memBatch struct {
	payload []byte
	refs    []rowRef
}

func (m *memtable) add(p []byte, refs []rowRef) {
	m.mu.Lock()
	m.batches = append(m.batches, memBatch{p, refs})
	m.rows += len(refs)
	m.mu.Unlock()
}

func (m *memtable) snapshot() []memBatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batches[:len(m.batches):len(m.batches)]
}

func newTable(st *Store, ws, name string) *table {
	t := &table{st: st, ws: ws, name: name, dir: filepath.Join(st.cfg.Dir, ws, name), changed: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(st.ctx)
	return t
}

func (t *table) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// openLocked replays the table's WALs: after a crash, segments flushed from
// a WAL that still exists may be partial, so they are deleted and the WAL
// flushed again.
func (t *table) openLocked(ctx context.Context) error {
	entries, err := os.ReadDir(t.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open table %s/%s: %w", t.ws, t.name, err)
	}
	var wals []uint64
	var segs []segFile
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasSuffix(name, tmpExt):
			os.Remove(filepath.Join(t.dir, name)) // a write a crash cut short
		case strings.HasSuffix(name, walExt):
			if seq, ok := parseWALName(name); ok {
				wals = append(wals, seq)
			}
		case strings.HasSuffix(name, segExt):
			if n, ok := parseSegName(name); ok {
				info, err := e.Info()
				if err != nil {
					return fmt.Errorf("open table %s/%s: %w", t.ws, t.name, err)
				}
				segs = append(segs, segFile{n, info.Size()})
			}
		}
	}
	slices.Sort(wals)
	var next uint64
	for _, seq := range wals {
		next = max(next, seq+1)
	}
	segs = slices.DeleteFunc(segs, func(s segFile) bool {
		next = max(next, s.name.walSeq+1)
		if _, unflushed := slices.BinarySearch(wals, s.name.walSeq); unflushed {
			t.st.indexes.forget(filepath.Join(t.dir, s.name.String()))
			os.Remove(filepath.Join(t.dir, s.name.String()))
			return true
		}
		return false
	})
	var gens []*generation
	for _, seq := range wals {
		g := &generation{seq: seq, path: filepath.Join(t.dir, walFileName(seq))}
		hdr, payloads, err := t.st.replayWAL(ctx, g.path, seq, t.ws, t.name)
		if err != nil {
			return err
		}
		g.hdr = hdr
		for _, p := range payloads {
			refs, err := indexPayload(p)
			if err != nil {
				return fmt.Errorf("WAL %s/%s/%s: %w", t.ws, t.name, filepath.Base(g.path), err)
			}
			g.mem.add(p, refs)
		}
		gens = append(gens, g)
	}
	sortSegs(segs)
	t.segs, t.flushing, t.nextSeq, t.opened = segs, gens, next, true
	if len(gens) > 0 {
		t.st.log.Info("replayed write-ahead log", "workspace", t.ws, "table", t.name, "files", len(gens))
		t.startFlusherLocked()
	}
	return nil
}

func sortSegs(segs []segFile) {
	slices.SortFunc(segs, func(a, b segFile) int { return cmp.Compare(a.name.minT, b.name.minT) })
}

// append writes payload to the active WAL, rotating it when full, when the
// current AEK changed or when its seal budget is spent, and waiting while
// the previous WAL is still being flushed. The caller waits for durability
// and then calls g.pending.Done.
func (t *table) append(ctx context.Context, sealer envelope.Sealer, payload []byte) (*generation, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	restarted := false
	for {
		if t.closed {
			return nil, 0, ErrClosed
		}
		if !t.opened {
			if err := t.openLocked(ctx); err != nil {
				return nil, 0, err
			}
		}
		if a := t.active; a != nil {
			size, records, failed := a.wal.state()
			if failed || size >= t.st.cfg.FlushBytes || records >= t.st.maxSeals || a.hdr.aekID != sealer.KeyID() {
				t.rotateLocked()
			}
		}
		if len(t.flushing) > maxImmutable {
			if !t.flusher {
				if t.flushErr != nil && restarted {
					return nil, 0, fmt.Errorf("flush earlier rows: %w", t.flushErr)
				}
				restarted = true
				t.startFlusherLocked()
			}
			if err := t.waitChangeLocked(ctx); err != nil {
				return nil, 0, err
			}
			continue
		}
		if t.active == nil {
			if err := os.MkdirAll(t.dir, 0o700); err != nil {
				return nil, 0, fmt.Errorf("create table: %w", err)
			}
			w, err := createWAL(t.dir, t.nextSeq, t.ws, t.name, sealer.KeyID())
			if err != nil {
				return nil, 0, err
			}
			t.nextSeq++
			t.active = &generation{seq: w.seq, path: w.path, hdr: w.hdr, wal: w, created: time.Now()}
		}
		break
	}
	g := t.active
	aead, err := sealer.AEAD(g.hdr.salt[:], purposeWAL)
	if err != nil {
		return nil, 0, fmt.Errorf("derive WAL key: %w", err)
	}
	ord, err := g.wal.append(aead, payload)
	if err != nil {
		return nil, 0, err
	}
	g.pending.Add(1)
	return g, ord, nil
}

func (t *table) rotateLocked() {
	t.flushing = append(t.flushing, t.active)
	t.active = nil
	t.startFlusherLocked()
	t.notifyLocked()
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
		segs, err := t.flushGeneration(t.ctx, g)
		if err != nil && t.ctx.Err() == nil { // when closing, the WAL is flushed after the next open
			t.st.log.Warn("flush failed; the WAL is kept", "workspace", t.ws, "table", t.name, "wal", filepath.Base(g.path), "error", err)
		}
		if err == nil {
			// Before the change is published, so that a Flush returns
			// with the WAL gone; scans read its rows from memory until
			// then. A WAL that stays is harmless: on the next open it is
			// replayed and its segments written again in place of these.
			if g.wal != nil {
				g.wal.close()
			}
			if err := os.Remove(g.path); err != nil {
				t.st.log.Warn("remove flushed WAL", "workspace", t.ws, "table", t.name, "error", err)
			}
		}
		t.mu.Lock()
		if err != nil {
			t.flusher, t.flushErr = false, err
			t.notifyLocked()
			t.mu.Unlock()
			return
		}
		t.segs = append(t.segs, segs...)
		sortSegs(t.segs)
		t.flushing = t.flushing[1:]
		t.notifyLocked()
		t.mu.Unlock()
	}
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

// memRow is one row of a memtable.
type memRow struct {
	p   []byte
	ref rowRef
}

// partitionNanos is the time span of one segment partition: an hour.
const partitionNanos = int64(3600e9)

// flushGeneration writes the rows of g into segments, one or more per hour
// of TimeGenerated, rows sorted by time, and makes their names durable.
func (t *table) flushGeneration(ctx context.Context, g *generation) ([]segFile, error) {
	g.pending.Wait()
	parts := make(map[int64][]memRow)
	for _, b := range g.mem.snapshot() {
		for _, r := range b.refs {
			k := floorDiv(r.time, partitionNanos)
			parts[k] = append(parts[k], memRow{b.payload, r})
		}
	}
	if err := t.removeSegmentsOf(g.seq); err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, nil
	}
	sealer, err := t.st.keys.Current(ctx)
	if err != nil {
		return nil, fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
	}
	var out []segFile
	bb := newBlockBuilder(nil)
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		rows := parts[k]
		slices.SortFunc(rows, func(a, b memRow) int { return cmp.Compare(a.ref.time, b.ref.time) })
		files, err := t.writeSegments(ctx, g.seq, len(out), sealer, bb, rows)
		if err != nil {
			return nil, fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
		}
		out = append(out, files...)
	}
	if err := syncDir(t.dir); err != nil {
		return nil, err
	}
	return out, nil
}

// writeSegments writes sorted rows as one segment, or more when one object
// key's seal budget would be spent.
func (t *table) writeSegments(ctx context.Context, walSeq uint64, part int, sealer envelope.Sealer, bb *blockBuilder, rows []memRow) ([]segFile, error) {
	var out []segFile
	var w *segWriter
	first := 0 // first row of w
	finish := func(last int) error {
		name := segName{minT: rows[first].ref.time, maxT: rows[last].ref.time, walSeq: walSeq, part: part + len(out)}
		size, err := w.finish(name)
		if err != nil {
			return err
		}
		out = append(out, segFile{name, size})
		w = nil
		return nil
	}
	for i := 0; i < len(rows); i += t.st.cfg.BlockRows {
		if err := ctx.Err(); err != nil {
			if w != nil {
				w.abort()
			}
			return nil, err
		}
		end := min(i+t.st.cfg.BlockRows, len(rows))
		bb.reset()
		for _, r := range rows[i:end] {
			if err := bb.add(r.p, r.ref); err != nil {
				if w != nil {
					w.abort()
				}
				return nil, err
			}
		}
		if w != nil && w.full(len(bb.columns())+1) {
			if err := finish(i - 1); err != nil {
				return nil, err
			}
		}
		if w == nil {
			var err error
			if w, err = t.st.newSegWriter(t.dir, t.ws, t.name, sealer); err != nil {
				return nil, err
			}
			first = i
		}
		if err := w.writeBlock(bb); err != nil {
			w.abort()
			return nil, err
		}
	}
	if err := finish(len(rows) - 1); err != nil {
		return nil, err
	}
	return out, nil
}

// removeSegmentsOf deletes segments a failed flush of WAL seq left behind.
func (t *table) removeSegmentsOf(seq uint64) error {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
	}
	for _, e := range entries {
		if n, ok := parseSegName(e.Name()); ok && n.walSeq == seq {
			t.st.indexes.forget(filepath.Join(t.dir, e.Name()))
			if err := os.Remove(filepath.Join(t.dir, e.Name())); err != nil {
				return fmt.Errorf("flush %s/%s: %w", t.ws, t.name, err)
			}
		}
	}
	return nil
}

// purge deletes the table's segments whose newest row is older than cutoff.
func (t *table) purge(cutoff int64) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	segs := t.segs
	if !t.opened {
		entries, err := os.ReadDir(t.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("purge %s/%s: %w", t.ws, t.name, err)
		}
		segs = nil
		for _, e := range entries {
			if n, ok := parseSegName(e.Name()); ok {
				segs = append(segs, segFile{name: n})
			}
		}
	}
	purged := 0
	var errs []error
	kept := segs[:0]
	for _, s := range segs {
		if s.name.maxT >= cutoff {
			kept = append(kept, s)
			continue
		}
		t.st.indexes.forget(filepath.Join(t.dir, s.name.String()))
		if err := os.Remove(filepath.Join(t.dir, s.name.String())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			kept = append(kept, s)
			continue
		}
		purged++
	}
	if t.opened {
		t.segs = kept
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
func (t *table) snapshot(ctx context.Context) ([]segFile, []memBatch, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, ErrClosed
	}
	if !t.opened {
		if err := t.openLocked(ctx); err != nil {
			return nil, nil, err
		}
	}
	segs := slices.Clone(t.segs)
	var mems []memBatch
	gens := slices.Clone(t.flushing)
	if t.active != nil {
		gens = append(gens, t.active)
	}
	for _, g := range gens {
		b := g.mem.snapshot()
		if len(b) == 0 {
			continue
		}
		if _, err := t.st.aead(ctx, g.hdr, purposeWAL); err != nil {
			return nil, nil, fmt.Errorf("read %s/%s: %w", t.ws, t.name, err)
		}
		mems = append(mems, b...)
	}
	return segs, mems, nil
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
	t.cancel()
	for t.flusher {
		t.waitChangeLocked(context.Background())
	}
	var errs []error
	for _, g := range append(t.flushing, t.active) {
		if g != nil && g.wal != nil {
			errs = append(errs, g.wal.close())
		}
	}
	t.notifyLocked()
	return errors.Join(errs...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
