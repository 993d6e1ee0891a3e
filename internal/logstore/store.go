// Package logstore keeps a workspace's log tables sealed at rest: ingested
// rows go to an encrypted write-ahead log, are flushed into immutable,
// time-partitioned segments of separately compressed and sealed columns, and
// are read back by scans that open only the blocks and columns they need.
//
// Every object key is derived from an account key (AEK) through
// envelope.Keys, for one WAL file or one segment, and is derived again for
// each operation, so that revoking the AEK stops reads and writes at once.
// Only workspace and table names (directories), segment time ranges (file
// names) and sizes are stored in plaintext: enough for retention and
// workspace deletion to work without any key.
package logstore

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

// Config configures a Store. Dir and Keys are required.
type Config struct {
	// Dir holds one directory per workspace, one per table inside it.
	Dir string
	// Keys gives the log store's account keys.
	Keys envelope.Keys
	// Retention is how long rows are kept, and how old a row may be when it
	// is ingested (default 30 days).
	Retention time.Duration
	// TableRetention overrides Retention for the tables it names: the
	// retention a table was given through the tables API, kept in the
	// control plane in the clear so that purging needs no key.
	TableRetention map[string]time.Duration
	// MaxClockSkew is how far into the future a row's TimeGenerated may be
	// (default 10 minutes).
	MaxClockSkew time.Duration
	// MaxRowBytes is the largest row, as JSON (default 256 KiB, at most
	// 32 MiB).
	MaxRowBytes int
	// FlushBytes is the WAL size at which it is flushed into segments
	// (default 32 MiB). Memory use is about four times this per table
	// being written: the rows of the WAL being filled and of the ones being
	// flushed are held in memory for scans (up to three WALs' worth), and
	// so are the blocks scans build from them (about 0.4 times as much). A
	// flush builds up to min(GOMAXPROCS, 4) blocks at once, each some
	// 7 MiB of parsed cells at 8,192 rows of twenty columns.
	FlushBytes int64
	// FlushInterval is the age at which a WAL with rows is flushed even if
	// not full (default 10 minutes): retention deletes segments only, so
	// every row must reach one.
	FlushInterval time.Duration
	// BlockRows is the number of rows in a block (default 8192).
	BlockRows int
	// Compaction merges the small segments of one time partition of a
	// table into bigger ones, in the background (see Store.Compact). A
	// merge writes segments of up to CompactRows rows and CompactBytes
	// bytes (defaults 1,000,000 and 256 MiB); it is due once a partition
	// has CompactMinSegments segments of about one size (default 4, at
	// least 2), or 2 once no row was ingested into it for two flush
	// intervals. It uses at most CompactCPU of one core (default 0.5, at most 1)
	// and waits for a slot of Merges (default: one of the store's own).
	CompactRows        int64
	CompactBytes       int64
	CompactMinSegments int
	CompactCPU         float64
	Merges             *MergeSlots
	// Logger gets flush failures and recoveries (default: discard). Lines
	// name workspaces, tables and files, never rows or keys.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Ledger records the tables' manifest epochs and purges in the control
	// plane, so that a manifest rolled back on disk is found (default: a
	// MemLedger, for the life of the store only).
	Ledger Ledger
	// Budget bounds the unflushed rows of every store that shares it (one
	// per node): over it, the largest WAL is flushed. Nil: each table is
	// bounded by FlushBytes alone. The blocks scans build from those rows
	// (see FlushBytes) come on top, at about 0.4 times their size.
	Budget *MemoryBudget
	// Codec compresses column chunks; one shared by every store of a node
	// keeps its memory constant. Nil: the store makes its own, for two
	// chunks at once, and closes it on Close.
	Codec *Codec
	// Objects keeps the tables' segments and manifests (objects.go).
	// Nil: files under Dir, beside the WALs, as before objects were kept
	// behind objstore. Given (a bucket shared by several nodes), segments
	// are cached whole under CacheDir, at most CacheBytes of them (defaults
	// Dir/.segment-cache and 4 GiB), evicting the least recently used.
	// Cache, if given, is the cache of Objects' segments to use instead,
	// shared by the stores of a node (CacheDir and CacheBytes are then
	// its own).
	Objects    objstore.Store
	CacheDir   string
	CacheBytes int64
	Cache      *SegmentCache
	// Lineage, if set, is this node's lineage of every table (lineage.go):
	// the nodes sharing Objects and the control plane each write their own,
	// and a query reads them all. It needs a Ledger that is a
	// LineageLedger, and is lowercase letters, digits and '-', starting
	// with a letter. Empty: the store is the only writer of its tables.
	Lineage string
	// RetiredGrace is how long the segments a merge replaced are kept
	// after it, for the scans of other nodes that read the manifest before
	// (default, with a Lineage: 15 minutes, longer than a query runs; 0
	// without one: a store alone knows its scans). The next manifests list
	// them until they go.
	RetiredGrace time.Duration
	// SharedWAL, if set, keeps a copy of every WAL record off the node
	// (sharedwal.go), so that other nodes read the rows not yet flushed and
	// a node that lost its disk loses no acknowledged row; it needs a
	// Lineage. Nil: the WALs are on this node's disk only.
	SharedWAL SharedWAL
}

