package logstore

import (
	"context"
	"testing"
	"time"
)

// BenchmarkFlushBlock measures what a flush spends on one block of 8,192
// SecurityEvent-like rows before sealing it: the rows walked out of their
// payload, each column encoded and compressed in pages, its bloom filter,
// the dictionary of its strings and the block's any-column filter
// (blockWorker.build), on one goroutine.
//
//	go test -run '^$' -bench FlushBlock -count 6 ./internal/logstore
func BenchmarkFlushBlock(b *testing.B) {
	const n = 8192
	rec, refs, err := parseRows(eventsBody(b, 0, n, testNow), ingestLimits{now: testNow, oldest: testNow.Add(-2 * time.Hour),
		newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	batch := &memBatch{payload: rec[ingestTimeSize:], refs: refs, ingested: testNow.UnixNano()}
	rows := make([]memRow, len(refs))
	for i, r := range refs {
		rows[i] = memRow{batch, r}
	}
	st := newTestStore(b, b.TempDir(), benchKeys(true))
	bw := &blockWorker{bb: newBlockBuilder(nil), enc: st.blockEncoder()}
	var eb encodedBlock
	cpu := processCPU()
	for b.Loop() {
		if err := bw.build(context.Background(), rows, &eb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N*n), "cpu-ns/row")
	b.ReportMetric(float64(len(eb.data))/n, "B/row")
}
