//go:build linux

// Command victorialogs measures Sealwatch side by side with VictoriaLogs on
// the same machine and the same generated security events (issue 14): ingest
// with one and with two client streams, disk use, peak memory, the same
// questions in KQL and LogsQL over HTTP, and the first query after a restart.
// It prints a markdown table of the ratios. run.sh, beside it, installs
// VictoriaLogs, builds Sealwatch from the checkout and runs it; it is not part
// of `go test`.
//
// Both servers listen on 127.0.0.1 only, in a temporary directory that is
// removed at the end; they are stopped on exit, on SIGINT/SIGTERM, and killed
// by the kernel if this program dies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	sealwatch, victoriaLogs string
	rows                    int
	seed                    uint64
	runs                    int
	streams                 []int
	flushInterval           time.Duration
	profileDir              string
	profileSeconds          int
	workDir                 string
	keep                    bool
	version, vlVersion      string
}

func main() {
	var cfg config
	var streams string
	flag.StringVar(&cfg.sealwatch, "sealwatch", "", "the sealwatch binary to measure (run.sh builds it from the checkout)")
	flag.StringVar(&cfg.victoriaLogs, "victorialogs", "", "the victoria-logs binary (run.sh installs v1.52.1)")
	flag.IntVar(&cfg.rows, "rows", 1_000_000, "events to generate and ingest into each")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the generated events")
	flag.IntVar(&cfg.runs, "runs", 7, "timed runs of each query after one warm-up; the median is reported")
	flag.StringVar(&streams, "streams", "1,2", "client streams to ingest with, one round of fresh servers each; the queries run on the last round's")
	flag.DurationVar(&cfg.flushInterval, "flush-interval", 5*time.Second, "Sealwatch's --log-flush-interval, which paces its background merge of segments (it looks for work each quarter of it), so that the merge is done soon after ingest; the write-ahead logs are sealed by sealwatch workspace flush")
	flag.StringVar(&cfg.profileDir, "profile", "", "save a CPU profile of Sealwatch over each query, run in a loop, into this directory (through /debug/pprof/profile)")
	flag.IntVar(&cfg.profileSeconds, "profile-seconds", 5, "seconds each -profile profile records")
	flag.StringVar(&cfg.workDir, "work", "", "directory for the events and both servers' data; default a new temporary one, removed at the end")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.StringVar(&cfg.version, "sealwatch-version", "", "the Sealwatch version to print (run.sh passes the commit)")
	flag.StringVar(&cfg.vlVersion, "victorialogs-version", "", "the VictoriaLogs version to print (run.sh passes the one it installed)")
	flag.Parse()
	if err := cfg.check(streams); err != nil {
		fmt.Fprintln(os.Stderr, "victorialogs:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; both servers were stopped")
		}
		fmt.Fprintln(os.Stderr, "victorialogs:", err)
		stop()
		os.Exit(1)
	}
}

func (cfg *config) check(streams string) error {
	if cfg.sealwatch == "" || cfg.victoriaLogs == "" {
		return errors.New("-sealwatch and -victorialogs name the binaries; run bench/victorialogs/run.sh, which builds and installs them")
	}
	for _, bin := range []string{cfg.sealwatch, cfg.victoriaLogs} {
		if _, err := os.Stat(bin); err != nil {
			return err
		}
	}
	if cfg.rows < 1000 {
		return fmt.Errorf("-rows must be at least 1000, not %d", cfg.rows)
	}
	if cfg.runs < 1 {
		return fmt.Errorf("-runs must be at least 1, not %d", cfg.runs)
	}
	for s := range strings.SplitSeq(streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 16 {
			return fmt.Errorf("-streams must list numbers from 1 to 16, such as 1,2; not %q", streams)
		}
		cfg.streams = append(cfg.streams, n)
	}
	if cfg.profileSeconds < 1 || cfg.profileSeconds > 300 {
		return fmt.Errorf("-profile-seconds must be from 1 to 300, not %d", cfg.profileSeconds)
	}
	return nil
}

// results is what the report prints.
type results struct {
	rows, fileBytes            int64
	ingest                     []ingestResult
	vlDisk, swDisk             int64
	vlParts, swSegments        int
	queries                    []queryResult
	vlRestart, swRestart       time.Duration
	vlRestartErr, swRestartErr error
}

type ingestResult struct {
	streams              int
	vlTime, swTime       time.Duration
	vlPeakRSS, swPeakRSS int64
}

type queryResult struct {
	q                  question
	vlTime, swTime     time.Duration
	vlErr, swErr       error
	vlAnswer, swAnswer string
	profile            string // the saved CPU profile's path
}

