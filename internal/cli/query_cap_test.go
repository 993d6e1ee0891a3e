package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestCapAnswerKeepsTheFirstRowsWithinBothLimits(t *testing.T) {
	two := `{"tables":[{"name":"PrimaryResult","columns":[{"name":"x","type":"long"}],"rows":[[1],[2],[3]]},` +
		`{"name":"Second","columns":[{"name":"y","type":"string"}],"rows":[["aaaa"],["bbbb"]]}],"render":{"visualization":"table"}}`
	tests := []struct {
		name     string
		maxRows  int
		maxBytes int
		want     [][]int // rows kept of each table: the first n
		shown    int
		byBytes  bool
	}{
		{"within both limits the answer is as sent", 10, 1000, nil, 5, false},
		{"the row limit stops in the first table and empties the next", 2, 1000, [][]int{{2}, {0}}, 2, false},
		{"the row limit counts the rows of every table", 4, 1000, [][]int{{3}, {1}}, 4, false},
		{"the byte limit stops at the row that would pass it", 10, 3*3 + len(`["aaaa"]`), [][]int{{3}, {1}}, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, c, err := capAnswer(json.RawMessage(two), tt.maxRows, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if c != nil || string(out) != two {
					t.Fatalf("an answer within the limits was changed: %v\n%s", c, out)
				}
				return
			}
			if c == nil || c.shown != tt.shown || c.total != 5 || c.byBytes != tt.byBytes {
				t.Fatalf("cap = %+v, want %d of 5 shown, byBytes %v", c, tt.shown, tt.byBytes)
			}
			var res struct {
				Tables []struct {
					Name string
					Rows []json.RawMessage
				}
				Render map[string]string
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("the capped answer is not JSON: %v\n%s", err, out)
			}
			if len(res.Tables) != 2 || res.Tables[1].Name != "Second" || res.Render["visualization"] != "table" {
				t.Errorf("the capped answer lost its tables or fields: %s", out)
			}
			for i, w := range tt.want {
				if len(res.Tables[i].Rows) != w[0] {
					t.Errorf("table %d keeps %d rows, want %d: %s", i, len(res.Tables[i].Rows), w[0], out)
				}
			}
		})
	}
}

