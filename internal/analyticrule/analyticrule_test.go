package analyticrule

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/rulefile"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newRules(t *testing.T) *Rules {
	t.Helper()
	docs, _ := docstoretest.Open(t, envelopetest.New("doc-aek"))
	catalog := kql.Catalog{Tables: []kql.TableSchema{{Name: "SigninLogs", Columns: []kql.Column{
		{Name: "TimeGenerated", Type: kql.TypeDatetime}, {Name: "UserPrincipalName", Type: kql.TypeString},
		{Name: "IPAddress", Type: kql.TypeString}, {Name: "ResultType", Type: kql.TypeString},
	}}}}
	return New(docs, "ws-1", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w",
		func(context.Context) (kql.Catalog, error) { return catalog, nil }, func() time.Time { return testNow })
}

// scheduled is a valid Scheduled rule's properties; each bad case changes one field.
func scheduled() map[string]any {
	return map[string]any{
		"displayName":         "Brute force then success",
		"description":         "Many failures followed by a success from one IP",
		"severity":            "High",
		"enabled":             true,
		"query":               "SigninLogs | where ResultType != '0' | summarize Failures = count() by UserPrincipalName, IPAddress",
		"queryFrequency":      "PT1H",
		"queryPeriod":         "P1D",
		"triggerOperator":     "GreaterThan",
		"triggerThreshold":    0,
		"suppressionEnabled":  false,
		"suppressionDuration": "PT5H",
		"tactics":             []string{"CredentialAccess"},
		"techniques":          []string{"T1110"},
		"customDetails":       map[string]string{"Failures": "Failures"},
		"entityMappings": []map[string]any{
			{"entityType": "Account", "fieldMappings": []map[string]string{{"identifier": "FullName", "columnName": "UserPrincipalName"}}},
			{"entityType": "IP", "fieldMappings": []map[string]string{{"identifier": "Address", "columnName": "IPAddress"}}},
		},
		"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"},
		"alertDetailsOverride":  map[string]any{"alertDisplayNameFormat": "Brute force on {{UserPrincipalName}}"},
		"incidentConfiguration": map[string]any{"createIncident": true, "groupingConfiguration": map[string]any{
			"enabled": true, "reopenClosedIncident": false, "lookbackDuration": "PT5H", "matchingMethod": "Selected",
			"groupByEntities": []string{"Account"}, "groupByAlertDetails": []string{"DisplayName"}, "groupByCustomDetails": []string{"Failures"}}},
		"templateName": "brute-force",
	}
}

// nrt is a valid NRT rule's properties.
func nrt() map[string]any {
	p := scheduled()
	for _, k := range []string{"queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"} {
		delete(p, k)
	}
	return p
}

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRuleIsStoredAsSentAndReadBack(t *testing.T) {
	s := newRules(t)
	ctx := context.Background()
	r, created, err := s.Put(ctx, "r1", KindScheduled, raw(t, scheduled()), "")
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if r.Type != ResourceType || r.Kind != KindScheduled || r.Name != "r1" || !strings.HasSuffix(r.ID, "/providers/Microsoft.SecurityInsights/alertRules/r1") || !strings.HasPrefix(r.Etag, `"`) {
		t.Fatalf("resource fields: %+v", r)
	}
	got, err := s.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var props map[string]any
	if err := json.Unmarshal(got.Properties, &props); err != nil {
		t.Fatal(err)
	}
	if props["lastModifiedUtc"] != testNow.Format(time.RFC3339) {
		t.Fatalf("lastModifiedUtc: %v", props["lastModifiedUtc"])
	}
	delete(props, "lastModifiedUtc")
	var want map[string]any
	json.Unmarshal(raw(t, scheduled()), &want)
	if string(raw(t, props)) != string(raw(t, want)) {
		t.Fatalf("read back differs from what was sent:\n got %s\nwant %s", raw(t, props), raw(t, want))
	}
	// A rule read back may be sent again as it is, lastModifiedUtc included.
	if _, created, err := s.Put(ctx, "r1", KindScheduled, got.Properties, got.Etag); err != nil || created {
		t.Fatalf("put back what was read: %v %v", created, err)
	}
}

