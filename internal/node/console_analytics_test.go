package node

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealwatch/sealwatch/internal/automation"
	"github.com/sealwatch/sealwatch/internal/console/browsertest"
)

// openAnalytics signs in to the console of cs's node and opens the
// Analytics page, its rule editor's shadow root reachable as editorRoot()
// for typeQuery.
func openAnalytics(t *testing.T, cs *cmkSetup) *browsertest.Browser {
	t.Helper()
	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	b.Do(t, browsertest.Script(`window.editorRoot = () => document.getElementById('rule-query-editor').shadowRoot;`))
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="analytics"]`)))
	shown := browsertest.Value(t, b, chromedp.Poll[bool](`document.getElementById('rules') !== null || document.getElementById('rules-error')?.hidden === false`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if !shown || browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('rules') === null`)) {
		t.Fatalf("the Analytics page shows no rules: %q; the page reported %q",
			browsertest.Value(t, b, chromedp.Text(chromedp.ID("page-body"))), b.Problems(t))
	}
	return b
}

// poll waits, up to 30 s, for expression to be true in the page; if it
// never is, the test fails showing what the page says.
func poll(t *testing.T, b *browsertest.Browser, expression string) {
	t.Helper()
	ok := browsertest.Value(t, b, chromedp.Evaluate[bool](`new Promise((resolve) => {
		const end = Date.now() + 30000;
		const check = () => { if (`+expression+`) resolve(true); else if (Date.now() > end) resolve(false); else setTimeout(check, 200); };
		check(); })`, chromedp.EvalAwaitPromise))
	if !ok {
		t.Fatalf("the page never came to %s; it shows:\n%s\nand reported %q", expression,
			browsertest.Value(t, b, chromedp.Text(chromedp.ID("page-body"))), b.Problems(t))
	}
}

