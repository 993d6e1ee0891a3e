package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/client"
)

// The crash test's knobs, for a longer run than CI's or to replay a failure:
// a seed gives the same kill delays and batch sizes again, though not the
// same interleaving of the senders.
const (
	envCrashTrials = "SEALWATCH_CRASH_TRIALS" // kills (default 5)
	envCrashSeed   = "SEALWATCH_CRASH_SEED"   // seed of the kill delays and batch sizes (default: the clock)
)

// Bounds of one trial: how long ingest runs before the kill, and how long
// any single wait may take before the test gives up.
const (
	minKillDelay  = 50 * time.Millisecond // kills during start-up replay and flush, too
	maxKillDelay  = 1500 * time.Millisecond
	callTimeout   = 15 * time.Second // one HTTP exchange
	startDeadline = time.Minute      // the child's start, WAL replay included
	cliTimeout    = time.Minute      // one set-up command
)

// TestAcknowledgedRowsSurviveKillExactlyOnce runs the real binary with `up`,
// sets up a workspace under a customer-managed key with the CLI as a user
// would, and then, trial after trial, ingests from several goroutines through
// the Logs Ingestion and the HTTP Data Collector APIs, kills the node with
// SIGKILL after a random delay and starts it again on the same data
// directory. Every row carries a unique ID; every row whose batch was
// acknowledged (2xx) must read back exactly once, a row whose batch was not
// acknowledged at most once, and nothing else may appear. The node seals its
// write-ahead logs into segments every 64 KiB (the smallest --log-flush-size),
// several times a second, so kills also land in the middle of flushes, and in
// the replay and flush that follow each restart.
func TestAcknowledgedRowsSurviveKillExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly; skipped with -short")
	}
	trials := envInt(t, envCrashTrials, 5)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envCrashSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envCrashSeed, v, err)
		}
		seed = s
	}
	t.Logf("%d trials, seed %d (repeat with %s=%d %s=%d)", trials, seed, envCrashSeed, seed, envCrashTrials, trials)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	r := newCrashRig(t)
	r.node.start(t)
	r.setUp(t)

	start := time.Now()
	for trial := 1; trial <= trials; trial++ {
		delay := minKillDelay + time.Duration(rng.Int64N(int64(maxKillDelay-minKillDelay)))
		r.runTrial(t, trial, delay, rand.New(rand.NewPCG(rng.Uint64(), uint64(trial))))
		r.node.start(t)
		r.waitQueryable(t)
		// The trial just killed, at once, so that a failure names it.
		r.check(t, trial)
	}
	// Every trial again: a later crash, replay or flush must not have
	// lost or doubled rows that an earlier check saw.
	for trial := 1; trial <= trials; trial++ {
		r.check(t, trial)
	}
	r.report(t, trials, time.Since(start))
}

// crashRig is the child node, the workspace set up on it, and the record of
// every row sent.
type crashRig struct {
	node    *child
	bin     string
	config  string // SEALWATCH_CONFIG_DIR of the set-up commands
	targets []*target
	// Set by setUp.
	api                                *client.Client
	plain                              *http.Client // for the Data Collector API, which signs with a shared key
	customerID, immutableID, sharedKey string
}

// target is one way rows reach a table, and the record of what it sent.
type target struct {
	name      string // for messages: "logs-ingestion", "data-collector"
	collector bool   // the HTTP Data Collector API, else the Logs Ingestion API
	idPrefix  string
	table     string
	idCol     string
	trialCol  string
	workers   int
	mu        sync.Mutex
	trials    map[int]*ledger
}

// ledger is what one trial sent through one target.
type ledger struct {
	acked   map[string]bool // IDs in batches answered 2xx
	unacked map[string]bool // IDs in batches with no 2xx: refused, cut off, timed out
	outcome map[string]int  // batches by outcome ("204", "503 KeyVaultUnreachable", "transport error")
	stored  int             // unacknowledged IDs found stored, by the last check
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	dir := t.TempDir()
	r := &crashRig{
		bin:    buildSealwatch(t, dir),
		config: filepath.Join(dir, "config"),
		targets: []*target{
			{name: "logs-ingestion", idPrefix: "l", table: "Crash_CL", idCol: "RowId", trialCol: "trial", workers: 3},
			{name: "data-collector", collector: true, idPrefix: "d", table: "CrashCollector_CL", idCol: "id_s", trialCol: "trial_d", workers: 1},
		},
	}
	for _, tg := range r.targets {
		tg.trials = map[int]*ledger{}
	}
	r.node = &child{
		bin: r.bin, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "node.log"),
		addr: net.JoinHostPort("127.0.0.1", freePort(t)),
	}
	t.Cleanup(func() { r.node.kill() })
	return r
}

