package logstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// VerifyReport is what Verify found in one workspace.
type VerifyReport struct {
	Tables  int
	Objects int   // manifests, segments and WALs authenticated
	Bytes   int64 // of sealed data read
	Damaged []IntegrityError
}

// Verify authenticates every sealed object of a workspace — each table's
// manifest, every chunk, index and bloom filter of every segment it lists,
// every record of every WAL — and checks the directory against the manifest.
// It reports bytes read to progress (if not nil), which may block to pace
// the work. Damage found is recorded (Damage) and returned; damage found
// before and not now (a file restored from a backup) is cleared, and a
// restored segment is read again. Any other failure (a revoked key) ends it
// with an error.
func (st *Store) Verify(ctx context.Context, workspace string, progress func(bytes int64)) (VerifyReport, error) {
	st.users.Add(1)
	defer st.users.Add(-1)
	var rep VerifyReport
	if progress == nil {
		progress = func(int64) {}
	}
	tables, err := st.Tables(ctx, workspace)
	if err != nil {
		return rep, err
	}
	for _, name := range tables {
		t, err := st.table(workspace, name)
		if err != nil {
			return rep, err
		}
		if err := t.verify(ctx, &rep, progress); err != nil {
			return rep, fmt.Errorf("verify %s/%s: %w", workspace, name, err)
		}
		rep.Tables++
	}
	for _, d := range st.damage.list() {
		if d.Workspace == workspace {
			rep.Damaged = append(rep.Damaged, d)
		}
	}
	return rep, nil
}

// VerifySize is the number of bytes Verify reads in a workspace, to show
// progress against: its segments and manifests in the object store and
// its WALs on disk. It needs no key.
func (st *Store) VerifySize(ctx context.Context, workspace string) (int64, error) {
	var total int64
	entries, err := st.objects.store.List(ctx, workspace+"/")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if _, wal := parseWALName(path.Base(e.Key)); !wal {
			total += e.Size // a segment or a manifest; the WALs are counted below
		}
	}
	err = filepath.WalkDir(filepath.Join(st.cfg.Dir, workspace), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, walExt) {
			return err
		}
		if info, err := d.Info(); err == nil {
			total += info.Size()
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return total, nil
	}
	return total, err
}

// verify checks one table: opened afresh if its manifest was damaged (it
// may have been restored), then each listed segment and WAL.
func (t *table) verify(ctx context.Context, rep *VerifyReport, progress func(int64)) error {
	t.mu.Lock()
	if t.broken != nil {
		t.opened, t.broken = false, nil
	}
	err := t.readyLocked(ctx)
	var ie *IntegrityError
	if errors.As(err, &ie) {
		t.mu.Unlock()
		rep.Objects++
		return nil // recorded by the open
	}
	if err != nil {
		t.mu.Unlock()
		return err
	}
	if t.epoch > 0 {
		ie, err := t.checkManifestLocked(ctx)
		if err != nil {
			t.mu.Unlock()
			return err
		}
		rep.Objects++
		if ie != nil {
			t.mu.Unlock()
			t.st.foundDamage(ie)
			return nil
		}
		t.st.damage.clear(t.ws, t.name, manifestName(t.lineage, t.epoch))
	}
	if err := t.checkUnlistedLocked(ctx); err != nil {
		t.mu.Unlock()
		return err
	}
	segs := append([]segFile(nil), t.segs...)
	var wals []walEntry
	live := make(map[uint64]*walWriter) // WALs being written
	for _, g := range append(slices.Clone(t.flushing), t.active) {
		if g == nil {
			continue
		}
		wals = append(wals, g.acked())
		if g.wal != nil {
			live[g.seq] = g.wal
		}
	}
	t.mu.Unlock()

	for _, s := range segs {
		n, err := t.verifySegment(ctx, s)
		rep.Objects++
		rep.Bytes += n
		progress(n)
		if err != nil {
			return err
		}
	}
	for _, w := range wals {
		path := filepath.Join(t.dir, walFileName(w.seq))
		r, err := t.st.readWAL(ctx, path, w.seq, t.ws, t.name, t.lineage, w.records, false)
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed meanwhile
		}
		rep.Objects++
		var n int64
		for _, p := range r.payloads {
			n += int64(len(p))
		}
		rep.Bytes += n
		progress(n)
		if writer := live[w.seq]; writer != nil && errors.As(err, &ie) {
			// The read may have run into the mark being rewritten in
			// place: read again while the writer waits.
			writer.mu.Lock()
			r, err = t.st.readWAL(ctx, path, w.seq, t.ws, t.name, t.lineage, w.records, false)
			writer.mu.Unlock()
			if errors.Is(err, os.ErrNotExist) {
				continue // flushed meanwhile
			}
		}
		if errors.As(err, &ie) {
			if t.isClosed() {
				return ErrClosed
			}
			t.st.foundDamage(ie)
			continue
		}
		if err != nil {
			return err
		}
		t.st.damage.clear(t.ws, t.name, filepath.Base(path))
	}
	return t.verifyLineages(ctx, rep, progress)
}

