package automation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/incident"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const wsResource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"

// env is one workspace's rules and incidents over one document store.
type env struct {
	t     testing.TB
	rules *Rules
	incs  *incident.Incidents
	docs  *docstore.Store
	keys  *envelopetest.Keys
	hooks *Webhooks
	now   time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	keys := envelopetest.New("doc-aek")
	docs, _ := docstoretest.Open(t, keys)
	e := &env{t: t, docs: docs, keys: keys, now: testNow}
	clock := func() time.Time { return e.now }
	e.hooks = NewWebhooks(WebhookOptions{Backoff: time.Millisecond})
	t.Cleanup(func() { e.hooks.Close() })
	e.rules = New(docs, "ws-1", wsResource, e.hooks, NewCache(), clock)
	e.incs = incident.New(docs, "ws-1", wsResource, clock)
	return e
}

// put saves a rule or fails the test.
func (e *env) put(id string, props map[string]any) *Rule {
	e.t.Helper()
	raw, _ := json.Marshal(props)
	r, _, err := e.rules.Put(context.Background(), id, raw, "", "user-1")
	if err != nil {
		e.t.Fatalf("put rule %s: %v", id, err)
	}
	return r
}

// incident creates an incident and returns it.
func (e *env) incident(id string, p incident.Properties) *incident.Incident {
	e.t.Helper()
	inc, _, err := e.incs.Put(context.Background(), id, p, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

// created runs the rules on a new incident and returns it as they left it.
func (e *env) created(inc *incident.Incident) *incident.Incident {
	e.t.Helper()
	if err := e.rules.OnIncident(context.Background(), e.incs, Event{When: Created, Incident: inc}); err != nil {
		e.t.Fatal(err)
	}
	return e.get(inc.Name)
}

func (e *env) get(id string) *incident.Incident {
	e.t.Helper()
	inc, err := e.incs.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

// ruleHistory is an incident's history entries made by automation rules.
func (e *env) ruleHistory(id string) []incident.HistoryEntry {
	e.t.Helper()
	h, err := e.incs.History(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.DeleteFunc(h, func(x incident.HistoryEntry) bool {
		return !strings.HasPrefix(x.Actor, "automation:") || x.Action == incident.ActionModified
	})
}

func prop(name, op string, vals ...string) map[string]any {
	return map[string]any{"conditionType": "Property", "conditionProperties": map[string]any{"propertyName": name, "operator": op, "propertyValues": vals}}
}

func modify(order int, cfg map[string]any) map[string]any {
	return map[string]any{"order": order, "actionType": "ModifyProperties", "actionConfiguration": cfg}
}

func task(order int, title string) map[string]any {
	return map[string]any{"order": order, "actionType": "AddIncidentTask", "actionConfiguration": map[string]any{"title": title, "description": "check the sign-ins"}}
}

func webhook(order int, url, secret string) map[string]any {
	return map[string]any{"order": order, "actionType": "Webhook", "actionConfiguration": map[string]any{"url": url, "secret": secret}}
}

// rule is a valid rule on incidents created; tests change what they test.
func rule(order int, conds []any, actions ...map[string]any) map[string]any {
	acts := make([]any, len(actions))
	for i, a := range actions {
		acts[i] = a
	}
	return map[string]any{
		"displayName": "Triage brute force",
		"order":       order,
		"triggeringLogic": map[string]any{
			"isEnabled": true, "triggersOn": "Incidents", "triggersWhen": "Created", "conditions": conds,
		},
		"actions": acts,
	}
}

func logic(m map[string]any) map[string]any { return m["triggeringLogic"].(map[string]any) }

func firstCond(m map[string]any) map[string]any {
	return logic(m)["conditions"].([]any)[0].(map[string]any)["conditionProperties"].(map[string]any)
}

func firstAction(m map[string]any) map[string]any {
	return m["actions"].([]any)[0].(map[string]any)
}

func TestBadRulesAreRefusedNamingTheField(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret"
	cases := []struct {
		name   string
		change func(m map[string]any)
		want   string
	}{
		{"no display name", func(m map[string]any) { delete(m, "displayName") }, "properties.displayName is required"},
		{"order 0", func(m map[string]any) { m["order"] = 0 }, "properties.order is required"},
		{"order above 1000", func(m map[string]any) { m["order"] = 1001 }, "properties.order is required: a whole number from 1 to 1000"},
		{"order not a number", func(m map[string]any) { m["order"] = "ten" }, "order must be a JSON integer"},
		{"unknown field", func(m map[string]any) { m["priority"] = 1 }, `unknown field "priority"`},
		{"isEnabled missing", func(m map[string]any) { delete(logic(m), "isEnabled") }, "triggeringLogic.isEnabled is required"},
		{"triggersOn unknown", func(m map[string]any) { logic(m)["triggersOn"] = "Entities" }, "triggeringLogic.triggersOn must be one of"},
		{"triggersWhen unknown", func(m map[string]any) { logic(m)["triggersWhen"] = "Deleted" }, "triggeringLogic.triggersWhen must be one of"},
		{"alerts are never updated", func(m map[string]any) {
			logic(m)["triggersOn"], logic(m)["triggersWhen"] = "Alerts", "Updated"
		}, "triggersWhen must be Created when triggersOn is Alerts"},
		{"expiration not a time", func(m map[string]any) { logic(m)["expirationTimeUtc"] = "tomorrow" }, "triggeringLogic.expirationTimeUtc 'tomorrow' is not an RFC 3339 time"},
		{"condition type unknown", func(m map[string]any) {
			logic(m)["conditions"].([]any)[0].(map[string]any)["conditionType"] = "PropertyArray"
		}, "conditions[0].conditionType must be one of"},
		{"entity property not evaluated", func(m map[string]any) { firstCond(m)["propertyName"] = "AccountName" }, "conditions[0].conditionProperties.propertyName must be one of"},
		{"operator unknown", func(m map[string]any) { firstCond(m)["operator"] = "Matches" }, "conditions[0].conditionProperties.operator must be one of"},
		{"no values", func(m map[string]any) { firstCond(m)["propertyValues"] = []string{} }, "conditionProperties.propertyValues needs 1-100 values"},
		{"empty value", func(m map[string]any) { firstCond(m)["propertyValues"] = []string{""} }, "conditionProperties.propertyValues[0] must be 1-1024 characters"},
		{"field of another condition type", func(m map[string]any) { firstCond(m)["arrayType"] = "Labels" }, "conditionProperties.arrayType is not a field of a Property condition"},
		{"property changed on created", func(m map[string]any) {
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "PropertyChanged", "conditionProperties": map[string]any{"propertyName": "IncidentStatus", "changeType": "ChangedTo"}}}
		}, "a PropertyChanged condition needs triggersWhen Updated"},
		{"property changed on the title", func(m map[string]any) {
			logic(m)["triggersWhen"] = "Updated"
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "PropertyChanged", "conditionProperties": map[string]any{"propertyName": "IncidentTitle", "changeType": "ChangedTo"}}}
		}, "propertyName must be one of IncidentSeverity, IncidentStatus, IncidentOwner"},
		{"change type unknown", func(m map[string]any) {
			logic(m)["triggersWhen"] = "Updated"
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "PropertyChanged", "conditionProperties": map[string]any{"propertyName": "IncidentStatus", "changeType": "Changed"}}}
		}, "conditionProperties.changeType must be one of ChangedFrom, ChangedTo"},
		{"property changed with values but no operator", func(m map[string]any) {
			logic(m)["triggersWhen"] = "Updated"
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "PropertyChanged", "conditionProperties": map[string]any{"propertyName": "IncidentStatus", "changeType": "ChangedTo", "propertyValues": []string{"Closed"}}}}
		}, "conditionProperties.operator must be one of"},
		{"array type unknown", func(m map[string]any) {
			logic(m)["triggersWhen"] = "Updated"
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "PropertyArrayChanged", "conditionProperties": map[string]any{"arrayType": "Entities", "changeType": "Added"}}}
		}, "conditionProperties.arrayType must be one of Alerts, Labels, Tactics, Comments"},
		{"array removed", func(m map[string]any) {
			logic(m)["triggersWhen"] = "Updated"
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "PropertyArrayChanged", "conditionProperties": map[string]any{"arrayType": "Labels", "changeType": "Removed"}}}
		}, "conditionProperties.changeType must be Added"},
		{"boolean of one", func(m map[string]any) {
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "Or", "innerConditions": []any{prop("IncidentSeverity", "Equals", "High")}}}}
		}, "conditions[0].conditionProperties.innerConditions needs at least 2"},
		{"boolean xor", func(m map[string]any) {
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "Xor", "innerConditions": []any{prop("IncidentSeverity", "Equals", "High"), prop("IncidentSeverity", "Equals", "Low")}}}}
		}, "operator must be And or Or"},
		{"boolean nested too deep", func(m map[string]any) {
			c := any(prop("IncidentSeverity", "Equals", "High"))
			for range 4 {
				c = map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "And", "innerConditions": []any{c, prop("IncidentStatus", "Equals", "New")}}}
			}
			logic(m)["conditions"] = []any{c}
		}, "Boolean conditions nest at most 3 deep"},
		{"an inner condition is bad", func(m map[string]any) {
			logic(m)["conditions"] = []any{map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "Or", "innerConditions": []any{prop("IncidentSeverity", "Equals", "High"), prop("IncidentSeverity", "Like", "Low")}}}}
		}, "conditions[0].conditionProperties.innerConditions[1].conditionProperties.operator must be one of"},
		{"no actions", func(m map[string]any) { m["actions"] = []any{} }, "properties.actions needs 1-20 actions"},
		{"two actions with one order", func(m map[string]any) {
			m["actions"] = []any{task(1, "a"), task(1, "b")}
		}, "properties.actions[1].order 1 is also the order of actions[0]"},
		{"action order 0", func(m map[string]any) { firstAction(m)["order"] = 0 }, "properties.actions[0].order is required"},
		{"playbook", func(m map[string]any) {
			m["actions"] = []any{map[string]any{"order": 1, "actionType": "RunPlaybook", "actionConfiguration": map[string]any{}}}
		}, "RunPlaybook needs the cloud's playbook service; use a Webhook action"},
		{"playbook fields", func(m map[string]any) {
			m["actions"] = []any{map[string]any{"order": 1, "actionType": "RunPlaybook", "actionConfiguration": map[string]any{"logicAppResourceId": "x"}}}
		}, `unknown field "logicAppResourceId"`},
		{"action type unknown", func(m map[string]any) { firstAction(m)["actionType"] = "SendMail" }, "properties.actions[0].actionType must be one of"},
		{"modify nothing", func(m map[string]any) { firstAction(m)["actionConfiguration"] = map[string]any{} }, "actions[0].actionConfiguration changes nothing"},
		{"modify to a bad severity", func(m map[string]any) {
			firstAction(m)["actionConfiguration"] = map[string]any{"severity": "Critical"}
		}, "actions[0].actionConfiguration.severity must be one of"},
		{"close without classification", func(m map[string]any) {
			firstAction(m)["actionConfiguration"] = map[string]any{"status": "Closed"}
		}, "closing an incident needs a classification"},
		{"true positive without reason", func(m map[string]any) {
			firstAction(m)["actionConfiguration"] = map[string]any{"status": "Closed", "classification": "TruePositive"}
		}, "classification TruePositive needs classificationReason SuspiciousActivity"},
		{"classification without closing", func(m map[string]any) {
			firstAction(m)["actionConfiguration"] = map[string]any{"status": "Active", "classification": "FalsePositive"}
		}, "go with status Closed"},
		{"owner of no one", func(m map[string]any) {
			firstAction(m)["actionConfiguration"] = map[string]any{"owner": map[string]any{"ownerType": "User"}}
		}, "actionConfiguration.owner names no one"},
		{"label type unknown", func(m map[string]any) {
			firstAction(m)["actionConfiguration"] = map[string]any{"labels": []any{map[string]any{"labelName": "x", "labelType": "System"}}}
		}, "actionConfiguration.labels[0].labelType must be one of"},
		{"task without title", func(m map[string]any) { m["actions"] = []any{task(1, " ")} }, "actions[0].actionConfiguration.title is required"},
		{"task with a url", func(m map[string]any) {
			a := task(1, "t")
			a["actionConfiguration"].(map[string]any)["url"] = "https://example.com"
			m["actions"] = []any{a}
		}, "actionConfiguration.url is not a field of a AddIncidentTask action"},
		{"webhook over http to another host", func(m map[string]any) {
			m["actions"] = []any{webhook(1, "http://hooks.example.com/x", secret)}
		}, "actions[0].actionConfiguration.url must use https"},
		{"webhook over ftp", func(m map[string]any) { m["actions"] = []any{webhook(1, "ftp://hooks.example.com/x", secret)} }, "url must be an https URL, not ftp"},
		{"webhook with credentials in the url", func(m map[string]any) {
			m["actions"] = []any{webhook(1, "https://bob:pa55word@hooks.example.com/x", secret)}
		}, "url must not hold a user name or password"},
		{"webhook relative url", func(m map[string]any) { m["actions"] = []any{webhook(1, "/hooks", secret)} }, "url must be an absolute URL"},
		{"webhook without url", func(m map[string]any) { m["actions"] = []any{webhook(1, "", secret)} }, "url is required"},
		{"webhook short secret", func(m map[string]any) {
			m["actions"] = []any{webhook(1, "https://hooks.example.com/x", "short")}
		}, "actions[0].actionConfiguration.secret is required, 16-512 characters"},
		{"alert rule that modifies", func(m map[string]any) {
			logic(m)["triggersOn"] = "Alerts"
			logic(m)["conditions"] = []any{}
		}, "a rule on Alerts can only have Webhook actions"},
		{"alert rule on an incident property", func(m map[string]any) {
			logic(m)["triggersOn"] = "Alerts"
			m["actions"] = []any{webhook(1, "https://hooks.example.com/x", secret)}
		}, "propertyName must be one of AlertProductNames, AlertAnalyticRuleIds for a rule on Alerts"},
	}
	e := newEnv(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := rule(5, []any{prop("IncidentTitle", "Contains", "brute")}, modify(1, map[string]any{"severity": "High"}))
			c.change(m)
			raw, _ := json.Marshal(m)
			_, _, err := e.rules.Put(context.Background(), "r1", raw, "", "user-1")
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal containing %q", err, c.want)
			}
			for _, leak := range []string{secret, "pa55word"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("the refusal repeats a secret: %v", err)
				}
			}
			if _, err := e.rules.Get(context.Background(), "r1"); fault.KindOf(err) != fault.NotFound {
				t.Fatalf("a refused rule was stored: %v", err)
			}
		})
	}
	for _, body := range []string{"", "null", "[]", `{"displayName":"x"} {}`} {
		if _, _, err := e.rules.Put(context.Background(), "r1", json.RawMessage(body), "", "u"); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("properties %q: %v", body, err)
		}
	}
}

