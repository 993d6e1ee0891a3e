package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

func TestCollectorRowsGetTheAPIsTypedColumns(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	body := `[{"Computer":"dc01","Count":3,"Ok":true,"When":"2026-11-26T10:00:00Z","Id":"0b9f3a4e-8c1d-4f6e-9a7b-2c3d4e5f6a7b","Nested":{"a":1},"Nothing":null}]`
	out, err := collectorRows([]byte(body), "When", now)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	json.Unmarshal(out, &rows)
	want := map[string]any{
		"Computer_s": "dc01", "Count_d": 3.0, "Ok_b": true, "When_t": "2026-11-26T10:00:00Z",
		"Id_g": "0b9f3a4e-8c1d-4f6e-9a7b-2c3d4e5f6a7b", "Nested_s": `{"a":1}`, "Nothing_s": nil,
		"TimeGenerated": "2026-11-26T10:00:00Z",
	}
	if len(rows) != 1 || len(rows[0]) != len(want) {
		t.Fatalf("rows = %v", rows)
	}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("%s = %#v, want %#v", k, rows[0][k], v)
		}
	}
	// A single object is one row; without time-generated-field, TimeGenerated is now.
	out, _ = collectorRows([]byte(`{"a":"b"}`), "", now)
	json.Unmarshal(out, &rows)
	if len(rows) != 1 || rows[0]["TimeGenerated"] != "2026-11-26T12:00:00Z" {
		t.Fatalf("single object: %v", rows)
	}
}

