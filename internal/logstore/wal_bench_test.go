package logstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// BenchmarkWALAppend measures sealed WAL records of 1 MB, the rows of one
// ingest call, appended and made durable by 1, 2 and 4 writers at once.
// Group commit shares each fsync among the writers waiting for it: records
// per second grow with writers while fsyncs per record fall, so that with
// several calls under way the fsync does not bound ingestion — compare
// its MB/s with the parse's (BenchmarkIngestTextCheck/step=parseRows).
//
//	go test -run '^$' -bench WALAppend -benchtime 100x ./internal/logstore
func BenchmarkWALAppend(b *testing.B) {
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(rand.IntN(256))
	}
	sealer, err := envelopetest.New("aek").Current(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, writers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			w, err := createWAL(b.TempDir(), 1, ws, tbl, "", sealer.KeyID())
			if err != nil {
				b.Fatal(err)
			}
			defer w.close()
			aead, err := sealer.AEAD(w.hdr.salt[:], purposeWAL)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(payload)))
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
						ord, _, err := w.append(aead, payload, 0, 0, false)
						if err == nil {
							err = w.waitDurable(ord)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(w.syncs.Load())/float64(b.N), "fsyncs/record")
		})
	}
}
