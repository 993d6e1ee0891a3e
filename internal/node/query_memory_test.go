package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/heaptest"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// ingestEvents ingests n rows into the workspace's Events_CL, in calls under the
// ingestion API's 1 MB, and flushes them into sealed segments.
func (cs *cmkSetup) ingestEvents(n int) {
	cs.t.Helper()
	immutableID, tok := cs.dcr()
	now := time.Now().UTC().Truncate(time.Second)
	for start := 0; start < n; start += 5000 {
		var rows []map[string]any
		for i := start; i < min(start+5000, n); i++ {
			rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "Message": fmt.Sprintf("event %d", i)})
		}
		if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
			cs.t.Fatalf("ingest: %d %s", st, code)
		}
	}
	if err := cs.node.data.Flush(context.Background()); err != nil {
		cs.t.Fatal(err)
	}
}

// queryError is a refused query's answer.
type queryError struct {
	status     int
	retryAfter string
	Error      struct {
		Code, Message string
		InnerError    struct {
			Code         string
			Line, Column int
		}
	}
}

// queryRequest is a query API request for query, as the admin.
func (cs *cmkSetup) queryRequest(ctx context.Context, query string) *http.Request {
	cs.t.Helper()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequestWithContext(ctx, "POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", bytes.NewReader(body))
	if err != nil {
		cs.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cs.adminToken("https://api.loganalytics.io/.default"))
	return req
}

// postQuery sends a query to the query API as the admin and decodes a refusal.
func (cs *cmkSetup) postQuery(query string) queryError {
	cs.t.Helper()
	resp, err := cs.client.Do(cs.queryRequest(context.Background(), query))
	if err != nil {
		cs.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := queryError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode != http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			cs.t.Fatalf("%d: %v", resp.StatusCode, err)
		}
	}
	return out
}

// TestSelfJoinOverHTTPIsRefusedWithinSecondsUnderTheLimit is the issue's
// query against a real node: 20,000 sealed rows joined with themselves on a
// constant key and counted. The answer is 400 QueryLimitExceeded naming the
// join and the limit, within seconds; the process's heap grows by less than
// the limit on the way, and the query's memory is back in the node's pool.
func TestSelfJoinOverHTTPIsRefusedWithinSecondsUnderTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a join up to 256 MiB")
	}
	const limit = 256 << 20
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), QueryMemory: limit})
	cs.ingestEvents(20000)
	base := heaptest.Objects()
	peak := heaptest.Watch(t, time.Millisecond)
	start := time.Now()
	res := cs.postQuery(`Events_CL | take 20000 | extend k=1 | join kind=inner (Events_CL | take 20000 | extend k=1) on k | count`)
	took := time.Since(start)
	if res.status != 400 || res.Error.Code != "BadArgumentError" || res.Error.InnerError.Code != "QueryLimitExceeded" ||
		!strings.Contains(res.Error.Message, "operator join") || !strings.Contains(res.Error.Message, "256 MiB") {
		t.Fatalf("answer %d %+v, want 400 QueryLimitExceeded naming the join and 256 MiB", res.status, res.Error)
	}
	if took > 10*time.Second {
		t.Fatalf("refused after %s, want within seconds", took)
	}
	grew := peak() - base
	if grew > limit {
		t.Fatalf("the heap grew by %d MiB during the query, over the %d MiB limit", grew>>20, limit>>20)
	}
	if used := cs.node.queryMem.Used(); used != 0 {
		t.Fatalf("%d bytes of query memory still reserved after the refusal", used)
	}
	t.Logf("refused after %s; the heap grew by %d MiB at most", took.Round(time.Millisecond), grew>>20)
}

