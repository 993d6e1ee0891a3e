package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sealwatch/sealwatch/internal/client"
)

// dataSetup is what setUpDataWithCLI made: workspace secops in rg1 and rule
// events-dcr sending stream Custom-Events to its table Events_CL.
type dataSetup struct {
	*testNode
	immutableID string
}

func setUpDataWithCLI(t *testing.T) *dataSetup {
	t.Helper()
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	out := n.must("dcr", "create", "--name", "events-dcr", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-Events",
		"--column", "Message:string", "--column", "Count:int")
	d := decode[dcrResource](t, n.must("dcr", "show", "--name", "events-dcr", "-o", "json"))
	if !strings.HasPrefix(d.Properties.ImmutableID, "dcr-") {
		t.Fatalf("the rule has no immutable ID: %+v", d)
	}
	for _, want := range []string{d.Properties.ImmutableID, "Events_CL", "secops", "Message", "Count",
		"sealwatch role assign --role Ingestor --object-id OID --dcr events-dcr",
		"--dcr-immutable-id " + d.Properties.ImmutableID} {
		if !strings.Contains(out, want) {
			t.Errorf("dcr create does not say %q:\n%s", want, out)
		}
	}
	var cols []string
	for _, c := range d.Properties.StreamDeclarations["Custom-Events"].Columns {
		cols = append(cols, c.Name+":"+c.Type)
	}
	if got := strings.Join(cols, " "); got != "TimeGenerated:datetime Message:string Count:int" {
		t.Errorf("declared columns: %s", got)
	}
	return &dataSetup{testNode: n, immutableID: d.Properties.ImmutableID}
}

