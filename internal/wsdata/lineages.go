package wsdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Each node sharing the log stores' bucket writes every table in a lineage
// of its own (logstore.Config.Lineage), and holds a lease on it in the
// control plane, which it renews (RenewLineage). A lineage whose lease has
// run out belongs to a node that is gone, or started again on an empty
// disk under a new lineage: one live node claims it, in one Update, and
// adopts it table by table (AdoptLineages, logstore.Store.AdoptLineage), so
// that its rows are purged by retention and compacted again, and queries no
// longer read one lineage more for every node that ever ran. The claim is
// the fence: the owner, if it was only paused, finds it at its next renewal
// and goes on under a new lineage (ChangeLineage); until then, the adopted
// tables' retired pointers refuse its manifests.

// lineageBucket holds a lease per lineage, under its name.
var lineageBucket = []byte("logstore-lineages")

// DefaultLineageLease is how long a lineage's lease lasts unrenewed
// (Options.LineageLease): long enough that a node restarting, or a pause
// of the control plane, does not get its lineage adopted.
const DefaultLineageLease = 5 * time.Minute

// lineageLease is one lineage's lease.
type lineageLease struct {
	Expires int64 `json:"expires"` // Unix ns: its owner renews it before
	// Adopter is the live lineage that claimed it, once it expired; it is
	// never written by its owner again.
	Adopter string `json:"adopter,omitempty"`
	Claimed int64  `json:"claimed,omitempty"` // Unix ns
	// Renewals counts its owner's renewals: each changes the lease, even
	// one that leaves Expires as it was (leaseWatch).
	Renewals uint64 `json:"renewals,omitempty"`
	// Done: its adopter adopted every table and swept what was left.
	Done bool `json:"done,omitempty"`
}

func (l lineageLease) expired(now int64) bool { return l.Expires < now }

func (d *Data) leaseTerm() time.Duration {
	if d.opts.LineageLease > 0 {
		return d.opts.LineageLease
	}
	return DefaultLineageLease
}

// Lineage is this node's lineage of the tables it writes ("" without
// Options.Objects).
func (d *Data) Lineage() string {
	if l := d.lineage.Load(); l != nil {
		return *l
	}
	return ""
}

// RenewLineage extends this node's lease on its lineage. It fails with
// logstore.ErrLineageAdopted once another node adopted the lineage: the
// node must stop writing it (ChangeLineage).
func (d *Data) RenewLineage(ctx context.Context) error {
	own := d.Lineage()
	if own == "" || d.opts.ControlDB == nil {
		return nil
	}
	began := time.Now()
	expires := d.now().Add(d.leaseTerm()).UnixNano()
	err := d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(lineageBucket)
		if err != nil {
			return err
		}
		l, err := getLease(b, own)
		if err != nil {
			return err
		}
		if l.Adopter != "" {
			return fmt.Errorf("renew the lease of lineage %s: lineage %s claimed it: %w", own, l.Adopter, logstore.ErrLineageAdopted)
		}
		l.Expires = max(l.Expires, expires)
		l.Renewals++
		return putLease(b, own, l)
	})
	if err == nil {
		d.renewed.Store(&began)
	}
	return err
}

// ErrLeaseLapsed is an ingest whose rows a node with a shared WAL stored
// but may not acknowledge: it cannot show its lineage's lease still holds.
var ErrLeaseLapsed = errors.New("workspace data: this node's lineage lease may have run out")

// CheckLease tells, with a shared WAL, whether this node may acknowledge
// rows it stored: whether its lineage's lease, by the monotonic clock, has
// run for less than three quarters of its term since the last renewal that
// succeeded began. An adopter claims the lineage only once it has seen the
// lease unrenewed for a whole lease by its own clock (leaseWatch), from a
// read after that renewal began, and then seals its shared WAL
// (logstore.Store.FlushTail): a record stored later would be on nobody's
// list. The quarter left is margin for the clocks' rates to differ. It is
// checked once the rows are durable, before the ack, so a record it lets
// through was in the shared WAL before any adopter could seal it. Without
// a shared WAL, the node's own logs keep such rows (TakeFenced).
func (d *Data) CheckLease() error {
	if d.Lineage() == "" || d.opts.ControlDB == nil || d.opts.SharedWAL == nil {
		return nil
	}
	renewed := d.renewed.Load()
	if renewed == nil || time.Since(*renewed) > d.leaseTerm()-d.leaseTerm()/4 {
		return ErrLeaseLapsed
	}
	return nil
}

