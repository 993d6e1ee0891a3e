package rulefile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// baseYAML is a synthetic community rule using every field the format has.
const baseYAML = `id: 5d6f1c1e-0b6a-4c1e-9a51-2f1f0a7c9e01
name: Many failed sign-ins, then a success
description: |
  An account fails to sign in many times within the window.
severity: Medium
requiredDataConnectors:
  - connectorId: ExampleConnector
    dataTypes:
      - SigninLogs
queryFrequency: 5m
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
suppressionEnabled: true
suppressionDuration: 2h
tactics:
  - CredentialAccess
  - InitialAccess
relevantTechniques:
  - T1110
  - T1078.004
query: |
  SigninLogs
  | summarize Failures = countif(ResultType != "0") by UserPrincipalName, IPAddress
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: UserPrincipalName
  - entityType: IP
    fieldMappings:
      - identifier: Address
        columnName: IPAddress
customDetails:
  Failures: Failures
alertDetailsOverride:
  alertDisplayNameFormat: "{{UserPrincipalName}} failed {{Failures}} times"
  alertDescriptionFormat: From {{IPAddress}}
  alertSeverityColumnName: Sev
  alertTacticsColumnName: Tac
  alertDynamicProperties:
    - alertProperty: ProductName
      value: Product
eventGroupingSettings:
  aggregationKind: AlertPerResult
incidentConfiguration:
  createIncident: true
  groupingConfiguration:
    enabled: true
    reopenClosedIncident: false
    lookbackDuration: 5h
    matchingMethod: Selected
    groupByEntities: [Account, IP]
    groupByAlertDetails: [DisplayName]
    groupByCustomDetails: [Failures]
version: 1.0.2
status: Available
tags:
  - Example
metadata:
  source:
    kind: Community
kind: Scheduled
`

const wantBaseProperties = `{
  "displayName": "Many failed sign-ins, then a success",
  "description": "An account fails to sign in many times within the window.\n",
  "severity": "Medium",
  "query": "SigninLogs\n| summarize Failures = countif(ResultType != \"0\") by UserPrincipalName, IPAddress\n",
  "queryFrequency": "PT5M",
  "queryPeriod": "PT1H",
  "triggerOperator": "GreaterThan",
  "triggerThreshold": 0,
  "suppressionEnabled": true,
  "suppressionDuration": "PT2H",
  "tactics": ["CredentialAccess", "InitialAccess"],
  "techniques": ["T1110", "T1078"],
  "subTechniques": ["T1078.004"],
  "entityMappings": [
    {"entityType": "Account", "fieldMappings": [{"identifier": "FullName", "columnName": "UserPrincipalName"}]},
    {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "IPAddress"}]}
  ],
  "customDetails": {"Failures": "Failures"},
  "alertDetailsOverride": {
    "alertDisplayNameFormat": "{{UserPrincipalName}} failed {{Failures}} times",
    "alertDescriptionFormat": "From {{IPAddress}}",
    "alertSeverityColumnName": "Sev",
    "alertTacticsColumnName": "Tac",
    "alertDynamicProperties": [{"alertProperty": "ProductName", "value": "Product"}]
  },
  "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
  "incidentConfiguration": {
    "createIncident": true,
    "groupingConfiguration": {
      "enabled": true, "reopenClosedIncident": false, "lookbackDuration": "PT5H", "matchingMethod": "Selected",
      "groupByEntities": ["Account", "IP"], "groupByAlertDetails": ["DisplayName"], "groupByCustomDetails": ["Failures"]
    }
  }
}`

func readOne(t *testing.T, name, text string, opts Options) *Rule {
	t.Helper()
	rules, err := Read(name, []byte(text), opts)
	if err != nil {
		t.Fatalf("Read(%s): %v", name, err)
	}
	if len(rules) != 1 {
		t.Fatalf("Read(%s): %d rules, want 1", name, len(rules))
	}
	return &rules[0]
}

