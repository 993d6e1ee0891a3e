package logstore

import (
	"context"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
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
	benchBuildBlock(b, eventsBody(b, 0, n, testNow), testNow.Add(-2*time.Hour), n)
}

// benchBuildBlock parses the n rows of body (none older than oldest) once,
// then times the sealed encoding of them as one block, as a flush's worker
// does, reporting process CPU a row and encoded bytes a row.
func benchBuildBlock(b *testing.B, body []byte, oldest time.Time, n int) {
	b.Helper()
	rec, refs, err := parseRows(body, ingestLimits{now: testNow, oldest: oldest,
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
	cpu := cputime.Process()
	for b.Loop() {
		if err := bw.build(context.Background(), rows, &eb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N*n), "cpu-ns/row")
	b.ReportMetric(float64(len(eb.data))/float64(n), "B/row")
}