// buildSealwatch builds this package's binary into dir, once per test run.
func buildSealwatch(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sealwatch")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// setUp does the README's five steps with the CLI against the child, then
// makes a data collection rule and reads the workspace's IDs and shared key.
func (r *crashRig) setUp(t *testing.T) {
	t.Helper()
	admin := filepath.Join(r.node.data, "admin.json")
	for _, args := range [][]string{
		{"login", "--credentials", admin},
		{"keyvault", "create", "--name", "cmk1", "-g", "security", "--enable-purge-protection"},
		{"keyvault", "key", "create", "--vault-name", "cmk1", "--name", "workspace-cmk", "--kty", "RSA", "--size", "2048", "--ops", "wrapKey", "unwrapKey"},
		{"cluster", "create", "--name", "cluster1", "-g", "security", "--capacity", "100"},
		{"keyvault", "set-policy", "--name", "cmk1", "--cluster", "cluster1", "--key-permissions", "get", "wrapKey", "unwrapKey"},
		{"cluster", "update", "--name", "cluster1", "--key-vault", "cmk1", "--key-name", "workspace-cmk"},
		{"workspace", "create", "--name", "secops", "-g", "security"},
		{"workspace", "link", "--name", "secops", "--cluster", "cluster1"},
		{"sentinel", "onboard", "--workspace", "secops", "--cmk"},
	} {
		r.cli(t, args...)
	}
	var dcr struct {
		Properties struct {
			ImmutableID string `json:"immutableId"`
		} `json:"properties"`
	}
	r.cliJSON(t, &dcr, "dcr", "create", "--name", "crash", "-g", "security", "--workspace", "secops", "--stream", "Custom-Crash",
		"--column", "RowId:string", "--column", "trial:int") // id is a reserved column name
	var ws struct {
		Properties struct {
			CustomerID string `json:"customerId"`
		} `json:"properties"`
	}
	r.cliJSON(t, &ws, "workspace", "show", "--name", "secops")
	var keys struct {
		Primary string `json:"primarySharedKey"`
	}
	r.cliJSON(t, &keys, "workspace", "keys", "--name", "secops")
	r.immutableID, r.customerID, r.sharedKey = dcr.Properties.ImmutableID, ws.Properties.CustomerID, keys.Primary
	if r.immutableID == "" || r.customerID == "" || r.sharedKey == "" {
		t.Fatalf("set-up gave rule %q, workspace %q, shared key set %v", r.immutableID, r.customerID, r.sharedKey != "")
	}

	creds, err := client.LoadCredentials(admin)
	if err != nil {
		t.Fatal(err)
	}
	// One call's timeout bounds every request; no call is retried, so a
	// batch is sent exactly once and its outcome is what the client saw.
	r.api, err = client.New(*creds, client.Options{Timeout: callTimeout, UserAgent: "sealwatch-crash-test"})
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	u, _ := url.Parse(creds.Endpoint)
	tr := client.Transport(u.Host, creds.VaultDNSSuffix, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	t.Cleanup(tr.CloseIdleConnections)
	r.plain = &http.Client{Transport: tr, Timeout: callTimeout}
}

// cli runs the binary as a user would in a terminal, and fails the test if
// the command fails.
func (r *crashRig) cli(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = append(hermeticEnv(), "SEALWATCH_CONFIG_DIR="+r.config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sealwatch %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

func (r *crashRig) cliJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	raw := r.cli(t, append(args, "--output", "json")...)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("sealwatch %s: %v\n%s", strings.Join(args, " "), err, raw)
	}
}

// runTrial ingests through every target until the node is killed after
// delay, and waits for every sender to stop.
func (r *crashRig) runTrial(t *testing.T, trial int, delay time.Duration, rng *rand.Rand) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, tg := range r.targets {
		l := &ledger{acked: map[string]bool{}, unacked: map[string]bool{}, outcome: map[string]int{}}
		tg.mu.Lock()
		tg.trials[trial] = l
		tg.mu.Unlock()
		for w := range tg.workers {
			// Each sender has its own generator, seeded from the trial's,
			// so that batch sizes do not depend on goroutine scheduling.
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
			wg.Go(func() { r.send(ctx, tg, l, trial, w, wrng) })
		}
	}
	time.Sleep(delay) // the kill's random point: there is nothing to wait for
	r.node.kill(stop)
	wg.Wait()
	t.Logf("trial %d: killed after %v; %s", trial, delay, r.trialSummary(trial))
}

// send posts batches of 1-100 rows with fresh IDs until ctx ends. A batch
// is never sent again: a retry of a batch that was stored but whose answer
// was lost would store it twice, a duplicate of the client's making.
func (r *crashRig) send(ctx context.Context, tg *target, l *ledger, trial, worker int, rng *rand.Rand) {
	dc := &collectorSigner{}
	for seq := 0; ctx.Err() == nil; {
		n := 1 + rng.IntN(100)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("t%d-%s%d-%d", trial, tg.idPrefix, worker, seq)
			seq++
		}
		var outcome string
		if tg.collector {
			outcome = r.sendCollector(ctx, dc, trial, ids)
		} else {
			outcome = r.sendIngestion(ctx, trial, ids)
		}
		tg.mu.Lock()
		set := l.unacked
		if strings.HasPrefix(outcome, "2") {
			set = l.acked
		}
		for _, id := range ids {
			set[id] = true
		}
		l.outcome[outcome]++
		tg.mu.Unlock()
	}
}