// TestConsoleAnalyticsRuleIsWrittenCheckedSavedRunAndDisabled: in
// Chromium, a rule is created in the Analytics page's form; its query,
// typed wrong, is shown wrong at its line and column before it is saved,
// and typed right, shows its result's columns; saved, the rule runs (the
// scheduler runs a new rule at once) and its run, with its alert, shows in
// the list and in the rule's runs; saved again after a change made over the
// API meanwhile, the conflict is shown and the rule reloaded, not
// overwritten; disabled from the list, it is disabled over the API. A rule
// file picked for import is imported, and that rule deleted once confirmed.
func TestConsoleAnalyticsRuleIsWrittenCheckedSavedRunAndDisabled(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond})
	immutableID, tok := cs.dcr()
	now := time.Now().UTC()
	var rows []map[string]any
	for i, msg := range []string{"console-row-1", "console-row-2", "other"} {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339), "Message": msg})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	b := openAnalytics(t, cs)

	b.Do(t,
		chromedp.Click(chromedp.ID("new-rule")),
		chromedp.WaitVisible(chromedp.ID("rule-form")),
		chromedp.SendKeys(chromedp.ID("rule-name"), "Console rows seen"),
		typeQuery("Events_CL\n| where"),
	)
	poll(t, b, `document.getElementById('rule-query-status').textContent.startsWith('Line 2, column 8')`)
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("rule-query-status"))); !strings.Contains(msg, "syntax error at 2:8") {
		t.Errorf("the bad query reads %q", msg)
	}
	b.RequireAccessible(t, "the rule form")
	b.Do(t,
		typeQuery("Events_CL\n| where Message startswith 'console-row'\n| summarize Seen = count() by Message"),
	)
	poll(t, b, `document.getElementById('rule-query-status').textContent.startsWith('The query compiles')`)
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("rule-query-status"))); !strings.Contains(msg, "Message (string), Seen (long)") {
		t.Errorf("the good query reads %q, want its columns", msg)
	}
	b.Do(t,
		chromedp.Click(chromedp.ID("rule-add-entity")),
		chromedp.SetValue(chromedp.ID("rule-entity-1-type"), "Host"),
		chromedp.SendKeys(chromedp.ID("rule-entity-1-identifier-1"), "HostName"),
		chromedp.SendKeys(chromedp.ID("rule-entity-1-column-1"), "Message"),
		chromedp.Click(chromedp.ID("rule-tactic-Discovery")),
		chromedp.SetValue(chromedp.ID("rule-alert-grouping"), "AlertPerResult"),
	)
	b.Do(t, chromedp.Click(chromedp.ID("rule-save")))
	poll(t, b, `document.getElementById('rules-status').textContent === 'Console rows seen is saved.'`)

	var list struct {
		Value []struct {
			Name       string
			Properties struct {
				Enabled        bool
				QueryFrequency string
				EntityMappings []struct {
					EntityType    string
					FieldMappings []struct{ Identifier, ColumnName string }
				}
				Tactics               []string
				EventGroupingSettings struct{ AggregationKind string }
				IncidentConfiguration struct{ CreateIncident bool }
			}
		}
	}
	if st := cs.call("GET", cs.alertRuleURL(""), cs.mgmt, nil, &list); st != 200 || len(list.Value) != 1 {
		t.Fatalf("rules over the API: %d %+v", st, list)
	}
	saved := list.Value[0]
	if p := saved.Properties; !p.Enabled || p.QueryFrequency != "PT5M" || len(p.EntityMappings) != 1 || p.EntityMappings[0].EntityType != "Host" ||
		p.EntityMappings[0].FieldMappings[0].ColumnName != "Message" || strings.Join(p.Tactics, ",") != "Discovery" ||
		p.EventGroupingSettings.AggregationKind != "AlertPerResult" || !p.IncidentConfiguration.CreateIncident {
		t.Errorf("the saved rule is %+v", p)
	}

	// The new rule runs at once; Refresh reads its health.
	lastRun := `document.querySelector('#rules tr[data-rule="` + saved.Name + `"] td:nth-child(5)')`
	poll(t, b, `(() => { const td = `+lastRun+`; if (td && /ran, [1-9]\d* alerts?$/.test(td.textContent)) return true;
		document.getElementById('refresh-rules').click(); return false; })()`)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`#rules tr[data-rule="`+saved.Name+`"] button.link`)),
		chromedp.WaitVisible(chromedp.ID("rule-runs-table")),
	)
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#rule-runs-table tbody tr"))); !regexp.MustCompile(`Success\s+ran`).MatchString(got) {
		t.Errorf("the rule's runs show %q, want its successful run", got)
	}

	// Changed over the API meanwhile, the rule is not overwritten by the
	// form: the conflict is said, and Reload shows the other change.
	var current map[string]any
	cs.call("GET", cs.alertRuleURL("/"+saved.Name), cs.mgmt, nil, &current)
	current["properties"].(map[string]any)["displayName"] = "Console rows seen (renamed)"
	if st := cs.call("PUT", cs.alertRuleURL("/"+saved.Name), cs.mgmt, current, nil); st != 200 {
		t.Fatalf("change the rule over the API: %d", st)
	}
	b.Do(t,
		chromedp.SetValue(chromedp.ID("rule-severity"), "High"),
		chromedp.Click(chromedp.ID("rule-save")),
		chromedp.WaitVisible(chromedp.ID("rule-reload")),
	)
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("rule-form-error"))); !strings.Contains(msg, "changed by someone else") {
		t.Errorf("the conflicting save reads %q", msg)
	}
	b.Do(t, chromedp.Click(chromedp.ID("rule-reload")))
	poll(t, b, `document.getElementById('rule-name').value === 'Console rows seen (renamed)'`)
	b.Do(t, chromedp.Click(chromedp.ID("refresh-rules")))
	poll(t, b, `document.querySelector('#rules button[aria-label="Disable Console rows seen (renamed)"]') !== null`)

	b.Do(t, chromedp.Click(chromedp.CSS(`#rules tr[data-rule="`+saved.Name+`"] button[aria-label="Disable Console rows seen (renamed)"]`)))
	poll(t, b, `(document.querySelector('#rules tr[data-rule="`+saved.Name+`"] td:nth-child(4)') || {}).textContent === 'Disabled'`)
	var rule struct{ Properties struct{ Enabled bool } }
	if st := cs.call("GET", cs.alertRuleURL("/"+saved.Name), cs.mgmt, nil, &rule); st != 200 || rule.Properties.Enabled {
		t.Errorf("after Disable the rule reads %d enabled=%v", st, rule.Properties.Enabled)
	}

	example, err := filepath.Abs("../../docs/examples/rules/brute-force-then-success.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b.Do(t,
		chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{example}),
		chromedp.WaitVisible(chromedp.ID("import-results")),
	)
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#import-results tbody tr"))); !strings.Contains(got, "Brute force followed by a successful logon") || !strings.Contains(got, "created") {
		t.Errorf("the import reports %q", got)
	}
	b.RequireAccessible(t, "the rules with their health, an import and a rule's runs")
	poll(t, b, `document.querySelector('#rules tr[data-rule="3f0c9a52-7d1e-4b8a-9c64-2e5b71d0a8f3"]') !== null`)
	// Deleting asks first.
	b.Do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete Brute force followed by a successful logon"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-delete")),
		chromedp.Click(chromedp.ID("confirm-delete")),
	)
	poll(t, b, `document.querySelector('#rules tr[data-rule="3f0c9a52-7d1e-4b8a-9c64-2e5b71d0a8f3"]') === null`)
	if st := cs.call("GET", cs.alertRuleURL("/3f0c9a52-7d1e-4b8a-9c64-2e5b71d0a8f3"), cs.mgmt, nil, nil); st != 404 {
		t.Errorf("the deleted rule reads %d, want 404", st)
	}
	// The screenshots come last: a full-page one moves the layout under
	// the next click.
	b.Screenshot(t, "analytics")
	b.Do(t, typeQuery("Events_CL\n| where Message startswith 'console-row'\n| summarize Seen = count() by Mesage"))
	poll(t, b, `document.getElementById('rule-query-status').textContent.startsWith('Line 3, column')`)
	b.Screenshot(t, "analytics-rule-editor")
	b.RequireClean(t, "status of 412")
}