func TestRuleRoundTripNeverHandsOutTheSecret(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const secret = "webhook-secret-0123456789"
	props := rule(7, nil, webhook(1, "https://hooks.example.com/sealwatch", secret), task(2, "Reset the password"))
	created := e.put("r1", props)
	if created.Name != "r1" || created.Type != ResourceType || !strings.HasSuffix(created.ID, "/providers/Microsoft.SecurityInsights/automationRules/r1") ||
		created.Properties.CreatedBy.ObjectID != "user-1" || !created.Properties.CreatedTimeUtc.Equal(testNow) {
		t.Fatalf("created: %+v", created)
	}
	got, err := e.rules.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.rules.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	for what, r := range map[string]*Rule{"put": created, "get": got, "list": &list[0]} {
		raw, _ := json.Marshal(r)
		if strings.Contains(string(raw), secret) || strings.Contains(string(raw), `"secret"`) {
			t.Fatalf("%s hands out the secret: %s", what, raw)
		}
		if r.Properties.Actions[0].ActionConfiguration.URL != "https://hooks.example.com/sealwatch" {
			t.Fatalf("%s lost the url: %s", what, raw)
		}
	}
	stored, _ := e.rules.get(ctx, "r1")
	if stored.Properties.Actions[0].ActionConfiguration.Secret != secret {
		t.Fatal("the secret was not stored")
	}

	// A rule read back is PUT again with its secret; without it, refused.
	e.now = testNow.Add(time.Hour)
	back, _ := json.Marshal(got.Properties)
	if _, _, err := e.rules.Put(ctx, "r1", back, got.Etag, "user-2"); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "write-only") {
		t.Fatalf("a PUT without the secret: %v", err)
	}
	got.Properties.Actions[0].ActionConfiguration.Secret = secret
	back, _ = json.Marshal(got.Properties)
	updated, isNew, err := e.rules.Put(ctx, "r1", back, got.Etag, "user-2")
	if err != nil || isNew || !updated.Properties.CreatedTimeUtc.Equal(testNow) || updated.Properties.CreatedBy.ObjectID != "user-1" ||
		updated.Properties.LastModifiedBy.ObjectID != "user-2" || updated.Etag == got.Etag {
		t.Fatalf("update: %v %v %+v", err, isNew, updated)
	}
	if _, _, err := e.rules.Put(ctx, "r1", back, got.Etag, "user-2"); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("a stale etag: %v", err)
	}
	if _, _, err := e.rules.Put(ctx, "r2", back, `"abc"`, "user-2"); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("an etag on a rule that does not exist: %v", err)
	}
	if err := e.rules.Delete(ctx, "r1", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.rules.Delete(ctx, "r1", ""); err != nil {
		t.Fatalf("deleting a deleted rule: %v", err)
	}
	if _, err := e.rules.Get(ctx, "r1"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get a deleted rule: %v", err)
	}
	if _, err := e.rules.Get(ctx, "../r1"); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a bad ID: %v", err)
	}
}

