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
	"slices"
	"strings"
)

// tableFiles is what a table's directory holds, by kind.
type tableFiles struct {
	wals        map[uint64]bool
	segs        map[segName]int64 // size
	hasManifest bool
}

// listFiles lists the table's objects and reads its local directory for
// WALs, removing the temporary files of writes that a crash cut short.
func (t *table) listFiles(ctx context.Context) (tableFiles, error) {
	files := tableFiles{wals: map[uint64]bool{}}
	var err error
	if files.segs, files.hasManifest, err = t.st.objects.listTable(ctx, t.ws, t.name, t.lineage); err != nil {
		return files, fmt.Errorf("open table %s/%s: %w", t.ws, t.name, err)
	}
	entries, err := os.ReadDir(t.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return files, fmt.Errorf("open table %s/%s: %w", t.ws, t.name, err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasSuffix(name, tmpExt):
			os.Remove(filepath.Join(t.dir, name))
		case strings.HasSuffix(name, walExt):
			if seq, ok := parseWALName(name); ok {
				files.wals[seq] = true
			}
		}
	}
	return files, nil
}

// openLocked checks the table's files against its manifest and replays its
// WALs. What a crash explains is repaired: a WAL or segments of a flush that
// did not finish, a WAL created but never listed, a torn tail past the
// acknowledged records. Anything else is damage: recorded, logged, kept on
// disk as it is, and refused to the scans that need it. A table without a
// manifest (new, or written before manifests) is adopted as it is.
func (t *table) openLocked(ctx context.Context) error {
	t.st.damage.clearTable(t.ws, t.name)
	files, err := t.listFiles(ctx)
	if err != nil {
		return err
	}
	rec, ptr, err := t.record(ctx)
	if err != nil {
		return fmt.Errorf("open table %s/%s: read the control plane's record: %w", t.ws, t.name, err)
	}
	if ptr != nil && ptr.Retired != 0 {
		// Not damage: the lineage goes on in its adopter's.
		return fmt.Errorf("open table %s/%s of lineage %s: %w", t.ws, t.name, t.lineage, ErrLineageAdopted)
	}
	recorded := rec.Epoch
	t.purgedBefore = rec.PurgedBefore
	var m *manifest
	var hdr header
	if ptr == nil || ptr.Epoch > 0 {
		m, hdr, err = t.readManifest(ctx, ptr)
	}
	var ie *IntegrityError
	switch {
	case errors.As(err, &ie):
		return t.breakLocked(ie)
	case err != nil:
		return err
	case m == nil && recorded > 0:
		return t.breakLocked(&IntegrityError{Workspace: t.ws, Table: t.name, Object: manifestName(t.lineage, recorded), Problem: ProblemMissing,
			Detail: fmt.Sprintf("the control plane records manifest epoch %d", recorded)})
	case m == nil:
		return t.adoptLocked(ctx, files)
	case m.epoch < recorded:
		return t.breakLocked(&IntegrityError{Workspace: t.ws, Table: t.name, Object: manifestFile, Problem: ProblemRolledBack,
			Detail: fmt.Sprintf("manifest epoch %d, the control plane records %d", m.epoch, recorded)})
	case m.epoch > recorded:
		// A crash between writing the manifest and recording its epoch.
		if err := t.st.ledger.SetEpoch(ctx, t.ws, t.name, m.epoch); err != nil {
			return fmt.Errorf("open table %s/%s: record the manifest epoch: %w", t.ws, t.name, err)
		}
	}
	t.epoch, t.manHdr, t.schema, t.nextSeq = m.epoch, hdr, m.schema, m.nextSeq
	t.segs = t.checkSegments(ctx, m, files)
	for _, s := range t.segs {
		if s.ingested.known {
			t.st.clock.observe(s.ingested.hi)
		}
	}
	gens, err := t.replayListed(ctx, m, files)
	if err != nil {
		return err
	}
	t.pruneShared(ctx, m, t.openPruneBelow(m)) // what a failed prune or a crash left
	return t.finishOpenLocked(gens)
}

// record reads the control plane's record of the table; with a lineage, of
// its lineage, whose pointer it returns too (nil without one).
func (t *table) record(ctx context.Context) (TableRecord, *Pointer, error) {
	if t.lineage == "" {
		rec, err := t.st.ledger.Table(ctx, t.ws, t.name)
		return rec, nil, err
	}
	ptrs, err := t.st.lineages.Lineages(ctx, t.ws, t.name)
	if err != nil {
		return TableRecord{}, nil, err
	}
	p := ptrs[t.lineage]
	return TableRecord{Epoch: p.Epoch, PurgedBefore: p.PurgedBefore}, &p, nil
}