// writeRows writes rows to a file in a test directory, as a JSON array or as
// JSON lines, and returns its path.
func writeRows(t *testing.T, name string, lines bool, rows ...map[string]any) string {
	t.Helper()
	var buf []byte
	if lines {
		for _, r := range rows {
			b, _ := json.Marshal(r)
			buf = append(append(buf, b...), '\n')
		}
	} else {
		buf, _ = json.MarshalIndent(rows, "", "  ")
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// appCredentialsFile creates an application and writes a credentials file
// that signs in as it; it returns the application and the file.
func (n *testNode) appCredentialsFile(name string) (application, string) {
	n.t.Helper()
	app := decode[application](n.t, n.must("identity", "app", "create", "--name", name, "-o", "json"))
	creds, err := client.LoadCredentials(n.adminFile)
	if err != nil {
		n.t.Fatal(err)
	}
	creds.ClientID, creds.ClientSecret = app.AppID, app.ClientSecret
	buf, _ := json.Marshal(creds)
	path := filepath.Join(n.t.TempDir(), name+".json")
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		n.t.Fatal(err)
	}
	return app, path
}

func event(msg string, count int) map[string]any {
	return map[string]any{"TimeGenerated": time.Now().UTC().Format(time.RFC3339Nano), "Message": msg, "Count": count}
}

func TestRowsSentByTheAdminAndByAnIngestorComeBackThroughQuery(t *testing.T) {
	ds := setUpDataWithCLI(t)
	if out := ds.must("dcr", "list"); !strings.Contains(out, "events-dcr") || !strings.Contains(out, ds.immutableID) || !strings.Contains(out, "Events_CL") {
		t.Errorf("dcr list:\n%s", out)
	}

	// The admin sends a JSON array by the rule's name.
	array := writeRows(t, "rows.json", false, event("one", 1), event("two", 2), event("three", 3))
	if out := ds.must("ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", array); !strings.Contains(out, "Sent 3 rows to stream Custom-Events of data collection rule events-dcr in 1 batch") {
		t.Errorf("ingest as the admin:\n%s", out)
	}

	// An application with the Ingestor role on the rule sends JSON lines by
	// the rule's immutable ID, with its own credentials.
	shipper, shipperCreds := ds.appCredentialsFile("shipper")
	out := ds.must("role", "assign", "--role", "Ingestor", "--object-id", shipper.ID, "--dcr", "events-dcr")
	if !strings.Contains(out, "Ingestor") || !strings.Contains(out, shipper.ID) || !strings.Contains(out, "dataCollectionRules/events-dcr") {
		t.Errorf("role assign:\n%s", out)
	}
	if again := ds.must("role", "assign", "--role", "Ingestor", "--object-id", shipper.ID, "--dcr", "events-dcr", "-g", "rg1"); again != out {
		t.Errorf("assigning the role again made another assignment:\n%s\nthen\n%s", out, again)
	}
	// It sends them uncompressed, as to a node on its own machine.
	lines := writeRows(t, "rows.jsonl", true, event("four", 4), event("five", 5))
	if r := ds.run("ingest", "--credentials", shipperCreds, "--dcr-immutable-id", ds.immutableID, "--stream", "Custom-Events", "--file", lines, "--compression", "gzip"); r.code != exitUsage ||
		!strings.Contains(r.stderr, `--compression takes zstd or none, not "gzip"`) {
		t.Errorf("ingest with --compression gzip: exit %d\n%s", r.code, r.stderr)
	}
	if out := ds.must("ingest", "--credentials", shipperCreds, "--dcr-immutable-id", ds.immutableID, "--stream", "Custom-Events", "--file", lines, "--compression", "none"); !strings.Contains(out, "Sent 2 rows") ||
		!strings.Contains(out, "bytes, uncompressed).") {
		t.Errorf("ingest as the Ingestor:\n%s", out)
	}
	// By name it would need to read the rule, which the Ingestor role does not allow.
	if r := ds.run("ingest", "--credentials", shipperCreds, "--dcr", "events-dcr", "-g", "rg1", "--stream", "Custom-Events", "--file", lines); r.code != exitError ||
		!strings.Contains(r.stderr, "HTTP 403") || !strings.Contains(r.stderr, "name the rule by its immutable ID: --dcr-immutable-id") {
		t.Errorf("ingest by name as the Ingestor: exit %d\n%s", r.code, r.stderr)
	}
	// Without the role the batch is refused, and nothing was stored.
	_, noRoleCreds := ds.appCredentialsFile("no-role")
	r := ds.run("ingest", "--credentials", noRoleCreds, "--dcr-immutable-id", ds.immutableID, "--stream", "Custom-Events", "--file", lines)
	for _, want := range []string{"batch 1 (rows 1-2 of " + lines + ") was refused", "AuthorizationFailed (HTTP 403)", "nothing was stored"} {
		if r.code != exitError || !strings.Contains(r.stderr, want) {
			t.Errorf("ingest without the role: exit %d, stderr does not say %q:\n%s", r.code, want, r.stderr)
		}
	}

	const kql = "Events_CL | project Message, Count | order by Count asc"
	table := strings.Split(strings.TrimSpace(ds.must("query", "--workspace", "secops", kql, "--timespan", "PT1H")), "\n")
	if len(table) != 6 || strings.Fields(table[0])[0] != "Message" || strings.Fields(table[0])[1] != "Count" {
		t.Fatalf("query table:\n%s", strings.Join(table, "\n"))
	}
	for i, want := range []string{"one", "two", "three", "four", "five"} {
		if f := strings.Fields(table[i+1]); len(f) != 2 || f[0] != want || f[1] != fmt.Sprint(i+1) {
			t.Errorf("row %d is %q, want %s %d", i+1, table[i+1], want, i+1)
		}
	}
	res := decode[queryResult](t, ds.must("query", "--workspace", "secops", "-o", "json", kql))
	if len(res.Tables) != 1 || len(res.Tables[0].Columns) != 2 || res.Tables[0].Columns[1].Name != "Count" || len(res.Tables[0].Rows) != 5 ||
		string(res.Tables[0].Rows[4][0]) != `"five"` || string(res.Tables[0].Rows[4][1]) != "5" {
		t.Errorf("query json: %+v", res)
	}
}

// TestAReaderQueriesByTheWorkspaceNameOrID: without a role the workspace
// is neither listed nor queried; a Reader finds it by name among those it
// may read, or names it by its ID.
func TestAReaderQueriesByTheWorkspaceNameOrID(t *testing.T) {
	ds := setUpDataWithCLI(t)
	ds.must("ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", writeRows(t, "rows.json", false, event("one", 1)))
	analyst, creds := ds.appCredentialsFile("analyst")
	if r := ds.run("query", "--credentials", creds, "--workspace", "secops", "Events_CL"); r.code != exitError || !strings.Contains(r.stderr, `no workspace named "secops"`) {
		t.Errorf("query by name without a role: exit %d\n%s", r.code, r.stderr)
	}
	ws := decode[workspaceResource](t, ds.must("workspace", "show", "--name", "secops", "-o", "json"))
	if r := ds.run("query", "--credentials", creds, "--workspace-id", ws.Properties.CustomerID, "Events_CL"); r.code != exitError || !strings.Contains(r.stderr, "HTTP 403") {
		t.Errorf("query without a role: exit %d\n%s", r.code, r.stderr)
	}
	ds.must("role", "assign", "--role", "Reader", "--object-id", analyst.ID, "--workspace", "secops")
	if out := ds.must("query", "--credentials", creds, "--workspace-id", ws.Properties.CustomerID, "Events_CL | project Message"); !strings.Contains(out, "one") {
		t.Errorf("query as a Reader by the workspace's ID:\n%s", out)
	}
	if out := ds.must("query", "--credentials", creds, "--workspace", "secops", "Events_CL | project Message"); !strings.Contains(out, "one") {
		t.Errorf("query as a Reader by the workspace's name:\n%s", out)
	}
}

func TestAQuerySyntaxErrorPointsAtItsLineAndColumn(t *testing.T) {
	ds := setUpDataWithCLI(t)
	r := ds.run("query", "--workspace", "secops", "Events_CL\n| where Count >")
	if r.code != exitError {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	m := regexp.MustCompile(`SyntaxError \(HTTP 400\): syntax error at 2:(\d+):`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("the error does not name a line and column on line 2:\n%s", r.stderr)
	}
	var col int
	fmt.Sscan(m[1], &col)
	if want := "  | where Count >\n  " + strings.Repeat(" ", col-1) + "^\n"; !strings.Contains(r.stderr, want) {
		t.Errorf("the error does not show the line with a caret at column %d:\n%s", col, r.stderr)
	}
	if r := ds.run("query", "--workspace", "secops", "Events_CL | where Nope == 1"); r.code != exitError || !strings.Contains(r.stderr, "SemanticError") || !strings.Contains(r.stderr, "Nope") {
		t.Errorf("an unknown column: exit %d\n%s", r.code, r.stderr)
	}
}

func TestAFileOverTheLimitGoesInSeveralBatchesAndABadRowIsNamed(t *testing.T) {
	ds := setUpDataWithCLI(t)
	pad := strings.Repeat("x", 500)
	rows := make([]map[string]any, 3000) // about 1.7 MB: two batches
	for i := range rows {
		rows[i] = event(pad, i)
	}
	path := writeRows(t, "big.jsonl", true, rows...)
	if out := ds.must("ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", path); !strings.Contains(out, "Sent 3000 rows") || !strings.Contains(out, "in 2 batches") {
		t.Errorf("ingest of 1.7 MB:\n%s", out)
	}
	res := decode[queryResult](t, ds.must("query", "--workspace", "secops", "Events_CL | count", "-o", "json"))
	if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 1 || string(res.Tables[0].Rows[0][0]) != "3000" {
		t.Errorf("count after ingest: %+v", res)
	}

	bad := writeRows(t, "bad.json", false, event("fine", 1), map[string]any{"TimeGenerated": "yesterday", "Message": "bad"})
	r := ds.run("ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", bad)
	for _, want := range []string{"batch 1 (rows 1-2 of " + bad + ") was refused at row 2 of " + bad, "InvalidPayload (HTTP 400)", "TimeGenerated", "nothing was stored"} {
		if r.code != exitError || !strings.Contains(r.stderr, want) {
			t.Errorf("a bad row: exit %d, stderr does not say %q:\n%s", r.code, want, r.stderr)
		}
	}
	if r := ds.run("ingest", "--dcr", "events-dcr", "--stream", "Custom-Other", "--file", bad); r.code != exitError || !strings.Contains(r.stderr, "no data flow for stream Custom-Other") {
		t.Errorf("an unknown stream: exit %d\n%s", r.code, r.stderr)
	}
}

// sentBatches runs sendRows over input with a small limit and returns the
// batches it sent. readers turn the input into what the file gives: all at
// once, or a byte at a time.
func sentBatches(input string, limit int, reader func(io.Reader) io.Reader) ([]string, ingestReport, error) {
	var batches []string
	var rep ingestReport
	rr, err := newRowReaderMax(reader(strings.NewReader(input)), "rows.json", 4*limit)
	if err != nil {
		return nil, rep, err
	}
	err = sendRows(context.Background(), rr, limit, 1, &rep, func(_ context.Context, b []byte) (int, error) {
		batches = append(batches, string(b))
		return len(b), nil
	}, nil)
	return batches, rep, err
}

func TestRowsAreReadFromAnArrayOrJSONLinesAndBatchedUnderTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		input   string
		limit   int
		want    []string
		wantErr string
	}{
		{"an array", ` [ {"a": 1}, {"a": 2} ] `, 100, []string{`[{"a":1},{"a":2}]`}, ""},
		{"JSON lines", "{\"a\":1}\n{\"a\":2}\n", 100, []string{`[{"a":1},{"a":2}]`}, ""},
		{"a byte-order mark", "\xef\xbb\xbf[{\"a\":1}]", 100, []string{`[{"a":1}]`}, ""},
		{"a batch fills up to the limit exactly", `[{"a":1},{"a":2},{"a":3}]`, len(`[{"a":1},{"a":2}]`), []string{`[{"a":1},{"a":2}]`, `[{"a":3}]`}, ""},
		{"one row a batch", "{\"a\":1}\n{\"a\":2}", 12, []string{`[{"a":1}]`, `[{"a":2}]`}, ""},
		{"an empty file", "  \n", 100, nil, "rows.json holds no rows"},
		{"an empty array", "[]", 100, nil, "rows.json holds no rows"},
		{"a row too big for a call", `[{"a":"0123456789"}]`, 12, nil, "row 1 of rows.json is 18 bytes; a call takes at most 10 bytes"},
		{"a row that is not an object", `[{"a":1}, 2]`, 100, nil, "row 2 of rows.json is not a JSON object"},
		{"a truncated array", `[{"a":1}, {"a":`, 100, nil, "rows.json ends early, after row 1: a row or the array is not closed"},
		{"an unclosed array", `[{"a":1}`, 100, nil, "rows.json ends early, after row 1: a row or the array is not closed"},
		{"bad JSON", "{\"a\":1}\n{a:2}", 100, nil, "rows.json is not a JSON array or JSON lines: at byte"},
		{"more after the array", `[{"a":1}] [{"a":2}]`, 100, nil, "holds more after its JSON array of 1 rows"},
		{"rows sent as they are", "{\"a\":\"x y\",\"b\":[1,{\"c\":null}]}\n", 100, []string{`[{"a":"x y","b":[1,{"c":null}]}]`}, ""},
		{"pretty-printed rows compacted", "{\n  \"a\": 1,\n  \"b\": [ 2 ]\n}\n{\"c\" :3}", 100, []string{`[{"a":1,"b":[2]},{"c":3}]`}, ""},
		{"escapes and bytes above 0x7F kept", `[{"a":"\u00e9\n\u00e9"}]`, 100, []string{`[{"a":"\u00e9\n\u00e9"}]`}, ""},
		{"a number as the last row", "{\"a\":1}\n12", 100, nil, "row 2 of rows.json is not a JSON object"},
		{"a trailing comma in the array", `[{"a":1},]`, 100, nil, "rows.json is not a JSON array or JSON lines: at byte 9, after row 1"},
		{"no comma between rows", `[{"a":1} {"a":2}]`, 100, nil, "rows.json is not a JSON array or JSON lines: at byte 9, after row 1"},
		{"a row cut inside a string", `{"a":"x`, 100, nil, "rows.json ends early, after row 0"},
		{"a control character in a string", "{\"a\":\"x\x01\"}", 100, nil, "rows.json is not a JSON array or JSON lines: at byte 7, after row 0"},
		{"a leading zero", `{"a":01}`, 100, nil, "rows.json is not a JSON array or JSON lines: at byte 6, after row 0"},
		{"a bad row after a batch was sent", "{\"a\":1}\n{\"a\":2}\n3", 12, []string{`[{"a":1}]`},
			"row 3 of rows.json is not a JSON object: each row is an object of column values; batch 1 (rows 1-1) was stored: send only the rows after row 1 again"},
	} {
		for _, rd := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"a byte at a time", iotest.OneByteReader}} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				got, rep, err := sentBatches(tc.input, tc.limit, rd.f)
				if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Join(got, " ") != strings.Join(tc.want, " ") {
					t.Errorf("batches %q, want %q", got, tc.want)
				}
				for _, b := range got {
					if len(b) > tc.limit {
						t.Errorf("batch %s is over the limit of %d bytes", b, tc.limit)
					}
				}
				if err == nil && rep.Batches != len(tc.want) {
					t.Errorf("report says %d batches, want %d", rep.Batches, len(tc.want))
				}
			})
		}
	}
}

