package wsdata_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkCountWithCatalog is the query API's work for `T | count` in a
// workspace under a customer-managed key with 2,000 flushed rows, a
// declared table, a watchlist and a function: the source, its catalog,
// the compilation and the count from metadata (op=count); the source and
// its catalog alone (op=catalog); and op=count after an ingest of ten rows
// of the table's columns and types, the ingest left out of the time and
// CPU (op=count-after-ingest), as under steady ingest. kept/op is the
// share of queries served the kept catalog.
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
	for _, op := range []string{"count", "catalog", "count-after-ingest"} {
		b.Run("op="+op, func(b *testing.B) {
			var queries, kept int
			last := wsdata.KeptTables(d, ws.Workspace.Properties.CustomerID)
			var ingestCPU time.Duration
			cpu := cputime.Process()
			for b.Loop() {
				if op == "count-after-ingest" {
					b.StopTimer()
					before := cputime.Process()
					ingestKnownColumns(b, d, ws)
					ingestCPU += cputime.Process() - before
					b.StartTimer()
				}
				src, cat := catalog()
				queries++
				if now := wsdata.KeptTables(d, ws.Workspace.Properties.CustomerID); now == last {
					kept++
				} else {
					last = now
				}
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
			b.ReportMetric(float64(cputime.Process()-cpu-ingestCPU)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(kept)/float64(queries), "kept/op")
		})
	}
}

// ingestKnownColumns ingests ten rows of SecEvents_CL's columns and types.
func ingestKnownColumns(b *testing.B, d *wsdata.Data, ws *workspace.WorkspaceInfo) {
	ctx := context.Background()
	st, err := d.Logs(ctx, ws)
	if err != nil {
		b.Fatal(err)
	}
	var body strings.Builder
	body.WriteString("[")
	at := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range 10 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"TimeGenerated":%q,"Computer":"host-%d","EventID":%d,"Account":"u%d"}`, at, i%8, 4624+i%3, i)
	}
	body.WriteString("]")
	if _, err := st.Ingest(ctx, ws.Workspace.Properties.CustomerID, "SecEvents_CL", []byte(body.String())); err != nil {
		b.Fatal(err)
	}
}
