package cli

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/node/nodetest"
)

// benchEventColumns are the stream columns of benchEvent's rows.
var benchEventColumns = []string{"Computer:string", "EventID:int", "Account:string", "AccountType:string",
	"Activity:string", "IpAddress:string", "IpPort:int", "LogonType:int", "Process:string",
	"SubjectUserSid:string", "Message:string", "Details:dynamic"}

// benchEvent is a SecurityEvent-like row of about 760 bytes as JSON, the
// size of the rows the VictoriaLogs comparison of issue 14 sent.
func benchEvent(i int, at time.Time) map[string]any {
	return map[string]any{
		"TimeGenerated":  at.Add(-time.Duration(i%3600) * time.Second).Format(time.RFC3339Nano),
		"Computer":       fmt.Sprintf("host-%03d.corp.example.com", i%200),
		"EventID":        []int{4624, 4625, 4634, 4672}[i%4],
		"Account":        fmt.Sprintf(`CORP\user%04d`, i%1000),
		"AccountType":    "User",
		"Activity":       "4625 - An account failed to log on.",
		"IpAddress":      fmt.Sprintf("10.%d.%d.%d", i%250, i%7, i%13),
		"IpPort":         40000 + i%20000,
		"LogonType":      3,
		"Process":        `C:\Windows\System32\svchost.exe`,
		"SubjectUserSid": "S-1-5-18",
		"Message": fmt.Sprintf("Failed password for user%04d from 10.0.0.%d port %d ssh2; pam_unix(sshd:auth): authentication failure; "+
			"logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.%d session=%08x; Logon Process: NtLmSsp; Key Length: 0; "+
			"This event is generated when a logon request fails.", i%1000, i%255, 40000+i%20000, i%255, i*2654435761%(1<<32)),
		"Details": map[string]any{"Status": "0xc000006d", "SubStatus": "0xc0000064", "WorkstationName": fmt.Sprintf("WS-%02d", i%50),
			"AuthenticationPackage": "NTLM", "KeyLength": 0, "Ports": []int{22, 443}},
	}
}

