package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

// Shape of BenchmarkCluster's load: rounds of clusterBatches Data Collector
// requests of clusterBatchRows rows each, from clusterClients clients,
// whatever the number of nodes, so that runs with 1, 2 and 3 nodes do the
// same work.
const (
	clusterBatches   = 40
	clusterBatchRows = 500
	clusterClients   = 6
)

// benchCluster is a cluster of nodes on one PostgreSQL database and one
// bucket, with one platform-key workspace, the statements the nodes sent to
// PostgreSQL counted.
type benchCluster struct {
	nodes      []*running
	mgmt       string
	queryToken []string
	customerID string
	sharedKey  string
	statements *pgkvtest.Statements
	seq        atomic.Int64
}

func startBenchCluster(b testing.TB, n int) *benchCluster {
	b.Helper()
	dbURL, bucket := pgtest.New(b), s3test.New(b)
	rootFile := filepath.Join(b.TempDir(), "root.key")
	c := &benchCluster{statements: new(pgkvtest.Statements)}
	for i := range n {
		dbs := pgkvtest.OpenAllCounted(b, dbURL, c.statements, "identity", "vault", "control", "documents")
		storage := &Storage{Identity: dbs[0], Vault: dbs[1], Control: dbs[2], Documents: dbs[3]}
		objects, err := s3store.New(context.Background(), bucket.StoreConfig())
		if err != nil {
			b.Fatal(err)
		}
		storage.Objects = objects
		cfg := Config{DataDir: b.TempDir(), Root: nodeseal.File(rootFile), Storage: storage}
		var creds Credentials
		if i > 0 {
			creds = c.nodes[0].creds
		}
		c.nodes = append(c.nodes, startClusterNode(b, cfg, creds))
	}
	c.mgmt = c.nodes[0].adminToken(mgmtScope)
	c.customerID, c.sharedKey = collectorWorkspace(b, c.nodes[0], "benchws")
	for _, rn := range c.nodes {
		c.queryToken = append(c.queryToken, rn.adminToken("https://api.loganalytics.io/.default"))
	}
	return c
}

// clusterRows is clusterBatchRows SecurityEvent-like rows of about 700
// bytes, as a JSON array without its closing bracket.
func clusterRows() []byte {
	r := mrand.New(mrand.NewPCG(1, 2))
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range clusterBatchRows {
		if i > 0 {
			buf.WriteByte(',')
		}
		row, _ := json.Marshal(map[string]any{
			"Computer":  fmt.Sprintf("host-%03d.corp.example", r.IntN(500)),
			"EventID":   []int{4624, 4625, 4688, 4672}[r.IntN(4)],
			"Account":   fmt.Sprintf(`CORP\user%04d`, r.IntN(5000)),
			"IpAddress": fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)),
			"Activity":  fmt.Sprintf("An account was successfully logged on. Logon type 3, process %016x", r.Uint64()),
			"EventData": fmt.Sprintf(`<EventData><Data Name="SubjectUserSid">S-1-5-18</Data><Data Name="LogonGuid">{%016x}</Data><Data Name="ProcessName">C:\Windows\System32\lsass.exe</Data></EventData>`, r.Uint64()),
		})
		buf.Write(row)
	}
	return buf.Bytes()
}

// ingestRound sends clusterBatches batches of table, batch i to node
// i mod n, from clusterClients clients, then flushes every node, so that
// the round's rows are sealed into the bucket when it returns. It returns
// the JSON bytes sent.
func (c *benchCluster) ingestRound(b testing.TB, table string, rows []byte) int64 {
	var next, sent atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range clusterClients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= clusterBatches {
					return
				}
				n, err := c.send(int(i)%len(c.nodes), table, rows)
				if err != nil {
					failed.Store(fmt.Sprintf("batch %d: %v", i, err))
					return
				}
				sent.Add(int64(n))
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	for i, rn := range c.nodes {
		if st := rn.call("POST", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/benchws/flush"), c.mgmt, nil, nil); st != 200 && st != 204 {
			b.Fatalf("flush node %d: %d", i+1, st)
		}
	}
	return sent.Load()
}

