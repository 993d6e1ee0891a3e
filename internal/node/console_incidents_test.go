package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// TestConsoleWorksAnIncidentEndToEnd works an incident in Chromium as an
// analyst would: the queue with its counts, filtered; the incident opened
// by keyboard, with its alerts, entities and history; a comment, a task
// added and completed; assigned and its severity changed; a change made
// through the API meanwhile refuses the page's next save, which shows the
// other writer's version and re-applies the analyst's change over it; then
// classified and closed. What the page did is read back through the API.
func TestConsoleWorksAnIncidentEndToEnd(t *testing.T) {
	cs := setUpCMK(t)
	raised := cs.raiseAlert(ruleAlert(t, 1, "alice", "10.0.0.7"), "brute-force", incident.Grouping{})
	// Made one after the other: the newest is the last.
	for _, inc := range []struct {
		id    string
		props map[string]any
	}{
		{"phish-1", map[string]any{"title": "Phishing mail reported", "severity": "Low"}},
		{"old-case", map[string]any{"title": "Port scan from the lab", "severity": "Medium", "status": "Closed", "classification": "BenignPositive", "classificationReason": "SuspiciousButExpected"}},
	} {
		if st := cs.call("PUT", cs.incidentURL(inc.id), cs.mgmt, map[string]any{"properties": inc.props}, nil); st != 201 {
			t.Fatalf("create incident %s: %d", inc.id, st)
		}
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	adminOID := cs.objectIDOf(cs.creds.ClientID)

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	b.Do(t, browsertest.Script(pickScript))
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="incidents"]`)),
		chromedp.WaitVisible(chromedp.CSS("#incident-queue tbody tr")),
	)
	titles := `[...document.querySelectorAll('#incident-queue tbody tr')].map(tr => tr.cells[1].textContent)`
	if got := strings.Join(browsertest.Value(t, b, chromedp.Evaluate[[]string](titles)), ","); got != "Port scan from the lab,Phishing mail reported,Brute force then success" {
		t.Errorf("the queue shows %q, want the three incidents newest first", got)
	}
	if got := counts(t, b); got != "status-New=2,status-Active=0,status-Closed=1,severity-High=1,severity-Medium=1,severity-Low=1,severity-Informational=0" {
		t.Errorf("the counts are %s", got)
	}
	b.Screenshot(t, "incidents")
	requireLabelled(t, b)

	// Filters: open incidents only, then High among them (a count's
	// button); the counts of the other dimension follow.
	b.Do(t, pick("#incident-filter-status", "open"))
	if got := strings.Join(browsertest.Value(t, b, chromedp.Evaluate[[]string](titles)), ","); got != "Phishing mail reported,Brute force then success" {
		t.Errorf("open incidents: %q", got)
	}
	if got := counts(t, b); !strings.Contains(got, "severity-Medium=0") || !strings.Contains(got, "status-Closed=1") {
		t.Errorf("with open incidents chosen, the counts are %s: severity counts the open ones, status all", got)
	}
	b.Do(t, chromedp.Click(chromedp.CSS(`[data-count="severity-High"]`)))
	if got := strings.Join(browsertest.Value(t, b, chromedp.Evaluate[[]string](titles)), ","); got != "Brute force then success" {
		t.Errorf("open High incidents: %q", got)
	}
	b.Do(t,
		chromedp.Click(chromedp.CSS(`[data-count="severity-High"]`)),
		pick("#incident-filter-status", ""),
		pick("#incident-filter-owner", "none"),
		pick("#incident-filter-period", "3600000"),
	)
	if n := len(browsertest.Value(t, b, chromedp.Evaluate[[]string](titles))); n != 3 {
		t.Errorf("unassigned incidents created in the last hour: %d rows, want 3", n)
	}

	// The keyboard opens the incident: down the list from the first row.
	b.Do(t,
		chromedp.Focus(chromedp.CSS("#incident-queue tbody a")),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#incident-history tbody tr")),
		chromedp.WaitVisible(chromedp.CSS("#incident-entities li")),
	)
	if hash := browsertest.Value(t, b, chromedp.Evaluate[string](`location.hash`)); hash != "#/incidents/"+customerID+"/"+raised.Name {
		t.Errorf("the incident's page is at %q", hash)
	}
	requireLabelled(t, b)
	if got := text(t, b, "#incident-title"); got != "#1 Brute force then success" {
		t.Errorf("the incident's title reads %q", got)
	}
	if got := text(t, b, "#incident-alerts tbody"); !strings.Contains(got, "Brute force then success") || !strings.Contains(got, "CredentialAccess") {
		t.Errorf("the alerts read %q", got)
	}
	if got := text(t, b, "#incident-entities"); !strings.Contains(got, "alice") || !strings.Contains(got, "10.0.0.7") {
		t.Errorf("the entities read %q", got)
	}
	if got := text(t, b, "#incident-timeline"); !strings.Contains(got, "Brute force then success") {
		t.Errorf("the timeline reads %q", got)
	}

	// A comment and a task, added and completed.
	b.Do(t,
		chromedp.SendKeys(chromedp.ID("comment-text"), "Sprayed from 10.0.0.7; alice signed in after."),
		chromedp.Click(chromedp.ID("add-comment")),
		chromedp.WaitVisible(chromedp.CSS("#incident-comments .message")),
		chromedp.SendKeys(chromedp.ID("task-title"), "Reset alice's password"),
		chromedp.Click(chromedp.ID("add-task")),
		chromedp.WaitVisible(chromedp.CSS("#incident-tasks li[data-task] .task-toggle")),
		chromedp.Click(chromedp.CSS("#incident-tasks li[data-task] .task-toggle")),
		chromedp.WaitVisible(chromedp.CSS("#incident-tasks li.done")),
	)
	if got := text(t, b, "#incident-comments"); !strings.Contains(got, "Sprayed from 10.0.0.7") || !strings.Contains(got, "(you)") {
		t.Errorf("the comments read %q", got)
	}
	var tasks struct {
		Value []struct {
			Properties struct{ Title, Status string }
		}
	}
	if st := cs.call("GET", cs.securityURL("incidents/"+raised.Name+"/tasks"), cs.mgmt, nil, &tasks); st != 200 ||
		len(tasks.Value) != 1 || tasks.Value[0].Properties.Title != "Reset alice's password" || tasks.Value[0].Properties.Status != "Completed" {
		t.Errorf("the incident's tasks: %d %+v", st, tasks)
	}

	// Assigned to the analyst, severity down to Medium: saved under the
	// etag the comment left, which the page took up.
	b.Do(t,
		chromedp.Click(chromedp.ID("assign-me")),
		pick("#incident-severity", "Medium"),
		chromedp.Click(chromedp.ID("save-incident")),
	)
	waitText(t, b, "#triage-message", "Saved.")
	if p := cs.incidentProps(raised.Name); p.Severity != "Medium" || p.Owner.ObjectID != adminOID {
		t.Errorf("after the save the incident is %+v, want Medium, owned by %s", p, adminOID)
	}

	// Another writer sets the status meanwhile; the page's next save is
	// refused, shows theirs, and re-applies the analyst's change over it.
	other := cs.responder("other-analyst")
	var cur struct {
		Etag       string
		Properties map[string]any
	}
	if st := cs.call("GET", cs.incidentURL(raised.Name), other.token, nil, &cur); st != 200 {
		t.Fatalf("the other writer's read: %d", st)
	}
	cur.Properties["status"] = "Active"
	if st := cs.call("PUT", cs.incidentURL(raised.Name), other.token, map[string]any{"etag": cur.Etag, "properties": cur.Properties}, nil); st != 200 {
		t.Fatalf("the other writer's change: %d", st)
	}
	b.Do(t,
		pick("#incident-severity", "Low"),
		chromedp.Click(chromedp.ID("save-incident")),
		chromedp.WaitVisible(chromedp.ID("conflict")),
	)
	fields := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#conflict-fields tbody tr')].map(tr => [...tr.cells].map(c => c.textContent).join('|'))`))
	if got := strings.Join(fields, "; "); !strings.Contains(got, "Severity|Medium|Low|Medium") || !strings.Contains(got, "Status|New|(unchanged)|Active") {
		t.Errorf("the conflict shows %q, want severity Medium→Low (theirs Medium) and their status Active", got)
	}
	if got := text(t, b, "#conflict-changes"); !strings.Contains(got, other.objectID) || !strings.Contains(got, `status: "New" → "Active"`) {
		t.Errorf("the conflict names their change as %q", got)
	}
	if p := cs.incidentProps(raised.Name); p.Severity != "Medium" {
		t.Errorf("the refused save changed the incident: %+v", p)
	}
	b.Do(t, chromedp.Click(chromedp.ID("conflict-reapply")))
	waitText(t, b, "#triage-message", "Saved.")
	if p := cs.incidentProps(raised.Name); p.Severity != "Low" || p.Status != "Active" || p.Owner.ObjectID != adminOID {
		t.Errorf("after re-applying, the incident is %+v, want Low (mine) and Active (theirs), still mine", p)
	}
	if hidden := browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('conflict').hidden`)); !hidden {
		t.Error("the conflict is still shown after the change was re-applied")
	}
	b.Screenshot(t, "incident")

	// Another conflict, which the analyst resolves by dropping their change.
	cs.call("GET", cs.incidentURL(raised.Name), other.token, nil, &cur)
	cur.Properties["severity"] = "High"
	if st := cs.call("PUT", cs.incidentURL(raised.Name), other.token, map[string]any{"etag": cur.Etag, "properties": cur.Properties}, nil); st != 200 {
		t.Fatalf("the other writer's second change: %d", st)
	}
	b.Do(t,
		chromedp.Focus(chromedp.ID("incident-owner")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(kb.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace),
		chromedp.KeyEvent("bob"),
		chromedp.Click(chromedp.ID("save-incident")),
		chromedp.WaitVisible(chromedp.ID("conflict-reload")),
		chromedp.Click(chromedp.ID("conflict-reload")),
	)
	waitText(t, b, "#triage-message", "Reloaded: your change was dropped.")
	if sev := browsertest.Value(t, b, chromedp.Value(chromedp.ID("incident-severity"))); sev != "High" {
		t.Errorf("after the reload the form shows severity %q, want theirs, High", sev)
	}
	if p := cs.incidentProps(raised.Name); p.Severity != "High" || p.Owner.ObjectID != adminOID || p.Owner.AssignedTo == "bob" {
		t.Errorf("after dropping the change the incident is %+v, want theirs", p)
	}

	// A task the other completed meanwhile: the page says so, with the task
	// as it now is.
	b.Do(t,
		chromedp.SendKeys(chromedp.ID("task-title"), "Block 10.0.0.7"),
		chromedp.Click(chromedp.ID("add-task")),
		chromedp.WaitVisible(chromedp.CSS("#incident-tasks li:not(.done) .task-toggle")),
	)
	var list struct {
		Value []struct {
			Name, Etag string
			Properties map[string]any
		}
	}
	if st := cs.call("GET", cs.securityURL("incidents/"+raised.Name+"/tasks"), other.token, nil, &list); st != 200 || len(list.Value) != 2 {
		t.Fatalf("the other writer's read of the tasks: %d %+v", st, list)
	}
	task := list.Value[1] // oldest first: the one just added
	task.Properties["status"] = "Completed"
	if st := cs.call("PUT", cs.securityURL("incidents/"+raised.Name+"/tasks/"+task.Name), other.token, map[string]any{"etag": task.Etag, "properties": task.Properties}, nil); st != 200 {
		t.Fatalf("the other writer completes the task: %d", st)
	}
	b.Do(t,
		chromedp.Click(chromedp.CSS("#incident-tasks li:not(.done) .task-toggle")),
		chromedp.WaitVisible(chromedp.ID("task-error")),
	)
	if got := text(t, b, "#task-error"); !strings.Contains(got, `Task "Block 10.0.0.7" was changed by `+other.objectID) || !strings.Contains(got, "it is now Completed") {
		t.Errorf("the task's conflict reads %q", got)
	}
	if n := len(browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#incident-tasks li.done')].map(li => li.textContent)`))); n != 2 {
		t.Errorf("after the task's conflict the list shows %d tasks done, want both", n)
	}

	// Classified and closed.
	b.Do(t,
		pick("#classification", "TruePositive"),
		chromedp.SendKeys(chromedp.ID("classification-comment"), "Password spray, confirmed; password reset."),
		chromedp.Click(chromedp.ID("close-incident")),
	)
	waitText(t, b, "#triage-message", "Closed.")
	if p := cs.incidentProps(raised.Name); p.Status != "Closed" || p.Classification != "TruePositive" || p.ClassificationReason != "SuspiciousActivity" ||
		p.ClassificationComment != "Password spray, confirmed; password reset." {
		t.Errorf("after closing, the incident is %+v", p)
	}
	browsertest.Value(t, b, chromedp.Poll[bool](`document.getElementById('incident-history').textContent.includes('Closed')`, chromedp.WithPollingTimeout(10*time.Second)))
	history := text(t, b, "#incident-history")
	for _, want := range []string{`severity: "High" → "Medium"`, `owner: "" → "` + adminOID + `"`, `classification: "" → "TruePositive"`, "Created"} {
		if !strings.Contains(history, want) {
			t.Errorf("the history lacks %q: %s", want, history)
		}
	}

	// Reopened, which clears the classification; closed again with a
	// classification of two reasons, the second chosen.
	b.Do(t,
		pick("#incident-status", "Active"),
		chromedp.Click(chromedp.ID("save-incident")),
	)
	waitText(t, b, "#triage-message", "Saved.")
	if p := cs.incidentProps(raised.Name); p.Status != "Active" || p.Classification != "" || p.ClassificationReason != "" || p.ClassificationComment != "" {
		t.Errorf("after reopening, the incident is %+v", p)
	}
	b.Do(t,
		chromedp.WaitVisible(chromedp.ID("close-form")),
		pick("#classification", "FalsePositive"),
		pick("#classification-reason", "InaccurateData"),
		chromedp.Click(chromedp.ID("close-incident")),
	)
	waitText(t, b, "#triage-message", "Closed.")
	if p := cs.incidentProps(raised.Name); p.Status != "Closed" || p.Classification != "FalsePositive" || p.ClassificationReason != "InaccurateData" {
		t.Errorf("after closing again, the incident is %+v", p)
	}

	b.Do(t,
		chromedp.Click(chromedp.ID("back-to-queue")),
		chromedp.WaitVisible(chromedp.CSS("#incident-queue")),
	)
	// The queue is as it was left: unassigned only, which the incident no
	// longer is.
	if got := browsertest.Value(t, b, chromedp.Value(chromedp.ID("incident-filter-owner"))); got != "none" {
		t.Errorf("back in the queue the owner filter is %q, want the unassigned it was left with", got)
	}
	if got := counts(t, b); !strings.Contains(got, "status-Closed=1") {
		t.Errorf("back in the queue, unassigned only, the counts are %s, want one closed", got)
	}
	b.Do(t, pick("#incident-filter-owner", "me"))
	if got := counts(t, b); got != "status-New=0,status-Active=0,status-Closed=1,severity-High=1,severity-Medium=0,severity-Low=0,severity-Informational=0" {
		t.Errorf("the analyst's own incidents are counted %s, want the one closed, High", got)
	}

	// An incident that is not there says so, with the way back.
	browsertest.Value(t, b, chromedp.Evaluate[bool](`(location.hash = '#/incidents/`+customerID+`/no-such-incident') !== ''`))
	browsertest.Value(t, b, chromedp.Poll[bool](`document.querySelector('#page-body .error a') !== null`, chromedp.WithPollingTimeout(10*time.Second)))
	if got := text(t, b, "#page-body .error"); !strings.Contains(got, "incident 'no-such-incident' was not found") || !strings.Contains(got, "Back to the queue") {
		t.Errorf("a missing incident's page reads %q", got)
	}

	// An incident made by hand opens on its page.
	b.Do(t,
		chromedp.Click(chromedp.CSS("#page-body .error a")),
		chromedp.WaitVisible(chromedp.CSS("#incident-queue")),
		chromedp.Click(chromedp.ID("new-incident")),
		chromedp.SendKeys(chromedp.ID("new-incident-title"), "Suspicious OAuth consent"),
		pick("#new-incident-severity", "High"),
		chromedp.SendKeys(chromedp.ID("new-incident-description"), "Reported by the help desk."),
		chromedp.Click(chromedp.ID("create-incident")),
	)
	waitText(t, b, "#incident-title", "#4 Suspicious OAuth consent")
	made := strings.TrimPrefix(browsertest.Value(t, b, chromedp.Evaluate[string](`location.hash`)), "#/incidents/"+customerID+"/")
	if p := cs.incidentProps(made); p.Title != "Suspicious OAuth consent" || p.Severity != "High" || p.Status != "New" || p.Description != "Reported by the help desk." {
		t.Errorf("the incident made in the console is %+v", p)
	}
	b.RequireClean(t, "status of 412", "status of 404")
}

