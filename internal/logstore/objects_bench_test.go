package logstore

import (
	"context"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/s3test"
)

// BenchmarkScanFromObjectStorage measures a query over flushed segments
// (every column of 50,000 SecurityEvent-like rows, sealed) read from
// segments on local files, the default; from an S3-compatible bucket
// (SeaweedFS on loopback) with the segment cache emptied before each scan,
// so that every segment is fetched; and from that bucket with the cache
// warm. It reports the segments read and their size.
//
//	scripts/test.sh -run '^$' -bench ScanFromObjectStorage -count 6 ./internal/logstore
func BenchmarkScanFromObjectStorage(b *testing.B) {
	const rows = 50_000
	bodies := benchBodies(b, 50, rows/50)
	for _, bc := range []struct {
		name   string
		bucket bool
		cold   bool
	}{{"store=localfs", false, false}, {"store=s3/cache=cold", true, true}, {"store=s3/cache=warm", true, false}} {
		b.Run(bc.name, func(b *testing.B) {
			var mod []func(*Config)
			if bc.bucket {
				mod = append(mod, onBucket(b, s3test.NewStore(b)))
			}
			st := newTestStore(b, b.TempDir(), benchKeys(true), mod...)
			var size int64
			for _, body := range bodies {
				if _, err := st.Ingest(context.Background(), ws, tbl, body); err != nil {
					b.Fatal(err)
				}
				size += int64(len(body))
			}
			if err := st.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			entries, err := st.objects.store.List(context.Background(), tablePrefix(ws, tbl))
			if err != nil {
				b.Fatal(err)
			}
			var segs, segBytes int
			for _, e := range entries {
				if strings.HasSuffix(e.Key, segExt) {
					segs, segBytes = segs+1, segBytes+int(e.Size)
				}
			}
			scanBench(b, st, rows) // warms the index cache, and the segment cache
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				if bc.cold {
					b.StopTimer()
					st.objects.cache.empty()
					st.indexes.drop()
					b.StartTimer()
				}
				scanBench(b, st, rows)
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(segs), "segments")
			b.ReportMetric(float64(segBytes)/(1<<20), "segment-MiB")
		})
	}
}

// scanBench scans every column of the table and checks the rows came.
func scanBench(b *testing.B, st *Store, rows int) {
	sc, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	n := 0
	for sc.Next() {
		n += sc.Batch().Len
	}
	if sc.Err() != nil || n != rows {
		b.Fatalf("%d rows, %v", n, sc.Err())
	}
}

// empty removes every cached segment.
func (c *SegmentCache) empty() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
}
