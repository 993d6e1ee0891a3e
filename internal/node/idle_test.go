package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// countEvents asks the workspace of cs for its Events_CL rows, by message;
// it returns the status and the answer.
func (cs *cmkSetup) countEvents() (int, string) {
	cs.t.Helper()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var res struct {
		Tables []struct{ Rows [][]any } `json:"tables"`
		Error  struct{ Code string }
	}
	st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": "Events_CL | summarize n=count() by Message | sort by Message asc"}, &res)
	if st != 200 {
		return st, res.Error.Code
	}
	return st, fmt.Sprint(res.Tables[0].Rows)
}

// disableKey disables (or enables again) the current version of the
// cluster's key and probes it.
func (cs *cmkSetup) disableKey(disabled bool) {
	cs.t.Helper()
	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	kid := key["key"].(map[string]any)["kid"].(string)
	version := kid[strings.LastIndexByte(kid, '/')+1:]
	if st := cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": !disabled}}, nil); st != 200 {
		cs.t.Fatalf("set the key's enabled to %v: %d", !disabled, st)
	}
	cs.probe()
}

func TestIdleStoreClosesAndReopensAnsweringTheSame(t *testing.T) {
	cs := setUpCMK(t)
	ctx := context.Background()
	immutableID, tok := cs.dcr()
	for i, msg := range []string{"a", "b", "b"} {
		rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": msg}}
		if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
			t.Fatalf("ingest %d: %d %s", i, st, code)
		}
	}
	st, before := cs.countEvents()
	if st != 200 || before != "[[a 1] [b 2]]" {
		t.Fatalf("before: %d %s", st, before)
	}
	if n := cs.node.data.CloseIdle(ctx, 0); n != 1 {
		t.Fatalf("closed %d idle stores, want the workspace's one", n)
	}
	if segments(t, cs.dir) == 0 {
		t.Fatal("the idle store was closed with its rows left in the write-ahead log")
	}
	if st, after := cs.countEvents(); st != 200 || after != before {
		t.Fatalf("after reopening: %d %s, want %s", st, after, before)
	}
	// Used within the idle time: left open.
	if n := cs.node.data.CloseIdle(ctx, time.Hour); n != 0 {
		t.Fatalf("closed %d stores used a moment ago", n)
	}
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "c"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest after reopening: %d %s", st, code)
	}
	if st, got := cs.countEvents(); st != 200 || got != "[[a 1] [b 2] [c 1]]" {
		t.Fatalf("after a new ingest: %d %s", st, got)
	}
}

// TestRevokedKeyRefusesAClosedStoreAtOnce: a store closed as idle opens
// again only under keys asked for anew, so that revoking the key while it
// is closed refuses the next ingest and query, and restoring it brings
// everything back.
func TestRevokedKeyRefusesAClosedStoreAtOnce(t *testing.T) {
	cs := setUpCMK(t)
	ctx := context.Background()
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "kept"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	_, before := cs.countEvents()
	if n := cs.node.data.CloseIdle(ctx, 0); n != 1 {
		t.Fatalf("closed %d idle stores, want 1", n)
	}

	cs.disableKey(true)
	if st, code := cs.ingest(immutableID, tok, rows); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest into a closed store under a revoked key: %d %s", st, code)
	}
	if st, code := cs.countEvents(); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("query of a closed store under a revoked key: %d %s", st, code)
	}
	// Closed again while revoked: still refused after reopening.
	cs.node.data.CloseIdle(ctx, 0)
	if st, code := cs.countEvents(); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("query after a close under a revoked key: %d %s", st, code)
	}

	cs.disableKey(false)
	if st, after := cs.countEvents(); st != 200 || after != before {
		t.Fatalf("after restoring the key: %d %s, want %s", st, after, before)
	}
}
