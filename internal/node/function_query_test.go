package node

import (
	"strings"
	"testing"
	"time"
)

// TestQueriesAndRulesCallSavedFunctionsOverHTTPS saves a source parser and a union parser
// calling it (and a source parser this workspace does not have) over the saved-searches API,
// then calls the union parser with named arguments from a query over HTTPS and from a rule.
func TestQueriesAndRulesCallSavedFunctionsOverHTTPS(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	now := time.Now().UTC().Truncate(time.Second)
	var rows []map[string]any
	for i := range 12 {
		msg := map[bool]string{true: "failed logon for admin", false: "ok"}[i%3 == 0]
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Hour).Format(time.RFC3339), "Message": msg})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	save := func(alias, params, query string) {
		t.Helper()
		body := map[string]any{"properties": map[string]any{"category": "Parsers", "displayName": alias,
			"functionAlias": alias, "functionParameters": params, "query": query}}
		var er struct {
			Error struct{ Code, Message string }
		}
		if st := cs.call("PUT", cs.savedSearchURL("/"+alias), cs.mgmt, body, &er); st != 200 {
			t.Fatalf("save %s: %d %+v", alias, st, er)
		}
	}
	save("vimEventsCustom", "starttime:datetime=datetime(null), msg:string='*', disabled:bool=false",
		"Events_CL\n| where not(disabled)\n| where isnull(starttime) or TimeGenerated >= starttime\n| where msg == '*' or Message has msg\n| project TimeGenerated, EventMessage = Message, EventProduct = 'Custom'")
	save("imEvents", "starttime:datetime=datetime(null), msg:string='*'",
		"union isfuzzy=true\n  vimEventsCustom(starttime=starttime, msg=msg),\n  vimEventsNotInstalled(starttime=starttime)")

	for _, c := range []struct{ query, want string }{
		{"imEvents(msg='admin') | count", `[[4]]`},
		{"imEvents(starttime=ago(150m), msg='admin') | count", `[[1]]`},
		{"imEvents | summarize n = count() by EventProduct", `[["Custom",12]]`},
		{"vimEventsCustom(disabled=true) | count", `[[0]]`},
	} {
		if st, got, qe := cs.queryRows(c.query); st != 200 || jsonString(got) != c.want {
			t.Errorf("%s: %d %s %+v, want %s", c.query, st, jsonString(got), qe, c.want)
		}
	}
	if st, _, qe := cs.queryRows("imEvents(message='admin')"); st != 400 || !strings.Contains(qe.Error.Message, "function imEvents has no parameter message") {
		t.Errorf("an unknown parameter: %d %+v", st, qe)
	}

	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Admin logon failures", "severity": "Medium", "enabled": true,
		"query":          "imEvents(starttime=ago(1h), msg='admin') | summarize n = count()",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
	}}
	var er struct {
		Error struct{ Code, Message string }
	}
	if st := cs.call("PUT", cs.alertRuleURL("/admin-failures"), cs.mgmt, rule, &er); st != 201 {
		t.Fatalf("a rule calling a saved function: %d %+v", st, er)
	}
	rule["properties"].(map[string]any)["query"] = "imEvents(msg='admin', msg='root')"
	if st := cs.call("PUT", cs.alertRuleURL("/twice"), cs.mgmt, rule, &er); st != 400 || !strings.Contains(er.Error.Message, "parameter msg is given twice") {
		t.Fatalf("a rule giving a parameter twice: %d %+v", st, er)
	}
}