// TestConsoleAnalyticsWatchlistAndAutomationRule: in Chromium, a CSV is
// uploaded as a watchlist with the search key picked from its header, an
// item is edited, one added and one deleted, and queries read the change; automation
// rules are built in the form, and one moved up runs first.
func TestConsoleAnalyticsWatchlistAndAutomationRule(t *testing.T) {
	cs := setUpCMK(t)
	b := openAnalytics(t, cs)
	csv := filepath.Join(t.TempDir(), "crown.csv")
	if err := os.WriteFile(csv, []byte("Host,\"Owner\",Tier\r\ndc01,identity team,0\r\nweb01,web team,1\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Do(t,
		chromedp.Click(chromedp.ID("show-watchlists")),
		chromedp.WaitVisible(chromedp.ID("watchlist-form")),
		chromedp.SetUploadFiles(chromedp.ID("watchlist-file"), []string{csv}),
	)
	// The search key is offered from the file's header, its quotes read as CSV's.
	poll(t, b, `[...document.querySelectorAll('#watchlist-search-key option')].map(o => o.value).join(',') === 'Host,Owner,Tier'`)
	b.Do(t,
		chromedp.SetValue(chromedp.ID("watchlist-search-key"), "Host"),
		chromedp.Click(chromedp.ID("watchlist-upload")),
		chromedp.WaitVisible(chromedp.CSS(`#watchlists tr[data-watchlist="crown"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Browse crown"]`)),
		chromedp.WaitVisible(chromedp.ID("watchlist-items-table")),
		chromedp.Click(chromedp.CSS(`button[aria-label="Edit item web01"]`)),
		chromedp.WaitVisible(chromedp.CSS("#watchlist-items-table button.item-save")),
	)
	ownerOf := `[...document.querySelectorAll('#watchlist-items-table tbody tr[data-item]')].map(tr => tr.cells[0].textContent + '=' + tr.cells[1].textContent).join(',')`
	b.Do(t,
		chromedp.SetValue(chromedp.CSS(`#watchlist-items-table input[aria-label="Owner"]`), "platform team"),
		chromedp.Click(chromedp.CSS("#watchlist-items-table button.item-save")),
	)
	poll(t, b, ownerOf+` === 'dc01=identity team,web01=platform team'`)
	b.RequireAccessible(t, "a watchlist's items")
	b.Do(t,
		chromedp.SendKeys(chromedp.ID("new-item-0"), "db01"),
		chromedp.SendKeys(chromedp.ID("new-item-1"), "data team"),
		chromedp.SendKeys(chromedp.ID("new-item-2"), "0"),
		chromedp.Click(chromedp.ID("watchlist-add-item")),
	)
	poll(t, b, ownerOf+` === 'dc01=identity team,web01=platform team,db01=data team'`)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete item dc01"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-delete")),
		chromedp.Click(chromedp.ID("confirm-delete")),
	)
	poll(t, b, ownerOf+` === 'web01=platform team,db01=data team'`)
	if h := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#watchlist-items h2"))); !strings.HasSuffix(h, ": 2 items") {
		t.Errorf("the items' heading reads %q, want 2 items", h)
	}
	b.Screenshot(t, "analytics-watchlist")
	if st, got, qe := cs.queryRows(`_GetWatchlist('crown') | where SearchKey in ('web01', 'db01') | project SearchKey, Owner | sort by SearchKey asc`); st != 200 ||
		len(got) != 2 || got[0][1] != "data team" || got[1][1] != "platform team" {
		t.Errorf("the watchlist queried reads %d %v %v", st, got, qe)
	}

	// Two automation rules from the builders; the second moved up runs first.
	create := func(name, labels string) {
		t.Helper()
		b.Do(t,
			chromedp.Click(chromedp.ID("new-automation-rule")),
			chromedp.WaitVisible(chromedp.ID("automation-form")),
			chromedp.SendKeys(chromedp.ID("automation-name"), name),
			chromedp.SetValue(chromedp.ID("condition-property"), "IncidentSeverity"),
			chromedp.SendKeys(chromedp.ID("condition-values"), "High, Medium"),
			chromedp.Click(chromedp.ID("add-condition")),
			chromedp.SendKeys(chromedp.ID("action-labels"), labels),
			chromedp.Click(chromedp.ID("add-action")),
			chromedp.Click(chromedp.ID("automation-save")),
		)
		poll(t, b, `document.getElementById('automation-status').textContent === '`+name+` is saved.'`)
	}
	b.Do(t,
		chromedp.Click(chromedp.ID("show-automation")),
		chromedp.WaitVisible(chromedp.ID("new-automation-rule")),
	)
	create("Label high incidents", "triage")
	create("Label again", "second")
	b.Do(t, chromedp.Click(chromedp.CSS(`button[aria-label="Up: Label again"]`)))
	poll(t, b, `[...document.querySelectorAll('#automation-rules tbody tr')].map(tr => tr.cells[1].textContent).join(',') === 'Label again,Label high incidents'`)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Edit: Label high incidents"]`)),
		chromedp.WaitVisible(chromedp.ID("automation-form")),
	)
	b.RequireAccessible(t, "the automation rules and their form")
	b.Screenshot(t, "analytics-automation")

	var rules struct {
		Value []struct {
			Name       string
			Properties struct {
				DisplayName     string
				Order           int
				TriggeringLogic struct {
					IsEnabled  bool
					Conditions []struct {
						ConditionType       string
						ConditionProperties struct {
							PropertyName, Operator string
							PropertyValues         []string
						}
					}
				}
				Actions []struct {
					Order               int
					ActionType          string
					ActionConfiguration struct{ Labels []struct{ LabelName string } }
				}
			}
		}
	}
	if st := cs.call("GET", cs.securityURL("automationRules"), cs.mgmt, nil, &rules); st != 200 || len(rules.Value) != 2 {
		t.Fatalf("automation rules over the API: %d %+v", st, rules)
	}
	first, second := rules.Value[0].Properties, rules.Value[1].Properties
	if first.DisplayName != "Label again" || second.DisplayName != "Label high incidents" || first.Order >= second.Order {
		t.Errorf("the rules run in the order %s (%d), %s (%d)", first.DisplayName, first.Order, second.DisplayName, second.Order)
	}
	c, a := second.TriggeringLogic.Conditions, second.Actions
	if !second.TriggeringLogic.IsEnabled || len(c) != 1 || c[0].ConditionType != "Property" || c[0].ConditionProperties.PropertyName != "IncidentSeverity" ||
		c[0].ConditionProperties.Operator != "Equals" || strings.Join(c[0].ConditionProperties.PropertyValues, ",") != "High,Medium" ||
		len(a) != 1 || a[0].Order != 1 || a[0].ActionType != "ModifyProperties" || len(a[0].ActionConfiguration.Labels) != 1 || a[0].ActionConfiguration.Labels[0].LabelName != "triage" {
		t.Errorf("the automation rule saved is %+v", second)
	}

	// Of one order, rules run by ID: Down moves the first to the next order.
	if cs.call("GET", cs.securityURL("automationRules"), cs.mgmt, nil, &rules); len(rules.Value) != 2 {
		t.Fatalf("automation rules: %+v", rules)
	}
	for _, r := range rules.Value {
		var full map[string]any
		cs.call("GET", cs.securityURL("automationRules/"+url.PathEscape(r.Name)), cs.mgmt, nil, &full)
		full["properties"].(map[string]any)["order"] = 5
		if st := cs.call("PUT", cs.securityURL("automationRules/"+url.PathEscape(r.Name)), cs.mgmt, full, nil); st != 200 {
			t.Fatalf("set order 5: %d", st)
		}
	}
	firstName := `document.querySelector('#automation-rules tbody tr').cells[1].textContent`
	b.Do(t, chromedp.Click(chromedp.ID("show-watchlists")), chromedp.Click(chromedp.ID("show-automation")))
	poll(t, b, `document.querySelector('#automation-rules tbody tr')?.cells[0].textContent === '5'`)
	top := browsertest.Value(t, b, chromedp.Evaluate[string](firstName))
	b.Do(t, chromedp.Click(chromedp.CSS(`button[aria-label="Down: `+top+`"]`)))
	poll(t, b, firstName+` !== '`+top+`' && document.querySelector('#automation-rules tbody tr').cells[0].textContent === '5'`)
	b.RequireClean(t)
}

