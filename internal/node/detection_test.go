package node

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// signinDCR creates a data collection rule sending stream Custom-Signins to
// the workspace's table Signins_CL, and returns its immutable ID and an
// ingestion token.
func (cs *cmkSetup) signinDCR() (string, string) {
	cs.t.Helper()
	cols := []map[string]string{{"name": "TimeGenerated", "type": "datetime"}, {"name": "UserPrincipalName", "type": "string"},
		{"name": "IPAddress", "type": "string"}, {"name": "ResultType", "type": "string"}}
	id := cs.streamDCR(cs.t, "signins-dcr", "Custom-Signins", cs.workspace["id"].(string), cols)
	return id, cs.ingestor("signins-dcr", "signin-shipper")
}

// bruteForce is n failed sign-ins of user from ip, then a success.
func bruteForce(user, ip string, n int) []map[string]any {
	now := time.Now().UTC()
	var rows []map[string]any
	for i := range n {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(time.Duration(i-n-1) * time.Second).Format(time.RFC3339Nano),
			"UserPrincipalName": user, "IPAddress": ip, "ResultType": "50126"})
	}
	return append(rows, map[string]any{"TimeGenerated": now.Format(time.RFC3339Nano), "UserPrincipalName": user, "IPAddress": ip, "ResultType": "0"})
}

const bruteForceQuery = `let failures = Signins_CL
| where ResultType != "0"
| summarize Failures = count(), FirstFailure = min(TimeGenerated) by UserPrincipalName, IPAddress
| where Failures >= 5;
Signins_CL
| where ResultType == "0"
| join kind=inner failures on UserPrincipalName, IPAddress
| where TimeGenerated > FirstFailure
| summarize Failures = max(Failures), SuccessAt = max(TimeGenerated) by UserPrincipalName, IPAddress`

