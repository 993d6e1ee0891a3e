package wsdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/savedsearch"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/watchlist"
)

// Source adapts a workspace's log store to the query engine: schemas from
// the sealed segment indexes, scans with the time range and the simple
// predicates pushed down so that untouched columns are never decrypted.
type Source struct {
	store     *logstore.Store
	workspace string
	// schemas are the stored columns of the tables this source read;
	// shared, the ones of the cached catalog it answered from, which
	// other queries read too: never written.
	schemas map[string][]logstore.ColumnSchema
	shared  map[string][]logstore.ColumnSchema
	// damaged are the tables whose manifest failed its integrity check: they
	// are listed with TimeGenerated only, and scanning them fails with why.
	damaged map[string]error
	// watchlists, when set, are served as the tables _GetWatchlist reads
	// (see watchlists.go).
	watchlists *watchlist.Watchlists
	// functions, when set, are the workspace's stored functions (see
	// functions.go).
	functions *savedsearch.Searches
	// tables, when set, are the workspace's declared custom tables, served
	// with the standard ones (see tables.go); declared holds both, once
	// read, and stored the tables that hold rows.
	tables   *tables.Tables
	declared map[string]kql.TableSchema
	stored   map[string]bool
	// scanned sums the statistics of the source's scans once each is closed.
	scanned *scanTally
	// catalog, when set, keeps the workspace's catalog across queries (see
	// catalog.go).
	catalog *catalogCache
	// release lets go of the hold Data.Source took on the store; nil for
	// a source made by NewSource, whose caller keeps its store open.
	release func()
}

// scanTally is the sum of closed scans' statistics; a query may close
// several scans at once (a join's, a union's).
type scanTally struct {
	mu    sync.Mutex
	stats logstore.ScanStats
}

func (t *scanTally) add(sc *logstore.Scanner) {
	t.mu.Lock()
	t.stats.Add(sc.Stats())
	t.mu.Unlock()
}

// ScanStats are what the source's closed scans read of the log store and
// what they passed over, summed: for a query's metrics.
func (s *Source) ScanStats() logstore.ScanStats {
	s.scanned.mu.Lock()
	defer s.scanned.mu.Unlock()
	return s.scanned.stats
}

// NewSource returns the query engine's view of one workspace in store.
func NewSource(store *logstore.Store, customerID string) *Source {
	return &Source{store: store, workspace: customerID, schemas: map[string][]logstore.ColumnSchema{}, damaged: map[string]error{},
		scanned: &scanTally{}}
}

var typeMap = map[logstore.Type]kql.Type{
	logstore.TypeString: kql.TypeString, logstore.TypeLong: kql.TypeLong, logstore.TypeReal: kql.TypeReal,
	logstore.TypeBool: kql.TypeBool, logstore.TypeDatetime: kql.TypeDatetime, logstore.TypeDynamic: kql.TypeDynamic,
}

// Release lets go of the workspace's log store, which a source from
// Data.Source holds open from its hand-out: the store may then be closed
// as idle. The source is not used after; more than one call is harmless.
func (s *Source) Release() {
	if s.release != nil {
		s.release()
	}
}

// Tables lists the workspace's tables with their columns: every declared
// table, rows or none, with its columns in declared order and then any it
// holds undeclared; every other table that holds rows, with the columns its
// rows have (TimeGenerated first, then by name); and the watchlists. The
// list is shared by the queries a cached catalog serves: never written.
func (s *Source) Tables(ctx context.Context) ([]kql.TableSchema, error) {
	if s.catalog != nil {
		return s.catalog.tablesOf(ctx, s)
	}
	return s.buildTables(ctx)
}