// requireLabelled fails the test for a control of the page that has no
// name a screen reader could say: no label, no aria-label, and for a
// button no text.
func requireLabelled(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	unnamed := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#page-body select, #page-body input, #page-body textarea, #page-body button')]
		.filter(e => !e.labels?.length && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim())).map(e => e.outerHTML.slice(0, 80))`))
	if len(unnamed) > 0 {
		t.Errorf("controls without a name: %q", unnamed)
	}
}

// pickScript lets a test choose an option as a person does: the select's
// value changes and it says so.
const pickScript = `window.pick = (sel, value) => { const s = document.querySelector(sel);
  if (![...s.options].some(o => o.value === value)) throw new Error(sel + ' has no option ' + value);
  s.value = value; s.dispatchEvent(new Event('change', { bubbles: true })); return true; };`

func pick(selector, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		q, _ := json.Marshal(selector)
		v, _ := json.Marshal(value)
		_, err := chromedp.Evaluate[bool](`pick(`+string(q)+`, `+string(v)+`)`)(ctx, tab)
		return err
	})
}

func text(t *testing.T, b *browsertest.Browser, selector string) string {
	t.Helper()
	return browsertest.Value(t, b, chromedp.Text(chromedp.CSS(selector)))
}

func waitText(t *testing.T, b *browsertest.Browser, selector, want string) {
	t.Helper()
	q, _ := json.Marshal(selector)
	w, _ := json.Marshal(want)
	browsertest.Value(t, b, chromedp.Poll[bool](`document.querySelector(`+string(q)+`)?.textContent === `+string(w), chromedp.WithPollingTimeout(20*time.Second)))
}

// counts are the queue's counts, as "status-New=2,...".
func counts(t *testing.T, b *browsertest.Browser) string {
	t.Helper()
	return strings.Join(browsertest.Value(t, b, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#incident-counts [data-count]')].map(b => b.dataset.count + '=' + b.querySelector('b').textContent)`)), ",")
}