func getLease(b kv.Bucket, lineage string) (lineageLease, error) {
	var l lineageLease
	v := b.Get([]byte(lineage))
	if v == nil {
		return l, nil
	}
	if err := json.Unmarshal(v, &l); err != nil {
		return l, fmt.Errorf("the lease of lineage %s: %w", lineage, err)
	}
	return l, nil
}

func putLease(b kv.Bucket, lineage string, l lineageLease) error {
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return b.Put([]byte(lineage), v)
}

// ChangeLineage goes on under lineage next after the node's own was
// adopted: every open store is closed, the workspaces' directories (write-
// ahead logs of the old lineage, which its adopter did not take without a
// shared WAL) are moved aside, under ".fenced-<old lineage>", and the rows
// of workspaces they hold are re-ingested (TakeFenced). It holds every
// workspace's slot meanwhile, so that no store opens under the new lineage
// over the old one's logs, nor writes a table before its logs are taken.
func (d *Data) ChangeLineage(ctx context.Context, next string, workspaces []workspace.WorkspaceInfo) error {
	old := d.Lineage()
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	ids := slices.Collect(maps.Keys(d.slots()))
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	held, release, errs := d.holdSlots(ids)
	defer release()
	d.lineage.Store(&next)
	aside := filepath.Join(d.dir, fencedPrefix+old)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue // the segment cache, lineages fenced before
		}
		if err := os.MkdirAll(aside, 0o700); err != nil {
			return errors.Join(append(errs, err)...)
		}
		errs = append(errs, os.Rename(filepath.Join(d.dir, e.Name()), filepath.Join(aside, e.Name())))
	}
	errs = append(errs, syncDir(d.dir))
	d.log.Warn("this node's lineage was adopted by another node; it goes on under a new one, and its write-ahead logs are kept aside",
		"lineage", old, "new_lineage", next, "kept_in", aside)
	return errors.Join(append(errs, d.takeFenced(ctx, workspaces, held))...)
}

// holdSlots locks the slots of the workspaces ids, in order, and closes
// their open stores; release unlocks them. A workspace deleted has none.
func (d *Data) holdSlots(ids []string) (held map[string]*storeSlot, release func(), errs []error) {
	slices.Sort(ids)
	held = map[string]*storeSlot{}
	for _, id := range slices.Compact(ids) {
		s, err := d.slot(id)
		if err != nil {
			continue
		}
		s.mu.Lock()
		held[id] = s
		if s.open != nil {
			errs = append(errs, s.open.store.Close())
			s.open = nil
			d.open.Add(-1)
		}
	}
	return held, func() {
		for _, s := range held {
			s.mu.Unlock()
		}
	}, errs
}

// fencedPrefix starts the name of the directory ChangeLineage moves a
// lineage's workspaces aside to.
const fencedPrefix = ".fenced-"

// TakeFenced re-ingests into this node's lineage the rows acknowledged and
// never flushed that the write-ahead logs ChangeLineage moved aside hold
// (logstore.Store.TakeFenced says which, and how each is taken exactly
// once), holding the slots of their workspaces, with their stores closed,
// so that none of their tables opens meanwhile; what it took is removed.
// ChangeLineage calls it, and the node at every start before it serves,
// so a crash or a failure part way is taken up again. With a shared WAL it
// takes nothing: the adopter sealed those rows, and the logs stay aside
// for an operator to look at.
func (d *Data) TakeFenced(ctx context.Context, workspaces []workspace.WorkspaceInfo) error {
	var ids []string
	for _, aside := range d.fencedDirs() {
		wsDirs, err := os.ReadDir(aside)
		if err != nil {
			return err
		}
		for _, w := range wsDirs {
			ids = append(ids, w.Name())
		}
	}
	held, release, errs := d.holdSlots(ids)
	defer release()
	return errors.Join(append(errs, d.takeFenced(ctx, workspaces, held))...)
}