func TestEachOperator(t *testing.T) {
	cases := []struct {
		op   string
		have []string
		want []string
		hit  bool
	}{
		{"Equals", []string{"High"}, []string{"low", "high"}, true},
		{"Equals", []string{"High"}, []string{"Hi"}, false},
		{"NotEquals", []string{"High"}, []string{"Low", "Medium"}, true},
		{"NotEquals", []string{"High"}, []string{"HIGH"}, false},
		{"Contains", []string{"Brute force on dc01"}, []string{"FORCE"}, true},
		{"Contains", []string{"Brute force on dc01"}, []string{"phish"}, false},
		{"NotContains", []string{"Brute force on dc01"}, []string{"phish"}, true},
		{"NotContains", []string{"Brute force on dc01"}, []string{"dc0"}, false},
		{"StartsWith", []string{"Brute force"}, []string{"x", "brute"}, true},
		{"StartsWith", []string{"Brute force"}, []string{"force"}, false},
		{"NotStartsWith", []string{"Brute force"}, []string{"force"}, true},
		{"NotStartsWith", []string{"Brute force"}, []string{"BRU"}, false},
		{"EndsWith", []string{"Brute force"}, []string{"Force"}, true},
		{"EndsWith", []string{"Brute force"}, []string{"brute"}, false},
		{"NotEndsWith", []string{"Brute force"}, []string{"brute"}, true},
		{"NotEndsWith", []string{"Brute force"}, []string{"rce"}, false},
		// A list property (labels, tactics) matches when any item does; its
		// Not form when none does.
		{"Equals", []string{"phishing", "vip"}, []string{"VIP"}, true},
		{"NotEquals", []string{"phishing", "vip"}, []string{"vip"}, false},
		// An empty property matches no positive operator and every Not.
		{"Equals", nil, []string{"x"}, false},
		{"NotEquals", nil, []string{"x"}, true},
		{"Contains", nil, []string{"x"}, false},
		{"NotContains", nil, []string{"x"}, true},
	}
	for _, c := range cases {
		t.Run(c.op+" "+strings.Join(c.have, ",")+" "+strings.Join(c.want, ","), func(t *testing.T) {
			if got := compare(c.op, c.have, c.want); got != c.hit {
				t.Fatalf("compare(%s, %q, %q) = %v", c.op, c.have, c.want, got)
			}
		})
	}
}