// waitUntil polls cond every millisecond until it holds, or fails the test
// after d.
func waitUntil(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestClientGoneStopsTheQueryAndFreesItsMemory starts the self-join
// with a limit it takes a while to reach, and hangs up once the join holds
// memory: the node stops the query and gives the memory back, long before the
// join would have reached its limit.
func TestClientGoneStopsTheQueryAndFreesItsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds part of a large join")
	}
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir()}) // the default 1 GiB
	cs.ingestEvents(20000)
	pool := cs.node.queryMem
	ctx, hangUp := context.WithCancel(context.Background())
	req := cs.queryRequest(ctx, `Events_CL | take 20000 | extend k=1 | join kind=inner (Events_CL | take 20000 | extend k=1) on k | count`)
	done := make(chan error, 1)
	go func() {
		resp, err := cs.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitUntil(t, "the join to hold 64 MiB", 30*time.Second, func() bool { return pool.Used() >= 64<<20 })
	hangUp()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the request ended with %v, want the client's cancellation", err)
	}
	start := time.Now()
	waitUntil(t, "the query's memory to come back", 5*time.Second, func() bool { return pool.Used() == 0 })
	t.Logf("memory back %s after the client hung up", time.Since(start).Round(time.Millisecond))
}

// gatedSource's table Held yields a 1 MiB batch each time its gate lets one
// past, and otherwise waits for its context.
type gatedSource struct{ gate chan struct{} }

func (gatedSource) catalog() kql.Catalog {
	return kql.Catalog{Tables: []kql.TableSchema{{Name: "Held", Columns: []kql.Column{{Name: "Msg", Type: kql.TypeString}}}}}
}

func (s gatedSource) Tables(context.Context) ([]kql.TableSchema, error) {
	return s.catalog().Tables, nil
}

func (s gatedSource) Scan(context.Context, kql.ScanRequest) (kql.BatchIterator, error) {
	return gatedIter(s), nil
}

type gatedIter struct{ gate chan struct{} }

func (it gatedIter) Next(ctx context.Context) (*kql.Batch, error) {
	select {
	case <-it.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	col := make([]any, 1024)
	for i := range col {
		col[i] = fmt.Sprintf("%08d%s", i, strings.Repeat("m", 1016))
	}
	return &kql.Batch{Len: len(col), Columns: [][]any{col}}, nil
}

func (gatedIter) Close() error { return nil }

// TestQueryMemoryInUseIsA429WithRetryAfter fills the node's query memory
// with a query that holds it, then asks the query API for more: the answer,
// after the node's brief wait, is 429 with Retry-After. Once the memory is
// back, the same query answers.
func TestQueryMemoryInUseIsA429WithRetryAfter(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), QueryMemory: 8 << 20, QueryMemoryTotal: 8 << 20, QueryMemoryWait: 200 * time.Millisecond})
	cs.ingestEvents(10)
	pool := cs.node.queryMem

	held := gatedSource{gate: make(chan struct{})}
	q, err := kql.Compile(`Held | sort by Msg`, held.catalog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := q.Run(ctx, held, kql.Options{MaxMemory: 8 << 20, Memory: pool})
		done <- err
	}()
	for range 6 {
		held.gate <- struct{}{}
	}
	waitUntil(t, "the holding query to reserve the whole pool", 10*time.Second, func() bool { return pool.Used() == pool.Limit() })

	res := cs.postQuery(`Events_CL | project Message`)
	if res.status != 429 || res.retryAfter == "" || res.Error.Code != "ThrottledError" || res.Error.InnerError.Code != "QueryMemoryExhausted" ||
		!strings.Contains(res.Error.Message, "8 MiB") || !strings.Contains(res.Error.Message, "retry") {
		t.Fatalf("answer %d (Retry-After %q) %+v, want 429 ThrottledError with Retry-After", res.status, res.retryAfter, res.Error)
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("holding query: %v", err)
	}
	if res := cs.postQuery(`Events_CL | project Message`); res.status != 200 {
		t.Fatalf("with the memory back: %d %+v", res.status, res.Error)
	}
	// the answer's rows are given back once written, just after the client has them
	waitUntil(t, "the answer's memory to come back", 10*time.Second, func() bool { return pool.Used() == 0 })
}
