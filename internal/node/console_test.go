package node

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
)

// TestConsoleLogsPageQueriesACMKWorkspace signs in to the web console in
// Chromium, runs KQL over rows ingested into a workspace sealed under a
// customer-managed key, and sees them in the results grid; a query written
// wrong is shown at its line and column, with the caret put there.
func TestConsoleLogsPageQueriesACMKWorkspace(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	now := time.Now().UTC()
	var rows []map[string]any
	for i, msg := range []string{"console-row-2", "console-row-1", "console-row-3", "other"} {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339), "Message": msg})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t, chromedp.WaitEnabled(chromedp.ID("run-query")))
	if got := browsertest.Value(t, b, chromedp.Value(chromedp.ID("workspace"))); got != customerID {
		t.Fatalf("the workspace picker holds %q, want the CMK workspace %s", got, customerID)
	}

	b.Do(t,
		chromedp.SetValue(chromedp.ID("kql"), "Events_CL\n| where Message startswith 'console-row'\n| project Message\n| sort by Message asc"),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.CSS("#results table")),
	)
	cells := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#results tbody td')].map(td => td.textContent)`))
	if got := strings.Join(cells, ","); got != "console-row-1,console-row-2,console-row-3" {
		t.Errorf("the grid shows %q, want the three console rows in order", got)
	}
	if status := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-status"))); !strings.HasPrefix(status, "3 rows") {
		t.Errorf("the status says %q, want 3 rows", status)
	}
	b.Screenshot(t, "logs")

	b.Do(t,
		chromedp.SetValue(chromedp.ID("kql"), "Events_CL\n| where"),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.ID("query-error")),
	)
	msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-error")))
	if !regexp.MustCompile(`^Line 2, column \d+: .*syntax error`).MatchString(msg) {
		t.Errorf("the error reads %q, want its line 2 and column first", msg)
	}
	caret := browsertest.Value(t, b, chromedp.Evaluate[int](`document.getElementById('kql').selectionStart`))
	if caret < len("Events_CL\n") {
		t.Errorf("the caret is at %d, before the line of the error", caret)
	}
	b.RequireClean(t, "status of 400")
}