// TestConditionsReadTheIncident runs one rule per condition on a new
// incident and checks which ran.
func TestConditionsReadTheIncident(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		cond map[string]any
		hit  bool
	}{
		{"title", prop("IncidentTitle", "StartsWith", "brute"), true},
		{"description", prop("IncidentDescription", "Contains", "dc01"), true},
		{"severity", prop("IncidentSeverity", "Equals", "Medium"), true},
		{"severity not", prop("IncidentSeverity", "NotEquals", "Medium"), false},
		{"status", prop("IncidentStatus", "Equals", "New"), true},
		{"owner by object ID", prop("IncidentOwner", "Equals", "oid-7"), true},
		{"owner by UPN", prop("IncidentOwner", "EndsWith", "@contoso.com"), true},
		{"label", prop("IncidentLabel", "Equals", "vip"), true},
		{"no such label", prop("IncidentLabel", "Equals", "phishing"), false},
		{"tactics the incident does not carry", prop("IncidentTactics", "Equals", "CredentialAccess"), false},
		{"provider", prop("IncidentProviderName", "Equals", "Azure Sentinel"), true},
		{"no analytic rule", prop("IncidentRelatedAnalyticRuleIds", "Contains", "rule"), false},
		{"and", map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "And",
			"innerConditions": []any{prop("IncidentSeverity", "Equals", "Medium"), prop("IncidentLabel", "Equals", "phishing")}}}, false},
		{"or", map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "Or",
			"innerConditions": []any{prop("IncidentSeverity", "Equals", "High"), prop("IncidentLabel", "Equals", "vip")}}}, true},
	}
	for i, c := range cases {
		e.put("r"+string(rune('a'+i)), rule(i+1, []any{c.cond}, modify(1, map[string]any{"labels": []any{map[string]any{"labelName": c.name}}})))
	}
	inc := e.created(e.incident("i1", incident.Properties{Title: "Brute force", Description: "on dc01", Severity: "Medium",
		Owner: incident.Owner{ObjectID: "oid-7", UserPrincipalName: "ana@contoso.com"}, Labels: []incident.Label{{LabelName: "vip"}}}))
	for _, c := range cases {
		got := slices.ContainsFunc(inc.Properties.Labels, func(l incident.Label) bool { return l.LabelName == c.name })
		if got != c.hit {
			t.Errorf("condition %q: ran %v, want %v", c.name, got, c.hit)
		}
	}
}