func TestCollectorRefusesBadBodies(t *testing.T) {
	now := time.Now()
	cases := map[string]struct{ body, timeField string }{
		"not JSON":                 {`{"a":`, ""},
		"array of numbers":         {`[1,2]`, ""},
		"null record":              {`[null]`, ""},
		"bad time field":           {`[{"t":"yesterday"}]`, "t"},
		"time field not a string":  {`[{"t":5}]`, "t"},
		"empty field name":         {`[{"":1}]`, ""},
		"invalid UTF-8 in a value": {"[{\"msg\":\"caf\xe9\"}]", ""},
		"invalid UTF-8 in a name":  {"[{\"m\xffsg\":\"x\"}]", ""},
		"unpaired surrogate":       {`[{"msg":"\ud800"}]`, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := collectorRows([]byte(tc.body), tc.timeField, now); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCollectorSignatureChecksEveryPart(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	raw, _ := base64.StdEncoding.DecodeString(key)
	date := "Thu, 26 Nov 2026 12:00:00 GMT"
	sig := base64.StdEncoding.EncodeToString(collectorSignature(raw, 42, "application/json", date))
	validSignature := func(sig, sharedKey string, length int, contentType, date string) bool {
		_, ok := validSignature(sig, sharedKey, length, contentType, date)
		return ok
	}
	if !validSignature(sig, key, 42, "application/json", date) {
		t.Fatal("a good signature was refused")
	}
	for name, ok := range map[string]bool{
		"other length": validSignature(sig, key, 43, "application/json", date),
		"other type":   validSignature(sig, key, 42, "text/plain", date),
		"other date":   validSignature(sig, key, 42, "application/json", "Thu, 26 Nov 2026 12:00:01 GMT"),
		"other key":    validSignature(sig, base64.StdEncoding.EncodeToString([]byte("x")), 42, "application/json", date),
		"not base64":   validSignature("***", key, 42, "application/json", date),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzCollectorRows(f *testing.F) {
	f.Add([]byte(`[{"a":"b","n":1,"t":"2026-11-26T10:00:00Z"}]`), "t")
	f.Add([]byte(`{"x":[1,{"y":null}]}`), "")
	f.Fuzz(func(t *testing.T, body []byte, timeField string) {
		out, err := collectorRows(body, timeField, time.Now())
		if err != nil {
			return
		}
		var rows []map[string]any
		if err := json.Unmarshal(out, &rows); err != nil {
			t.Fatalf("accepted body produced invalid JSON: %v", err)
		}
		for _, r := range rows {
			if _, ok := r["TimeGenerated"].(string); !ok {
				t.Fatalf("row without TimeGenerated: %v", r)
			}
		}
	})
}

// TestACollectorBatchRefusedForAClosedStoreIsTakenWhenSentAgain: a Data
// Collector request whose workspace's log store closed under it is refused
// 503 and stores nothing; the same request sent again — the same
// signature, as a shipper retries — is taken once the store is open again,
// not refused as a duplicate, and its rows are stored once.
func TestACollectorBatchRefusedForAClosedStoreIsTakenWhenSentAgain(t *testing.T) {
	f := newFullEnv(t)
	ctx := context.Background()
	_, keys, err := f.server.cfg.Workspaces.CollectorWorkspace(ctx, f.customerID)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(keys.PrimarySharedKey)
	body := `[{"Name":"a"},{"Name":"b"}]`
	date := time.Now().UTC().Format(http.TimeFormat)
	sig := base64.StdEncoding.EncodeToString(collectorSignature(key, len(body), "application/json", date))
	send := func() (int, string) {
		req, _ := http.NewRequest("POST", f.url("", "/api/logs?api-version=2016-04-01"), strings.NewReader(body))
		req.Header.Set("Authorization", "SharedKey "+f.customerID+":"+sig)
		req.Header.Set("x-ms-date", date)
		req.Header.Set("Log-Type", "Retried")
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ws, err := f.server.cfg.Workspaces.WorkspaceByCustomerID(ctx, f.customerID)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.server.cfg.Data.Logs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // closed under the next request
		t.Fatal(err)
	}
	if status, b := send(); status != http.StatusServiceUnavailable || !strings.Contains(b, "ServiceUnavailable") {
		t.Fatalf("the request over a closed store: %d %s, want 503", status, b)
	}
	f.server.cfg.Data.CloseIdle(ctx, 0) // the data plane lets the closed store go; the next request opens it anew
	if status, b := send(); status != http.StatusOK {
		t.Fatalf("the same request sent again: %d %s, want it taken", status, b)
	}
	if status, b := send(); status != http.StatusConflict || !strings.Contains(b, "DuplicateRequest") {
		t.Fatalf("the request sent a third time, once stored: %d %s, want 409 DuplicateRequest", status, b)
	}
	if _, rows := f.queryRows("Retried_CL | project Name_s"); len(rows) != 2 {
		t.Fatalf("%d rows stored, want the request's 2 once", len(rows))
	}
}

// TestIngestMarksAndSealsForTheWorkspaceAsItIsNow: rows about to be sealed with a
// lookup that another node's write made stale (here, one that says the workspace is under
// a cluster's key when it is not) are sealed for the workspace as it is now: markData
// looks it up again rather than mark and seal under the key it no longer has.
func TestIngestMarksAndSealsForTheWorkspaceAsItIsNow(t *testing.T) {
	f := newFullEnv(t)
	ctx := context.Background()
	now, err := f.server.cfg.Workspaces.WorkspaceByCustomerID(ctx, f.customerID)
	if err != nil {
		t.Fatal(err)
	}
	stale := *now
	stale.CMK, stale.ClusterID = true, "00000000-0000-0000-0000-0000000000c1"
	got, err := f.server.markData(ctx, &stale)
	if err != nil {
		t.Fatal(err)
	}
	if got.CMK || got.ClusterID != "" {
		t.Fatalf("markData sealed for CMK %v, cluster %q; want the workspace as it is now, under the platform key", got.CMK, got.ClusterID)
	}
	if err := f.server.cfg.Workspaces.DeleteWorkspace(ctx, workspace.ResourceGroup{Subscription: testSub, Group: "rg1"}, now.Workspace.Name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.server.markData(ctx, now); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("markData for a deleted workspace = %v, want NotFound", err)
	}
}
