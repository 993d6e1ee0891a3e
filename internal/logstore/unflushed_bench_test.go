package logstore

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkScanUnflushed measures the two scans behind `T | count` and
// `T | summarize count() by Computer` over 500,000 SecurityEvent-like rows
// held in the WAL (one WAL, never flushed), then over the same rows once
// flushed into segments, sealed, read by one shard per core as the query
// engine reads them, after a first scan (whose time, and the heap before
// and after it, are logged).
// SEALWATCH_BENCH_ROWS changes the row count.
//
//	go test -c -o new.test ./internal/logstore
//	./new.test -test.run '^$' -test.bench ScanUnflushed -test.count 1 -test.timeout 0
func BenchmarkScanUnflushed(b *testing.B) {
	total := 500_000
	if s := os.Getenv("SEALWATCH_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		total = n
	}
	const rows = 1000
	bodies := benchBodies(b, 50, rows)
	st := newTestStore(b, b.TempDir(), benchKeys(true), func(c *Config) {
		c.FlushBytes, c.FlushInterval = 1<<40, time.Hour // the rows stay in one WAL
	})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(total/rows); i = next.Add(1) - 1 {
				if _, err := st.Ingest(context.Background(), ws, tbl, bodies[i%int64(len(bodies))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total = total / rows * rows
	before := heapInUse()
	start := time.Now()
	if n := countShards(b, st, []string{timeColumn}); n != total {
		b.Fatalf("%d rows, want %d", n, total)
	}
	b.Logf("%d rows in the WAL (%.0f MiB of heap): first scan %v, then %.0f MiB of heap",
		total, float64(before)/(1<<20), time.Since(start).Round(time.Millisecond), float64(heapInUse())/(1<<20))
	queries := []struct {
		name    string
		columns []string
		run     func(b *testing.B, st *Store, columns []string) int
	}{
		{"count", []string{timeColumn}, countShards},
		{"summarize-by", []string{"Computer"}, summarizeShards},
	}
	for _, state := range []string{"wal", "flushed"} {
		if state == "flushed" {
			if err := st.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		for _, q := range queries {
			b.Run(fmt.Sprintf("rows=%s/query=%s", state, q.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n := q.run(b, st, q.columns); n != total {
						b.Fatalf("%d rows, want %d", n, total)
					}
				}
				b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// heapInUse is the heap's live bytes after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// eachShard scans the table with one shard per core, each in a goroutine of
// its own, as the query engine does, and calls f with each batch and the
// shard's number.
func eachShard(b *testing.B, st *Store, columns []string, f func(shard int, batch *Batch)) {
	scs, err := st.ScanShards(context.Background(), ScanRequest{Workspace: ws, Table: tbl, Columns: columns}, runtime.GOMAXPROCS(0))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Go(func() {
			defer sc.Close()
			for sc.Next() {
				f(i, sc.Batch())
			}
			if err := sc.Err(); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

func countShards(b *testing.B, st *Store, columns []string) int {
	var n atomic.Int64
	eachShard(b, st, columns, func(_ int, batch *Batch) { n.Add(int64(batch.Len)) })
	return int(n.Load())
}

// summarizeShards counts the rows by the one column asked for, grouping by
// dictionary code where the column has a dictionary.
func summarizeShards(b *testing.B, st *Store, columns []string) int {
	groups := make([]map[string]int, runtime.GOMAXPROCS(0))
	for i := range groups {
		groups[i] = make(map[string]int)
	}
	eachShard(b, st, columns, func(shard int, batch *Batch) {
		c, g := &batch.Columns[0], groups[shard]
		if c.Dict != nil {
			counts := make([]int, len(c.Dict))
			for i, code := range c.Codes {
				if c.Valid[i] {
					counts[code]++
				}
			}
			for code, n := range counts {
				g[c.Dict[code]] += n
			}
			return
		}
		for i, s := range c.Strings {
			if c.Valid[i] {
				g[s]++
			}
		}
	})
	n := 0
	for _, g := range groups {
		for _, k := range g {
			n += k
		}
	}
	return n
}
