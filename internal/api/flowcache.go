package api

import (
	"slices"
	"sync"

	"github.com/sealwatch/sealwatch/internal/transform"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxCachedFlows bounds the compiled flows kept: one per stream of each
// rule in use, which a node has far fewer of.
const maxCachedFlows = 1024

// flowKey names a compiled flow: a rule's stream into a workspace's table
// as declared at one version (the table's etag; "" for a standard table).
// A change of the table changes its etag, so a flow compiled against the
// old columns is never found for the new ones.
type flowKey struct {
	rule, stream, workspace, table, version string
}

// flowEntry is a compiled flow and what of the rule it was compiled from:
// a rule PUT again keeps its immutable ID, so the stream's columns and the
// transformation are compared on each lookup.
type flowEntry struct {
	transform string
	columns   []workspace.DCRColumn
	compiled  *transform.Transform
}

// flowCache keeps compiled flows so that an ingestion call does not compile
// its rule's transformation again. It is safe for concurrent use; a
// compiled Transform is too.
type flowCache struct {
	mu      sync.Mutex
	max     int
	entries map[flowKey]flowEntry
}

func newFlowCache(max int) *flowCache {
	return &flowCache{max: max, entries: make(map[flowKey]flowEntry)}
}

// get returns the flow compiled for key from the route's rule as it is
// now, or nil.
func (c *flowCache) get(key flowKey, route *workspace.Route) *transform.Transform {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if e.transform != route.Transform || !slices.Equal(e.columns, route.Columns) {
		delete(c.entries, key) // the rule changed
		return nil
	}
	return e.compiled
}

// put keeps a flow compiled for key from route. An entry for another
// version of the same flow is dropped: that table changed. When full, an
// arbitrary entry makes room: a flow evicted is compiled again when next
// used.
func (c *flowCache) put(key flowKey, route *workspace.Route, tr *transform.Transform) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if len(c.entries) < c.max && !(k.rule == key.rule && k.stream == key.stream && k.version != key.version) {
			continue
		}
		delete(c.entries, k)
	}
	c.entries[key] = flowEntry{transform: route.Transform, columns: slices.Clone(route.Columns), compiled: tr}
}

// len is the number of flows kept.
func (c *flowCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
