package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestExternalDataAllowReachesQueriesAndRules starts a node that allows externaldata one URL
// prefix of a server on 127.0.0.1: the query API reads a feed under it and refuses one outside
// it without fetching it, naming the flag and not the URL's query string; an analytics rule
// that joins sign-ins with the feed raises its alert.
func TestExternalDataAllowReachesQueriesAndRules(t *testing.T) {
	var outside atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/feeds/bad-ips.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# bad addresses\n198.51.100.7\n203.0.113.9\n"))
	})
	mux.HandleFunc("/private/", func(w http.ResponseWriter, r *http.Request) { outside.Add(1) })
	feeds := httptest.NewServer(mux)
	defer feeds.Close()

	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond, ExternalDataAllow: []string{feeds.URL + "/feeds/"}})
	feed := `externaldata(IP:string) [@"` + feeds.URL + `/feeds/bad-ips.txt"] with (format="txt", ignoreFirstRecord=true)`
	if st, n, qe := cs.queryStatus(feed+` | count`, ""); st != 200 || n != 2.0 {
		t.Fatalf("query of an allowed feed: %d %v %+v, want 2 rows", st, n, qe.Error)
	}
	st, _, qe := cs.queryStatus(`externaldata(IP:string) [@"`+feeds.URL+`/private/x.txt?sig=SECRET"] | count`, "")
	if st != 400 || qe.Error.InnerError.Code != "ExternalDataNotAllowed" || !strings.Contains(qe.Error.Message, "--externaldata-allow") ||
		!strings.Contains(qe.Error.Message, feeds.URL+"/private/x.txt") || strings.Contains(qe.Error.Message, "SECRET") {
		t.Fatalf("query of a URL outside the prefixes: %d %+v, want 400 ExternalDataNotAllowed naming the URL without its query and the flag", st, qe.Error)
	}
	if n := outside.Load(); n != 0 {
		t.Fatalf("%d requests reached a URL outside the allowed prefixes", n)
	}

	immutableID, tok := cs.signinDCR()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	rows := []map[string]any{
		{"TimeGenerated": now, "UserPrincipalName": "alice@contoso.com", "IPAddress": "203.0.113.9", "ResultType": "0"},
		{"TimeGenerated": now, "UserPrincipalName": "bob@contoso.com", "IPAddress": "192.0.2.1", "ResultType": "0"},
	}
	var er map[string]any
	if st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+immutableID+"/streams/Custom-Signins?api-version=2023-01-01", tok, rows, &er); st != 204 {
		t.Fatalf("ingest: %d %v", st, er)
	}
	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Sign-in from a listed address", "severity": "High", "enabled": true,
		"query":          "let Bad = " + feed + ";\nSignins_CL\n| where IPAddress in (Bad)\n| project UserPrincipalName, IPAddress",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
		"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"},
		"alertDetailsOverride":  map[string]any{"alertDisplayNameFormat": "Listed address {{IPAddress}} used by {{UserPrincipalName}}"},
	}}
	if st := cs.call("PUT", cs.alertRuleURL("/listed"), cs.mgmt, rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	waitFor(t, 20*time.Second, "the rule's alert", func() bool {
		st, n, _ := cs.queryStatus(`SecurityAlert | where AlertName startswith "Listed address" | count`, "")
		return st == 200 && n == 1.0
	})
	if st, name, _ := cs.queryStatus(`SecurityAlert | where AlertName startswith "Listed address" | project AlertName`, ""); st != 200 || name != "Listed address 203.0.113.9 used by alice@contoso.com" {
		t.Fatalf("alert %d %v, want alice's", st, name)
	}
}

func TestNodeRefusesABadExternalDataPrefix(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), Config{DataDir: filepath.Join(dir, "data"), Addr: "127.0.0.1:0", ExternalDataAllow: []string{"ftp://example.com/"}, Services: ServeWorkspaces})
	if err == nil || !strings.Contains(err.Error(), "--externaldata-allow") {
		t.Fatalf("open with an ftp prefix: %v, want an error naming --externaldata-allow", err)
	}
}
