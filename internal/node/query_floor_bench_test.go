package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
)

// BenchmarkQueryFloorHTTPS is what a query answered without reading rows
// costs over HTTPS, client and server in this process: a workspace under a
// customer-managed key with a declared custom table holding 2,000 rows over
// a day, flushed into a segment per hour as in the side-by-side run, asked `print 1` (query=print) and `SecEvents_CL | count`
// (query=count, answered from the segments' metadata) on one kept
// connection, as the side-by-side run asks (via=https), and through the
// node's handler alone (via=handler). cpu-ns/op is the process's CPU
// time per request, client included: on a shared machine it moves far less
// than wall time.
func BenchmarkQueryFloorHTTPS(b *testing.B) {
	cs := setUpCMK(b)
	table := map[string]any{"properties": map[string]any{"schema": map[string]any{"columns": []map[string]string{
		{"name": "TimeGenerated", "type": "datetime"}, {"name": "host", "type": "string"}, {"name": "user", "type": "string"},
		{"name": "event_id", "type": "long"}, {"name": "message", "type": "string"},
	}}}}
	if st := cs.call("PUT", cs.tableURL("SecEvents_CL"), cs.mgmt, table, nil); st != 200 {
		b.Fatalf("declare SecEvents_CL: %d", st)
	}
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
	var body bytes.Buffer
	body.WriteByte('[')
	at := time.Now().UTC().Add(-24 * time.Hour)
	for i := range 2000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"TimeGenerated":%q,"host":"host%d","user":"user%04d","event_id":%d,"message":"Failed password for user%04d"}`,
			at.Add(time.Duration(i)*24*time.Hour/2000).Format(time.RFC3339Nano), i%8, i%500, 4624+i%3, i%500)
	}
	body.WriteByte(']')
	if _, err := st.Ingest(ctx, customerID, "SecEvents_CL", body.Bytes()); err != nil {
		b.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("2000 rows in %d segments", segments(b, cs.dir))
	tok := cs.adminToken("https://api.loganalytics.io/.default")
	url := cs.creds.Endpoint + "/v1/workspaces/" + customerID + "/query"
	for _, c := range []struct{ name, query, want string }{
		{"print", `print 1`, `[[1]]`},
		{"count", `SecEvents_CL | count`, `[[2000]]`},
	} {
		reqBody, _ := json.Marshal(map[string]string{"query": c.query})
		var out bytes.Buffer
		query := func(b *testing.B) {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(reqBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := cs.client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			out.Reset()
			_, err = io.Copy(&out, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%s: %d %v %s", c.query, resp.StatusCode, err, out.Bytes())
			}
		}
		query(b) // warm: the catalog kept, the connection open
		var answer struct {
			Tables []struct{ Rows json.RawMessage }
		}
		if err := json.Unmarshal(out.Bytes(), &answer); err != nil || len(answer.Tables) != 1 || string(answer.Tables[0].Rows) != c.want {
			b.Fatalf("%s answered %s, want rows %s", c.query, out.Bytes(), c.want)
		}
		b.Run("query="+c.name+"/via=https", func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				query(b)
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
		// The node's handler alone, as the HTTPS server calls it: the
		// server's own work without TLS, HTTP/2 and the client.
		b.Run("query="+c.name+"/via=handler", func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				req := httptest.NewRequest("POST", url, bytes.NewReader(reqBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				cs.node.server.Handler.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", c.query, w.Code, w.Body.Bytes())
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