func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	work := cfg.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "vlbench-"); err != nil {
			return err
		}
		if cfg.keep {
			defer step("kept the work directory %s", work)
		} else {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	res := &results{rows: int64(cfg.rows)}
	start := time.Now().UTC().Truncate(time.Hour).Add(-25 * time.Hour)
	events := filepath.Join(work, "events.json")
	step("generating %d events (seed %d) into %s", cfg.rows, cfg.seed, events)
	if res.fileBytes, err = generate(events, cfg.rows, cfg.seed, start); err != nil {
		return err
	}
	step("%.1f MB, %d bytes an event", float64(res.fileBytes)/1e6, res.fileBytes/int64(cfg.rows))

	var vl *victoriaLogs
	var sw *sealwatchNode
	stopAll := func() {
		if vl != nil {
			_ = vl.srv.stop()
		}
		if sw != nil {
			_ = sw.srv.stop()
		}
	}
	defer stopAll()
	for round, streams := range cfg.streams {
		stopAll()
		parts, err := split(events, work, streams, cfg.rows)
		if err != nil {
			return err
		}
		dir := filepath.Join(work, fmt.Sprintf("round%d", round+1))
		if vl, err = startVictoriaLogs(ctx, cfg.victoriaLogs, filepath.Join(dir, "victorialogs")); err != nil {
			return err
		}
		if sw, err = startSealwatch(ctx, cfg.sealwatch, filepath.Join(dir, "sealwatch"), cfg.flushInterval); err != nil {
			return err
		}
		step("round %d: setting up the CMK workspace", round+1)
		if err := sw.setUp(ctx); err != nil {
			return err
		}
		r, err := ingestBoth(ctx, vl, sw, parts, round%2 == 1)
		if err != nil {
			return err
		}
		r.streams = streams
		res.ingest = append(res.ingest, r)
	}

	step("flushing and merging")
	if err := vl.flushAndMerge(ctx); err != nil {
		return err
	}
	if err := sw.waitFlushed(ctx); err != nil {
		return err
	}
	if res.vlDisk, err = diskUsage(filepath.Join(vl.dir, "data")); err != nil {
		return err
	}
	if res.swDisk, err = diskUsage(filepath.Join(sw.dir, "data", "logs")); err != nil {
		return err
	}
	if res.vlParts, err = vl.parts(ctx); err != nil {
		return err
	}
	if res.swSegments, err = sw.countFiles(".seg"); err != nil {
		return err
	}
	if err := checkAllRowsVisible(ctx, vl, sw, cfg.rows); err != nil {
		return err
	}

	for _, q := range questions {
		step("query %s", q.label)
		r := askBoth(ctx, vl, sw, q, cfg.runs)
		if cfg.profileDir != "" && r.swErr == nil {
			if r.profile, err = profileQuery(ctx, sw, q, cfg); err != nil {
				return err
			}
		}
		res.queries = append(res.queries, r)
	}

	step("restarting both")
	res.vlRestart, res.vlRestartErr = firstAfterRestart(ctx, vl.restart, func() error { _, err := vl.get(ctx, "/health"); return err },
		func() (time.Duration, error) {
			_, d, err := vl.query(ctx, restartQuestion.logsql)
			return d, err
		})
	res.swRestart, res.swRestartErr = firstAfterRestart(ctx, sw.restart, func() error { return sw.openConnection(ctx) },
		func() (time.Duration, error) {
			_, d, err := sw.query(ctx, restartQuestion.kqlFor(swTable))
			return d, err
		})
	if err := ctx.Err(); err != nil {
		return err
	}
	return report(out, cfg, res)
}

