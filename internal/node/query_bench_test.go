package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkQueryHTTPS asks the query API the aggregate questions,
// as a client does, over SEALWATCH_BENCH_ROWS rows (default 1,000,000) of
// about 350 bytes, spread over 8 hours, in about 180 sealed segments of a
// workspace under a customer-managed key. query=print answers from no table:
// what every query costs before it scans.
func BenchmarkQueryHTTPS(b *testing.B) {
	rows := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROWS")); err == nil && n > 0 {
		rows = n
	}
	// 16 MiB WALs, each cut by hour: about 180 segments for a million rows.
	cs := setUpCMKWith(b, Config{DataDir: b.TempDir(), LogFlushBytes: int64(rows) * 350 / 21})
	ctx := context.Background()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	info, err := cs.node.workspaces.WorkspaceByCustomerID(ctx, customerID)
	if err != nil {
		b.Fatal(err)
	}
	st, err := cs.node.data.Logs(ctx, info)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	for done := 0; done < rows; {
		var batch []map[string]any
		for ; len(batch) < 2000 && done < rows; done++ {
			batch = append(batch, map[string]any{
				"TimeGenerated":  now.Add(-time.Duration(r.Int64N(int64(8 * time.Hour)))).Format(time.RFC3339Nano),
				"Computer":       fmt.Sprintf("host-%03d.corp.example", r.IntN(500)),
				"TargetUserName": fmt.Sprintf("user%05d", r.IntN(20000)),
				"EventID":        []int{4624, 4625, 4688, 4672}[r.IntN(4)],
				"Activity":       "An account failed to log on. Failed password for user from 10.1.2.3 port 22 ssh2 " + strconv.Itoa(r.IntN(1e6)),
			})
		}
		body, _ := json.Marshal(batch)
		if _, err := st.Ingest(ctx, customerID, "SecurityEvent", body); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d rows in %d segments", rows, segments(b, cs.dir))
	tok := cs.adminToken("https://api.loganalytics.io/.default")
	url := cs.creds.Endpoint + "/v1/workspaces/" + customerID + "/query"
	query := func(b *testing.B, q string) {
		body, _ := json.Marshal(map[string]string{"query": q})
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := cs.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d %s", q, resp.StatusCode, out.Bytes())
		}
	}
	for _, c := range []struct{ name, query string }{
		{"print", `print 1`},
		{"count", `SecurityEvent | count`},
		{"count-last-hour", `SecurityEvent | where TimeGenerated > ago(1h) | count`},
		{"min-max-time", `SecurityEvent | summarize min(TimeGenerated), max(TimeGenerated)`},
		{"count-by-host", `SecurityEvent | summarize count() by Computer`},
		{"where-user-count", `SecurityEvent | where TargetUserName == "user00042" | count`},
	} {
		query(b, c.query) // warm
		b.Run("query="+c.name, func(b *testing.B) {
			for b.Loop() {
				query(b, c.query)
			}
		})
	}
}
