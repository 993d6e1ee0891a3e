package logstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

// countingStore counts the objects opened in it: downloads, for the cache.
type countingStore struct {
	objstore.Store
	opens atomic.Int64
}

func (s *countingStore) Open(ctx context.Context, key string) (objstore.Object, error) {
	s.opens.Add(1)
	return s.Store.Open(ctx, key)
}

// remoteWith is a store holding objects of the given sizes, keyed
// "w/t/<i>.seg".
func remoteWith(t *testing.T, sizes ...int) *countingStore {
	t.Helper()
	local, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		body := strings.Repeat(fmt.Sprint(i), n)
		if err := local.Put(context.Background(), cacheKey(i), strings.NewReader(body), int64(n)); err != nil {
			t.Fatal(err)
		}
	}
	return &countingStore{Store: local}
}

func cacheKey(i int) string { return fmt.Sprintf("w/t/%d.seg", i) }

func readCached(t *testing.T, c *SegmentCache, i int) string {
	t.Helper()
	o, err := c.open(context.Background(), cacheKey(i))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(io.NewSectionReader(o, 0, o.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSegmentCacheFetchesOnceAndEvictsTheLeastRecentlyUsed(t *testing.T) {
	remote := remoteWith(t, 100, 100, 100)
	dir := t.TempDir()
	c, err := NewSegmentCache(dir, 250, remote)
	if err != nil {
		t.Fatal(err)
	}
	readCached(t, c, 0)
	readCached(t, c, 1)
	readCached(t, c, 0) // 1 is now the least recently used
	if got := remote.opens.Load(); got != 2 {
		t.Fatalf("%d downloads for two segments read three times", got)
	}
	if got := readCached(t, c, 2); got != strings.Repeat("2", 100) {
		t.Fatalf("segment 2 read %q", got)
	}
	if _, ok := c.size(cacheKey(1)); ok {
		t.Fatal("the least recently used segment was kept past the limit")
	}
	if _, err := os.Stat(filepath.Join(dir, "w", "t", "1.seg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the evicted segment's file: %v", err)
	}
	if c.bytes != 200 {
		t.Fatalf("the cache counts %d bytes, holds 200", c.bytes)
	}

	// A restart finds what the cache held, ranked by modification time:
	// 0 older than 2, so 0 goes first.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "w", "t", "0.seg"), old, old); err != nil {
		t.Fatal(err)
	}
	again, err := NewSegmentCache(dir, 250, remote)
	if err != nil {
		t.Fatal(err)
	}
	before := remote.opens.Load()
	readCached(t, again, 2)
	if remote.opens.Load() != before {
		t.Fatal("a restarted cache fetched what it held")
	}
	readCached(t, again, 1)
	if _, ok := again.size(cacheKey(0)); ok {
		t.Fatal("a restarted cache evicted its newest segment before its oldest")
	}
	if _, ok := again.size(cacheKey(2)); !ok {
		t.Fatal("a restarted cache evicted the segment just read")
	}
}

func TestSegmentCacheReadsOneSegmentOnceForConcurrentReaders(t *testing.T) {
	remote := remoteWith(t, 1000)
	c, err := NewSegmentCache(t.TempDir(), 1<<20, remote)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			o, err := c.open(context.Background(), cacheKey(0))
			if err != nil {
				t.Error(err)
				return
			}
			o.Close()
		})
	}
	wg.Wait()
	if got := remote.opens.Load(); got != 1 {
		t.Fatalf("%d downloads of one segment by 8 readers at once", got)
	}
}

func TestSegmentLargerThanTheCacheIsReadFromTheStore(t *testing.T) {
	remote := remoteWith(t, 300)
	dir := t.TempDir()
	c, err := NewSegmentCache(dir, 250, remote)
	if err != nil {
		t.Fatal(err)
	}
	if got := readCached(t, c, 0); got != strings.Repeat("0", 300) {
		t.Fatalf("read %q", got)
	}
	if _, ok := c.size(cacheKey(0)); ok || c.bytes != 0 {
		t.Fatalf("a segment over the limit was cached (%d bytes)", c.bytes)
	}
}

func TestSegmentCacheMissingObjectIsErrNotExist(t *testing.T) {
	c, err := NewSegmentCache(t.TempDir(), 250, remoteWith(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.open(context.Background(), cacheKey(0)); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("open of a missing segment: %v", err)
	}
}

// TestStoresShareOneSegmentCache: a cache given to a store is used by it,
// and one of another object store is refused.
func TestStoresShareOneSegmentCache(t *testing.T) {
	remote := remoteWith(t)
	cache, err := NewSegmentCache(t.TempDir(), 1<<20, remote)
	if err != nil {
		t.Fatal(err)
	}
	keys := envelopetest.New("aek")
	for _, w := range []string{"ws-one", "ws-two"} {
		st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.Objects, c.Cache = remote, cache })
		mustIngest(t, st, w, tbl, eventsBody(t, 0, 10, testNow))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if cache.lru.Len() != 2 {
		t.Fatalf("the shared cache holds %d segments, want both stores' one each", cache.lru.Len())
	}
	_, err = New(Config{Dir: t.TempDir(), Keys: keys, Objects: remoteWith(t), Cache: cache})
	if err == nil {
		t.Fatal("a store took the cache of another object store")
	}
}
