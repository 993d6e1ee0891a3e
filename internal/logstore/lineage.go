package logstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// Several nodes write one table, each into a lineage of its own
// (Config.Lineage): its own segments and manifests, under
// "<workspace>/<table>/<lineage>/", and its own WALs on its own disk, so that
// every single-writer rule of a table (epochs, WAL sequence numbers, merges)
// holds within a lineage. A query merges every lineage: its own, as a
// store alone reads a table, and the others' as their owners last published
// them.
//
// A lineage's manifests are immutable, one object per epoch
// ("manifest-<epoch>"), its lineage bound into the AAD, so one lineage's
// manifest cannot stand in for another's. The control plane holds the
// pointer to each lineage's current manifest (LineageLedger): its epoch and
// the SHA-256 of the object, so a manifest rolled back or substituted in the
// bucket is found whoever reads it. The owner publishes a manifest by
// storing its object, then moving the pointer from the epoch it last
// published to the new one in one transaction (compare and swap): a second
// writer of the same lineage finds the pointer moved and fails, rather than
// both publishing.
//
// A lineage whose node is gone is adopted by a live node (adopt.go): its
// segments are merged into the adopter's lineage, and the adopter's pointer
// moves to the manifest that lists them in the same transaction as the
// dead lineage's pointer is retired, so every row is read exactly once
// before, during and after. A retired pointer is the fence: its former
// owner, waking up, can neither publish nor open the lineage again.

// Pointer is the control plane's record of one lineage of a table.
type Pointer struct {
	Epoch        uint64   // of the lineage's current manifest; 0: none yet
	Hash         [32]byte // SHA-256 of that manifest's object
	PurgedBefore int64    // Unix ns: the lineage's segments with older rows only were purged
	// Retired is when another lineage absorbed this one (Unix ns; 0: it is
	// live): queries skip it, and its owner may not write it again.
	Retired int64
}

// LineageLedger is a Ledger that also keeps a pointer per lineage of each
// table; a store with a Config.Lineage needs one.
type LineageLedger interface {
	Ledger
	// Lineages reads the pointers of every lineage of a table in one read
	// (one transaction), so a query sees the lineages at one instant.
	Lineages(ctx context.Context, workspace, table string) (map[string]Pointer, error)
	// UpdateLineage changes one lineage's pointer in one transaction: f is
	// given the stored pointer (zero if none) to change, or fails the
	// update with its error, which UpdateLineage returns.
	UpdateLineage(ctx context.Context, workspace, table, lineage string, f func(*Pointer) error) error
	// AbsorbLineage changes two lineages' pointers of a table in one
	// transaction: the adopter's (lineage) and the one it absorbs (dead).
	AbsorbLineage(ctx context.Context, workspace, table, lineage, dead string, f func(own, absorbed *Pointer) error) error
	// ForgetLineage drops a retired lineage's pointer; a live one's stays.
	ForgetLineage(ctx context.Context, workspace, table, lineage string) error
}

// ErrLineageConflict is a manifest publication that found its lineage's
// pointer moved by another writer since this one last published: two
// processes write the same lineage, and this one stops.
var ErrLineageConflict = errors.New("log store: another writer published this lineage's manifest")

// ErrLineageAdopted is a write to, or an open of, a lineage another node
// adopted while its owner was taken for gone: the owner stops writing it,
// and goes on under a new lineage.
var ErrLineageAdopted = errors.New("log store: another node adopted this lineage")

// LineageUnreachableError is a read of another node's lineage of a table
// that the object store did not answer (objstore.ErrUnreachable): the rows
// of that lineage cannot be read now, and what needs them is refused, never
// answered without them.
type LineageUnreachableError struct {
	Workspace, Table, Lineage string
	Object                    string // the manifest or segment, as damage names it
	Err                       error
}

func (e *LineageUnreachableError) Error() string {
	return fmt.Sprintf("read %s/%s: %s of lineage %s: %v", e.Workspace, e.Table, e.Object, e.Lineage, e.Err)
}

func (e *LineageUnreachableError) Unwrap() error { return e.Err }