// TestConsoleAnalyticsAsAReaderReadsButCannotWrite: the console gives an
// application no more than the API does: a Reader of the workspace sees its
// rules, and a rule it tries to save is refused with the API's reason.
func TestConsoleAnalyticsAsAReaderReadsButCannotWrite(t *testing.T) {
	cs := setUpCMK(t)
	rule := map[string]any{"kind": "NRT", "properties": map[string]any{
		"displayName": "Any event", "severity": "Low", "enabled": true, "query": "SecurityEvent | take 1"}}
	if st := cs.call("PUT", cs.alertRuleURL("/any-event"), cs.mgmt, rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	app, secret, err := cs.node.identity.CreateApplication(context.Background(), "analyst")
	if err != nil {
		t.Fatal(err)
	}
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Reader", "principalId": app.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/r1"), cs.mgmt, assign, nil); st != 201 {
		t.Fatalf("assign Reader: %d", st)
	}
	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, app.AppID, secret)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="analytics"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rules tr[data-rule="any-event"]`)),
		chromedp.Click(chromedp.CSS(`#rules tr[data-rule="any-event"] button.link`)),
		chromedp.WaitVisible(chromedp.ID("rule-form")),
		chromedp.SetValue(chromedp.ID("rule-severity"), "High"),
		chromedp.Click(chromedp.ID("rule-save")),
		chromedp.WaitVisible(chromedp.ID("rule-form-error")),
	)
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("rule-form-error"))); !strings.Contains(msg, "Saving the rule was refused") || !strings.Contains(msg, "Contributor") {
		t.Errorf("the Reader's save reads %q, want the API's refusal naming the role needed", msg)
	}
	var got struct{ Properties struct{ Severity string } }
	if cs.call("GET", cs.alertRuleURL("/any-event"), cs.mgmt, nil, &got); got.Properties.Severity != "Low" {
		t.Errorf("the Reader changed the rule's severity to %s", got.Properties.Severity)
	}
	b.RequireClean(t, "status of 403")
}

