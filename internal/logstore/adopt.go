package logstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
)

// Adoption: a lineage whose node is gone (its lease expired; the node's
// data plane decides that, see wsdata) is taken over by a live node, one
// table at a time, in the steps of a merge (compact.go), so that a crash
// at any point leaves every row listed exactly once:
//
//  1. intent: the adopter lists a merge under way in its own manifest.
//  2. it merges the dead lineage's segments, partition by partition, into
//     segments of its own lineage, sealed under its current key.
//  3. commit: one control-plane transaction moves the adopter's pointer to
//     the manifest that lists them and retires the dead lineage's pointer,
//     if that still names the manifest the merge read. Queries read both
//     pointers at one instant: before it the rows are the dead lineage's,
//     after it the adopter's, never both or neither.
//
// The dead lineage's objects stay for RetiredGrace, for the queries that
// read its pointer before, and then go (SweepAdopted) with its pointer.

// Adoption is what AdoptLineage took of one table.
type Adoption struct {
	Segments int   // of the dead lineage, merged
	Rows     int64 // they held
	// Unflushed is the records the dead lineage's manifest lists as
	// acknowledged in write-ahead logs it never sealed into segments: they
	// were on its node's disk, and are not adopted (with a shared WAL,
	// Config.SharedWAL, they are sealed first, and none is left).
	Unflushed uint64
}

// ErrAdoptionRaced is an adoption whose lineage published again between
// the read of its manifest and the commit, at each of maxAdoptTries: its
// owner is alive (it was paused, or the clocks disagree), and finds the
// claim at its next renewal. The adoption is tried again at the next round.
var ErrAdoptionRaced = errors.New("log store: the adopted lineage published during each try of its adoption")

// maxAdoptTries bounds the merges of one AdoptLineage: each try merges
// every segment of the lineage again, which a live owner publishing at
// each would otherwise make endless.
const maxAdoptTries = 3

// AdoptLineage merges what lineage dead published of a table into this
// store's lineage and retires dead's pointer; a table dead has no live
// pointer of is left alone. It needs the workspace's key, and a lineage.
func (st *Store) AdoptLineage(ctx context.Context, ws, table, dead string) (Adoption, error) {
	if st.lineages == nil || !validLineage(dead) || dead == st.cfg.Lineage {
		return Adoption{}, fmt.Errorf("log store: lineage %q cannot be adopted into %q", dead, st.cfg.Lineage)
	}
	t, err := st.table(ws, table)
	if err != nil {
		return Adoption{}, err
	}
	select {
	case st.compacting <- struct{}{}: // no merge of this store runs meanwhile
	case <-ctx.Done():
		return Adoption{}, ctx.Err()
	}
	defer func() { <-st.compacting }()
	st.users.Add(1) // see InUse
	defer st.users.Add(-1)
	if err := t.sealTail(ctx, dead); err != nil {
		return Adoption{}, err
	}
	for range maxAdoptTries - 1 {
		a, err := t.adopt(ctx, dead)
		if !errors.Is(err, ErrAdoptionRaced) {
			return a, err
		}
	}
	a, err := t.adopt(ctx, dead)
	if errors.Is(err, ErrAdoptionRaced) {
		err = fmt.Errorf("adopt %s/%s of lineage %s: %w", t.ws, t.name, dead, err)
	}
	return a, err
}

// sealTail seals, with a shared WAL, the rows lineage dead acknowledged and
// never flushed into its segments (FlushTail), so that the adoption takes
// them; without one they were on its node's disk only. A lineage retired
// already has nothing left to seal.
func (t *table) sealTail(ctx context.Context, dead string) error {
	if t.st.cfg.SharedWAL == nil {
		return nil
	}
	ptrs, err := t.st.lineages.Lineages(ctx, t.ws, t.name)
	if err != nil {
		return fmt.Errorf("adopt %s/%s: read the control plane's lineages: %w", t.ws, t.name, err)
	}
	if p := ptrs[dead]; p.Epoch == 0 || p.Retired != 0 {
		return nil
	}
	if err := t.st.FlushTail(ctx, t.ws, t.name, dead); err != nil {
		return fmt.Errorf("adopt %s/%s of lineage %s: %w", t.ws, t.name, dead, err)
	}
	return nil
}