// verifyLineages authenticates what the table's other lineages publish,
// as this node's queries read it: each one's manifest, read afresh from the
// object store, and every segment it lists. So one node's verification
// covers the whole table, whichever nodes wrote it.
func (t *table) verifyLineages(ctx context.Context, rep *VerifyReport, progress func(int64)) error {
	if t.st.lineages == nil {
		return nil
	}
	t.st.foreign.drop() // read the manifests again, not as first read
	f, err := t.otherLineages(ctx)
	if err != nil {
		return err
	}
	rep.Objects += len(f.manifests) + len(f.damage)
	for _, name := range f.manifests {
		t.st.damage.clear(t.ws, t.name, name)
	}
	for _, s := range f.segs {
		ie, n, err := t.readWholeSegment(ctx, s)
		rep.Objects++
		rep.Bytes += n
		progress(n)
		switch {
		case err != nil:
			return err
		case ie != nil && ie.Problem == ProblemMissing && t.st.expired(t.name, s.name.maxT):
			// purged by its owner since its manifest was written
		case ie != nil:
			t.st.foundDamage(ie)
		default:
			t.st.damage.clear(t.ws, t.name, s.object())
		}
	}
	return nil
}

// checkUnlistedLocked reports the segments among the table's objects that
// the manifest does not list, as the next open would (they are never read),
// and forgets those it reported before that are gone. Segments of a WAL
// still listed are a flush under way (or, after a crash, its leftovers,
// which the next open removes); so are those of a merge under way, and
// those a merge retired, kept for the scans that may still read them.
func (t *table) checkUnlistedLocked(ctx context.Context) error {
	found, _, err := t.st.objects.listTable(ctx, t.ws, t.name, t.lineage)
	if err != nil {
		return err
	}
	listed := make(map[segName]bool, len(t.segs))
	for _, s := range t.segs {
		listed[s.name] = true
	}
	wals := make(map[uint64]bool)
	for _, g := range t.flushing {
		wals[g.seq] = true
	}
	if t.active != nil {
		wals[t.active.seq] = true
	}
	for _, d := range t.damagedWALs {
		wals[d.entry.seq] = true
	}
	merging, retired := t.merge.listed()
	for _, seq := range merging {
		wals[seq] = true // a merge under way, or its leftovers
	}
	unlisted := make(map[string]bool)
	for _, n := range slices.SortedFunc(maps.Keys(found), cmpSegName) {
		if listed[n] || wals[n.walSeq] || slices.Contains(retired, n) {
			continue
		}
		unlisted[t.segObject(n)] = true
		t.st.foundDamage(&IntegrityError{Workspace: t.ws, Table: t.name, Object: t.segObject(n), Problem: ProblemUnexpected,
			Detail: "the manifest does not list this segment; it is not read"})
	}
	for _, d := range t.st.damage.list() {
		if d.Workspace == t.ws && d.Table == t.name && d.Problem == ProblemUnexpected &&
			strings.HasSuffix(d.Object, segExt) && !unlisted[d.Object] {
			t.st.damage.clear(t.ws, t.name, d.Object)
		}
	}
	return nil
}

