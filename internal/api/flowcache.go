package api

import (
	"slices"
	"sync"

	"github.com/sealwatch/sealwatch/internal/transform"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxCachedFlows bounds the compiled flows kept: one per stream of each
// rule in use. A node of a thousand workspaces, each with a rule of a few
// streams, uses a few thousand; past the bound every call of a flow left
// out compiles it again, so the cost of a call would grow with the number
// of workspaces. A compiled pass-through flow holds its stream's and
// table's columns, a few kilobytes.
const maxCachedFlows = 8192

// flowKey names a compiled flow: a rule's stream into a workspace's table
// as declared at one version (the table's etag; "" for a standard table).
// A change of the table changes its etag, so a flow compiled against the
// old columns is never found for the new ones.
type flowKey struct {
	flowSlot
	version string
}

// flowSlot is a flow whatever its table's version: the cache keeps one
// version of each.
type flowSlot struct {
	rule, stream, workspace, table string
}

// flowEntry is a compiled flow and what of the rule it was compiled from:
// a rule PUT again keeps its immutable ID, so the stream's columns and the
// transformation are compared on each lookup.
type flowEntry struct {
	version   string
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
	entries map[flowSlot]flowEntry
}

func newFlowCache(max int) *flowCache {
	return &flowCache{max: max, entries: make(map[flowSlot]flowEntry)}
}

// get returns the flow compiled for key from the route's rule as it is
// now, or nil.
func (c *flowCache) get(key flowKey, route *workspace.Route) *transform.Transform {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key.flowSlot]
	if !ok || e.version != key.version {
		return nil
	}
	if e.transform != route.Transform || !slices.Equal(e.columns, route.Columns) {
		delete(c.entries, key.flowSlot) // the rule changed
		return nil
	}
	return e.compiled
}

// put keeps a flow compiled for key from route, in place of the flow's
// other version if one is kept (that table changed). When full, an
// arbitrary entry makes room: a flow evicted is compiled again when next
// used. Neither walks the entries: a call costs the same whatever the
// number of flows kept.
func (c *flowCache) put(key flowKey, route *workspace.Route, tr *transform.Transform) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key.flowSlot]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key.flowSlot] = flowEntry{version: key.version, transform: route.Transform, columns: slices.Clone(route.Columns), compiled: tr}
}

// len is the number of flows kept.
func (c *flowCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