// TestConsoleAnalyticsShowsARulesPause: while the workspace's key is
// revoked no rule runs; once it is back, the scheduler records the time no
// run covered, and the rule's row says so under Caught up.
func TestConsoleAnalyticsShowsARulesPause(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond})
	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Any event", "severity": "Low", "enabled": true, "query": "SecurityEvent | take 1",
		"queryFrequency": "PT5M", "queryPeriod": "PT5M", "triggerOperator": "GreaterThan", "triggerThreshold": 0}}
	if st := cs.call("PUT", cs.alertRuleURL("/any-event"), cs.mgmt, rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	waitFor(t, 20*time.Second, "the rule's first run", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "any-event" and ExtendedProperties.Outcome == "ran" | count`, "")
		return st == 200 && n == 1.0
	})
	cs.disableKey(true)
	waitFor(t, 20*time.Second, "a paused workspace in the metrics", func() bool { return cs.metric("sealwatch_rule_paused_workspaces 1") })
	cs.disableKey(false)
	waitFor(t, 20*time.Second, "the pause on record", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "any-event" and ExtendedProperties.Outcome == "skipped" | count`, "")
		return st == 200 && n == 1.0
	})

	b := openAnalytics(t, cs)
	caughtUp := browsertest.Value(t, b, chromedp.Text(chromedp.CSS(`#rules tr[data-rule="any-event"] td:nth-child(7)`)))
	if !regexp.MustCompile(`^0 windows after 1 pause \(last: nothing ran .+ – .+: no run from .+ could not be opened`).MatchString(caughtUp) {
		t.Errorf("the rule's Caught up reads %q, want its pause", caughtUp)
	}
	b.RequireClean(t)
}

