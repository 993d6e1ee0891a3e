package wsdata

import (
	"context"
	"slices"
	"sync"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// Every query and rule run asks for its workspace's catalog: the tables
// with their columns, the watchlists' schemas and the functions. Building
// it reads every stored table's schema, which needs the key, and decrypts
// and decodes every custom table's declaration, every watchlist's document
// and the index of saved searches. A catalogCache keeps the last one built
// while the workspace's log store is open, under the versions of what it
// was built from — the store's Changes, the fingerprints of the sealed
// declarations, watchlists and saved-search index — read before building,
// so that a change during a build makes the next query build again.
//
// What it holds was decrypted, so it serves only under the key it was
// decrypted under: each entry keeps the KeyWatch taken before its build,
// and is dropped, never served, once the watch no longer holds — the key
// revoked, locked, unreachable for a moment, or replaced — after which the
// next query builds afresh, under the key's checks, and fails as it would
// have without the cache. An entry is built only while the keys are
// Accessible; it goes with the store when the store is closed (idle, over
// the open-store bound, deleted).
type catalogCache struct {
	// watch takes a watch on the workspace's keys; false: keep nothing.
	watch func() (clusterkeys.KeyWatch, bool)

	mu        sync.Mutex
	tables    *cachedTables
	functions *cachedFunctions
}

// tablesKey is what a workspace's tables were built from.
type tablesKey struct {
	store      uint64          // logstore.Store.Changes
	declared   docstore.Digest // the custom tables' declarations
	watchlists docstore.Digest
}

// entry is what a kept part of the catalog was built under: the versions
// of what it was built from, and the watch on the key it was decrypted
// under.
type entry[K comparable] struct {
	key   K
	watch clusterkeys.KeyWatch
}

func (e entry[K]) builtUnder() entry[K] { return e }

// keptEntry is a kept part of the catalog: a pointer to a struct that
// embeds its entry.
type keptEntry[K comparable] interface {
	comparable
	builtUnder() entry[K]
}

// keptLocked is *slot when it was built under key and the key's watch
// holds; else none, *slot forgotten — and, when the watch no longer holds,
// everything kept. The caller holds c.mu.
func keptLocked[K comparable, E keptEntry[K]](c *catalogCache, slot *E, key K) E {
	var none E
	e := *slot
	switch {
	case e == none:
	case !e.builtUnder().watch.Holds():
		c.dropLocked()
		return none
	case e.builtUnder().key != key:
		*slot = none
		return none
	}
	return e
}

// cachedTables is a built list of tables and what the build noted for
// scans (see Source.buildTables), shared by the queries it serves.
type cachedTables struct {
	entry[tablesKey]
	list     []kql.TableSchema
	stored   map[string]bool
	schemas  map[string][]logstore.ColumnSchema
	damaged  map[string]error
	declared map[string]kql.TableSchema
}

// cachedFunctions are the functions built after one version of the index
// of saved searches.
type cachedFunctions struct {
	entry[docstore.Digest]
	fns []kql.Function
}

// tablesOf is s.Tables from the cache when nothing it was built from
// changed and the key's watch holds, else built and kept.
func (c *catalogCache) tablesOf(ctx context.Context, s *Source) ([]kql.TableSchema, error) {
	key, err := s.tablesKey(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e := keptLocked(c, &c.tables, key)
	c.mu.Unlock()
	if e != nil {
		s.stored, s.shared, s.damaged, s.declared = e.stored, e.schemas, e.damaged, e.declared
		return e.list, nil
	}
	watch, keep := c.watch() // before the build: a change of the key during it ends the entry
	list, err := s.buildTables(ctx)
	if err != nil || !keep {
		return list, err
	}
	list = slices.Clip(list) // an append by a reader copies
	e = &cachedTables{entry: entry[tablesKey]{key, watch}, list: list, stored: s.stored, schemas: s.schemas, damaged: s.damaged, declared: s.declared}
	// From now on the source reads what it shares and writes only anew.
	s.shared, s.schemas = e.schemas, map[string][]logstore.ColumnSchema{}
	c.mu.Lock()
	c.tables = e
	c.mu.Unlock()
	return list, nil
}

// dropLocked forgets everything kept: the key changed state since it was
// decrypted. The caller holds c.mu.
func (c *catalogCache) dropLocked() {
	c.tables, c.functions = nil, nil
}

// tablesKey reads the versions of what s's tables are built from. It
// needs no key.
func (s *Source) tablesKey(ctx context.Context) (tablesKey, error) {
	k := tablesKey{store: s.store.Changes()}
	var err error
	if s.tables != nil {
		if k.declared, err = s.tables.Fingerprint(ctx); err != nil {
			return tablesKey{}, err
		}
	}
	if s.watchlists != nil {
		if k.watchlists, err = s.watchlists.Fingerprint(ctx); err != nil {
			return tablesKey{}, err
		}
	}
	return k, nil
}

// functionsOf is s.Functions from the cache when the index of saved
// searches is unchanged and the key's watch holds, else read and kept.
func (c *catalogCache) functionsOf(ctx context.Context, s *Source) ([]kql.Function, error) {
	key, err := s.functions.Fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e := keptLocked(c, &c.functions, key)
	c.mu.Unlock()
	if e != nil {
		return slices.Clone(e.fns), nil
	}
	watch, keep := c.watch()
	fns, err := s.loadFunctions(ctx)
	if err != nil || !keep {
		return fns, err
	}
	c.mu.Lock()
	c.functions = &cachedFunctions{entry: entry[docstore.Digest]{key, watch}, fns: slices.Clone(fns)}
	c.mu.Unlock()
	return fns, nil
}
