package wsdata

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/watchlist"
)

// BenchmarkGetWatchlist is the cost of reading a 10,000-item watchlist in a
// query: sealed, from the document store (decrypt its chunks, decode, hand
// out columns), against the same rows held in memory by the engine's
// MemSource. The query reads two of the four columns and counts.
func BenchmarkGetWatchlist(b *testing.B) {
	const items = 10000
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("Host,Owner,Tier,Note\n")
	for i := range items {
		fmt.Fprintf(&csv, "host-%05d.contoso.com,team-%d,%d,%s\n", i, i%40, i%3, strings.Repeat("n", 60))
	}
	const query = "_GetWatchlist('hosts') | where Tier == '0' | summarize count() by Owner"

	keys := envelopetest.New("aek")
	st, err := logstore.New(logstore.Config{Dir: b.TempDir(), Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	docs, _ := docstoretest.Open(b, keys)
	wl := watchlist.New(docs, "ws", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w", nil)
	props, _ := json.Marshal(map[string]any{"displayName": "Hosts", "provider": "SOC", "itemsSearchKey": "Host", "contentType": "text/csv", "rawContent": csv.String()})
	if _, _, err := wl.Put(ctx, "hosts", props, ""); err != nil {
		b.Fatal(err)
	}
	sealed := NewSource(st, "ws")
	sealed.watchlists = wl

	// The same rows in memory, as the sealed source serves them.
	tables, err := sealed.Tables(ctx)
	if err != nil {
		b.Fatal(err)
	}
	i := slices.IndexFunc(tables, func(t kql.TableSchema) bool { return t.Name == kql.WatchlistTable("hosts") })
	if i < 0 {
		b.Fatal("the sealed source lists no table of the watchlist")
	}
	mem := kql.NewMemTable(kql.WatchlistTable("hosts"), tables[i].Columns...)
	tab, err := wl.Table(ctx, "hosts")
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range tab.Rows {
		vals := []any{r.ID, r.Updated, r.Values[0], map[string]any{}}
		for _, v := range r.Values {
			vals = append(vals, v)
		}
		if err := mem.Append(vals...); err != nil {
			b.Fatal(err)
		}
	}
	for _, arm := range []struct {
		name string
		src  kql.Source
	}{{"memory", kql.NewMemSource(mem)}, {"sealed", sealed}} {
		b.Run("source="+arm.name, func(b *testing.B) {
			for b.Loop() {
				tables, err := arm.src.Tables(ctx)
				if err != nil {
					b.Fatal(err)
				}
				q, err := kql.Compile(query, kql.Catalog{Tables: tables})
				if err != nil {
					b.Fatal(err)
				}
				res, err := q.Run(ctx, arm.src, kql.Options{})
				if err != nil || len(res.Tables[0].Rows) != 40 {
					b.Fatalf("%v %v", res, err)
				}
				res.Release()
			}
			b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