// adopt is one try of AdoptLineage.
func (t *table) adopt(ctx context.Context, dead string) (Adoption, error) {
	var a Adoption
	sealer, err := t.st.keys.Current(ctx)
	if err != nil {
		return a, fmt.Errorf("adopt %s/%s: %w", t.ws, t.name, err)
	}
	ptrs, err := t.st.lineages.Lineages(ctx, t.ws, t.name)
	if err != nil {
		return a, fmt.Errorf("adopt %s/%s: read the control plane's lineages: %w", t.ws, t.name, err)
	}
	p := ptrs[dead]
	if p.Epoch == 0 || p.Retired != 0 {
		return a, nil
	}
	m, _, err := t.st.readManifestAt(ctx, t.ws, t.name, dead, &p)
	if err != nil {
		return a, err
	}
	if m == nil {
		return a, t.st.foundDamage(&IntegrityError{Workspace: t.ws, Table: t.name, Object: manifestName(dead, p.Epoch), Problem: ProblemMissing,
			Detail: fmt.Sprintf("the control plane points lineage %s to manifest epoch %d", dead, p.Epoch)})
	}
	var srcs []segFile
	for _, s := range m.segs {
		if !t.st.expired(t.name, s.name.maxT) && s.name.maxT >= p.PurgedBefore {
			srcs = append(srcs, s)
		}
	}
	for _, w := range m.wals {
		a.Unflushed += w.records
	}
	seq, err := t.startAdoption(ctx)
	if err != nil {
		return a, err
	}
	t.st.hook(stepIntent)
	mg := &merger{t: t, seq: seq, sealer: sealer, pace: pacer{share: t.st.cfg.CompactCPU}}
	err = mg.adopt(ctx, srcs)
	if err == nil {
		err = mg.check(srcs)
	}
	if err == nil {
		t.st.hook(stepWritten)
		err = t.commitAdoption(ctx, mg, dead, p.Epoch, m.schema)
	}
	t.mu.Lock()
	t.merge.running = false
	t.notifyLocked()
	t.mu.Unlock()
	if err != nil {
		mg.discard()
		if errors.Is(err, ErrAdoptionRaced) {
			return a, err
		}
		return a, fmt.Errorf("adopt %s/%s of lineage %s: %w", t.ws, t.name, dead, err)
	}
	a.Segments = len(srcs)
	for _, s := range srcs {
		a.Rows += s.rows
	}
	return a, nil
}

// startAdoption lists a merge under way in the table's manifest, under a
// new sequence number, which names the adopted segments.
func (t *table) startAdoption(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.readyLocked(ctx); err != nil {
		return 0, err
	}
	for t.writingManifest {
		if err := t.waitChangeLocked(ctx); err != nil {
			return 0, err
		}
	}
	if t.closed {
		return 0, ErrClosed
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil { // where its segments are written first
		return 0, err
	}
	seq := t.nextSeq
	t.nextSeq++
	t.merge.pending = append(t.merge.pending, seq)
	if err := t.saveManifestLocked(ctx, t.manifestLocked(nil)); err != nil {
		t.merge.pending = slices.DeleteFunc(t.merge.pending, func(s uint64) bool { return s == seq })
		return 0, err
	}
	t.merge.running = true
	return seq, nil
}

// adopt writes srcs into segments of the merger's table, one partition
// after another, each cut at the rows and bytes a merge writes at most, so
// that an adopted segment is as the table's own merges make them.
func (m *merger) adopt(ctx context.Context, srcs []segFile) error {
	m.bb = newBlockBuilder(nil)
	m.pace.start()
	parts := make(map[int64][]segFile)
	for _, s := range srcs {
		k := floorDiv(s.name.minT, partitionNanos)
		parts[k] = append(parts[k], s)
	}
	cfg := &m.t.st.cfg
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		var rows, bytes int64
		for i, s := range parts[k] {
			if i > 0 && (rows+s.rows > cfg.CompactRows || bytes+s.size > cfg.CompactBytes) {
				if err := m.flushClasses(ctx); err != nil {
					return err
				}
				rows, bytes = 0, 0
			}
			if err := m.readSegment(ctx, s); err != nil {
				return err
			}
			rows, bytes = rows+s.rows, bytes+s.size
		}
		if err := m.flushClasses(ctx); err != nil {
			return err
		}
	}
	return nil
}

// flushClasses writes the rows gathered so far and ends the segment.
func (m *merger) flushClasses(ctx context.Context) error {
	for _, c := range m.classes {
		if err := m.emit(ctx, c); err != nil {
			return err
		}
	}
	m.classes = nil
	if m.w == nil {
		return nil
	}
	return m.finish()
}

