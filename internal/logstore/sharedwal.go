package logstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// A store with a lineage may also keep every WAL record in a SharedWAL
// (Config.SharedWAL): a copy, off the node, of the records its local WALs
// hold, byte for byte — sealed under the workspace's key before they
// leave, the lineage bound into their AAD (walLineageVersion) — and the
// plaintext header of each WAL, which names the key to unseal them with.
// An ingest is acknowledged once its record is durable in both. The shared
// copy gives two things the local WALs cannot:
//
//   - every node's queries read the rows other nodes took and have not yet
//     flushed into segments (the lineages' tails, foreignTails);
//   - a lineage whose node lost its disk is opened again from it: a WAL the
//     manifest lists and the disk no longer holds is replayed from the
//     shared copy (replayShared), then flushed, as after a restart.
//
// The local WAL stays what a restart replays, its mark what tells a WAL
// cut short: the shared WAL is a copy, not the log, so that a node on its
// disk needs nothing of it to start, and a store without one is unchanged.
//
// Once a WAL's segments are published, its shared records are deleted: the
// shared WAL holds only what is not yet in segments, at most about three
// WALs (FlushBytes each, or FlushInterval old) per table and lineage.

// SharedWAL keeps the WAL records of the lineages of every table, off the
// node (package pgwal keeps them in PostgreSQL). Records are stored as
// given: what it holds is sealed, but for the headers (Ord -1), which hold
// what a WAL file's header holds on disk.
type SharedWAL interface {
	// Append stores the records durably and returns once they are: a
	// store acknowledges an ingest only after. Concurrent calls may share
	// one commit. A record already stored (same place) is an error.
	Append(ctx context.Context, recs []WALRecord) error
	// Read returns the records of one table that q selects, ordered by
	// lineage, WAL and ordinal.
	Read(ctx context.Context, q WALQuery) ([]WALRecord, error)
	// Prune removes the records of a lineage's WALs numbered below below,
	// but those of the WALs in keep: the others' rows are in published
	// segments, or were never acknowledged.
	Prune(ctx context.Context, workspace, table, lineage string, below uint64, keep []uint64) error
	// DeleteWorkspace removes every record of a workspace.
	DeleteWorkspace(ctx context.Context, workspace string) error
}

// WALRecord is one record of a lineage's WAL in a SharedWAL.
type WALRecord struct {
	Workspace, Table, Lineage string
	WAL                       uint64 // the WAL's sequence number in its lineage's table
	Ord                       int64  // the record's ordinal in its WAL; WALHeader: the WAL's header
	Data                      []byte // the record as the WAL file holds it: length, checksum, sealed payload
}

// WALHeader is the Ord of a WAL's header in a SharedWAL.
const WALHeader = -1

// WALQuery selects records of one table in a SharedWAL: those of Lineage,
// or, if it is empty, of every lineage but Except; of each WAL, those from
// the ordinal its cursor in From gives on (every one of a WAL without).
type WALQuery struct {
	Workspace, Table string
	Lineage, Except  string
	From             []WALCursor
}

// WALCursor is where a read of one WAL of a lineage starts: its records
// with an ordinal ≥ Next (WALHeader: all).
type WALCursor struct {
	Lineage string
	WAL     uint64
	Next    int64
}

// ErrSharedWALUnavailable is an ingest the shared WAL (Config.SharedWAL)
// did not confirm it made durable: nothing of it was acknowledged, and it
// may be sent again once the shared WAL answers. Its rows may still be
// kept, as after a failed fsync: a commit whose answer was lost, or a
// record the local WAL holds, is read by other nodes until its WAL is
// flushed, and replayed by a restart.
var ErrSharedWALUnavailable = errors.New("log store: the shared write-ahead log did not confirm it stored the rows")

