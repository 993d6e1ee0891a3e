package wsdata_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkDeclaredTable measures what a declared schema costs a query:
// the same sealed rows stored twice, in SecurityEvent, which is declared
// (its ~60 columns in declared order, EventID an int), and in
// SecurityEventRaw, which is not (its 8 stored columns, EventID a long).
// Both arms run in one process over one store, so their ratio is the
// declaration's cost. SEALWATCH_BENCH_ROWS sets the rows per table
// (default 200,000).
func BenchmarkDeclaredTable(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	dir := b.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "registry.db"), boltkv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ring, err := keyring.Open(ctx, keyring.Config{DB: db, Cluster: "bench", Resource: "logs", KEK: kektest.New("cmk")})
	if err != nil {
		b.Fatal(err)
	}
	st, err := logstore.New(logstore.Config{Dir: filepath.Join(dir, "logs"), Keys: ring, Retention: 30 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, table := range []string{"SecurityEvent", "SecurityEventRaw"} {
		if err := securityEvents(n, func(body []byte) error {
			_, err := st.Ingest(ctx, "ws", table, body)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	src := wsdata.NewSource(st, "ws")
	tables, err := src.Tables(ctx)
	if err != nil {
		b.Fatal(err)
	}
	queries := []struct{ name, query string }{
		{"summarize-by-computer", "T | summarize count() by Computer"},
		{"where-int-equals", "T | where EventID == 4625 | count"},
		{"summarize-by-int", "T | summarize count() by EventID"},
		{"where-equals-all-columns", `T | where TargetUserName == "x"`},
		{"has-term", `T | where Activity has "mimikatz" | count`},
	}
	for _, q := range queries {
		for _, arm := range []struct{ name, table string }{{"declared", "SecurityEvent"}, {"undeclared", "SecurityEventRaw"}} {
			cq, err := kql.Compile(strings.Replace(q.query, "T", arm.table, 1), kql.Catalog{Tables: tables})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := cq.Run(ctx, src, kql.Options{}); err != nil { // warm
				b.Fatal(err)
			}
			b.Run("query="+q.name+"/table="+arm.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := cq.Run(ctx, src, kql.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
