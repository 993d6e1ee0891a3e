package workspace

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// maxCached bounds the records the lookup cache keeps; past it, the cache
// starts again empty.
const maxCached = 16384

// lookupCache keeps the records that every ingest and query decodes — the
// workspace the call names, its cluster's ID and key, and the data
// collection rule an ingest names — decoded, for as long as no change of
// the control plane is written: each write moves the generation on, and
// an entry read at an older generation is not served. A hit costs a map
// read instead of a read transaction and two or three JSON decodes.
type lookupCache struct {
	gen atomic.Uint64 // moved on after every write (see Service.update)

	mu        sync.Mutex
	at        uint64 // the generation the entries were read at
	workspace map[string]*cachedWorkspace
	rules     map[string]*DataCollectionRule
}

// cachedWorkspace is a workspace as lookups need it.
type cachedWorkspace struct {
	info WorkspaceInfo
	// the marks MarkData keeps
	platformData, clusterKeyData bool
}

// update runs fn in a write transaction and then moves the cache's
// generation on: every write of the package goes through it.
func (s *Service) update(ctx context.Context, fn func(kv.Tx) error) error {
	defer s.cache.gen.Add(1)
	return s.db.Update(ctx, fn)
}

// generation is the generation to read an entry at: taken before the read
// transaction, so that an entry that a write overtook is never served.
func (c *lookupCache) generation() uint64 { return c.gen.Load() }

// currentLocked empties the cache when a write happened since its entries
// were read. The caller holds c.mu.
func (c *lookupCache) currentLocked() {
	if g := c.gen.Load(); c.workspace == nil || c.at != g || len(c.workspace)+len(c.rules) > maxCached {
		c.at = g
		c.workspace = map[string]*cachedWorkspace{}
		c.rules = map[string]*DataCollectionRule{}
	}
}

func (c *lookupCache) getWorkspace(customerID string) (*cachedWorkspace, bool) {
	return cacheGet(c, cachedWorkspaces, customerID)
}

func (c *lookupCache) putWorkspace(gen uint64, customerID string, w *cachedWorkspace) {
	cachePut(c, cachedWorkspaces, gen, customerID, w)
}

func (c *lookupCache) getRule(immutableID string) (*DataCollectionRule, bool) {
	return cacheGet(c, cachedRules, immutableID)
}

func (c *lookupCache) putRule(gen uint64, immutableID string, r *DataCollectionRule) {
	cachePut(c, cachedRules, gen, immutableID, r)
}

func cachedWorkspaces(c *lookupCache) map[string]*cachedWorkspace { return c.workspace }
func cachedRules(c *lookupCache) map[string]*DataCollectionRule   { return c.rules }

// cacheGet reads key from the map of c that pick names, if no write
// happened since its entries were read.
func cacheGet[V any](c *lookupCache, pick func(*lookupCache) map[string]V, key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.currentLocked()
	v, ok := pick(c)[key]
	return v, ok
}

// cachePut keeps v under key in the map of c that pick names, unless a
// write happened since v was read at generation gen.
func cachePut[V any](c *lookupCache, pick func(*lookupCache) map[string]V, gen uint64, key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.currentLocked()
	if c.at == gen {
		pick(c)[key] = v
	}
}

// copyInfo is a WorkspaceInfo the caller may change without changing the
// cached one.
func copyInfo(in *WorkspaceInfo) *WorkspaceInfo {
	out := *in
	out.Workspace.Tags = maps.Clone(in.Workspace.Tags)
	out.Workspace.Properties.Features = slices.Clone(in.Workspace.Properties.Features)
	return &out
}