func (t *table) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// checkManifestLocked reads the manifest of an open table: one that fails
// to open, is gone, or is older than the one the table last wrote is
// damage. A flush may be writing a newer one meanwhile, never an older.
func (t *table) checkManifestLocked(ctx context.Context) (*IntegrityError, error) {
	_, ptr, err := t.record(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the control plane's record: %w", err)
	}
	m, _, err := t.readManifest(ctx, ptr)
	var ie *IntegrityError
	switch {
	case errors.As(err, &ie):
		return ie, nil
	case err != nil:
		return nil, err
	case m == nil:
		return &IntegrityError{Workspace: t.ws, Table: t.name, Object: manifestName(t.lineage, t.epoch), Problem: ProblemMissing,
			Detail: fmt.Sprintf("the table wrote manifest epoch %d", t.epoch)}, nil
	case m.epoch < t.epoch:
		return &IntegrityError{Workspace: t.ws, Table: t.name, Object: manifestName(t.lineage, t.epoch), Problem: ProblemRolledBack,
			Detail: fmt.Sprintf("manifest epoch %d, the table wrote %d", m.epoch, t.epoch)}, nil
	}
	return nil, nil
}

// verifySegment reads and authenticates every part of one segment, and
// records what it found in the table's listing. It returns the bytes read.
func (t *table) verifySegment(ctx context.Context, s segFile) (int64, error) {
	ie, n, err := t.readWholeSegment(ctx, s)
	if err != nil {
		return n, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return n, ErrClosed // closed or deleted meanwhile: what is gone was not lost
	case ie != nil && ie.Problem == ProblemMissing && t.purged(s.name.maxT):
		return n, nil // purged meanwhile
	case !slices.ContainsFunc(t.segs, func(f segFile) bool { return f.name == s.name }):
		return n, nil // merged into another meanwhile (compact.go)
	}
	for i := range t.segs {
		if t.segs[i].name == s.name {
			t.segs[i].damage = ie
		}
	}
	if ie != nil {
		t.st.foundDamage(ie)
	} else {
		t.st.damage.clear(t.ws, t.name, s.object())
	}
	return n, nil
}

// readWholeSegment opens a segment as listed and authenticates each column
// chunk and bloom filter of each block, and its any-column bloom filter.
func (t *table) readWholeSegment(ctx context.Context, s segFile) (*IntegrityError, int64, error) {
	r, err := t.st.openSegmentIn(ctx, t.st.objects.openUncached, t.ws, t.name, s)
	var ie *IntegrityError
	if errors.As(err, &ie) {
		return ie, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer r.close()
	var n int64
	var buf chunkBuffers
	for bi := range r.blocks {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		aead, err := r.blockAEAD(ctx)
		if err != nil {
			return nil, n, err
		}
		for ci := range r.blocks[bi].cols {
			cm := &r.blocks[bi].cols[ci]
			_, err := r.readColumn(aead, bi, cm, &buf, nil, false, nil)
			if err == nil && cm.bloomSize > 0 {
				_, err = r.readBloom(aead, bi, cm)
			}
			n += cm.size + cm.bloomSize
			if errors.Is(err, ErrCorrupt) {
				return &IntegrityError{Workspace: t.ws, Table: t.name, Object: s.object(), Problem: blockProblem(err),
					Detail: fmt.Sprintf("block %d, column %d: %v", bi, ci, err), MinT: s.name.minT, MaxT: s.name.maxT}, n, nil
			}
			if err != nil {
				return nil, n, err
			}
		}
		if r.blocks[bi].anySize > 0 {
			_, err := r.readAnyBloom(aead, bi)
			n += r.blocks[bi].anySize
			if errors.Is(err, ErrCorrupt) {
				return &IntegrityError{Workspace: t.ws, Table: t.name, Object: s.object(), Problem: blockProblem(err),
					Detail: fmt.Sprintf("block %d, any-column bloom filter: %v", bi, err), MinT: s.name.minT, MaxT: s.name.maxT}, n, nil
			}
			if err != nil {
				return nil, n, err
			}
		}
	}
	return nil, n, nil
}
