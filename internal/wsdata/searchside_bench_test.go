package wsdata_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// fullSideEvent appends event i of bench/victorialogs's generator, all 26
// columns of it (its appendEvent, copied: a main package cannot be
// imported): TimeGenerated, 19 string columns (user "u" in 0.1% of the
// rows, in the user and message columns alone), and 6 numbers.
func fullSideEvent(b []byte, rng *rand.Rand, i int, t time.Time) []byte {
	type event struct {
		id, weight int
		activity   string
	}
	events := []event{
		{4624, 40, "4624 - An account was successfully logged on."},
		{4625, 20, "4625 - An account failed to log on."},
		{4634, 10, "4634 - An account was logged off."},
		{4648, 6, "4648 - A logon was attempted using explicit credentials."},
		{4672, 8, "4672 - Special privileges assigned to new logon."},
		{4688, 10, "4688 - A new process has been created."},
		{4720, 2, "4720 - A user account was created."},
		{4740, 2, "4740 - A user account was locked out."},
		{5156, 2, "5156 - The Windows Filtering Platform has permitted a connection."},
	}
	processes := []struct{ name, path string }{
		{"sshd", "/usr/sbin/sshd"}, {"lsass.exe", `C:\Windows\System32\lsass.exe`},
		{"svchost.exe", `C:\Windows\System32\svchost.exe`}, {"winlogon.exe", `C:\Windows\System32\winlogon.exe`},
		{"sudo", "/usr/bin/sudo"},
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	failureStatus := []string{"0xc000006d", "0xc000006a", "0xc0000064", "0xc0000234"}
	user := fmt.Sprintf("user%04d", rng.IntN(2000))
	if rng.Float64() < 0.001 {
		user = "u"
	}
	w := rng.IntN(100)
	ev := events[0]
	for _, e := range events {
		if w < e.weight {
			ev = e
			break
		}
		w -= e.weight
	}
	host := pick([]string{"dc01", "dc02", "web01", "web02", "db01", "mail01", "vpn01", "fs01"})
	src := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	srcPort := 1024 + rng.IntN(64511)
	proc := processes[rng.IntN(len(processes))]
	status, subStatus := "0x0", "0x0"
	var msg string
	switch ev.id {
	case 4625:
		status, subStatus = pick(failureStatus), pick(failureStatus)
		msg = fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, src, srcPort)
	case 4624:
		msg = fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: RSA SHA256:%016x%016x", user, src, srcPort, rng.Uint64(), rng.Uint64())
	case 4688:
		msg = fmt.Sprintf("pam_unix(sudo:session): session opened for user root by %s(uid=%d)", user, 1000+rng.IntN(5000))
	default:
		msg = fmt.Sprintf("%s Subject: %s Logon ID: 0x%x", ev.activity, user, rng.Uint32())
	}
	field := func(name, v string) { b = fmt.Appendf(b, ",%q:%s", name, strconv.Quote(v)) }
	number := func(name string, v int) { b = fmt.Appendf(b, ",%q:%d", name, v) }
	b = fmt.Appendf(b, `{"TimeGenerated":%q`, t.UTC().Format("2006-01-02T15:04:05.000000Z"))
	field("host", host)
	field("user", user)
	number("event_id", ev.id)
	field("message", msg)
	field("activity", ev.activity)
	field("channel", "Security")
	field("provider", "Microsoft-Windows-Security-Auditing")
	field("facility", pick([]string{"auth", "authpriv", "daemon", "security"}))
	field("severity", pick([]string{"info", "notice", "warning", "err"}))
	field("process", proc.name)
	field("process_path", proc.path)
	number("pid", 100+rng.IntN(65000))
	field("src_ip", src)
	number("src_port", srcPort)
	field("dst_ip", fmt.Sprintf("192.168.%d.%d", rng.IntN(16), 1+rng.IntN(254)))
	number("dst_port", []int{22, 88, 135, 389, 443, 445, 3389}[rng.IntN(7)])
	field("domain", "CORP")
	field("workstation", fmt.Sprintf("WKS-%04d", rng.IntN(3000)))
	number("logon_type", []int{2, 3, 5, 7, 10}[rng.IntN(5)])
	field("logon_process", pick([]string{"NtLmSsp", "Kerberos", "User32", "Advapi"}))
	field("auth_package", pick([]string{"NTLM", "Kerberos", "Negotiate"}))
	field("status", status)
	field("sub_status", subStatus)
	number("event_record_id", 10_000_000+i)
	field("correlation_id", fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff))
	return append(b, '}')
}

// BenchmarkSideBySideSearch runs the side-by-side benchmark's searches of
// every column (docs/BENCHMARKS.md, "Side by side": `search "u" | count`
// and `where * has "u" | count`) and the one-column word search they are
// measured against (`where message has "u" | count`), over
// SEALWATCH_BENCH_ROWS (default 200,000) events of all 26 columns of its
// generator, sealed under a real keyring and flushed: the engine's answer,
// as the query API runs it, with the process's CPU time per query.
func BenchmarkSideBySideSearch(b *testing.B) {
	ctx := context.Background()
	rows := 200_000
	if n, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROWS")); err == nil && n > 0 {
		rows = n
	}
	dir := b.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "registry.db"), boltkv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ring, err := keyring.Open(ctx, keyring.Config{DB: db, Cluster: "bench", Resource: "logs", KEK: kektest.New("cmk")})
	if err != nil {
		b.Fatal(err)
	}
	st, err := logstore.New(logstore.Config{Dir: filepath.Join(dir, "logs"), Keys: ring, Retention: 30 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 1^0x5ea1))
	start := time.Now().UTC().Add(-25 * time.Hour).Truncate(time.Hour)
	step := 24 * time.Hour / time.Duration(rows)
	var body []byte
	for done := 0; done < rows; {
		body = append(body[:0], '[')
		for i := 0; i < 5000 && done < rows; i, done = i+1, done+1 {
			if i > 0 {
				body = append(body, ',')
			}
			body = fullSideEvent(body, rng, done, start.Add(time.Duration(done)*step))
		}
		if _, err := st.Ingest(ctx, "ws", "SecEvents_CL", append(body, ']')); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	src := wsdata.NewSource(st, "ws")
	benchQueries(b, src, []struct{ name, query string }{
		{"message-has-u", `SecEvents_CL | where message has "u" | count`},
		{"search-u", `SecEvents_CL | search "u" | count`},
		{"star-has-u", `SecEvents_CL | where * has "u" | count`},
	}, 0)
}
