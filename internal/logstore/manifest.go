package logstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// A table's manifest lists what the table must hold, so that what is
// missing is found, not only what was changed:
//
//	header (plaintext, see header)
//	u64 epoch (plaintext, authenticated)
//	nonce ‖ AES-GCM(body) ‖ tag; AAD: workspace, table, manifest ID, epoch
//
//	body: uvarint next WAL sequence number
//	      uvarint WALs; per WAL: uvarint seq | uvarint acknowledged records |
//	                   varint min time | varint max time | uvarint final (0, 1)
//	      uvarint segments; per segment: uvarint name length | name |
//	                   uvarint size | uvarint rows | 16-byte index tag |
//	                   ingestion times (version 2 on): uvarint known (0, 1)
//	                   and, if known, varint min | varint max
//	      uvarint columns; per column: uvarint name length | name | type
//	      (version 3 on) uvarint merges under way; per merge: uvarint seq
//	      uvarint retired segments; per segment: uvarint name length | name
//
// A segment's index tag is the tag of its sealed index, which holds every
// chunk's place; every chunk is bound to the segment by its AAD; so the tag
// is a MAC of the whole segment under the segment's key. The schema lives
// here too, so that a table's columns are known without opening every
// segment (and a damaged one does not hide them), and so is each segment's
// range of ingestion times, so that a scan bounded by ingestion time skips
// a segment without opening it. A segment listed by a version 1 manifest
// has that range unknown (not recorded), and is opened. The merges under way
// and the segments they retired (compact.go) are listed so that an open after
// a crash removes what a merge left, and nothing else.
//
// Each write takes the next epoch, and the control plane records it
// (Config.Ledger): a manifest older than the recorded epoch has been rolled
// back. The object is replaced atomically (objstore.Store.Put).
const (
	manifestFile = "manifest"
	indexTagSize = 16
)

// Ledger is the control plane's record of each table, kept outside the
// table's directory so that what the directory lost can be told apart from
// what was meant to go: the manifest's epoch (an older manifest put back is
// found) and the retention horizon (a listed segment that is gone and older
// than it was purged, not lost).
type Ledger interface {
	Table(ctx context.Context, workspace, table string) (TableRecord, error)
	// Tables lists the tables of a workspace with a manifest epoch recorded:
	// a table whose directory is gone is still one of them.
	Tables(ctx context.Context, workspace string) ([]string, error)
	SetEpoch(ctx context.Context, workspace, table string, epoch uint64) error
	SetPurgedBefore(ctx context.Context, workspace, table string, before int64) error
	// ForgetWorkspace drops the records of a deleted workspace's tables.
	ForgetWorkspace(ctx context.Context, workspace string) error
}

// TableRecord is what the ledger holds of one table. Each field only grows.
type TableRecord struct {
	Epoch        uint64 // of the newest manifest written
	PurgedBefore int64  // Unix ns: segments with older rows only were purged
}

// MemLedger keeps the ledger in memory, for the life of the process: the
// default when no control plane is configured (tests, tools).
type MemLedger struct {
	mu       sync.Mutex
	m        map[[2]string]TableRecord
	lineages map[[2]string]map[string]Pointer
}

var _ LineageLedger = (*MemLedger)(nil)

func (l *MemLedger) Table(_ context.Context, ws, table string) (TableRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[[2]string{ws, table}], nil
}

