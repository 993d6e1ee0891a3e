package logstore

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// SegmentCache keeps whole segments of a remote store as files under a
// local directory, at the path of their keys, so that a segment a scan
// reads again is read from disk. It holds at most limit bytes: past it, the
// segments used least recently are removed (LRU, in memory; on start, the
// files found are ranked by modification time). A segment larger than the
// whole cache is read from the store, range by range. Removing a file a
// scan has open is harmless: the scan keeps its bytes.
//
// What it holds is what the store holds, sealed: a scan checks it against
// the manifest as it checks the store's. It trusts that a key's bytes do
// not change unless through this node (objects.putFile, objects.delete).
// One cache may serve every store of a node that keeps its objects in one
// store (Config.Cache), which bounds the node's disk for all of them.
type SegmentCache struct {
	dir   string
	limit int64
	store objstore.Store

	mu       sync.Mutex
	entries  map[string]*list.Element // of *cacheEntry
	lru      list.List                // front: used last
	bytes    int64
	fetching map[string]*cacheFetch
}

type cacheEntry struct {
	key  string
	size int64
}

// cacheFetch is a download under way, which other readers of the key wait
// for rather than download it again.
type cacheFetch struct {
	done chan struct{}
	err  error
}

// cacheTmpPrefix names downloads under way: no key's first segment starts
// with a '.', so none is taken for a segment.
const cacheTmpPrefix = ".fetch-"

// copyBuffer is the size of the ranges a download reads.
const copyBuffer = 8 << 20

// NewSegmentCache opens the cache of store's segments in dir, holding at
// most limit bytes (DefaultCacheBytes if not positive), and takes in what an
// earlier run left there.
func NewSegmentCache(dir string, limit int64, store objstore.Store) (*SegmentCache, error) {
	if limit <= 0 {
		limit = DefaultCacheBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("segment cache: %w", err)
	}
	c := &SegmentCache{dir: dir, limit: limit, store: store, entries: map[string]*list.Element{}, fetching: map[string]*cacheFetch{}}
	return c, c.load()
}

// load takes in the segments left by an earlier run, ranked by their
// modification times, and
// removes downloads a crash cut short.
func (c *SegmentCache) load() error {
	type found struct {
		key  string
		size int64
		mod  int64
	}
	var all []found
	err := filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), cacheTmpPrefix) {
			os.Remove(path)
			return nil
		}
		rel, err := filepath.Rel(c.dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if objstore.ValidKey(key) != nil {
			return nil
		}
		all = append(all, found{key: key, size: info.Size(), mod: info.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("segment cache: %w", err)
	}
	// Oldest first: each is taken in as used last, so the newest ends first.
	slices.SortFunc(all, func(a, b found) int { return cmp.Compare(a.mod, b.mod) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		c.insertLocked(f.key, f.size)
	}
	return nil
}

func (c *SegmentCache) path(key string) string { return filepath.Join(c.dir, filepath.FromSlash(key)) }

// open opens key from the cache, downloading it first if needed.
func (c *SegmentCache) open(ctx context.Context, key string) (objstore.Object, error) {
	if err := objstore.ValidKey(key); err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok {
			c.lru.MoveToFront(e)
			c.mu.Unlock()
			f, err := os.Open(c.path(key))
			if err == nil {
				return &cachedObject{File: f, size: e.Value.(*cacheEntry).size}, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("open %s: %w", key, err)
			}
			c.mu.Lock()
			if c.entries[key] == e { // removed behind the cache's back
				c.removeLocked(e)
			}
			c.mu.Unlock()
			continue
		}
		if f, ok := c.fetching[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("open %s: %w", key, ctx.Err())
			}
			if f.err != nil {
				return nil, f.err
			}
			continue
		}
		f := &cacheFetch{done: make(chan struct{})}
		c.fetching[key] = f
		c.mu.Unlock()
		obj, err := c.fetch(ctx, key)
		f.err = err
		c.mu.Lock()
		delete(c.fetching, key)
		c.mu.Unlock()
		close(f.done)
		if err != nil || obj != nil {
			return obj, err
		}
	}
}

// fetch downloads key into the cache. It returns the store's object itself
// when the object is too large to cache, nil once it is cached.
func (c *SegmentCache) fetch(ctx context.Context, key string) (objstore.Object, error) {
	obj, err := c.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	if obj.Size() > c.limit {
		return obj, nil
	}
	defer obj.Close()
	dst := c.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, fmt.Errorf("cache %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), cacheTmpPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", key, err)
	}
	_, err = io.CopyBuffer(f, io.NewSectionReader(obj, 0, obj.Size()), make([]byte, copyBuffer))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("cache %s: %w", key, err)
	}
	c.mu.Lock()
	c.insertLocked(key, obj.Size())
	c.mu.Unlock()
	return nil, nil
}

// adopt takes the local file at path, just stored as key, into the cache;
// false if it did not (too large, or on another file system).
func (c *SegmentCache) adopt(key, path string, size int64) bool {
	if size > c.limit {
		return false
	}
	dst := c.path(key)
	if os.MkdirAll(filepath.Dir(dst), 0o700) != nil || os.Rename(path, dst) != nil {
		return false
	}
	c.mu.Lock()
	c.insertLocked(key, size)
	c.mu.Unlock()
	return true
}

// size returns the size of a cached segment.
func (c *SegmentCache) size(key string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.Value.(*cacheEntry).size, true
	}
	return 0, false
}

// remove drops key from the cache.
func (c *SegmentCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.removeLocked(e)
	}
}

// insertLocked records a segment now in the cache as used last, and
// removes those used least recently until the cache is within its limit.
func (c *SegmentCache) insertLocked(key string, size int64) {
	if e, ok := c.entries[key]; ok {
		c.bytes -= e.Value.(*cacheEntry).size
		c.lru.Remove(e)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, size: size})
	c.bytes += size
	for c.bytes > c.limit && c.lru.Len() > 1 {
		c.removeLocked(c.lru.Back())
	}
}

func (c *SegmentCache) removeLocked(e *list.Element) {
	ce := e.Value.(*cacheEntry)
	os.Remove(c.path(ce.key))
	c.lru.Remove(e)
	delete(c.entries, ce.key)
	c.bytes -= ce.size
}

// cachedObject is a cached segment, opened.
type cachedObject struct {
	*os.File
	size int64
}

func (o *cachedObject) Size() int64 { return o.size }
