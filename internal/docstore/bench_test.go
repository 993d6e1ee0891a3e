package docstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// TestMain stops the PostgreSQL server that the benchmarks and the tests
// of several stores over one database start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// BenchmarkFingerprint is the catalog check a query makes of a collection
// (wsdata reads three), on a collection of 1,000 documents of 200 bytes,
// on the embedded bbolt file and on PostgreSQL (the test server, on
// 127.0.0.1) in the same run; on PostgreSQL it reports the round trips a
// fingerprint costs.
func BenchmarkFingerprint(b *testing.B) {
	var sent pgkvtest.Statements
	backends := []struct {
		name string
		open func(b *testing.B) kv.DB
	}{
		{"bbolt", func(b *testing.B) kv.DB {
			db, err := boltkv.Open(filepath.Join(b.TempDir(), "docs.db"), boltkv.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}},
		{"postgres", func(b *testing.B) kv.DB {
			return pgkvtest.OpenAllCounted(b, pgtest.New(b), &sent, "documents")[0]
		}},
	}
	const docs = 1000
	body := fmt.Appendf(nil, `{"v":%q}`, strings.Repeat("x", 190))
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st, err := New(be.open(b), envelopetest.New("doc-aek"))
			if err != nil {
				b.Fatal(err)
			}
			writes := make([]Write, docs)
			for i := range writes {
				writes[i] = Write{Collection: coll, ID: fmt.Sprintf("doc-%04d", i), Body: body}
			}
			if _, err := st.Batch(ctx, ws, writes); err != nil {
				b.Fatal(err)
			}
			before := sent.Read()
			b.ResetTimer()
			for range b.N {
				if _, err := st.Fingerprint(ctx, ws, coll); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if be.name == "postgres" {
				b.ReportMetric(float64(sent.Read().Trips-before.Trips)/float64(b.N), "trips/op")
			}
		})
	}
}
