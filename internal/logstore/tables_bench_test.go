package logstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
)

// BenchmarkIngestTables measures small ingest calls (50 short rows, as
// BenchmarkTenants in internal/node sends) from 4 writers, each call to a
// table drawn at random among 10 or 1,000 whose WALs are already started:
// what a call costs when concurrent calls rarely share a WAL. It reports
// the calls a second, the CPU per call and the fsyncs per call, those that
// bring a WAL's mark up to date once it goes quiet included.
//
//	go test -run '^$' -bench IngestTables -benchtime 4000x ./internal/logstore
func BenchmarkIngestTables(b *testing.B) {
	rows := make([]map[string]any, 50)
	for i := range rows {
		rows[i] = map[string]any{"TimeGenerated": testNow.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "Message": fmt.Sprintf("event %d from host-%03d", i, i%100)}
	}
	body, err := json.Marshal(rows)
	if err != nil {
		b.Fatal(err)
	}
	for _, tables := range []int{10, 1000} {
		b.Run(fmt.Sprintf("tables=%d", tables), func(b *testing.B) {
			st := newTestStore(b, b.TempDir(), benchKeys(true))
			names := make([]string, tables)
			for i := range names {
				names[i] = fmt.Sprintf("T%04d_CL", i)
				mustIngest(b, st, ws, names[i], body)
			}
			before := st.walSyncs(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu := cputime.Process()
			for range 4 {
				wg.Go(func() {
					for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
						if _, err := st.Ingest(context.Background(), ws, names[rand.IntN(tables)], body); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			used := cputime.Process() - cpu
			after := st.walSyncs(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/call")
			b.ReportMetric(float64(after-before)/float64(b.N), "fsyncs/call")
		})
	}
}

// walSyncs counts the fsyncs of the store's active WALs so far, once none
// of them has its mark yet to bring up to date.
func (st *Store) walSyncs(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	for _, t := range st.tablesNow() {
		t.mu.Lock()
		g := t.active
		t.mu.Unlock()
		if g == nil || g.wal == nil {
			continue
		}
		awaitMark(tb, g.wal)
		n += g.wal.syncs.Load()
	}
	return n
}

// tablesNow is the store's tables.
func (st *Store) tablesNow() []*table {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Collect(maps.Values(st.tables))
}