// incidentProps reads an incident's properties through the API.
func (cs *cmkSetup) incidentProps(id string) incident.Properties {
	cs.t.Helper()
	var inc incident.Incident
	if st := cs.call("GET", cs.incidentURL(id), cs.mgmt, nil, &inc); st != 200 {
		cs.t.Fatalf("get incident %s: %d", id, st)
	}
	return inc.Properties
}

// responder is an application with the Responder role on the secops
// workspace: another analyst.
type responder struct{ objectID, token string }

func (cs *cmkSetup) responder(name string) responder {
	cs.t.Helper()
	app, secret, err := cs.node.identity.CreateApplication(context.Background(), name)
	if err != nil {
		cs.t.Fatal(err)
	}
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Responder", "principalId": app.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/"+name), cs.mgmt, assign, nil); st != 201 {
		cs.t.Fatalf("assign Responder: %d", st)
	}
	return responder{objectID: app.ObjectID, token: cs.token(app.AppID, secret, "https://management.azure.com/.default")}
}

// TestConsoleShowsAReaderTheIncidentsAndTheRefusalOfAChange: an application
// with only the Reader role on the workspace finds it in the console, reads
// its incidents, and is refused a change as over the API, with the API's
// message shown where it acted; the incident is unchanged.
func TestConsoleShowsAReaderTheIncidentsAndTheRefusalOfAChange(t *testing.T) {
	cs := setUpCMK(t)
	if st := cs.call("PUT", cs.incidentURL("i1"), cs.mgmt, map[string]any{"properties": map[string]any{"title": "Brute force on dc01", "severity": "High"}}, nil); st != 201 {
		t.Fatalf("create incident: %d", st)
	}
	app, secret, err := cs.node.identity.CreateApplication(context.Background(), "reader")
	if err != nil {
		t.Fatal(err)
	}
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Reader", "principalId": app.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/reader"), cs.mgmt, assign, nil); st != 201 {
		t.Fatalf("assign Reader: %d", st)
	}

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	b.Do(t, browsertest.Script(pickScript))
	browsertest.SignIn(t, b, cs.creds.Endpoint, app.AppID, secret)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="incidents"]`)),
		chromedp.Click(chromedp.CSS("#incident-queue tbody a")),
		chromedp.WaitVisible(chromedp.CSS("#incident-history tbody tr")),
		pick("#incident-severity", "Low"),
		chromedp.Click(chromedp.ID("save-incident")),
		chromedp.WaitVisible(chromedp.ID("triage-error")),
		chromedp.SendKeys(chromedp.ID("comment-text"), "A reader's note"),
		chromedp.Click(chromedp.ID("add-comment")),
		chromedp.WaitVisible(chromedp.ID("comment-error")),
	)
	refused := func(id string) {
		if got := text(t, b, "#"+id); !strings.HasPrefix(got, "The node refused this (AuthorizationFailed): ") || !strings.Contains(got, app.ObjectID) {
			t.Errorf("#%s reads %q, want the API's refusal naming the reader", id, got)
		}
	}
	refused("triage-error")
	refused("comment-error")
	b.Do(t,
		chromedp.Click(chromedp.ID("back-to-queue")),
		chromedp.Click(chromedp.ID("new-incident")),
		chromedp.SendKeys(chromedp.ID("new-incident-title"), "A reader's incident"),
		chromedp.Click(chromedp.ID("create-incident")),
		chromedp.WaitVisible(chromedp.ID("new-incident-error")),
	)
	refused("new-incident-error")
	if p := cs.incidentProps("i1"); p.Severity != "High" || p.AdditionalData.CommentsCount != 0 {
		t.Errorf("a reader's refused changes changed the incident: %+v", p)
	}
	var list struct{ Value []any }
	if st := cs.call("GET", cs.securityURL("incidents"), cs.mgmt, nil, &list); st != 200 || len(list.Value) != 1 {
		t.Errorf("after a reader's refused creation the workspace has %d incidents (%d), want 1", len(list.Value), st)
	}
	b.RequireClean(t, "status of 403")
}

// TestConsoleIncidentQueueHoldsTheNewest500: of more incidents than the
// queue's table holds, it shows the newest, counts them all, and says how
// to see the others.
func TestConsoleIncidentQueueHoldsTheNewest500(t *testing.T) {
	cs := setUpCMK(t)
	ctx := context.Background()
	ws, err := cs.node.workspaces.Info(ctx, workspace.ResourceGroup{Subscription: cs.creds.TenantID, Group: "rg1"}, "secops")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cs.node.data.Docs(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	incs := incident.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, nil)
	for i := range 501 {
		if _, _, err := incs.Put(ctx, fmt.Sprintf("bulk-%d", i), incident.Properties{Title: fmt.Sprintf("Bulk %d", i), Severity: "Low"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="incidents"]`)),
		chromedp.WaitVisible(chromedp.CSS("#incident-queue tbody tr")),
	)
	rows := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#incident-queue tbody tr')].map(tr => tr.cells[1].textContent)`))
	if len(rows) != 500 || rows[0] != "Bulk 500" || rows[499] != "Bulk 1" {
		t.Errorf("the queue holds %d rows, from %q to %q; want the newest 500, Bulk 500 to Bulk 1", len(rows), rows[0], rows[len(rows)-1])
	}
	if got := text(t, b, "#incident-summary"); got != "501 of 501 incidents match, newest first. The list holds the newest 500: narrow the filters to see the others." {
		t.Errorf("the summary reads %q", got)
	}
	if got := counts(t, b); !strings.HasPrefix(got, "status-New=501,") {
		t.Errorf("the counts are %s, want all 501 New", got)
	}
	b.RequireClean(t)
}
