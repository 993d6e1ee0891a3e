package node

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/automation"
)

func (cs *cmkSetup) securityURL(path string) string {
	return cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/" + path)
}

// signedCall is one webhook call a receiver took, and whether it verified.
type signedCall struct {
	event string
	body  []byte
	err   error
}

// TestAutomationRulesOverHTTPS: rules saved over the API run when an
// incident is created or updated through it: properties change, a task is
// added, a signed webhook reaches a receiver on 127.0.0.1, each outcome is
// in the incident's history; a rule's own change triggers nothing; the
// webhook's secret is never answered nor written to disk in the clear.
func TestAutomationRulesOverHTTPS(t *testing.T) {
	const secret = "HOOKSECRET-5be1c0de-sealwatch"
	calls := make(chan signedCall, 8)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls <- signedCall{event: r.Header.Get(automation.HeaderEvent), body: body,
			err: automation.Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute)}
	}))
	defer receiver.Close()
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), WebhookClient: &http.Client{Timeout: 5 * time.Second}})

	onCreated := map[string]any{"properties": map[string]any{
		"displayName": "Triage brute force", "order": 1,
		"triggeringLogic": map[string]any{"isEnabled": true, "triggersOn": "Incidents", "triggersWhen": "Created", "conditions": []any{
			map[string]any{"conditionType": "Property", "conditionProperties": map[string]any{"propertyName": "IncidentTitle", "operator": "Contains", "propertyValues": []string{"brute"}}},
		}},
		"actions": []any{
			map[string]any{"order": 1, "actionType": "ModifyProperties", "actionConfiguration": map[string]any{"labels": []any{map[string]any{"labelName": "bruteforce"}}}},
			map[string]any{"order": 2, "actionType": "AddIncidentTask", "actionConfiguration": map[string]any{"title": "Reset the account's password"}},
			map[string]any{"order": 3, "actionType": "Webhook", "actionConfiguration": map[string]any{"url": receiver.URL + "/sealwatch", "secret": secret}},
		},
	}}
	var rule map[string]any
	if st := cs.call("PUT", cs.securityURL("automationRules/triage"), cs.mgmt, onCreated, &rule); st != 201 {
		t.Fatalf("create rule: %d %v", st, rule)
	}
	onEscalated := map[string]any{"properties": map[string]any{
		"displayName": "Escalated", "order": 2,
		"triggeringLogic": map[string]any{"isEnabled": true, "triggersOn": "Incidents", "triggersWhen": "Updated", "conditions": []any{
			map[string]any{"conditionType": "PropertyChanged", "conditionProperties": map[string]any{"propertyName": "IncidentSeverity", "changeType": "ChangedTo", "operator": "Equals", "propertyValues": []string{"High"}}},
		}},
		"actions": []any{
			// Were a rule's change an update that triggers rules, this
			// would run again on its own change.
			map[string]any{"order": 1, "actionType": "ModifyProperties", "actionConfiguration": map[string]any{"severity": "High", "labels": []any{map[string]any{"labelName": "escalated"}}}},
			map[string]any{"order": 2, "actionType": "AddIncidentTask", "actionConfiguration": map[string]any{"title": "Call the on-call lead"}},
		},
	}}
	if st := cs.call("PUT", cs.securityURL("automationRules/escalated"), cs.mgmt, onEscalated, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	var er struct {
		Error struct{ Code, Message string }
	}
	bad := map[string]any{"properties": map[string]any{"displayName": "x", "order": 1001, "triggeringLogic": map[string]any{}, "actions": []any{}}}
	if st := cs.call("PUT", cs.securityURL("automationRules/bad"), cs.mgmt, bad, &er); st != 400 || er.Error.Code != "BadRequest" || !strings.Contains(er.Error.Message, "properties.order") {
		t.Fatalf("a bad rule: %d %+v", st, er)
	}

	// The secret is never answered.
	for _, url := range []string{cs.securityURL("automationRules/triage"), cs.securityURL("automationRules")} {
		var raw json.RawMessage
		if st := cs.call("GET", url, cs.mgmt, nil, &raw); st != 200 || bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(`"secret"`)) {
			t.Fatalf("GET %s: %d %s", url, st, raw)
		}
	}
	if raw, _ := json.Marshal(rule); bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("the PUT answered the secret: %s", raw)
	}

	// A new incident: the created rule's actions, answered in the PUT.
	var inc struct {
		Etag       string
		Properties struct {
			Severity string
			Labels   []struct{ LabelName string }
		}
	}
	if st := cs.call("PUT", cs.incidentURL("i1"), cs.mgmt, map[string]any{"properties": map[string]any{"title": "brute force on dc01", "severity": "Low"}}, &inc); st != 201 ||
		len(inc.Properties.Labels) != 1 || inc.Properties.Labels[0].LabelName != "bruteforce" {
		t.Fatalf("create incident: %d %+v", st, inc)
	}
	select {
	case c := <-calls:
		var body struct {
			Event    string
			Incident struct{ Name string }
		}
		if c.err != nil || c.event != "IncidentCreated" || json.Unmarshal(c.body, &body) != nil || body.Incident.Name != "i1" {
			t.Fatalf("webhook: %v %s %s", c.err, c.event, c.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook was not called")
	}

	// An update to High: the Updated rule runs once, its own change
	// triggering nothing.
	if st := cs.call("PUT", cs.incidentURL("i1"), cs.mgmt, map[string]any{"etag": inc.Etag, "properties": map[string]any{
		"title": "brute force on dc01", "severity": "High", "labels": []any{map[string]any{"labelName": "bruteforce"}}}}, &inc); st != 200 ||
		len(inc.Properties.Labels) != 2 {
		t.Fatalf("update incident: %d %+v", st, inc)
	}
	var tasks struct {
		Value []struct {
			Properties struct {
				Title     string
				CreatedBy struct{ Name string }
			}
		}
	}
	if st := cs.call("GET", cs.securityURL("incidents/i1/tasks"), cs.mgmt, nil, &tasks); st != 200 || len(tasks.Value) != 2 ||
		tasks.Value[0].Properties.CreatedBy.Name != "Automation rule: Triage brute force" {
		t.Fatalf("tasks: %d %+v", st, tasks)
	}
	// A responder completes a task.
	if st := cs.call("PUT", cs.securityURL("incidents/i1/tasks/manual"), cs.mgmt, map[string]any{"properties": map[string]any{"title": "Check the VPN logs", "status": "Completed"}}, nil); st != 201 {
		t.Fatalf("put task: %d", st)
	}

	// The webhook's outcome lands in the incident's history once delivered.
	h := cs.waitHistory(t, "i1", "Webhook")
	if !strings.Contains(h, "delivered to "+receiver.URL+": 200") {
		t.Fatalf("history: %s", h)
	}
	// While the document-store principal has no access, rules are neither
	// changed nor read.
	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	for _, c := range []struct {
		method, url string
		body        any
	}{{"PUT", cs.securityURL("automationRules/escalated"), onEscalated}, {"GET", cs.securityURL("automationRules"), nil}} {
		if st := cs.call(c.method, c.url, cs.mgmt, c.body, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
			t.Fatalf("%s %s while revoked: %d %+v", c.method, c.url, st, er)
		}
	}
	cs.grant(docOID)
	cs.probe()

	if st := cs.call("DELETE", cs.securityURL("automationRules/triage"), cs.mgmt, nil, nil); st != 200 {
		t.Fatalf("delete rule: %d", st)
	}
	if st := cs.call("GET", cs.securityURL("automationRules/triage"), cs.mgmt, nil, &er); st != 404 {
		t.Fatalf("a deleted rule: %d", st)
	}

	// Nothing of the secret on disk.
	cs.stop()
	requireNoneUnder(t, cs.dir, map[string][]byte{"the webhook secret": []byte("5be1c0de")}, 0)
}

// waitHistory polls an incident's history (a delivery records its outcome
// in the background) until it has an entry of action, and returns its text.
func (cs *cmkSetup) waitHistory(t *testing.T, incidentID, action string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var raw json.RawMessage
		if st := cs.call("GET", cs.securityURL("incidents/"+incidentID+"/history"), cs.mgmt, nil, &raw); st != 200 {
			t.Fatalf("history: %d %s", st, raw)
		}
		hist := string(raw)
		if strings.Contains(hist, `"action":"`+action+`"`) {
			return hist
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s entry in the history of %s: %s", action, incidentID, hist)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
