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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
)

// tenant is a workspace of the tenants benchmark: its customer ID and the
// immutable ID of its data collection rule.
type tenant struct{ customerID, rule string }

// addTenant creates workspace name on the cluster of cs as a customer
// would (created, linked, onboarded under the key) unless name is the
// workspace cs made; gives it a data collection rule and a first ingest of
// 200 rows into Events_CL.
func (cs *cmkSetup) addTenant(tb testing.TB, name string, rows []map[string]any, ingestTok string) tenant {
	tb.Helper()
	ws := cs.workspace
	if name != ws["name"] {
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
	}
	tn := tenant{customerID: ws["properties"].(map[string]any)["customerId"].(string), rule: cs.tenantDCR(tb, name+"-dcr", ws["id"].(string))}
	if st, code := cs.postRows(tn.rule, "Custom-Events", ingestTok, rows); st != 204 {
		tb.Fatalf("first ingest into %s: %d %s", name, st, code)
	}
	return tn
}

// tenantDCR creates a rule with two streams into the workspace with
// resource ID wsID: Custom-Events into Events_CL, which the benchmark's
// queries count, and Custom-Load into Load_CL, which its load fills, so
// that every query reads as many rows whatever the number of workspaces
// the load is spread over.
func (cs *cmkSetup) tenantDCR(tb testing.TB, name, wsID string) string {
	tb.Helper()
	cols := map[string]any{"columns": []map[string]string{{"name": "TimeGenerated", "type": "datetime"}, {"name": "Message", "type": "string"}}}
	var rule map[string]any
	body := map[string]any{"location": "local", "properties": map[string]any{
		"streamDeclarations": map[string]any{"Custom-Events": cols, "Custom-Load": cols},
		"destinations":       map[string]any{"logAnalytics": []map[string]any{{"workspaceResourceId": wsID, "name": "ws"}}},
		"dataFlows": []map[string]any{
			{"streams": []string{"Custom-Events"}, "destinations": []string{"ws"}, "transformKql": "source", "outputStream": "Custom-Events_CL"},
			{"streams": []string{"Custom-Load"}, "destinations": []string{"ws"}, "transformKql": "source", "outputStream": "Custom-Load_CL"},
		},
	}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.Insights/dataCollectionRules/"+name), cs.mgmt, body, &rule); st != 201 {
		tb.Fatalf("create DCR %s: %d %v", name, st, rule)
	}
	return rule["properties"].(map[string]any)["immutableId"].(string)
}

// postRows sends rows to stream of rule.
func (cs *cmkSetup) postRows(rule, stream, tok string, rows any) (int, string) {
	var er struct {
		Error struct{ Code, Message string }
	}
	st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+rule+"/streams/"+stream+"?api-version=2023-01-01", tok, rows, &er)
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

