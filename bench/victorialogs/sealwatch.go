//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/client"
)

// The names of what the benchmark sets up in Sealwatch.
const (
	swGroup     = "bench"
	swCluster   = "cl01"
	swWorkspace = "secops"
	swDCR       = "events"
	swStream    = "Custom-SecEvents"
	swTable     = "SecEvents_CL"
)

// sealwatchNode is a `sealwatch up` node with its own data directory, and the
// admin's connection to it.
type sealwatchNode struct {
	bin, dir, addr string
	flushInterval  time.Duration
	srv            *server
	creds          string // the admin's credentials file
	cl             *client.Client
	http           *http.Client // for queries and profiles, timed without the client's decoding
	customerID     string
}

func startSealwatch(ctx context.Context, bin, dir string, flushInterval time.Duration) (*sealwatchNode, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	n := &sealwatchNode{bin: bin, dir: dir, addr: addr, flushInterval: flushInterval,
		creds: filepath.Join(dir, "data", "admin.json")}
	if err := n.start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// start runs the node and waits until the admin can sign in. The background
// scrub is off: it would read the data while the other store is measured.
func (n *sealwatchNode) start(ctx context.Context) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	var err error
	n.srv, err = startServer("Sealwatch", filepath.Join(n.dir, "server.log"), n.bin, "up",
		"--data", filepath.Join(n.dir, "data"), "--addr", n.addr, "--log-level", "warn",
		"--scrub-rate", "0", "--log-flush-interval", n.flushInterval.String())
	if err != nil {
		return err
	}
	return n.srv.waitFor(ctx, 2*time.Minute, "signing the admin in", func(ctx context.Context) error {
		creds, err := client.LoadCredentials(n.creds)
		if err != nil {
			return err
		}
		if n.cl, err = client.New(*creds, client.Options{Timeout: 10 * time.Minute}); err != nil {
			return err
		}
		if n.http, err = queryClient(creds); err != nil {
			return err
		}
		_, err = n.cl.Token(ctx, client.AudienceQuery)
		return err
	})
}

func (n *sealwatchNode) restart(ctx context.Context) error {
	if err := n.srv.stop(); err != nil {
		return err
	}
	return n.start(ctx)
}

// queryClient is an HTTP client that trusts the node's CA.
func queryClient(creds *client.Credentials) (*http.Client, error) {
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", creds.CAFile)
	}
	u, err := url.Parse(creds.Endpoint)
	if err != nil {
		return nil, err
	}
	tr := client.Transport(u.Host, creds.VaultDNSSuffix, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}, nil
}

