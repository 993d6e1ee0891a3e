package logstore

import (
	"bytes"
	"slices"
	"strings"
	"sync"
)

// indexCache keeps the decrypted indexes of segments, which every scan and
// schema read would otherwise read, decrypt and decode again. They are
// derived from sealed data, so they must not outlive the key:
//   - an entry is used only after the segment's account key has been derived
//     again for that read (readSegmentIndex), so a revoked or locked key makes
//     the cache unusable;
//   - any failure to derive a key drops every entry (Store.aead), so the
//     first read after a revocation also frees the plaintext;
//   - the background loop derives the keys of the entries again on every
//     tick (Store.checkCachedKeys), so the plaintext is freed soon after a
//     revocation even when no read comes, and Close frees it at once.
//
// It lives in memory only. Entries are keyed by segment object key. A scan uses
// one only when the file's size, header and sealed index bytes are those the
// entry was decrypted from: it saves the decryption and decoding, and a
// changed file is still noticed. A schema read, which needs nothing but the
// index, uses the entry of a segment of the same size without reading the
// file (segments are immutable; a replaced one is noticed by the next scan).
type indexCache struct {
	mu    sync.Mutex
	m     map[string]cachedIndex
	bytes int // about what the entries hold
}

type cachedIndex struct {
	size   int64
	hdr    header
	sealed []byte      // the sealed index as read from the file
	blocks []blockMeta // read-only once cached: readers share it
}

// maxCachedIndexBytes bounds the cache; past it, entries are dropped at
// no particular order. An index is a few dozen bytes per column per block.
const maxCachedIndexBytes = 64 << 20

// cost is about the memory an entry holds: the sealed index, and its decoded
// form, about twice as large.
func (e cachedIndex) cost() int { return 3 * len(e.sealed) }

func (c *indexCache) get(path string, size int64, hdr header, sealed []byte) ([]blockMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[path]
	if !ok || e.size != size || e.hdr != hdr || !bytes.Equal(e.sealed, sealed) {
		return nil, false
	}
	return e.blocks, true
}

func (c *indexCache) put(path string, size int64, hdr header, sealed []byte, blocks []blockMeta) {
	e := cachedIndex{size: size, hdr: hdr, sealed: sealed, blocks: blocks}
	if e.cost() > maxCachedIndexBytes/4 {
		return // not worth the room
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedIndex)
	}
	if old, ok := c.m[path]; ok {
		c.bytes -= old.cost()
	}
	for p, old := range c.m {
		if c.bytes+e.cost() <= maxCachedIndexBytes {
			break
		}
		delete(c.m, p)
		c.bytes -= old.cost()
	}
	c.m[path] = e
	c.bytes += e.cost()
}

// keyHeaders is one header per account key the entries were decrypted
// under: enough to derive each key again.
func (c *indexCache) keyHeaders() []header {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []header
	for _, e := range c.m {
		out = appendKeyHeader(out, e.hdr)
	}
	return out
}

// appendKeyHeader appends h unless out has a header of its account key.
func appendKeyHeader(out []header, h header) []header {
	if slices.ContainsFunc(out, func(o header) bool { return o.aekID == h.aekID }) {
		return out
	}
	return append(out, h)
}

// drop forgets every index.
func (c *indexCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.bytes = nil, 0
}

// forget drops the index of a deleted segment, or of every segment whose
// key is under a deleted prefix (a workspace, a table).
func (c *indexCache) forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := path + "/"
	for p, e := range c.m {
		if p == path || strings.HasPrefix(p, prefix) {
			delete(c.m, p)
			c.bytes -= e.cost()
		}
	}
}