// durable returns once record ord of g is durable: in its WAL file and,
// when sealed is given (a shared WAL), in the shared WAL, both written at
// once. A record the shared WAL failed to store is not acknowledged, and
// the WAL is rotated before the next append, so that the shared copy of a
// WAL lacks no record but those of failed calls.
func (t *table) durable(ctx context.Context, g *generation, ord uint64, sealed []byte) error {
	sh := t.st.cfg.SharedWAL
	if sh == nil {
		return g.wal.waitDurable(ord)
	}
	shared := make(chan error, 1)
	go func() {
		shared <- sh.Append(ctx, []WALRecord{{Workspace: t.ws, Table: t.name, Lineage: t.lineage, WAL: g.seq, Ord: int64(ord), Data: sealed}})
	}()
	err := g.wal.waitDurable(ord)
	serr := <-shared
	switch {
	case serr == nil:
		return err
	case ctx.Err() != nil && errors.Is(serr, ctx.Err()):
		// The caller gave up: not the shared WAL's failure. Its record may
		// be missing there all the same.
		g.sharedFailed.Store(true)
		return errors.Join(err, fmt.Errorf("the shared WAL: %w", serr))
	default:
		g.sharedFailed.Store(true)
		return errors.Join(err, fmt.Errorf("%w: %w", ErrSharedWALUnavailable, serr))
	}
}

// sharedWALs is a lineage's records in the shared WAL, by WAL: its header
// and its records by ordinal.
type sharedWALs map[uint64]*sharedWAL

type sharedWAL struct {
	hdr     []byte
	records map[int64][]byte
}

func groupShared(recs []WALRecord) sharedWALs {
	out := sharedWALs{}
	for _, r := range recs {
		w := out[r.WAL]
		if w == nil {
			w = &sharedWAL{records: map[int64][]byte{}}
			out[r.WAL] = w
		}
		if r.Ord == WALHeader {
			w.hdr = r.Data
			continue
		}
		w.records[r.Ord] = r.Data
	}
	return out
}

// ownShared reads this lineage's records of the table from the shared WAL,
// once per open.
func (t *table) ownShared(ctx context.Context, have *sharedWALs) (sharedWALs, error) {
	if *have != nil {
		return *have, nil
	}
	recs, err := t.st.cfg.SharedWAL.Read(ctx, WALQuery{Workspace: t.ws, Table: t.name, Lineage: t.lineage})
	if err != nil {
		return nil, fmt.Errorf("open table %s/%s: read the shared WAL: %w", t.ws, t.name, err)
	}
	*have = groupShared(recs)
	return *have, nil
}

// replayShared replays WAL w, which the manifest lists and the disk no
// longer holds (the node lost its disk), from the shared WAL; nil if the
// shared WAL does not hold it either. The shared WAL holds every record
// acknowledged; of a call refused because the shared WAL failed, a record
// may be in the WAL file only, as after a failed fsync: such a call was
// never acknowledged.
func (t *table) replayShared(ctx context.Context, w walEntry, have *sharedWALs) (*generation, error) {
	walName := walFileName(w.seq)
	damage := func(format string, args ...any) error {
		return &IntegrityError{Workspace: t.ws, Table: t.name, Object: walName, Problem: ProblemAuthentication,
			Detail: "in the shared WAL: " + fmt.Sprintf(format, args...)}
	}
	all, err := t.ownShared(ctx, have)
	if err != nil {
		return nil, err
	}
	sw := all[w.seq]
	if sw == nil || sw.hdr == nil {
		return nil, nil
	}
	hdr, _, err := decodeHeader(sw.hdr, magicWAL)
	if err != nil {
		return nil, damage("%v", err)
	}
	if hdr.version < walLineageVersion {
		return nil, damage("a WAL of version %d does not bind its lineage", hdr.version)
	}
	aead, err := t.st.aead(ctx, hdr, purposeWAL)
	if err != nil {
		return nil, fmt.Errorf("WAL %s/%s/%s: %w", t.ws, t.name, walName, err)
	}
	g := &generation{seq: w.seq, path: filepath.Join(t.dir, walName), hdr: hdr, leftovers: true}
	for _, ord := range slices.Sorted(maps.Keys(sw.records)) {
		if ord < 0 {
			return nil, damage("record %d", ord)
		}
		p, err := openRecord(aead, hdr, t.ws, t.name, t.lineage, w.seq, uint64(ord), sw.records[ord])
		if err != nil {
			return nil, damage("record %d: %v", ord, err)
		}
		ingested, payload, refs, err := decodeRecord(hdr.version, p)
		if err != nil {
			return nil, damage("record %d: %v", ord, err)
		}
		minT, maxT := timeRange(refs)
		g.mem.add(payload, refs, payloadShapes(payload, refs), minT, maxT, ingested)
		t.st.clock.observe(ingested)
		g.acknowledged++
	}
	if g.acknowledged < w.records {
		t.st.log.Warn("the shared WAL holds fewer records of a WAL than its listing; the others are of calls refused when it failed",
			"workspace", t.ws, "table", t.name, "wal", walName, "records", g.acknowledged, "listed", w.records)
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("open table %s/%s: %w", t.ws, t.name, err)
	}
	t.st.log.Info("replayed a WAL the disk lost from the shared WAL", "workspace", t.ws, "table", t.name, "wal", walName, "records", g.acknowledged)
	return g, nil
}