// TestConsoleKeepsAWebhooksSecretOffTheScreen: a Webhook action built in
// the automation rule's form shows a placeholder where its secret goes in
// the actions' JSON, nowhere the secret itself; saved, the rule sends the
// secret typed, which signs the webhook's call to a receiver on 127.0.0.1
// when an incident is created.
func TestConsoleKeepsAWebhooksSecretOffTheScreen(t *testing.T) {
	const secret = "HOOKSECRET-console-0f3a9c"
	calls := make(chan signedCall, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls <- signedCall{body: body, err: automation.Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute)}
	}))
	defer receiver.Close()
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), WebhookClient: &http.Client{Timeout: 5 * time.Second}})
	b := openAnalytics(t, cs)
	b.Do(t,
		chromedp.Click(chromedp.ID("show-automation")),
		chromedp.WaitVisible(chromedp.ID("new-automation-rule")),
		chromedp.Click(chromedp.ID("new-automation-rule")),
		chromedp.WaitVisible(chromedp.ID("automation-form")),
		chromedp.SendKeys(chromedp.ID("automation-name"), "Call the hook"),
		chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { const s = document.getElementById('action-type'); s.value = 'Webhook'; s.dispatchEvent(new Event('change')); return true; })()`)(ctx, tab)
			return err
		}),
		chromedp.SendKeys(chromedp.ID("action-webhook-url"), receiver.URL+"/sealwatch"),
		chromedp.SendKeys(chromedp.ID("action-webhook-secret"), secret),
		chromedp.Click(chromedp.ID("add-action")),
	)
	poll(t, b, `document.getElementById('automation-actions').value.includes('"Webhook"')`)
	shown := browsertest.Value(t, b, chromedp.Evaluate[string](`document.body.innerText + [...document.querySelectorAll('input, textarea')].map((e) => e.value).join('\n')`))
	if strings.Contains(shown, secret) {
		t.Fatalf("the page shows the webhook's secret:\n%s", shown)
	}
	if actions := browsertest.Value(t, b, chromedp.Value(chromedp.ID("automation-actions"))); !strings.Contains(actions, "sent on save, never shown") {
		t.Errorf("the actions' JSON holds no placeholder for the secret: %s", actions)
	}
	b.Do(t, chromedp.Click(chromedp.ID("automation-save")))
	poll(t, b, `document.getElementById('automation-status').textContent === 'Call the hook is saved.'`)

	if st := cs.call("PUT", cs.incidentURL("i1"), cs.mgmt, map[string]any{"properties": map[string]any{"title": "hooked", "severity": "Low"}}, nil); st != 201 {
		t.Fatalf("create incident: %d", st)
	}
	select {
	case c := <-calls:
		if c.err != nil {
			t.Errorf("the webhook's call is not signed with the secret typed: %v", c.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook call within 20 s of the incident")
	}
	b.RequireClean(t)
}

// TestConsoleRefusesAFileTooLargeBeforeSendingIt: a rule file past the
// import's 8 MiB and a CSV past a watchlist upload's 3.8 MB are refused as
// soon as they are picked, saying the limit and what to do, and nothing is
// sent.
func TestConsoleRefusesAFileTooLargeBeforeSendingIt(t *testing.T) {
	cs := setUpCMK(t)
	dir := t.TempDir()
	large := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b := openAnalytics(t, cs)
	// Any import or upload call made would be counted here.
	b.Do(t, chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => {
			window.__sent = [];
			const fetch0 = window.fetch;
			window.fetch = (path, init) => {
				if (/alertRules\/import|watchlists\//.test(String(path)) && init && init.method !== 'GET') window.__sent.push(String(path));
				return fetch0(path, init);
			};
			return true; })()`)(ctx, tab)
		return err
	}))
	b.Do(t, chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{large("rules.json", 8<<20+1)}))
	poll(t, b, `document.getElementById('rules-error').textContent.includes('at most 8 MiB')`)
	b.Do(t,
		chromedp.Click(chromedp.ID("show-watchlists")),
		chromedp.WaitVisible(chromedp.ID("watchlist-form")),
		chromedp.SetUploadFiles(chromedp.ID("watchlist-file"), []string{large("big.csv", 3_800_001)}),
	)
	poll(t, b, `document.getElementById('watchlists-error').textContent.includes('at most 3,800,000')`)
	if opts := browsertest.Value(t, b, chromedp.Evaluate[int](`document.getElementById('watchlist-search-key').options.length`)); opts != 0 {
		t.Errorf("the refused CSV's header is offered as %d search keys", opts)
	}
	if sent := browsertest.Value(t, b, chromedp.Evaluate[[]string](`window.__sent`)); len(sent) != 0 {
		t.Errorf("the page sent %q", sent)
	}
	b.RequireClean(t)
}
