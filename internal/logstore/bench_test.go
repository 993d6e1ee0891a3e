package logstore

import (
	"context"
	"crypto/cipher"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/heaptest"
)

// benchBodies are distinct ingest calls of SecurityEvent-like rows (about
// 700 bytes each), cycled by the benchmarks.
func benchBodies(b testing.TB, calls, rows int) [][]byte {
	bodies := make([][]byte, calls)
	for i := range bodies {
		bodies[i] = eventsBody(b, i*rows, rows, testNow)
	}
	return bodies
}

// BenchmarkIngest measures rows through WAL (fsync, group commit) and flush
// into segments, sealed and with sealing switched off, from one writer (a
// shipper that waits for each acknowledgement) and from four.
//
//	go test -run '^$' -bench 'Ingest|ScanOneColumn' -benchtime 200x -count 5 ./internal/logstore
func BenchmarkIngest(b *testing.B) {
	const rows = 500
	bodies := benchBodies(b, 40, rows)
	for _, writers := range []int{1, 4} {
		for _, sealed := range []bool{false, true} {
			b.Run(fmt.Sprintf("writers=%d/sealed=%v", writers, sealed), func(b *testing.B) {
				benchIngest(b, bodies, rows, writers, sealed)
			})
		}
	}
}

// benchIngest sends bodies from writers goroutines, each waiting for its
// acknowledgement before the next call, then flushes.
func benchIngest(b *testing.B, bodies [][]byte, rows, writers int, sealed bool) {
	dir := b.TempDir()
	st := newTestStore(b, dir, benchKeys(sealed))
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
	if err := st.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	// CPU per row, flush included: what wall time shows only on an idle machine.
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(rows*b.N), "cpu-ns/row")
	b.ReportMetric(float64(dirBytes(b, dir))/float64(rows*b.N), "disk-B/row")
}