func (l *MemLedger) Tables(_ context.Context, ws string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, r := range l.m {
		if k[0] == ws && r.Epoch > 0 {
			out = append(out, k[1])
		}
	}
	for k, ptrs := range l.lineages {
		if k[0] == ws && !slices.Contains(out, k[1]) && slices.ContainsFunc(slices.Collect(maps.Values(ptrs)), func(p Pointer) bool { return p.Epoch > 0 }) {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out, nil
}

func (l *MemLedger) Lineages(_ context.Context, ws, table string) (map[string]Pointer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.lineages[[2]string{ws, table}]), nil
}

func (l *MemLedger) UpdateLineage(_ context.Context, ws, table, lineage string, f func(*Pointer) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{ws, table}
	p := l.lineages[k][lineage]
	if err := f(&p); err != nil {
		return err
	}
	if l.lineages == nil {
		l.lineages = make(map[[2]string]map[string]Pointer)
	}
	if l.lineages[k] == nil {
		l.lineages[k] = make(map[string]Pointer)
	}
	l.lineages[k][lineage] = p
	return nil
}

func (l *MemLedger) AbsorbLineage(_ context.Context, ws, table, lineage, dead string, f func(own, absorbed *Pointer) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{ws, table}
	own, absorbed := l.lineages[k][lineage], l.lineages[k][dead]
	if err := f(&own, &absorbed); err != nil {
		return err
	}
	if l.lineages == nil {
		l.lineages = make(map[[2]string]map[string]Pointer)
	}
	if l.lineages[k] == nil {
		l.lineages[k] = make(map[string]Pointer)
	}
	l.lineages[k][lineage], l.lineages[k][dead] = own, absorbed
	return nil
}

func (l *MemLedger) ForgetLineage(_ context.Context, ws, table, lineage string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.lineages[[2]string{ws, table}][lineage]; ok && p.Retired != 0 {
		delete(l.lineages[[2]string{ws, table}], lineage)
	}
	return nil
}

func (l *MemLedger) update(ws, table string, f func(*TableRecord)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[[2]string]TableRecord)
	}
	r := l.m[[2]string{ws, table}]
	f(&r)
	l.m[[2]string{ws, table}] = r
}

func (l *MemLedger) SetEpoch(_ context.Context, ws, table string, epoch uint64) error {
	l.update(ws, table, func(r *TableRecord) { r.Epoch = max(r.Epoch, epoch) })
	return nil
}

func (l *MemLedger) SetPurgedBefore(_ context.Context, ws, table string, before int64) error {
	l.update(ws, table, func(r *TableRecord) { r.PurgedBefore = max(r.PurgedBefore, before) })
	return nil
}

func (l *MemLedger) ForgetWorkspace(_ context.Context, ws string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.m {
		if k[0] == ws {
			delete(l.m, k)
		}
	}
	for k := range l.lineages {
		if k[0] == ws {
			delete(l.lineages, k)
		}
	}
	return nil
}

// walEntry is a WAL as the manifest lists it.
type walEntry struct {
	seq uint64
	walMark
	// final: no record can be acknowledged past the listing (the WAL was
	// closed, or replayed). A WAL lost while not final may have held rows
	// of any time, so its loss puts the whole table at risk.
	final bool
}

// manifest is the decoded body of a manifest file.
type manifest struct {
	epoch   uint64
	nextSeq uint64
	wals    []walEntry
	segs    []segFile
	schema  map[string]Type
	// merging are the sequence numbers of the merges under way: a segment
	// of one is not yet listed, and is removed by an open.
	merging []uint64
	// retired are segments a merge replaced, whose files may still be there
	// for the scans that began before it; an open removes them.
	retired []segName
}

func encodeManifest(m *manifest) []byte {
	var b []byte
	b = binary.AppendUvarint(b, m.nextSeq)
	b = binary.AppendUvarint(b, uint64(len(m.wals)))
	for _, w := range m.wals {
		b = binary.AppendUvarint(b, w.seq)
		b = binary.AppendUvarint(b, w.records)
		b = binary.AppendVarint(b, w.minT)
		b = binary.AppendVarint(b, w.maxT)
		final := uint64(0)
		if w.final {
			final = 1
		}
		b = binary.AppendUvarint(b, final)
	}
	b = binary.AppendUvarint(b, uint64(len(m.segs)))
	for _, s := range m.segs {
		name := s.name.String()
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(s.size))
		b = binary.AppendUvarint(b, uint64(s.rows))
		b = append(b, s.tag[:]...)
		if !s.ingested.known {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, 1)
		b = binary.AppendVarint(b, s.ingested.lo)
		b = binary.AppendVarint(b, s.ingested.hi)
	}
	names := make([]string, 0, len(m.schema))
	for n := range m.schema {
		names = append(names, n)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		b = append(b, byte(m.schema[n]))
	}
	b = binary.AppendUvarint(b, uint64(len(m.merging)))
	for _, seq := range m.merging {
		b = binary.AppendUvarint(b, seq)
	}
	b = binary.AppendUvarint(b, uint64(len(m.retired)))
	for _, n := range m.retired {
		name := n.String()
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
	}
	return b
}

