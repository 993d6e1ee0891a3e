package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// collectorWorkspace makes a workspace through rn and returns its customer ID and primary
// shared key.
func collectorWorkspace(t testing.TB, rn *running, name string) (customerID, sharedKey string) {
	t.Helper()
	mgmt := rn.adminToken("https://management.azure.com/.default")
	var ws struct{ Properties struct{ CustomerID string } }
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/"+name), mgmt, map[string]any{"location": "local"}, &ws); st != 201 {
		t.Fatalf("create workspace: %d", st)
	}
	var keys struct{ PrimarySharedKey string }
	if st := rn.call("POST", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/"+name+"/sharedKeys"), mgmt, nil, &keys); st != 200 {
		t.Fatalf("shared keys: %d", st)
	}
	return ws.Properties.CustomerID, keys.PrimarySharedKey
}

// TestALoneNodeRefusesAReplayFromMemory: a node on its own storage records taken
// signatures in memory, not in its control database (no commit per request), refuses a
// replay, and after a restart refuses a request signed before it, as it cannot tell
// whether the previous process took it.
func TestALoneNodeRefusesAReplayFromMemory(t *testing.T) {
	dir := t.TempDir()
	rn := startNode(t, dir)
	customerID, key := collectorWorkspace(t, rn, "lonews")
	signed := time.Now().UTC()
	date := signed.Format(http.TimeFormat)
	body := []byte(`[{"Message":"once"}]`)
	for i, want := range []struct {
		status int
		code   string
	}{{200, ""}, {409, "DuplicateRequest"}} {
		if st, code := rn.collectorSend(customerID, key, "Lone", date, body); st != want.status || code != want.code {
			t.Fatalf("send %d: %d %s, want %d %s", i+1, st, code, want.status, want.code)
		}
	}
	err := rn.node.controlDB.View(context.Background(), func(tx kv.Tx) error {
		if tx.Bucket([]byte("collectorReplay")) != nil {
			t.Error("a lone node recorded a signature in its control database")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rn.stop()

	// The restarted node's record begins in a later second than the request's date.
	time.Sleep(time.Until(signed.Truncate(time.Second).Add(time.Second)))
	rn = startNode(t, dir)
	if st, code := rn.collectorSend(customerID, key, "Lone", date, body); st != 403 || code != "InvalidAuthorization" {
		t.Fatalf("a request signed before the restart: %d %s, want 403 InvalidAuthorization", st, code)
	}
}

// TestACollectorRequestTakenByOneNodeIsRefusedByAnother: two nodes on one PostgreSQL
// database share the record of taken signatures.
func TestACollectorRequestTakenByOneNodeIsRefusedByAnother(t *testing.T) {
	dbURL := pgtest.New(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	a := startClusterNode(t, Config{DataDir: t.TempDir(), Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, Credentials{})
	b := startClusterNode(t, Config{DataDir: t.TempDir(), Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, a.creds)
	customerID, key := collectorWorkspace(t, a, "clusterws")
	date := time.Now().UTC().Format(http.TimeFormat)
	body := []byte(`[{"Message":"once"}]`)
	if st, code := a.collectorSend(customerID, key, "Shared", date, body); st != 200 {
		t.Fatalf("sent to node a: %d %s", st, code)
	}
	if st, code := b.collectorSend(customerID, key, "Shared", date, body); st != 409 || code != "DuplicateRequest" {
		t.Fatalf("the same request sent to node b: %d %s, want 409 DuplicateRequest", st, code)
	}
}

// TestDataCollectorStoresASignedRequestOnce sends one signed Data Collector
// request three times: the first is stored, the copies are refused as
// duplicates and stored nowhere. A request with another signature (another
// body length, the same second) is stored.
func TestDataCollectorStoresASignedRequestOnce(t *testing.T) {
	rn := startNode(t, t.TempDir())
	customerID, sharedKey := collectorWorkspace(t, rn, "replayws")

	date := time.Now().UTC().Format(http.TimeFormat)
	once := []byte(`[{"Message":"once"}]`)
	for i, want := range []struct {
		status int
		code   string
	}{{200, ""}, {409, "DuplicateRequest"}, {409, "DuplicateRequest"}} {
		if st, code := rn.collectorSend(customerID, sharedKey, "Replay", date, once); st != want.status || code != want.code {
			t.Fatalf("send %d: %d %s, want %d %s", i+1, st, code, want.status, want.code)
		}
	}
	if st, code := rn.collectorSend(customerID, sharedKey, "Replay", date, []byte(`[{"Message":"other"}]`)); st != 200 {
		t.Fatalf("another request in the same second: %d %s", st, code)
	}

	counts := map[string]float64{}
	for _, row := range rn.queryRows(customerID, "Replay_CL | summarize n = count() by Message_s") {
		counts[row[0].(string)] = row[1].(float64)
	}
	if counts["once"] != 1 || counts["other"] != 1 || len(counts) != 2 {
		t.Fatalf("stored rows by message: %v, want once: 1, other: 1", counts)
	}
}

// queryRows runs a query as the admin and returns its rows.
func (rn *running) queryRows(customerID, query string) [][]any {
	rn.t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequest("POST", rn.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", bytes.NewReader(body))
	if err != nil {
		rn.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+rn.adminToken("https://api.loganalytics.io/.default"))
	resp, err := rn.client.Do(req)
	if err != nil {
		rn.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Tables []struct{ Rows [][]any }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Tables) != 1 {
		rn.t.Fatalf("query %q: %d %v", query, resp.StatusCode, err)
	}
	return out.Tables[0].Rows
}

// BenchmarkDataCollectorHTTPS is one client posting 10 KB Data Collector
// requests over HTTPS to a platform-key workspace: the cost of a whole
// request, of which the replay cache's reservation is a part
// (BenchmarkReserve in internal/replay).
func BenchmarkDataCollectorHTTPS(b *testing.B) {
	rn := startNode(b, b.TempDir())
	customerID, sharedKey := collectorWorkspace(b, rn, "benchws")
	rows := make([]map[string]any, 40)
	for i := range rows {
		rows[i] = map[string]any{"Computer": "host-001.corp.example", "Message": strings.Repeat("x", 200), "EventID": 4624}
	}
	body, _ := json.Marshal(rows)
	now := time.Now().UTC()
	b.SetBytes(int64(len(body)))
	for i := 0; b.Loop(); i++ {
		// A distinct signature each time: one of 600 dates in the next ten
		// minutes (not before the node started, nor past the window), and a
		// length padded once per round of them.
		date := now.Add(time.Duration(i%600) * time.Second).Format(http.TimeFormat)
		padded := append(body[:len(body):len(body)], bytes.Repeat([]byte(" "), i/600)...)
		if st, code := rn.collectorSend(customerID, sharedKey, "Bench", date, padded); st != 200 {
			b.Fatalf("request %d: %d %s", i, st, code)
		}
	}
}