// dirBytes is the size of the files under dir: segments, manifests and what
// is left of WALs.
func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkScanOneColumn measures a scan of one column over 100,000 flushed
// rows, sealed and with sealing switched off.
func BenchmarkScanOneColumn(b *testing.B) {
	const rows = 100_000
	bodies := benchBodies(b, 100, rows/100)
	for _, sealed := range []bool{false, true} {
		b.Run(fmt.Sprintf("sealed=%v", sealed), func(b *testing.B) {
			keys := benchKeys(sealed)
			st := newTestStore(b, b.TempDir(), keys)
			for _, body := range bodies {
				if _, err := st.Ingest(context.Background(), ws, tbl, body); err != nil {
					b.Fatal(err)
				}
			}
			if err := st.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				sc, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for sc.Next() {
					n += sc.Batch().Len
				}
				if sc.Err() != nil || n != rows {
					b.Fatalf("%d rows, %v", n, sc.Err())
				}
				sc.Close()
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestIngestMemoryStaysBounded ingests many rows through WAL and flush,
// scanning them meanwhile, and checks the process's peak RSS. It runs 200,000 rows by default; the
// 10-million-row run is
//
//	SEALWATCH_LOGSTORE_ROWS=10000000 go test -run TestIngestMemoryStaysBounded -timeout 30m -v ./internal/logstore
func TestIngestMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests 200,000 rows")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	total := 200_000
	if s := os.Getenv("SEALWATCH_LOGSTORE_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		total = n
	}
	const rows = 1000
	bodies := benchBodies(t, 50, rows)
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	peakHeap := heaptest.Watch(t, 20*time.Millisecond)
	var scanner sync.WaitGroup
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(total/rows) {
					return
				}
				if _, err := st.Ingest(context.Background(), ws, tbl, bodies[i%int64(len(bodies))]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Scans meanwhile build the unflushed rows into blocks, which are held
	// beside them until their WAL is flushed.
	ingested := make(chan struct{})
	scans := 0
	scanner.Go(func() {
		for {
			select {
			case <-ingested:
				return
			default:
			}
			if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Computer"}}); err != nil {
				t.Error(err)
				return
			}
			scans++
		}
	})
	wg.Wait()
	close(ingested)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	heap := peakHeap()
	scanner.Wait()
	rss := peakRSS(t)
	t.Logf("%d rows in %v (%.0f rows/s), %d scans meanwhile; peak heap objects %d MiB, peak RSS %d MiB (GOMAXPROCS %d)",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), scans, heap>>20, rss>>20, runtime.GOMAXPROCS(0))
	if rss > 512<<20 {
		t.Fatalf("peak RSS %d MiB, over 512 MiB", rss>>20)
	}
}

// peakRSS is the process's high-water resident set (VmHWM).
func peakRSS(t *testing.T) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// benchKeys are real keys for the sealed arm, and for the other arm keys
// whose AEAD does not seal: the same pipeline with sealing switched off.
func benchKeys(sealed bool) envelope.Keys {
	if sealed {
		return envelopetest.New("aek")
	}
	return noopKeys{}
}

type noopKeys struct{}

func (noopKeys) Current(context.Context) (envelope.Sealer, error)      { return noopKeys{}, nil }
func (noopKeys) ByID(context.Context, string) (envelope.Sealer, error) { return noopKeys{}, nil }
func (noopKeys) KeyID() string                                         { return "aek-noop" }
func (noopKeys) AEAD([]byte, string) (cipher.AEAD, error)              { return noopAEAD{}, nil }

// securityEventColumns declares the columns of securityEvent's rows, as
// SecurityEvent's published schema types them.
var securityEventColumns = []DeclaredColumn{
	{"Computer", DeclaredString}, {"EventID", DeclaredInt}, {"Account", DeclaredString},
	{"AccountType", DeclaredString}, {"LogonType", DeclaredInt}, {"IpAddress", DeclaredString},
	{"IpPort", DeclaredString}, {"ProcessName", DeclaredString}, {"CommandLine", DeclaredString},
	{"SubjectUserName", DeclaredString}, {"SubjectLogonId", DeclaredString}, {"TargetUserName", DeclaredString},
	{"TargetLogonGuid", DeclaredGUID}, {"LogonProcessName", DeclaredString},
	{"AuthenticationPackageName", DeclaredString}, {"WorkstationName", DeclaredString},
	{"Channel", DeclaredString}, {"SourceComputerId", DeclaredGUID}, {"ElevatedToken", DeclaredBool},
	{"Latency", DeclaredReal},
}

// BenchmarkIngestDeclared sets the ingest of 500 SecurityEvent-like rows
// into a table with a declared schema (each value converted to its column's
// type in the one parse) beside the same rows inferred: the parse alone, and
// the whole ingest (sealed, WAL and fsync, one writer; not flushed).
//
//	go test -c -o ls.test ./internal/logstore
//	for i in 1 2 3 4 5 6; do ./ls.test -test.run '^$' -test.bench IngestDeclared -test.benchtime 100x; done > decl.txt
//	benchstat -col /schema decl.txt
func BenchmarkIngestDeclared(b *testing.B) {
	const rows = 500
	bodies := benchBodies(b, 40, rows)
	for _, schema := range []string{"none", "declared"} {
		var d declared
		if schema == "declared" {
			var err error
			if d, err = newDeclared(securityEventColumns); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("step=parse/schema="+schema, func(b *testing.B) {
			lim := ingestLimits{now: testNow, oldest: testNow.Add(-24 * time.Hour), newest: testNow.Add(time.Hour),
				maxRowBytes: 1 << 20, declared: d}
			b.SetBytes(int64(len(bodies[0])))
			n := 0
			cpu := cputime.Process()
			for b.Loop() {
				if _, _, err := parseRows(bodies[n%len(bodies)], lim); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(rows*n)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(rows*n), "cpu-ns/row")
		})
		b.Run("step=ingest/schema="+schema, func(b *testing.B) {
			st := newTestStore(b, b.TempDir(), benchKeys(true))
			b.SetBytes(int64(len(bodies[0])))
			n := 0
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := st.ingest(context.Background(), ws, tbl, bodies[n%len(bodies)], d); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(rows*n)/b.Elapsed().Seconds(), "rows/s")
			// CPU per row: what wall time shows only on an idle machine.
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(rows*n), "cpu-ns/row")
		})
	}
}