// The other lineages' rows not yet flushed are read from the shared WAL
// and kept, per table, by WAL (foreignTails): each query reads only the
// records stored since the last one, and a WAL's rows are dropped once its
// lineage's manifest no longer lists it (flushed: its segments hold them).
//
// A query reads the records first, then the lineages' pointers and
// manifests. A WAL's records are taken while the manifest read after them
// lists it; one flushed in between is left to its segments, which that
// manifest lists. So a row is read once, from its WAL or from its
// segment, and every row acknowledged before the query began is read.
// Each query takes the rows from the views its own read returned
// (tailView), not from what the table holds when it reaches its manifests:
// another query may have found the WAL flushed and dropped its rows
// meanwhile, while this query's older manifest still lists the WAL, not
// its segments.
//
// The rows are held decrypted, so they do not outlive the key, as the
// segments' decrypted indexes do not (see indexCache): a failure to derive
// any key drops them all (Store.dropDecrypted, foreignTails.sync), and the
// background loop derives their keys again at each tick
// (foreignTails.checkKeys).

// foreignTails is the other lineages' WALs of one table, as read so far.
type foreignTails struct {
	mu   sync.Mutex
	wals map[tailKey]*tailWAL
	// dropped is the store's count of drops (Store.dropped) the WALs were
	// read after.
	dropped uint64
}

type tailKey struct {
	lineage string
	seq     uint64
}

// tailWAL is one WAL of another lineage, as read so far from the shared
// WAL.
type tailWAL struct {
	hdr    header
	hasHdr bool
	next   int64 // every record before it is held
	have   map[int64]bool
	// mem is replaced, never emptied in place: the views a query took
	// keep reading the rows it held.
	mem *memtable
	// done: the WAL is flushed (or damaged), and never read again.
	done   bool
	damage *IntegrityError
}

// tailView is one WAL of another lineage as one read of the tails left it:
// what that query serves if its manifest lists the WAL.
type tailView struct {
	hdr    header
	mem    *memtable
	damage *IntegrityError
}

// maxTailWALs bounds the WALs a table's tails remember: past it, they start
// again empty (and read again).
const maxTailWALs = 4096

// dropLocked forgets every WAL read, and their decrypted rows.
func (f *foreignTails) dropLocked() { f.wals = nil }

// syncLocked drops the WALs read if the store dropped its decrypted
// caches since: a key failed to derive, maybe theirs.
func (f *foreignTails) syncLocked(st *Store) {
	if n := st.dropped.Load(); n != f.dropped {
		f.dropLocked()
		f.dropped = n
	}
}

// sync is syncLocked for a caller that does not hold f.mu.
func (f *foreignTails) sync(st *Store) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncLocked(st)
}