// send sends rows, closed by a row of its own, to table through node i
// and returns the bytes sent, or why the node did not take them.
func (c *benchCluster) send(i int, table string, rows []byte) (int, error) {
	// Each body's length differs: a Data Collector signature covers the
	// length, and two alike in one second are a replay.
	pad := strings.Repeat("x", int(c.seq.Add(1)))
	body := append([]byte(`[{"Pad":"`+pad+`"},`), rows[1:]...)
	body = append(body, ']')
	st, e, err := c.nodes[i].collectorTry(c.customerID, c.sharedKey, table, nowDate(), body)
	if err == nil && st != 200 {
		err = fmt.Errorf("%d %s", st, e)
	}
	return len(body), err
}

// query runs q through node i and returns why, if it does not answer.
func (c *benchCluster) query(i int, q string) error {
	rn := c.nodes[i]
	body, _ := json.Marshal(map[string]string{"query": q})
	req, _ := http.NewRequest("POST", rn.creds.Endpoint+"/v1/workspaces/"+c.customerID+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.queryToken[i])
	resp, err := rn.client.Do(req)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s through node %d: %d %s", q, i+1, resp.StatusCode, out.Bytes())
	}
	return nil
}

// BenchmarkCluster runs 1, 2 and 3 nodes on one PostgreSQL database and
// one bucket, each set in the same run: ingest is rounds of 40 Data
// Collector batches of 500 rows (about 350 KB), spread round-robin over the
// nodes by 6 clients and sealed into the bucket by a flush of every node;
// queries are a count and a filtered count over 20,000 sealed rows, spread
// round-robin over the nodes by 6 clients, every node's cache warmed first.
// Besides throughput it reports the CPU time of the test process (nodes and
// clients; PostgreSQL and the object store are processes of their own) and
// the statements the nodes sent to PostgreSQL, per batch and per query.
func BenchmarkCluster(b *testing.B) {
	rows := clusterRows()
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c := startBenchCluster(b, n)
			b.Run("op=ingest", func(b *testing.B) {
				var sent int64
				cpu, stmts := cputime.Process(), c.statements.Read()
				for b.Loop() {
					sent += c.ingestRound(b, "Bench", rows)
				}
				c.reportPerOp(b, cpu, stmts, float64(b.N*clusterBatches), "batch")
				b.ReportMetric(float64(b.N*clusterBatches*(clusterBatchRows+1))/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(sent)/1e6/b.Elapsed().Seconds(), "MB/s")
			})
			c.ingestRound(b, "Fixed", rows)
			for _, q := range []struct{ name, query string }{
				{"count", `Fixed_CL | count`},
				{"where-count", `Fixed_CL | where EventID_d == 4625 and Computer_s startswith "host-1" | count`},
			} {
				for i := range c.nodes { // every node's cache warm, its plan of the table read
					if err := c.query(i, q.query); err != nil {
						b.Fatal(err)
					}
				}
				b.Run("op=query-"+q.name, func(b *testing.B) {
					var next atomic.Int64
					var failed atomic.Value
					cpu, stmts := cputime.Process(), c.statements.Read()
					b.SetParallelism(clusterClients / 2) // × GOMAXPROCS(2)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := c.query(int(next.Add(1))%len(c.nodes), q.query); err != nil {
								failed.Store(err)
							}
						}
					})
					if err := failed.Load(); err != nil {
						b.Fatal(err)
					}
					c.reportPerOp(b, cpu, stmts, float64(b.N), "query")
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
				})
			}
		})
	}
}

// reportPerOp reports the CPU time and PostgreSQL statements since cpu and
// stmts per unit (a batch, a query), of which there were units.
func (c *benchCluster) reportPerOp(b *testing.B, cpu time.Duration, stmts pgkvtest.StatementCounts, units float64, unit string) {
	now := c.statements.Read()
	b.ReportMetric(float64(cputime.Process()-cpu)/1e6/units, "cpu-ms/"+unit)
	b.ReportMetric(float64(now.Trips-stmts.Trips)/units, "pg-trips/"+unit)
	b.ReportMetric(float64(now.All-stmts.All)/units, "pg-stmts/"+unit)
	b.ReportMetric(float64(now.Updates-stmts.Updates)/units, "pg-updates/"+unit)
	b.ReportMetric(float64(now.Views-stmts.Views)/units, "pg-views/"+unit)
}

func nowDate() string { return time.Now().UTC().Format(http.TimeFormat) }