// DefaultRetiredGrace is Config.RetiredGrace for a store with a lineage.
const DefaultRetiredGrace = 15 * time.Minute

// DefaultCacheBytes bounds the local cache of a remote store's segments.
const DefaultCacheBytes = 4 << 30

// Flush defaults: a WAL is sealed into segments at 32 MiB, or once 10
// minutes old.
const (
	DefaultFlushBytes    = 32 << 20
	DefaultFlushInterval = 10 * time.Minute
)

// Store is the log store of one node. It is safe for concurrent use.
type Store struct {
	cfg Config
	// segVersion and pageRows, where set (by tests), are the version and
	// page size of the segments the store writes; zero: the current ones.
	segVersion uint16
	pageRows   int
	// flushWorkers, where set (by tests), is how many goroutines build a
	// flush's blocks; zero: min(GOMAXPROCS, maxFlushWorkers).
	flushWorkers int
	keys         envelope.Keys
	log          *slog.Logger
	zenc         *zstd.Encoder
	zdec         *zstd.Decoder
	// ownCodec is the codec the store made for itself, closed with it.
	ownCodec *Codec
	// blockWorkers holds the *blockWorker of finished flushes, so that the
	// next one starts with buffers grown to a block's size.
	blockWorkers sync.Pool
	// maxSeals is rule 6's budget per object key; a field so that a test
	// can make the budget small enough to reach.
	maxSeals uint64
	// indexes are the decrypted segment indexes, valid while the key is.
	indexes indexCache
	objects objects
	ledger  Ledger
	// lineages is the ledger, if the store has a lineage; nil otherwise.
	lineages LineageLedger
	// foreign are the manifests of other lineages queries read.
	foreign foreignManifests
	// dropped counts the times the decrypted caches were dropped: each
	// table's other lineages' rows (foreignTails) go at its next read.
	dropped atomic.Uint64
	damage  damageLog
	clock   ingestClock
	// compacting holds a token while a merge runs (Config.Merges).
	compacting chan struct{}
	// compactHook, if set (by tests), is called at each step of a merge.
	compactHook func(step compactStep)

	ctx    context.Context // ends background flushes on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// users counts the ingests and verifications under way and the
	// scanners open (see InUse).
	users atomic.Int64
	// changes counts what may change the answers of Tables and Schema
	// (see Changes).
	changes atomic.Uint64

	mu     sync.Mutex
	tables map[tableKey]*table
	closed bool
}

type tableKey struct{ ws, table string }

