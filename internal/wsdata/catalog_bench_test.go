package wsdata_test

import (
	"context"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkCountWithCatalog is the query API's work for `T | count` in a
// workspace under a customer-managed key with 2,000 flushed rows, a
// declared table, a watchlist and a function: the source, its catalog,
// the compilation and the count from metadata (op=count); and the source
// and its catalog alone (op=catalog).
func BenchmarkCountWithCatalog(b *testing.B) {
	d, ws := wsdata.CMKData(b)
	ctx := context.Background()
	catalog := func() (*wsdata.Source, kql.Catalog) {
		src, err := d.Source(ctx, ws)
		if err != nil {
			b.Fatal(err)
		}
		cat, err := kql.CatalogOf(ctx, src)
		if err != nil {
			b.Fatal(err)
		}
		return src, cat
	}
	for _, op := range []string{"count", "catalog"} {
		b.Run("op="+op, func(b *testing.B) {
			cpu := processCPU()
			for b.Loop() {
				src, cat := catalog()
				if op == "catalog" {
					src.Release()
					continue
				}
				q, err := kql.Compile("SecEvents_CL | count", cat)
				if err != nil {
					b.Fatal(err)
				}
				res, err := q.Run(ctx, src, kql.Options{})
				src.Release()
				if err != nil {
					b.Fatal(err)
				}
				res.Release()
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