// sameJSON compares got, marshalled, with the JSON text want.
func sameJSON(t *testing.T, got any, want string) {
	t.Helper()
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(buf, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("the test's want is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		pretty, _ := json.MarshalIndent(g, "", "  ")
		t.Errorf("got\n%s\nwant\n%s", pretty, want)
	}
}

func TestCommunityYAMLBecomesTheAPIsPropertiesFieldByField(t *testing.T) {
	r := readOne(t, "brute.yaml", baseYAML, Options{})
	if r.ID != "5d6f1c1e-0b6a-4c1e-9a51-2f1f0a7c9e01" || r.Kind != KindScheduled || r.DisplayName() != "Many failed sign-ins, then a success" {
		t.Errorf("ID %q, kind %q, display name %q", r.ID, r.Kind, r.DisplayName())
	}
	sameJSON(t, r.Properties, wantBaseProperties)
	if _, set := r.Properties["enabled"]; set {
		t.Error("enabled is set although the file does not say; the caller decides")
	}
	want := []string{"requiredDataConnectors", "version", "status", "tags", "metadata"}
	if len(r.Notes) != len(want) {
		t.Fatalf("notes %q, want one for each of %v", r.Notes, want)
	}
	for i, f := range want {
		if !strings.HasPrefix(r.Notes[i], "ignored "+f+": ") {
			t.Errorf("note %d = %q, want it to name %s", i, r.Notes[i], f)
		}
	}
}

func TestShortDurationsBecomeISO8601(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"5m", "PT5M"}, {"1h", "PT1H"}, {"14d", "P14D"}, {"30s", "PT30S"}, {"90m", "PT90M"}, {"05m", "PT5M"},
		{"PT5M", "PT5M"}, {"PT1H", "PT1H"}, {"P14D", "P14D"}, {"P1DT2H", "P1DT2H"}, {"P2W", "P2W"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			text := strings.Replace(baseYAML, "queryFrequency: 5m", "queryFrequency: "+tc.in, 1)
			if got := readOne(t, "r.yaml", text, Options{}).Properties["queryFrequency"]; got != tc.want {
				t.Errorf("queryFrequency %s = %v, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestTriggerOperatorsBecomeTheAPIsNames(t *testing.T) {
	for in, want := range map[string]string{
		"gt": "GreaterThan", "lt": "LessThan", "eq": "Equal", "ne": "NotEqual",
		"GreaterThan": "GreaterThan", "LessThan": "LessThan", "Equal": "Equal", "NotEqual": "NotEqual",
	} {
		t.Run(in, func(t *testing.T) {
			text := strings.Replace(baseYAML, "triggerOperator: gt", "triggerOperator: "+in, 1)
			if got := readOne(t, "r.yaml", text, Options{}).Properties["triggerOperator"]; got != want {
				t.Errorf("triggerOperator %s = %v, want %s", in, got, want)
			}
		})
	}
}

func TestSubTechniquesAlsoNameTheirParentTechnique(t *testing.T) {
	text := strings.Replace(baseYAML, "  - T1110\n  - T1078.004\n", "  - T1078.004\n  - T1110\n  - T1078\n  - T1078.001\n", 1)
	r := readOne(t, "r.yaml", text, Options{})
	sameJSON(t, map[string]any{"t": r.Properties["techniques"], "s": r.Properties["subTechniques"]},
		`{"t": ["T1078", "T1110"], "s": ["T1078.004", "T1078.001"]}`)

	onlyTechniques := readOne(t, "r.yaml", strings.Replace(baseYAML, "  - T1078.004\n", "", 1), Options{})
	if _, ok := onlyTechniques.Properties["subTechniques"]; ok {
		t.Error("subTechniques set for a rule without sub-techniques")
	}
}

func TestANearRealTimeRuleHasNoSchedule(t *testing.T) {
	text := baseYAML
	for _, l := range []string{"queryFrequency: 5m\n", "queryPeriod: 1h\n", "triggerOperator: gt\n", "triggerThreshold: 0\n"} {
		text = strings.Replace(text, l, "", 1)
	}
	text = strings.Replace(text, "kind: Scheduled", "kind: NRT", 1)
	r := readOne(t, "nrt.yml", text, Options{})
	if r.Kind != KindNRT {
		t.Errorf("kind %q", r.Kind)
	}
	for _, f := range []string{"queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"} {
		if _, ok := r.Properties[f]; ok {
			t.Errorf("an NRT rule has %s", f)
		}
	}
	// Without kind, a rule is Scheduled; the format's guide writes it in lower case.
	if r := readOne(t, "r.yaml", strings.Replace(baseYAML, "kind: Scheduled\n", "", 1), Options{}); r.Kind != KindScheduled {
		t.Errorf("a rule without kind is %q", r.Kind)
	}
	if r := readOne(t, "r.yaml", strings.Replace(baseYAML, "kind: Scheduled\n", "kind: scheduled\n", 1), Options{}); r.Kind != KindScheduled {
		t.Errorf("kind: scheduled is %q", r.Kind)
	}
}

func TestAByteOrderMarkIsNoPartOfTheRule(t *testing.T) {
	if r := readOne(t, "r.yaml", "\ufeff"+baseYAML, Options{}); r.ID != "5d6f1c1e-0b6a-4c1e-9a51-2f1f0a7c9e01" {
		t.Errorf("ID %q", r.ID)
	}
}

func TestEnabledIsSetOnlyWhenTheFileSaysSo(t *testing.T) {
	r := readOne(t, "r.yaml", baseYAML+"enabled: false\n", Options{})
	if r.Properties["enabled"] != false {
		t.Errorf("enabled = %v, want false", r.Properties["enabled"])
	}
}

func TestIDOptionReplacesTheFilesID(t *testing.T) {
	r := readOne(t, "r.yaml", baseYAML, Options{ID: "brute-force"})
	if r.ID != "brute-force" || len(r.Notes) == 0 || !strings.Contains(r.Notes[len(r.Notes)-1], "replaced by --id") {
		t.Errorf("ID %q, notes %q", r.ID, r.Notes)
	}
	noID := strings.Replace(baseYAML, "id: 5d6f1c1e-0b6a-4c1e-9a51-2f1f0a7c9e01\n", "", 1)
	if r := readOne(t, "r.yaml", noID, Options{ID: "given"}); r.ID != "given" {
		t.Errorf("ID %q, want the one given", r.ID)
	}
}

// TestBadRuleFilesAreRefusedNamingFileLineAndField: every refusal names the
// file, and the line and field when there is one, so that a person can go
// straight to the mistake.
func TestBadRuleFilesAreRefusedNamingFileLineAndField(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(baseYAML, old) {
			t.Fatalf("the base rule has no %q", old)
		}
		return strings.Replace(baseYAML, old, new, 1)
	}
	for _, tc := range []struct {
		name, file, text string
		opts             Options
		line             int
		field, want      string
	}{
		{"YAML syntax error", "r.yaml", replace("severity: Medium", "severity: [Medium"), Options{}, 0, "", "not valid YAML"},
		{"tab indentation", "r.yaml", replace("  - CredentialAccess", "\t- CredentialAccess"), Options{}, 17, "", "not valid YAML"},
		{"unknown kind", "r.yaml", replace("kind: Scheduled", "kind: Fusion"), Options{}, 63, "kind", `"Fusion" rules are not carried over`},
		{"name that is a number", "r.yaml", replace("name: Many failed sign-ins, then a success", "name: 2024"), Options{}, 2, "name", "must be a string, not the number 2024 (put it in quotes"},
		{"empty severity", "r.yaml", replace("severity: Medium", "severity:"), Options{}, 5, "severity", "must be a string, not an empty value"},
		{"threshold in quotes", "r.yaml", replace("triggerThreshold: 0", `triggerThreshold: "0"`), Options{}, 13, "triggerThreshold", `must be a whole number, not "0"`},
		{"fractional threshold", "r.yaml", replace("triggerThreshold: 0", "triggerThreshold: 1.5"), Options{}, 13, "triggerThreshold", "must be a whole number, not the number 1.5"},
		{"boolean written yes", "r.yaml", replace("suppressionEnabled: true", "suppressionEnabled: yes"), Options{}, 14, "suppressionEnabled", `must be true or false, not "yes"`},
		{"tactics not a list", "r.yaml", replace("tactics:\n  - CredentialAccess\n  - InitialAccess", "tactics: CredentialAccess"), Options{}, 16, "tactics", "must be a list"},
		{"bad duration", "r.yaml", replace("queryPeriod: 1h", "queryPeriod: 1y"), Options{}, 11, "queryPeriod", `"1y" is not a duration`},
		{"fractional duration", "r.yaml", replace("queryPeriod: 1h", "queryPeriod: 1.5h"), Options{}, 11, "queryPeriod", `"1.5h" is not a duration`},
		{"empty ISO duration", "r.yaml", replace("queryPeriod: 1h", "queryPeriod: PT"), Options{}, 11, "queryPeriod", `"PT" is not a duration`},
		{"bad nested duration", "r.yaml", replace("lookbackDuration: 5h", "lookbackDuration: 5 hours"), Options{}, 51, "incidentConfiguration.groupingConfiguration.lookbackDuration", "is not a duration"},
		{"unknown operator", "r.yaml", replace("triggerOperator: gt", "triggerOperator: '>'"), Options{}, 12, "triggerOperator", `">" is not an operator`},
		{"bad technique", "r.yaml", replace("  - T1078.004", "  - T1078.4"), Options{}, 21, "relevantTechniques[1]", "is not a technique ID"},
		{"misspelt field", "r.yaml", replace("severity: Medium", "severity: Medium\nsevrity: High"), Options{}, 6, "sevrity", "not a field of a rule; did you mean severity?"},
		{"field in another case", "r.yaml", replace("queryFrequency: 5m", "QueryFrequency: 5m"), Options{}, 10, "QueryFrequency", "did you mean queryFrequency?"},
		{"short unknown field", "r.yaml", replace("severity: Medium", "severity: Medium\nto: soc"), Options{}, 6, "to", "not a field of a rule; the fields are"},
		{"unknown top-level field", "r.yaml", replace("severity: Medium", "severity: Medium\nowner: soc"), Options{}, 6, "owner", "not a field of a rule; the fields are alertDetailsOverride, customDetails,"},
		{"unknown nested field", "r.yaml", replace("columnName: IPAddress", "columnName: IPAddress\n        column: IPAddress"), Options{}, 34, "entityMappings[1].fieldMappings[0].column", "not a field of entityMappings[1].fieldMappings[0]"},
		{"entity mappings not a list", "r.yaml", replace("entityMappings:\n  - entityType: Account", "entityMappings:\n  entityType: Account\n  x:\n  - entityType: Account"), Options{}, 26, "entityMappings", "must be a list"},
		{"misspelt nested field", "r.yaml", replace("lookbackDuration: 5h", "lookBackDuration: 5h"), Options{}, 51, "incidentConfiguration.groupingConfiguration.lookBackDuration", "did you mean lookbackDuration?"},
		{"custom detail not a string", "r.yaml", replace("  Failures: Failures", "  Failures: [Failures]"), Options{}, 35, "customDetails.Failures", "must be a string, not a list"},
		{"duplicate field", "r.yaml", replace("severity: Medium", "severity: Medium\nseverity: High"), Options{}, 6, "severity", "appears twice (first on line 5)"},
		{"alias", "r.yaml", replace("severity: Medium", "severity: &s Medium\ntactic_alias: *s"), Options{}, 6, "tactic_alias", "not a field of a rule"},
		{"undefined alias", "r.yaml", replace("name: Many failed sign-ins, then a success", "name: *x"), Options{}, 0, "", "not valid YAML"},
		{"alias to another field's value", "r.yaml", strings.Replace(replace("name: Many", "name: &n Many"), "severity: Medium", "severity: *n", 1), Options{}, 5, "severity", "must be a string, not an alias (*n); write the value out"},
		{"merge key", "r.yaml", replace("severity: Medium", "<<: {severity: Medium}"), Options{}, 5, "", "a field name must be a plain word"},
		{"missing name", "r.yaml", replace("name: Many failed sign-ins, then a success\n", ""), Options{}, 0, "name", "missing"},
		{"empty query at the end of the file", "r.yaml", strings.TrimSuffix(replace("query: |\n  SigninLogs\n  | summarize Failures = countif(ResultType != \"0\") by UserPrincipalName, IPAddress\n", ""), "\n") + "\nquery: |", Options{}, 61, "query", "is empty"},
		{"blank name", "r.yaml", replace("name: Many failed sign-ins, then a success", "name: '  '"), Options{}, 2, "name", "is empty"},
		{"missing query", "r.yaml", replace("query: |\n  SigninLogs\n  | summarize Failures = countif(ResultType != \"0\") by UserPrincipalName, IPAddress\n", ""), Options{}, 0, "query", "missing"},
		{"missing id", "r.yaml", replace("id: 5d6f1c1e-0b6a-4c1e-9a51-2f1f0a7c9e01\n", ""), Options{}, 0, "id", "give one with --id"},
		{"id with a slash", "r.yaml", replace("id: 5d6f1c1e-0b6a-4c1e-9a51-2f1f0a7c9e01", "id: a/b"), Options{}, 1, "id", "letters, digits, dashes and underscores"},
		{"bad --id", "r.yaml", baseYAML, Options{ID: "a b"}, 0, "", "--id: a rule ID is"},
		{"Scheduled without a period", "r.yaml", replace("queryPeriod: 1h\n", ""), Options{}, 0, "queryPeriod", "a Scheduled rule needs it"},
		{"NRT with a frequency", "r.yaml", replace("kind: Scheduled", "kind: NRT"), Options{}, 10, "queryFrequency", "not a field of an NRT rule"},
		{"API JSON in a YAML file", "r.yaml", `{"kind": "Scheduled", "properties": {}}`, Options{}, 1, "properties", "save it in a .json file"},
		{"two documents", "r.yaml", baseYAML + "---\n" + baseYAML, Options{}, 64, "", "a second YAML document"},
		{"empty file", "r.yml", "", Options{}, 0, "", "the file is empty"},
		{"a list, not a rule", "r.yaml", "- a\n- b\n", Options{}, 1, "", "not a YAML mapping"},
		{"not UTF-8", "r.yaml", replace("severity: Medium", "severity: Medi\xffum"), Options{}, 5, "", "not UTF-8"},

		{"JSON syntax error", "r.json", "{\n  \"kind\": \"Scheduled\",\n  \"properties\": {\n}", Options{}, 4, "", "not valid JSON"},
		{"JSON scalar", "r.json", "42", Options{}, 1, "", "holds a JSON object"},
		{"JSON unknown kind", "r.json", `{"name":"r1","kind":"Fusion","properties":{"displayName":"d","query":"T"}}`, Options{}, 1, "kind", `"Fusion" rules are not carried over`},
		{"JSON without kind", "r.json", `{"name":"r1","properties":{"displayName":"d","query":"T"}}`, Options{}, 1, "kind", "missing"},
		{"JSON without name", "r.json", `{"kind":"NRT","properties":{"displayName":"d","query":"T"}}`, Options{}, 1, "name", "give one with --id"},
		{"JSON of another type", "r.json", `{"name":"i","type":"Microsoft.SecurityInsights/incidents","kind":"NRT","properties":{}}`, Options{}, 1, "type", "is not a rule's type"},
		{"JSON unknown field", "r.json", `{"name":"r1","kind":"NRT","propertes":{}}`, Options{}, 1, "", `unknown field "propertes"`},
		{"JSON name not a string", "r.json", `{"name":7,"kind":"NRT","properties":{}}`, Options{}, 1, "", "name must be a JSON string, not number"},
		{"JSON properties not an object", "r.json", `{"name":"r1","kind":"NRT","properties":[1]}`, Options{}, 1, "properties", "must be a JSON object, not array"},
		{"JSON without a query", "r.json", `{"name":"r1","kind":"NRT","properties":{"displayName":"d"}}`, Options{}, 1, "properties.query", "missing"},
		{"JSON list with a bad second rule", "r.json", "{\"value\": [\n  {\"name\":\"a\",\"kind\":\"NRT\",\"properties\":{\"displayName\":\"d\",\"query\":\"T\"}},\n  {\"name\":\"b\",\"kind\":\"NRT\",\"properties\":{\"displayName\":\"d\"}}\n]}", Options{}, 3, "rule 2: properties.query", "missing"},
		{"JSON listing with another field", "r.json", `{"value":[],"kind":"NRT"}`, Options{}, 0, "kind", "a listing has only value"},
		{"JSON list and --id", "r.json", `[{"name":"a","kind":"NRT","properties":{"displayName":"d","query":"T"}},{"name":"b","kind":"NRT","properties":{"displayName":"d","query":"T"}}]`, Options{ID: "x"}, 0, "", "--id names one rule, but the file holds 2"},
		{"JSON not UTF-8", "r.json", "{\"name\":\"r\xff\"}", Options{}, 1, "", "not UTF-8"},
		{"empty JSON", "r.json", " \n", Options{}, 0, "", "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.file, []byte(tc.text), tc.opts)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Read = %v, want an *Error", err)
			}
			if fe.File != tc.file || (tc.line != 0 && fe.Line != tc.line) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.want) {
				t.Errorf("got file %q line %d field %q: %q\nwant file %q line %d field %q: …%s…", fe.File, fe.Line, fe.Field, fe.Msg, tc.file, tc.line, tc.field, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.file+":") {
				t.Errorf("the message does not start with the file: %s", err)
			}
		})
	}
}