// maxRowBytesLimit bounds Config.MaxRowBytes: a value of one row must fit
// a page of a column chunk (see maxPageSize).
const maxRowBytesLimit = maxPageSize / 2

// New opens a store in cfg.Dir. It needs no key: tables are opened, and
// their WALs replayed, when first used.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" || cfg.Keys == nil {
		return nil, errors.New("log store: a directory and keys are required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	for table, d := range cfg.TableRetention {
		if d <= 0 {
			return nil, fmt.Errorf("log store: the retention of table %s must be positive", table)
		}
	}
	cfg.TableRetention = maps.Clone(cfg.TableRetention)
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = 10 * time.Minute
	}
	if cfg.MaxRowBytes <= 0 {
		cfg.MaxRowBytes = 256 << 10
	}
	if cfg.MaxRowBytes > maxRowBytesLimit {
		return nil, fmt.Errorf("log store: MaxRowBytes %d is over the limit of %d", cfg.MaxRowBytes, maxRowBytesLimit)
	}
	if cfg.FlushBytes <= 0 {
		cfg.FlushBytes = DefaultFlushBytes
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.BlockRows <= 0 {
		cfg.BlockRows = 8192
	}
	cfg.BlockRows = min(cfg.BlockRows, maxBlockRows)
	cfg.compactDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Ledger == nil {
		cfg.Ledger = &MemLedger{}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	var lineages LineageLedger
	if cfg.Lineage != "" && cfg.RetiredGrace <= 0 {
		cfg.RetiredGrace = DefaultRetiredGrace
	}
	if cfg.Lineage != "" {
		l, ok := cfg.Ledger.(LineageLedger)
		switch {
		case !validLineage(cfg.Lineage):
			return nil, fmt.Errorf("log store: lineage %q is not lowercase letters, digits and '-' from a letter on", cfg.Lineage)
		case !ok:
			return nil, errors.New("log store: a store with a lineage needs a ledger that keeps lineages")
		}
		lineages = l
	}
	if cfg.SharedWAL != nil && cfg.Lineage == "" {
		return nil, errors.New("log store: a shared WAL needs a lineage")
	}
	objs, err := openObjects(&cfg)
	if err != nil {
		return nil, err
	}
	codec, own := cfg.Codec, (*Codec)(nil)
	if codec == nil {
		var err error
		if codec, err = NewCodec(2); err != nil {
			return nil, err
		}
		own = codec
	}
	st := &Store{
		cfg: cfg, keys: cfg.Keys, log: cfg.Logger, zenc: codec.enc, zdec: codec.dec, ownCodec: own,
		maxSeals: maxSealsPerKey, tables: make(map[tableKey]*table), ledger: cfg.Ledger, lineages: lineages, objects: objs,
		compacting: cfg.Merges.slots,
	}
	st.clock.now = cfg.Now
	st.ctx, st.cancel = context.WithCancel(context.Background())
	st.wg.Add(1)
	go st.flushAgedLoop()
	return st, nil
}

// openObjects opens where the tables' segments and manifests are kept.
func openObjects(cfg *Config) (objects, error) {
	if cfg.Objects == nil {
		local, err := localfs.New(cfg.Dir)
		if err != nil {
			return objects{}, fmt.Errorf("log store: %w", err)
		}
		return objects{store: local, localDir: cfg.Dir}, nil
	}
	if cfg.Cache != nil {
		if cfg.Cache.store != cfg.Objects {
			return objects{}, errors.New("log store: the segment cache given caches another object store")
		}
		return objects{store: cfg.Objects, cache: cfg.Cache}, nil
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(cfg.Dir, ".segment-cache") // not a workspace's name
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	cache, err := NewSegmentCache(cfg.CacheDir, cfg.CacheBytes, cfg.Objects)
	if err != nil {
		return objects{}, fmt.Errorf("log store: %w", err)
	}
	return objects{store: cfg.Objects, cache: cache}, nil
}

// flushAgedLoop rotates WALs older than FlushInterval and starts the merges
// due, until Close.
func (st *Store) flushAgedLoop() {
	defer st.wg.Done()
	tick := time.NewTicker(max(st.cfg.FlushInterval/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-st.ctx.Done():
			return
		case <-tick.C:
		}
		st.mu.Lock()
		tables := make([]*table, 0, len(st.tables))
		for _, t := range st.tables {
			tables = append(tables, t)
		}
		st.mu.Unlock()
		for _, t := range tables {
			t.rotateAged(st.cfg.FlushInterval)
			if st.cfg.RetiredGrace > 0 {
				t.removeRetired()
			}
		}
		st.checkCachedKeys()
		for _, t := range tables {
			t.tails.checkKeys(st)
		}
		st.compactInBackground(tables)
	}
}

// checkCachedKeys derives again the key of every account key the cached
// indexes and manifests were decrypted under: one that is revoked or
// locked drops them (st.aead), so their plaintext does not wait for the
// next read to go.
func (st *Store) checkCachedKeys() {
	for _, hdr := range append(st.indexes.keyHeaders(), st.foreign.keyHeaders()...) {
		if _, err := st.aead(st.ctx, hdr, purposeSegment); err != nil {
			return
		}
	}
}

// Close stops background flushes and closes WAL files. Rows not yet flushed
// stay in their WALs and are replayed by the next Store.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	tables := make([]*table, 0, len(st.tables))
	for _, t := range st.tables {
		tables = append(tables, t)
	}
	st.mu.Unlock()
	st.cancel()
	var errs []error
	for _, t := range tables {
		errs = append(errs, t.close())
	}
	st.wg.Wait()
	st.dropDecrypted()
	if st.ownCodec != nil {
		st.ownCodec.Close()
	}
	return errors.Join(errs...)
}

// InUse reports whether an ingest, a verification or a merge is under way, or a
// scanner is open: a caller that closes stores it has not used for a while
// (to bound open files and memory) leaves this one open.
func (st *Store) InUse() bool { return st.users.Load() > 0 }

// Hold marks the store in use until release is called (more than once is
// harmless): a query scans its tables one after another, and the store must
// not be closed as idle between two of its scans.
func (st *Store) Hold() (release func()) {
	st.users.Add(1)
	var once sync.Once
	return func() { once.Do(func() { st.users.Add(-1) }) }
}

// table returns the table's state, creating it (unopened) if needed.
func (st *Store) table(ws, name string) (*table, error) {
	if err := checkNames(ws, name); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil, ErrClosed
	}
	k := tableKey{ws, name}
	t := st.tables[k]
	if t == nil {
		t = newTable(st, ws, name)
		st.tables[k] = t
	}
	return t, nil
}