// BenchmarkTenants measures ingestion (4 clients sending 50 rows a call to
// Load_CL) and then queries (4 clients asking `Events_CL | count` of its
// 200 rows), each call to a workspace drawn at random, on one CMK cluster
// with 10, 100 and 1,000 workspaces, the same node growing from one size
// to the next. It reports the rates and their ratios to those of 10
// workspaces; the CPU time an ingest call takes (clients and node share
// the process) and 10 workspaces' over it (ingest-cpu-vs-10, in the
// rates' sense, and steadier than they are on a shared machine); and what
// the process holds after the load and after its stores are closed as
// idle. With 1,000, also the load spread over all of them against the
// same load on ten, alternated on the one node.
// SEALWATCH_BENCH_TENANT_LOAD sets each load's duration (default 5s, after
// a second of warm-up); set-up takes about a minute per 1,000 workspaces.
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

	tl := &tenantLoad{cs: cs, ingestTok: ingestTok, queryTok: queryTok, batch: batchBody, query: queryBody}
	var tenants []tenant
	var baseIngest, baseQuery, baseIngestCPU float64
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("workspaces=%d", n), func(b *testing.B) {
			start, added := time.Now(), n-len(tenants)
			for i := len(tenants); i < n; i++ {
				name := fmt.Sprintf("tenant-%04d", i)
				if i == 0 {
					name = cs.workspace["name"].(string) // the cluster's first
				}
				tenants = append(tenants, cs.addTenant(b, name, first, ingestTok))
			}
			setup := time.Since(start)
			for range b.N {
				ingestRate, ingestCPU := tl.rate(b, tenants, load, true)
				queryRate, _ := tl.rate(b, tenants, load, false)
				if n == 10 {
					baseIngest, baseQuery, baseIngestCPU = ingestRate, queryRate, ingestCPU
				}
				b.ReportMetric(ingestRate, "ingests/s")
				b.ReportMetric(queryRate, "queries/s")
				b.ReportMetric(ingestCPU, "ingest-cpu-µs/call")
				if baseIngest > 0 && baseQuery > 0 {
					b.ReportMetric(ingestRate/baseIngest, "ingest-vs-10")
					b.ReportMetric(queryRate/baseQuery, "query-vs-10")
					// The work a call takes, against 10 workspaces': steadier
					// than the rates on a machine shared with other work.
					b.ReportMetric(baseIngestCPU/ingestCPU, "ingest-cpu-vs-10")
				}
			}
			if added > 0 {
				b.ReportMetric(float64(setup.Milliseconds())/float64(added), "setup-ms/ws")
			}
			if n == 1000 {
				ingest, query := tl.spread(b, tenants, load)
				b.ReportMetric(ingest, "ingest-all-vs-10-same-node")
				b.ReportMetric(query, "query-all-vs-10-same-node")
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

// tenantLoad is the load of BenchmarkTenants: what its clients send.
type tenantLoad struct {
	cs                  *cmkSetup
	ingestTok, queryTok string
	batch, query        []byte
}

// rate runs 4 clients ingesting (or querying) for d, each call to a
// workspace drawn at random, and returns the calls a second and the
// process's CPU time a call, in µs (clients and node together). The rows
// already ingested are flushed first, so that every phase starts from the
// same state, and then each workspace gets one call, as on a node that has
// served them all for a while (its write-ahead logs started, its stores
// open). A failed call fails the benchmark.
func (tl *tenantLoad) rate(b *testing.B, tenants []tenant, d time.Duration, ingest bool) (perSecond, cpuPerCall float64) {
	if err := tl.cs.node.data.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	next := atomic.Int64{}
	tl.run(b, func() (tenant, bool) {
		i := next.Add(1) - 1
		return tenants[min(i, int64(len(tenants)-1))], i < int64(len(tenants))
	}, ingest)
	deadline := time.Now().Add(d)
	cpu := cputime.Process()
	calls := tl.run(b, func() (tenant, bool) { return tenants[mrand.IntN(len(tenants))], time.Now().Before(deadline) }, ingest)
	used := cputime.Process() - cpu
	return float64(calls) / d.Seconds(), float64(used.Microseconds()) / float64(max(calls, 1))
}

// spread measures, on one node, the load spread over every workspace
// against the same load on ten of them, in three rounds that alternate the
// two, and returns the median ratios: what spreading the load costs, with
// the machine's drift (it is shared) cancelled out.
func (tl *tenantLoad) spread(b *testing.B, tenants []tenant, d time.Duration) (ingest, query float64) {
	var ingests, queries []float64
	for range 3 {
		all, _ := tl.rate(b, tenants, d, true)
		ten, _ := tl.rate(b, tenants[:10], d, true)
		ingests = append(ingests, all/ten)
		all, _ = tl.rate(b, tenants, d, false)
		ten, _ = tl.rate(b, tenants[:10], d, false)
		queries = append(queries, all/ten)
	}
	slices.Sort(ingests)
	slices.Sort(queries)
	return ingests[1], queries[1]
}

// run sends calls from 4 clients to the workspaces next gives, until it
// says to stop, and returns how many succeeded.
func (tl *tenantLoad) run(b *testing.B, next func() (tenant, bool), ingest bool) int64 {
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				tn, more := next()
				if !more {
					return
				}
				var req *http.Request
				if ingest {
					req, _ = http.NewRequest("POST", tl.cs.creds.Endpoint+"/dataCollectionRules/"+tn.rule+"/streams/Custom-Load?api-version=2023-01-01", bytes.NewReader(tl.batch))
					req.Header.Set("Authorization", "Bearer "+tl.ingestTok)
				} else {
					req, _ = http.NewRequest("POST", tl.cs.creds.Endpoint+"/v1/workspaces/"+tn.customerID+"/query", bytes.NewReader(tl.query))
					req.Header.Set("Authorization", "Bearer "+tl.queryTok)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := tl.cs.client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode/100 != 2 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d calls failed under load", n)
	}
	return ok.Load()
}