// step prints a progress line to stderr, for the person waiting.
func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// ingestBoth ingests the parts into each server in turn (Sealwatch first when
// swFirst) and reads each one's peak memory after.
func ingestBoth(ctx context.Context, vl *victoriaLogs, sw *sealwatchNode, parts []string, swFirst bool) (ingestResult, error) {
	var r ingestResult
	ingestVL := func() error {
		step("ingesting into VictoriaLogs with %d %s", len(parts), plural(len(parts), "stream", "streams"))
		t := time.Now()
		if err := vl.ingest(ctx, parts); err != nil {
			return vl.srv.failure(err)
		}
		r.vlTime = time.Since(t)
		var err error
		r.vlPeakRSS, err = vl.srv.peakRSS()
		return err
	}
	ingestSW := func() error {
		step("ingesting into Sealwatch with %d %s", len(parts), plural(len(parts), "stream", "streams"))
		t := time.Now()
		if err := sw.ingest(ctx, parts); err != nil {
			return sw.srv.failure(err)
		}
		r.swTime = time.Since(t)
		var err error
		r.swPeakRSS, err = sw.srv.peakRSS()
		return err
	}
	order := []func() error{ingestVL, ingestSW}
	if swFirst {
		slices.Reverse(order)
	}
	for _, f := range order {
		if err := f(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// split writes the events into n files of consecutive lines, one per
// client stream; with n = 1 it is the events file itself.
func split(events, dir string, n, rows int) ([]string, error) {
	if n == 1 {
		return []string{events}, nil
	}
	buf, err := os.ReadFile(events)
	if err != nil {
		return nil, err
	}
	per := (rows + n - 1) / n
	var parts []string
	for i := range n {
		end := 0
		for range per {
			j := slices.Index(buf[end:], '\n')
			if j < 0 {
				end = len(buf)
				break
			}
			end += j + 1
		}
		p := filepath.Join(dir, fmt.Sprintf("events-%dof%d.json", i+1, n))
		if err := os.WriteFile(p, buf[:end], 0o600); err != nil {
			return nil, err
		}
		parts, buf = append(parts, p), buf[end:]
	}
	return parts, nil
}

// checkAllRowsVisible makes sure both stores answer with every row before
// anything is timed.
func checkAllRowsVisible(ctx context.Context, vl *victoriaLogs, sw *sealwatchNode, rows int) error {
	want := strconv.Itoa(rows)
	count := questions[0]
	body, _, err := vl.query(ctx, count.logsql)
	if err != nil {
		return vl.srv.failure(err)
	}
	if got, err := victoriaLogsAnswer(count.kind, body); err != nil || got != want {
		return fmt.Errorf("VictoriaLogs counts %q rows after flushing, want %s (%v)", got, want, err)
	}
	body, _, err = sw.query(ctx, count.kqlFor(swTable))
	if err != nil {
		return sw.srv.failure(err)
	}
	if got, err := sealwatchAnswer(count.kind, body); err != nil || got != want {
		return fmt.Errorf("Sealwatch counts %q rows after flushing, want %s (%v)", got, want, err)
	}
	return nil
}

// askBoth asks each server once to warm up, then runs times more,
// alternating, and keeps each one's median. A refusal is recorded, not fatal:
// the table says what was refused.
func askBoth(ctx context.Context, vl *victoriaLogs, sw *sealwatchNode, q question, runs int) queryResult {
	r := queryResult{q: q}
	var vlTimes, swTimes []time.Duration
	for i := range runs + 1 {
		if r.vlErr == nil {
			body, d, err := vl.query(ctx, q.logsql)
			if r.vlErr = err; err == nil && i == 0 {
				r.vlAnswer, r.vlErr = victoriaLogsAnswer(q.kind, body)
			} else if err == nil {
				vlTimes = append(vlTimes, d)
			}
		}
		if r.swErr == nil {
			body, d, err := sw.query(ctx, q.kqlFor(swTable))
			if r.swErr = err; err == nil && i == 0 {
				r.swAnswer, r.swErr = sealwatchAnswer(q.kind, body)
			} else if err == nil {
				swTimes = append(swTimes, d)
			}
		}
	}
	r.vlTime, r.swTime = median(vlTimes), median(swTimes)
	return r
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}

// profileQuery records Sealwatch's CPU profile while the query runs in a
// loop, and saves it as DIR/NN-name.pprof.
func profileQuery(ctx context.Context, sw *sealwatchNode, q question, cfg config) (string, error) {
	type result struct {
		prof []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		p, err := sw.cpuProfile(ctx, cfg.profileSeconds)
		done <- result{p, err}
	}()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return "", fmt.Errorf("CPU profile of %s: %w", q.label, r.err)
			}
			path := filepath.Join(cfg.profileDir, fmt.Sprintf("%02d-%s.pprof", slices.Index(questions, q)+1, fileName(q.kql)))
			return path, os.WriteFile(path, r.prof, 0o644)
		default:
		}
		if _, _, err := sw.query(ctx, q.kqlFor(swTable)); err != nil {
			return "", err
		}
	}
}

// fileName turns a query into a short file name.
func fileName(kql string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.TrimPrefix(kql, "T | ") {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if ok {
			b.WriteRune(r)
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = !ok
		if b.Len() >= 48 {
			break
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// firstAfterRestart restarts a server, waits until warm answers (the
// connection is open), and times ask.
func firstAfterRestart(ctx context.Context, restart func(context.Context) error, warm func() error, ask func() (time.Duration, error)) (time.Duration, error) {
	if err := restart(ctx); err != nil {
		return 0, err
	}
	if err := warm(); err != nil {
		return 0, err
	}
	return ask()
}
