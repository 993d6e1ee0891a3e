package watchlist

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkPutItem is the cost of adding one item to a watchlist of n
// items (four columns, about 100 bytes of values each), through the sealed
// document store on disk: what a playbook adding indicators one by one
// pays.
func BenchmarkPutItem(b *testing.B) {
	for _, n := range []int{1000, 10000, 90000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			wl, _ := newTestWatchlists(b)
			if _, _, err := wl.Put(ctx, "iocs", props(b, map[string]any{"displayName": "d", "provider": "p", "itemsSearchKey": "Host",
				"contentType": "text/csv", "rawContent": "Host,Owner,Tier,Note\n"}), ""); err != nil {
				b.Fatal(err)
			}
			st, err := wl.read(ctx, "iocs", true)
			if err != nil {
				b.Fatal(err)
			}
			at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
			items := make([]storedItem, n)
			for i := range items {
				items[i] = storedItem{ID: fmt.Sprintf("item-%08d", i), Etag: "e", Created: at, Updated: at,
					Values: []string{fmt.Sprintf("host-%05d.contoso.com", i), fmt.Sprintf("team-%d", i%40), fmt.Sprint(i % 3), strings.Repeat("n", 60)}}
			}
			st.replaceAll(items)
			if _, err := wl.write(ctx, "iocs", st.rec, st, st.rec.Chunks); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				body := props(b, map[string]any{"itemsKeyValue": map[string]string{"Host": fmt.Sprintf("new-%d", i), "Owner": "x"}})
				if _, _, err := wl.PutItem(ctx, "iocs", fmt.Sprintf("new-%d", i), body, ""); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