// breakLocked marks the whole table damaged: its manifest cannot be trusted,
// so nothing of it can be.
func (t *table) breakLocked(ie *IntegrityError) error {
	t.broken, t.opened = ie, true
	t.noteDamage(ie)
	return ie
}

func (t *table) noteDamage(ie *IntegrityError) { t.st.foundDamage(ie) }

func (t *table) finishOpenLocked(gens []*generation) error {
	slices.SortFunc(gens, func(a, b *generation) int { return cmp.Compare(a.seq, b.seq) })
	t.flushing, t.opened = gens, true
	if len(gens) > 0 {
		t.st.log.Info("replayed write-ahead log", "workspace", t.ws, "table", t.name, "files", len(gens))
		t.startFlusherLocked()
	}
	return nil
}

// checkSegments compares the segments on disk with the manifest's. Segments
// a flush left unlisted (its WAL is still listed), those of a merge under
// way and those a merge retired are removed.
func (t *table) checkSegments(ctx context.Context, m *manifest, files tableFiles) []segFile {
	var segs []segFile
	for _, s := range m.segs {
		size, ok := files.segs[s.name]
		delete(files.segs, s.name)
		switch {
		case !ok && t.purged(s.name.maxT):
			continue // purged while the table was closed
		case !ok:
			s.damage = t.segDamage(s, ProblemMissing, fileGone)
		case size < s.size:
			s.damage = t.segDamage(s, ProblemTruncated, fmt.Sprintf("%d of %d bytes are left", size, s.size))
		case size != s.size:
			s.damage = t.segDamage(s, ProblemAuthentication, fmt.Sprintf("the file has %d bytes, the manifest lists %d", size, s.size))
		}
		segs = append(segs, s)
	}
	listed := map[uint64]bool{}
	for _, w := range m.wals {
		listed[w.seq] = true
	}
	for _, seq := range m.merging {
		listed[seq] = true
	}
	t.merge = mergeState{}
	for _, name := range slices.SortedFunc(maps.Keys(files.segs), cmpSegName) {
		key := segmentKey(t.ws, t.name, t.lineage, name)
		retired := slices.Contains(m.retired, name)
		if retired && t.st.cfg.RetiredGrace > 0 {
			// Other nodes may be reading it: removed once the grace is over.
			t.merge.retired = append(t.merge.retired, retiredSeg{name: name, at: t.st.cfg.Now().UnixNano()})
			continue
		}
		if listed[name.walSeq] || retired {
			t.st.indexes.forget(key)
			if err := t.st.objects.delete(ctx, key); err != nil {
				t.keepMergeLeftover(m, name, retired, err)
			}
			continue
		}
		t.noteDamage(&IntegrityError{Workspace: t.ws, Table: t.name, Object: t.segObject(name), Problem: ProblemUnexpected,
			Detail: "the manifest does not list this segment; it is not read"})
	}
	sortSegs(segs)
	return segs
}

// keepMergeLeftover keeps listing a segment of a merge that an open could
// not remove (retired, or of a merge under way), so that the next manifest
// still explains it, rather than the next open reporting it unexpected: a
// retired one is removed again after the next scan or merge, one of a merge
// under way by the next open.
func (t *table) keepMergeLeftover(m *manifest, name segName, retired bool, err error) {
	switch {
	case retired:
		t.merge.retired = append(t.merge.retired, retiredSeg{name: name})
	case slices.Contains(m.merging, name.walSeq) && !slices.Contains(t.merge.pending, name.walSeq):
		t.merge.pending = append(t.merge.pending, name.walSeq)
	default:
		return // of a WAL still listed, which explains it as long as it is
	}
	t.st.log.Warn("remove what a merge left; it is tried again later", "workspace", t.ws, "table", t.name,
		"segment", name.String(), "error", err)
}

// purged reports whether a segment whose rows end at maxT may be gone by
// retention: it is expired now, or was when a purge ran.
func (t *table) purged(maxT int64) bool {
	return t.st.expired(t.name, maxT) || maxT < t.purgedBefore
}

func cmpSegName(a, b segName) int { return strings.Compare(a.String(), b.String()) }