func TestTheAPIsJSONIsReadAsItIsListedAndShown(t *testing.T) {
	one := `{"id":"/subscriptions/s/…/alertRules/r1","name":"r1","type":"Microsoft.SecurityInsights/alertRules","kind":"Scheduled","etag":"\"3\"",
	  "properties":{"displayName":"Failed logins","query":"Events_CL | take 1","severity":"Low","enabled":false,"triggerThreshold":3,
	  "queryFrequency":"PT5M","queryPeriod":"PT5M","triggerOperator":"GreaterThan","lastModifiedUtc":"2026-12-01T00:00:00Z"}}`
	other := `{"name":"r2","kind":"NRT","properties":{"displayName":"New admin","query":"AuditLogs","severity":"High"}}`
	for _, tc := range []struct {
		name, text string
		ids        []string
	}{
		{"one rule", one, []string{"r1"}},
		{"a listing", `{"value":[` + one + `,` + other + `],"nextLink":""}`, []string{"r1", "r2"}},
		{"an array", "[\n" + one + ",\n" + other + "\n]", []string{"r1", "r2"}},
		{"an empty array", "[]", nil},
		{"one rule after a byte order mark", "\ufeff" + one, []string{"r1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := Read("rules.json", []byte(tc.text), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rules {
				ids = append(ids, r.ID)
			}
			if !reflect.DeepEqual(ids, tc.ids) {
				t.Fatalf("IDs %v, want %v", ids, tc.ids)
			}
			if len(rules) == 0 {
				return
			}
			p := rules[0].Properties
			if rules[0].Kind != KindScheduled || p["enabled"] != false || p["displayName"] != "Failed logins" {
				t.Errorf("first rule: kind %s, properties %v", rules[0].Kind, p)
			}
			if n, ok := p["triggerThreshold"].(json.Number); !ok || n.String() != "3" {
				t.Errorf("triggerThreshold %#v, want the number 3 as it was", p["triggerThreshold"])
			}
		})
	}
	if r := readOne(t, "r.json", other, Options{ID: "renamed"}); r.ID != "renamed" {
		t.Errorf("--id on a JSON rule: %q", r.ID)
	}
}

func TestOnlyJSONAndYAMLFilesAreRules(t *testing.T) {
	for name, want := range map[string]bool{"a.json": true, "b.YAML": true, "c.yml": true, "d.txt": false, "e": false, "f.json.bak": false} {
		if IsRuleFile(name) != want {
			t.Errorf("IsRuleFile(%q) = %v", name, !want)
		}
	}
	if _, err := Read("notes.txt", []byte("x"), Options{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Read(notes.txt) = %v, want ErrUnknownFormat", err)
	}
	big := make([]byte, MaxFileBytes+1)
	if _, err := Read("big.json", big, Options{}); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("an oversized file: %v", err)
	}
}

// TestTheExampleRulesConvert keeps docs/examples/rules readable as rules.
func TestTheExampleRulesConvert(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "examples", "rules")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		rules, err := Read(e.Name(), data, Options{})
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
		n += len(rules)
	}
	if n < 2 {
		t.Errorf("docs/examples/rules holds %d rules, want the YAML and the JSON example", n)
	}
}
