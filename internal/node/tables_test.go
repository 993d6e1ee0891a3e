package node

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func (cs *cmkSetup) tableURL(name string) string {
	return cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/tables/" + name)
}

// queryColumns runs a query over the query API and returns its status and
// its result's columns as name:type.
func (cs *cmkSetup) queryColumns(query string) (int, string) {
	cs.t.Helper()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var out struct {
		Tables []struct {
			Columns []struct{ Name, Type string }
		}
	}
	st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": query}, &out)
	if st != 200 || len(out.Tables) == 0 {
		return st, ""
	}
	var cols []string
	for _, c := range out.Tables[0].Columns {
		cols = append(cols, c.Name+":"+c.Type)
	}
	return st, strings.Join(cols, ",")
}

// TestDeclaredTablesOverHTTPSBindQueriesAndRules: in a fresh workspace a
// custom table declared over the tables API answers queries in declared
// order before any row arrives, and a rule naming the standard table
// SecurityEvent is saved (it compiles); while the key is revoked, tables
// are neither declared nor read.
func TestDeclaredTablesOverHTTPSBindQueriesAndRules(t *testing.T) {
	cs := setUpCMK(t)
	table := map[string]any{"properties": map[string]any{"schema": map[string]any{"columns": []map[string]string{
		{"name": "TimeGenerated", "type": "datetime"}, {"name": "Zone", "type": "string"}, {"name": "Port", "type": "int"}, {"name": "Action", "type": "string"},
	}}}}
	var er struct {
		Error struct{ Code, Message string }
	}
	if st := cs.call("PUT", cs.tableURL("Firewall_CL"), cs.mgmt, table, &er); st != 200 {
		t.Fatalf("declare Firewall_CL: %d %+v", st, er)
	}
	const order = "TimeGenerated:datetime,Zone:string,Port:int,Action:string"
	if st, cols := cs.queryColumns("Firewall_CL"); st != 200 || cols != order {
		t.Fatalf("Firewall_CL's columns: %d %s, want %s", st, cols, order)
	}
	if st, rows, qe := cs.queryRows("Firewall_CL | getschema | project ColumnName"); st != 200 || jsonString(rows) != `[["TimeGenerated"],["Zone"],["Port"],["Action"]]` {
		t.Fatalf("getschema: %d %s %+v", st, jsonString(rows), qe)
	}

	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Brute force", "severity": "Medium", "enabled": true,
		"query":          "SecurityEvent | where EventID == 4625 | summarize Failures = count() by Account, Computer | where Failures > 10",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
	}}
	if st := cs.call("PUT", cs.alertRuleURL("/brute-force"), cs.mgmt, rule, &er); st != 201 {
		t.Fatalf("a rule over SecurityEvent in a fresh workspace: %d %+v", st, er)
	}
	rule["properties"].(map[string]any)["query"] = "Firewall_CL | where Port == 22 and Action == 'deny' | summarize n = count() by Zone"
	if st := cs.call("PUT", cs.alertRuleURL("/ssh-denied"), cs.mgmt, rule, &er); st != 201 {
		t.Fatalf("a rule over a declared custom table without rows: %d %+v", st, er)
	}
	rule["properties"].(map[string]any)["query"] = "Firewall_CL | where DestinationPort == 22"
	if st := cs.call("PUT", cs.alertRuleURL("/bad-column"), cs.mgmt, rule, &er); st != 400 || !strings.Contains(er.Error.Message, "DestinationPort") {
		t.Fatalf("a rule naming a column Firewall_CL does not declare: %d %+v", st, er)
	}

	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	for _, c := range []struct {
		name, method, url string
		body              any
	}{
		{"declare", "PUT", cs.tableURL("Other_CL"), table},
		{"change", "PATCH", cs.tableURL("Firewall_CL"), map[string]any{"properties": map[string]any{"retentionInDays": 60}}},
		{"read", "GET", cs.tableURL("Firewall_CL"), nil},
		{"delete", "DELETE", cs.tableURL("Firewall_CL"), nil},
	} {
		if st := cs.call(c.method, c.url, cs.mgmt, c.body, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
			t.Errorf("%s a table while revoked: %d %+v", c.name, st, er)
		}
	}
	cs.grant(docOID)
	cs.probe()
	if st := cs.call("GET", cs.tableURL("Firewall_CL"), cs.mgmt, nil, &er); st != 200 {
		t.Fatalf("read after restore: %d %+v", st, er)
	}
}

