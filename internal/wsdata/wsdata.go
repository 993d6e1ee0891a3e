// Package wsdata holds each workspace's sealed stores — its log store and
// its documents — opened under the account keys that govern the workspace:
// its cluster's when it is under a customer-managed key, the platform's
// otherwise.
package wsdata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/savedsearch"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/watchlist"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Options tune the workspaces' log stores; zero values take the log store's
// defaults.
type Options struct {
	// FlushBytes is the size at which a table's write-ahead log is sealed
	// into segments; FlushInterval the age at which it is even if smaller.
	FlushBytes    int64
	FlushInterval time.Duration
	Logger        *slog.Logger
	// ControlDB is the control plane's database, where the log stores'
	// ledger (manifest epochs, retention horizons) is kept apart from the
	// files it vouches for; nil keeps it in memory, for tests.
	ControlDB kv.DB
	// MaxUnflushedBytes bounds the rows that every workspace's log store
	// holds in memory before they are flushed, together (see
	// logstore.MemoryBudget); 0 bounds each table by FlushBytes alone.
	MaxUnflushedBytes int64
	// IdleClose is how long a workspace's log store stays open unused:
	// CloseIdle closes it then (its WALs flushed first), and the next use
	// opens it again under keys asked for anew. 0 keeps stores open.
	IdleClose time.Duration
	// MaxOpenStores bounds the log stores open at once: opening one more
	// closes the least recently handed out that nothing uses (see
	// capOpenStores). Stores in use stay open, so the bound is exceeded
	// while more than it are in use. 0: no bound.
	MaxOpenStores int
	// Objects, if set, keeps the log stores' segments and manifests (a
	// bucket several nodes share) rather than the workspaces' directories,
	// which keep the WALs; the node caches the segments it reads in one
	// cache under the log directory, of at most SegmentCacheBytes
	// (default logstore.DefaultCacheBytes). Lineage is then this node's
	// lineage of every table (logstore.Config.Lineage): each node sharing
	// Objects and ControlDB must have its own.
	Objects           objstore.Store
	SegmentCacheBytes int64
	Lineage           string
	// SharedWAL, if set with Objects, keeps a copy of every WAL record
	// off the node (logstore.Config.SharedWAL): every node reads the rows
	// the others have not flushed, and a node's disk loses none.
	SharedWAL logstore.SharedWAL
	// LineageLease is how long this node's lease on its lineage lasts
	// unrenewed, and how long another node's must have run out before this
	// one adopts it (default DefaultLineageLease; see lineages.go).
	LineageLease time.Duration
}

// segmentCacheDir is where a node keeps the segments it read from Objects,
// under the log directory: not a workspace's ID.
const segmentCacheDir = ".segment-cache"

// Data is the data plane's view of every workspace's stores.
type Data struct {
	dir    string
	docsDB kv.DB
	keys   *clusterkeys.Manager
	opts   Options
	ledger logstore.Ledger
	// segments caches the segments read from Options.Objects; nil without.
	segments *logstore.SegmentCache
	// retention is the retention of the tables given one of their own.
	retention *tableRetention
	// lineage is this node's lineage of every table (Options.Lineage),
	// until another node adopts it (ChangeLineage).
	lineage atomic.Pointer[string]
	// renewed is when the last renewal of the lineage's lease that
	// succeeded began, on the monotonic clock (CheckLease).
	renewed atomic.Pointer[time.Time]
	// leasesKnown: every lineage the ledger held at the first round of
	// AdoptLineages has a lease since (claimLineages).
	leasesKnown atomic.Bool
	// watch is what AdoptLineages saw of the other lineages' leases.
	watch leaseWatch
	log   *slog.Logger
	now   func() time.Time
	// functions keeps each workspace's functions (its saved searches with
	// an alias) across queries, by the version of their sealed index.
	functions *savedsearch.Cache

	// budget is the node's bound on unflushed rows, and codec its
	// compression state, both shared by every workspace's log store.
	budget *logstore.MemoryBudget
	codec  *logstore.Codec
	// merges lets one segment merge run at a time on the node, whichever
	// workspace's.
	merges *logstore.MergeSlots

	mu   sync.Mutex
	logs map[string]*storeSlot // customerID → its log store, open or not
	// deleted are the workspaces deleted since the node started: a caller
	// that looked one up before (the scrub's round, an ingest under way)
	// must not open its stores again, recreating its directory.
	deleted map[string]bool
	scrubs  scrubState

	// open counts the log stores open now, changed under their slot's lock;
	// capping and capWanted run capOpenStores one at a time, again while
	// a store opened during a run asked for one, and caps waits for them.
	open      atomic.Int64
	capping   atomic.Bool
	capWanted atomic.Bool
	caps      sync.WaitGroup
	// stop ends the runs of capOpenStores when the data plane closes.
	stop    context.Context
	stopped context.CancelFunc
}