// fencedDirs are the directories of the lineages moved aside, by their
// lineage.
func (d *Data) fencedDirs() map[string]string {
	dirs := map[string]string{}
	own := d.Lineage()
	entries, _ := os.ReadDir(d.dir)
	for _, e := range entries {
		if old, ok := strings.CutPrefix(e.Name(), fencedPrefix); ok && e.IsDir() && old != own {
			dirs[old] = filepath.Join(d.dir, e.Name())
		}
	}
	return dirs
}

// takeFenced is TakeFenced, with the slots held.
func (d *Data) takeFenced(ctx context.Context, workspaces []workspace.WorkspaceInfo, held map[string]*storeSlot) error {
	if d.Lineage() == "" || d.opts.SharedWAL != nil {
		return nil
	}
	byID := make(map[string]*workspace.WorkspaceInfo, len(workspaces))
	for i := range workspaces {
		byID[workspaces[i].Workspace.Properties.CustomerID] = &workspaces[i]
	}
	var errs []error
	for old, aside := range d.fencedDirs() {
		wsDirs, err := os.ReadDir(aside)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, w := range wsDirs {
			if ws := byID[w.Name()]; ws != nil && held[w.Name()] != nil {
				errs = append(errs, d.takeFencedWorkspace(ctx, ws, filepath.Join(aside, w.Name()), old))
			}
		}
		os.Remove(aside) // once empty
	}
	return errors.Join(errs...)
}

// takeFencedWorkspace takes one workspace's logs of lineage old, kept in
// dir; its slot is held, its store closed.
func (d *Data) takeFencedWorkspace(ctx context.Context, ws *workspace.WorkspaceInfo, dir, old string) error {
	id := ws.Workspace.Properties.CustomerID
	st, err := d.newLogStore(ctx, ws, 0, nil, d.Lineage())
	if err != nil {
		return fmt.Errorf("re-ingest the logs of workspace %s kept aside: %w", id, err)
	}
	f, err := st.TakeFenced(ctx, id, dir, old)
	err = errors.Join(err, st.Close())
	if f.WALs > 0 {
		d.log.Info("re-ingested the rows this node acknowledged under its adopted lineage and never flushed",
			"workspace", id, "lineage", old, "wals", f.WALs, "records", f.Records)
	}
	if len(f.Kept) > 0 {
		d.log.Error("write-ahead logs of an adopted lineage are kept aside, not re-ingested: their rows are not served",
			"workspace", id, "lineage", old, "tables", f.Kept, "kept_in", dir)
	}
	if err != nil {
		return fmt.Errorf("re-ingest the logs of workspace %s kept aside: %w", id, err)
	}
	if len(f.Kept) == 0 {
		return os.RemoveAll(dir)
	}
	return nil
}

// lineageTables are the tables a lineage has a pointer of.
type lineageTables struct {
	live    []wsTable // not yet absorbed
	retired []wsTable
}

type wsTable struct{ ws, table string }

// AdoptLineages claims the lineages whose lease has run out (and those whose
// adopter's has) and adopts their tables of workspaces, into this node's
// lineage; it then sweeps the lineages it adopted once their grace is over.
// It returns how many tables it adopted. A table that fails (its key
// revoked, an object unreadable) is left for the next call.
func (d *Data) AdoptLineages(ctx context.Context, workspaces []workspace.WorkspaceInfo) (int, error) {
	own := d.Lineage()
	if own == "" || d.opts.ControlDB == nil {
		return 0, nil
	}
	claimed, tables, err := d.claimLineages(ctx, own)
	if err != nil {
		return 0, err
	}
	byID := make(map[string]*workspace.WorkspaceInfo, len(workspaces))
	for i := range workspaces {
		byID[workspaces[i].Workspace.Properties.CustomerID] = &workspaces[i]
	}
	adopted := 0
	var errs []error
	var done []string
	for _, l := range claimed {
		if tables[l] == nil {
			done = append(done, l) // no pointer left: adopted and swept
			continue
		}
		for _, wt := range tables[l].live {
			ws := byID[wt.ws]
			if ws == nil {
				continue // deleted: ForgetWorkspace drops its pointers
			}
			n, err := d.adoptTable(ctx, ws, wt.table, l)
			adopted += n
			errs = append(errs, err)
		}
		for _, wt := range tables[l].retired {
			errs = append(errs, d.sweepTable(ctx, byID[wt.ws], wt.table))
		}
	}
	errs = append(errs, d.finish(ctx, own, done))
	return adopted, errors.Join(errs...)
}