// sendIngestion posts rows to the Logs Ingestion API and returns the outcome:
// the status (and code), or "transport error".
func (r *crashRig) sendIngestion(ctx context.Context, trial int, ids []string) string {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	rows := make([]map[string]any, len(ids))
	for i, id := range ids {
		rows[i] = map[string]any{"TimeGenerated": now, "RowId": id, "trial": trial}
	}
	body, _ := json.Marshal(rows)
	err := r.api.DoRaw(ctx, http.MethodPost, "/dataCollectionRules/"+r.immutableID+"/streams/Custom-Crash?api-version=2023-01-01",
		client.AudienceIngestion, body, http.Header{"Content-Type": {"application/json"}}, nil)
	return outcomeOf(err, "204")
}

// sendCollector posts rows to the HTTP Data Collector API, signed with the
// workspace's shared key.
func (r *crashRig) sendCollector(ctx context.Context, dc *collectorSigner, trial int, ids []string) string {
	rows := make([]map[string]any, len(ids))
	for i, id := range ids {
		rows[i] = map[string]any{"id": id, "trial": trial}
	}
	body, _ := json.Marshal(rows)
	date := time.Now().UTC().Format(http.TimeFormat)
	body = dc.distinct(date, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.api.URL("/api/logs?api-version=2016-04-01"), bytes.NewReader(body))
	if err != nil {
		return "transport error"
	}
	key, _ := base64.StdEncoding.DecodeString(r.sharedKey)
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "POST\n%d\napplication/json\nx-ms-date:%s\n/api/logs", len(body), date)
	req.Header.Set("Authorization", "SharedKey "+r.customerID+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-ms-date", date)
	req.Header.Set("Log-Type", "CrashCollector")
	resp, err := r.plain.Do(req)
	if err != nil {
		return "transport error"
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code string }
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = json.Unmarshal(msg, &e)
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, e.Error.Code))
}

// collectorSigner keeps a sender's Data Collector bodies of one second at
// distinct lengths. The API's signature covers the length, content type,
// date (to the second) and path but not the body, so two batches of equal
// length in the same second would carry the same signature, and the node
// takes each signature once (409 DuplicateRequest; docs/api.md, Replays).
type collectorSigner struct {
	date    string
	lengths map[int]bool
}

func (s *collectorSigner) distinct(date string, body []byte) []byte {
	if date != s.date {
		s.date, s.lengths = date, map[int]bool{}
	}
	for s.lengths[len(body)] {
		body = append(body, ' ') // JSON allows trailing white space
	}
	s.lengths[len(body)] = true
	return body
}

// outcomeOf names a call's result: ok (a 2xx), the API's status and code,
// or a transport error (the node died, a timeout).
func outcomeOf(err error, ok string) string {
	var ae *client.APIError
	switch {
	case err == nil:
		return ok
	case errors.As(err, &ae):
		return fmt.Sprintf("%d %s", ae.Status, ae.Code)
	default:
		return "transport error"
	}
}