// storeSlot is one workspace's log store. Its own lock is held while the
// store opens or closes, so that opening one workspace's store (which may
// wait for the key service) holds up no other workspace.
type storeSlot struct {
	mu   sync.Mutex
	open *openStore // nil while closed
	gone bool       // the workspace was deleted
	// used is when Logs last handed the store out (Unix ns): CloseIdle
	// leaves alone a store handed out less than the idle time ago.
	used atomic.Int64
	// damage is what the store had found damaged when it was closed as
	// idle: a closed store forgets it, and a damaged block found by a
	// read is found again only by a read. Reported until a verification
	// of the workspace reports afresh.
	damage []logstore.IntegrityError
}

type openStore struct {
	store *logstore.Store
	// governedBy is the cluster (or "platform") whose keys the store was
	// opened with; a workspace that moves under a key is reopened.
	governedBy string
	lineage    string
	retention  time.Duration
	tables     map[string]time.Duration // the tables' own retention
	// catalog keeps the workspace's query catalog while the store is open.
	catalog *catalogCache
}

// New opens the data plane over dir (one subdirectory per workspace) and the
// document database docsDB.
func New(dir string, docsDB kv.DB, keys *clusterkeys.Manager, opts Options) (*Data, error) {
	if opts.FlushBytes < 0 || opts.FlushInterval < 0 || opts.MaxUnflushedBytes < 0 || opts.IdleClose < 0 || opts.MaxOpenStores < 0 {
		return nil, fmt.Errorf("workspace data: the flush size and interval, the unflushed bytes, the idle time and the open stores must not be negative")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	codec, err := logstore.NewCodec(runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	var ledger logstore.Ledger = &logstore.MemLedger{}
	if opts.ControlDB != nil {
		ledger = kvLedger{opts.ControlDB}
	}
	var segments *logstore.SegmentCache
	if opts.Objects != nil {
		if segments, err = logstore.NewSegmentCache(filepath.Join(dir, segmentCacheDir), opts.SegmentCacheBytes, opts.Objects); err != nil {
			return nil, err
		}
	}
	stop, stopped := context.WithCancel(context.Background())
	d := &Data{stop: stop, stopped: stopped, dir: dir, docsDB: docsDB, keys: keys, opts: opts, ledger: ledger, segments: segments, retention: &tableRetention{db: opts.ControlDB}, log: opts.Logger, now: time.Now,
		functions: savedsearch.NewCache(), budget: logstore.NewMemoryBudget(opts.MaxUnflushedBytes), codec: codec,
		merges: logstore.NewMergeSlots(1),
		logs:   map[string]*storeSlot{}, deleted: map[string]bool{}}
	d.lineage.Store(&opts.Lineage)
	return d, nil
}

// Unflushed is the bytes of rows the workspaces' log stores hold in the
// WALs being filled, and the node's budget for them (0: none).
func (d *Data) Unflushed() (bytes, budget int64) {
	return d.budget.Unflushed(), d.budget.Limit()
}

// slot returns the slot of a workspace's log store, making it on first use;
// none for a workspace deleted.
func (d *Data) slot(id string) (*storeSlot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deleted[id] {
		return nil, deletedError(id)
	}
	s := d.logs[id]
	if s == nil {
		s = &storeSlot{}
		d.logs[id] = s
	}
	return s, nil
}

// slots are the slots of every workspace used since the node started.
func (d *Data) slots() map[string]*storeSlot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.logs)
}