func TestNRTRuleIsAccepted(t *testing.T) {
	s := newRules(t)
	if _, _, err := s.Put(context.Background(), "nrt1", KindNRT, raw(t, nrt()), ""); err != nil {
		t.Fatal(err)
	}
}

// A result whose columns its data name (evaluate bag_unpack without an output schema) may be
// mapped by any column name; with the output schema its columns are known again.
func TestMappingsOfAResultWhoseDataNameItsColumns(t *testing.T) {
	s := newRules(t)
	ctx := context.Background()
	p := scheduled()
	p["query"] = `SigninLogs | summarize Failures = count() by UserPrincipalName, IPAddress | extend d = dynamic({"Machine": "m1"}) | evaluate bag_unpack(d)`
	p["entityMappings"] = []map[string]any{{"entityType": "Host", "fieldMappings": []map[string]string{{"identifier": "HostName", "columnName": "Machine"}}}}
	if _, _, err := s.Put(ctx, "open", KindScheduled, raw(t, p), ""); err != nil {
		t.Fatalf("a mapping to a column the data name was refused: %v", err)
	}
	p["query"] = p["query"].(string) + " : (*, Machine:string)"
	if _, _, err := s.Put(ctx, "declared", KindScheduled, raw(t, p), ""); err != nil {
		t.Fatalf("a mapping to a declared column was refused: %v", err)
	}
	p["entityMappings"] = []map[string]any{{"entityType": "Host", "fieldMappings": []map[string]string{{"identifier": "HostName", "columnName": "Computer"}}}}
	if _, _, err := s.Put(ctx, "declared", KindScheduled, raw(t, p), ""); err == nil || !strings.Contains(err.Error(), "names column 'Computer'") {
		t.Fatalf("a mapping to a column the declared schema lacks: got %v", err)
	}
}