func TestARefusedBatchNamesItsRowsAndWhatWasStoredBefore(t *testing.T) {
	rr, err := newRowReader(strings.NewReader("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}"), "rows.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep ingestReport
	calls := 0
	err = sendRows(context.Background(), rr, len(`[{"a":1},{"a":2}]`), 1, &rep, func(_ context.Context, b []byte) (int, error) {
		if calls++; calls == 2 {
			return 0, &client.APIError{Status: 400, Code: "InvalidPayload", Message: "the body was refused whole: row 1: bad"}
		}
		return len(b), nil
	}, nil)
	want := "batch 2 (rows 3-4 of rows.json) was refused at row 4 of rows.json (the server counts from 0 within the batch): " +
		"InvalidPayload (HTTP 400): the body was refused whole: row 1: bad; batch 1 (rows 1-2) was stored: send only the rows after row 2 again"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("the server's error is not kept: %T", err)
	}

	// A batch lost on the way may or may not have been stored.
	rr, _ = newRowReader(strings.NewReader(`[{"a":1}]`), "rows.json")
	err = sendRows(context.Background(), rr, 100, 1, &ingestReport{}, func(context.Context, []byte) (int, error) { return 0, io.ErrUnexpectedEOF }, nil)
	if err == nil || !strings.Contains(err.Error(), "batch 1 (rows 1-1 of rows.json) got no answer and may have been stored") {
		t.Errorf("a failed send: %v", err)
	}
}

