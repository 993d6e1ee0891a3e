package savedsearch

import (
	"slices"
	"sync"

	"github.com/sealwatch/sealwatch/internal/kql"
)

// Cache keeps each workspace's functions across queries: every query is
// handed them, and building them decrypts every saved search. An entry
// serves only the version of the index whose etag the store has just
// returned from the sealed index document, so it never answers for
// functions that changed, nor once the key no longer opens the index; a
// workspace whose index cannot be read has its entry dropped. It is safe
// for concurrent use.
type Cache struct {
	mu        sync.Mutex
	workspace map[string]cachedFunctions // customerId → the functions last built
}

type cachedFunctions struct {
	etag string // of the index they were built after
	fns  []kql.Function
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{workspace: map[string]cachedFunctions{}} }

// get returns a copy of the workspace's functions built after the index's
// version etag.
func (c *Cache) get(workspace, etag string) ([]kql.Function, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.workspace[workspace]
	if !ok || e.etag != etag {
		return nil, false
	}
	return slices.Clone(e.fns), true
}

func (c *Cache) put(workspace, etag string, fns []kql.Function) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.workspace[workspace] = cachedFunctions{etag: etag, fns: fns}
	c.mu.Unlock()
}

// Forget drops a workspace's entry: the workspace was deleted, or its
// index could not be read.
func (c *Cache) Forget(workspace string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.workspace, workspace)
	c.mu.Unlock()
}
