//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// report prints the machine, the versions and the table.
func report(out io.Writer, cfg config, res *results) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "Machine: %d cores (%s), %s RAM, load average %s at the end; Go %s.\n",
		runtime.NumCPU(), cpuModel(), memTotal(), loadAvg(), strings.TrimPrefix(runtime.Version(), "go"))
	fmt.Fprintf(w, "VictoriaLogs %s; Sealwatch %s.\n", orUnknown(cfg.vlVersion), orUnknown(cfg.version))
	fmt.Fprintf(w, "%d events (seed %d), %.1f MB of JSON lines, %d bytes an event; queries: median of %d warm runs each, client wall time over HTTP.\n\n",
		res.rows, cfg.seed, float64(res.fileBytes)/1e6, res.fileBytes/res.rows, cfg.runs)

	fmt.Fprintln(w, "| | VictoriaLogs | Sealwatch (CMK) | Sealwatch ÷ VictoriaLogs | answers |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range res.ingest {
		vl, sw := float64(res.rows)/r.vlTime.Seconds(), float64(res.rows)/r.swTime.Seconds()
		fmt.Fprintf(w, "| ingest, %d client %s | %s ev/s | %s ev/s | %.2f× the rate | |\n",
			r.streams, plural(r.streams, "stream", "streams"), thousands(vl), thousands(sw), sw/vl)
	}
	fmt.Fprintf(w, "| disk after merge/flush | %.1f MB | %.1f MB | %.2f | |\n",
		float64(res.vlDisk)/1e6, float64(res.swDisk)/1e6, float64(res.swDisk)/float64(res.vlDisk))
	var vlRSS, swRSS []int64
	for _, r := range res.ingest {
		vlRSS, swRSS = append(vlRSS, r.vlPeakRSS), append(swRSS, r.swPeakRSS)
	}
	fmt.Fprintf(w, "| peak RSS during ingest | %s MiB | %s MiB | %.2f | |\n", mibRange(vlRSS), mibRange(swRSS),
		float64(maxOf(swRSS))/float64(maxOf(vlRSS)))
	for _, q := range res.queries {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(q.q.label), timeOrErr(q.vlTime, q.vlErr), timeOrErr(q.swTime, q.swErr),
			timeRatio(q.vlTime, q.vlErr, q.swTime, q.swErr), answers(q))
	}
	fmt.Fprintf(w, "| restart, then first `count by host` | %s | %s | %s | |\n", timeOrErr(res.vlRestart, res.vlRestartErr),
		timeOrErr(res.swRestart, res.swRestartErr), timeRatio(res.vlRestart, res.vlRestartErr, res.swRestart, res.swRestartErr))

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Disk: VictoriaLogs' -storageDataPath (%d parts); Sealwatch's logs/ (%d segments, and manifests). Peak RSS: VmHWM of the server process after each round's ingest.\n",
		res.vlParts, res.swSegments)
	fmt.Fprintf(w, "Sealwatch ran with --log-flush-interval %v and --scrub-rate 0. VictoriaLogs was sent the events by /insert/jsonline in ~1 MB batches (_time_field=TimeGenerated, _msg_field=message); Sealwatch by `sealwatch ingest --compression none`, one process per stream.\n", cfg.flushInterval)
	var profiles []string
	for _, q := range res.queries {
		if q.profile != "" {
			profiles = append(profiles, q.profile)
		}
	}
	if len(profiles) > 0 {
		fmt.Fprintf(w, "CPU profiles of Sealwatch over each query (%d s, `go tool pprof -top FILE`): %s\n", cfg.profileSeconds, strings.Join(profiles, ", "))
	}
	return w.Flush()
}

func answers(q queryResult) string {
	switch {
	case q.vlErr != nil || q.swErr != nil:
		return ""
	case q.vlAnswer == q.swAnswer:
		return "same: " + short(q.swAnswer)
	}
	return fmt.Sprintf("**differ**: VL %s; SW %s", short(q.vlAnswer), short(q.swAnswer))
}

// short keeps an answer's head, such as "8 groups" of a group list.
func short(s string) string {
	if head, _, ok := strings.Cut(s, ":"); ok {
		return head
	}
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func timeOrErr(d time.Duration, err error) string {
	if err != nil {
		msg := err.Error()
		if se, ok := errors.AsType[*statusError](err); ok {
			msg = se.short()
		}
		if len(msg) > 80 {
			msg = msg[:80] + "…"
		}
		return "refused: " + cell(msg)
	}
	return ms(d)
}

// cell escapes the pipes of a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func timeRatio(vl time.Duration, vlErr error, sw time.Duration, swErr error) string {
	if vlErr != nil || swErr != nil || vl <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f× the time", float64(sw)/float64(vl))
}

func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f >= 100:
		return thousands(f) + " ms"
	case f >= 10:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.2f ms", f)
}

// thousands formats a number rounded to a whole, with thousands separated by commas.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func mibRange(xs []int64) string {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	if lo>>20 == hi>>20 {
		return fmt.Sprint(hi >> 20)
	}
	return fmt.Sprintf("%d–%d", lo>>20, hi>>20)
}

func maxOf(xs []int64) int64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func cpuModel() string {
	buf, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU unknown"
	}
	for line := range strings.SplitSeq(string(buf), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU unknown"
}

func memTotal() string {
	b, err := procStatusBytesFile("/proc/meminfo", "MemTotal:")
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

func loadAvg() string {
	buf, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(buf))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(version unknown)"
	}
	return s
}
