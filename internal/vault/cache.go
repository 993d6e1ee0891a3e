package vault

import (
	"container/list"
	"crypto/cipher"
	"crypto/rsa"
	"strings"
	"sync"
)

// openedKey is a version's private half, unsealed and parsed once so the hot
// path (unwrap) does not pay for Open and PKCS#1 parsing on every call.
type openedKey struct {
	rsa   *rsa.PrivateKey // RSA, with CRT values precomputed
	block cipher.Block    // oct: AES-256 for A256KW
	gcm   cipher.AEAD     // oct: AES-256-GCM for A256GCM
}

// keyCache is a small LRU of opened versions, keyed by storage ID. It holds
// material only: whether a version may be used (enabled, key_ops, dates,
// deletion) is read from the database on every call, so a stale entry can
// never grant anything. Entries are dropped on attribute change, deletion and
// purge all the same, so that disabled keys do not linger in memory.
type keyCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *cacheEntry
	items map[string]*list.Element
}

type cacheEntry struct {
	id  string
	key *openedKey
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *keyCache) get(id string) *openedKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry).key
	}
	return nil
}

func (c *keyCache) put(id string, k *openedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		el.Value.(*cacheEntry).key = k
		c.order.MoveToFront(el)
		return
	}
	c.items[id] = c.order.PushFront(&cacheEntry{id: id, key: k})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).id)
	}
}

func (c *keyCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
		delete(c.items, id)
	}
}

// dropPrefix drops every entry of a key ("vault/key/") or vault ("vault/").
func (c *keyCache) dropPrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, el := range c.items {
		if strings.HasPrefix(id, prefix) {
			c.order.Remove(el)
			delete(c.items, id)
		}
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