// openStoreOf returns a workspace's log store if it is open now.
func (d *Data) openStoreOf(id string) *openStore {
	d.mu.Lock()
	s := d.logs[id]
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Logs returns the log store of a workspace, opening it if it is not open:
// on first use, after CloseIdle closed it, or when the workspace moved
// under another key or changed its retention.
func (d *Data) Logs(ctx context.Context, ws *workspace.WorkspaceInfo) (*logstore.Store, error) {
	o, _, err := d.openLogs(ctx, ws, false)
	if err != nil {
		return nil, err
	}
	return o.store, nil
}

// openLogs is Logs, with what is kept beside the open store. held marks
// the store in use (logstore.Store.Hold) before the slot's lock is let go,
// so that no closer (CloseIdle, the open-store bound) can find it unused
// between the hand-out and the caller's use; the caller calls release.
func (d *Data) openLogs(ctx context.Context, ws *workspace.WorkspaceInfo, held bool) (_ *openStore, release func(), _ error) {
	governedBy := "platform"
	if ws.CMK {
		governedBy = ws.ClusterID
	}
	retention := time.Duration(ws.Workspace.Properties.RetentionInDays) * 24 * time.Hour
	id := ws.Workspace.Properties.CustomerID
	tables, err := d.retention.of(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s, err := d.slot(id)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return nil, nil, deletedError(id)
	}
	s.used.Store(d.now().UnixNano())
	handOut := func(o *openStore) (*openStore, func(), error) {
		if !held {
			return o, func() {}, nil
		}
		return o, o.store.Hold(), nil
	}
	lineage := d.Lineage()
	if o := s.open; o != nil && o.governedBy == governedBy && o.lineage == lineage && o.retention == retention && maps.Equal(o.tables, tables) {
		return handOut(o)
	} else if o != nil {
		if err := o.store.Close(); err != nil {
			d.log.Warn("close log store", "workspace", id, "err", err)
		}
		s.open = nil
		d.open.Add(-1)
	}
	if gone, err := d.buried(ctx, id); err != nil || gone {
		if gone {
			s.gone = true
			err = deletedError(id)
		}
		return nil, nil, err
	}
	st, err := d.newLogStore(ctx, ws, retention, tables, lineage)
	if err != nil {
		return nil, nil, err
	}
	keysOf := workspace.WorkspaceInfo{CMK: ws.CMK, ClusterID: ws.ClusterID} // the keys the store is opened under
	s.open = &openStore{store: st, governedBy: governedBy, lineage: lineage, retention: retention, tables: tables,
		catalog: &catalogCache{watch: func() (clusterkeys.KeyWatch, bool) { return d.keys.WatchKeys(&keysOf) }}}
	if n := d.open.Add(1); d.opts.MaxOpenStores > 0 && n > int64(d.opts.MaxOpenStores) {
		d.startCap()
	}
	return handOut(s.open)
}

// newLogStore opens a workspace's log store under lineage.
func (d *Data) newLogStore(ctx context.Context, ws *workspace.WorkspaceInfo, retention time.Duration, tables map[string]time.Duration, lineage string) (*logstore.Store, error) {
	id := ws.Workspace.Properties.CustomerID
	keys, err := d.keys.Keys(ctx, ws, clusterkeys.Logs)
	if err != nil {
		return nil, err
	}
	st, err := logstore.New(logstore.Config{
		Dir: filepath.Join(d.dir, id), Keys: keys, Retention: retention, TableRetention: tables,
		FlushBytes: d.opts.FlushBytes, FlushInterval: d.opts.FlushInterval, Budget: d.budget, Codec: d.codec, Merges: d.merges,
		Logger: d.log, Ledger: d.ledger, // its lines name the workspace
		Objects: d.opts.Objects, Cache: d.segments, Lineage: lineage, SharedWAL: d.opts.SharedWAL,
	})
	if err != nil {
		return nil, fmt.Errorf("open the log store of workspace %s: %w", id, err)
	}
	return st, nil
}

// Source returns the query engine's view of a workspace's logs, of its
// declared tables, of its watchlists, which _GetWatchlist reads from the
// sealed document store, and of its functions, the saved searches with an
// alias. The source holds the workspace's log store open from the moment
// it is handed out — its catalog, its compilation and each scan of a
// query or of a rule's runs, however far apart — until Release, which the
// caller must call once done with it: neither an idle close nor the
// open-store bound closes a store under a query.
func (d *Data) Source(ctx context.Context, ws *workspace.WorkspaceInfo) (*Source, error) {
	o, release, err := d.openLogs(ctx, ws, true)
	if err != nil {
		return nil, err
	}
	docs, err := d.Docs(ctx, ws)
	if err != nil {
		release()
		return nil, err
	}
	id := ws.Workspace.Properties.CustomerID
	wl := watchlist.New(docs, id, ws.Workspace.ID, nil)
	fns := savedsearch.New(docs, id, ws.Workspace.ID, d.functions)
	tabs := tables.New(docs, id, ws.Workspace.ID, ws.Workspace.Properties.RetentionInDays)
	src := NewSource(o.store, id).WithWatchlists(wl).WithFunctions(fns).WithTables(tabs)
	src.catalog, src.release = o.catalog, release
	return src, nil
}

// SavedSearches returns a workspace's saved searches under its document
// keys, sharing the node's cache of the functions they declare.
func (d *Data) SavedSearches(ctx context.Context, ws *workspace.WorkspaceInfo) (*savedsearch.Searches, error) {
	docs, err := d.Docs(ctx, ws)
	if err != nil {
		return nil, err
	}
	return savedsearch.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, d.functions), nil
}

