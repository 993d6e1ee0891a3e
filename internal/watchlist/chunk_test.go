package watchlist

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChunksHoldTheirItemsExactly(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 123456789, time.UTC)
	var items []storedItem
	for i := range 3000 {
		items = append(items, storedItem{ID: fmt.Sprintf("id-%d", i), Etag: "e", Created: at.Add(-time.Duration(i%3) * 80 * 365 * 24 * time.Hour), // before 1970 too
			Updated: at, Values: []string{fmt.Sprintf("host-%d", i), strings.Repeat("é\"\\\x00", i%300), ""}})
	}
	var chunks [][]byte
	for _, c := range split(items) {
		chunks = append(chunks, encodeChunk(c))
	}
	if len(chunks) < 2 {
		t.Fatalf("%d chunk(s) for about 2 MB of items", len(chunks))
	}
	var got []storedItem
	for _, body := range chunks {
		var c chunk
		if err := c.unmarshal(body); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		var err error
		if got, err = c.decode(got, 3); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(items) {
		t.Fatalf("%d items back, want %d", len(got), len(items))
	}
	for i := range items {
		w, g := items[i], got[i]
		if g.ID != w.ID || g.Etag != w.Etag || !g.Created.Equal(w.Created) || !g.Updated.Equal(w.Updated) || !slices.Equal(g.Values, w.Values) {
			t.Fatalf("item %d: %+v, want %+v", i, g, w)
		}
	}
	var c chunk
	if err := c.unmarshal(chunks[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.decode(nil, 4); err == nil {
		t.Fatal("items of 3 values read as 4")
	}
}

// FuzzChunkDecode: any bytes either fail to read as a chunk or read as
// items with the stated number of values each; nothing panics.
func FuzzChunkDecode(f *testing.F) {
	f.Add(encodeChunk([]storedItem{{ID: "a", Etag: "b", Values: []string{"x", "y"}}}), 2)
	f.Add([]byte(`{"items":1,"data":"AAAA"}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, columns int) {
		var c chunk
		if c.unmarshal(body) != nil || columns < 0 || columns > MaxColumns {
			return
		}
		items, err := c.decode(nil, columns)
		if err != nil {
			return
		}
		for _, it := range items {
			if len(it.Values) != columns {
				t.Fatalf("an item of %d values, want %d", len(it.Values), columns)
			}
		}
	})
}