func TestBadRulesAreRefused(t *testing.T) {
	type edit func(p map[string]any)
	set := func(k string, v any) edit { return func(p map[string]any) { p[k] = v } }
	del := func(k string) edit { return func(p map[string]any) { delete(p, k) } }
	grouping := func(k string, v any) edit {
		return func(p map[string]any) {
			p["incidentConfiguration"].(map[string]any)["groupingConfiguration"].(map[string]any)[k] = v
		}
	}
	cases := []struct {
		name string
		kind string
		edit edit
		want string // in the message
	}{
		{"unknown kind", "Fusion", nil, "kind must be Scheduled or NRT"},
		{"no displayName", KindScheduled, del("displayName"), "displayName is required"},
		{"blank displayName", KindScheduled, set("displayName", "  "), "displayName is required"},
		{"no enabled", KindScheduled, del("enabled"), "enabled is required"},
		{"enabled not a boolean", KindScheduled, set("enabled", "yes"), "enabled must be a JSON boolean"},
		{"no query", KindScheduled, del("query"), "query is required"},
		{"unknown severity", KindScheduled, set("severity", "Critical"), "severity must be one of"},
		{"no queryFrequency", KindScheduled, del("queryFrequency"), "needs properties.queryFrequency"},
		{"queryFrequency not ISO 8601", KindScheduled, set("queryFrequency", "1h"), "not an ISO 8601 duration"},
		{"queryFrequency in months", KindScheduled, set("queryFrequency", "P1M"), "not an ISO 8601 duration"},
		{"queryFrequency under 5 minutes", KindScheduled, set("queryFrequency", "PT4M"), "queryFrequency is PT4M; it must be from PT5M to P14D"},
		{"queryPeriod over 14 days", KindScheduled, set("queryPeriod", "P15D"), "queryPeriod is P15D; it must be from PT5M to P14D"},
		{"queryPeriod shorter than queryFrequency", KindScheduled, set("queryPeriod", "PT30M"), "shorter than properties.queryFrequency"},
		{"unknown triggerOperator", KindScheduled, set("triggerOperator", "gt"), "triggerOperator is required: one of"},
		{"negative triggerThreshold", KindScheduled, set("triggerThreshold", -1), "triggerThreshold is required"},
		{"fractional triggerThreshold", KindScheduled, set("triggerThreshold", 1.5), "triggerThreshold must be a JSON integer"},
		{"suppression without duration", KindScheduled, func(p map[string]any) { p["suppressionEnabled"] = true; delete(p, "suppressionDuration") }, "needs properties.suppressionDuration"},
		{"suppression over a day", KindScheduled, set("suppressionDuration", "P2D"), "suppressionDuration is P2D"},
		{"unknown aggregationKind", KindScheduled, set("eventGroupingSettings", map[string]any{"aggregationKind": "PerRow"}), "aggregationKind must be one of"},
		{"unknown tactic", KindScheduled, set("tactics", []string{"BruteForce"}), "tactics[0] 'BruteForce' is not a tactic"},
		{"bad technique", KindScheduled, set("techniques", []string{"1110"}), "techniques[0] '1110' is not a technique ID"},
		{"custom detail name not an identifier", KindScheduled, set("customDetails", map[string]string{"failure count": "Failures"}), "customDetails key 'failure count'"},
		{"custom detail without column", KindScheduled, set("customDetails", map[string]string{"Failures": ""}), "customDetails.Failures names no column"},
		{"unknown entity type", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "User", "fieldMappings": []map[string]string{{"identifier": "Name", "columnName": "UserPrincipalName"}}}}), "entityType 'User' is not an entity type"},
		{"entity without field mappings", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "Account"}}), "fieldMappings needs 1-3 entries"},
		{"identifier of another entity type", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "IP", "fieldMappings": []map[string]string{{"identifier": "HostName", "columnName": "IPAddress"}}}}),
			"entityMappings[0].fieldMappings[0].identifier 'HostName' is not an identifier of entity type IP; its identifiers are Address"},
		{"identifier in the wrong case", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "Account", "fieldMappings": []map[string]string{{"identifier": "name", "columnName": "UserPrincipalName"}}}}),
			"identifier 'name' is not an identifier of entity type Account"},
		{"unknown identifier", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "Host", "fieldMappings": []map[string]string{{"identifier": "Computer", "columnName": "UserPrincipalName"}}}}),
			"identifier 'Computer' is not an identifier of entity type Host"},
		{"identifier mapped twice", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "Account", "fieldMappings": []map[string]string{{"identifier": "Name", "columnName": "UserPrincipalName"}, {"identifier": "Name", "columnName": "Failures"}}}}),
			"maps identifier Name twice"},
		{"field mapping without column", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "Account", "fieldMappings": []map[string]string{{"identifier": "Name"}}}}), "needs an identifier and a columnName"},
		{"incidentConfiguration without createIncident", KindScheduled, set("incidentConfiguration", map[string]any{}), "createIncident is required"},
		{"unknown matchingMethod", KindScheduled, grouping("matchingMethod", "Some"), "matchingMethod must be one of"},
		{"lookback over 7 days", KindScheduled, grouping("lookbackDuration", "P8D"), "lookbackDuration is P8D"},
		{"group by unknown entity", KindScheduled, grouping("groupByEntities", []string{"Printer"}), "groupByEntities[0] 'Printer' is not an entity type"},
		{"group by unknown alert detail", KindScheduled, grouping("groupByAlertDetails", []string{"Title"}), "groupByAlertDetails[0] must be one of"},
		{"group by undeclared custom detail", KindScheduled, grouping("groupByCustomDetails", []string{"Country"}), "'Country' is not a key of properties.customDetails"},
		{"Selected with nothing to group by", KindScheduled, func(p map[string]any) {
			g := p["incidentConfiguration"].(map[string]any)["groupingConfiguration"].(map[string]any)
			delete(g, "groupByEntities")
			delete(g, "groupByAlertDetails")
			delete(g, "groupByCustomDetails")
		}, "Selected needs at least one"},
		{"unknown field", KindScheduled, set("queryFrequencyMinutes", 5), `unknown field "queryFrequencyMinutes"`},
		{"NRT with queryFrequency", KindNRT, set("queryFrequency", "PT5M"), "queryFrequency is not a field of an NRT rule"},
		{"NRT with triggerThreshold", KindNRT, set("triggerThreshold", 0), "triggerThreshold is not a field of an NRT rule"},
		{"entity mapped to a column the result lacks", KindScheduled, set("entityMappings", []map[string]any{{"entityType": "Host", "fieldMappings": []map[string]string{{"identifier": "HostName", "columnName": "Computer"}}}}),
			"entityMappings[0].fieldMappings[0].columnName names column 'Computer', which the query's result does not have; its columns are UserPrincipalName, IPAddress, Failures"},
		{"custom detail from a column the result lacks", KindScheduled, set("customDetails", map[string]string{"Failures": "Failures", "Result": "ResultType"}), "customDetails.Result names column 'ResultType'"},
		{"severity from a column the result lacks", KindScheduled, set("alertDetailsOverride", map[string]any{"alertSeverityColumnName": "Sev"}), "alertSeverityColumnName names column 'Sev'"},
		{"display name placeholder the result lacks", KindScheduled, set("alertDetailsOverride", map[string]any{"alertDisplayNameFormat": "Brute force on {{ Computer }}"}),
			"alertDisplayNameFormat placeholder {{Computer}} names column 'Computer'"},
		{"description placeholder the result lacks", KindScheduled, set("alertDetailsOverride", map[string]any{"alertDescriptionFormat": "{{Failures}} failures from {{IpAddress}}"}),
			"alertDescriptionFormat placeholder {{IpAddress}} names column 'IpAddress'"},
		{"dynamic property from a column the result lacks", KindScheduled, set("alertDetailsOverride", map[string]any{"alertDynamicProperties": []map[string]string{{"alertProperty": "ProductName", "value": "Product"}}}),
			"alertDynamicProperties[0].value names column 'Product'"},
		{"query that does not parse", KindScheduled, set("query", "SigninLogs\n| where ResultType =="), "does not compile: syntax error at 2:"},
		{"query naming an unknown column", KindScheduled, set("query", "SigninLogs | where Nope == 1"), "does not compile: semantic error at 1:"},
		{"query naming an unknown table", KindScheduled, set("query", "NoSuchTable | take 1"), "does not compile: semantic error"},
	}
	s := newRules(t)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := scheduled()
			if c.kind == KindNRT {
				p = nrt()
			}
			if c.edit != nil {
				c.edit(p)
			}
			_, _, err := s.Put(ctx, "bad", c.kind, raw(t, p), "")
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid {
				t.Fatalf("want an Invalid refusal, got %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("message %q does not say %q", err.Error(), c.want)
			}
		})
	}
	if _, err := s.Get(ctx, "bad"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a refused rule was stored: %v", err)
	}
}