// checkKeys derives again the key of each WAL whose rows are held: one
// that is revoked or locked drops them all, so that their plaintext does
// not wait for the next read to go. A read under way holds f.mu across its
// call to the shared WAL, which may hang while the database does: the
// background loop must not wait for it, so the check is left to the next
// tick (and that read derives the keys itself).
func (f *foreignTails) checkKeys(st *Store) {
	if !f.mu.TryLock() {
		return
	}
	defer f.mu.Unlock()
	var hdrs []header
	for _, w := range f.wals {
		if w.mem != nil && w.hasHdr {
			hdrs = appendKeyHeader(hdrs, w.hdr)
		}
	}
	for _, hdr := range hdrs {
		if _, err := st.aead(st.ctx, hdr, purposeWAL); err != nil {
			f.syncLocked(st)
			return
		}
	}
}

// readTails reads the records stored since the last read, and returns the
// WALs not known to be flushed as they stand now.
func (t *table) readTails(ctx context.Context) (map[tailKey]tailView, error) {
	t.tails.mu.Lock()
	defer t.tails.mu.Unlock()
	t.tails.syncLocked(t.st)
	if t.tails.wals == nil || len(t.tails.wals) > maxTailWALs {
		t.tails.wals = map[tailKey]*tailWAL{}
	}
	q := WALQuery{Workspace: t.ws, Table: t.name, Except: t.lineage}
	for k, w := range t.tails.wals {
		next := w.next
		if w.done {
			next = math.MaxInt64
		} else if !w.hasHdr {
			next = WALHeader
		}
		q.From = append(q.From, WALCursor{Lineage: k.lineage, WAL: k.seq, Next: next})
	}
	recs, err := t.st.cfg.SharedWAL.Read(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: read the other nodes' rows not yet flushed from the shared WAL: %w", t.ws, t.name, err)
	}
	changed := false
	for _, r := range recs {
		k := tailKey{r.Lineage, r.WAL}
		w := t.tails.wals[k]
		if w == nil {
			w = &tailWAL{have: map[int64]bool{}, mem: &memtable{}}
			t.tails.wals[k] = w
		}
		if w.done {
			continue
		}
		c, err := t.takeTail(ctx, k, w, r)
		if err != nil {
			t.tails.syncLocked(t.st)
			return nil, err
		}
		changed = changed || c
	}
	if changed {
		t.st.changed() // rows with a column or type the schema may lack
	}
	views := make(map[tailKey]tailView, len(t.tails.wals))
	for k, w := range t.tails.wals {
		if !w.done || w.damage != nil {
			views[k] = tailView{hdr: w.hdr, mem: w.mem, damage: w.damage}
		}
	}
	return views, nil
}

// takeTail takes one record of another lineage's WAL w; what fails to open
// marks the WAL damaged, its rows withheld.
func (t *table) takeTail(ctx context.Context, k tailKey, w *tailWAL, r WALRecord) (bool, error) {
	damage := func(format string, args ...any) (bool, error) {
		w.done, w.mem = true, nil
		w.damage = &IntegrityError{Workspace: t.ws, Table: t.name, Object: k.lineage + "/" + walFileName(k.seq),
			Problem: ProblemAuthentication, Detail: "in the shared WAL: " + fmt.Sprintf(format, args...)}
		t.noteDamage(w.damage)
		return false, nil
	}
	if r.Ord == WALHeader {
		hdr, _, err := decodeHeader(r.Data, magicWAL)
		switch {
		case err != nil:
			return damage("%v", err)
		case hdr.version < walLineageVersion:
			return damage("a WAL of version %d does not bind its lineage", hdr.version)
		}
		w.hdr, w.hasHdr = hdr, true
		return false, nil
	}
	if r.Ord < w.next || w.have[r.Ord] {
		return false, nil
	}
	if !w.hasHdr {
		return damage("record %d has no header", r.Ord)
	}
	aead, err := t.st.aead(ctx, w.hdr, purposeWAL) // derived for each read: a revoked key stops it
	if err != nil {
		return false, fmt.Errorf("read %s/%s: %w", t.ws, t.name, err)
	}
	p, err := openRecord(aead, w.hdr, t.ws, t.name, k.lineage, k.seq, uint64(r.Ord), r.Data)
	if err != nil {
		return damage("record %d: %v", r.Ord, err)
	}
	ingested, payload, refs, err := decodeRecord(w.hdr.version, p)
	if err != nil {
		return damage("record %d: %v", r.Ord, err)
	}
	minT, maxT := timeRange(refs)
	changed := w.mem.add(payload, refs, payloadShapes(payload, refs), minT, maxT, ingested)
	w.have[r.Ord] = true
	for w.have[w.next] {
		delete(w.have, w.next)
		w.next++
	}
	return changed, nil
}

