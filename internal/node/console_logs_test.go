package node

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
)

// openLogs signs in to the console of a node of cfg on a CMK workspace
// holding a few rows of Events_CL and waits for the Logs page;
// editorRoot() is the editor's shadow root, and every text the page copies
// is kept in window.copied.
func openLogs(t *testing.T, cfg Config) (*cmkSetup, *browsertest.Browser) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cs := setUpCMKWith(t, cfg)
	immutableID, tok := cs.dcr()
	now := time.Now().UTC()
	var rows []map[string]any
	for i, msg := range []string{"alpha", "beta", "gamma"} {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339), "Message": msg})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	b.Do(t, browsertest.Script(pickScript))
	b.Do(t, browsertest.Script(`window.editorRoot = () => document.getElementById('kql-editor').shadowRoot;
window.copied = [];
window.addEventListener('DOMContentLoaded', () => {
  Object.defineProperty(navigator, 'clipboard', { value: { writeText: (s) => { window.copied.push(s); return Promise.resolve(); } } });
});`))
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t, chromedp.WaitEnabled(chromedp.ID("run-query")))
	return cs, b
}

// runQuery types q into the editor, runs it and waits for the page to say
// how it went.
func runQuery(t *testing.T, b *browsertest.Browser, q string) {
	t.Helper()
	b.Do(t, typeQuery(q), chromedp.Click(chromedp.ID("run-query")))
	poll(t, b, `/rows? in/.test(document.getElementById('query-status').textContent) || !document.getElementById('query-error').hidden`)
}

// completions are the labels of the editor's completion list, once it shows.
func completions(t *testing.T, b *browsertest.Browser) []string {
	t.Helper()
	poll(t, b, `editorRoot().querySelector('.cm-tooltip-autocomplete li') !== null`)
	return browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...editorRoot().querySelectorAll('.cm-tooltip-autocomplete li .cm-completionLabel')].map(e => e.textContent)`))
}

// TestConsoleLogsEditorCompletesFromTheWorkspace: the editor offers the
// workspace's tables and saved functions where a query starts, the
// operators after a |, and the columns of the table named after where;
// Enter takes the one chosen.
func TestConsoleLogsEditorCompletesFromTheWorkspace(t *testing.T) {
	cs, b := openLogs(t, Config{})
	fn := map[string]any{"properties": map[string]any{"category": "Parsers", "displayName": "Greetings",
		"functionAlias": "EventsGreeting", "functionParameters": "", "query": "Events_CL | where Message == 'alpha'"}}
	if st := cs.call("PUT", cs.savedSearchURL("/greetings"), cs.mgmt, fn, nil); st != 200 {
		t.Fatalf("save the function: %d", st)
	}
	// The metadata was read before the function was saved: choosing the
	// workspace again reads it anew.
	b.Do(t, chromedp.Reload(), chromedp.WaitEnabled(chromedp.ID("run-query")))

	b.Do(t, typeQuery("Even"))
	if got := strings.Join(completions(t, b), ","); !strings.Contains(got, "Events_CL") || !strings.Contains(got, "EventsGreeting") {
		t.Errorf("where a query starts the editor offers %q, want the table Events_CL and the function EventsGreeting", got)
	}
	b.Do(t, typeQuery("Events_CL\n| "))
	first := completions(t, b)
	if !containsAll(first, "where", "summarize", "project") {
		t.Errorf("after | the editor offers %q, want the common operators first", first)
	}
	// The list shows a window of its options; the arrow keys move it on.
	for range len(first) + 1 {
		b.Do(t, chromedp.KeyEvent(kb.ArrowDown))
	}
	selected := browsertest.Value(t, b, chromedp.Evaluate[string](`editorRoot().querySelector('.cm-tooltip-autocomplete li[aria-selected] .cm-completionLabel').textContent`))
	if containsAll(first, selected) {
		t.Errorf("%d arrow keys down the list selected %q, one of the first shown", len(first)+1, selected)
	}
	b.Do(t, typeQuery("Events_CL | where "))
	got := completions(t, b)
	if !containsAll(got, "Message", "TimeGenerated") || got[0] == "abs" {
		t.Errorf("after where the editor offers %q, want Events_CL's columns first", got)
	}
	b.Screenshot(t, "logs-completion")
	b.RequireAccessible(t, "Logs with the completion list open")
	b.Do(t, chromedp.KeyEvent("Mess"))
	poll(t, b, `editorRoot().querySelector('.cm-tooltip-autocomplete li[aria-selected] .cm-completionLabel')?.textContent === 'Message'`)
	b.Do(t, pressEnter(0))
	if text := browsertest.Value(t, b, chromedp.Evaluate[string](`editorRoot().querySelector('.cm-content').textContent`)); text != "Events_CL | where Message" {
		t.Errorf("after Enter the query reads %q", text)
	}
	b.RequireClean(t)
}

func containsAll(list []string, want ...string) bool {
	have := map[string]bool{}
	for _, s := range list {
		have[s] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

// TestConsoleLogsCustomRangeAndHistory: a custom range is sent as the
// query's timespan (the query's now() is its end); one that ends before it
// starts is refused in the page, running nothing; the queries run are
// offered again from the history, newest first, kept in no storage.
func TestConsoleLogsCustomRangeAndHistory(t *testing.T) {
	_, b := openLogs(t, Config{})
	b.Do(t, pick("#timespan", "custom"), chromedp.WaitVisible(chromedp.ID("time-from")))
	b.RequireAccessible(t, "Logs with a custom range")
	browsertest.Value(t, b, chromedp.Evaluate[bool](`(() => {
		document.getElementById('time-from').value = '2026-03-01T10:00:00';
		document.getElementById('time-to').value = '2026-03-02T12:30:00';
		return true; })()`))
	runQuery(t, b, "print end = now()")
	// The browser's zone is the machine's: the page sends UTC.
	want := browsertest.Value(t, b, chromedp.Evaluate[string](`new Date('2026-03-02T12:30:00').toISOString().replace('.000', '')`))
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#results tbody tr:not(.spacer) td"))); !strings.HasPrefix(got, strings.TrimSuffix(want, "Z")) {
		t.Errorf("with the range ending %s the query's now() is %q", want, got)
	}

	browsertest.Value(t, b, chromedp.Evaluate[bool](`(document.getElementById('time-from').value = '2026-03-03T00:00:00', true)`))
	runQuery(t, b, "print 2")
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-error"))); !strings.Contains(msg, "must be before its end") {
		t.Errorf("a range that ends before it starts: %q", msg)
	}
	b.Do(t, pick("#timespan", "PT1H"))
	runQuery(t, b, "Events_CL | count")
	history := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#query-history option')].slice(1).map(o => o.textContent)`))
	// The refused one was not run.
	if got := strings.Join(history, "|"); got != "Events_CL | count|print end = now()" {
		t.Errorf("the history offers %q, want the queries run, newest first", got)
	}
	b.Do(t, pick("#query-history", "1"))
	if text := browsertest.Value(t, b, chromedp.Evaluate[string](`editorRoot().querySelector('.cm-content').textContent`)); text != "print end = now()" {
		t.Errorf("the query taken from the history reads %q", text)
	}
	if stored := browsertest.Value(t, b, chromedp.Evaluate[int](`localStorage.length + sessionStorage.length`)); stored != 0 {
		t.Errorf("the page stored %d items: the history must stay in its memory", stored)
	}
	b.RequireClean(t)
}