func TestStaleEtagIsRefusedAndMissingRuleIsNotFound(t *testing.T) {
	s := newRules(t)
	ctx := context.Background()
	first, _, err := s.Put(ctx, "r1", KindScheduled, raw(t, scheduled()), "")
	if err != nil {
		t.Fatal(err)
	}
	second, created, err := s.Put(ctx, "r1", KindScheduled, raw(t, scheduled()), first.Etag)
	if err != nil || created || second.Etag == first.Etag {
		t.Fatalf("update with the current etag: %v %v %s", created, err, second.Etag)
	}
	if _, _, err := s.Put(ctx, "r1", KindScheduled, raw(t, scheduled()), first.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("update with a stale etag: %v", err)
	}
	if err := s.Delete(ctx, "r1", first.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("delete with a stale etag: %v", err)
	}
	if _, _, err := s.Put(ctx, "r2", KindScheduled, raw(t, scheduled()), first.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("create with an etag: %v", err)
	}
	if _, _, err := s.Put(ctx, "r2", KindScheduled, raw(t, scheduled()), "*"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("If-Match * on a missing rule: %v", err)
	}
	if _, err := s.Get(ctx, "r2"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get a missing rule: %v", err)
	}
	if err := s.Delete(ctx, "r1", second.Etag); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "r1"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get a deleted rule: %v", err)
	}
}