func (t *table) segDamage(s segFile, p Problem, detail string) *IntegrityError {
	ie := &IntegrityError{Workspace: t.ws, Table: t.name, Object: s.object(), Problem: p, Detail: detail,
		MinT: s.name.minT, MaxT: s.name.maxT}
	t.noteDamage(ie)
	return ie
}

// replayListed replays the WALs the manifest lists, and deals with the ones
// it does not: flushed (a crash came before the file was removed) or never
// used (a crash came before it was listed).
func (t *table) replayListed(ctx context.Context, m *manifest, files tableFiles) ([]*generation, error) {
	var gens []*generation
	var shared sharedWALs
	t.damagedWALs = nil
	for _, w := range m.wals {
		if !files.wals[w.seq] && t.st.cfg.SharedWAL != nil {
			g, err := t.replayShared(ctx, w, &shared)
			var ie *IntegrityError
			switch {
			case errors.As(err, &ie):
				t.damageWAL(w, nil, ie)
				continue
			case err != nil:
				return nil, err
			case g != nil:
				gens = append(gens, g)
				continue
			}
		}
		if !files.wals[w.seq] {
			// Without the file, only a final listing says which rows it held.
			var held *walMark
			if w.final {
				held = &walMark{}
			}
			t.damageWAL(w, held, &IntegrityError{Problem: ProblemMissing, Detail: fileGone})
			continue
		}
		delete(files.wals, w.seq)
		g, held, err := t.replay(ctx, w.seq, w.records)
		var ie *IntegrityError
		if errors.As(err, &ie) {
			t.damageWAL(w, held, ie)
			continue
		}
		if err != nil {
			return nil, err
		}
		gens = append(gens, g)
	}
	for _, seq := range slices.Sorted(maps.Keys(files.wals)) {
		path := filepath.Join(t.dir, walFileName(seq))
		if seq < m.nextSeq {
			os.Remove(path) // flushed: its segments are listed
			continue
		}
		r, err := t.st.readWAL(ctx, path, seq, t.ws, t.name, t.lineage, 0, false)
		if err == nil && len(r.payloads) == 0 {
			os.Remove(path)
			continue
		}
		ie := &IntegrityError{Workspace: t.ws, Table: t.name, Object: filepath.Base(path), Problem: ProblemUnexpected,
			Detail: "the manifest does not list this WAL; it is not read"}
		if err != nil && !errors.As(err, new(*IntegrityError)) {
			return nil, err
		}
		t.noteDamage(ie)
	}
	return gens, nil
}

// damageWAL withholds a listed WAL that lost acknowledged records. All its
// rows are withheld, so the rows at risk are those of every record it held:
// in the time range its listing, its own mark and its records still whole
// (held) name together. With held unknown (nil: the file's mark could not
// be read, or the file is gone and its listing was not final) or nothing
// known, every scan of the table is at risk. The wider
// listing stays in the manifest, so the loss keeps its range.
func (t *table) damageWAL(w walEntry, held *walMark, ie *IntegrityError) {
	ie.Workspace, ie.Table, ie.Object = t.ws, t.name, walFileName(w.seq)
	if held != nil {
		w.walMark = w.walMark.union(*held)
		if w.records > 0 {
			ie.MinT, ie.MaxT = w.minT, w.maxT
		}
	}
	t.noteDamage(ie)
	t.damagedWALs = append(t.damagedWALs, damagedWAL{entry: w, damage: ie})
}

// replay reads one WAL into a generation; acked is how many records the
// manifest knows were acknowledged. On damage it returns what the file
// still tells of the records it held (see damageWAL).
func (t *table) replay(ctx context.Context, seq, acked uint64) (*generation, *walMark, error) {
	g := &generation{seq: seq, path: filepath.Join(t.dir, walFileName(seq)), leftovers: true}
	r, err := t.st.replayWAL(ctx, g.path, seq, t.ws, t.name, t.lineage, acked)
	if err != nil {
		return nil, heldBy(r), err
	}
	g.hdr, g.acknowledged = r.hdr, max(acked, r.mark.records)
	for _, rec := range r.payloads {
		ingested, p, refs, err := decodeRecord(r.hdr.version, rec)
		if err != nil {
			return nil, heldBy(r), &IntegrityError{Workspace: t.ws, Table: t.name, Object: filepath.Base(g.path),
				Problem: ProblemAuthentication, Detail: err.Error()}
		}
		minT, maxT := timeRange(refs)
		g.mem.add(p, refs, payloadShapes(p, refs), minT, maxT, ingested)
		t.st.clock.observe(ingested)
	}
	return g, nil, nil
}

