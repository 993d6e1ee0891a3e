package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
)

// TestConsoleLogsPageQueriesACMKWorkspace signs in to the web console in
// Chromium, runs KQL over rows ingested into a workspace sealed under a
// customer-managed key, typed into the highlighting editor, and sees them in
// the results grid, sorts it, shows a JSON cell indented and exports it as CSV; render timechart
// draws a chart; a query written wrong
// and run with Ctrl+Enter is shown at its line and column, with the caret
// put on that line.
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
	// editorRoot() is the editor's shadow root, for the page's scripts below.
	b.Do(t, browsertest.Script(`window.editorRoot = () => document.getElementById('kql-editor').shadowRoot;`))
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t, chromedp.WaitEnabled(chromedp.ID("run-query")))
	if got := browsertest.Value(t, b, chromedp.Value(chromedp.ID("workspace"))); got != customerID {
		t.Fatalf("the workspace picker holds %q, want the CMK workspace %s", got, customerID)
	}

	b.Do(t,
		typeQuery("Events_CL\n| where Message startswith 'console-row'\n| project Message\n| sort by Message asc"),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.CSS("#results tbody tr:not(.spacer)")),
	)
	highlighted := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...editorRoot().querySelectorAll('.kql-keyword')].map(e => e.textContent)`))
	if got := strings.Join(highlighted, ","); got != "where,startswith,project,sort,by,asc" {
		t.Errorf("the editor highlights %q as keywords", got)
	}
	cells := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#results tbody tr:not(.spacer) td')].map(td => td.textContent)`))
	if got := strings.Join(cells, ","); got != "console-row-1,console-row-2,console-row-3" {
		t.Errorf("the grid shows %q, want the three console rows in order", got)
	}
	if status := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-status"))); !strings.HasPrefix(status, "3 rows") {
		t.Errorf("the status says %q, want 3 rows", status)
	}
	b.Screenshot(t, "logs")

	// A click on a column's header sorts by it, a second the other way; a
	// dynamic value expands to its JSON; the whole result exports as CSV.
	b.Do(t,
		typeQuery("Events_CL\n| where Message startswith 'console-row'\n| project Message, Detail = bag_pack('m', Message), Formula = strcat('=1+', Message)"),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.CSS("#results td.dynamic")),
		chromedp.Click(chromedp.CSS("#results th .sort")),
		chromedp.Click(chromedp.CSS("#results th .sort")),
		chromedp.WaitVisible(chromedp.CSS(`#results th[aria-sort="descending"]`)),
	)
	firstColumn := `[...document.querySelectorAll('#results tbody tr:not(.spacer)')].map(tr => tr.cells[0].textContent)`
	if got := strings.Join(browsertest.Value(t, b, chromedp.Evaluate[[]string](firstColumn)), ","); got != "console-row-3,console-row-2,console-row-1" {
		t.Errorf("sorted descending by Message, the grid shows %q", got)
	}
	csv := b.Download(t, "query-result.csv", chromedp.Click(chromedp.ID("export-csv")))
	// A value a spreadsheet would run as a formula is written with a ' first.
	wantRow := "\r\nconsole-row-2,\"{\"\"m\"\":\"\"console-row-2\"\"}\",'=1+console-row-2\r\n"
	if !strings.HasPrefix(string(csv), "Message,Detail,Formula\r\n") || !strings.Contains(string(csv), wantRow) || strings.Count(string(csv), "\r\n") != 4 {
		t.Errorf("the exported CSV is %q, want a header and three rows such as %q", csv, wantRow)
	}
	b.Do(t, chromedp.Click(chromedp.CSS("#results td.dynamic")))
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.ID("result-grid-cell"))); !strings.Contains(got, `"m": "console-row-3"`) {
		t.Errorf("the dynamic cell chosen shows %q", got)
	}

	b.Do(t,
		typeQuery("Events_CL\n| summarize events = count() by bin(TimeGenerated, 1m)\n| render timechart"),
		chromedp.Click(chromedp.ID("run-query")),
	)
	browsertest.Value(t, b, chromedp.Poll[bool](`document.querySelector('#chart canvas') !== null`, chromedp.WithPollingTimeout(20*time.Second)))
	legend := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#chart .u-legend .u-label')].map(e => e.textContent)`))
	if got := strings.Join(legend, ","); got != "TimeGenerated,events" {
		t.Errorf("the time chart's legend is %q, want TimeGenerated,events", got)
	}
	b.Screenshot(t, "logs-timechart")

	b.Do(t,
		typeQuery("Events_CL\n| where"),
		pressEnter(kb.ModifierCtrl),
		chromedp.WaitVisible(chromedp.ID("query-error")),
	)
	msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-error")))
	if !regexp.MustCompile(`^Line 2, column 8: syntax error at 2:8: `).MatchString(msg) {
		t.Errorf("the error reads %q, want its line 2 and column 8 first", msg)
	}
	if line := browsertest.Value(t, b, chromedp.Evaluate[string](`editorRoot().querySelector('.cm-activeLine').textContent`)); line != "| where" {
		t.Errorf("the caret is on line %q, not the error's", line)
	}
	b.RequireClean(t, "status of 400")
}

