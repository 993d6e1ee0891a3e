package logstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// BenchmarkCountAcrossLineages counts 20,000 rows, as a scan for row counts
// does, through a node that wrote none of them and reads every lineage
// (warm: its cache holds every segment). The rows came in 20 rounds, each
// flushed by every node that took a part, as BenchmarkCluster in
// internal/node ingests them:
//
//   - lineages=1: one node took every round;
//   - lineages=3: each round was split over three nodes, each sealing its
//     own segments;
//   - lineages=3/compacted: then each of the three compacted its own;
//   - lineages=3/adopted+compacted: then two of them were gone and the
//     third adopted their lineages and compacted (what a cluster does once
//     the leases run out);
//   - lineages=1/compacted: the one node's lineage compacted, the figure
//     the adopted case is to come back to.
func BenchmarkCountAcrossLineages(b *testing.B) {
	const rounds, perRound = 20, 1000
	for _, bc := range []struct {
		name      string
		nodes     int
		adopt     bool
		compacted bool
	}{
		{"lineages=1", 1, false, false},
		{"lineages=3", 3, false, false},
		{"lineages=3/compacted", 3, false, true},
		{"lineages=3/adopted+compacted", 3, true, true},
		{"lineages=1/compacted", 1, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(b), keys: envelopetest.New("aek")}
			var nodes []*Store
			for i := range bc.nodes {
				nodes = append(nodes, benchNode(b, c, fmt.Sprintf("node-%d", i)))
			}
			start := testNow.Add(-2 * time.Hour)
			for r := range rounds {
				for i, st := range nodes {
					var body strings.Builder
					body.WriteString("[")
					for k := i; k < perRound; k += len(nodes) {
						if body.Len() > 1 {
							body.WriteString(",")
						}
						n := r*perRound + k
						fmt.Fprintf(&body, `{"TimeGenerated":%q,"Computer":"host-%03d","EventID":%d}`,
							start.Add(time.Duration(n)*(2*time.Hour)/(rounds*perRound)).Format(time.RFC3339Nano), n%500, 4624+n%4)
					}
					body.WriteString("]")
					mustIngest(b, st, ws, tbl, []byte(body.String()))
					if err := st.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
			last := nodes[len(nodes)-1]
			if bc.adopt {
				for _, dead := range nodes[:len(nodes)-1] {
					if _, err := last.AdoptLineage(context.Background(), ws, tbl, dead.cfg.Lineage); err != nil {
						b.Fatal(err)
					}
				}
			}
			for _, st := range nodes {
				if bc.compacted && (!bc.adopt || st == last) {
					if _, err := st.Compact(context.Background(), ws, tbl); err != nil {
						b.Fatal(err)
					}
				}
			}
			reader := benchNode(b, c, "reader")
			req := ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true}
			count := func() {
				sc, err := reader.Scan(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for sc.Next() {
					n += sc.Batch().Len
				}
				if err := sc.Err(); err != nil || n != rounds*perRound {
					b.Fatalf("%d rows, %v; want %d", n, err, rounds*perRound)
				}
				sc.Close()
			}
			count() // warm the cache
			ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl)
			live, segs := 0, 0
			for l, p := range ptrs {
				if p.Epoch > 0 && p.Retired == 0 {
					live++
					m, _, err := reader.readManifestAt(context.Background(), ws, tbl, l, &p)
					if err != nil {
						b.Fatal(err)
					}
					segs += len(m.segs)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				count()
			}
			b.ReportMetric(float64(live), "lineages")
			b.ReportMetric(float64(segs), "segments")
		})
	}
}

func benchNode(b *testing.B, c cluster, lineage string) *Store {
	b.Helper()
	return newTestStore(b, b.TempDir(), c.keys, func(cfg *Config) {
		cfg.Ledger, cfg.Objects, cfg.CacheDir, cfg.Lineage = c.ledger, c.objects, b.TempDir(), lineage
	})
}