// tailBlocks is what a snapshot reads of the other lineages' WALs, of the
// views its read of the tails returned: the rows of those their manifests
// (f) list, and the damage of those that failed. A WAL no longer listed,
// and older than its lineage's next, was flushed: the table drops its
// rows.
func (t *table) tailBlocks(ctx context.Context, f foreign, views map[tailKey]tailView) ([]*memBlock, []*IntegrityError, error) {
	var blocks []*memBlock
	var damage []*IntegrityError
	for _, k := range slices.SortedFunc(maps.Keys(views), func(a, b tailKey) int {
		return cmp.Or(cmp.Compare(a.lineage, b.lineage), cmp.Compare(a.seq, b.seq))
	}) {
		v := views[k]
		l, ok := f.wals[k.lineage]
		switch {
		case f.retired[k.lineage]:
			t.tailFlushed(k) // adopted: its adopter's segments hold the rows
			continue
		case !ok:
			continue // no manifest read: a lineage damaged, or none yet
		case !l.listed[k.seq] && k.seq < l.nextSeq:
			t.tailFlushed(k)
			continue
		case !l.listed[k.seq]:
			continue // listed by a manifest newer than f
		case v.damage != nil:
			damage = append(damage, v.damage)
			continue
		}
		b := v.mem.view(t.st.cfg.BlockRows)
		if len(b) == 0 {
			continue
		}
		if _, err := t.st.aead(ctx, v.hdr, purposeWAL); err != nil {
			t.tails.sync(t.st)
			return nil, nil, fmt.Errorf("read %s/%s: %w", t.ws, t.name, err)
		}
		blocks = append(blocks, b...)
	}
	return blocks, damage, nil
}

// tailFlushed drops the rows of WAL k, which its lineage flushed; it is
// never read again.
func (t *table) tailFlushed(k tailKey) {
	t.tails.mu.Lock()
	defer t.tails.mu.Unlock()
	if w := t.tails.wals[k]; w != nil {
		w.done, w.mem, w.damage = true, nil, nil
	}
}

// FlushTail seals the rows lineage acknowledged and never flushed, which
// the shared WAL holds, into that lineage's segments and publishes them in
// its next manifest, as its own node would have: for a node that takes
// over the lineage of one that is gone with its disk (see foreignTails
// for what queries read meanwhile), or adopts it (AdoptLineage). The
// lineage must have no writer left:
// one that publishes meanwhile makes it fail with ErrLineageConflict. The
// WALs are replayed into a directory of their own, removed after.
func (st *Store) FlushTail(ctx context.Context, workspace, table, lineage string) error {
	switch {
	case st.cfg.SharedWAL == nil:
		return errors.New("log store: flushing another lineage's tail needs a shared WAL")
	case !validLineage(lineage):
		return fmt.Errorf("%w: lineage %q", ErrInvalidName, lineage)
	case lineage == st.cfg.Lineage:
		return st.FlushWorkspace(ctx, workspace, table)
	}
	if err := checkNames(workspace, table); err != nil {
		return err
	}
	st.users.Add(1) // see InUse
	defer st.users.Add(-1)
	dir, err := os.MkdirTemp(st.cfg.Dir, ".tail-*") // not a workspace's name
	if err != nil {
		return fmt.Errorf("flush the tail of %s/%s/%s: %w", workspace, table, lineage, err)
	}
	defer os.RemoveAll(dir)
	t := newTable(st, workspace, table)
	t.lineage, t.dir = lineage, filepath.Join(dir, workspace, table)
	defer t.close()
	if err := t.openAndFlush(ctx); err != nil {
		return fmt.Errorf("flush the tail of lineage %s: %w", lineage, err)
	}
	return nil
}