// TestTheSchedulerRunsARuleOverAStandardTableWithoutRows: in a fresh
// workspace, a rule over SecurityEvent runs and is recorded as a success
// with no results, rather than failing on a table it cannot find.
func TestTheSchedulerRunsARuleOverAStandardTableWithoutRows(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond})
	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Failed logons", "severity": "Medium", "enabled": true,
		"query":          "SecurityEvent | where EventID == 4625 | summarize Failures = count() by Account",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
	}}
	var er struct {
		Error struct{ Code, Message string }
	}
	if st := cs.call("PUT", cs.alertRuleURL("/failed-logons"), cs.mgmt, rule, &er); st != 201 {
		t.Fatalf("create rule: %d %+v", st, er)
	}
	waitFor(t, 20*time.Second, "a successful run of the rule with no results", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "failed-logons" and Status == "Success" and ExtendedProperties.ResultsCount == 0 | count`, "")
		return st == 200 && fmt.Sprint(n) != "0"
	})
	if st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "failed-logons" and Status != "Success" | count`, ""); st != 200 || fmt.Sprint(n) != "0" {
		t.Fatalf("runs of the rule that did not succeed: %d %v", st, n)
	}
}

// TestATablesRetentionDecidesHowOldItsRowsMayBe: a table kept 5 days
// refuses a row 10 days old that the workspace's retention would take, and
// takes it again once the table follows the workspace's retention.
func TestATablesRetentionDecidesHowOldItsRowsMayBe(t *testing.T) {
	cs := setUpCMK(t)
	var er struct {
		Error struct{ Code, Message string }
	}
	table := map[string]any{"properties": map[string]any{"retentionInDays": 5, "schema": map[string]any{"columns": []map[string]string{
		{"name": "TimeGenerated", "type": "datetime"}, {"name": "Message", "type": "string"}}}}}
	if st := cs.call("PUT", cs.tableURL("Short_CL"), cs.mgmt, table, &er); st != 200 {
		t.Fatalf("declare Short_CL: %d %+v", st, er)
	}
	dcr := cs.streamDCR(t, "short-dcr", "Custom-Short", cs.workspace["id"].(string),
		[]map[string]string{{"name": "TimeGenerated", "type": "datetime"}, {"name": "Message", "type": "string"}})
	tok := cs.ingestor("short-dcr", "short-shipper")
	send := func(age time.Duration) (int, string) {
		row := []map[string]any{{"TimeGenerated": time.Now().UTC().Add(-age).Format(time.RFC3339), "Message": "m"}}
		var er struct {
			Error struct{ Code, Message string }
		}
		st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+dcr+"/streams/Custom-Short?api-version=2023-01-01", tok, row, &er)
		return st, er.Error.Message
	}
	day := 24 * time.Hour
	if st, msg := send(2 * day); st != 204 {
		t.Fatalf("a row 2 days old: %d %s", st, msg)
	}
	if st, msg := send(10 * day); st != 400 {
		t.Fatalf("a row 10 days old into a table kept 5 days: %d %s, want 400", st, msg)
	}
	reset := map[string]any{"properties": map[string]any{"retentionInDays": -1, "totalRetentionInDays": -1}}
	if st := cs.call("PATCH", cs.tableURL("Short_CL"), cs.mgmt, reset, &er); st != 200 {
		t.Fatalf("back to the workspace's retention: %d %+v", st, er)
	}
	if st, msg := send(10 * day); st != 204 {
		t.Fatalf("a row 10 days old once the table follows the workspace's retention: %d %s", st, msg)
	}
}
