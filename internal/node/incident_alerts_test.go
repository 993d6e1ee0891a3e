package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// raiseAlert raises an alert of rule into the secops workspace's incidents
// as the rule scheduler does, through the node's own document store.
func (cs *cmkSetup) raiseAlert(a *alert.Alert, rule string, g incident.Grouping) *incident.Incident {
	cs.t.Helper()
	ctx := context.Background()
	ws, err := cs.node.workspaces.Info(ctx, workspace.ResourceGroup{Subscription: cs.creds.TenantID, Group: "rg1"}, "secops")
	if err != nil {
		cs.t.Fatal(err)
	}
	docs, err := cs.node.data.Docs(ctx, ws)
	if err != nil {
		cs.t.Fatal(err)
	}
	inc, _, err := incident.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, nil).RaiseFromAlert(ctx, a, rule, g)
	if err != nil {
		cs.t.Fatalf("raise alert %s: %v", a.SystemAlertID, err)
	}
	return inc
}

// ruleAlert is an alert of rule "brute-force" about account and address.
func ruleAlert(t testing.TB, n int, account, address string) *alert.Alert {
	t.Helper()
	acc, err := alert.NewEntity("Account", map[string]string{"FullName": `CONTOSO\` + account})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := alert.NewEntity("IP", map[string]string{"Address": address})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	return &alert.Alert{
		SystemAlertID: fmt.Sprintf("7c0de5a1-0000-4000-8000-%012d", n), DisplayName: "Brute force then success", Severity: "High",
		Tactics: []string{"CredentialAccess"}, StartTime: now.Add(-10 * time.Minute), EndTime: now.Add(-time.Minute), TimeGenerated: now,
		RuleID: "brute-force", RuleName: "Brute force", Query: "SigninLogs | take 1", QueryStart: now.Add(-time.Hour), QueryEnd: now,
		Entities: []alert.Entity{acc, ip}, CustomDetails: map[string][]any{"Failures": {31}},
	}
}

// TestIncidentAlertsEntitiesAndHistoryOverHTTPS raises two alerts of one
// group as the scheduler would, then reads the incident, its alerts, its
// entities and its history over the API, as the cloud's clients do.
func TestIncidentAlertsEntitiesAndHistoryOverHTTPS(t *testing.T) {
	cs := setUpCMK(t)
	g := incident.Grouping{Enabled: true, Lookback: time.Hour, Method: incident.MatchSelected, ByEntities: []string{"Account"}}
	first := cs.raiseAlert(ruleAlert(t, 1, "alice", "10.0.0.7"), "brute-force", g)
	if again := cs.raiseAlert(ruleAlert(t, 2, "ALICE", "10.0.0.8"), "brute-force", g); again.Name != first.Name {
		t.Fatal("the second alert of the group made another incident")
	}

	var inc struct {
		Etag       string
		Properties map[string]any
	}
	if st := cs.call("GET", cs.incidentURL(first.Name), cs.mgmt, nil, &inc); st != 200 {
		t.Fatalf("get incident: %d", st)
	}
	add, _ := inc.Properties["additionalData"].(map[string]any)
	rules, _ := inc.Properties["relatedAnalyticRuleIds"].([]any)
	if add["alertsCount"] != 2.0 || add["bookmarksCount"] != 0.0 || add["commentsCount"] != 0.0 || inc.Properties["providerName"] != "Azure Sentinel" ||
		len(rules) != 1 || !strings.HasSuffix(rules[0].(string), "/providers/Microsoft.SecurityInsights/alertRules/brute-force") ||
		inc.Properties["title"] != "Brute force then success" {
		t.Fatalf("incident properties: %v", inc.Properties)
	}

	for _, method := range []string{"POST", "GET"} {
		var alerts struct {
			Value []struct {
				Name, Kind string
				Properties map[string]any
			}
		}
		if st := cs.call(method, cs.incidentURL(first.Name+"/alerts"), cs.mgmt, nil, &alerts); st != 200 || len(alerts.Value) != 2 {
			t.Fatalf("%s alerts: %d %+v", method, st, alerts)
		}
		if a := alerts.Value[0]; a.Kind != "SecurityAlert" || a.Name != "7c0de5a1-0000-4000-8000-000000000001" ||
			a.Properties["alertDisplayName"] != "Brute force then success" || a.Properties["productName"] != "Azure Sentinel" {
			t.Fatalf("%s alerts: first is %+v", method, a)
		}
		var ents struct {
			Entities []struct {
				Kind       string
				Properties map[string]any
			}
			MetaData []struct {
				Count      int
				EntityKind string
			}
		}
		if st := cs.call(method, cs.incidentURL(first.Name+"/entities"), cs.mgmt, nil, &ents); st != 200 || len(ents.Entities) != 3 {
			t.Fatalf("%s entities: %d %+v", method, st, ents)
		}
		if fmt.Sprint(ents.MetaData) != "[{1 Account} {2 Ip}]" || ents.Entities[0].Properties["accountName"] != "alice" || ents.Entities[0].Properties["ntDomain"] != "CONTOSO" {
			t.Fatalf("%s entities: %+v", method, ents)
		}
	}

	// A user's change keeps the links and lands in the history, under the
	// caller's object ID.
	inc.Properties["status"] = "Active"
	if st := cs.call("PUT", cs.incidentURL(first.Name), cs.mgmt, map[string]any{"etag": inc.Etag, "properties": inc.Properties}, nil); st != 200 {
		t.Fatalf("update: %d", st)
	}
	var alerts struct{ Value []any }
	if cs.call("GET", cs.incidentURL(first.Name+"/alerts"), cs.mgmt, nil, &alerts); len(alerts.Value) != 2 {
		t.Fatal("a PUT erased the incident's alerts")
	}
	var hist struct {
		Value []struct{ Actor, Action, Detail string }
	}
	if st := cs.call("GET", cs.incidentURL(first.Name+"/history"), cs.mgmt, nil, &hist); st != 200 || len(hist.Value) != 3 {
		t.Fatalf("history: %d %+v", st, hist)
	}
	h := hist.Value
	if h[0].Action != "Created" || h[0].Actor != "rule:brute-force" || h[1].Action != "AlertAdded" ||
		h[2].Action != "Modified" || h[2].Actor != cs.objectIDOf(cs.creds.ClientID) || !strings.Contains(h[2].Detail, "Active") {
		t.Fatalf("history: %+v", h)
	}

	// Readers read them; an incident that is not there is 404.
	app, secret, _ := cs.node.identity.CreateApplication(context.Background(), "analyst")
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Reader", "principalId": app.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/r1"), cs.mgmt, assign, nil); st != 201 {
		t.Fatalf("assign Reader: %d", st)
	}
	reader := cs.token(app.AppID, secret, "https://management.azure.com/.default")
	var er struct {
		Error struct{ Code, Message string }
	}
	for _, sub := range []string{"/alerts", "/entities", "/history"} {
		if st := cs.call("GET", cs.incidentURL(first.Name+sub), reader, nil, nil); st != 200 {
			t.Errorf("reader GET %s: %d", sub, st)
		}
		if st := cs.call("GET", cs.incidentURL("missing"+sub), cs.mgmt, nil, &er); st != 404 || er.Error.Code != "NotFound" {
			t.Errorf("GET %s of a missing incident: %d %+v", sub, st, er)
		}
	}

	// Once the document-store principal loses access, nothing is read and
	// no alert is raised.
	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	for _, sub := range []string{"/alerts", "/entities", "/history"} {
		if st := cs.call("GET", cs.incidentURL(first.Name+sub), cs.mgmt, nil, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
			t.Errorf("%s while revoked: %d %+v", sub, st, er)
		}
	}
	ctx := context.Background()
	ws, err := cs.node.workspaces.Info(ctx, workspace.ResourceGroup{Subscription: cs.creds.TenantID, Group: "rg1"}, "secops")
	if err != nil {
		t.Fatal(err)
	}
	if docs, err := cs.node.data.Docs(ctx, ws); err == nil {
		_, _, err = incident.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, nil).RaiseFromAlert(ctx, ruleAlert(t, 3, "bob", "10.0.0.9"), "brute-force", g)
		if err == nil {
			t.Fatal("an alert was raised while the key was revoked")
		}
	}
}
