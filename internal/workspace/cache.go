package workspace

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// maxCached bounds the records the lookup cache keeps; past it, the cache
// starts again empty.
const maxCached = 16384

// lookupCache keeps the records that every ingest and query decodes — the
// workspace the call names, its cluster's ID and key, and the data
// collection rule an ingest names — decoded, for as long as no change of
// the control plane is written, by this node or any other sharing the
// database: every write moves the generation stored beside the records on
// (see Service.update), each lookup reads it (one key, in a read
// transaction), and entries read at an older generation are not served. A
// hit costs that read and a map read instead of two or three record reads
// and JSON decodes.
//
// The generation is kept in the database, not in memory, so that a change
// written on one node reaches the lookups of every node: a workspace linked
// to a customer-managed key, deleted, or routed anew by a changed rule.
type lookupCache struct {
	mu        sync.Mutex
	at        uint64 // the generation the entries were read at
	workspace map[string]*cachedWorkspace
	rules     map[string]*DataCollectionRule
}

// cachedWorkspace is a workspace as lookups need it.
type cachedWorkspace struct {
	info WorkspaceInfo
	// sealedSharedKeys are the Data Collector's keys as stored, opened by
	// each request that needs them: the cache holds no key in the clear.
	sealedSharedKeys []byte
	// the marks MarkData keeps
	platformData, clusterKeyData bool
}

var (
	bucketMeta = []byte("workspace.meta")
	genKey     = []byte("generation") // uint64, big-endian: moved on by every write
)

// errUnchanged, returned by an update's fn, says it found nothing to write:
// update then returns nil without moving the generation on.
var errUnchanged = errors.New("nothing to write")

// update runs fn in a write transaction and, in the same transaction, moves
// the generation on: every write of the package goes through it, so no
// cached lookup outlives a change on any node.
func (s *Service) update(ctx context.Context, fn func(kv.Tx) error) error {
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		b := tx.Bucket(bucketMeta)
		if b == nil {
			return errors.New("bucket workspace.meta is missing")
		}
		return b.Put(genKey, binary.BigEndian.AppendUint64(nil, readGeneration(tx)+1))
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// readGeneration is the generation of the control plane tx sees.
func readGeneration(tx kv.Tx) uint64 {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0
	}
	v := b.Get(genKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// currentLocked empties the cache when its entries were read at an older
// generation than gen, which the caller read, or when it is full, and reports
// whether the entries are of generation gen: a reader whose snapshot is older
// than the cache's (another node's write landed between two reads) is served
// none of them. The caller holds c.mu.
func (c *lookupCache) currentLocked(gen uint64) bool {
	if c.workspace == nil || c.at < gen || len(c.workspace)+len(c.rules) > maxCached {
		c.at = gen
		c.workspace = map[string]*cachedWorkspace{}
		c.rules = map[string]*DataCollectionRule{}
	}
	return c.at == gen
}

func (c *lookupCache) getWorkspace(gen uint64, customerID string) (*cachedWorkspace, bool) {
	return cacheGet(c, cachedWorkspaces, gen, customerID)
}

// markedWorkspace reports whether the cache holds the workspace with
// customerID marked as holding data under key (see sealingKey), whatever the
// generation of the entry: such a mark stays true while the workspace exists.
// Marks are never taken back, a workspace with data under the platform key
// never moves under a customer-managed key (Link, Onboard and a cluster's key
// refuse it), and one with data under its cluster's key is never unlinked.
func (c *lookupCache) markedWorkspace(customerID, key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.workspace[customerID]
	if !ok || sealingKey(&w.info) != key {
		return false
	}
	if w.info.CMK {
		return w.clusterKeyData
	}
	return w.platformData
}

func (c *lookupCache) putWorkspace(gen uint64, customerID string, w *cachedWorkspace) {
	cachePut(c, cachedWorkspaces, gen, customerID, w)
}

func (c *lookupCache) getRule(gen uint64, immutableID string) (*DataCollectionRule, bool) {
	return cacheGet(c, cachedRules, gen, immutableID)
}

func (c *lookupCache) putRule(gen uint64, immutableID string, r *DataCollectionRule) {
	cachePut(c, cachedRules, gen, immutableID, r)
}

func cachedWorkspaces(c *lookupCache) map[string]*cachedWorkspace { return c.workspace }
func cachedRules(c *lookupCache) map[string]*DataCollectionRule   { return c.rules }

// cacheGet reads key from the map of c that pick names, if its entries were
// read at generation gen, the current one.
func cacheGet[V any](c *lookupCache, pick func(*lookupCache) map[string]V, gen uint64, key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.currentLocked(gen) {
		var zero V
		return zero, false
	}
	v, ok := pick(c)[key]
	return v, ok
}

// cachePut keeps v, read at generation gen, under key in the map of c that
// pick names. Generations only grow: an entry read at a newer generation than
// the cache's starts the cache again, one read at an older one is dropped.
func cachePut[V any](c *lookupCache, pick func(*lookupCache) map[string]V, gen uint64, key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.currentLocked(gen) {
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
