package wsdata_test

import (
	"context"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkAggregateQuery runs the aggregates a count or a time span answers
// through the engine, over the sealed store of BenchmarkSealedQuery, from a
// fresh source each time as the query API does: its schemas read, the query
// compiled and run.
func BenchmarkAggregateQuery(b *testing.B) {
	st, _ := buildSealedStore(b)
	ctx := context.Background()
	for _, c := range []struct{ name, query string }{
		{"count", `SecurityEvent | count`},
		{"count-last-hour", `SecurityEvent | where TimeGenerated > ago(1h) | count`},
		{"min-max-time", `SecurityEvent | summarize min(TimeGenerated), max(TimeGenerated)`},
		{"count-where-user", `SecurityEvent | where TargetUserName == "x" | count`},
		{"count-where-eventid", `SecurityEvent | where EventID == 4625 | count`},
		{"count-where-has", `SecurityEvent | where Activity has "mimikatz" | count`},
		{"count-by-computer", `SecurityEvent | summarize count() by Computer`}, // unchanged: a control
	} {
		run := func(b *testing.B) {
			src := wsdata.NewSource(st, "ws")
			cat, err := kql.CatalogOf(ctx, src)
			if err != nil {
				b.Fatal(err)
			}
			q, err := kql.Compile(c.query, cat)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := q.Run(ctx, src, kql.Options{}); err != nil {
				b.Fatal(err)
			}
		}
		run(b) // warm
		b.Run("query="+c.name, func(b *testing.B) {
			for b.Loop() {
				run(b)
			}
		})
	}
}