// dropDecrypted forgets what the store keeps decrypted: the segments'
// indexes and the other lineages' manifests now, and the other lineages'
// rows not yet flushed at each table's next read (foreignTails.sync).
func (st *Store) dropDecrypted() {
	st.indexes.drop()
	st.foreign.drop()
	st.dropped.Add(1)
}

// aead derives the object key of a sealed file for one operation. A key
// that cannot be derived (revoked, locked) also drops the cached indexes:
// plaintext-derived data does not outlive the key.
func (st *Store) aead(ctx context.Context, hdr header, purpose string) (cipher.AEAD, error) {
	sealer, err := st.keys.ByID(ctx, hdr.aekID)
	if err != nil {
		st.dropDecrypted()
		return nil, fmt.Errorf("account key %s: %w", hdr.aekID, err)
	}
	aead, err := sealer.AEAD(hdr.salt[:], purpose)
	if err != nil {
		st.dropDecrypted()
		return nil, fmt.Errorf("derive object key: %w", err)
	}
	return aead, nil
}

// Ingest appends the rows of body, a JSON array of objects, to the table.
// It returns once the rows are durable in the WAL (concurrent calls share
// one fsync) and visible to scans. A bad row refuses the whole body with a
// *RowError naming it. The rows get one ingestion time, the instant their
// WAL record is written (see IngestionWatermark).
func (st *Store) Ingest(ctx context.Context, workspace, table string, body []byte) (int, error) {
	return st.ingest(ctx, workspace, table, body, nil)
}

