package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/node"
)

// The example rules in docs/examples/rules, and the IDs they carry.
const (
	bruteForceRule = "3f0c9a52-7d1e-4b8a-9c64-2e5b71d0a8f3" // brute-force-then-success.yaml, Scheduled
	lockoutRule    = "account-lockout"                      // account-lockout.json, NRT
)

var examplesDir = filepath.Join("..", "..", "docs", "examples", "rules")

// ruleWorkspace is a node with workspace secops in rg1, onboarded, with a
// SecurityEvent table holding docs/examples/events.json, which the example
// rules' queries read.
func ruleWorkspace(t *testing.T) *testNode {
	t.Helper()
	// the node's scheduler does not run the rules here, so that the runs the
	// tests write are the only ones (its first tick finds no rule)
	n := incidentWorkspaceOn(t, startNodeWith(t, node.Config{RuleInterval: 24 * time.Hour}))
	n.must("dcr", "create", "--name", "security-events", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-SecurityEvent",
		"--table", "SecurityEvent", "--column", "Computer:string", "--column", "Account:string", "--column", "EventID:int", "--column", "Activity:string")
	n.must("ingest", "--dcr", "security-events", "--stream", "Custom-SecurityEvent", "--file", filepath.Join("..", "..", "docs", "examples", "events.json"))
	return n
}

// writeFile writes text to dir/name, making the folders it needs.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyExamples(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		writeFile(t, dir, e.Name(), mustRead(t, filepath.Join(examplesDir, e.Name())))
	}
}

// A query whose second line names a column SecurityEvent does not have.
const badQueryRule = `id: 0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b
name: Logons of a column that does not exist
severity: Low
queryFrequency: 1h
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
query: |
  SecurityEvent
  | where NoSuchColumn == 1
`

// A rule whose frequency is no duration, on line 4.
const unreadableRule = `id: 1a2b3c4d-0000-4000-8000-000000000001
name: Broken
severity: Low
queryFrequency: often
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
query: SecurityEvent
`

