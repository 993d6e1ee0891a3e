package logstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// The cache stays within its memory bound, and forgets deleted segments.
func TestIndexCacheIsBounded(t *testing.T) {
	var c indexCache
	sealed := make([]byte, maxCachedIndexBytes/64)
	for i := range 200 {
		c.put(filepath.Join("ws", "t", fmt.Sprint(i)), 1, header{}, sealed, nil)
		if c.bytes > maxCachedIndexBytes {
			t.Fatalf("%d bytes cached after %d entries", c.bytes, i+1)
		}
	}
	if _, ok := c.get(filepath.Join("ws", "t", "199"), 1, header{}, sealed); !ok {
		t.Fatal("the last entry is not cached")
	}
	if _, ok := c.get(filepath.Join("ws", "t", "199"), 2, header{}, sealed); ok {
		t.Fatal("an entry of another size was used")
	}
	c.forget("ws")
	if len(c.m) != 0 || c.bytes != 0 {
		t.Fatalf("%d entries, %d bytes left after forgetting their directory", len(c.m), c.bytes)
	}
	c.put("big", 1, header{}, make([]byte, maxCachedIndexBytes), nil)
	if len(c.m) != 0 {
		t.Fatal("an index larger than the bound was cached")
	}
}

// A revoked key frees the cached indexes on the background loop's next tick,
// with no read to notice it; Close frees them too.
func TestCachedIndexesGoSoonAfterRevocationWithoutARead(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.FlushInterval = 40 * time.Millisecond })
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 50, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	cached := func() int {
		st.indexes.mu.Lock()
		defer st.indexes.mu.Unlock()
		return len(st.indexes.m)
	}
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); err != nil || cached() == 0 {
		t.Fatalf("warming: %v, %d indexes cached", err, cached())
	}
	time.Sleep(100 * time.Millisecond)
	if cached() == 0 {
		t.Fatal("the background check dropped the indexes of a usable key")
	}
	keys.Revoke()
	deadline := time.Now().Add(5 * time.Second)
	for cached() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d indexes still cached 5s after the key was revoked", cached())
		}
		time.Sleep(5 * time.Millisecond)
	}
	keys.Restore()
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); err != nil || cached() == 0 {
		t.Fatalf("after restore: %v, %d indexes cached", err, cached())
	}
	st.Close()
	if n := cached(); n != 0 {
		t.Fatalf("%d indexes still cached after Close", n)
	}
}