// waitQueryable waits until the workspace answers a query: its key is back
// in force after the restart.
func (r *crashRig) waitQueryable(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		if _, err = r.query(ctx, "print ready = 1"); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the workspace does not answer queries %v after the restart: %v\n%s", startDeadline, err, r.node.logTail())
		case <-tick.C:
		}
	}
}

func (r *crashRig) query(ctx context.Context, kql string) ([][]any, error) {
	var res struct {
		Tables []struct {
			Rows [][]any `json:"rows"`
		} `json:"tables"`
	}
	err := r.api.Do(ctx, http.MethodPost, "/v1/workspaces/"+r.customerID+"/query", client.AudienceQuery, map[string]string{"query": kql}, &res)
	if err != nil {
		return nil, err
	}
	if len(res.Tables) == 0 {
		return nil, fmt.Errorf("query %q answered no table", kql)
	}
	return res.Tables[0].Rows, nil
}

// check reads back every row of one trial from each target's table and
// compares it with what was sent: each acknowledged ID exactly once, each
// unacknowledged one at most once, no other ID. A failure is read again at
// once, to tell what is stored wrongly from what one query answered wrongly.
func (r *crashRig) check(t *testing.T, trial int) {
	t.Helper()
	for _, tg := range r.targets {
		tg.mu.Lock()
		l := tg.trials[trial]
		tg.mu.Unlock()
		v, ok := r.readBack(t, tg, trial, l)
		if !ok {
			continue // the table has no row yet
		}
		if v.wrong() {
			again, _ := r.readBack(t, tg, trial, l)
			t.Errorf("trial %d, %s (table %s): %s\nread again at once: %s\n%s", trial, tg.name, tg.table, v, again, r.node.logTail())
		}
		tg.mu.Lock()
		l.stored = v.stored
		tg.mu.Unlock()
	}
}

// readBack is what one query of a trial's rows found, against its ledger.
type readBack struct {
	lost, doubled, foreign []string
	stored                 int // unacknowledged IDs present once
}

func (v readBack) wrong() bool { return len(v.lost)+len(v.doubled)+len(v.foreign) > 0 }

func (v readBack) String() string {
	if !v.wrong() {
		return "every acknowledged row once, nothing doubled or foreign"
	}
	return fmt.Sprintf("%d acknowledged rows lost %s; %d rows stored more than once %s; %d rows never sent %s",
		len(v.lost), firstIDs(v.lost), len(v.doubled), firstIDs(v.doubled), len(v.foreign), firstIDs(v.foreign))
}

// readBack queries the IDs of one trial in a target's table and compares
// them with the ledger; ok is false when the table does not exist yet and
// nothing was acknowledged into it.
func (r *crashRig) readBack(t *testing.T, tg *target, trial int, l *ledger) (v readBack, ok bool) {
	t.Helper()
	kql := fmt.Sprintf("%s | where %s == %d | summarize n = count() by %s", tg.table, tg.trialCol, trial, tg.idCol)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	rows, err := r.query(ctx, kql)
	cancel()
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && len(l.acked) == 0 && !r.tableExists(t, tg) {
			return v, false
		}
		t.Fatalf("trial %d, %s: %s: %v\n%s", trial, tg.name, kql, err, r.node.logTail())
	}
	count := make(map[string]int, len(rows))
	for _, row := range rows {
		id, _ := row[0].(string)
		n, _ := row[1].(float64)
		count[id] = int(n)
	}
	for id := range l.acked {
		if count[id] == 0 {
			v.lost = append(v.lost, id)
		}
	}
	for id, n := range count {
		switch {
		case !l.acked[id] && !l.unacked[id]:
			v.foreign = append(v.foreign, id)
		case n > 1:
			v.doubled = append(v.doubled, fmt.Sprintf("%s×%d(acked=%v)", id, n, l.acked[id]))
		case l.unacked[id]:
			v.stored++
		}
	}
	return v, true
}

// tableExists reports whether the workspace has the target's table: before
// its first row, a query of it is refused.
func (r *crashRig) tableExists(t *testing.T, tg *target) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := r.query(ctx, tg.table+" | take 1")
	return err == nil
}