// IngestDeclared is Ingest into a table with a declared schema, in the same
// one pass over the body: each value is converted to its column's declared
// type (see DeclaredType), and a value that does not convert refuses the
// body with a *RowError naming the row, the column and the type, a column
// the schema lacks with an *UndeclaredColumnError. TimeGenerated is every
// table's, declared or not. A null is a missing value of any type.
func (st *Store) IngestDeclared(ctx context.Context, workspace, table string, body []byte, columns []DeclaredColumn) (int, error) {
	d, err := newDeclared(columns)
	if err != nil {
		return 0, err
	}
	return st.ingest(ctx, workspace, table, body, d)
}

func (st *Store) ingest(ctx context.Context, workspace, table string, body []byte, d declared) (int, error) {
	st.users.Add(1)
	defer st.users.Add(-1)
	t, err := st.table(workspace, table)
	if err != nil {
		return 0, err
	}
	now := st.cfg.Now()
	rec, refs, shape, err := parseShapedRows(body, ingestLimits{
		now: now, oldest: now.Add(-st.retention(table)), newest: now.Add(st.cfg.MaxClockSkew),
		maxRowBytes: st.cfg.MaxRowBytes, declared: d,
	})
	var undeclared *UndeclaredColumnError
	if errors.As(err, &undeclared) {
		undeclared.Table = table
	}
	if err != nil {
		return 0, err
	}
	sealer, err := st.keys.Current(ctx)
	if err != nil {
		return 0, fmt.Errorf("ingest into %s/%s: %w", workspace, table, err)
	}
	minT, maxT := timeRange(refs)
	g, ord, stamp, sealed, err := t.append(ctx, sealer, rec, minT, maxT)
	if err != nil {
		return 0, fmt.Errorf("ingest into %s/%s: %w", workspace, table, err)
	}
	err = t.durable(ctx, g, ord, sealed)
	if err == nil && g.mem.add(rec[ingestTimeSize:], refs, shape, minT, maxT, stamp) {
		st.changed() // the rows bring a column or a type the table's schema may lack
	}
	st.clock.done(stamp)
	g.pending.Done()
	st.cfg.Budget.relieve()
	if err != nil {
		return 0, fmt.Errorf("ingest into %s/%s: %w", workspace, table, err)
	}
	return len(refs), nil
}

// IngestionWatermark returns an instant W such that every row whose
// ingestion time is ≤ W is visible to any scan begun after the call
// returns, and every row ingested after it returns gets an ingestion time
// > W. A scheduler that scans with IngestedUpTo W, then later with
// IngestedAfter W, so sees every row exactly once. Ingest calls in flight
// (written, not yet acknowledged) hold W just before the oldest of their
// instants, so W may stay behind the clock while ingestion is busy.
//
// Rows of a call that failed after its record was written (a failed
// fsync) may still come back when the WAL is replayed after a restart,
// with their instant, which a watermark may have passed.
func (st *Store) IngestionWatermark() time.Time {
	return time.Unix(0, st.clock.watermark()).UTC()
}

// SharedWatermark returns an instant V ≤ IngestionWatermark such that
// every row of the workspace ingested by this store at or before V is
// visible to the scans of every store sharing its ledger and objects, not
// only this one's, and every later row gets a later ingestion time. Rows
// reach the others once they are in the shared WAL (Config.SharedWAL),
// which an ingest is acknowledged after: V is then the ingestion
// watermark. Without one they reach the others when a manifest listing
// their segments is published: V stays just before the oldest row of the
// workspace held in a WAL not yet flushed.
//
// It knows only the tables in use: rows left in the WAL of a table not
// used since the store opened (after a crash, or a close whose flush
// failed) are not held for.
func (st *Store) SharedWatermark(workspace string) time.Time {
	w := st.clock.watermark() // first: every row at or before it is in memory or published
	if st.cfg.SharedWAL == nil {
		if oldest, ok := st.oldestUnflushed(workspace); ok {
			w = min(w, oldest-1)
		}
	}
	return time.Unix(0, w).UTC()
}

