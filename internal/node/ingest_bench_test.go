package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// makeDCR sends stream Custom-Events, declared with eventBatch's columns,
// to table Events_CL of the workspace with resource ID wsID, which it
// declares; it returns the rule's immutable ID.
func (cs *cmkSetup) makeDCR(tb testing.TB, name, wsID string) string {
	tb.Helper()
	return cs.streamDCR(tb, name, "Custom-Events", wsID, []map[string]string{
		{"name": "TimeGenerated", "type": "datetime"}, {"name": "Computer", "type": "string"}, {"name": "EventID", "type": "int"},
		{"name": "Account", "type": "string"}, {"name": "IpAddress", "type": "string"}, {"name": "Activity", "type": "string"},
		{"name": "EventData", "type": "string"}})
}

// eventBatch is about 1 MB of ~700-byte SecurityEvent-like rows, gzipped.
func eventBatch(tb testing.TB) (gz []byte, rows int, raw int) {
	tb.Helper()
	now := time.Now().UTC()
	var events []map[string]any
	size := 0
	for size < 1000_000-1000 {
		id := make([]byte, 8)
		rand.Read(id)
		e := map[string]any{
			"TimeGenerated": now.Add(-time.Duration(mrand.IntN(3600)) * time.Second).Format(time.RFC3339Nano),
			"Computer":      fmt.Sprintf("host-%03d.corp.example", mrand.IntN(500)),
			"EventID":       []int{4624, 4625, 4688, 4672}[mrand.IntN(4)],
			"Account":       fmt.Sprintf(`CORP\user%04d`, mrand.IntN(5000)),
			"IpAddress":     fmt.Sprintf("10.%d.%d.%d", mrand.IntN(256), mrand.IntN(256), mrand.IntN(256)),
			"Activity":      "An account was successfully logged on. Logon type 3, process " + hex.EncodeToString(id),
			"EventData":     `<EventData><Data Name="SubjectUserSid">S-1-5-18</Data><Data Name="LogonGuid">{` + hex.EncodeToString(id) + `}</Data><Data Name="ProcessName">C:\Windows\System32\lsass.exe</Data></EventData>`,
		}
		b, _ := json.Marshal(e)
		if size+len(b)+1 > 1000_000 {
			break
		}
		size += len(b) + 1
		events = append(events, e)
	}
	body, _ := json.Marshal(events)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(body)
	zw.Close()
	return buf.Bytes(), len(events), len(body)
}

// BenchmarkIngestHTTPS sends 1 MB gzipped batches from 4 concurrent clients
// over HTTPS, to a workspace under a customer-managed key and to one under
// the platform key, in the same run.
func BenchmarkIngestHTTPS(b *testing.B) {
	cs := setUpCMK(b)
	var plain map[string]any
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/plainws"), cs.mgmt, map[string]any{"location": "local"}, &plain); st != 201 {
		b.Fatalf("create workspace: %d", st)
	}
	targets := map[string]string{
		"cmk":      cs.makeDCR(b, "cmk-dcr", cs.workspace["id"].(string)),
		"platform": cs.makeDCR(b, "plain-dcr", plain["id"].(string)),
	}
	tok := cs.adminToken("https://monitor.azure.com//.default")
	gz, rows, raw := eventBatch(b)
	for _, key := range []string{"platform", "cmk"} {
		b.Run("key="+key, func(b *testing.B) {
			url := cs.creds.Endpoint + "/dataCollectionRules/" + targets[key] + "/streams/Custom-Events?api-version=2023-01-01"
			var failed atomic.Int64
			b.SetBytes(int64(raw))
			b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", url, bytes.NewReader(gz))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Content-Encoding", "gzip")
					resp, err := cs.client.Do(req)
					if err != nil || resp.StatusCode != 204 {
						failed.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			})
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			if failed.Load() > 0 {
				b.Fatalf("%d requests failed", failed.Load())
			}
		})
	}
}

// BenchmarkRevocationPropagation measures the time from disabling the key to
// the first refused ingest, with the key check interval set by
// SEALWATCH_BENCH_KEY_CHECK (default 1s; the product default is 30s).
func BenchmarkRevocationPropagation(b *testing.B) {
	interval := time.Second
	if v := os.Getenv("SEALWATCH_BENCH_KEY_CHECK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		interval = d
	}
	cs := setUpCMKWith(b, Config{DataDir: b.TempDir(), KeyCheckInterval: interval, UnreachableGrace: 5 * time.Minute, Logger: benchLogger()})
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "x"}}
	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	kid := key["key"].(map[string]any)["kid"].(string)
	versionURL := keyURL + "/" + kid[strings.LastIndexByte(kid, '/')+1:] + "?api-version=7.6"
	setEnabled := func(on bool) {
		cs.call("PATCH", versionURL, cs.vtok, map[string]any{"attributes": map[string]any{"enabled": on}}, nil)
	}
	var total time.Duration
	for range b.N {
		start := time.Now()
		setEnabled(false)
		for {
			if st, _ := cs.ingest(immutableID, tok, rows); st == 403 {
				break
			}
			if time.Since(start) > 2*interval+30*time.Second {
				b.Fatal("revocation never took effect")
			}
			time.Sleep(20 * time.Millisecond) // polling a remote state; nothing local to wait on
		}
		total += time.Since(start)
		b.StopTimer()
		setEnabled(true)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cs.node.keys.ProbeNow(ctx, cs.clusterID)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-refusal")
}

func benchLogger() *slog.Logger {
	if os.Getenv("SEALWATCH_BENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