// Tables returns a workspace's declared tables, kept in its sealed
// document store: what ingestion converts rows by and queries bind to.
func (d *Data) Tables(ctx context.Context, ws *workspace.WorkspaceInfo) (*tables.Tables, error) {
	docs, err := d.Docs(ctx, ws)
	if err != nil {
		return nil, err
	}
	return tables.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, ws.Workspace.Properties.RetentionInDays), nil
}

// Docs returns the document store under a workspace's document keys.
func (d *Data) Docs(ctx context.Context, ws *workspace.WorkspaceInfo) (*docstore.Store, error) {
	keys, err := d.keys.Keys(ctx, ws, clusterkeys.Documents)
	if err != nil {
		return nil, err
	}
	return docstore.New(d.docsDB, keys)
}

// deleteObjects deletes a workspace's segments and manifests from
// Options.Objects, every node's lineages of them.
func (d *Data) deleteObjects(ctx context.Context, customerID string) error {
	if d.opts.Objects == nil {
		return nil
	}
	entries, err := d.opts.Objects.List(ctx, customerID+"/")
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, d.opts.Objects.Delete(ctx, e.Key))
	}
	return errors.Join(errs...)
}

// deletedError refuses the stores of a workspace deleted meanwhile.
func deletedError(customerID string) error {
	return fault.New(fault.NotFound, workspace.CodeNotFound, "workspace %s was deleted", customerID)
}

// DeleteWorkspace removes a workspace's data; it needs no key. Its stores
// are not opened again, on this node or any other sharing the control
// plane (tombstones.go).
func (d *Data) DeleteWorkspace(ctx context.Context, customerID string) error {
	if err := d.bury(ctx, customerID); err != nil {
		return fmt.Errorf("delete the data of workspace %s: %w", customerID, err)
	}
	errs := []error{d.forgetLocal(customerID)}
	errs = append(errs, d.deleteObjects(ctx, customerID))
	if d.opts.SharedWAL != nil {
		errs = append(errs, d.opts.SharedWAL.DeleteWorkspace(ctx, customerID))
	}
	errs = append(errs, d.ledger.ForgetWorkspace(ctx, customerID))
	errs = append(errs, d.retention.forget(ctx, customerID))
	errs = append(errs, d.forgetReport(ctx, customerID))
	docs, err := docstore.New(d.docsDB, noKeys{})
	if err == nil {
		err = docs.DeleteWorkspace(ctx, customerID)
	}
	errs = append(errs, err)
	return errors.Join(errs...)
}

