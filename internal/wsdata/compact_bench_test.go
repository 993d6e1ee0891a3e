package wsdata_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// compactBench is the same SecurityEvent rows in two sealed stores: as
// seven flushes left them, a segment per flush and hour (about 170), and
// the same files after Store.Compact merged each hour's into one.
var compactBench struct {
	once          sync.Once
	dir           string
	small, merged *logstore.Store
	rows          int
	err           error
}

// flushes is how many flushes write the small segments: each writes one per
// hour of the day the rows span, 24 or 25.
const flushes = 7

func buildCompactStores(b *testing.B) (small, merged *logstore.Store, rows int) {
	compactBench.once.Do(func() { compactBench.err = buildCompactBench(b) })
	if compactBench.err != nil {
		b.Fatal(compactBench.err)
	}
	return compactBench.small, compactBench.merged, compactBench.rows
}

func buildCompactBench(b *testing.B) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sealwatch-compact-bench-")
	if err != nil {
		return err
	}
	compactBench.dir = dir
	db, err := boltkv.Open(filepath.Join(dir, "registry.db"), boltkv.Options{})
	if err != nil {
		return err
	}
	ring, err := keyring.Open(ctx, keyring.Config{DB: db, Cluster: "bench", Resource: "logs", KEK: kektest.New("cmk")})
	if err != nil {
		return err
	}
	open := func(name string) (*logstore.Store, error) {
		// WALs big enough that only the explicit flushes write segments.
		return logstore.New(logstore.Config{Dir: filepath.Join(dir, name), Keys: ring, Retention: 30 * 24 * time.Hour,
			FlushBytes: 1 << 30, FlushInterval: 24 * time.Hour})
	}
	st, err := open("small")
	if err != nil {
		return err
	}
	n := benchRows()
	done := 0
	err = securityEvents(n, func(body []byte) error {
		k, err := st.Ingest(ctx, "ws", "SecurityEvent", body)
		if err != nil {
			return err
		}
		if done/(n/flushes) != (done+k)/(n/flushes) {
			err = st.Flush(ctx)
		}
		done += k
		return err
	})
	if err == nil {
		err = st.Flush(ctx)
	}
	st.Close()
	if err != nil {
		return err
	}
	if err := os.CopyFS(filepath.Join(dir, "merged"), os.DirFS(filepath.Join(dir, "small"))); err != nil {
		return err
	}
	if compactBench.small, err = open("small"); err != nil {
		return err
	}
	if compactBench.merged, err = open("merged"); err != nil {
		return err
	}
	start := time.Now()
	merged, err := compactBench.merged.Compact(ctx, "ws", "SecurityEvent")
	if err != nil {
		return err
	}
	b.Logf("merged %d segments of %d rows in %v", merged, n, time.Since(start).Round(time.Millisecond))
	compactBench.rows = n
	return nil
}

// sortedRows is a result's rows as JSON, sorted: the answer whatever the
// order of the groups.
func sortedRows(b *testing.B, res *kql.Result) string {
	var rows []string
	for _, t := range res.Tables {
		for _, r := range t.Rows {
			j, err := json.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, string(j))
		}
	}
	slices.Sort(rows)
	return strings.Join(rows, "\n")
}

// BenchmarkCompactedQuery runs the queries over the same rows in
// about 170 small segments and in the segments Compact merged them into,
// side by side in the same run: SEALWATCH_BENCH_ROUNDS rounds (default 1)
// of every query on each, so that both see the same load of a shared
// machine (run with -test.count 1; benchstat reads the rounds as samples
// once the #NN suffix of the repeated names is stripped).
func BenchmarkCompactedQuery(b *testing.B) {
	small, merged, rows := buildCompactStores(b)
	cases := []struct{ name, query string }{
		{"count", "SecurityEvent | count"},
		{"count-by-host", "SecurityEvent | summarize count() by Computer"},
		{"where-eq-count", `SecurityEvent | where TargetUserName == "x" | count`},
	}
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for range rounds {
		for _, c := range cases {
			compactedQuery(b, c.name, c.query, small, merged, rows)
		}
	}
}

// compactedQuery runs one query on the small segments, then on the merged
// ones, after checking that both answer alike.
func compactedQuery(b *testing.B, name, query string, small, merged *logstore.Store, rows int) {
	ctx := context.Background()
	var answers []string
	for _, arm := range []struct {
		name string
		st   *logstore.Store
	}{{"small", small}, {"merged", merged}} {
		src := wsdata.NewSource(arm.st, "ws")
		tables, err := src.Tables(ctx)
		if err != nil {
			b.Fatal(err)
		}
		q, err := kql.Compile(query, kql.Catalog{Tables: tables})
		if err != nil {
			b.Fatal(err)
		}
		res, err := q.Run(ctx, src, kql.Options{}) // warm
		if err != nil {
			b.Fatal(err)
		}
		answers = append(answers, sortedRows(b, res))
		res.Release()
		if answers[len(answers)-1] != answers[0] {
			b.Fatalf("%s: the merged segments answer\n%.300s\nthe small ones\n%.300s", name, answers[len(answers)-1], answers[0])
		}
		b.Run("query="+name+"/segments="+arm.name, func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				res, err := q.Run(ctx, src, kql.Options{})
				if err != nil {
					b.Fatal(err)
				}
				res.Release()
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// CPU time varies far less than wall time on a shared machine.
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
