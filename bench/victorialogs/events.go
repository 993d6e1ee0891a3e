//go:build linux

package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// column is one field of the generated events, with its type in the
// Sealwatch table (and the data collection rule's stream).
type column struct{ name, typ string }

// columns are the events' fields in the order they are written: those of a
// Windows SecurityEvent and of a Syslog line, flattened.
var columns = []column{
	{"TimeGenerated", "datetime"}, {"host", "string"}, {"user", "string"}, {"event_id", "int"},
	{"message", "string"}, {"activity", "string"}, {"channel", "string"}, {"provider", "string"},
	{"facility", "string"}, {"severity", "string"}, {"process", "string"}, {"process_path", "string"},
	{"pid", "int"}, {"src_ip", "string"}, {"src_port", "int"}, {"dst_ip", "string"}, {"dst_port", "int"},
	{"domain", "string"}, {"workstation", "string"}, {"logon_type", "int"}, {"logon_process", "string"},
	{"auth_package", "string"}, {"status", "string"}, {"sub_status", "string"},
	{"event_record_id", "long"}, {"correlation_id", "string"},
}

var (
	hosts = []string{"dc01", "dc02", "web01", "web02", "db01", "mail01", "vpn01", "fs01"}
	// events are the event IDs with their weight out of 100 and activity.
	events = []struct {
		id       int
		weight   int
		activity string
	}{
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
	processes = []struct{ name, path string }{
		{"sshd", "/usr/sbin/sshd"}, {"lsass.exe", `C:\Windows\System32\lsass.exe`},
		{"svchost.exe", `C:\Windows\System32\svchost.exe`}, {"winlogon.exe", `C:\Windows\System32\winlogon.exe`},
		{"sudo", "/usr/bin/sudo"},
	}
	severities    = []string{"info", "notice", "warning", "err"}
	facilities    = []string{"auth", "authpriv", "daemon", "security"}
	logonProcs    = []string{"NtLmSsp", "Kerberos", "User32", "Advapi"}
	authPackages  = []string{"NTLM", "Kerberos", "Negotiate"}
	failureStatus = []string{"0xc000006d", "0xc000006a", "0xc0000064", "0xc0000234"}
)

// uShare is how often the user is "u", the needle the queries look for.
const uShare = 0.001

// generate writes rows events as JSON lines to path, the same for the same
// seed and start, with times spread evenly over the 24 hours after start.
// It returns the bytes written.
func generate(path string, rows int, seed uint64, start time.Time) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("create the events file: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, seed^0x5ea1))
	step := 24 * time.Hour / time.Duration(max(rows, 1))
	var n int64
	line := make([]byte, 0, 1024)
	for i := range rows {
		line = appendEvent(line[:0], rng, i, start.Add(time.Duration(i)*step))
		k, err := w.Write(line)
		if err != nil {
			return 0, fmt.Errorf("write the events file: %w", err)
		}
		n += int64(k)
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("write the events file: %w", err)
	}
	return n, f.Close()
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func appendEvent(b []byte, rng *rand.Rand, i int, t time.Time) []byte {
	user := fmt.Sprintf("user%04d", rng.IntN(2000))
	if rng.Float64() < uShare {
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
	host := pick(rng, hosts)
	src := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	srcPort := 1024 + rng.IntN(64511)
	proc := pick(rng, processes)
	status, subStatus := "0x0", "0x0"
	var msg string
	switch ev.id {
	case 4625:
		status, subStatus = pick(rng, failureStatus), pick(rng, failureStatus)
		msg = fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, src, srcPort)
	case 4624:
		msg = fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: RSA SHA256:%016x%016x", user, src, srcPort, rng.Uint64(), rng.Uint64())
	case 4688:
		msg = fmt.Sprintf("pam_unix(sudo:session): session opened for user root by %s(uid=%d)", user, 1000+rng.IntN(5000))
	default:
		msg = fmt.Sprintf("%s Subject: %s Logon ID: 0x%x", ev.activity, user, rng.Uint32())
	}
	b = append(b, `{"TimeGenerated":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, '"')
	b = appendField(b, "host", host)
	b = appendField(b, "user", user)
	b = appendInt(b, "event_id", int64(ev.id))
	b = appendField(b, "message", msg)
	b = appendField(b, "activity", ev.activity)
	b = appendField(b, "channel", "Security")
	b = appendField(b, "provider", "Microsoft-Windows-Security-Auditing")
	b = appendField(b, "facility", pick(rng, facilities))
	b = appendField(b, "severity", pick(rng, severities))
	b = appendField(b, "process", proc.name)
	b = appendField(b, "process_path", proc.path)
	b = appendInt(b, "pid", int64(100+rng.IntN(65000)))
	b = appendField(b, "src_ip", src)
	b = appendInt(b, "src_port", int64(srcPort))
	b = appendField(b, "dst_ip", fmt.Sprintf("192.168.%d.%d", rng.IntN(16), 1+rng.IntN(254)))
	b = appendInt(b, "dst_port", int64(pick(rng, []int{22, 88, 135, 389, 443, 445, 3389})))
	b = appendField(b, "domain", "CORP")
	b = appendField(b, "workstation", fmt.Sprintf("WKS-%04d", rng.IntN(3000)))
	b = appendInt(b, "logon_type", int64(pick(rng, []int{2, 3, 5, 7, 10})))
	b = appendField(b, "logon_process", pick(rng, logonProcs))
	b = appendField(b, "auth_package", pick(rng, authPackages))
	b = appendField(b, "status", status)
	b = appendField(b, "sub_status", subStatus)
	b = appendInt(b, "event_record_id", int64(10_000_000+i))
	b = appendField(b, "correlation_id", fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff))
	return append(b, "}\n"...)
}

// appendField appends ,"name":"value"; value is quoted as JSON.
func appendField(b []byte, name, value string) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendQuote(b, value)
}

func appendInt(b []byte, name string, v int64) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, v, 10)
}
