package logstore

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// sshEvent appends row i of the events of bench/victorialogs (the
// side-by-side run against VictoriaLogs), as a JSON object: sshd-style
// messages, user "u" in 0.1% of the rows and nowhere else as a term,
// "Failed password" in a fifth, and the other text columns of a
// SecurityEvent or Syslog row.
func sshEvent(b []byte, r *mrand.Rand, at time.Time) []byte {
	user := fmt.Sprintf("user%04d", r.IntN(2000))
	if r.Float64() < 0.001 {
		user = "u"
	}
	activities := []string{"4624 - An account was successfully logged on.", "4625 - An account failed to log on.",
		"4634 - An account was logged off.", "4672 - Special privileges assigned to new logon."}
	src := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))
	port := 1024 + r.IntN(64511)
	var msg string
	switch w := r.IntN(100); {
	case w < 40:
		msg = fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: RSA SHA256:%016x%016x", user, src, port, r.Uint64(), r.Uint64())
	case w < 60:
		msg = fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, src, port)
	case w < 70:
		msg = fmt.Sprintf("pam_unix(sudo:session): session opened for user root by %s(uid=%d)", user, 1000+r.IntN(5000))
	default:
		msg = fmt.Sprintf("%s Subject: %s Logon ID: 0x%x", activities[r.IntN(len(activities))], user, r.Uint32())
	}
	field := func(name, v string) { b = fmt.Appendf(b, ",%q:%q", name, v) }
	b = fmt.Appendf(b, `{"TimeGenerated":%q`, at.Format(time.RFC3339Nano))
	field("host", []string{"dc01", "dc02", "web01", "web02", "db01", "mail01", "vpn01", "fs01"}[r.IntN(8)])
	field("user", user)
	b = fmt.Appendf(b, `,"event_id":%d`, []int{4624, 4625, 4634, 4672}[r.IntN(4)])
	field("message", msg)
	field("activity", activities[r.IntN(len(activities))])
	field("channel", "Security")
	field("process_path", []string{"/usr/sbin/sshd", `C:\Windows\System32\lsass.exe`, "/usr/bin/sudo"}[r.IntN(3)])
	field("src_ip", src)
	b = fmt.Appendf(b, `,"src_port":%d`, port)
	field("dst_ip", fmt.Sprintf("192.168.%d.%d", r.IntN(16), 1+r.IntN(254)))
	field("workstation", fmt.Sprintf("WKS-%04d", r.IntN(3000)))
	field("status", []string{"0x0", "0xc000006d", "0xc000006a"}[r.IntN(3)])
	field("correlation_id", fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff))
	return append(b, '}')
}

// sshStore is a store holding rows of sshEvent, flushed into segments of
// 8,192-row blocks, and its directory.
func sshStore(b *testing.B, rows int) (*Store, string) {
	dir := b.TempDir()
	st := newTestStore(b, dir, envelopetest.New("aek"))
	r := mrand.New(mrand.NewPCG(1, 0x5ea1))
	start := testNow.Add(-20 * time.Hour)
	step := 16 * time.Hour / time.Duration(rows)
	body := make([]byte, 0, 4<<20)
	for done := 0; done < rows; {
		body = append(body[:0], '[')
		for i := 0; i < 4000 && done < rows; i, done = i+1, done+1 {
			if i > 0 {
				body = append(body, ',')
			}
			body = sshEvent(body, r, start.Add(time.Duration(done)*step))
		}
		body = append(body, ']')
		mustIngest(b, st, ws, tbl, body)
	}
	if err := st.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st, dir
}

// BenchmarkTextCount counts the rows of SEALWATCH_BENCH_ROWS (default
// 200,000) sshEvent rows in which message has a term rare in the rows but
// whose letter is in every row ("u", 0.1%), a phrase in a fifth of them
// ("Failed password"), and any column has "u" (search "u"): the store's
// exact counts under has, as the query engine asks for them. It reports
// the process's CPU per scan (cpu-ns/op) and the segments' bytes.
func BenchmarkTextCount(b *testing.B) {
	rows := 200_000
	if n, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROWS")); err == nil && n > 0 {
		rows = n
	}
	st, dir := sshStore(b, rows)
	var disk int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, segExt) {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	for _, c := range []struct {
		name string
		pred Predicate
	}{
		{"message-has-u", Predicate{Column: "message", Op: OpHas, Value: "u"}},
		{"message-has-Failed-password", Predicate{Column: "message", Op: OpHas, Value: "Failed password"}},
		{"any-has-u", Predicate{Column: AnyColumn, Op: OpHas, Value: "u"}},
		{"user-has-u", Predicate{Column: "user", Op: OpHas, Value: "u"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true, Predicates: []Predicate{c.pred}}
			cpu := cputime.Process()
			for b.Loop() {
				scs, err := st.ScanShards(context.Background(), req, 2)
				if err != nil {
					b.Fatal(err)
				}
				counts := make(chan int, len(scs))
				for _, sc := range scs {
					go func() {
						defer sc.Close()
						n := 0
						for sc.Next() {
							n += sc.Batch().Len
						}
						if sc.Err() != nil {
							n = -1
						}
						counts <- n
					}()
				}
				n := 0
				for range scs {
					k := <-counts
					if k < 0 {
						b.Fatal("scan failed")
					}
					n += k
				}
				if n == 0 {
					b.Fatal("no row counted")
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(disk), "segment-bytes")
		})
	}
}

// BenchmarkFlushText is BenchmarkFlushBlock over 8,192 rows of sshEvent:
// what a flush spends on a block whose message column is long text, with
// its page filter (segment version 4 on).
func BenchmarkFlushText(b *testing.B) {
	const n = 8192
	r := mrand.New(mrand.NewPCG(1, 0x5ea1))
	body := []byte("[")
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		body = sshEvent(body, r, testNow.Add(-time.Duration(i)*time.Second))
	}
	benchBuildBlock(b, append(body, ']'), testNow.Add(-3*time.Hour), n)
}
