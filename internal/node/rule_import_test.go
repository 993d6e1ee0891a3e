package node

import (
	"context"
	"os"
	"strings"
	"testing"
)

type importReport struct {
	Created, Updated, Refused int
	Rules                     []struct {
		Rule, DisplayName, Kind, Result, Error string
		Notes                                  []string
	}
}

// TestRuleFileImportOverTheAPI: POST .../alertRules/import takes a rule
// file's name and text, in either format `sealwatch rule import` reads, and
// saves its rules as the CLI does: created enabled, updated keeping their
// state, each refused with the node's reason while the others go on. A file
// that is not a rule file is refused whole with its line, a body past 8 MiB
// as too large; a Reader may not import.
func TestRuleFileImportOverTheAPI(t *testing.T) {
	cs := setUpCMK(t)
	importURL := cs.alertRuleURL("/import")
	yamlRule, err := os.ReadFile("../../docs/examples/rules/brute-force-then-success.yaml")
	if err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, name, content string) importReport {
		t.Helper()
		var rep importReport
		if st := cs.call("POST", importURL, cs.mgmt, map[string]string{"fileName": name, "content": content}, &rep); st != 200 {
			t.Fatalf("import %s: %d %+v", name, st, rep)
		}
		return rep
	}
	enabled := func(t *testing.T, id string) bool {
		t.Helper()
		var rule struct{ Properties struct{ Enabled bool } }
		if st := cs.call("GET", cs.alertRuleURL("/"+id), cs.mgmt, nil, &rule); st != 200 {
			t.Fatalf("get %s: %d", id, st)
		}
		return rule.Properties.Enabled
	}
	const id = "3f0c9a52-7d1e-4b8a-9c64-2e5b71d0a8f3"

	rep := send(t, "brute-force-then-success.yaml", string(yamlRule))
	if rep.Created != 1 || len(rep.Rules) != 1 || rep.Rules[0].Rule != id || rep.Rules[0].Result != "created" ||
		!strings.Contains(strings.Join(rep.Rules[0].Notes, " "), "requiredDataConnectors") || !enabled(t, id) {
		t.Fatalf("first import: %+v", rep)
	}

	// Disabled since, the rule stays disabled through another import.
	var rule map[string]any
	cs.call("GET", cs.alertRuleURL("/"+id), cs.mgmt, nil, &rule)
	rule["properties"].(map[string]any)["enabled"] = false
	if st := cs.call("PUT", cs.alertRuleURL("/"+id), cs.mgmt, rule, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	if rep := send(t, "again.yml", string(yamlRule)); rep.Updated != 1 || rep.Rules[0].Result != "updated" || enabled(t, id) {
		t.Fatalf("second import: %+v, enabled %v", rep, enabled(t, id))
	}

	// A list of the API's JSON: the bad rule is refused with its query's
	// position, the good one imported.
	list := `{"value": [
	  {"name": "bad-query", "kind": "NRT", "properties": {"displayName": "Bad", "severity": "Low", "query": "SecurityEvent\n| where NoSuchColumn == 1"}},
	  {"name": "good-nrt", "kind": "NRT", "properties": {"displayName": "Good", "severity": "Low", "query": "SecurityEvent | take 1"}}]}`
	rep = send(t, "rules.json", list)
	if rep.Created != 1 || rep.Refused != 1 || rep.Rules[0].Result != "refused" || !strings.Contains(rep.Rules[0].Error, "semantic error at 2:9") ||
		rep.Rules[1].Result != "created" {
		t.Fatalf("list import: %+v", rep)
	}

	reader, secret, _ := cs.node.identity.CreateApplication(context.Background(), "analyst")
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Reader", "principalId": reader.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/r1"), cs.mgmt, assign, nil); st != 201 {
		t.Fatalf("assign Reader: %d", st)
	}
	for _, tc := range []struct {
		name, fileName, content, token string
		status                         int
		says                           string
	}{
		{"a file that is not YAML of a rule", "broken.yml", "name: x\nqueryFrequency: often\n", cs.mgmt, 400, "broken.yml:2"},
		{"a name that is no rule file's", "rules.txt", string(yamlRule), cs.mgmt, 400, "is not a rule file's name"},
		{"a body past 8 MiB", "big.json", strings.Repeat(" ", 8<<20), cs.mgmt, 413, "PayloadTooLarge"},
		{"a Reader", "brute.yaml", string(yamlRule), cs.token(reader.AppID, secret, "https://management.azure.com/.default"), 403, "AuthorizationFailed"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			var er struct {
				Error struct{ Code, Message string }
			}
			st := cs.call("POST", importURL, tc.token, map[string]string{"fileName": tc.fileName, "content": tc.content}, &er)
			if st != tc.status || !strings.Contains(er.Error.Code+" "+er.Error.Message, tc.says) {
				t.Errorf("got %d %+v, want %d saying %q", st, er.Error, tc.status, tc.says)
			}
		})
	}
}
