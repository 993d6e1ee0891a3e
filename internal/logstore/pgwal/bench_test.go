package pgwal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// BenchmarkIngest measures ingest calls of 500 rows (about 200 KB) from 1
// and 4 writers, each waiting for its acknowledgement, then their flush,
// into a store of a
// lineage on a shared object store, with its WAL on the local disk alone
// (wal=local) and copied to PostgreSQL as well (wal=shared), in the same
// run. commits/call is the shared WAL's commits per ingest call: below 1,
// calls shared a commit. PostgreSQL must be durable, as in production, so
// that a commit waits for the disk:
//
//	SEALWATCH_TEST_POSTGRES_DURABLE=1 go test -run '^$' -bench Ingest -benchtime 200x -count 6 ./internal/logstore/pgwal
func BenchmarkIngest(b *testing.B) {
	const rows = 500
	bodies := make([][]byte, 20)
	for i := range bodies {
		bodies[i] = benchBody(rows)
	}
	dbURL := pgtest.New(b)
	durable(b, dbURL)
	for _, writers := range []int{1, 4} {
		for _, shared := range []bool{false, true} {
			name := map[bool]string{false: "local", true: "shared"}[shared]
			b.Run(fmt.Sprintf("writers=%d/wal=%s", writers, name), func(b *testing.B) {
				var wal *WAL
				if shared {
					wal = openWAL(b, dbURL)
				}
				benchIngest(b, wal, bodies, rows, writers)
			})
		}
	}
}

func benchIngest(b *testing.B, wal *WAL, bodies [][]byte, rows, writers int) {
	objects, err := localfs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cfg := logstore.Config{Dir: b.TempDir(), Keys: envelopetest.New("aek"), Ledger: &logstore.MemLedger{}, Objects: objects,
		CacheDir: b.TempDir(), Lineage: "bench"}
	if wal != nil {
		cfg.SharedWAL = wal
	}
	st, err := logstore.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ws := "ws" + randomHex(4) // a workspace per run: the shared WAL's table outlives it
	b.SetBytes(int64(len(bodies[0])))
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu := cputime.Process()
	for range writers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				if _, err := st.Ingest(context.Background(), ws, tbl, bodies[n%int64(len(bodies))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Sealed, as a node seals them in the background: without it, the
	// faster run leaves more of its flushes out of the figures.
	if err := st.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	// The node's CPU per row (PostgreSQL's own is not counted): on a machine
	// shared with other work it varies far less than wall time.
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(rows*b.N), "cpu-ns/row")
	if wal != nil {
		b.ReportMetric(float64(wal.commits.Load())/float64(b.N), "commits/call")
	}
}

// benchBody is rows rows of about 600 bytes of JSON each, with the entropy
// of real events (identifiers, addresses, command lines).
func benchBody(rows int) []byte {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"Computer":"host-%s.corp.example","EventID":%d,"Account":"CORP\\user%s","Process":"C:\\Windows\\System32\\%s.exe",`+
			`"CommandLine":"%s.exe /c %s --flag %s","IpAddress":"10.%d.%d.%d","LogonGuid":"%s-%s-%s","Activity":"An account was successfully logged on %s"}`,
			randomHex(3), 4600+i%50, randomHex(2), randomHex(4), randomHex(4), randomHex(16), randomHex(8), i%256, (i/7)%256, (i/3)%256,
			randomHex(8), randomHex(4), randomHex(12), randomHex(20))
	}
	sb.WriteByte(']')
	return []byte(sb.String())
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// durable fails unless the test server fsyncs its WAL at each commit, as a
// production server does (pgtest.EnvDurable).
func durable(b *testing.B, dbURL string) {
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var fsync, commit string
	if err := pool.QueryRow(context.Background(), "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &commit); err != nil {
		b.Fatal(err)
	}
	if fsync != "on" || commit != "on" {
		b.Fatalf("the test server runs with fsync %s and synchronous_commit %s: set %s=1 to compare commits that wait for the disk", fsync, commit, pgtest.EnvDurable)
	}
}