// decodeManifest decodes the body of a manifest of the given version.
func decodeManifest(b []byte, version uint16) (*manifest, error) {
	r := &indexReader{b: b}
	m := &manifest{nextSeq: r.uvarint(math.MaxUint64), schema: map[string]Type{}}
	for range r.uvarint(uint64(len(b))) {
		w := walEntry{seq: r.uvarint(math.MaxUint64)}
		w.records = r.uvarint(math.MaxUint64)
		w.minT, w.maxT = r.varint(), r.varint()
		w.final = r.uvarint(1) == 1
		m.wals = append(m.wals, w)
	}
	for range r.uvarint(uint64(len(b))) {
		name := string(r.bytes(r.uvarint(maxNameBytes)))
		s := segFile{size: int64(r.uvarint(math.MaxInt64)), rows: int64(r.uvarint(math.MaxInt64))}
		copy(s.tag[:], r.bytes(indexTagSize))
		if version >= 2 && r.uvarint(1) == 1 {
			s.ingested = ingestRange{known: true, lo: r.varint(), hi: r.varint()}
			if r.err == nil && s.ingested.lo > s.ingested.hi {
				return nil, corruptf("bad ingestion times in manifest")
			}
		}
		if r.err != nil {
			break
		}
		n, ok := parseSegName(name)
		if !ok {
			return nil, corruptf("bad segment name in manifest")
		}
		s.name = n
		m.segs = append(m.segs, s)
	}
	for range r.uvarint(uint64(len(b))) {
		name := string(r.bytes(r.uvarint(maxNameBytes)))
		t := r.bytes(1)
		if r.err != nil {
			break
		}
		if _, dup := m.schema[name]; dup || t[0] >= byte(typeEnd) {
			return nil, corruptf("bad column in manifest")
		}
		m.schema[name] = Type(t[0])
	}
	if version >= 3 {
		if err := decodeMerges(r, m); err != nil {
			return nil, err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = corruptf("trailing bytes in manifest")
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// decodeMerges reads the merges under way and the retired segments of a
// version 3 manifest.
func decodeMerges(r *indexReader, m *manifest) error {
	for range r.uvarint(uint64(len(r.b))) {
		seq := r.uvarint(math.MaxUint64)
		if r.err != nil {
			break
		}
		m.merging = append(m.merging, seq)
	}
	for range r.uvarint(uint64(len(r.b))) {
		name := string(r.bytes(r.uvarint(maxNameBytes)))
		if r.err != nil {
			break
		}
		n, ok := parseSegName(name)
		if !ok {
			return corruptf("bad retired segment name in manifest")
		}
		m.retired = append(m.retired, n)
	}
	return nil
}

// manifestAAD binds a manifest to its table, its lineage (none in a store
// in no cluster, as before lineages) and its epoch.
func manifestAAD(hdr header, ws, table, lineage string, epoch uint64) []byte {
	if lineage == "" {
		return hdr.aad("manifest", ws, table, fmt.Sprint(epoch))
	}
	return hdr.aad("manifest", ws, table, lineage, fmt.Sprint(epoch))
}

// readManifest reads and opens the table's own manifest: the one its
// lineage's pointer names, if it has a lineage (ptr; nil for a store in no
// cluster). It returns nil and no error when there is none. Damage is an
// *IntegrityError.
func (t *table) readManifest(ctx context.Context, ptr *Pointer) (*manifest, header, error) {
	return t.st.readManifestAt(ctx, t.ws, t.name, t.lineage, ptr)
}

// readManifestAt reads and opens a manifest of a table's lineage: with a
// pointer, the one it names, which must be the very object it hashed.
func (st *Store) readManifestAt(ctx context.Context, ws, table, lineage string, ptr *Pointer) (*manifest, header, error) {
	var epoch uint64
	if ptr != nil {
		epoch = ptr.Epoch
	}
	object := manifestName(lineage, epoch)
	damage := func(p Problem, err error) error {
		return &IntegrityError{Workspace: ws, Table: table, Object: object, Problem: p, Detail: err.Error()}
	}
	data, err := st.objects.get(ctx, manifestKey(ws, table, lineage, epoch))
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, header{}, nil
	}
	if err != nil {
		return nil, header{}, fmt.Errorf("read manifest of %s/%s: %w", ws, table, err)
	}
	m, hdr, err := st.openManifest(ctx, ws, table, lineage, data, damage)
	if err != nil || ptr == nil {
		return m, hdr, err
	}
	switch {
	case m.epoch < ptr.Epoch:
		return nil, hdr, damage(ProblemRolledBack, fmt.Errorf("manifest epoch %d, the control plane points to %d", m.epoch, ptr.Epoch))
	case m.epoch != ptr.Epoch || manifestHash(data) != ptr.Hash:
		return nil, hdr, damage(ProblemAuthentication, errors.New("not the manifest the control plane points to"))
	}
	return m, hdr, nil
}

// openManifest authenticates and decodes a manifest object's bytes.
func (st *Store) openManifest(ctx context.Context, ws, table, lineage string, data []byte, damage func(Problem, error) error) (*manifest, header, error) {
	hdr, hlen, err := decodeHeader(data, magicManifest)
	if err != nil {
		return nil, hdr, damage(ProblemAuthentication, err)
	}
	if len(data) < hlen+8 {
		return nil, hdr, damage(ProblemTruncated, errors.New("no epoch"))
	}
	epoch := binary.BigEndian.Uint64(data[hlen:])
	aead, err := st.aead(ctx, hdr, purposeManifest)
	if err != nil {
		return nil, hdr, fmt.Errorf("read manifest of %s/%s: %w", ws, table, err)
	}
	plain, err := open(nil, aead, data[hlen+8:], manifestAAD(hdr, ws, table, lineage, epoch))
	if err != nil {
		return nil, hdr, damage(ProblemAuthentication, err)
	}
	m, err := decodeManifest(plain, hdr.version)
	if err != nil {
		return nil, hdr, damage(ProblemAuthentication, err)
	}
	m.epoch = epoch
	for i := range m.segs {
		m.segs[i].lineage = lineage
	}
	return m, hdr, nil
}

// writeManifest seals m under the current account key as the table's
// manifest at epoch m.epoch, stores it and records the epoch in the control
// plane: in a store in no cluster, it replaces the one manifest, and the
// epoch is recorded after; in a lineage, it is a new object, published by
// moving the lineage's pointer to it (publish).
func (t *table) writeManifest(ctx context.Context, m *manifest) (header, error) {
	hdr, b, err := t.storeManifest(ctx, m)
	if err != nil {
		return hdr, err
	}
	if t.lineage != "" {
		return hdr, t.publish(ctx, m, b)
	}
	// The manifest is in place: a failure to record its epoch only lets a
	// later open take it as recorded (an epoch ahead of the ledger is a crash
	// between the two steps), so it is logged, not failed.
	if err := t.st.ledger.SetEpoch(ctx, t.ws, t.name, m.epoch); err != nil {
		t.st.log.Warn("record the manifest epoch", "workspace", t.ws, "table", t.name, "epoch", m.epoch, "error", err)
	}
	return hdr, nil
}

// storeManifest seals m under the current account key and stores it as the
// object of epoch m.epoch; it returns the object's bytes.
func (t *table) storeManifest(ctx context.Context, m *manifest) (header, []byte, error) {
	sealer, err := t.st.keys.Current(ctx)
	if err != nil {
		return header{}, nil, fmt.Errorf("write manifest of %s/%s: %w", t.ws, t.name, err)
	}
	hdr, err := newHeader(magicManifest, sealer.KeyID())
	if err != nil {
		return hdr, nil, err
	}
	aead, err := sealer.AEAD(hdr.salt[:], purposeManifest)
	if err != nil {
		return hdr, nil, fmt.Errorf("derive manifest key: %w", err)
	}
	b := hdr.encode()
	b = binary.BigEndian.AppendUint64(b, m.epoch)
	b = seal(b, aead, encodeManifest(m), manifestAAD(hdr, t.ws, t.name, t.lineage, m.epoch))
	if err := t.st.objects.put(ctx, manifestKey(t.ws, t.name, t.lineage, m.epoch), b); err != nil {
		return hdr, nil, fmt.Errorf("write manifest of %s/%s: %w", t.ws, t.name, err)
	}
	return hdr, b, nil
}