// buildTables is Tables read afresh from the store and the sealed
// documents. It notes in new maps what scans use (the tables declared and
// stored, their columns, the damaged ones), so that none noted before — a
// cached catalog's, shared — is written or kept under newer versions.
func (s *Source) buildTables(ctx context.Context) ([]kql.TableSchema, error) {
	s.damaged, s.schemas, s.shared, s.declared = map[string]error{}, map[string][]logstore.ColumnSchema{}, nil, nil
	names, err := s.storedTables(ctx)
	if err != nil {
		return nil, err
	}
	declared, err := s.declaredTables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]kql.TableSchema, 0, len(names)+len(declared))
	for _, name := range names {
		cols, err := s.schema(ctx, name)
		if errors.Is(err, logstore.ErrCorrupt) {
			// One table's damage must not stop queries of the others.
			s.damaged[name] = err
			cols = []logstore.ColumnSchema{{Name: "TimeGenerated", Type: logstore.TypeDatetime}}
		} else if err != nil {
			return nil, err
		}
		if decl, ok := declared[name]; ok {
			out = append(out, withHidden(withStored(decl, cols)))
			continue
		}
		ts := kql.TableSchema{Name: name}
		for _, c := range cols {
			ts.Columns = append(ts.Columns, kql.Column{Name: c.Name, Type: typeMap[c.Type]})
		}
		out = append(out, withHidden(ts))
	}
	empty := emptyStandard()
	for name, decl := range declared {
		if s.stored[name] {
			continue
		}
		// A standard name's declaration is the standard one: custom names end in _CL.
		if ts, ok := empty[name]; ok {
			out = append(out, ts)
			continue
		}
		decl.Empty = true
		out = append(out, withHidden(decl))
	}
	sortSchemas(out)
	wl, err := s.watchlistTables(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, wl...), nil
}

// storedTables lists the tables that hold rows, and notes them.
func (s *Source) storedTables(ctx context.Context) ([]string, error) {
	names, err := s.store.Tables(ctx, s.workspace)
	if err != nil {
		return nil, err
	}
	s.stored = make(map[string]bool, len(names))
	for _, name := range names {
		s.stored[name] = true
	}
	return names, nil
}

func (s *Source) schema(ctx context.Context, table string) ([]logstore.ColumnSchema, error) {
	if cols, ok := s.schemas[table]; ok {
		return cols, nil
	}
	if cols, ok := s.shared[table]; ok {
		return cols, nil
	}
	cols, err := s.store.Schema(ctx, s.workspace, table)
	if err != nil {
		return nil, err
	}
	s.schemas[table] = cols
	return cols, nil
}

var predMap = map[kql.PredOp]logstore.Op{
	kql.PredEq: logstore.OpEq, kql.PredNe: logstore.OpNe, kql.PredLt: logstore.OpLt, kql.PredLe: logstore.OpLe,
	kql.PredGt: logstore.OpGt, kql.PredGe: logstore.OpGe, kql.PredHas: logstore.OpHas, kql.PredContains: logstore.OpContains,
}

// anyPredMap maps an any-column predicate to the store's: the case-sensitive forms to the
// store's, which ignore case and so keep a superset of the rows.
var anyPredMap = map[kql.PredOp]logstore.Op{
	kql.PredHas: logstore.OpHas, kql.PredHasCS: logstore.OpHas,
	kql.PredContains: logstore.OpContains, kql.PredContainsCS: logstore.OpContains,
}

// DamagedTable returns the integrity error of a table named in query whose
// manifest is damaged, or nil: a query that names such a table fails to
// bind its columns, and the damage is the better answer.
func (s *Source) DamagedTable(query string) error {
	for name, err := range s.damaged {
		for i := strings.Index(query, name); i >= 0; {
			end := i + len(name)
			if (i == 0 || !identChar(query[i-1])) && (end == len(query) || !identChar(query[end])) {
				return err
			}
			next := strings.Index(query[end:], name)
			if next < 0 {
				break
			}
			i = end + next
		}
	}
	return nil
}

func identChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// Scan reads the requested columns of a table.
func (s *Source) Scan(ctx context.Context, req kql.ScanRequest) (kql.BatchIterator, error) {
	if alias, ok := kql.WatchlistAlias(req.Table); ok {
		return s.scanWatchlist(ctx, alias, req)
	}
	if err := s.damaged[req.Table]; err != nil {
		return nil, err
	}
	declared, err := s.declaredTables(ctx)
	if err != nil {
		return nil, err
	}
	if s.stored == nil {
		if _, err := s.storedTables(ctx); err != nil {
			return nil, err
		}
	}
	decl, isDeclared := declared[req.Table]
	if isDeclared && !s.stored[req.Table] {
		return emptyIter{}, nil
	}
	cols, err := s.schema(ctx, req.Table)
	if err != nil {
		return nil, err
	}
	types := map[string]logstore.Type{logstore.IngestionTimeColumn: logstore.TypeDatetime}
	want := map[string]kql.Type{logstore.IngestionTimeColumn: kql.TypeDatetime}
	for _, c := range cols {
		types[c.Name], want[c.Name] = c.Type, typeMap[c.Type]
	}
	for _, c := range decl.Columns {
		want[c.Name] = c.Type
	}
	// The engine and the store name the hidden ingestion-time column each its own way.
	columns := slices.Clone(req.Columns)
	for i, c := range columns {
		if c == kql.IngestionTimeColumn {
			columns[i] = logstore.IngestionTimeColumn
		}
	}
	// The store is asked only for the columns it holds: a declared table
	// names many its rows may not have, which read as null (see convert).
	held := slices.DeleteFunc(slices.Clone(columns), func(c string) bool { _, ok := types[c]; return !ok })
	lreq, ok := storeBounds(s.workspace, req)
	if !ok {
		return emptyIter{}, nil
	}
	lreq.Columns = held
	// With no column to read, the engine wants only row counts: the store
	// answers from its sealed indexes where it can.
	lreq.RowsOnly = len(lreq.Columns) == 0
	for _, p := range req.Predicates {
		if p.Column == kql.AnyColumn {
			// (a scan for row counts would be exact: see CountRows)
			if op, ok := anyPredMap[p.Op]; ok && !lreq.RowsOnly && allSameType(types, want) {
				lreq.Predicates = append(lreq.Predicates, logstore.Predicate{Column: logstore.AnyColumn, Op: op, Value: p.Value})
			}
			continue
		}
		if p.Op == kql.PredHasAny {
			if terms, ok := hasAnyTerms(p.Values); ok && types[p.Column] == logstore.TypeString && sameType(types[p.Column], want[p.Column]) {
				lreq.Predicates = append(lreq.Predicates, logstore.Predicate{Column: p.Column, Op: logstore.OpHasAny, Value: terms})
			}
			continue
		}
		op, ok := predMap[p.Op]
		if !ok || p.Value == nil {
			continue // advisory: the engine applies every predicate again
		}
		if !sameType(types[p.Column], want[p.Column]) {
			continue // the store holds other values than the engine compares
		}
		if v, ok := storeValue(p.Value, types[p.Column]); ok {
			lreq.Predicates = append(lreq.Predicates, logstore.Predicate{Column: p.Column, Op: op, Value: v})
		}
	}
	// One scanner per core, over disjoint sets of segments: decryption and
	// decompression then use every core while the engine consumes batches.
	scanners, err := s.store.ScanShards(ctx, lreq, max(1, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, err
	}
	return newIterator(ctx, scanners, columns, types, want, s.scanned), nil
}

// CountRows counts a table's rows within a time range and ingestion bounds
// exactly, and finds their earliest and latest time (kql.RowCounter): the
// store answers from its manifest and sealed indexes, and reads the time
// column only of the blocks the range cuts. A watchlist is left to the
// engine.
func (s *Source) CountRows(ctx context.Context, req kql.ScanRequest) (kql.RowCount, bool, error) {
	if _, ok := kql.WatchlistAlias(req.Table); ok {
		return kql.RowCount{}, false, nil
	}
	if err := s.damaged[req.Table]; err != nil {
		return kql.RowCount{}, false, err
	}
	declared, err := s.declaredTables(ctx)
	if err != nil {
		return kql.RowCount{}, false, err
	}
	if s.stored == nil {
		if _, err := s.storedTables(ctx); err != nil {
			return kql.RowCount{}, false, err
		}
	}
	decl, isDeclared := declared[req.Table]
	if isDeclared && !s.stored[req.Table] {
		return kql.RowCount{}, true, nil
	}
	lreq, ok := storeBounds(s.workspace, req)
	if !ok {
		return kql.RowCount{}, true, nil
	}
	if len(req.Predicates) > 0 {
		cols, err := s.schema(ctx, req.Table)
		if err != nil {
			return kql.RowCount{}, false, err
		}
		if lreq.Predicates, ok = exactPredicates(req.Predicates, cols, decl.Columns); !ok {
			return kql.RowCount{}, false, nil
		}
	}
	lreq.RowsOnly = true
	// A count with predicates decodes their columns: one scanner per core,
	// over disjoint sets of segments, as Scan reads. Without, the manifest
	// and the sealed indexes answer, and one scanner does.
	shards := 1
	if len(lreq.Predicates) > 0 {
		shards = max(1, runtime.GOMAXPROCS(0))
	}
	// A shard that fails ends the others: the count is failed, or answered
	// from rows, whatever they would find.
	sharded, cancel := context.WithCancel(ctx)
	defer cancel()
	scanners, err := s.store.ScanShards(sharded, lreq, shards)
	if err != nil {
		return kql.RowCount{}, false, err
	}
	counts := countShards(scanners, cancel)
	var rc kql.RowCount
	var errs []error
	spanLo, spanHi, spanned := int64(math.MaxInt64), int64(math.MinInt64), false
	for i, sc := range scanners {
		rc.Rows += counts[i]
		if err := sc.Err(); ctx.Err() != nil || !errors.Is(err, context.Canceled) {
			errs = append(errs, err) // else ended by another shard's error, which errs holds
		}
		if lo, hi, ok := sc.TimeSpan(); ok {
			spanLo, spanHi, spanned = min(spanLo, lo), max(spanHi, hi), true
		}
		sc.Close()
		s.scanned.add(sc)
	}
	if err := errors.Join(errs...); errors.Is(err, logstore.ErrCountNeedsRows) {
		return kql.RowCount{}, false, nil // a block of the column holds values the engine reads as text
	} else if err != nil {
		return kql.RowCount{}, false, err
	}
	if spanned {
		rc.MinTime, rc.MaxTime = time.Unix(0, spanLo).UTC(), time.Unix(0, spanHi).UTC()
	}
	return rc, true, nil
}

// rowShard is one of the scanners of a sharded scan for row counts.
type rowShard interface {
	Next() bool
	Batch() *logstore.Batch
	Err() error
}

// countShards counts the rows of each shard, the first in the caller's
// goroutine and each other in its own. The first shard to fail calls
// cancel, which ends the scans of the others (opened under the context it
// cancels), errgroup-style: their rows would not change the answer.
func countShards[S rowShard](shards []S, cancel context.CancelFunc) []int64 {
	counts := make([]int64, len(shards))
	count := func(i int) {
		counts[i] = countScan(shards[i])
		if shards[i].Err() != nil {
			cancel()
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < len(shards); i++ {
		wg.Go(func() { count(i) })
	}
	count(0)
	wg.Wait()
	return counts
}

// countScan is the rows a scan for row counts counts; its error, if any,
// is the scanner's.
func countScan(sc rowShard) int64 {
	var n int64
	for sc.Next() {
		n += int64(sc.Batch().Len)
	}
	return n
}

// exactPredicates are the store's predicates for a count's (see
// kql.RowCounter), or false unless the store matches each exactly as the
// engine does: the column stored with the type the engine reads (declared
// holds the declared table's columns), == or has of a string on a column of
// strings, a comparison of a long with a long, or has of a string on any
// column (see exactAnyPredicate). The store reports the blocks of a column
// of strings that hold other values (see logstore.ErrCountNeedsRows).
func exactPredicates(preds []kql.Predicate, cols []logstore.ColumnSchema, declared []kql.Column) ([]logstore.Predicate, bool) {
	out := make([]logstore.Predicate, 0, len(preds))
	for _, p := range preds {
		if p.Column == kql.AnyColumn {
			lp, ok := exactAnyPredicate(p, cols, declared)
			if !ok {
				return nil, false
			}
			out = append(out, lp)
			continue
		}
		i := slices.IndexFunc(cols, func(c logstore.ColumnSchema) bool { return c.Name == p.Column })
		if i < 0 {
			return nil, false
		}
		t := cols[i].Type
		want := typeMap[t]
		if j := slices.IndexFunc(declared, func(c kql.Column) bool { return c.Name == p.Column }); j >= 0 {
			want = declared[j].Type
		}
		if !sameType(t, want) {
			return nil, false
		}
		op, ok := predMap[p.Op]
		switch v := p.Value.(type) {
		case string:
			ok = ok && t == logstore.TypeString && v != "" && (op == logstore.OpEq || op == logstore.OpHas && isASCII(v))
		case int64:
			ok = ok && t == logstore.TypeLong && op != logstore.OpNe && op != logstore.OpHas && op != logstore.OpContains
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
		out = append(out, logstore.Predicate{Column: p.Column, Op: op, Value: p.Value})
	}
	return out, true
}

// exactAnyPredicate is the store's predicate for a count's any-column has
// (search "x", where * has "x"), or false unless the store searches the
// columns the engine does, as the engine reads them: has of a non-empty
// ASCII string; every stored column of the type the engine reads (a
// declared column the store lacks reads as null, which holds no term); and
// none of them a hidden standard column, which search leaves out and the
// store would not. The store reports the blocks whose numbers, datetimes or
// dynamic values may hold the term (logstore.ErrCountNeedsRows).
func exactAnyPredicate(p kql.Predicate, cols []logstore.ColumnSchema, declared []kql.Column) (logstore.Predicate, bool) {
	v, ok := p.Value.(string)
	if !ok || p.Op != kql.PredHas || v == "" || !isASCII(v) {
		return logstore.Predicate{}, false
	}
	for _, c := range cols {
		want := typeMap[c.Type]
		if j := slices.IndexFunc(declared, func(d kql.Column) bool { return d.Name == c.Name }); j >= 0 {
			want = declared[j].Type
		}
		hidden := slices.ContainsFunc(hiddenColumns(), func(h kql.Column) bool { return h.Name == c.Name })
		if hidden || !sameType(c.Type, want) {
			return logstore.Predicate{}, false
		}
	}
	return logstore.Predicate{Column: logstore.AnyColumn, Op: logstore.OpHas, Value: v}, true
}

// storeBounds is the store's request for the table, time range and
// ingestion bounds of req, or false when the time range holds no instant:
// where clauses whose bounds contradict (after 02:00 and before 01:00)
// match no row, which is no bad request.
func storeBounds(workspace string, req kql.ScanRequest) (logstore.ScanRequest, bool) {
	lreq := logstore.ScanRequest{Workspace: workspace, Table: req.Table, From: req.From,
		IngestedAfter: req.IngestedAfter, IngestedUpTo: req.IngestedUpTo}
	if !req.To.IsZero() {
		lreq.To = req.To.Add(time.Nanosecond) // the engine's bound is inclusive, the store's exclusive
	}
	return lreq, lreq.From.IsZero() || lreq.To.IsZero() || lreq.From.Before(lreq.To)
}

// hasAnyTerms are the terms of a has_any predicate, when all are strings.
func hasAnyTerms(vs []any) ([]string, bool) {
	terms := make([]string, len(vs))
	for i, v := range vs {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		terms[i] = s
	}
	return terms, len(terms) > 0
}

// allSameType reports whether the engine reads every column of a table as the store holds
// it, so that each value's text is the one the store's any-column predicate matches (a
// declared column may read a stored string as a datetime, and write it anew).
func allSameType(types map[string]logstore.Type, want map[string]kql.Type) bool {
	for name, w := range want {
		if t, ok := types[name]; ok && !sameType(t, w) {
			return false // (a column the store lacks reads as null, which has no text)
		}
	}
	return true
}

// storeValue converts a predicate constant to what the store compares with a
// column of type t; a constant of another kind is not pushed down.
func storeValue(v any, t logstore.Type) (any, bool) {
	switch x := v.(type) {
	case string:
		return x, t == logstore.TypeString
	case int64:
		return x, t == logstore.TypeLong || t == logstore.TypeReal
	case int:
		return int64(x), t == logstore.TypeLong || t == logstore.TypeReal
	case int32:
		return int64(x), t == logstore.TypeLong || t == logstore.TypeReal
	case float64:
		return x, t == logstore.TypeLong || t == logstore.TypeReal
	case bool:
		return x, t == logstore.TypeBool
	case time.Time:
		return x, t == logstore.TypeDatetime
	}
	return nil, false
}

// iterator decrypts, decompresses and converts blocks in goroutines of its
// own, one per scanner, a few batches ahead of the engine: on two cores the
// scan and the query's operators then run side by side instead of taking
// turns. Batches come in no particular order, as KQL allows.
type iterator struct {
	batches  chan scanned
	cancel   context.CancelFunc
	done     sync.WaitGroup
	scanners []*logstore.Scanner
	tally    *scanTally // takes the scanners' statistics on Close
}

type scanned struct {
	batch *kql.Batch
	err   error
}

// prefetch is how many converted batches may wait for the engine.
const prefetch = 4

func newIterator(ctx context.Context, scanners []*logstore.Scanner, columns []string, types map[string]logstore.Type, want map[string]kql.Type, tally *scanTally) *iterator {
	ctx, cancel := context.WithCancel(ctx)
	it := &iterator{batches: make(chan scanned, prefetch), cancel: cancel, scanners: scanners, tally: tally}
	for _, sc := range scanners {
		it.done.Go(func() {
			for sc.Next() {
				select {
				case it.batches <- scanned{batch: convert(sc.Batch(), columns, types, want)}:
				case <-ctx.Done():
					return
				}
			}
			if err := sc.Err(); err != nil {
				select {
				case it.batches <- scanned{err: err}:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		it.done.Wait()
		close(it.batches)
	}()
	return it
}

func (it *iterator) Next(ctx context.Context) (*kql.Batch, error) {
	select {
	case s, ok := <-it.batches:
		if !ok {
			return nil, io.EOF
		}
		return s.batch, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the reader goroutines and releases the scans.
func (it *iterator) Close() error {
	it.cancel()
	it.done.Wait()
	var errs []error
	for _, sc := range it.scanners {
		it.tally.add(sc)
		errs = append(errs, sc.Close())
	}
	it.scanners = nil // counted once, however often Close is called
	return errors.Join(errs...)
}

// convert turns a store batch into the engine's columns: typed as the store
// decoded them where the block's type is the table's and the engine's type
// is the one the store holds, else boxed values of the engine's type want.
func convert(b *logstore.Batch, columns []string, types map[string]logstore.Type, want map[string]kql.Type) *kql.Batch {
	out := &kql.Batch{Len: b.Len, Columns: make([][]any, len(columns)), Vectors: make([]*kql.Vector, len(columns))}
	var nulls []any // of the columns the block lacks: one slice, as the engine never writes to a batch
	for i, name := range columns {
		c := b.Column(name)
		stored, w := types[name], want[name]
		if c == nil {
			if nulls == nil {
				nulls = make([]any, b.Len)
			}
			out.Columns[i] = nulls
			continue
		}
		if c.Type == stored && vectorTypes[stored] && sameType(stored, w) {
			// the store's slices as they are: the engine never writes to a batch
			out.Vectors[i] = &kql.Vector{Type: w, Valid: c.Valid, Strings: c.Strings, Ints: c.Ints, Reals: c.Reals, Bools: c.Bools,
				Dict: c.Dict, Codes: c.Codes}
			continue
		}
		vals := make([]any, b.Len)
		for r := range b.Len {
			if c.Valid[r] {
				vals[r] = asType(cellValue(c, r, stored), w)
			}
		}
		out.Columns[i] = vals
	}
	return out
}

// sameType reports whether the engine's type w holds the store's values of
// type t as they are: the store keeps an int as a long.
func sameType(t logstore.Type, w kql.Type) bool {
	return typeMap[t] == w || t == logstore.TypeLong && w == kql.TypeInt
}

// asType is a stored value as the engine's value of the declared type w.
// Rows ingested into a declared table were converted to its types; a value
// of another kind is one stored before the declaration, and reads as null
// unless it converts without loss.
func asType(v any, w kql.Type) any {
	switch w {
	case kql.TypeString:
		return stringOf(v)
	case kql.TypeInt, kql.TypeLong:
		switch x := v.(type) {
		case int64:
			return x
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x)
			}
		}
		return nil
	case kql.TypeReal:
		switch x := v.(type) {
		case float64:
			return x
		case int64:
			return float64(x)
		}
		return nil
	case kql.TypeBool:
		if x, ok := v.(bool); ok {
			return x
		}
		return nil
	case kql.TypeDatetime:
		switch x := v.(type) {
		case time.Time:
			return x
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t.UTC()
			}
		}
		return nil
	case kql.TypeGUID:
		if x, ok := v.(string); ok {
			if _, err := uuid.Parse(x); err == nil {
				return x
			}
		}
		return nil
	}
	return v // dynamic takes any value
}

// vectorTypes are the store's types whose columns the engine takes typed
// (dynamic columns hold JSON text, which the engine must parse).
var vectorTypes = map[logstore.Type]bool{
	logstore.TypeString: true, logstore.TypeLong: true, logstore.TypeReal: true,
	logstore.TypeBool: true, logstore.TypeDatetime: true,
}

// cellValue is row r of column c as the engine's value of the table's type
// want (a block may hold a narrower type than the table's).
func cellValue(c *logstore.Column, r int, want logstore.Type) any {
	var v any
	switch c.Type {
	case logstore.TypeLong:
		v = c.Ints[r]
		if want == logstore.TypeReal {
			v = float64(c.Ints[r])
		}
	case logstore.TypeDatetime:
		v = time.Unix(0, c.Ints[r]).UTC()
	case logstore.TypeReal:
		v = c.Reals[r]
	case logstore.TypeBool:
		v = c.Bools[r]
	case logstore.TypeString:
		v = c.Str(r)
	case logstore.TypeDynamic:
		v = decodeDynamic(c.Strings[r])
	}
	if want == logstore.TypeString && c.Type != logstore.TypeString {
		return stringOf(v)
	}
	return v
}

func stringOf(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// decodeDynamic parses stored JSON text into the engine's dynamic values:
// integers as int64, other numbers as float64.
func decodeDynamic(s string) any {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	return normalize(v)
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
	}
	return v
}

// hiddenColumns are tables.HiddenColumns as the engine's columns.
var hiddenColumns = sync.OnceValue(func() []kql.Column {
	var out []kql.Column
	for _, c := range tables.HiddenColumns() {
		t, _ := kql.ParseType(c.Type)
		out = append(out, kql.Column{Name: c.Name, Type: t})
	}
	return out
})

// withHidden gives ts the hidden standard columns, which a query reads only by naming them,
// moving one the table declares or stores among its visible columns to the hidden ones.
func withHidden(ts kql.TableSchema) kql.TableSchema {
	hidden := hiddenColumns()
	isHidden := func(name string) bool {
		return slices.ContainsFunc(hidden, func(h kql.Column) bool { return h.Name == name })
	}
	cols := make([]kql.Column, 0, len(ts.Columns))
	have := map[string]kql.Column{}
	for _, c := range ts.Columns {
		if isHidden(c.Name) {
			have[c.Name] = c
			continue
		}
		cols = append(cols, c)
	}
	ts.Columns, ts.Hidden = cols, make([]kql.Column, 0, len(hidden))
	for _, h := range hidden {
		if c, ok := have[h.Name]; ok {
			h = c
		}
		ts.Hidden = append(ts.Hidden, h)
	}
	return ts
}

// isASCII reports whether s is all ASCII, whose case the store folds as the
// engine does.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