// oldestUnflushed returns the earliest ingestion time of the rows of the
// workspace's tables in use that are in no published segment yet.
func (st *Store) oldestUnflushed(workspace string) (int64, bool) {
	st.mu.Lock()
	tables := make([]*table, 0, len(st.tables))
	for k, t := range st.tables {
		if k.ws == workspace {
			tables = append(tables, t)
		}
	}
	st.mu.Unlock()
	var oldest int64
	found := false
	for _, t := range tables {
		if o, ok := t.oldestUnflushed(); ok && (!found || o < oldest) {
			oldest, found = o, true
		}
	}
	return oldest, found
}

// Flush writes the WALs of the tables in use into segments and returns when
// done. (A table not used since the store opened has its WALs flushed when
// it is first used: replaying them needs the key.)
func (st *Store) Flush(ctx context.Context) error {
	st.mu.Lock()
	tables := make([]*table, 0, len(st.tables))
	for _, t := range st.tables {
		tables = append(tables, t)
	}
	st.mu.Unlock()
	var errs []error
	for _, t := range tables {
		errs = append(errs, t.flush(ctx))
	}
	return errors.Join(errs...)
}

// FlushWorkspace seals the rows in the WALs of one table of a workspace
// (table empty: of each of its tables) into segments now, and returns once
// the segments are durable and the WALs gone, so that later scans read
// those rows as flushed. Unlike Flush, it opens a table not used since the
// store opened, replaying its WALs. A table without rows is no error:
// there is nothing to seal. It needs the key: without it, it fails with
// the key's error and seals nothing.
func (st *Store) FlushWorkspace(ctx context.Context, workspace, table string) error {
	if !validWorkspace(workspace) {
		return fmt.Errorf("%w: workspace %q", ErrInvalidName, workspace)
	}
	if table != "" && !validTable(table) {
		return fmt.Errorf("%w: table %q", ErrInvalidName, table)
	}
	st.users.Add(1) // see InUse
	defer st.users.Add(-1)
	if _, err := st.keys.Current(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", workspace, err)
	}
	names := []string{table}
	if table == "" {
		var err error
		if names, err = st.Tables(ctx, workspace); err != nil {
			return err
		}
	}
	var errs []error
	for _, name := range names {
		t, err := st.table(workspace, name)
		if err == nil {
			err = t.openAndFlush(ctx)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PurgeExpired deletes the segments whose rows are all older than their
// table's retention, at now. It reads only file names: it needs no key, and
// works while the key is revoked.
func (st *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	workspaces, err := st.Workspaces(ctx)
	if err != nil {
		return 0, err
	}
	purged := 0
	for _, ws := range workspaces {
		tables, err := st.Tables(ctx, ws)
		if err != nil {
			return purged, err
		}
		for _, name := range tables {
			if err := ctx.Err(); err != nil {
				return purged, err
			}
			t, err := st.table(ws, name)
			if err != nil {
				return purged, err
			}
			n, err := t.purge(ctx, now.Add(-st.retention(name)).UnixNano())
			purged += n
			if err != nil {
				return purged, err
			}
		}
	}
	return purged, nil
}

// Workspaces lists the workspaces that have data.
func (st *Store) Workspaces(ctx context.Context) ([]string, error) {
	return listDirs(st.cfg.Dir, validWorkspace)
}

// Tables lists the tables of a workspace: those with a directory, and those
// the ledger records a manifest for, so that a table whose directory was
// deleted is reported damaged rather than silently left out.
func (st *Store) Tables(ctx context.Context, workspace string) ([]string, error) {
	if !validWorkspace(workspace) {
		return nil, fmt.Errorf("%w: workspace", ErrInvalidName)
	}
	tables, err := listDirs(filepath.Join(st.cfg.Dir, workspace), validTable)
	if err != nil {
		return nil, err
	}
	recorded, err := st.ledger.Tables(ctx, workspace)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: read the control plane's record: %w", workspace, err)
	}
	for _, name := range recorded {
		if validTable(name) && !slices.Contains(tables, name) {
			tables = append(tables, name)
		}
	}
	slices.Sort(tables)
	return tables, nil
}

// DeleteWorkspace deletes every table of a workspace, WALs and segments. It
// needs no key. Ingests into the workspace that are under way fail.
func (st *Store) DeleteWorkspace(ctx context.Context, workspace string) error {
	if !validWorkspace(workspace) {
		return fmt.Errorf("%w: workspace", ErrInvalidName)
	}
	// Holding st.mu keeps new ingests from opening a table of the
	// workspace while its directory goes.
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, t := range st.tables {
		if k.ws == workspace {
			t.close()
			delete(st.tables, k)
		}
	}
	st.indexes.forget(workspace)
	defer st.changed()
	if err := st.objects.deletePrefix(ctx, workspace+"/"); err != nil {
		return fmt.Errorf("delete workspace %s: %w", workspace, err)
	}
	if sh := st.cfg.SharedWAL; sh != nil {
		if err := sh.DeleteWorkspace(ctx, workspace); err != nil {
			return fmt.Errorf("delete workspace %s: the shared WAL: %w", workspace, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(st.cfg.Dir, workspace)); err != nil {
		return fmt.Errorf("delete workspace %s: %w", workspace, err)
	}
	if err := syncDir(st.cfg.Dir); err != nil {
		return err
	}
	if err := st.ledger.ForgetWorkspace(ctx, workspace); err != nil {
		return fmt.Errorf("delete workspace %s: %w", workspace, err)
	}
	st.damage.clearWorkspace(workspace)
	return nil
}

// Damage lists the damaged objects found since the store opened (on open,
// on read, or by Verify) and not found whole again since.
func (st *Store) Damage() []IntegrityError { return st.damage.list() }

// retention is how long table's rows are kept.
func (st *Store) retention(table string) time.Duration {
	if d, ok := st.cfg.TableRetention[table]; ok {
		return d
	}
	return st.cfg.Retention
}

// expired reports whether rows of table up to maxT are past its retention.
func (st *Store) expired(table string, maxT int64) bool {
	return maxT < st.cfg.Now().Add(-st.retention(table)).UnixNano()
}

// foundDamage records damage a read found, logs its cause and returns it.
// It moves Changes on: a catalog kept from before must be built again to
// see the damage.
func (st *Store) foundDamage(ie *IntegrityError) error {
	st.damage.record(ie)
	st.changed()
	st.log.Warn("damaged data found", "workspace", ie.Workspace, "table", ie.Table, "object", ie.Object,
		"problem", string(ie.Problem), "detail", ie.Detail)
	return ie
}

func listDirs(dir string, valid func(string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && valid(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// Workspace IDs are GUIDs or resource names; table names are Log Analytics
// table names. Both become directory names, so neither may hold a dot or a
// separator.
func validWorkspace(s string) bool { return validName(s, true) }
func validTable(s string) bool     { return validName(s, false) }

func validName(s string, dash bool) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && (dash || i > 0):
		case c == '-' && dash:
		default:
			return false
		}
	}
	return true
}

func checkNames(ws, table string) error {
	if !validWorkspace(ws) {
		return fmt.Errorf("%w: workspace %q", ErrInvalidName, ws)
	}
	if !validTable(table) {
		return fmt.Errorf("%w: table %q", ErrInvalidName, table)
	}
	return nil
}