// foreignUnreachable names the lineage of a read the object store did not
// answer, if it is another node's.
func (st *Store) foreignUnreachable(ws, table, lineage, object string, err error) error {
	if lineage == "" || lineage == st.cfg.Lineage || !errors.Is(err, objstore.ErrUnreachable) {
		return err
	}
	return &LineageUnreachableError{Workspace: ws, Table: table, Lineage: lineage, Object: object, Err: err}
}

// validLineage reports whether s can name a lineage: a key segment of its
// own, told apart from segment and manifest names by its leading letter.
func validLineage(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != manifestFile
}

// manifestName is the name of a manifest object of a lineage ("manifest"
// in a store in no cluster, replaced in place; "manifest-<epoch>" in a
// lineage, one per epoch), as damage names it.
func manifestName(lineage string, epoch uint64) string {
	if lineage == "" {
		return manifestFile
	}
	return lineage + "/" + manifestFile + "-" + strconv.FormatUint(epoch, 10)
}

// manifestKey is the key of a manifest object.
func manifestKey(ws, table, lineage string, epoch uint64) string {
	return ws + "/" + table + "/" + manifestName(lineage, epoch)
}

func manifestHash(b []byte) [32]byte { return sha256.Sum256(b) }

// publish moves the table's lineage pointer from the epoch it last
// published to m's, whose object (b) is stored.
func (t *table) publish(ctx context.Context, m *manifest, b []byte) error {
	prev := m.epoch - 1
	err := t.st.lineages.UpdateLineage(ctx, t.ws, t.name, t.lineage, func(p *Pointer) error {
		if p.Retired != 0 {
			return ErrLineageAdopted
		}
		if p.Epoch != prev {
			return fmt.Errorf("%w: the control plane points to epoch %d, this store published %d", ErrLineageConflict, p.Epoch, prev)
		}
		p.Epoch, p.Hash = m.epoch, manifestHash(b)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish manifest %d of %s/%s: %w", m.epoch, t.ws, t.name, err)
	}
	t.dropManifest(ctx, prev)
	return nil
}

// dropManifest deletes the lineage's manifest of epoch prev, replaced.
func (t *table) dropManifest(ctx context.Context, prev uint64) {
	if prev > 0 {
		// A reader that took the old pointer and finds its manifest gone
		// reads the pointers again (otherLineages).
		if err := t.st.objects.delete(ctx, manifestKey(t.ws, t.name, t.lineage, prev)); err != nil {
			t.st.log.Warn("remove a replaced manifest", "workspace", t.ws, "table", t.name, "lineage", t.lineage, "epoch", prev, "error", err)
		}
	}
}

// foreignManifests keeps the manifests of other lineages that queries read,
// by key and hash: they are immutable, so one is read from the bucket once.
// What they hold is derived from sealed data, so an entry is used only after
// its key is derived again (otherLineages), and the cache is bounded.
type foreignManifests struct {
	mu sync.Mutex
	m  map[string]foreignManifest
}

type foreignManifest struct {
	hash [32]byte
	hdr  header
	man  *manifest
}

// maxForeignManifests bounds the cache: past it, it starts again empty.
const maxForeignManifests = 4096

func (c *foreignManifests) get(key string, hash [32]byte) (foreignManifest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e, ok && e.hash == hash
}

func (c *foreignManifests) put(key string, e foreignManifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxForeignManifests {
		c.m = make(map[string]foreignManifest)
	}
	c.m[key] = e
}

// keyHeaders is one header per account key the entries were decrypted
// under.
func (c *foreignManifests) keyHeaders() []header {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []header
	for _, e := range c.m {
		out = appendKeyHeader(out, e.hdr)
	}
	return out
}

func (c *foreignManifests) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

// foreign is what a query reads of the other lineages of a table.
type foreign struct {
	segs   []segFile
	schema map[string]Type
	damage []*IntegrityError // a lineage whose manifest is damaged: all its rows are withheld
	// manifests are the objects of the manifests read, by lineage.
	manifests []string
	// wals are the WALs each lineage's manifest lists, whose rows are not
	// in its segments; mems their rows, read from the shared WAL
	// (foreignTails).
	wals map[string]listedWALs
	mems []*memBlock
	// retired are the lineages absorbed by their adopters: their WALs'
	// rows are in the adopters' segments.
	retired map[string]bool
}

// listedWALs is the WALs a manifest lists, and the sequence number of the
// next: a WAL before it and not listed is flushed.
type listedWALs struct {
	listed  map[uint64]bool
	nextSeq uint64
}

// maxPointerReads bounds the reads of the pointers of one otherLineages:
// a lineage whose manifest is replaced at each is published faster than a
// manifest is read, which no node does for long.
const maxPointerReads = 8

// otherLineages reads the pointers of the table's lineages other than this
// store's and their manifests. A manifest gone since its pointer was read
// (its owner published the next) is read again under the new pointers; it
// is damage only once a read of the pointers finds them unmoved.
func (t *table) otherLineages(ctx context.Context) (foreign, error) {
	var out foreign
	if t.st.lineages == nil {
		return out, nil
	}
	var prev map[string]Pointer
	for attempt := 1; ; attempt++ {
		ptrs, err := t.st.lineages.Lineages(ctx, t.ws, t.name)
		if err != nil {
			return out, fmt.Errorf("read %s/%s: read the control plane's lineages: %w", t.ws, t.name, err)
		}
		out = foreign{schema: map[string]Type{}, wals: map[string]listedWALs{}, retired: map[string]bool{}}
		retry := false
		for _, l := range slices.Sorted(maps.Keys(ptrs)) {
			p := ptrs[l]
			if l != t.lineage && p.Retired != 0 {
				out.retired[l] = true
			}
			if l == t.lineage || p.Epoch == 0 || p.Retired != 0 {
				continue // absorbed: its rows are in its adopter's lineage
			}
			m, err := t.foreignManifest(ctx, l, p)
			var ie *IntegrityError
			moved := prev == nil || prev[l].Epoch != p.Epoch
			switch {
			case errors.As(err, &ie) && ie.Problem == ProblemMissing && moved && attempt < maxPointerReads:
				retry = true
			case errors.As(err, &ie):
				t.noteDamage(ie)
				out.damage = append(out.damage, ie)
			case err != nil:
				return out, err
			default:
				out.manifests = append(out.manifests, manifestName(l, p.Epoch))
				lw := listedWALs{listed: map[uint64]bool{}, nextSeq: m.nextSeq}
				for _, w := range m.wals {
					lw.listed[w.seq] = true
				}
				out.wals[l] = lw
				for _, s := range m.segs {
					s.lineage = l
					out.segs = append(out.segs, s)
				}
				for name, typ := range m.schema {
					noteType(out.schema, name, typ)
				}
			}
		}
		if !retry {
			return out, nil
		}
		prev = ptrs
	}
}

// foreignManifest reads the manifest lineage l's pointer p names.
func (t *table) foreignManifest(ctx context.Context, l string, p Pointer) (*manifest, error) {
	key := manifestKey(t.ws, t.name, l, p.Epoch)
	if e, ok := t.st.foreign.get(key, p.Hash); ok {
		if _, err := t.st.aead(ctx, e.hdr, purposeManifest); err != nil {
			t.st.foreign.drop()
			return nil, fmt.Errorf("read %s/%s: %w", t.ws, t.name, err)
		}
		return e.man, nil
	}
	m, hdr, err := t.st.readManifestAt(ctx, t.ws, t.name, l, &p)
	if err != nil {
		return nil, t.st.foreignUnreachable(t.ws, t.name, l, manifestName(l, p.Epoch), err)
	}
	if m == nil {
		return nil, &IntegrityError{Workspace: t.ws, Table: t.name, Object: manifestName(l, p.Epoch), Problem: ProblemMissing,
			Detail: fmt.Sprintf("the control plane points lineage %s to manifest epoch %d", l, p.Epoch)}
	}
	t.st.foreign.put(key, foreignManifest{hash: p.Hash, hdr: hdr, man: m})
	return m, nil
}