func TestRulesRunInOrderThenByNameAndSeeEarlierChanges(t *testing.T) {
	e := newEnv(t)
	// Saved out of order: "late" (order 20) needs the severity "first"
	// (order 10) sets; "b-tie" and "a-tie" share order 15.
	e.put("late", rule(20, []any{prop("IncidentSeverity", "Equals", "High")}, task(1, "after escalation")))
	e.put("b-tie", rule(15, nil, task(1, "b")))
	e.put("a-tie", rule(15, nil, task(1, "a")))
	e.put("first", rule(10, nil, modify(2, map[string]any{"severity": "High"}), task(1, "before escalation")))
	inc := e.created(e.incident("i1", incident.Properties{Title: "t", Severity: "Low"}))
	if inc.Properties.Severity != "High" {
		t.Fatalf("severity %s", inc.Properties.Severity)
	}
	var got []string
	for _, h := range e.ruleHistory("i1") {
		got = append(got, h.Actor+" "+h.Action)
	}
	want := []string{"automation:first AddIncidentTask", "automation:first ModifyProperties", "automation:a-tie AddIncidentTask",
		"automation:b-tie AddIncidentTask", "automation:late AddIncidentTask"}
	if !slices.Equal(got, want) {
		t.Fatalf("history:\n%q\nwant\n%q", got, want)
	}
	tasks, err := e.incs.Tasks(context.Background(), "i1")
	if err != nil || len(tasks) != 4 {
		t.Fatalf("tasks: %v %+v", err, tasks)
	}
}

func TestDisabledExpiredAndOtherTriggerRulesDoNotRun(t *testing.T) {
	e := newEnv(t)
	disabled := rule(1, nil, task(1, "disabled"))
	logic(disabled)["isEnabled"] = false
	expired := rule(2, nil, task(1, "expired"))
	logic(expired)["expirationTimeUtc"] = testNow.Format(time.RFC3339)
	live := rule(3, nil, task(1, "live"))
	logic(live)["expirationTimeUtc"] = testNow.Add(time.Second).Format(time.RFC3339)
	onUpdate := rule(4, nil, task(1, "on update"))
	logic(onUpdate)["triggersWhen"] = "Updated"
	onAlerts := rule(5, nil, webhook(1, "https://hooks.example.com/x", "0123456789abcdef"))
	logic(onAlerts)["triggersOn"] = "Alerts"
	for id, r := range map[string]map[string]any{"disabled": disabled, "expired": expired, "live": live, "update": onUpdate, "alerts": onAlerts} {
		e.put(id, r)
	}
	e.created(e.incident("i1", incident.Properties{Title: "t", Severity: "Low"}))
	tasks, _ := e.incs.Tasks(context.Background(), "i1")
	if len(tasks) != 1 || tasks[0].Properties.Title != "live" {
		t.Fatalf("tasks: %+v", tasks)
	}
	// A second later the live rule has expired too.
	e.now = testNow.Add(time.Second)
	e.created(e.incident("i2", incident.Properties{Title: "t", Severity: "Low"}))
	if tasks, _ := e.incs.Tasks(context.Background(), "i2"); len(tasks) != 0 {
		t.Fatalf("an expired rule ran: %+v", tasks)
	}
}

