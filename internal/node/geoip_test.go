package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// geoIPTestDB is the small GeoIP database the kql package's tests write; it places
// 81.2.69.0/24 in London.
const geoIPTestDB = "../kql/testdata/geoip-test.mmdb"

// TestGeoIPDatabaseReachesQueriesAndRules starts a node with the operator's
// GeoIP database: geo_info_from_ip_address() answers from it in the query API
// and in an analytics rule, whose alert is raised for the sign-in it places in
// the United Kingdom and not for the other.
func TestGeoIPDatabaseReachesQueriesAndRules(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond, GeoIPDB: geoIPTestDB})
	st, city, qe := cs.queryStatus(`print tostring(geo_info_from_ip_address('81.2.69.142').city)`, "")
	if st != 200 || city != "London" {
		t.Fatalf("query: %d %v %+v, want London", st, city, qe.Error)
	}

	immutableID, tok := cs.signinDCR()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	rows := []map[string]any{
		{"TimeGenerated": now, "UserPrincipalName": "alice@contoso.com", "IPAddress": "81.2.69.142", "ResultType": "0"},
		{"TimeGenerated": now, "UserPrincipalName": "bob@contoso.com", "IPAddress": "198.51.100.2", "ResultType": "0"},
	}
	var er map[string]any
	if st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+immutableID+"/streams/Custom-Signins?api-version=2023-01-01", tok, rows, &er); st != 204 {
		t.Fatalf("ingest: %d %v", st, er)
	}
	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Sign-in from abroad", "severity": "Medium", "enabled": true,
		"query": `Signins_CL
| extend Geo = geo_info_from_ip_address(IPAddress)
| where tostring(Geo.country) == "United Kingdom"
| project UserPrincipalName, IPAddress, City = tostring(Geo.city)`,
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
		"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"},
		"alertDetailsOverride":  map[string]any{"alertDisplayNameFormat": "Sign-in by {{UserPrincipalName}} from {{City}}"},
	}}
	if st := cs.call("PUT", cs.alertRuleURL("/abroad"), cs.mgmt, rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	waitFor(t, 20*time.Second, "the rule's alert", func() bool {
		st, n, _ := cs.queryStatus(`SecurityAlert | where AlertName startswith "Sign-in by " | count`, "")
		return st == 200 && n == 1.0
	})
	if st, name, _ := cs.queryStatus(`SecurityAlert | where AlertName startswith "Sign-in by " | project AlertName`, ""); st != 200 || name != "Sign-in by alice@contoso.com from London" {
		t.Fatalf("alert %d %v, want alice's from London", st, name)
	}
}

func TestNodeRefusesAGeoIPDatabaseThatIsNotOne(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "geo.csv")
	if err := os.WriteFile(csv, []byte("network,country\n81.2.69.0/24,GB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Config{DataDir: filepath.Join(dir, "data"), Addr: "127.0.0.1:0", GeoIPDB: csv, Services: ServeWorkspaces})
	if err == nil || !strings.Contains(err.Error(), "--geoip-db") {
		t.Fatalf("open with a file that is no MMDB database: %v, want an error naming --geoip-db", err)
	}
}