// TestAQueryOnATerminalIsCappedWithANotice: the 300,017 rows of the issue
// reach a terminal as the first 10,000 and a notice; a pipe gets them all;
// --max-rows sets the cap either way.
func TestAQueryOnATerminalIsCappedWithANotice(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	query := func(terminal bool, args ...string) result {
		t.Helper()
		var stdout, stderr bytes.Buffer
		env := testEnv(n.configDir, &stdout, &stderr)
		env.IsTerminal = func(w io.Writer) bool { return terminal && w == io.Writer(&stdout) }
		code := Run(context.Background(), append([]string{"query", "--workspace", "secops"}, args...), env)
		if code != 0 {
			t.Fatalf("query %v: exit %d\n%s", args, code, stderr.String())
		}
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}
	rows := func(out string) int { return strings.Count(out, "\n") - 1 } // less the header

	r := query(true, "range x from 1 to 300017 step 1")
	if got := rows(r.stdout); got != terminalMaxRows {
		t.Errorf("a terminal shows %d rows, want %d", got, terminalMaxRows)
	}
	if want := "notice: the result is capped: showing the first 10000 of 300017 rows (on a terminal, 10000 rows unless --max-rows says otherwise)"; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("the notice on a terminal:\n%s\nwant it to start %q", r.stderr, want)
	}
	tests := []struct {
		name     string
		terminal bool
		args     []string
		rows     int
		notice   string // "" for none
	}{
		{"a pipe gets every row and no notice", false, []string{"range x from 1 to 20017 step 1"}, 20017, ""},
		{"--max-rows caps a pipe", false, []string{"range x from 1 to 10 step 1", "--max-rows", "3"}, 3, "showing the first 3 of 10 rows (--max-rows 3)"},
		{"--max-rows lifts a terminal's cap", true, []string{"range x from 1 to 20017 step 1", "--max-rows", "500000"}, 20017, ""},
		{"a result within the cap has no notice", true, []string{"range x from 1 to 10 step 1"}, 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := query(tt.terminal, tt.args...)
			if got := rows(r.stdout); got != tt.rows {
				t.Errorf("%d rows shown, want %d", got, tt.rows)
			}
			if tt.notice == "" && r.stderr != "" || !strings.Contains(r.stderr, tt.notice) {
				t.Errorf("stderr %q, want the notice %q", r.stderr, tt.notice)
			}
		})
	}
	t.Run("-o json keeps the answer's shape with the rows cut", func(t *testing.T) {
		r := query(false, "range x from 1 to 10 step 1", "--max-rows", "2", "-o", "json")
		res := decode[queryResult](t, r.stdout)
		if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 2 || res.Tables[0].Columns[0].Name != "x" {
			t.Errorf("-o json capped to 2 rows:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "showing the first 2 of 10 rows") {
			t.Errorf("no notice with -o json: %q", r.stderr)
		}
	})
	t.Run("a result over the node's 500,000 rows is shown in part, with the node's notice", func(t *testing.T) {
		r := query(false, "union (range x from 1 to 500000 step 1), (print x = 0)", "--max-rows", "3")
		if got := rows(r.stdout); got != 3 {
			t.Errorf("%d rows shown, want 3", got)
		}
		notices := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if len(notices) != 2 || notices[0] != "notice: the node answered part of the result (PartialError): the result has more than the 500000 rows one answer holds: these are its first 500000; add where, take or summarize, narrow the timespan, or project fewer columns" ||
			!strings.Contains(notices[1], "showing the first 3 of 500000 rows") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
		r = query(false, "union (range x from 1 to 500000 step 1), (print x = 0)", "--max-rows", "3", "-o", "json")
		if res := decode[map[string]json.RawMessage](t, r.stdout); !strings.Contains(string(res["error"]), `"PartialError"`) ||
			!strings.Contains(r.stderr, "notice: the node answered part of the result") {
			t.Errorf("-o json keeps the node's partial error and says so:\n%.300s\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("range making more than 500,000 rows is refused, saying how to narrow it", func(t *testing.T) {
		r := n.run("query", "--workspace", "secops", "range x from 1 to 500001 step 1")
		if r.code != exitError || !strings.Contains(r.stderr, "QueryLimitExceeded") || !strings.Contains(r.stderr, "500000 rows; add take, summarize or filters") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	for _, bad := range []string{"0", "500001", "-1"} {
		t.Run(fmt.Sprintf("--max-rows %s is a usage error", bad), func(t *testing.T) {
			if r := n.run("query", "--workspace", "secops", "range x from 1 to 2 step 1", "--max-rows", bad); r.code != exitUsage {
				t.Errorf("exit %d, want %d: %s", r.code, exitUsage, r.stderr)
			}
		})
	}
}

// TestPartialNoticeSaysWhatTheNodeSaid: the notice of a partial answer is the node's detail,
// or its message when it gives none, with control characters made harmless; a whole answer
// has none.
func TestPartialNoticeSaysWhatTheNodeSaid(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"a whole answer", `{"tables":[]}`, ""},
		{"the detail's words", `{"tables":[],"error":{"code":"PartialError","message":"part","details":[{"message":"first 5 rows"}]}}`,
			"notice: the node answered part of the result (PartialError): first 5 rows"},
		{"the message without details", `{"tables":[],"error":{"code":"PartialError","message":"part"}}`,
			"notice: the node answered part of the result (PartialError): part"},
		{"control characters", `{"tables":[],"error":{"code":"PartialError","message":"a\u001b[2Jb"}}`,
			"notice: the node answered part of the result (PartialError): a?[2Jb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := partialNotice(json.RawMessage(tc.raw))
			if err != nil || got != tc.want {
				t.Errorf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := partialNotice(json.RawMessage(`{"tables":`)); err == nil {
		t.Error("a truncated answer gives no error")
	}
}