func TestDataCommandLinesAreUsageErrors(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	requireUsageErrors(t, config, []usageCase{
		{"dcr create needs a resource group", []string{"dcr", "create", "--name", "d", "--workspace", "w", "--stream", "Custom-E"}, "-g RG"},
		{"a stream that is not custom", []string{"dcr", "create", "--name", "d", "-g", "rg", "--workspace", "w", "--stream", "Events"}, "Custom-<name>"},
		{"a column without a type", []string{"dcr", "create", "--name", "d", "-g", "rg", "--workspace", "w", "--stream", "Custom-E", "--column", "Message"}, "Name:type"},
		{"a column of an unknown type", []string{"dcr", "create", "--name", "d", "-g", "rg", "--workspace", "w", "--stream", "Custom-E", "--column", "N:float"}, "string, int, long"},
		{"role on two scopes", []string{"role", "assign", "--role", "Reader", "--object-id", "x", "--dcr", "d", "--workspace", "w"}, "--dcr N or --workspace W"},
		{"role on no scope", []string{"role", "assign", "--role", "Reader", "--object-id", "x"}, "--dcr N or --workspace W"},
		{"ingest naming the rule twice", []string{"ingest", "--dcr", "d", "--dcr-immutable-id", "dcr-1", "--stream", "Custom-E", "--file", "-"}, "name the rule once"},
		{"ingest without a file", []string{"ingest", "--dcr", "d", "--stream", "Custom-E"}, `required flag(s) "file" not set`},
		{"ingest with no batch in flight", []string{"ingest", "--dcr", "d", "--stream", "Custom-E", "--file", "-", "--in-flight", "0"}, "--in-flight takes 1 to 64 batches"},
		{"ingest with too many batches in flight", []string{"ingest", "--dcr", "d", "--stream", "Custom-E", "--file", "-", "--in-flight", "65"}, "--in-flight takes 1 to 64 batches"},
		{"query without KQL", []string{"query", "--workspace", "w"}, "the KQL as one argument"},
		{"query without a workspace", []string{"query", "T | take 1"}, "name the workspace once"},
	})
}

