package node

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
	"github.com/sealwatch/sealwatch/internal/incident"
)

// TestConsolePagesPassTheAccessibilityChecker runs axe-core over every
// page of the console as an analyst sees it — the sign-in, Logs with a
// result and its chart, the incident queue, an incident, Analytics and
// Keys — and fails on any serious or critical violation.
func TestConsolePagesPassTheAccessibilityChecker(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "hello"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	raised := cs.raiseAlert(ruleAlert(t, 1, "alice", "10.0.0.7"), "brute-force", incident.Grouping{})
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	b.Do(t, browsertest.Script(`window.editorRoot = () => document.getElementById('kql-editor').shadowRoot;`))
	b.Do(t, chromedp.Navigate(cs.creds.Endpoint+"/"), chromedp.WaitVisible(chromedp.ID("client-id")))
	b.RequireAccessible(t, "sign-in")
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t,
		chromedp.WaitEnabled(chromedp.ID("run-query")),
		typeQuery("Events_CL\n| summarize events = count() by bin(TimeGenerated, 1m)\n| render timechart"),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.CSS("#results table")),
		chromedp.WaitVisible(chromedp.CSS("#chart canvas")),
	)
	b.RequireAccessible(t, "Logs")

	for _, p := range []struct{ name, hash, ready string }{
		{"the incident queue", "#/incidents", "#incident-queue tbody tr"},
		{"an incident", "#/incidents/" + customerID + "/" + raised.Name, "#incident-history tbody tr"},
		{"Analytics", "#/analytics", "#rules"},
		{"Keys", "#/keys", "#page-body h2"},
	} {
		browsertest.Value(t, b, chromedp.Evaluate[bool](`(location.hash = '`+p.hash+`', true)`))
		b.Do(t, chromedp.WaitVisible(chromedp.CSS(p.ready)))
		b.RequireAccessible(t, p.name)
	}
	b.RequireClean(t)
}