// TestConsoleReturnsToSignInWhenTheSessionEnds: a session ended under the
// page (here signed out by another tab) turns the page's next call into a
// 401, and the page into the sign-in, saying why.
func TestConsoleReturnsToSignInWhenTheSessionEnds(t *testing.T) {
	cs := setUpCMK(t)
	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t, chromedp.WaitEnabled(chromedp.ID("run-query")))
	// Another tab of the same browser signs out: same cookie, its own page.
	status := browsertest.Value(t, b, chromedp.Evaluate[int](`(async () => {
		const s = await (await fetch('/console/session')).json();
		return (await fetch('/console/session', { method: 'DELETE', headers: { 'X-CSRF-Token': s.csrfToken } })).status;
	})()`, chromedp.EvalAwaitPromise))
	if status != 204 {
		t.Fatalf("sign-out from the other tab: %d", status)
	}
	// The page's next call: the Run button's query, unless the key watcher's
	// poll got there first and the sign-in is up already (a click through
	// the script, which does not wait for the button to be visible).
	browsertest.Value(t, b, chromedp.Evaluate[bool](`(() => { document.getElementById('run-query').click(); return true; })()`))
	b.Do(t, chromedp.WaitVisible(chromedp.ID("signin")))
	if notice := browsertest.Value(t, b, chromedp.Text(chromedp.ID("signin-notice"))); !strings.Contains(notice, "session has ended") {
		t.Errorf("the sign-in says %q", notice)
	}
	b.RequireClean(t, "status of 401")
}

// typeQuery replaces the editor's text with q, typed as a person would,
// each "\n" an Enter key.
func typeQuery(q string) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { editorRoot().querySelector('.cm-content').focus(); return true; })()`)(ctx, tab)
			return err
		}),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(kb.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace),
	}
	for i, line := range strings.Split(q, "\n") {
		if i > 0 {
			steps = append(steps, pressEnter(0))
		}
		steps = append(steps, chromedp.KeyEvent(line))
	}
	return chromedp.Steps(steps...)
}

// pressEnter presses Enter with modifiers as a keyboard does: a key down
// that the editor handles, and no character besides (chromedp's Enter
// also sends "\r" as text, which the editor would insert a second time).
func pressEnter(modifiers kb.Modifier) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, tab, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter",
				WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Modifiers: int64(modifiers)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestEveryKindOfNodeServesTheConsoleAtItsRootButNotOnVaultHosts: up, serve
// and vault serve answer / with the console's page under its policy, from
// the binary; a vault's host keeps / for the vault's data plane.
func TestEveryKindOfNodeServesTheConsoleAtItsRootButNotOnVaultHosts(t *testing.T) {
	for name, services := range map[string]Services{"up": ServeAll, "serve": ServeWorkspaces, "vault serve": ServeVault} {
		t.Run(name, func(t *testing.T) {
			rn := startNodeWith(t, Config{DataDir: t.TempDir(), Services: services})
			resp, err := rn.client.Get(rn.creds.Endpoint + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="/console/assets/console.js">`) ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Fatalf("GET / = %d, policy %q:\n%.300s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
			}
			if services == ServeWorkspaces {
				return // no vault hosts
			}
			resp, err = rn.client.Get(fmt.Sprintf("https://v1.vault.localhost:%s/", rn.port))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 || resp.Header.Get("Content-Security-Policy") != "" {
				t.Errorf("a vault host's / answered %d with the console's policy %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
}

// TestConsoleCancelsARunningQuery: while a query runs, Run is Cancel; a
// click on it ends the request, the node stops the query (its externaldata
// fetch is dropped), and the page says it was cancelled.
func TestConsoleCancelsARunningQuery(t *testing.T) {
	fetching, dropped := make(chan struct{}, 1), make(chan struct{}, 1)
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetching <- struct{}{}
		<-r.Context().Done() // answers nothing until the node lets go
		dropped <- struct{}{}
	}))
	t.Cleanup(feed.Close)
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), ExternalDataAllow: []string{feed.URL + "/"}})
	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	b.Do(t, browsertest.Script(`window.editorRoot = () => document.getElementById('kql-editor').shadowRoot;`))
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t,
		chromedp.WaitEnabled(chromedp.ID("run-query")),
		typeQuery(`externaldata (x: string) [@"`+feed.URL+`/slow.csv"] with (format="csv")`),
		chromedp.Click(chromedp.ID("run-query")),
	)
	select {
	case <-fetching:
	case <-time.After(30 * time.Second):
		t.Fatal("the query never fetched its externaldata")
	}
	if label := browsertest.Value(t, b, chromedp.Text(chromedp.ID("run-query"))); label != "Cancel" {
		t.Fatalf("while the query runs the button says %q", label)
	}
	b.Do(t, chromedp.Click(chromedp.ID("run-query")))
	select {
	case <-dropped:
	case <-time.After(30 * time.Second):
		t.Fatal("the node went on fetching after the query was cancelled")
	}
	browsertest.Value(t, b, chromedp.Poll[bool](`document.getElementById('query-status').textContent === 'Cancelled.'`, chromedp.WithPollingTimeout(10*time.Second)))
	if label := browsertest.Value(t, b, chromedp.Text(chromedp.ID("run-query"))); label != "Run" {
		t.Errorf("after the cancel the button says %q", label)
	}
	b.RequireClean(t)
}