func TestQueryCellsReadAsValues(t *testing.T) {
	for raw, want := range map[string]string{
		`"web01"`:       "web01",
		`null`:          "",
		`42`:            "42",
		`1.5e3`:         "1.5e3",
		`true`:          "true",
		`{"a": [1, 2]}`: `{"a":[1,2]}`,
	} {
		if got := cell(json.RawMessage(raw)); got != want {
			t.Errorf("cell(%s) = %q, want %q", raw, got, want)
		}
	}
}

// TestDcrCreateTransformFiltersRowsAndRefusesWhatTheCloudRefuses: --transform
// becomes the rule's transformKql; a bad one is refused with its line and
// column, and the rows a good one's where drops are not stored.
func TestDcrCreateTransformFiltersRowsAndRefusesWhatTheCloudRefuses(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	args := []string{"dcr", "create", "--name", "alerts-dcr", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-Alerts",
		"--column", "Message:string", "--column", "Severity:int"}
	if r := n.run(append(args, "--transform", "source | summarize count()")...); r.code == 0 || !strings.Contains(r.stderr, "at 1:10: summarize is not taken") {
		t.Fatalf("a transformation with summarize: exit %d\n%s", r.code, r.stderr)
	}
	n.must(append(args, "--transform", "source | where Severity >= 3")...)
	now := time.Now().UTC()
	rows := writeRows(t, "alerts.json", false,
		map[string]any{"TimeGenerated": now.Add(-time.Minute).Format(time.RFC3339), "Message": "kept", "Severity": 4},
		map[string]any{"TimeGenerated": now.Add(-time.Minute).Format(time.RFC3339), "Message": "dropped", "Severity": 1})
	n.must("ingest", "--dcr", "alerts-dcr", "--stream", "Custom-Alerts", "--file", rows)
	if out := n.must("query", "--workspace", "secops", "Alerts_CL | project Message"); !strings.Contains(out, "kept") || strings.Contains(out, "dropped") {
		t.Fatalf("stored rows:\n%s", out)
	}
}

