package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tenant is a workspace of the tenants benchmark: its customer ID and the
// immutable ID of the rule that writes its Events_CL.
type tenant struct{ customerID, rule string }

// addTenant creates workspace name on the cluster of cs as a customer
// would: created, linked, onboarded under the key, a data collection rule,
// and a first ingest of 200 rows.
func (cs *cmkSetup) addTenant(tb testing.TB, name string, rows []map[string]any, ingestTok string) tenant {
	tb.Helper()
	var ws map[string]any
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/"+name), cs.mgmt, map[string]any{"location": "local"}, &ws); st != 201 {
		tb.Fatalf("create workspace %s: %d %v", name, st, ws)
	}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/"+name+"/linkedServices/cluster"), cs.mgmt,
		map[string]any{"properties": map[string]any{"writeAccessResourceId": cs.cluster["id"]}}, nil); st != 200 {
		tb.Fatalf("link %s: %d", name, st)
	}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/"+name+"/providers/Microsoft.SecurityInsights/onboardingStates/default"), cs.mgmt,
		map[string]any{"properties": map[string]any{"customerManagedKey": true}}, nil); st != 200 {
		tb.Fatalf("onboard %s: %d", name, st)
	}
	rule := cs.streamDCR(tb, name+"-dcr", "Custom-Events", ws["id"].(string),
		[]map[string]string{{"name": "TimeGenerated", "type": "datetime"}, {"name": "Message", "type": "string"}})
	tn := tenant{customerID: ws["properties"].(map[string]any)["customerId"].(string), rule: rule}
	if st, code := cs.postRows(tn.rule, ingestTok, rows); st != 204 {
		tb.Fatalf("first ingest into %s: %d %s", name, st, code)
	}
	return tn
}

// postRows sends rows to the Custom-Events stream of rule.
func (cs *cmkSetup) postRows(rule, tok string, rows any) (int, string) {
	var er struct {
		Error struct{ Code, Message string }
	}
	st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+rule+"/streams/Custom-Events?api-version=2023-01-01", tok, rows, &er)
	return st, er.Error.Code
}

// processUse is what the process holds: resident memory, Go heap in use,
// open files and goroutines.
type processUse struct {
	rssMiB, heapMiB  float64
	files, goroutine int
}

func measureProcess(tb testing.TB) processUse {
	tb.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u := processUse{heapMiB: float64(ms.HeapInuse) / (1 << 20), goroutine: runtime.NumGoroutine()}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.files = len(fds)
	}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
				u.rssMiB = float64(kb) / 1024
			}
		}
	}
	return u
}

// BenchmarkTenants runs one mixed load (2 clients ingesting 50 rows a call,
// 2 querying `Events_CL | count`, each call to a workspace drawn at
// random) on one CMK cluster with 10, 100 and 1,000 workspaces, the same
// node growing from one size to the next, and reports the rates as ratios
// to those of 10 workspaces, with what the process holds after the load
// and after its stores are closed as idle. SEALWATCH_BENCH_TENANT_LOAD sets
// the load's duration (default 5s); set-up takes about a minute more per
// 1,000 workspaces.
func BenchmarkTenants(b *testing.B) {
	load := 5 * time.Second
	if v := os.Getenv("SEALWATCH_BENCH_TENANT_LOAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		load = d
	}
	cs := setUpCMKWith(b, Config{DataDir: b.TempDir(), LogMemoryBudget: DefaultLogMemoryBudget,
		LogStoreIdleClose: DefaultLogStoreIdleClose, Logger: benchLogger()})
	ingestTok := cs.adminToken("https://monitor.azure.com//.default")
	queryTok := cs.adminToken("https://api.loganalytics.io/.default")
	now := time.Now().UTC()
	rows := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "Message": fmt.Sprintf("event %d from host-%03d", i, i%100)}
		}
		return out
	}
	first, batch := rows(200), rows(50)
	batchBody, _ := json.Marshal(batch)
	queryBody, _ := json.Marshal(map[string]string{"query": "Events_CL | count"})

	var tenants []tenant
	var baseIngest, baseQuery float64
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("workspaces=%d", n), func(b *testing.B) {
			start, added := time.Now(), n-len(tenants)
			for i := len(tenants); i < n; i++ {
				tenants = append(tenants, cs.addTenant(b, fmt.Sprintf("tenant-%04d", i), first, ingestTok))
			}
			setup := time.Since(start)
			for range b.N {
				ingests, queries := runTenantLoad(b, cs, tenants, load, ingestTok, queryTok, batchBody, queryBody)
				ingestRate, queryRate := float64(ingests)/load.Seconds(), float64(queries)/load.Seconds()
				if n == 10 {
					baseIngest, baseQuery = ingestRate, queryRate
				}
				b.ReportMetric(ingestRate, "ingests/s")
				b.ReportMetric(queryRate, "queries/s")
				if baseIngest > 0 && baseQuery > 0 {
					b.ReportMetric(ingestRate/baseIngest, "ingest-vs-10")
					b.ReportMetric(queryRate/baseQuery, "query-vs-10")
				}
			}
			if added > 0 {
				b.ReportMetric(float64(setup.Milliseconds())/float64(added), "setup-ms/ws")
			}
			busy := measureProcess(b)
			unflushed, budget := cs.node.data.Unflushed()
			if unflushed > budget {
				b.Errorf("unflushed rows hold %d bytes, over the budget of %d", unflushed, budget)
			}
			closed := cs.node.data.CloseIdle(context.Background(), 0)
			idle := measureProcess(b)
			b.ReportMetric(busy.rssMiB, "rss-MiB")
			b.ReportMetric(busy.heapMiB, "heap-MiB")
			b.ReportMetric(float64(busy.files), "files")
			b.ReportMetric(float64(busy.goroutine), "goroutines")
			b.ReportMetric(float64(unflushed)/(1<<20), "unflushed-MiB")
			b.ReportMetric(float64(closed), "stores-closed")
			b.ReportMetric(float64(idle.files), "files-idle")
			b.ReportMetric(float64(idle.goroutine), "goroutines-idle")
			b.ReportMetric(idle.heapMiB, "heap-idle-MiB")
		})
	}
}

// runTenantLoad runs 2 ingesting and 2 querying clients for d, each call to
// a workspace drawn at random, and returns how many calls of each kind
// succeeded. A failed call fails the benchmark.
func runTenantLoad(b *testing.B, cs *cmkSetup, tenants []tenant, d time.Duration, ingestTok, queryTok string, batch, query []byte) (ingests, queries int64) {
	var ok [2]atomic.Int64
	var failed atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range 4 {
		kind := c % 2 // 0 ingests, 1 queries
		wg.Go(func() {
			for time.Now().Before(deadline) {
				tn := tenants[mrand.IntN(len(tenants))]
				var req *http.Request
				if kind == 0 {
					req, _ = http.NewRequest("POST", cs.creds.Endpoint+"/dataCollectionRules/"+tn.rule+"/streams/Custom-Events?api-version=2023-01-01", bytes.NewReader(batch))
					req.Header.Set("Authorization", "Bearer "+ingestTok)
				} else {
					req, _ = http.NewRequest("POST", cs.creds.Endpoint+"/v1/workspaces/"+tn.customerID+"/query", bytes.NewReader(query))
					req.Header.Set("Authorization", "Bearer "+queryTok)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := cs.client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode/100 != 2 {
					failed.Add(1)
					continue
				}
				ok[kind].Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d calls failed under load", n)
	}
	return ok[0].Load(), ok[1].Load()
}