// TestPlantedBruteForceRaisesAnIncidentWithItsEntities runs the scheduler
// in a real node: planted events raise an alert in SecurityAlert, an
// incident with the account and the address as entities, which an
// automation rule labels, and a health record — on the rule's first run,
// well within one frequency. While the
// key is revoked nothing runs; after it is restored the pause is on record.
func TestPlantedBruteForceRaisesAnIncidentWithItsEntities(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond})
	immutableID, tok := cs.signinDCR()
	ingest := func(rows []map[string]any) {
		t.Helper()
		var er map[string]any
		if st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+immutableID+"/streams/Custom-Signins?api-version=2023-01-01", tok, rows, &er); st != 204 {
			t.Fatalf("ingest: %d %v", st, er)
		}
	}
	ingest(bruteForce("alice@contoso.com", "203.0.113.7", 6))
	ingest(bruteForce("bob@contoso.com", "198.51.100.2", 2)) // too few failures

	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Brute force then success", "severity": "High", "enabled": true, "query": bruteForceQuery,
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
		"tactics": []string{"CredentialAccess"}, "techniques": []string{"T1110"},
		"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"},
		"customDetails":         map[string]string{"Failures": "Failures"},
		"entityMappings": []map[string]any{
			{"entityType": "Account", "fieldMappings": []map[string]string{{"identifier": "FullName", "columnName": "UserPrincipalName"}}},
			{"entityType": "IP", "fieldMappings": []map[string]string{{"identifier": "Address", "columnName": "IPAddress"}}},
		},
		"alertDetailsOverride": map[string]any{"alertDisplayNameFormat": "Brute force then success for {{UserPrincipalName}}"},
		"incidentConfiguration": map[string]any{"createIncident": true, "groupingConfiguration": map[string]any{
			"enabled": true, "matchingMethod": "AllEntities", "lookbackDuration": "PT5H"}},
	}}
	// an automation rule labels the incidents the rule raises
	label := map[string]any{"properties": map[string]any{
		"displayName": "Label brute force", "order": 1,
		"triggeringLogic": map[string]any{"isEnabled": true, "triggersOn": "Incidents", "triggersWhen": "Created", "conditions": []any{
			map[string]any{"conditionType": "Property", "conditionProperties": map[string]any{"propertyName": "IncidentRelatedAnalyticRuleIds", "operator": "Contains", "propertyValues": []string{"brute-force"}}},
		}},
		"actions": []any{map[string]any{"order": 1, "actionType": "ModifyProperties", "actionConfiguration": map[string]any{"labels": []any{map[string]any{"labelName": "credential-attack"}}}}},
	}}
	if st := cs.call("PUT", cs.securityURL("automationRules/label"), cs.mgmt, label, nil); st != 201 {
		t.Fatalf("create automation rule: %d", st)
	}
	if st := cs.call("PUT", cs.alertRuleURL("/brute-force"), cs.mgmt, rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}

	type incidentList struct {
		Value []struct {
			Name       string
			Properties struct {
				Title, Severity string
				AdditionalData  struct{ AlertsCount int }
				Labels          []struct{ LabelName string }
			}
		}
	}
	var incs incidentList
	defer func() {
		if t.Failed() {
			var out map[string]any
			customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
			cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
				map[string]string{"query": "SentinelHealth | project Status, Description, tostring(ExtendedProperties.Error)"}, &out)
			t.Logf("health: %v", out)
		}
	}()
	waitFor(t, 20*time.Second, "the rule's incident, labelled by the automation rule", func() bool {
		cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/incidents"), cs.mgmt, nil, &incs)
		return len(incs.Value) > 0 && len(incs.Value[0].Properties.Labels) > 0
	})
	inc := incs.Value[0]
	if len(incs.Value) != 1 || inc.Properties.Title != "Brute force then success for alice@contoso.com" || inc.Properties.Severity != "High" || inc.Properties.AdditionalData.AlertsCount != 1 ||
		inc.Properties.Labels[0].LabelName != "credential-attack" {
		t.Fatalf("incidents: %+v", incs.Value)
	}
	var ents struct {
		Entities []struct {
			Kind       string
			Properties map[string]any
		}
	}
	if st := cs.call("POST", cs.incidentURL(inc.Name+"/entities"), cs.mgmt, nil, &ents); st != 200 {
		t.Fatalf("entities: %d", st)
	}
	var kinds []string
	for _, e := range ents.Entities {
		kinds = append(kinds, fmt.Sprintf("%s:%v%v", e.Kind, e.Properties["accountName"], e.Properties["address"]))
	}
	slices.Sort(kinds)
	if want := []string{"Account:alice<nil>", "Ip:<nil>203.0.113.7"}; !slices.Equal(kinds, want) {
		t.Fatalf("entities %v, want %v", kinds, want)
	}
	// the alert's row and the run's health record are written just after the incident
	waitFor(t, 20*time.Second, "the alert in SecurityAlert", func() bool {
		st, n, _ := cs.queryStatus(`SecurityAlert | where AlertName == "Brute force then success for alice@contoso.com" | count`, "")
		return st == 200 && n == 1.0
	})
	waitFor(t, 20*time.Second, "the run's health record", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "brute-force" and Status == "Success" and ExtendedProperties.AlertsGenerated == 1 | count`, "")
		return st == 200 && n == 1.0
	})

	// Revoke: the scheduler pauses; restored, it records the pause and resumes.
	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	kid := key["key"].(map[string]any)["kid"].(string)
	version := kid[strings.LastIndexByte(kid, '/')+1:]
	cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": false}}, nil)
	cs.probe()
	waitFor(t, 20*time.Second, "a paused workspace in the metrics", func() bool { return cs.metric("sealwatch_rule_paused_workspaces 1") })
	cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": true}}, nil)
	cs.probe()
	waitFor(t, 20*time.Second, "a health record of the pause", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "brute-force" and ExtendedProperties.Outcome == "skipped" | count`, "")
		return st == 200 && n.(float64) >= 1
	})
	waitFor(t, 20*time.Second, "no paused workspace in the metrics", func() bool { return cs.metric("sealwatch_rule_paused_workspaces 0") })
}

// metric reports whether /metrics has a line starting with line.
func (cs *cmkSetup) metric(line string) bool {
	cs.t.Helper()
	req, _ := http.NewRequest("GET", cs.creds.Endpoint+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cs.mgmt)
	resp, err := cs.client.Do(req)
	if err != nil {
		cs.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, line) {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