func TestIngestSendsBatchesAtOnceAndEachRowExactlyOnce(t *testing.T) {
	const rows, inFlight = 40, 4
	var in strings.Builder
	for i := range rows {
		fmt.Fprintf(&in, "{\"n\":%d}\n", i)
	}
	rr, err := newRowReader(strings.NewReader(in.String()), "rows.json")
	if err != nil {
		t.Fatal(err)
	}
	// The first inFlight batches wait for one another: they return only
	// once all of them are under way together.
	var mu sync.Mutex
	var got []string
	started := make(chan struct{}, inFlight)
	allIn := make(chan struct{})
	var calls atomic.Int32
	send := func(_ context.Context, b []byte) (int, error) {
		if n := calls.Add(1); n <= inFlight {
			started <- struct{}{}
			if n == inFlight {
				close(allIn)
			}
			select {
			case <-allIn:
			case <-time.After(10 * time.Second):
				return 0, errors.New("the batches were not sent at once")
			}
		}
		var batch []json.RawMessage
		if err := json.Unmarshal(b, &batch); err != nil {
			return 0, err
		}
		mu.Lock()
		for _, r := range batch {
			got = append(got, string(r))
		}
		mu.Unlock()
		return len(b), nil
	}
	var rep ingestReport
	progressed := 0
	if err := sendRows(context.Background(), rr, len(`[{"n":10},{"n":11},{"n":12}]`), inFlight, &rep, send, func(n int) { mu.Lock(); progressed += n; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b string) int { return strings.Compare(a, b) })
	want := strings.Split(strings.TrimSpace(in.String()), "\n")
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(a, b) })
	if !slices.Equal(got, want) {
		t.Errorf("rows stored:\n%q\nwant each row once:\n%q", got, want)
	}
	if rep.Rows != rows || progressed != rows {
		t.Errorf("report says %d rows, progress %d, want %d", rep.Rows, progressed, rows)
	}
}