func TestModifyPropertiesMergesLabelsAndClosesWithClassification(t *testing.T) {
	e := newEnv(t)
	e.put("labels", rule(1, nil, modify(1, map[string]any{"labels": []any{
		map[string]any{"labelName": "VIP"}, map[string]any{"labelName": "bruteforce", "labelType": "AutoAssigned"}}})))
	e.put("close", rule(2, []any{prop("IncidentTitle", "Contains", "test")}, modify(1, map[string]any{
		"status": "Closed", "classification": "BenignPositive", "classificationReason": "SuspiciousButExpected", "classificationComment": "red team",
		"owner": map[string]any{"objectId": "soc-bot", "ownerType": "User"}})))
	inc := e.created(e.incident("i1", incident.Properties{Title: "test brute force", Severity: "Low", Labels: []incident.Label{{LabelName: "vip"}, {LabelName: "dc"}}}))
	p := inc.Properties
	var names []string
	for _, l := range p.Labels {
		names = append(names, l.LabelName+"/"+l.LabelType)
	}
	if !slices.Equal(names, []string{"vip/User", "dc/User", "bruteforce/AutoAssigned"}) {
		t.Fatalf("labels: %v", names)
	}
	if p.Status != "Closed" || p.Classification != "BenignPositive" || p.ClassificationReason != "SuspiciousButExpected" ||
		p.ClassificationComment != "red team" || p.Owner.ObjectID != "soc-bot" {
		t.Fatalf("closed: %+v", p)
	}
	h := e.ruleHistory("i1")
	if len(h) != 2 || !strings.Contains(h[0].Detail, "labels added: bruteforce") || !strings.Contains(h[1].Detail, `status: "New" → "Closed"`) {
		t.Fatalf("history: %+v", h)
	}

	// Reopening drops the classification; the same labels again change nothing.
	e.put("close", rule(2, nil, modify(1, map[string]any{"status": "Active"})))
	e.put("labels", rule(1, nil, modify(1, map[string]any{"labels": []any{map[string]any{"labelName": "DC"}}})))
	if err := e.rules.OnIncident(context.Background(), e.incs, Event{When: Created, Incident: inc}); err != nil {
		t.Fatal(err)
	}
	p = e.get("i1").Properties
	if p.Status != "Active" || p.Classification != "" || p.ClassificationReason != "" || len(p.Labels) != 3 {
		t.Fatalf("reopened: %+v", p)
	}
	h = e.ruleHistory("i1")
	if !strings.Contains(h[2].Detail, "no change") {
		t.Fatalf("history: %+v", h)
	}
}

