package savedsearch

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkFunctions is the cost a query's catalog pays for a workspace's
// functions: 300 parsers of about 4 KB each, as the normalizing parsers of
// a few schemas are, built for every query (cache=false) or once per change
// (cache=true).
func BenchmarkFunctions(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			var cache *Cache
			if cached {
				cache = NewCache()
			}
			ss, _ := newTestSearches(b, cache)
			p := parser("")
			p["query"] = "DnsEvents" + strings.Repeat("\n| where Name has 'x' | extend y = tostring(z)", 70)
			for i := range 300 {
				p["functionAlias"] = fmt.Sprintf("vimDns%d", i)
				if _, _, err := ss.Put(ctx, fmt.Sprintf("p%d", i), props(b, p), ""); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := ss.Functions(ctx); err != nil { // the cache's first build
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				fns, err := ss.Functions(ctx)
				if err != nil || len(fns) != 300 {
					b.Fatal(len(fns), err)
				}
			}
		})
	}
}
