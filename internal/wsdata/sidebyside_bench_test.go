package wsdata_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// sideBench is a sealed store of events shaped as bench/victorialogs
// generates them, built once per benchmark process.
var sideBench struct {
	once  sync.Once
	dir   string
	store *logstore.Store
	rows  int
	err   error
}

// sideEvents writes n events as the side-by-side benchmark's generator does
// for the columns its slow queries read: TimeGenerated evenly over a day,
// one of 8 hosts, user one of 2,000 ("u" in 0.1% of rows), event_id 4625 in
// a fifth, and an sshd-style message; in JSON bodies of 5,000.
func sideEvents(n int, ingest func(body []byte) error) error {
	rng := rand.New(rand.NewPCG(1, 1^0x5ea1))
	start := time.Now().UTC().Add(-25 * time.Hour).Truncate(time.Hour)
	step := 24 * time.Hour / time.Duration(max(n, 1))
	hosts := []string{"dc01", "dc02", "web01", "web02", "db01", "mail01", "vpn01", "fs01"}
	ids := []struct{ id, weight int }{{4624, 40}, {4625, 20}, {4634, 10}, {4648, 6}, {4672, 8}, {4688, 10}, {4720, 2}, {4740, 2}, {5156, 2}}
	var body []byte
	for done := 0; done < n; {
		body = append(body[:0], '[')
		for i := 0; i < 5000 && done < n; i, done = i+1, done+1 {
			user := fmt.Sprintf("user%04d", rng.IntN(2000))
			if rng.Float64() < 0.001 {
				user = "u"
			}
			w, id := rng.IntN(100), 0
			for _, e := range ids {
				if w < e.weight {
					id = e.id
					break
				}
				w -= e.weight
			}
			if i > 0 {
				body = append(body, ',')
			}
			body = fmt.Appendf(body, `{"TimeGenerated":%q,"host":%q,"user":%q,"event_id":%d,"message":"Failed password for %s from 10.%d.%d.%d port %d ssh2"}`,
				start.Add(time.Duration(done)*step).Format(time.RFC3339Nano), hosts[rng.IntN(len(hosts))], user, id,
				user, rng.IntN(256), rng.IntN(256), 1+rng.IntN(254), 1024+rng.IntN(64511))
		}
		body = append(body, ']')
		if err := ingest(body); err != nil {
			return err
		}
	}
	return nil
}

func buildSideStore(b *testing.B) (*logstore.Store, int) {
	sideBench.once.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "sealwatch-side-bench-")
		if err != nil {
			sideBench.err = err
			return
		}
		sideBench.dir = dir
		db, err := boltkv.Open(filepath.Join(dir, "registry.db"), boltkv.Options{})
		if err != nil {
			sideBench.err = err
			return
		}
		ring, err := keyring.Open(ctx, keyring.Config{DB: db, Cluster: "bench", Resource: "logs", KEK: kektest.New("cmk")})
		if err != nil {
			sideBench.err = err
			return
		}
		st, err := logstore.New(logstore.Config{Dir: filepath.Join(dir, "logs"), Keys: ring, Retention: 30 * 24 * time.Hour})
		if err != nil {
			sideBench.err = err
			return
		}
		sideBench.store = st
		n := benchRows()
		if sideBench.err = sideEvents(n, func(body []byte) error {
			_, err := st.Ingest(ctx, "ws", "SecEvents_CL", body)
			return err
		}); sideBench.err != nil {
			return
		}
		sideBench.err = st.Flush(ctx)
		sideBench.rows = n
	})
	if sideBench.err != nil {
		b.Fatal(sideBench.err)
	}
	return sideBench.store, sideBench.rows
}

// benchQueries compiles each query against src, runs it once to warm what
// it reads, and benchmarks it as "query=NAME": allocations, the process's
// CPU time per query (of the scan's goroutines too: on a shared machine it
// moves far less than wall time) and, with rows above 0, rows a second.
func benchQueries(b *testing.B, src kql.Source, cases []struct{ name, query string }, rows int) {
	ctx := context.Background()
	tables, err := src.Tables(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		q, err := kql.Compile(c.query, kql.Catalog{Tables: tables})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.Run(ctx, src, kql.Options{}); err != nil { // warm
			b.Fatal(err)
		}
		b.Run("query="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := q.Run(ctx, src, kql.Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			if rows > 0 {
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			}
		})
	}
}

// BenchmarkSideBySideQueries runs the side-by-side benchmark's queries that
// read dictionary-coded and long columns (docs/BENCHMARKS.md, "Side by
// side") over SEALWATCH_BENCH_ROWS events (default 1,000,000) of its shape,
// flushed into a segment per hour: the engine's answer, as the query API
// runs it, with the process's CPU time per query.
func BenchmarkSideBySideQueries(b *testing.B) {
	st, rows := buildSideStore(b)
	src := wsdata.NewSource(st, "ws")
	benchQueries(b, src, []struct{ name, query string }{
		{"user-eq-count", `SecEvents_CL | where user == "u" | count`},
		{"eventid-by-user-top5", `SecEvents_CL | where event_id == 4625 | summarize rows=count() by user | top 5 by rows`},
		{"count-by-hour", `SecEvents_CL | summarize count() by bin(TimeGenerated, 1h)`},
		{"count-by-host", `SecEvents_CL | summarize count() by host`}, // a control
	}, rows)
}