// adoptTable adopts one table of lineage dead into this node's.
func (d *Data) adoptTable(ctx context.Context, ws *workspace.WorkspaceInfo, table, dead string) (int, error) {
	st, err := d.Logs(ctx, ws)
	if err != nil {
		return 0, err
	}
	id := ws.Workspace.Properties.CustomerID
	a, err := st.AdoptLineage(ctx, id, table, dead)
	if err != nil {
		return 0, err
	}
	d.log.Info("adopted a lineage's table", "workspace", id, "table", table, "lineage", dead, "segments", a.Segments, "rows", a.Rows)
	if a.Unflushed > 0 {
		d.log.Warn("the adopted lineage had acknowledged records it never sealed, on its node's disk: they are not adopted",
			"workspace", id, "table", table, "lineage", dead, "records", a.Unflushed)
	}
	return 1, nil
}

// sweepTable deletes what the lineages retired in a table left, once their
// grace is over.
func (d *Data) sweepTable(ctx context.Context, ws *workspace.WorkspaceInfo, table string) error {
	if ws == nil {
		return nil
	}
	st, temporary, err := d.logStoreForPurge(ctx, ws)
	if err != nil || st == nil {
		return err
	}
	_, err = st.SweepAdopted(ctx, ws.Workspace.Properties.CustomerID, table)
	if temporary {
		err = errors.Join(err, st.Close())
	}
	return err
}

// claimLineages claims every lineage other than own whose lease ran out
// and that no live lineage claimed; a lineage with tables and no lease
// (it ran before leases) is given one, which runs out unless renewed. It
// returns the lineages own holds claims on and has not finished with, and
// the tables of every lineage (read only when there are such claims).
//
// The leases are read in a View, and the Update that claims (serialized
// across the nodes) runs only when a lease is to be made or claimed, and
// reads only those: the ledger, one key per table and lineage, is read
// once at start (for lineages without a lease) and while a claim is being
// worked on, never in an Update.
func (d *Data) claimLineages(ctx context.Context, own string) ([]string, map[string]*lineageTables, error) {
	now := d.now().UnixNano()
	leases, err := d.readLeases(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := ownLeaseHeld(own, leases[own]); err != nil {
		return nil, nil, err
	}
	var tables map[string]*lineageTables
	if !d.leasesKnown.Load() {
		if tables, err = d.readLineagePointers(ctx); err != nil {
			return nil, nil, err
		}
	}
	d.watch.note(leases, now)
	term := int64(d.leaseTerm())
	alive := func(l string) bool {
		lease, ok := leases[l]
		return ok && !d.watch.stale(l, lease, now, term) && lease.Adopter == ""
	}
	var unleased, claimable, mine []string
	for _, l := range slices.Sorted(maps.Keys(tables)) {
		if _, ok := leases[l]; !ok && l != own {
			unleased = append(unleased, l)
		}
	}
	for _, l := range slices.Sorted(maps.Keys(leases)) {
		lease := leases[l]
		switch {
		case l == own || lease.Done:
		case lease.Adopter == own:
			mine = append(mine, l)
		case d.watch.stale(l, lease, now, term) && (lease.Adopter == "" || !alive(lease.Adopter)):
			claimable = append(claimable, l)
		}
	}
	if len(unleased)+len(claimable) > 0 {
		claimed, err := d.claim(ctx, own, now, unleased, claimable)
		if err != nil {
			return nil, nil, err
		}
		mine = append(mine, claimed...)
	}
	d.leasesKnown.Store(true)
	if len(mine) > 0 && tables == nil {
		if tables, err = d.readLineagePointers(ctx); err != nil {
			return nil, nil, err
		}
	}
	return mine, tables, nil
}

// ownLeaseHeld refuses a round of a node whose own lineage another node
// claimed (it was paused, and its renewal has not found out yet): what it
// claimed or adopted would belong to a lineage no node writes any more,
// whose claim may be done, so nothing would purge or compact it again.
func ownLeaseHeld(own string, l lineageLease) error {
	if l.Adopter != "" {
		return fmt.Errorf("adopt lineages into %s: lineage %s claimed it: %w", own, l.Adopter, logstore.ErrLineageAdopted)
	}
	return nil
}

// claim gives the unleased lineages a lease and claims the claimable ones
// for own, in one Update, checking each again there: another node may have
// claimed it, or its owner renewed it, since it was read.
func (d *Data) claim(ctx context.Context, own string, now int64, unleased, claimable []string) ([]string, error) {
	var claimed, made []string
	term := int64(d.leaseTerm())
	err := d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		claimed = nil
		b, err := tx.CreateBucketIfNotExists(lineageBucket)
		if err != nil {
			return err
		}
		mine, err := getLease(b, own)
		if err != nil {
			return err
		}
		if err := ownLeaseHeld(own, mine); err != nil {
			return err
		}
		made = nil
		for _, l := range unleased {
			if b.Get([]byte(l)) == nil {
				if err := putLease(b, l, lineageLease{Expires: now + term}); err != nil {
					return err
				}
				made = append(made, l)
			}
		}
		for _, l := range claimable {
			lease, err := getLease(b, l)
			if err != nil {
				return err
			}
			if !d.watch.stale(l, lease, now, term) || lease.Done {
				continue // renewed since it was read, or claimed and done
			}
			if lease.Adopter != "" && lease.Adopter != own {
				adopter, err := getLease(b, lease.Adopter)
				if err != nil {
					return err
				}
				if !d.watch.stale(lease.Adopter, adopter, now, term) && adopter.Adopter == "" {
					continue // its adopter is alive, and works on it
				}
			}
			lease.Adopter, lease.Claimed = own, now
			if err := putLease(b, l, lease); err != nil {
				return err
			}
			claimed = append(claimed, l)
		}
		return nil
	})
	if err == nil {
		for _, l := range made {
			d.watch.saw(l, lineageLease{Expires: now + term}, now)
		}
	}
	return claimed, err
}