// commitAdoption lists the adopted segments in the table's manifest and, in
// one control-plane transaction, publishes it and retires the dead
// lineage's pointer, which must still name epoch deadEpoch.
func (t *table) commitAdoption(ctx context.Context, m *merger, dead string, deadEpoch uint64, schema map[string]Type) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.writingManifest {
		if err := t.waitChangeLocked(ctx); err != nil {
			return err
		}
	}
	if t.closed {
		return ErrClosed
	}
	segs := append(slices.Clone(t.segs), m.out...)
	sortSegs(segs)
	merged := maps.Clone(t.schema)
	if merged == nil {
		merged = map[string]Type{}
	}
	for name, typ := range schema {
		noteType(merged, name, typ)
	}
	man := t.manifestLocked(nil)
	man.segs, man.schema = segs, merged
	man.merging = slices.DeleteFunc(man.merging, func(s uint64) bool { return s == m.seq })
	hdr, b, err := t.storeManifest(ctx, man)
	if err != nil {
		return err
	}
	retired := t.st.cfg.Now().UnixNano()
	err = t.st.lineages.AbsorbLineage(ctx, t.ws, t.name, t.lineage, dead, func(own, absorbed *Pointer) error {
		switch {
		case own.Retired != 0:
			return ErrLineageAdopted
		case own.Epoch != man.epoch-1:
			return fmt.Errorf("%w: the control plane points to epoch %d, this store published %d", ErrLineageConflict, own.Epoch, man.epoch-1)
		case absorbed.Retired != 0 || absorbed.Epoch != deadEpoch:
			return ErrAdoptionRaced
		}
		own.Epoch, own.Hash = man.epoch, manifestHash(b)
		absorbed.Retired = retired
		return nil
	})
	if errors.Is(err, ErrAdoptionRaced) {
		// The pointer still names the epoch before: the manifest stored
		// for this one lists segments discard deletes, and would stay,
		// unlisted, until the table published this epoch again.
		t.dropManifest(ctx, man.epoch)
	}
	if err != nil {
		return err
	}
	t.epoch, t.manHdr, t.segs, t.schema, t.merge.pending = man.epoch, hdr, segs, merged, man.merging
	if t.absorbed == nil {
		t.absorbed = make(map[string]bool)
	}
	t.absorbed[dead] = true
	m.out = nil // listed: discard leaves them
	t.st.changed()
	t.notifyLocked()
	t.dropManifest(ctx, man.epoch-1)
	t.st.hook(stepCommitted)
	return nil
}

// SweepAdopted deletes the objects of a table's lineages retired for
// RetiredGrace (queries that read their pointers before are over), and then
// their pointers. It needs no key, and returns how many it swept.
func (st *Store) SweepAdopted(ctx context.Context, ws, table string) (int, error) {
	if st.lineages == nil {
		return 0, nil
	}
	ptrs, err := st.lineages.Lineages(ctx, ws, table)
	if err != nil {
		return 0, fmt.Errorf("sweep %s/%s: read the control plane's lineages: %w", ws, table, err)
	}
	now := st.cfg.Now().UnixNano()
	swept := 0
	var errs []error
	for _, l := range slices.Sorted(maps.Keys(ptrs)) {
		p := ptrs[l]
		if p.Retired == 0 || now-p.Retired < int64(st.cfg.RetiredGrace) || !validLineage(l) {
			continue
		}
		if err := st.deleteLineageObjects(ctx, ws, table, l); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := st.lineages.ForgetLineage(ctx, ws, table, l); err != nil {
			errs = append(errs, err)
			continue
		}
		swept++
	}
	return swept, errors.Join(errs...)
}

// deleteLineageObjects deletes every object of one lineage of a table.
func (st *Store) deleteLineageObjects(ctx context.Context, ws, table, lineage string) error {
	entries, err := st.objects.store.List(ctx, lineagePrefix(ws, table, lineage))
	if err != nil {
		return fmt.Errorf("sweep %s/%s of lineage %s: %w", ws, table, lineage, err)
	}
	var errs []error
	for _, e := range entries {
		st.indexes.forget(e.Key)
		errs = append(errs, st.objects.delete(ctx, e.Key))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep %s/%s of lineage %s: %w", ws, table, lineage, err)
	}
	return nil
}
