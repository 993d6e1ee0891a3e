//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// victoriaLogs is a VictoriaLogs server with its own data directory.
type victoriaLogs struct {
	bin, dir, addr string
	srv            *server
	http           *http.Client
}

func startVictoriaLogs(ctx context.Context, bin, dir string) (*victoriaLogs, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	v := &victoriaLogs{bin: bin, dir: dir, addr: addr, http: &http.Client{Timeout: 10 * time.Minute}}
	if err := v.start(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *victoriaLogs) start(ctx context.Context) error {
	if err := os.MkdirAll(v.dir, 0o700); err != nil {
		return err
	}
	var err error
	v.srv, err = startServer("VictoriaLogs", filepath.Join(v.dir, "server.log"), v.bin,
		"-storageDataPath="+filepath.Join(v.dir, "data"), "-httpListenAddr="+v.addr,
		"-retentionPeriod=100y", "-loggerLevel=WARN")
	if err != nil {
		return err
	}
	return v.srv.waitFor(ctx, time.Minute, "answering /health", func(ctx context.Context) error {
		_, err := v.get(ctx, "/health")
		return err
	})
}

func (v *victoriaLogs) restart(ctx context.Context) error {
	if err := v.srv.stop(); err != nil {
		return err
	}
	return v.start(ctx)
}

func (v *victoriaLogs) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+v.addr+path, nil)
	if err != nil {
		return nil, err
	}
	return v.do(req)
}

func (v *victoriaLogs) do(req *http.Request) ([]byte, error) { return readOK(v.http, req) }

// readOK sends req and returns the body of a 200 answer.
func readOK(c *http.Client, req *http.Request) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{req.Method + " " + req.URL.Path, resp.StatusCode, body}
	}
	return body, nil
}

// statusError is an answer other than 200.
type statusError struct {
	request string
	status  int
	body    []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: %d %.300s", e.request, e.status, e.body)
}

// short is the status and the error code of a Sealwatch refusal, or the
// head of another server's answer.
func (e *statusError) short() string {
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(e.body, &body) == nil && body.Error.Code != "" {
		return fmt.Sprintf("%d %s", e.status, body.Error.Code)
	}
	return fmt.Sprintf("%d %.60s", e.status, bytes.TrimSpace(e.body))
}

// vlBatchBytes is the size of one insert request, in whole lines: about the
// 1 MB batches `sealwatch ingest` sends.
const vlBatchBytes = 1 << 20

// ingest sends each part on its own stream (connection), in batches of
// whole lines, and returns when every batch was accepted.
func (v *victoriaLogs) ingest(ctx context.Context, parts []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, part := range parts {
		wg.Go(func() { errs[i] = v.ingestPart(ctx, part) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *victoriaLogs) ingestPart(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	target := "http://" + v.addr + "/insert/jsonline?_time_field=TimeGenerated&_msg_field=message"
	r := bufio.NewReaderSize(f, 1<<20)
	batch := make([]byte, 0, vlBatchBytes+64<<10)
	for {
		line, err := r.ReadSlice('\n')
		batch = append(batch, line...)
		if len(batch) >= vlBatchBytes || (err == io.EOF && len(batch) > 0) {
			req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(batch))
			if rerr != nil {
				return rerr
			}
			req.Header.Set("Content-Type", "application/stream+json")
			if _, rerr := readOK(client, req); rerr != nil {
				return fmt.Errorf("VictoriaLogs insert: %w", rerr)
			}
			batch = batch[:0]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// flushAndMerge makes VictoriaLogs write what it holds in memory and merge
// its parts, then waits until no merge runs and the disk use holds still.
func (v *victoriaLogs) flushAndMerge(ctx context.Context) error {
	if _, err := v.get(ctx, "/internal/force_flush"); err != nil {
		return err
	}
	if _, err := v.get(ctx, "/internal/force_merge"); err != nil {
		return err
	}
	last, changed := int64(-1), time.Now()
	return v.srv.waitFor(ctx, 10*time.Minute, "done merging", func(ctx context.Context) error {
		metrics, err := v.get(ctx, "/metrics")
		if err != nil {
			return err
		}
		if n := sumMetric(metrics, "vl_active_merges") + sumMetric(metrics, "vl_active_force_merges"); n != 0 {
			return fmt.Errorf("%v merges running", n)
		}
		size, err := diskUsage(filepath.Join(v.dir, "data"))
		if err != nil {
			return err
		}
		if size != last {
			last, changed = size, time.Now()
		}
		if time.Since(changed) < diskSettle {
			return fmt.Errorf("disk use changed less than %v ago (%d bytes)", diskSettle, size)
		}
		return nil
	})
}

// diskSettle is how long a store's disk use must hold still to count as
// done flushing and merging.
const diskSettle = 2 * time.Second

// parts is how many parts VictoriaLogs' storage has.
func (v *victoriaLogs) parts(ctx context.Context) (int, error) {
	metrics, err := v.get(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	return int(sumMetric(metrics, "vl_storage_parts")), nil
}

// sumMetric adds up the samples of a Prometheus metric in text format.
func sumMetric(text []byte, name string) float64 {
	var sum float64
	for line := range strings.SplitSeq(string(text), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if f, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sum += f
			}
		}
	}
	return sum
}

// query runs a LogsQL query and returns its answer (JSON lines) and the
// client's wall time until the last byte was read.
func (v *victoriaLogs) query(ctx context.Context, q string) ([]byte, time.Duration, error) {
	form := url.Values{"query": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+v.addr+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	body, err := v.do(req)
	return body, time.Since(start), err
}
