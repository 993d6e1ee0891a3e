package node

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func (cs *cmkSetup) watchlistURL(rest string) string {
	return cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/watchlists" + rest)
}

// queryRows runs a query over the query API and returns its status, rows
// and error.
func (cs *cmkSetup) queryRows(query string) (int, [][]any, queryError) {
	cs.t.Helper()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var out struct {
		Tables []struct{ Rows [][]any } `json:"tables"`
		queryError
	}
	st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": query}, &out)
	if st != 200 {
		return st, nil, out.queryError
	}
	return st, out.Tables[0].Rows, out.queryError
}

func crownJewels(raw string) map[string]any {
	return map[string]any{"properties": map[string]any{"displayName": "Crown jewels", "provider": "SOC", "source": "crown.csv",
		"itemsSearchKey": "Host", "contentType": "text/csv", "rawContent": raw}}
}

// TestWatchlistsOverHTTPSFeedQueriesAndRules walks a watchlist's life over
// the API and uses it: a query joining a table with it, a rule whose query
// reads it saved, a rule naming a missing one refused; while the
// document-store principal has no access it is neither changed nor read.
func TestWatchlistsOverHTTPSFeedQueriesAndRules(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	now := time.Now().UTC().Format(time.RFC3339)
	var rows []map[string]any
	for _, host := range []string{"web01", "dc01", "dc01", "laptop7"} {
		rows = append(rows, map[string]any{"TimeGenerated": now, "Message": host})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}

	var created map[string]any
	if st := cs.call("PUT", cs.watchlistURL("/crown"), cs.mgmt, crownJewels("Host,Owner\ndc01,identity team\nweb01,web team\n"), &created); st != 201 {
		t.Fatalf("create watchlist: %d %v", st, created)
	}
	etag, _ := created["etag"].(string)
	props, _ := created["properties"].(map[string]any)
	if created["type"] != "Microsoft.SecurityInsights/watchlists" || created["name"] != "crown" || !strings.HasPrefix(etag, `"`) ||
		props["itemsCount"] != 2.0 || props["watchlistAlias"] != "crown" || props["rawContent"] != nil {
		t.Fatalf("created watchlist: %v", created)
	}
	var list struct {
		Value []struct{ Name string }
	}
	if st := cs.call("GET", cs.watchlistURL(""), cs.mgmt, nil, &list); st != 200 || len(list.Value) != 1 || list.Value[0].Name != "crown" {
		t.Fatalf("list: %d %+v", st, list)
	}
	var items struct {
		Value []struct {
			Name       string
			Etag       string
			Properties struct{ ItemsKeyValue map[string]string }
		}
	}
	if st := cs.call("GET", cs.watchlistURL("/crown/watchlistItems"), cs.mgmt, nil, &items); st != 200 || len(items.Value) != 2 || items.Value[0].Properties.ItemsKeyValue["Owner"] != "identity team" {
		t.Fatalf("items: %d %+v", st, items)
	}
	item := map[string]any{"properties": map[string]any{"itemsKeyValue": map[string]string{"Host": "laptop7", "Owner": "CEO"}}}
	if st := cs.call("PUT", cs.watchlistURL("/crown/watchlistItems/ceo-laptop"), cs.mgmt, item, nil); st != 201 {
		t.Fatalf("add an item: %d", st)
	}
	var er struct {
		Error struct{ Code, Message string }
	}
	stale := crownJewels("Host,Owner\n")
	stale["etag"] = etag
	if st := cs.call("PUT", cs.watchlistURL("/crown"), cs.mgmt, stale, &er); st != 412 || er.Error.Code != "PreconditionFailed" {
		t.Fatalf("a PUT with the etag from before the item was added: %d %+v", st, er)
	}
	if st := cs.call("PUT", cs.watchlistURL("/bad"), cs.mgmt, crownJewels("Host,Owner\ndc01\n"), &er); st != 400 || !strings.Contains(er.Error.Message, "line 2 has 1 field(s)") {
		t.Fatalf("a CSV row short of a field: %d %+v", st, er)
	}
	big := "Host,Owner\n" + strings.Repeat("web01,"+strings.Repeat("o", 94)+"\n", 39000) // 3.9 MB
	if st := cs.call("PUT", cs.watchlistURL("/big"), cs.mgmt, crownJewels(big), &er); st != 400 || !strings.Contains(er.Error.Message, "at most 3800000 bytes") {
		t.Fatalf("rawContent over 3.8 MB: %d %+v", st, er)
	}
	if st := cs.call("PUT", cs.watchlistURL("/big"), cs.mgmt, crownJewels(big+big+big), &er); st != 413 || er.Error.Code != "PayloadTooLarge" {
		t.Fatalf("a body over 8 MiB: %d %+v", st, er)
	}

	st, got, qe := cs.queryRows("Events_CL | join kind=inner (_GetWatchlist('crown') | project Message = SearchKey, Owner) on Message | summarize n = count() by Message, Owner | order by Message asc")
	if want := `[["dc01","identity team",2],["laptop7","CEO",1],["web01","web team",1]]`; st != 200 || jsonString(got) != want {
		t.Fatalf("a join with the watchlist: %d %s %+v, want %s", st, jsonString(got), qe, want)
	}
	if st, got, _ := cs.queryRows("Events_CL | where Message !in (_GetWatchlist('crown') | project SearchKey) | count"); st != 200 || jsonString(got) != "[[0]]" {
		t.Fatalf("where not in the watchlist: %d %s", st, jsonString(got))
	}
	if st, _, qe := cs.queryRows("_GetWatchlist('jewels')"); st != 400 || qe.Error.InnerError.Code != "SemanticError" || !strings.Contains(qe.Error.Message, "unknown watchlist 'jewels'") {
		t.Fatalf("an unknown watchlist: %d %+v", st, qe)
	}

	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Sign-in on a crown jewel", "severity": "High", "enabled": true,
		"query":          "let jewels = _GetWatchlist('crown') | project Host = SearchKey, Owner;\nEvents_CL | extend Host = Message | lookup jewels on Host | where isnotempty(Owner)",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
		"customDetails": map[string]string{"Owner": "Owner"},
	}}
	if st := cs.call("PUT", cs.alertRuleURL("/crown-jewel-signin"), cs.mgmt, rule, &er); st != 201 {
		t.Fatalf("a rule reading a watchlist: %d %+v", st, er)
	}
	rule["properties"].(map[string]any)["query"] = "Events_CL | where Message in (_GetWatchlist('crown-jewels') | project SearchKey)"
	if st := cs.call("PUT", cs.alertRuleURL("/missing-watchlist"), cs.mgmt, rule, &er); st != 400 || !strings.Contains(er.Error.Message, "unknown watchlist 'crown-jewels'") {
		t.Fatalf("a rule naming a missing watchlist: %d %+v", st, er)
	}

	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	for _, c := range []struct {
		name, method, url string
		body              any
	}{
		{"create", "PUT", cs.watchlistURL("/while-revoked"), crownJewels("Host,Owner\n")},
		{"read", "GET", cs.watchlistURL("/crown"), nil},
		{"list items", "GET", cs.watchlistURL("/crown/watchlistItems"), nil},
		{"delete an item", "DELETE", cs.watchlistURL("/crown/watchlistItems/ceo-laptop"), nil},
		{"delete", "DELETE", cs.watchlistURL("/crown"), nil},
	} {
		if st := cs.call(c.method, c.url, cs.mgmt, c.body, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
			t.Errorf("%s a watchlist while revoked: %d %+v", c.name, st, er)
		}
	}
	if st, _, qe := cs.queryRows("_GetWatchlist('crown') | count"); st != 403 || qe.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Errorf("a query of a watchlist while revoked: %d %+v", st, qe)
	}
	cs.grant(docOID)
	cs.probe()

	if st := cs.call("DELETE", cs.watchlistURL("/crown"), cs.mgmt, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st := cs.call("GET", cs.watchlistURL("/crown/watchlistItems/ceo-laptop"), cs.mgmt, nil, &er); st != 404 || er.Error.Code != "NotFound" {
		t.Fatalf("an item of a deleted watchlist: %d %+v", st, er)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestWatchlistRowsNeverReachDiskInTheClear uploads a watchlist whose
// column name and values are canaries, reads it in a query, stops the node
// and searches every file under the data directory for them.
func TestWatchlistRowsNeverReachDiskInTheClear(t *testing.T) {
	cs := setUpCMK(t)
	column, value := "CanaryCol9d2e7b41", "canary-row-5c83f0aa-watchlist"
	raw := fmt.Sprintf("Host,%s\nweb01,%s\n", column, value)
	if st := cs.call("PUT", cs.watchlistURL("/canary"), cs.mgmt, crownJewels(raw), nil); st != 201 {
		t.Fatalf("create watchlist: %d", st)
	}
	item := map[string]any{"properties": map[string]any{"itemsKeyValue": map[string]string{"Host": "db01", column: value + "-item"}}}
	if st := cs.call("PUT", cs.watchlistURL("/canary/watchlistItems/i1"), cs.mgmt, item, nil); st != 201 {
		t.Fatalf("add an item: %d", st)
	}
	if st, rows, qe := cs.queryRows("_GetWatchlist('canary') | where SearchKey == 'web01' | project " + column); st != 200 || jsonString(rows) != `[["`+value+`"]]` {
		t.Fatalf("query: %d %v %+v", st, rows, qe)
	}
	cs.stop()
	searched := requireNoneUnder(t, cs.dir, map[string][]byte{"the column": []byte(column), "the value": []byte(value), "a part of the value": []byte("5c83f0aa")}, 0)
	if !slices.ContainsFunc(searched, func(p string) bool { return filepath.Base(p) == "documents.db" }) {
		t.Fatalf("the document store was not searched: %v", searched)
	}
}

// TestWatchlistItemsArePagedWithANextLink: a watchlist's items come
// 10,000 to a page, the rest behind nextLink, as the cloud's lists do.
func TestWatchlistItemsArePagedWithANextLink(t *testing.T) {
	cs := setUpCMK(t)
	var csv strings.Builder
	csv.WriteString("Host,Owner\n")
	for i := range 10000 {
		fmt.Fprintf(&csv, "h%d,o\n", i)
	}
	if st := cs.call("PUT", cs.watchlistURL("/hosts"), cs.mgmt, crownJewels(csv.String()), nil); st != 201 {
		t.Fatalf("create watchlist: %d", st)
	}
	item := map[string]any{"properties": map[string]any{"itemsKeyValue": map[string]string{"Host": "last"}}}
	if st := cs.call("PUT", cs.watchlistURL("/hosts/watchlistItems/last"), cs.mgmt, item, nil); st != 201 {
		t.Fatalf("add an item: %d", st)
	}
	type page struct {
		Value    []struct{ Name string }
		NextLink string
	}
	var first, second page
	if st := cs.call("GET", cs.watchlistURL("/hosts/watchlistItems"), cs.mgmt, nil, &first); st != 200 || len(first.Value) != 10000 || first.NextLink == "" {
		t.Fatalf("first page: %d, %d items, nextLink %q", st, len(first.Value), first.NextLink)
	}
	if st := cs.call("GET", first.NextLink, cs.mgmt, nil, &second); st != 200 || len(second.Value) != 1 || second.Value[0].Name != "last" || second.NextLink != "" {
		t.Fatalf("second page: %d %+v", st, second)
	}
	var er struct {
		Error struct{ Code, Message string }
	}
	if st := cs.call("GET", cs.watchlistURL("/hosts/watchlistItems")+"&$skipToken=!!", cs.mgmt, nil, &er); st != 400 || !strings.Contains(er.Error.Message, "$skipToken") {
		t.Fatalf("a forged skip token: %d %+v", st, er)
	}
}

// TestARuleReadingAWatchlistRaisesAnIncident runs the scheduler in a real
// node over a rule whose query joins sign-ins with a watchlist of bad
// addresses: the sign-in from a listed address raises an incident, on the
// rule's first run; the one from an address not on the list does not.
func TestARuleReadingAWatchlistRaisesAnIncident(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond})
	immutableID, tok := cs.signinDCR()
	badIPs := map[string]any{"properties": map[string]any{"displayName": "Known bad addresses", "provider": "threat intel",
		"itemsSearchKey": "IPAddress", "contentType": "text/csv", "rawContent": "IPAddress,Campaign\n203.0.113.7,Storm-0558\n192.0.2.99,Other\n"}}
	if st := cs.call("PUT", cs.watchlistURL("/badips"), cs.mgmt, badIPs, nil); st != 201 {
		t.Fatalf("create watchlist: %d", st)
	}
	now := time.Now().UTC()
	rows := []map[string]any{
		{"TimeGenerated": now.Add(-time.Minute).Format(time.RFC3339Nano), "UserPrincipalName": "alice@contoso.com", "IPAddress": "203.0.113.7", "ResultType": "0"},
		{"TimeGenerated": now.Add(-time.Minute).Format(time.RFC3339Nano), "UserPrincipalName": "bob@contoso.com", "IPAddress": "198.51.100.2", "ResultType": "0"},
	}
	var er map[string]any
	if st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+immutableID+"/streams/Custom-Signins?api-version=2023-01-01", tok, rows, &er); st != 204 {
		t.Fatalf("ingest: %d %v", st, er)
	}
	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Sign-in from a known bad address", "severity": "High", "enabled": true,
		"query":          "Signins_CL | where ResultType == '0'\n| join kind=inner (_GetWatchlist('badips') | project IPAddress = SearchKey, Campaign) on IPAddress\n| project UserPrincipalName, IPAddress, Campaign",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
		"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"},
		"customDetails":         map[string]string{"Campaign": "Campaign"},
		"entityMappings": []map[string]any{
			{"entityType": "IP", "fieldMappings": []map[string]string{{"identifier": "Address", "columnName": "IPAddress"}}},
		},
		"alertDetailsOverride":  map[string]any{"alertDisplayNameFormat": "Sign-in by {{UserPrincipalName}} from {{Campaign}}"},
		"incidentConfiguration": map[string]any{"createIncident": true},
	}}
	if st := cs.call("PUT", cs.alertRuleURL("/bad-ip-signin"), cs.mgmt, rule, &er); st != 201 {
		t.Fatalf("create rule: %d %v", st, er)
	}
	var incs struct {
		Value []struct{ Properties struct{ Title string } }
	}
	waitFor(t, 20*time.Second, "the rule's incident", func() bool {
		cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/incidents"), cs.mgmt, nil, &incs)
		return len(incs.Value) > 0
	})
	if len(incs.Value) != 1 || incs.Value[0].Properties.Title != "Sign-in by alice@contoso.com from Storm-0558" {
		t.Fatalf("incidents: %+v", incs.Value)
	}
	waitFor(t, 20*time.Second, "the run's health record", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "bad-ip-signin" and Status == "Success" | count`, "")
		return st == 200 && n.(float64) >= 1
	})
}
