package node

import (
	"strings"
	"testing"
	"time"
)

func (cs *cmkSetup) alertRuleURL(id string) string {
	return cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/alertRules" + id)
}

// TestAlertRulesRoundTripOverHTTPS walks a rule's life over the API: create,
// read back as sent, list, a stale etag refused, a bad query refused with its
// position, changes refused while the key is revoked, delete.
func TestAlertRulesRoundTripOverHTTPS(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "login failed"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	props := map[string]any{
		"displayName": "Failed logins", "severity": "Medium", "enabled": true,
		"query":          "Events_CL | where Message has 'failed' | summarize Failures = count() by Message",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 3,
		"customDetails": map[string]string{"Failures": "Failures"},
	}
	body := map[string]any{"kind": "Scheduled", "properties": props}
	var created map[string]any
	if st := cs.call("PUT", cs.alertRuleURL("/failed-logins"), cs.mgmt, body, &created); st != 201 {
		t.Fatalf("create rule: %d %v", st, created)
	}
	etag, _ := created["etag"].(string)
	if created["type"] != "Microsoft.SecurityInsights/alertRules" || created["name"] != "failed-logins" || created["kind"] != "Scheduled" ||
		!strings.HasPrefix(etag, `"`) || !strings.HasSuffix(created["id"].(string), "/providers/Microsoft.SecurityInsights/alertRules/failed-logins") {
		t.Fatalf("created rule's resource fields: %v", created)
	}
	var got struct {
		Etag       string
		Properties map[string]any
	}
	if st := cs.call("GET", cs.alertRuleURL("/failed-logins"), cs.mgmt, nil, &got); st != 200 || got.Etag != etag ||
		got.Properties["query"] != props["query"] || got.Properties["triggerThreshold"] != 3.0 || got.Properties["lastModifiedUtc"] == nil {
		t.Fatalf("read back: %d %+v", st, got)
	}
	var list struct{ Value []struct{ Name string } }
	if st := cs.call("GET", cs.alertRuleURL(""), cs.mgmt, nil, &list); st != 200 || len(list.Value) != 1 || list.Value[0].Name != "failed-logins" {
		t.Fatalf("list: %d %+v", st, list)
	}

	var er struct {
		Error struct{ Code, Message string }
	}
	props["severity"] = "High"
	body["etag"] = etag
	if st := cs.call("PUT", cs.alertRuleURL("/failed-logins"), cs.mgmt, body, nil); st != 200 {
		t.Fatalf("update with the current etag: %d", st)
	}
	if st := cs.call("PUT", cs.alertRuleURL("/failed-logins"), cs.mgmt, body, &er); st != 412 || er.Error.Code != "PreconditionFailed" {
		t.Fatalf("update with a stale etag: %d %+v", st, er)
	}
	delete(body, "etag")
	props["query"] = "Events_CL\n| where NoSuchColumn == 1"
	if st := cs.call("PUT", cs.alertRuleURL("/bad-query"), cs.mgmt, body, &er); st != 400 || er.Error.Code != "BadRequest" || !strings.Contains(er.Error.Message, "semantic error at 2:") {
		t.Fatalf("a query that does not bind: %d %+v", st, er)
	}
	if st := cs.call("GET", cs.alertRuleURL("/bad-query"), cs.mgmt, nil, &er); st != 404 {
		t.Fatalf("a refused rule was stored: %d %+v", st, er)
	}
	if st := cs.call("PUT", cs.alertRuleURL("/fusion"), cs.mgmt, map[string]any{"kind": "Fusion", "properties": props}, &er); st != 400 || !strings.Contains(er.Error.Message, "kind must be") {
		t.Fatalf("an unknown kind: %d %+v", st, er)
	}
	props["query"] = "Events_CL | take 1"

	// While the document-store principal has no access, rules are neither
	// changed nor read.
	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	if st := cs.call("PUT", cs.alertRuleURL("/while-revoked"), cs.mgmt, body, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("create a rule while revoked: %d %+v", st, er)
	}
	if st := cs.call("DELETE", cs.alertRuleURL("/failed-logins"), cs.mgmt, nil, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("delete a rule while revoked: %d %+v", st, er)
	}
	cs.grant(docOID)
	cs.probe()

	if st := cs.call("DELETE", cs.alertRuleURL("/failed-logins"), cs.mgmt, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st := cs.call("GET", cs.alertRuleURL("/failed-logins"), cs.mgmt, nil, &er); st != 404 || er.Error.Code != "NotFound" {
		t.Fatalf("read a deleted rule: %d %+v", st, er)
	}
}
