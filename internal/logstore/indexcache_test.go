package logstore

import (
	"fmt"
	"path/filepath"
	"testing"
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