// heldBy is the count and time range of the records a WAL read held: its
// mark's, and its whole records'; nil if its mark could not be read.
func heldBy(r walReplay) *walMark {
	if !r.markRead {
		return nil
	}
	held := r.mark
	for _, rec := range r.payloads {
		_, _, refs, err := decodeRecord(r.hdr.version, rec)
		if err != nil || len(refs) == 0 {
			continue
		}
		lo, hi := timeRange(refs)
		held = held.union(walMark{records: 1, minT: lo, maxT: hi})
	}
	held.records = max(held.records, uint64(len(r.payloads)))
	return &held
}

// adoptLocked opens a table that has no manifest yet: a new one, or one
// written before manifests. Its files are taken as they are (after the
// crash repairs of that time: segments of a WAL that still exists are
// partial), and the manifest that lists them is written.
func (t *table) adoptLocked(ctx context.Context, files tableFiles) error {
	if len(files.wals) == 0 && len(files.segs) == 0 {
		t.opened = true
		return nil
	}
	t.damagedWALs = nil
	var gens []*generation
	for _, seq := range slices.Sorted(maps.Keys(files.wals)) {
		t.nextSeq = max(t.nextSeq, seq+1)
		g, held, err := t.replay(ctx, seq, 0)
		var ie *IntegrityError
		if errors.As(err, &ie) {
			t.damageWAL(walEntry{seq: seq}, held, ie) // listed as damaged, like any table's
			continue
		}
		if err != nil {
			t.damagedWALs = nil
			return err
		}
		gens = append(gens, g)
	}
	t.schema = map[string]Type{}
	t.segs = nil
	for _, name := range slices.SortedFunc(maps.Keys(files.segs), cmpSegName) {
		t.nextSeq = max(t.nextSeq, name.walSeq+1)
		if files.wals[name.walSeq] {
			key := segmentKey(t.ws, t.name, t.lineage, name)
			t.st.indexes.forget(key)
			t.st.objects.delete(ctx, key)
			continue
		}
		s, err := t.describeSegment(ctx, name, files.segs[name])
		if err != nil {
			return err
		}
		t.segs = append(t.segs, s)
	}
	sortSegs(t.segs)
	t.flushing = gens
	if err := t.saveManifestLocked(ctx, t.manifestLocked(nil)); err != nil {
		t.segs, t.flushing, t.schema, t.damagedWALs = nil, nil, nil, nil
		return err
	}
	t.st.log.Info("listed a table's files in a new manifest", "workspace", t.ws, "table", t.name,
		"segments", len(t.segs), "wals", len(gens))
	return t.finishOpenLocked(gens)
}

// describeSegment reads what the manifest lists of a segment: its rows, the
// tag of its index, and its columns (into t.schema). A segment that fails
// to open is listed as damaged.
func (t *table) describeSegment(ctx context.Context, name segName, size int64) (segFile, error) {
	s := segFile{name: name, size: size, lineage: t.lineage}
	r, err := t.st.openSegment(ctx, t.ws, t.name, segFile{name: name, lineage: t.lineage})
	var ie *IntegrityError
	if errors.As(err, &ie) {
		s.damage = ie
		t.noteDamage(ie)
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer r.close()
	s.tag, s.ingested = r.tag, blocksIngestRange(r.blocks)
	t.st.clock.observe(s.ingested.hi)
	for _, b := range r.blocks {
		s.rows += int64(b.rows)
		for _, c := range b.cols {
			if c.name != IngestionTimeColumn {
				noteType(t.schema, c.name, c.typ)
			}
		}
	}
	return s, nil
}

// openPruneBelow is below which an open prunes the shared records of WALs
// m does not list. Its own lineage's table has no writer but this one,
// which has created no WAL yet: every record past m.nextSeq is then a
// header stored by a crash before its WAL was listed, whose number the
// next WAL takes again. Another lineage's (FlushTail) may still have its
// writer, paused, about to list such a WAL: past m.nextSeq is left.
func (t *table) openPruneBelow(m *manifest) uint64 {
	if t.lineage == t.st.cfg.Lineage {
		return math.MaxInt64 // the shared WAL stores signed numbers
	}
	return m.nextSeq
}