// firstIDs lists up to 20 IDs, sorted, for a failure message. They are the
// test's synthetic IDs, not anyone's data.
func firstIDs(ids []string) string {
	slices.Sort(ids)
	if len(ids) > 20 {
		return fmt.Sprintf("%v and %d more", ids[:20], len(ids)-20)
	}
	return fmt.Sprint(ids)
}

func (r *crashRig) trialSummary(trial int) string {
	var parts []string
	for _, tg := range r.targets {
		tg.mu.Lock()
		l := tg.trials[trial]
		parts = append(parts, fmt.Sprintf("%s: %d rows acked, %d not, batches %v", tg.name, len(l.acked), len(l.unacked), l.outcome))
		tg.mu.Unlock()
	}
	return strings.Join(parts, "; ")
}

// report logs the run's totals, the figures docs/BENCHMARKS.md records.
func (r *crashRig) report(t *testing.T, trials int, elapsed time.Duration) {
	t.Helper()
	var acked, unacked, recovered int
	for _, tg := range r.targets {
		var tgAcked int
		tg.mu.Lock()
		for _, l := range tg.trials {
			tgAcked += len(l.acked)
			unacked += len(l.unacked)
			recovered += l.stored
		}
		tg.mu.Unlock()
		if tgAcked == 0 {
			t.Errorf("%s: no batch was acknowledged in %d trials; the test proved nothing for it", tg.name, trials)
		}
		acked += tgAcked
	}
	verdict := "all read back exactly once"
	if t.Failed() {
		verdict = "NOT all read back exactly once (see above)"
	}
	t.Logf("%d kills in %v: %d rows acknowledged, %s; %d rows unacknowledged, of which %d were stored; %d segments written",
		trials, elapsed.Round(time.Second), acked, verdict, unacked, recovered, r.node.segments(t))
}

// child is the node under test: the real binary running `up`.
type child struct {
	bin, data, log, addr string
	cmd                  *exec.Cmd
	exited               chan struct{}
}

// start runs `up` on the data directory and waits until it serves. A WAL
// sealed into segments every 64 KiB puts flushes in the path of the kills.
func (c *child) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	running := make(chan struct{})
	c.cmd = exec.Command(c.bin, "up", "--data", c.data, "--addr", c.addr, "--log-flush-size", "64KiB")
	c.cmd.Env = hermeticEnv()
	c.cmd.Stdout = &lineWatch{marker: " is running.", seen: running}
	c.cmd.Stderr = logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(c.cmd, c.exited)
	timer := time.NewTimer(startDeadline)
	defer timer.Stop()
	select {
	case <-running:
	case <-c.exited:
		t.Fatalf("sealwatch up exited before serving (%v):\n%s", c.cmd.ProcessState, c.logTail())
	case <-timer.C:
		c.kill()
		t.Fatalf("sealwatch up does not serve after %v:\n%s", startDeadline, c.logTail())
	}
}

// kill ends the child with SIGKILL, then runs each of then (stopping the
// senders, who would otherwise fail fast against a dead port until the
// child is reaped) and waits until the child is gone.
func (c *child) kill(then ...func()) {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	for _, f := range then {
		f()
	}
	<-c.exited
	c.cmd = nil
}

// logTail is the last lines of the node's log (stderr), which names files
// and workspaces but never rows or keys.
func (c *child) logTail() string {
	raw, _ := os.ReadFile(c.log)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	lines = lines[max(0, len(lines)-30):]
	return "node log (" + c.log + "), last lines:\n" + strings.Join(lines, "\n")
}

// segments counts the sealed segment files in the data directory.
func (c *child) segments(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(c.data, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			n++
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	return n
}

// lineWatch is a child's stdout: it closes seen once the output holds marker.
type lineWatch struct {
	mu     sync.Mutex
	buf    []byte
	marker string
	seen   chan struct{}
	done   bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.buf = append(w.buf, p...)
		if bytes.Contains(w.buf, []byte(w.marker)) {
			w.done = true
			close(w.seen)
		}
	}
	return len(p), nil
}

// hermeticEnv is the test's environment without SEALWATCH_ variables, so that
// a developer's settings (a vault passphrase, a config directory) stay out.
func hermeticEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SEALWATCH_") })
}

// freePort is a port nothing listens on now. The node keeps it across
// restarts: the cluster's key URI names it.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