// TestConsoleLogsGridOf10000Rows: a 10,000-row result is drawn at once with
// only the rows in view in the page, and the keyboard reaches its last row
// at once; a cell and a row are copied, a column made wider from the
// keyboard; a query of two statements shows a tab per table; a result over
// the node's row cap says it was cut, and where.
func TestConsoleLogsGridOf10000Rows(t *testing.T) {
	_, b := openLogs(t, Config{QueryResultRows: 12_000})
	b.Do(t, typeQuery("range i from 1 to 10000 step 1\n| extend s = strcat('row-', i)"))
	started := time.Now()
	b.Do(t, chromedp.Click(chromedp.ID("run-query")))
	poll(t, b, `document.querySelector('#result-grid tbody tr:not(.spacer)') !== null`)
	if took := time.Since(started); took > 15*time.Second {
		t.Errorf("10,000 rows took %v to show", took)
	}
	if status := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-status"))); !strings.HasPrefix(status, "10,000 rows") {
		t.Errorf("the status says %q", status)
	}
	drawn := `document.querySelectorAll('#result-grid tbody tr:not(.spacer)').length`
	if n := browsertest.Value(t, b, chromedp.Evaluate[int](drawn)); n > 100 {
		t.Errorf("%d rows are in the page, want only those in view", n)
	}
	b.Screenshot(t, "logs-grid")

	// Scrolled to its end, the grid draws the last rows.
	started = time.Now()
	browsertest.Value(t, b, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('#results .grid-scroll'); s.scrollTop = s.scrollHeight; return true; })()`))
	poll(t, b, `[...document.querySelectorAll('#result-grid tbody td')].some(td => td.textContent === 'row-10000')`)
	if took := time.Since(started); took > 2*time.Second {
		t.Errorf("scrolled to the end, the last row took %v to show", took)
	}
	if n := browsertest.Value(t, b, chromedp.Evaluate[int](drawn)); n > 100 {
		t.Errorf("scrolled to the end, %d rows are in the page", n)
	}

	b.Do(t, chromedp.Focus(chromedp.ID("result-grid")))
	started = time.Now()
	b.Do(t, chromedp.KeyEvent(kb.End, chromedp.KeyModifiers(kb.ModifierCtrl)))
	poll(t, b, `document.querySelector('#result-grid td.active')?.textContent === 'row-10000'`)
	if took := time.Since(started); took > 2*time.Second {
		t.Errorf("Ctrl+End took %v to show the last row", took)
	}
	if n := browsertest.Value(t, b, chromedp.Evaluate[int](drawn)); n > 100 {
		t.Errorf("at the end %d rows are in the page", n)
	}
	b.Do(t, chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent("c", chromedp.KeyModifiers(kb.ModifierCtrl)))
	b.Do(t, chromedp.Click(chromedp.ID("result-grid-copy-row")))
	poll(t, b, `window.copied.length === 2`)
	if got := strings.Join(browsertest.Value(t, b, chromedp.Evaluate[[]string](`window.copied`)), "|"); got != "9999|9999\trow-9999" {
		t.Errorf("copied %q, want the cell 9999 and its row", got)
	}

	width := `document.querySelector('#result-grid th').getBoundingClientRect().width`
	before := browsertest.Value(t, b, chromedp.Evaluate[float64](width))
	b.Do(t, chromedp.Focus(chromedp.CSS("#result-grid th .resize")), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
	if after := browsertest.Value(t, b, chromedp.Evaluate[float64](width)); after-before < 19 {
		t.Errorf("two ArrowRight on the column's edge made it %v px wide from %v", after, before)
	}
	b.RequireAccessible(t, "Logs with a 10,000-row result")

	runQuery(t, b, "print a = 1;\nprint b = 2")
	tabs := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#results [role=tab]')].map(e => e.textContent)`))
	if got := strings.Join(tabs, ","); got != "PrimaryResult (1),Table_1 (1)" {
		t.Errorf("the tabs are %q", got)
	}
	b.Do(t, chromedp.Focus(chromedp.ID("result-tab-0")), chromedp.KeyEvent(kb.ArrowRight))
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#result-panel-1 tbody tr:not(.spacer) td"))); got != "2" {
		t.Errorf("the second tab shows %q", got)
	}
	if hidden := browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('result-panel-0').hidden`)); !hidden {
		t.Error("the first table still shows under the second tab")
	}
	b.RequireAccessible(t, "Logs with two result tables")

	// The cap counts the rows of every table of the answer.
	runQuery(t, b, "range i from 1 to 8000 step 1;\nrange j from 1 to 8000 step 1")
	if status := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-status"))); !strings.HasPrefix(status, "12,000 rows") || !strings.Contains(status, "cut at the node's limit") {
		t.Errorf("over the row cap the status says %q", status)
	}
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-error"))); !strings.Contains(msg, "12000 rows") {
		t.Errorf("over the row cap the page says %q, want the cap named", msg)
	}
	b.RequireClean(t)
}

// TestConsoleLogsDrawsEveryChartKind: render timechart, linechart,
// areachart, columnchart and barchart draw with uPlot, piechart as slices;
// the arrow keys read the chart's points; the Chart button draws a result
// that asked for none, as the kind and columns picked.
func TestConsoleLogsDrawsEveryChartKind(t *testing.T) {
	_, b := openLogs(t, Config{})
	const counts = `datatable(Host: string, Events: long, Errors: long)["web", 30, 2, "db", 50, 5, "mail", 20, 1]`
	for _, tc := range []struct{ kind, query string }{
		{"timechart", "range t from datetime(2026-01-01) to datetime(2026-01-01 05:00) step 1h | extend n = hourofday(t) | render timechart"},
		{"linechart", counts + " | render linechart"},
		{"areachart", counts + " | render areachart"},
		{"columnchart", counts + " | render columnchart"},
		{"barchart", counts + " | render barchart"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			runQuery(t, b, tc.query)
			poll(t, b, `document.querySelector('#chart canvas') !== null && !document.getElementById('chart').hidden`)
			if v := browsertest.Value(t, b, chromedp.Value(chromedp.ID("chart-kind"))); v != tc.kind {
				t.Errorf("the chart form says %q", v)
			}
		})
	}
	b.Screenshot(t, "logs-barchart")
	b.Do(t, chromedp.Focus(chromedp.ID("chart")), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#chart .chart-readout"))); got != "db: Events 50, Errors 5" {
		t.Errorf("the chart's second point reads %q", got)
	}

	runQuery(t, b, counts+" | render piechart")
	poll(t, b, `document.querySelectorAll('#chart svg path').length === 3`)
	legend := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#chart .pie-legend li')].map(e => e.textContent)`))
	if got := strings.Join(legend, ","); got != "web: 30 (30.0%),db: 50 (50.0%),mail: 20 (20.0%)" {
		t.Errorf("the pie's legend is %q", got)
	}
	b.Screenshot(t, "logs-piechart")
	b.RequireAccessible(t, "Logs with a pie chart")

	runQuery(t, b, counts)
	if hidden := browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('chart').hidden`)); !hidden {
		t.Error("a result that asked for no chart shows one")
	}
	b.Do(t, chromedp.Click(chromedp.ID("chart-toggle")))
	poll(t, b, `document.querySelector('#chart canvas') !== null && !document.getElementById('chart').hidden`)
	b.Do(t, pick("#chart-kind", "piechart"), pick("#chart-y", "2"))
	poll(t, b, `document.querySelectorAll('#chart svg path').length === 3`)
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS("#chart .pie-legend li"))); got != "web: 2 (25.0%)" {
		t.Errorf("the pie of Errors starts %q", got)
	}
	b.Do(t, chromedp.Click(chromedp.ID("chart-toggle")))
	if hidden := browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('chart').hidden`)); !hidden {
		t.Error("the Chart button did not put the chart away")
	}
	b.RequireClean(t)
}
