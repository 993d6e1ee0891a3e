package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDataCollectorStoresASignedRequestOnce sends one signed Data Collector
// request three times: the first is stored, the copies are refused as
// duplicates and stored nowhere. A request with another signature (another
// body length, the same second) is stored.
func TestDataCollectorStoresASignedRequestOnce(t *testing.T) {
	rn := startNode(t, t.TempDir())
	mgmt := rn.adminToken("https://management.azure.com/.default")
	var ws map[string]any
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/replayws"), mgmt, map[string]any{"location": "local"}, &ws); st != 201 {
		t.Fatalf("create workspace: %d %v", st, ws)
	}
	customerID := ws["properties"].(map[string]any)["customerId"].(string)
	var keys struct{ PrimarySharedKey string }
	if st := rn.call("POST", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/replayws/sharedKeys"), mgmt, nil, &keys); st != 200 {
		t.Fatalf("shared keys: %d", st)
	}

	date := time.Now().UTC().Format(http.TimeFormat)
	once := []byte(`[{"Message":"once"}]`)
	for i, want := range []struct {
		status int
		code   string
	}{{200, ""}, {409, "DuplicateRequest"}, {409, "DuplicateRequest"}} {
		if st, code := rn.collectorSend(customerID, keys.PrimarySharedKey, "Replay", date, once); st != want.status || code != want.code {
			t.Fatalf("send %d: %d %s, want %d %s", i+1, st, code, want.status, want.code)
		}
	}
	if st, code := rn.collectorSend(customerID, keys.PrimarySharedKey, "Replay", date, []byte(`[{"Message":"other"}]`)); st != 200 {
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
// (BenchmarkReplayCacheReserve in internal/api).
func BenchmarkDataCollectorHTTPS(b *testing.B) {
	rn := startNode(b, b.TempDir())
	mgmt := rn.adminToken("https://management.azure.com/.default")
	var ws map[string]any
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/benchws"), mgmt, map[string]any{"location": "local"}, &ws); st != 201 {
		b.Fatalf("create workspace: %d", st)
	}
	customerID := ws["properties"].(map[string]any)["customerId"].(string)
	var keys struct{ PrimarySharedKey string }
	rn.call("POST", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/benchws/sharedKeys"), mgmt, nil, &keys)
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
		if st, code := rn.collectorSend(customerID, keys.PrimarySharedKey, "Bench", date, padded); st != 200 {
			b.Fatalf("request %d: %d %s", i, st, code)
		}
	}
}
