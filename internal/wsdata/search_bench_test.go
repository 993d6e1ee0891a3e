package wsdata_test

import (
	"context"
	"testing"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkSealedSearch runs search and where * has over every column next
// to the same term's has on the one column that holds it, over the million
// sealed SecurityEvent rows of buildSealedStore: a term in one row in
// 10,000 but in every block (the user "x", as the "u"), one in 1% of
// the rows (mimikatz), and one in none.
//
//	go test -run '^$' -bench SealedSearch -benchtime 3x ./internal/wsdata
//
// Its figures, old against new, are in docs/BENCHMARKS.md.
func BenchmarkSealedSearch(b *testing.B) {
	st, rows := buildSealedStore(b)
	ctx := context.Background()
	src := wsdata.NewSource(st, "ws")
	tables, err := src.Tables(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, query string }{
		{"term=rare-in-every-block/over=one-column", `SecurityEvent | where TargetUserName has "x" | count`},
		{"term=rare-in-every-block/over=search", `SecurityEvent | search "x" | count`},
		{"term=rare-in-every-block/over=where-star", `SecurityEvent | where * has "x" | count`},
		{"term=one-percent/over=one-column", `SecurityEvent | where Activity has "mimikatz" | count`},
		{"term=one-percent/over=search", `SecurityEvent | search "mimikatz" | count`},
		{"term=one-percent/over=where-star", `SecurityEvent | where * has "mimikatz" | count`},
		{"term=absent/over=one-column", `SecurityEvent | where Activity has "nosuchterm" | count`},
		{"term=absent/over=search", `SecurityEvent | search "nosuchterm" | count`},
		{"term=absent/over=where-star", `SecurityEvent | where * has "nosuchterm" | count`},
	}
	for _, c := range cases {
		q, err := kql.Compile(c.query, kql.Catalog{Tables: tables})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.Run(ctx, src, kql.Options{}); err != nil { // warm
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := q.Run(ctx, src, kql.Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// the process's CPU time: what wall time shows only on an idle machine
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