// finish marks the lineages own adopted whose every table is adopted and
// swept: no later round reads the ledger for them.
func (d *Data) finish(ctx context.Context, own string, done []string) error {
	if len(done) == 0 {
		return nil
	}
	return d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(lineageBucket)
		if err != nil {
			return err
		}
		for _, l := range done {
			lease, err := getLease(b, l)
			if err != nil {
				return err
			}
			if lease.Adopter == own && !lease.Done {
				lease.Done = true
				if err := putLease(b, l, lease); err != nil {
					return err
				}
				if err := dropMarks(tx, l); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (d *Data) readLeases(ctx context.Context) (map[string]lineageLease, error) {
	leases := map[string]lineageLease{}
	err := d.opts.ControlDB.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(lineageBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var l lineageLease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("the lease of lineage %s: %w", k, err)
			}
			leases[string(k)] = l
		}
		return nil
	})
	return leases, err
}

func (d *Data) readLineagePointers(ctx context.Context) (map[string]*lineageTables, error) {
	var tables map[string]*lineageTables
	err := d.opts.ControlDB.View(ctx, func(tx kv.Tx) error {
		var err error
		tables, err = lineagePointers(tx)
		return err
	})
	return tables, err
}

// lineagePointers lists the tables of every lineage in the ledger.
func lineagePointers(tx kv.Tx) (map[string]*lineageTables, error) {
	out := map[string]*lineageTables{}
	b := tx.Bucket(ledgerBucket)
	if b == nil {
		return out, nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		parts := bytes.Split(k, []byte("/"))
		if len(parts) != 3 || len(v) == tableRecordSize {
			continue // a table's record, of a store in no cluster
		}
		p, err := decodePointer(v)
		if err != nil {
			return nil, err
		}
		l := string(parts[2])
		if out[l] == nil {
			out[l] = &lineageTables{}
		}
		wt := wsTable{ws: string(parts[0]), table: string(parts[1])}
		switch {
		case p.Retired != 0:
			out[l].retired = append(out[l].retired, wt)
		case p.Epoch > 0:
			out[l].live = append(out[l].live, wt)
		}
	}
	return out, nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