// writeBenchEvents writes rows first to first+n-1 as JSON lines.
func writeBenchEvents(b *testing.B, path string, first, n int, at time.Time) int64 {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := first; i < first+n; i++ {
		if err := enc.Encode(benchEvent(i, at)); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return int64(buf.Len())
}

// benchCLI runs the command tree in-process, as the tests do.
func benchCLI(b *testing.B, configDir string, args ...string) {
	if err := runBench(configDir, args...); err != nil {
		b.Fatal(err)
	}
}

func runBench(configDir string, args ...string) error {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), args, testEnv(configDir, &stdout, &stderr)); code != 0 {
		return fmt.Errorf("sealwatch %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return nil
}

// BenchmarkIngestEndToEnd sends 100,000 generated events (about 76 MB of
// JSON lines) with `sealwatch ingest` to a node on 127.0.0.1 through a data
// collection rule into a declared custom table: the client's read, gzip
// and upload, the node's TLS, gunzip, parse, seal, WAL fsync and flushes.
// streams is how many ingest commands run at once, each with its share of
// the events, as shippers side by side would.
//
//	go test -run '^$' -bench IngestEndToEnd -benchtime 1x -count 6 -timeout 0 ./internal/cli
func BenchmarkIngestEndToEnd(b *testing.B) {
	const events = 100_000
	dir := b.TempDir()
	n := nodetest.Start(b, node.Config{DataDir: filepath.Join(dir, "data")})
	configDir := filepath.Join(dir, "config")
	benchCLI(b, configDir, "login", "--credentials", n.CredentialsFile())
	benchCLI(b, configDir, "workspace", "create", "--name", "secops", "-g", "rg1")
	args := []string{"dcr", "create", "--name", "events", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-Events"}
	for _, c := range benchEventColumns {
		args = append(args, "--column", c)
	}
	benchCLI(b, configDir, args...)
	now := time.Now()
	for _, streams := range []int{1, 2} {
		files := make([]string, streams)
		var size int64
		for s := range files {
			files[s] = filepath.Join(dir, fmt.Sprintf("events-%d-%d.jsonl", streams, s))
			size += writeBenchEvents(b, files[s], s*events/streams, events/streams, now)
		}
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			b.SetBytes(size)
			cpu := cputime.Process()
			for b.Loop() {
				var wg sync.WaitGroup
				for _, f := range files {
					wg.Go(func() {
						if err := runBench(configDir, "ingest", "--dcr", "events", "-g", "rg1", "--stream", "Custom-Events", "--file", f); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "rows/s")
			// Client and node share the process: CPU per row is both sides',
			// steadier than wall time on a shared machine.
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(events*b.N), "cpu-ns/row")
		})
	}
}

// legacyEncode reads and gzips rows as ingest did before it checked rows in
// one pass and sent them as they are: each row decoded by encoding/json and
// compacted, each batch gzipped by compress/gzip at its default level. It
// returns the bytes it would have sent.
func legacyEncode(data []byte, limit int) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	sent := 0
	batch := []byte{'['}
	flush := func() error {
		batch = append(batch, ']')
		var gz bytes.Buffer
		zw := stdgzip.NewWriter(&gz)
		if _, err := zw.Write(batch); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		sent += gz.Len()
		batch = append(batch[:0], '[')
		return nil
	}
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		var row bytes.Buffer
		if err := json.Compact(&row, raw); err != nil {
			return 0, err
		}
		if len(batch) > 1 && len(batch)+1+row.Len()+1 > limit {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		if len(batch) > 1 {
			batch = append(batch, ',')
		}
		batch = append(batch, row.Bytes()...)
	}
	return sent, flush()
}

// BenchmarkIngestClientEncode measures the client's CPU per row before the
// network: reading 10,000 events of JSON lines, batching them under 1 MB
// and compressing each batch, the way ingest did at first (client=legacy),
// then with one pass and klauspost's gzip at its fastest level
// (client=gzip), and does now, with zstd at its fastest (client=zstd), on
// one goroutine.
//
//	go test -run '^$' -bench IngestClientEncode -count 6 ./internal/cli
func BenchmarkIngestClientEncode(b *testing.B) {
	const events = 10_000
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	now := time.Now()
	for i := range events {
		if err := enc.Encode(benchEvent(i, now)); err != nil {
			b.Fatal(err)
		}
	}
	data := lines.Bytes()
	report := func(b *testing.B, sent int) {
		b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(sent)/float64(len(data)), "sent-ratio")
	}
	b.Run("client=legacy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		sent := 0
		for b.Loop() {
			var err error
			if sent, err = legacyEncode(data, maxIngestBatch); err != nil {
				b.Fatal(err)
			}
		}
		report(b, sent)
	})
	onePass := func(b *testing.B, compress func(batch []byte) (int, error)) {
		b.SetBytes(int64(len(data)))
		var rep ingestReport
		for b.Loop() {
			rr, err := newRowReader(bytes.NewReader(data), "events")
			if err != nil {
				b.Fatal(err)
			}
			rep = ingestReport{}
			err = sendRows(context.Background(), rr, maxIngestBatch, 1, &rep, func(_ context.Context, batch []byte) (int, error) {
				return compress(batch)
			}, nil)
			if err != nil || rep.Rows != events {
				b.Fatalf("%d rows sent: %v", rep.Rows, err)
			}
		}
		report(b, int(rep.SentBytes))
	}
	b.Run("client=gzip", func(b *testing.B) {
		var out bytes.Buffer
		zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
		if err != nil {
			b.Fatal(err)
		}
		onePass(b, func(batch []byte) (int, error) {
			out.Reset()
			zw.Reset(&out)
			if _, err := zw.Write(batch); err != nil {
				return 0, err
			}
			return out.Len(), zw.Close()
		})
	})
	b.Run("client=zstd", func(b *testing.B) {
		zenc, err := newIngestEncoder(1)
		if err != nil {
			b.Fatal(err)
		}
		s := &ingestSender{zenc: zenc}
		onePass(b, func(batch []byte) (int, error) {
			buf := s.compress(batch)
			defer s.bufs.Put(buf)
			return len(*buf), nil
		})
	})
}