// Close closes every open store; the data plane is not used after.
func (d *Data) Close() error {
	d.stopped()
	d.caps.Wait()
	var errs []error
	for _, s := range d.slots() {
		s.mu.Lock()
		if s.open != nil {
			errs = append(errs, s.open.store.Close())
			s.open = nil
			d.open.Add(-1)
		}
		s.mu.Unlock()
	}
	d.codec.Close()
	return errors.Join(errs...)
}

// noKeys serves deletion, which needs no key.
type noKeys struct{}

func (noKeys) Current(context.Context) (envelope.Sealer, error) {
	return nil, errors.New("no key is needed to delete")
}

func (noKeys) ByID(context.Context, string) (envelope.Sealer, error) {
	return nil, errors.New("no key is needed to delete")
}

// Flush writes every open workspace's WALs into sealed segments.
func (d *Data) Flush(ctx context.Context) error {
	var stores []*logstore.Store
	for id := range d.slots() {
		if o := d.openStoreOf(id); o != nil {
			stores = append(stores, o.store)
		}
	}
	var errs []error
	for _, st := range stores {
		errs = append(errs, st.Flush(ctx))
	}
	return errors.Join(errs...)
}

// FlushLogs seals the rows a workspace's table holds in its write-ahead log
// (table empty: every table's) into segments now, and returns once they
// are durable there. It needs the workspace's key.
func (d *Data) FlushLogs(ctx context.Context, ws *workspace.WorkspaceInfo, table string) error {
	st, err := d.Logs(ctx, ws)
	if err != nil {
		return err
	}
	return st.FlushWorkspace(ctx, ws.Workspace.Properties.CustomerID, table)
}

// PurgeExpired deletes, in every workspace, the segments older than the
// workspace's retention. It needs no key: it runs while a key is revoked.
func (d *Data) PurgeExpired(ctx context.Context, workspaces []workspace.WorkspaceInfo, now time.Time) (int, error) {
	total := 0
	var errs []error
	for i := range workspaces {
		ws := &workspaces[i]
		st, temporary, err := d.logStoreForPurge(ctx, ws)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st == nil {
			continue // deleted since it was listed
		}
		n, err := st.PurgeExpired(ctx, now)
		total += n
		errs = append(errs, err)
		if temporary {
			errs = append(errs, st.Close())
		}
	}
	return total, errors.Join(errs...)
}

// logStoreForPurge opens a workspace's log store without asking the key
// layer for keys, which may be revoked; purging reads no sealed data. It
// returns no store for a workspace deleted meanwhile.
func (d *Data) logStoreForPurge(ctx context.Context, ws *workspace.WorkspaceInfo) (st *logstore.Store, temporary bool, err error) {
	id := ws.Workspace.Properties.CustomerID
	retention := time.Duration(ws.Workspace.Properties.RetentionInDays) * 24 * time.Hour
	tables, err := d.retention.of(ctx, id)
	if err != nil {
		return nil, false, err
	}
	d.mu.Lock()
	deleted := d.deleted[id]
	d.mu.Unlock()
	if deleted {
		return nil, false, nil
	}
	lineage := d.Lineage()
	if o := d.openStoreOf(id); o != nil && o.lineage == lineage && o.retention == retention && maps.Equal(o.tables, tables) {
		return o.store, false, nil
	}
	if gone, err := d.buried(ctx, id); err != nil || gone {
		return nil, false, err
	}
	st, err = logstore.New(logstore.Config{Dir: filepath.Join(d.dir, id), Keys: noKeys{}, Retention: retention,
		TableRetention: tables, Logger: d.log, Ledger: d.ledger, Codec: d.codec,
		Objects: d.opts.Objects, Cache: d.segments, Lineage: lineage})
	return st, true, err
}