func TestAFolderOfRulesIsImportedWithAReportForEachFile(t *testing.T) {
	n := ruleWorkspace(t)
	dir := t.TempDir()
	copyExamples(t, dir)
	writeFile(t, dir, "more/bad-query.yaml", badQueryRule)
	writeFile(t, dir, "more/deeper/broken.yml", unreadableRule)
	writeFile(t, dir, "more/README.txt", "not a rule")
	writeFile(t, dir, ".git/ignored.yaml", "not: a rule")

	r := n.run("rule", "import", "--workspace", "secops", dir, "--progress")
	if r.code != exitError {
		t.Fatalf("an import with a refused rule: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitError, r.stdout, r.stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^created +\S+account-lockout.json +account-lockout +Account locked out$`),
		regexp.MustCompile(`(?m)^created +\S+brute-force-then-success.yaml +` + bruteForceRule + ` +Brute force followed by a successful logon$`),
		regexp.MustCompile(`(?m)^refused +\S+bad-query.yaml +0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b`),
		regexp.MustCompile(`(?m)^ +BadRequest \(HTTP 400\): properties.query does not compile: semantic error at 2:9: .*NoSuchColumn`),
		regexp.MustCompile(`(?m)^ +\| where NoSuchColumn == 1\n +\^$`),
		regexp.MustCompile(`(?m)^unreadable +\S+broken.yml:4: queryFrequency: "often" is not a duration`),
		regexp.MustCompile(`(?m)^note \(1 rule\): ignored requiredDataConnectors: `),
		regexp.MustCompile(`(?m)^Imported 2 of 3 rules into workspace secops \(2 created, 0 updated\); 1 refused, 1 file unreadable\.$`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("the report does not match %s:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "README.txt") || strings.Contains(r.stdout, "ignored.yaml") {
		t.Errorf("the import read a file that is no rule, or a hidden folder:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "import rules") || !strings.Contains(r.stderr, "error: not every rule was imported: 1 rule refused, 1 file unreadable") {
		t.Errorf("stderr shows no progress bar or no error:\n%s", r.stderr)
	}

	list := decode[[]ruleResource](t, n.must("rule", "list", "-w", "secops", "-o", "json"))
	if len(list) != 2 || list[0].Name != bruteForceRule || list[1].Name != lockoutRule || !list[0].Properties.Enabled || !list[1].Properties.Enabled {
		t.Fatalf("rules after the import: %+v", list)
	}
	table := n.must("rule", "list", "-w", "secops")
	for _, want := range []string{"NAME", "FREQUENCY/PERIOD", "DISPLAY NAME", "PT5M/PT1H", "Brute force followed by a successful logon", "NRT"} {
		if !strings.Contains(table, want) {
			t.Errorf("rule list does not show %q:\n%s", want, table)
		}
	}
	shown := decode[map[string]any](t, n.must("rule", "show", "-w", "secops", bruteForceRule, "-o", "json"))
	props := shown["properties"].(map[string]any)
	if props["queryFrequency"] != "PT5M" || props["triggerOperator"] != "GreaterThan" || !reflect.DeepEqual(props["subTechniques"], []any{"T1110.001"}) ||
		!reflect.DeepEqual(props["techniques"], []any{"T1110"}) || props["incidentConfiguration"].(map[string]any)["groupingConfiguration"].(map[string]any)["lookbackDuration"] != "PT5H" {
		t.Errorf("the YAML rule as stored: %v", props)
	}

	// Again, as JSON, the good files alone: the rules are updated in place.
	r = n.run("rule", "import", "-w", "secops", filepath.Join(dir, "account-lockout.json"), filepath.Join(dir, "brute-force-then-success.yaml"), "-o", "json")
	if r.code != 0 {
		t.Fatalf("import again: exit %d\n%s", r.code, r.stderr)
	}
	rep := decode[importReport](t, r.stdout)
	if rep.Updated != 2 || rep.Created != 0 || len(rep.Rules) != 2 || rep.Rules[0].Result != "updated" || rep.Rules[1].Kind != "Scheduled" || len(rep.Rules[1].Notes) != 2 {
		t.Errorf("the second import's report: %+v", rep)
	}

	// What `rule list -o json` prints is read back by import.
	exported := writeFile(t, t.TempDir(), "all.json", n.must("rule", "list", "-w", "secops", "-o", "json"))
	n.must("rule", "delete", "-w", "secops", bruteForceRule)
	n.must("rule", "delete", "-w", "secops", lockoutRule)
	if out := n.must("rule", "import", "-w", "secops", exported); !strings.Contains(out, "Imported 2 of 2 rules into workspace secops (2 created, 0 updated)") {
		t.Errorf("importing the listing:\n%s", out)
	}
}

func TestADryRunReadsTheFilesAndSendsNothing(t *testing.T) {
	dir := t.TempDir()
	copyExamples(t, dir)
	writeFile(t, dir, "broken.yml", unreadableRule)
	r := runCLI(t, t.TempDir(), "rule", "import", "--dry-run", dir, "-o", "json") // no node, no login: nothing may be sent
	if r.code != exitError {
		t.Fatalf("a dry run with an unreadable file: exit %d\n%s", r.code, r.stderr)
	}
	rep := decode[importReport](t, r.stdout)
	if !rep.DryRun || rep.Valid != 2 || rep.Unreadable != 1 || rep.Rules[1].Line != 4 || !strings.Contains(rep.Rules[1].Error, "queryFrequency") {
		t.Errorf("dry-run report: %+v", rep)
	}
	r = runCLI(t, t.TempDir(), "rule", "import", "--dry-run", examplesDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Checked: 2 rules valid, 0 files unreadable; nothing was sent") {
		t.Errorf("a dry run of the examples: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("a progress bar or message on stderr, which is no terminal, without --progress: %q", r.stderr)
	}

	// Paths given one by one: a file that is no rule file, and one that is not there.
	notes := writeFile(t, dir, "notes.txt", "x")
	r = runCLI(t, t.TempDir(), "rule", "import", "--dry-run", notes, filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "account-lockout.json"))
	for _, want := range []string{"unreadable  " + notes + ": not a rule file", "unreadable  " + filepath.Join(dir, "missing.yaml") + ": no such file",
		"valid       " + filepath.Join(dir, "account-lockout.json"), "Checked: 1 rule valid, 2 files unreadable"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report does not say %q:\n%s", want, r.stdout)
		}
	}
}

func TestEnableAndDisableChangeNothingElse(t *testing.T) {
	n := ruleWorkspace(t)
	out := n.must("rule", "create", "-w", "secops", "--file", filepath.Join(examplesDir, "brute-force-then-success.yaml"))
	if !regexp.MustCompile(`(?m)^`+bruteForceRule+` +Scheduled +yes +High +PT5M/PT1H +Brute force`).MatchString(out) || !strings.Contains(out, "| where EventID in (4624, 4625)") {
		t.Errorf("rule create:\n%s", out)
	}
	before := decode[map[string]any](t, n.must("rule", "show", "-w", "secops", bruteForceRule, "-o", "json"))

	if out := n.must("rule", "disable", "-w", "secops", bruteForceRule); !regexp.MustCompile(`Scheduled +no +High`).MatchString(out) {
		t.Errorf("rule disable:\n%s", out)
	}
	after := decode[map[string]any](t, n.must("rule", "show", "-w", "secops", bruteForceRule, "-o", "json"))
	if after["etag"] == before["etag"] {
		t.Error("disabling did not change the etag")
	}
	bp, ap := before["properties"].(map[string]any), after["properties"].(map[string]any)
	if bp["enabled"] != true || ap["enabled"] != false {
		t.Fatalf("enabled before %v, after %v", bp["enabled"], ap["enabled"])
	}
	for _, p := range []map[string]any{bp, ap} {
		delete(p, "enabled")
		delete(p, "lastModifiedUtc")
	}
	if !reflect.DeepEqual(bp, ap) || before["kind"] != after["kind"] {
		t.Errorf("disabling changed more than enabled:\nbefore %v\nafter  %v", bp, ap)
	}

	again := decode[ruleResource](t, n.must("rule", "enable", "-w", "secops", bruteForceRule, "-o", "json"))
	if !again.Properties.Enabled || again.Properties.Query != bp["query"] {
		t.Errorf("enabled again: %+v", again.Properties)
	}
	if r := n.run("rule", "disable", "-w", "secops", "no-such-rule"); r.code != exitError || !strings.Contains(r.stderr, "NotFound") {
		t.Errorf("disabling a rule that does not exist: exit %d\n%s", r.code, r.stderr)
	}
}

func TestAStaleRuleUpdateIsRefusedAsChangedBySomeoneElse(t *testing.T) {
	n := ruleWorkspace(t)
	file := filepath.Join(examplesDir, "account-lockout.json")
	if r := n.run("rule", "update", "-w", "secops", "--file", file); r.code != exitError || !strings.Contains(r.stderr, "has no rule account-lockout; create it with `sealwatch rule create") {
		t.Errorf("updating a rule that does not exist: exit %d\n%s", r.code, r.stderr)
	}
	n.must("rule", "create", "-w", "secops", "--file", file)
	if r := n.run("rule", "create", "-w", "secops", "--file", file); r.code != exitError || !strings.Contains(r.stderr, "already has rule account-lockout; change it with `sealwatch rule update") {
		t.Errorf("creating a rule twice: exit %d\n%s", r.code, r.stderr)
	}
	read := decode[ruleResource](t, n.must("rule", "show", "-w", "secops", lockoutRule, "-o", "json"))
	n.must("rule", "disable", "-w", "secops", lockoutRule) // someone else, after we read it

	r := n.run("rule", "update", "-w", "secops", "--file", file, "--etag", read.Etag)
	if r.code != exitError {
		t.Fatalf("a stale update: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"update rule account-lockout: it was changed by someone else since you read it; run again", "PreconditionFailed (HTTP 412)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
		}
	}

	// Run again: it reads the rule afresh, and the rule stays disabled, as
	// the file does not say.
	edited := strings.Replace(mustRead(t, file), `"severity": "Medium"`, `"severity": "High"`, 1)
	updated := decode[ruleResource](t, n.must("rule", "update", "-w", "secops", "--file", writeFile(t, t.TempDir(), "lockout.json", edited), "-o", "json"))
	if updated.Properties.Severity != "High" || updated.Properties.Enabled {
		t.Errorf("after the update: %+v", updated.Properties)
	}
}

func TestRuleRunsShowTheHealthTable(t *testing.T) {
	n := ruleWorkspace(t)
	n.must("rule", "create", "-w", "secops", "--file", filepath.Join(examplesDir, "account-lockout.json"))
	if out := n.must("rule", "runs", "-w", "secops", lockoutRule); strings.TrimSpace(out) != "no runs of rule account-lockout recorded since 24h" {
		t.Errorf("runs before any is recorded:\n%s", out)
	}
	if out := n.must("rule", "runs", "-w", "secops", lockoutRule, "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("runs -o json before any is recorded: %s", out)
	}

	// The scheduler's rows, written here as it writes them.
	n.must("dcr", "create", "--name", "health", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-Health", "--table", "SentinelHealth",
		"--column", "OperationName:string", "--column", "SentinelResourceId:string", "--column", "SentinelResourceName:string",
		"--column", "SentinelResourceKind:string", "--column", "SentinelResourceType:string", "--column", "Status:string",
		"--column", "Reason:string", "--column", "Description:string", "--column", "ExtendedProperties:dynamic")
	now := time.Now().UTC()
	at := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
	run := func(ago time.Duration, rule, status, reason string, ext map[string]any) map[string]any {
		return map[string]any{"TimeGenerated": at(ago), "OperationName": "Analytics Rule Run", "SentinelResourceName": rule,
			"SentinelResourceId": "/subscriptions/x/alertRules/" + rule, "SentinelResourceKind": "NRT", "SentinelResourceType": "Analytics Rule",
			"Status": status, "Reason": reason, "Description": "", "ExtendedProperties": ext}
	}
	rows := writeRows(t, "health.json", false,
		run(3*time.Minute, lockoutRule, "Success", "", map[string]any{"Outcome": "ran", "QueryStartTimeUtc": at(4 * time.Minute), "QueryEndTimeUtc": at(3 * time.Minute),
			"ResultsCount": 2, "AlertsGenerated": 2, "IncidentsCreated": 1, "IncidentsUpdated": 1, "DurationMs": 42}),
		run(2*time.Minute, lockoutRule, "Failure", "the key is revoked", map[string]any{"Outcome": "failed", "Error": "CustomerManagedKeyInaccessible", "DurationMs": 3}),
		run(time.Minute, "another-rule", "Success", "", map[string]any{"Outcome": "ran"}),
		run(5*time.Minute, lockoutRule, "Skipped", "the node was down", map[string]any{"Outcome": "skipped", "SkippedFrom": at(20 * time.Minute), "SkippedTo": at(6 * time.Minute)}),
		run(48*time.Hour, lockoutRule, "Success", "", map[string]any{"Outcome": "caughtUp"}))
	n.must("ingest", "--dcr", "health", "--stream", "Custom-Health", "--file", rows)

	out := n.must("rule", "runs", "-w", "secops", lockoutRule)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("runs of the last 24 hours, newest first:\n%s", out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Failure +failed .* 3ms +CustomerManagedKeyInaccessible$`),
		regexp.MustCompile(`Success +ran +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d – \d\d:\d\d:\d\d +2 +2 +1 created, 1 updated +42ms +-$`),
		regexp.MustCompile(`Skipped +skipped +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d – \S+ .* +the node was down$`),
	} {
		if !want.MatchString(lines[1]) && !want.MatchString(lines[2]) && !want.MatchString(lines[3]) {
			t.Errorf("no run matches %s:\n%s", want, out)
		}
	}
	if !strings.Contains(lines[1], "Failure") {
		t.Errorf("the newest run is not first:\n%s", out)
	}

	all := decode[[]map[string]any](t, n.must("rule", "runs", "-w", "secops", lockoutRule, "--since", "7d", "-o", "json"))
	if len(all) != 4 || all[3]["ExtendedProperties"].(map[string]any)["Outcome"] != "caughtUp" || all[0]["SentinelResourceName"] != lockoutRule {
		t.Errorf("runs --since 7d -o json: %v", all)
	}
	if newest := decode[[]map[string]any](t, n.must("rule", "runs", "-w", "secops", lockoutRule, "--limit", "1", "-o", "json")); len(newest) != 1 || newest[0]["Status"] != "Failure" {
		t.Errorf("runs --limit 1: %v", newest)
	}
	if out := n.must("rule", "runs", "-w", "secops", lockoutRule, "--since", "1m"); strings.TrimSpace(out) != "no runs of rule account-lockout recorded since 1m" {
		t.Errorf("runs --since 1m:\n%s", out)
	}
	if r := n.run("rule", "runs", "-w", "secops", "no-such-rule"); r.code != exitError || !strings.Contains(r.stderr, "workspace secops has no rule no-such-rule") {
		t.Errorf("runs of a rule that does not exist: exit %d\n%s", r.code, r.stderr)
	}
}

func TestRuleCommandLinesAreUsageErrors(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	dir := t.TempDir()
	requireUsageErrors(t, config, []usageCase{
		{"import without paths", []string{"rule", "import", "-w", "w"}, "import needs the files or folders"},
		{"import without a workspace", []string{"rule", "import", dir}, "import needs the workspace"},
		{"--id with a folder", []string{"rule", "import", "-w", "w", "--id", "x", dir}, "--id names one rule"},
		{"create without a file", []string{"rule", "create", "-w", "w"}, `required flag(s) "file" not set`},
		{"show without an ID", []string{"rule", "show", "-w", "w"}, "accepts 1 arg(s)"},
		{"runs of an ID that cannot be one", []string{"rule", "runs", "-w", "w", `x" or true`}, "a rule ID is 1-128 letters"},
		{"runs with no limit", []string{"rule", "runs", "-w", "w", "r", "--limit", "0"}, "--limit must be from 1 to 10000"},
		{"runs since when", []string{"rule", "runs", "-w", "w", "r", "--since", "yesterday"}, "--since"},
	})
}

func TestAnUnreadableRuleFileIsRefusedBeforeAnythingIsSent(t *testing.T) {
	file := writeFile(t, t.TempDir(), "broken.yml", unreadableRule)
	r := runCLI(t, t.TempDir(), "rule", "create", "-w", "w", "--file", file) // no node: it must fail on the file
	if r.code != exitError || !strings.Contains(r.stderr, "broken.yml:4: queryFrequency: \"often\" is not a duration") {
		t.Errorf("create from an unreadable file: exit %d\n%s", r.code, r.stderr)
	}
}

// everyFieldRule uses every field the community format carries over, so
// that the node's own validation proves the conversion's output is a rule.
const everyFieldRule = `id: 9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
name: Every field
description: A synthetic rule with every field the format carries over.
severity: Medium
queryFrequency: 10m
queryPeriod: 2h
triggerOperator: ne
triggerThreshold: 3
suppressionEnabled: true
suppressionDuration: 1h
tactics: [CredentialAccess, InitialAccess]
relevantTechniques: [T1110, T1078.004]
query: |
  SecurityEvent
  | summarize Failures = count() by Account, Computer
  | extend Sev = "High", Tac = "CredentialAccess", Product = "Sealwatch"
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: Account
  - entityType: Host
    fieldMappings:
      - identifier: HostName
        columnName: Computer
customDetails:
  Failures: Failures
alertDetailsOverride:
  alertDisplayNameFormat: "{{Account}} failed {{Failures}} times"
  alertDescriptionFormat: On {{Computer}}
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
    reopenClosedIncident: true
    lookbackDuration: 1d
    matchingMethod: Selected
    groupByEntities: [Account]
    groupByAlertDetails: [DisplayName]
    groupByCustomDetails: [Failures]
enabled: false
kind: Scheduled
`

const nrtRule = `id: nrt-logon-failures
name: Logon failures as they arrive
severity: Low
kind: nrt
query: SecurityEvent | where EventID == 4625
suppressionEnabled: false
incidentConfiguration:
  createIncident: false
`

func TestEveryConvertedFieldIsARuleTheNodeAccepts(t *testing.T) {
	n := ruleWorkspace(t)
	dir := t.TempDir()
	writeFile(t, dir, "every-field.yaml", everyFieldRule)
	writeFile(t, dir, "nrt.yml", nrtRule)
	n.must("rule", "import", "-w", "secops", dir)

	got := decode[map[string]any](t, n.must("rule", "show", "-w", "secops", "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "-o", "json"))
	p := got["properties"].(map[string]any)
	for field, want := range map[string]any{
		"queryFrequency": "PT10M", "queryPeriod": "PT2H", "triggerOperator": "NotEqual", "triggerThreshold": 3.0,
		"suppressionDuration": "PT1H", "enabled": false, "techniques": []any{"T1110", "T1078"}, "subTechniques": []any{"T1078.004"},
	} {
		if !reflect.DeepEqual(p[field], want) {
			t.Errorf("%s = %#v, want %#v", field, p[field], want)
		}
	}
	if g := p["incidentConfiguration"].(map[string]any)["groupingConfiguration"].(map[string]any); g["lookbackDuration"] != "P1D" || g["reopenClosedIncident"] != true {
		t.Errorf("grouping: %v", g)
	}
	nrt := decode[ruleResource](t, n.must("rule", "show", "-w", "secops", "nrt-logon-failures", "-o", "json"))
	if nrt.Kind != "NRT" || !nrt.Properties.Enabled || nrt.Properties.QueryFrequency != "" {
		t.Errorf("the NRT rule: %+v", nrt)
	}
}

// TestAnImportedRuleRaisesAGroupedIncident is the README's worked example
// against a node whose scheduler runs: a brute force followed by a success
// on two computers raises two alerts, grouped by account into one
// incident, which `incident show --number` lists with its entities.
func TestAnImportedRuleRaisesAGroupedIncident(t *testing.T) {
	n := incidentWorkspaceOn(t, startNodeWith(t, node.Config{RuleInterval: 100 * time.Millisecond}))
	n.must("dcr", "create", "--name", "security-events", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-SecurityEvent",
		"--table", "SecurityEvent", "--column", "Computer:string", "--column", "Account:string", "--column", "EventID:int", "--column", "Activity:string")
	n.must("ingest", "--dcr", "security-events", "--stream", "Custom-SecurityEvent", "--file", filepath.Join("..", "..", "docs", "examples", "logons.json"))
	n.must("rule", "import", "--workspace", "secops", filepath.Join(examplesDir, "brute-force-then-success.yaml"))

	runs := n.must("rule", "runs", "--workspace", "secops", bruteForceRule, "--wait", "30s")
	if !regexp.MustCompile(`Success +ran .* 2 +2 +1 created, 1 updated`).MatchString(runs) {
		t.Fatalf("the rule's first run:\n%s", runs)
	}
	show := n.must("incident", "show", "--workspace", "secops", "--number", "1")
	for _, want := range []string{"CORP\\mallory logged on after 6 failures", "CORP\\mallory logged on after 5 failures", "Entities:", "web02", "dc01"} {
		if !strings.Contains(show, want) {
			t.Fatalf("incident 1 lacks %q:\n%s", want, show)
		}
	}
	if r := n.run("incident", "show", "--workspace", "secops", "--number", "2"); r.code == 0 || !strings.Contains(r.stderr, "no incident number 2") {
		t.Fatalf("a second incident, or a poor error: %d %s", r.code, r.stderr)
	}
	if r := n.run("rule", "runs", "--workspace", "secops", "no-such-rule", "--wait", "1s"); r.code == 0 || !strings.Contains(r.stderr, "has no rule no-such-rule") {
		t.Fatalf("waiting for the runs of a rule that does not exist: %d %s", r.code, r.stderr)
	}
}