func TestModifyPropertiesReadsTheIncidentAgainAfterAConcurrentChange(t *testing.T) {
	e := newEnv(t)
	e.put("sev", rule(1, nil, modify(1, map[string]any{"severity": "High"})))
	inc := e.incident("i1", incident.Properties{Title: "t", Severity: "Low"})
	// Someone retitles the incident after the event was raised.
	if _, _, err := e.incs.Put(context.Background(), "i1", incident.Properties{Title: "retitled", Severity: "Low"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.rules.OnIncident(context.Background(), e.incs, Event{When: Created, Incident: inc}); err != nil {
		t.Fatal(err)
	}
	if p := e.get("i1").Properties; p.Severity != "High" || p.Title != "retitled" {
		t.Fatalf("the rule overwrote a change or did not apply: %+v", p)
	}
}

func TestAddIncidentTaskStoresATaskOnTheIncident(t *testing.T) {
	e := newEnv(t)
	e.put("tasks", rule(1, nil, task(1, "Reset the password")))
	e.created(e.incident("i1", incident.Properties{Title: "t", Severity: "Low"}))
	tasks, err := e.incs.Tasks(context.Background(), "i1")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks: %v %+v", err, tasks)
	}
	tk := tasks[0].Properties
	if tk.Title != "Reset the password" || tk.Description != "check the sign-ins" || tk.Status != "New" || tk.CreatedBy.Name != "Automation rule: Triage brute force" {
		t.Fatalf("task: %+v", tk)
	}
	h := e.ruleHistory("i1")
	if len(h) != 1 || h[0].Action != "AddIncidentTask" || !strings.Contains(h[0].Detail, "task 'Reset the password' added") {
		t.Fatalf("history: %+v", h)
	}
}

// TestChangedConditionsLookAtTheTriggeringChange: PropertyChanged and
// PropertyArrayChanged compare the incident before and after the update.
func TestChangedConditionsLookAtTheTriggeringChange(t *testing.T) {
	changed := func(name, changeType, op string, vals ...string) map[string]any {
		p := map[string]any{"propertyName": name, "changeType": changeType}
		if op != "" {
			p["operator"], p["propertyValues"] = op, vals
		}
		return map[string]any{"conditionType": "PropertyChanged", "conditionProperties": p}
	}
	arrayAdded := func(arrayType string) map[string]any {
		return map[string]any{"conditionType": "PropertyArrayChanged", "conditionProperties": map[string]any{"arrayType": arrayType, "changeType": "Added"}}
	}
	before := incident.Properties{Title: "t", Severity: "Low", Status: "New", Labels: []incident.Label{{LabelName: "a"}}}
	cases := []struct {
		name    string
		cond    map[string]any
		after   func(p *incident.Properties)
		comment bool
		hit     bool
	}{
		{"severity changed at all", changed("IncidentSeverity", "ChangedTo", ""), func(p *incident.Properties) { p.Severity = "High" }, false, true},
		{"severity unchanged", changed("IncidentSeverity", "ChangedTo", ""), func(p *incident.Properties) { p.Title = "x" }, false, false},
		{"severity changed to high", changed("IncidentSeverity", "ChangedTo", "Equals", "High"), func(p *incident.Properties) { p.Severity = "High" }, false, true},
		{"severity changed to medium", changed("IncidentSeverity", "ChangedTo", "Equals", "High"), func(p *incident.Properties) { p.Severity = "Medium" }, false, false},
		{"severity changed from low", changed("IncidentSeverity", "ChangedFrom", "Equals", "Low"), func(p *incident.Properties) { p.Severity = "Medium" }, false, true},
		{"status changed from not new", changed("IncidentStatus", "ChangedFrom", "NotEquals", "New"), func(p *incident.Properties) { p.Status = "Active" }, false, false},
		{"owner assigned", changed("IncidentOwner", "ChangedTo", "Equals", "oid-9"), func(p *incident.Properties) { p.Owner.ObjectID = "oid-9" }, false, true},
		{"label added", arrayAdded("Labels"), func(p *incident.Properties) { p.Labels = append(p.Labels, incident.Label{LabelName: "b"}) }, false, true},
		{"label removed", arrayAdded("Labels"), func(p *incident.Properties) { p.Labels = nil }, false, false},
		{"comment added", arrayAdded("Comments"), func(*incident.Properties) {}, true, true},
		{"no comment", arrayAdded("Comments"), func(p *incident.Properties) { p.Severity = "High" }, false, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			r := rule(1, []any{c.cond}, task(1, "ran"))
			logic(r)["triggersWhen"] = "Updated"
			e.put("r", r)
			old := e.incident("i", before)
			p := before
			p.Labels = slices.Clone(before.Labels)
			c.after(&p)
			cur, _, err := e.incs.Put(context.Background(), "i", p, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := e.rules.OnIncident(context.Background(), e.incs, Event{When: Updated, Incident: cur, Before: old, CommentAdded: c.comment}); err != nil {
				t.Fatal(err)
			}
			tasks, _ := e.incs.Tasks(context.Background(), "i")
			if got := len(tasks) == 1; got != c.hit {
				t.Fatalf("case %d: ran %v, want %v", i, got, c.hit)
			}
		})
	}
}

// TestRulesDoNotTriggerThemselves: an Updated rule that changes the
// incident runs once per change made by someone else, never on its own.
func TestRulesDoNotTriggerThemselves(t *testing.T) {
	e := newEnv(t)
	r := rule(1, nil, modify(1, map[string]any{"labels": []any{map[string]any{"labelName": "touched"}}}), task(2, "look again"))
	logic(r)["triggersWhen"] = "Updated"
	e.put("r", r)
	old := e.incident("i1", incident.Properties{Title: "t", Severity: "Low"})
	cur, _, _ := e.incs.Put(context.Background(), "i1", incident.Properties{Title: "t", Severity: "High"}, "")
	if err := e.rules.OnIncident(context.Background(), e.incs, Event{When: Updated, Incident: cur, Before: old}); err != nil {
		t.Fatal(err)
	}
	tasks, _ := e.incs.Tasks(context.Background(), "i1")
	if len(tasks) != 1 || len(e.ruleHistory("i1")) != 2 {
		t.Fatalf("the rule ran more than once: %d tasks, history %+v", len(tasks), e.ruleHistory("i1"))
	}
}

func TestOnIncidentNeedsAnEvent(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("i1", incident.Properties{Title: "t", Severity: "Low"})
	for _, ev := range []Event{{When: Created}, {When: "Deleted", Incident: inc}} {
		if err := e.rules.OnIncident(context.Background(), e.incs, ev); err == nil {
			t.Fatalf("event %+v accepted", ev)
		}
	}
}

func FuzzDecode(f *testing.F) {
	seeds := []map[string]any{
		rule(1, []any{prop("IncidentTitle", "Contains", "brute")}, modify(1, map[string]any{"severity": "High"})),
		rule(1000, nil, webhook(1, "https://hooks.example.com/x", "0123456789abcdef"), task(2, "t")),
	}
	for _, s := range seeds {
		raw, _ := json.Marshal(s)
		f.Add(raw)
	}
	f.Add([]byte(`{"displayName":"x","order":1,"triggeringLogic":{"isEnabled":true,"triggersOn":"Incidents","triggersWhen":"Updated","conditions":[{"conditionType":"Boolean","conditionProperties":{"operator":"Or","innerConditions":[{"conditionType":"PropertyArrayChanged","conditionProperties":{"arrayType":"Labels","changeType":"Added"}},{"conditionType":"PropertyChanged","conditionProperties":{"propertyName":"IncidentStatus","changeType":"ChangedTo"}}]}}]},"actions":[{"order":1,"actionType":"AddIncidentTask","actionConfiguration":{"title":"t"}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Decode(raw)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("a bad rule is not a refusal: %v", err)
			}
			return
		}
		// What was accepted is accepted again as stored, and evaluates.
		again, _ := json.Marshal(p)
		if _, err := Decode(again); err != nil {
			t.Fatalf("a stored rule does not decode again: %v\n%s", err, again)
		}
		f := facts{current: values{}, before: values{}, after: values{}, added: map[string]bool{}}
		matchAll(p.TriggeringLogic.Conditions, &f)
	})
}

// TestRaisedAlertsRunRulesOnCreatedAndOnAlertsAdded: an alert that makes an
// incident runs the Created rules; one grouped into it, the Updated rules
// with an "Alerts added" condition.
func TestRaisedAlertsRunRulesOnCreatedAndOnAlertsAdded(t *testing.T) {
	e := newEnv(t)
	e.put("new", rule(1, []any{prop("IncidentRelatedAnalyticRuleIds", "EndsWith", "/brute-force")}, task(1, "new incident")))
	grown := rule(2, []any{map[string]any{"conditionType": "PropertyArrayChanged", "conditionProperties": map[string]any{"arrayType": "Alerts", "changeType": "Added"}}},
		task(1, "another alert"))
	logic(grown)["triggersWhen"] = "Updated"
	e.put("grown", grown)
	g := incident.Grouping{Enabled: true, Lookback: time.Hour, Method: "AnyAlert"}
	raise := func(n int) (*incident.Incident, bool) {
		at := testNow.Add(time.Duration(n) * time.Minute)
		e.now = at
		a := &alert.Alert{SystemAlertID: fmt.Sprintf("alert-%d", n), DisplayName: "Brute force", Severity: "High",
			StartTime: at.Add(-5 * time.Minute), EndTime: at, TimeGenerated: at, RuleID: "brute-force", QueryStart: at.Add(-time.Hour), QueryEnd: at}
		inc, created, err := e.incs.RaiseFromAlert(context.Background(), a, "brute-force", g)
		if err != nil {
			t.Fatal(err)
		}
		// As the node runs the rules on what detection raised: the incident
		// before the alert joined is not known, so it stands for both sides.
		ev := Event{When: Created, Incident: inc}
		if !created {
			ev = Event{When: Updated, Incident: inc, Before: inc, AlertAdded: true}
		}
		if err := e.rules.OnIncident(context.Background(), e.incs, ev); err != nil {
			t.Fatal(err)
		}
		return inc, created
	}
	first, created := raise(1)
	if !created {
		t.Fatal("the first alert made no incident")
	}
	if second, created := raise(2); created || second.Name != first.Name {
		t.Fatalf("the second alert was not grouped: %v %s", created, second.Name)
	}
	tasks, err := e.incs.Tasks(context.Background(), first.Name)
	if err != nil || len(tasks) != 2 || tasks[0].Properties.Title != "new incident" || tasks[1].Properties.Title != "another alert" {
		t.Fatalf("tasks: %v %+v", err, tasks)
	}
}

// TestCacheServesOnlyTheVersionStored: Rules made per request share a
// cache; a rule changed or deleted through one is run as it now is by the
// next, and a workspace whose key is revoked has nothing left in it.
func TestCacheServesOnlyTheVersionStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cache := NewCache()
	perRequest := func() *Rules {
		return New(e.docs, "ws-1", wsResource, e.hooks, cache, func() time.Time { return e.now })
	}
	inc := e.incident("i1", incident.Properties{Title: "t", Severity: "Low"})
	run := func() error { return perRequest().OnIncident(ctx, e.incs, Event{When: Created, Incident: inc}) }
	titles := func() []string {
		tasks, err := e.incs.Tasks(ctx, "i1")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range tasks {
			out = append(out, tk.Properties.Title)
		}
		slices.Sort(out)
		return out
	}
	put := func(title string) {
		raw, _ := json.Marshal(rule(1, nil, task(1, title)))
		if _, _, err := perRequest().Put(ctx, "r1", raw, "", "u"); err != nil {
			t.Fatal(err)
		}
	}
	put("v1")
	if err := run(); err != nil {
		t.Fatal(err)
	}
	put("v2")
	if err := run(); err != nil {
		t.Fatal(err)
	}
	if got := titles(); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("after a change the rule ran as %q, want v1 then v2", got)
	}
	if err := perRequest().Delete(ctx, "r1", ""); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	if got := titles(); len(got) != 2 {
		t.Fatalf("a deleted rule ran: %q", got)
	}
	if n := len(cache.workspace["ws-1"]); n != 0 {
		t.Fatalf("the cache keeps %d deleted rules", n)
	}

	put("v3")
	if err := run(); err != nil {
		t.Fatal(err)
	}
	e.keys.Revoke()
	if err := run(); err == nil {
		t.Fatal("rules ran under a revoked key")
	}
	if _, ok := cache.workspace["ws-1"]; ok {
		t.Fatal("the cache kept a revoked workspace's rules")
	}
	e.keys.Restore()
	if err := run(); err != nil {
		t.Fatal(err)
	}
	if got := titles(); !slices.Equal(got, []string{"v1", "v2", "v3", "v3"}) {
		t.Fatalf("after restore: %q", got)
	}
}