// cli runs a sealwatch command as the admin and returns its standard output.
func (n *sealwatchNode) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, n.bin, append(args, "--credentials", n.creds)...)
	cmd.Env = append(os.Environ(), "SEALWATCH_CONFIG_DIR="+filepath.Join(n.dir, "cli"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("sealwatch %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// setUp makes a customer-managed-key workspace as docs/guide.md does: a
// vault with a key, a cluster granted the key, a workspace linked and
// onboarded under it, a custom table and a data collection rule into it.
func (n *sealwatchNode) setUp(ctx context.Context) error {
	var cols []string
	for _, c := range columns {
		cols = append(cols, "--column", c.name+":"+c.typ)
	}
	steps := [][]string{
		{"keyvault", "create", "--name", "cmk1", "-g", swGroup, "--enable-purge-protection"},
		{"keyvault", "key", "create", "--vault-name", "cmk1", "--name", "k1"},
		{"cluster", "create", "--name", swCluster, "-g", swGroup, "--capacity", "100"},
		{"keyvault", "set-policy", "--name", "cmk1", "--cluster", swCluster, "--key-permissions", "get", "wrapKey", "unwrapKey"},
		{"cluster", "update", "--name", swCluster, "--key-vault", "cmk1", "--key-name", "k1"},
		{"workspace", "create", "--name", swWorkspace, "-g", swGroup},
		{"workspace", "link", "--name", swWorkspace, "--cluster", swCluster},
		{"sentinel", "onboard", "--workspace", swWorkspace, "--cmk"},
		append([]string{"table", "create", swTable, "-w", swWorkspace}, cols[2:]...), // TimeGenerated comes first by itself
		append([]string{"dcr", "create", "--name", swDCR, "-g", swGroup, "--workspace", swWorkspace, "--stream", swStream}, cols...),
	}
	for _, args := range steps {
		if _, err := n.cli(ctx, args...); err != nil {
			return err
		}
	}
	out, err := n.cli(ctx, "workspace", "show", "--name", swWorkspace, "-o", "json")
	if err != nil {
		return err
	}
	var ws struct {
		Properties struct {
			CustomerID string `json:"customerId"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(out, &ws); err != nil || ws.Properties.CustomerID == "" {
		return fmt.Errorf("sealwatch workspace show: no customerId in %.300s", out)
	}
	n.customerID = ws.Properties.CustomerID
	return nil
}

// ingest runs one `sealwatch ingest` per part at once and returns when all
// have ended. The rows go uncompressed, as VictoriaLogs' are sent: client
// and server share the machine, where compression would only spend the CPU
// both need.
func (n *sealwatchNode) ingest(ctx context.Context, parts []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, part := range parts {
		wg.Go(func() {
			_, errs[i] = n.cli(ctx, "ingest", "--dcr", swDCR, "-g", swGroup, "--stream", swStream, "--file", part, "--compression", "none")
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// countFiles is how many files under the node's logs/ end in ext.
func (n *sealwatchNode) countFiles(ext string) (int, error) {
	count := 0
	err := filepath.WalkDir(filepath.Join(n.dir, "data", "logs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a flush or merge meanwhile
			}
			return err
		}
		if strings.HasSuffix(path, ext) {
			count++
		}
		return nil
	})
	return count, err
}

// waitFlushed seals every table's write-ahead log into segments as a user
// would (`sealwatch workspace flush`, which answers once the segments are
// durable and the logs removed), checks that no log is left, then waits
// until the background merge of small segments is done. No call asks for a
// merge or says whether one runs, so that is read from logs/: its disk use
// holds still for three flush intervals. An hour is merged in full once no
// rows came for two intervals, and the merge looks for work each quarter of
// one: three intervals of stillness after the ingest end past the last look
// that could find a merge due.
func (n *sealwatchNode) waitFlushed(ctx context.Context) error {
	if _, err := n.cli(ctx, "workspace", "flush", "--name", swWorkspace, "-g", swGroup); err != nil {
		return err
	}
	if wals, err := n.countFiles(".wal"); err != nil || wals > 0 {
		return fmt.Errorf("%d write-ahead logs left after sealwatch workspace flush (%v)", wals, err)
	}
	settle := max(diskSettle, 3*n.flushInterval)
	last, changed := int64(-1), time.Now()
	return n.srv.waitFor(ctx, 10*time.Minute, "done merging", func(context.Context) error {
		size, err := diskUsage(filepath.Join(n.dir, "data", "logs"))
		if err != nil {
			return err
		}
		if size != last {
			last, changed = size, time.Now()
		}
		if time.Since(changed) < settle {
			return fmt.Errorf("disk use changed less than %v ago (%d bytes)", settle, size)
		}
		return nil
	})
}

// query runs a KQL query over the query API and returns its answer and the
// client's wall time until the last byte was read.
func (n *sealwatchNode) query(ctx context.Context, kql string) ([]byte, time.Duration, error) {
	tok, err := n.cl.Token(ctx, client.AudienceQuery)
	if err != nil {
		return nil, 0, err
	}
	body, _ := json.Marshal(map[string]string{"query": kql})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cl.URL("/v1/workspaces/"+n.customerID+"/query"), bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	answer, err := readOK(n.http, req)
	return answer, time.Since(start), err
}

// openConnection opens the query client's connection to the node, so that
// the first timed query does not pay the TLS handshake. It asks nothing of
// the cluster's key: a query sent before the key's first check after a
// start waits for it, and that wait is part of what a user sees.
func (n *sealwatchNode) openConnection(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.cl.URL("/metrics"), nil)
	if err != nil {
		return err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// cpuProfile records the node's CPU profile for seconds through
// /debug/pprof/profile.
func (n *sealwatchNode) cpuProfile(ctx context.Context, seconds int) ([]byte, error) {
	tok, err := n.cl.Token(ctx, client.AudienceManagement)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.cl.URL(fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds)), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return readOK(n.http, req)
}