func TestABatchRefusedWhileOthersAreUnderWayNamesEveryRowToSendAgain(t *testing.T) {
	rr, err := newRowReader(strings.NewReader("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n{\"a\":6}"), "rows.json")
	if err != nil {
		t.Fatal(err)
	}
	// Batch 1 (row 1) is refused only once batch 3 (row 3) is stored.
	third := make(chan struct{})
	send := func(_ context.Context, b []byte) (int, error) {
		switch string(b) {
		case `[{"a":1}]`:
			select {
			case <-third:
			case <-time.After(10 * time.Second):
				return 0, errors.New("batch 3 was not sent while batch 1 was under way")
			}
			return 0, &client.APIError{Status: 400, Code: "InvalidPayload", Message: "the body was refused whole: row 0: bad"}
		case `[{"a":3}]`:
			defer close(third)
		}
		return len(b), nil
	}
	var rep ingestReport
	err = sendRows(context.Background(), rr, len(`[{"a":1}]`), 2, &rep, send, nil)
	// Rows 2 to 3, and perhaps more, were stored while batch 1 waited.
	last := 1 + rep.Rows
	want := fmt.Sprintf("batch 1 (rows 1-1 of rows.json) was refused at row 1 of rows.json (the server counts from 0 within the batch): "+
		"InvalidPayload (HTTP 400): the body was refused whole: row 0: bad; rows 2-%d were stored: send only rows 1-1 and the rows after row %d again", last, last)
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if rep.Rows < 2 || rep.Rows > 5 {
		t.Errorf("report says %d rows stored, want 2 to 5", rep.Rows)
	}
}

func TestARefusalAndABadRowFurtherOnAreBothNamed(t *testing.T) {
	refused := &client.APIError{Status: 400, Code: "InvalidPayload", Message: "the body was refused whole: row 0: bad"}
	l := &ledger{rep: &ingestReport{Rows: 2},
		stored: []batchOutcome{{seq: 2, first: 2, last: 2}},
		failed: []batchOutcome{{seq: 1, first: 1, last: 1, err: refused}}}
	err := l.outcome(errors.New("rows.json is not a JSON array or JSON lines: at byte 17, after row 2"), "rows.json")
	want := "batch 1 (rows 1-1 of rows.json) was refused at row 1 of rows.json (the server counts from 0 within the batch): " +
		"InvalidPayload (HTTP 400): the body was refused whole: row 0: bad; rows 2-2 were stored: send only rows 1-1 and the rows after row 2 again; " +
		"then rows.json is not a JSON array or JSON lines: at byte 17, after row 2"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if !errors.Is(err, refused) {
		t.Errorf("the server's error is not kept: %v", err)
	}
}

func TestStoredSoFarSaysWhichRowsToSendAgain(t *testing.T) {
	b := func(seq, first, last int) batchOutcome { return batchOutcome{seq: seq, first: first, last: last} }
	for _, tc := range []struct {
		name           string
		stored, others []batchOutcome
		want           string
	}{
		{"none", nil, nil, "nothing was stored"},
		{"none, two failed", nil, []batchOutcome{b(2, 3, 4)}, "nothing was stored (batch 2 failed too)"},
		{"the first", []batchOutcome{b(1, 1, 5)}, nil, "batch 1 (rows 1-5) was stored: send only the rows after row 5 again"},
		{"the first three", []batchOutcome{b(1, 1, 5), b(2, 6, 9), b(3, 10, 12)}, nil, "batches 1-3 (rows 1-12) were stored: send only the rows after row 12 again"},
		{"a gap", []batchOutcome{b(1, 1, 5), b(3, 10, 12)}, nil, "rows 1-5, 10-12 were stored: send only rows 6-9 and the rows after row 12 again"},
		{"gaps and neighbours", []batchOutcome{b(2, 6, 9), b(3, 10, 12), b(5, 20, 30)}, []batchOutcome{b(4, 13, 19)},
			"rows 6-12, 20-30 were stored (batch 4 failed too): send only rows 1-5, 13-19 and the rows after row 30 again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storedSoFar(tc.stored, tc.others); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestARowOverTheReadersLimitIsRefusedWithoutReadingItAll(t *testing.T) {
	row := `{"a":"` + strings.Repeat("x", 100) + `"}`
	rr, err := newRowReaderMax(iotest.OneByteReader(strings.NewReader("{\"a\":1}\n"+row+"\n")), "rows.json", 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.next(); err != nil {
		t.Fatal(err)
	}
	if _, err := rr.next(); err == nil || !strings.Contains(err.Error(), "row 2 of rows.json is over 64 bytes") {
		t.Errorf("a row of %d bytes: %v", len(row), err)
	}
}