func TestListReturnsEveryRuleByName(t *testing.T) {
	s := newRules(t)
	ctx := context.Background()
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty list: %v %v", list, err)
	}
	for _, id := range []string{"b", "a"} {
		if _, _, err := s.Put(ctx, id, KindScheduled, raw(t, scheduled()), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Put(ctx, "c", KindNRT, raw(t, nrt()), ""); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 3 || list[0].Name != "a" || list[1].Name != "b" || list[2].Name != "c" || list[2].Kind != KindNRT {
		t.Fatalf("list: %v %+v", err, list)
	}
}

// TestEveryEntityTypeARuleMayMapCanBecomeAnEntity: the types a rule may
// map are those internal/alert makes entities of, neither more nor fewer.
func TestEveryEntityTypeARuleMayMapCanBecomeAnEntity(t *testing.T) {
	if !slices.Equal(slices.Sorted(slices.Values(entityTypes)), alert.EntityTypes()) {
		t.Fatalf("rule entity types %v, alert entity types %v", entityTypes, alert.EntityTypes())
	}
}

// TestImportCreatesUpdatesAndRefusesEachRule: an import creates a rule
// enabled unless its file says otherwise, updates one keeping the state its
// owner set, and refuses a bad rule with its reason while saving the next.
func TestImportCreatesUpdatesAndRefusesEachRule(t *testing.T) {
	ctx := context.Background()
	rules := newRules(t)
	fromFile := func(id string, props map[string]any) rulefile.Rule {
		delete(props, "enabled") // the file does not say
		return rulefile.Rule{ID: id, Kind: KindScheduled, Properties: props, Notes: []string{"a note"}}
	}
	enabled := func(id string) bool {
		t.Helper()
		r, err := rules.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Enabled bool }
		if err := json.Unmarshal(r.Properties, &p); err != nil {
			t.Fatal(err)
		}
		return p.Enabled
	}

	res, err := rules.Import(ctx, []rulefile.Rule{fromFile("brute-force", scheduled())})
	if err != nil || len(res) != 1 || res[0].Result != ImportCreated || res[0].DisplayName != "Brute force then success" ||
		!slices.Equal(res[0].Notes, []string{"a note"}) || !enabled("brute-force") {
		t.Fatalf("first import: %+v %v", res, err)
	}

	off := scheduled()
	off["enabled"] = false
	if _, _, err := rules.Put(ctx, "brute-force", KindScheduled, raw(t, off), ""); err != nil {
		t.Fatal(err)
	}
	bad := scheduled()
	bad["query"] = "SigninLogs | where NoSuchColumn == 1"
	res, err = rules.Import(ctx, []rulefile.Rule{fromFile("bad", bad), fromFile("brute-force", scheduled())})
	if err != nil || len(res) != 2 {
		t.Fatalf("second import: %+v %v", res, err)
	}
	if res[0].Result != ImportRefused || !strings.Contains(res[0].Error, "properties.query does not compile") {
		t.Errorf("the bad rule: %+v", res[0])
	}
	if res[1].Result != ImportUpdated || enabled("brute-force") {
		t.Errorf("the rule disabled since: %+v, enabled %v", res[1], enabled("brute-force"))
	}
	if _, err := rules.Get(ctx, "bad"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the refused rule was stored: %v", err)
	}
}
