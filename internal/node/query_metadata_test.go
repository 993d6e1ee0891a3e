package node

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQueryErrorsArePlacedAtTheirLineAndColumn: a query that does not
// parse or bind is refused with innererror's line and column (1-based), so
// that an editor can put the caret there; other refusals carry none.
func TestQueryErrorsArePlacedAtTheirLineAndColumn(t *testing.T) {
	cs := setUpCMK(t)
	for _, tc := range []struct {
		name, query, inner string
		line, column       int
	}{
		{"a syntax error", "print 1\n| where", "SyntaxError", 2, 8},
		{"an unknown column", "print x = 1\n| where Nope == 1", "SemanticError", 2, 9},
		{"an unknown table", "NoSuchTable_CL | take 1", "SemanticError", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, qe := cs.queryRows(tc.query)
			in := qe.Error.InnerError
			if st != 400 || in.Code != tc.inner || in.Line != tc.line || in.Column != tc.column {
				t.Errorf("got %d %+v, want 400 %s at %d:%d", st, qe.Error, tc.inner, tc.line, tc.column)
			}
		})
	}
	if st, _, qe := cs.queryRows(" "); st != 400 || qe.Error.InnerError.Line != 0 || qe.Error.InnerError.Column != 0 {
		t.Errorf("a request without a query: %d %+v, want 400 placed nowhere", st, qe.Error)
	}
}

// TestQueryMetadataNamesWhatAQueryCanName: GET .../metadata answers the
// workspace's tables with their columns, its saved functions and the
// engine's operators, functions and aggregations, to the query API's
// callers who may read the workspace only.
func TestQueryMetadataNamesWhatAQueryCanName(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "hello"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	fn := map[string]any{"properties": map[string]any{"category": "Parsers", "displayName": "Greetings",
		"functionAlias": "Greetings", "functionParameters": "word:string='hello'", "query": "Events_CL | where Message has word"}}
	if st := cs.call("PUT", cs.savedSearchURL("/greetings"), cs.mgmt, fn, nil); st != 200 {
		t.Fatalf("save the function: %d", st)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	url := cs.creds.Endpoint + "/v1/workspaces/" + customerID + "/metadata"

	var m struct {
		Tables []struct {
			Name    string
			Columns []struct{ Name, Type string }
		}
		Functions []struct{ Name, Parameters, Body string }
		Builtins  struct{ Operators, Functions, Aggregations []string }
	}
	if st := cs.call("GET", url, cs.adminToken("https://api.loganalytics.io/.default"), nil, &m); st != 200 {
		t.Fatalf("GET metadata: %d", st)
	}
	var events []string
	for _, tb := range m.Tables {
		if tb.Name == "Events_CL" {
			for _, c := range tb.Columns {
				events = append(events, c.Name+":"+c.Type)
			}
		}
	}
	if got := strings.Join(events, ","); !strings.Contains(got, "TimeGenerated:datetime") || !strings.Contains(got, "Message:string") {
		t.Errorf("Events_CL's columns are %q, want TimeGenerated:datetime and Message:string among them", got)
	}
	if len(m.Functions) != 1 || m.Functions[0].Name != "Greetings" || m.Functions[0].Parameters != "word:string='hello'" {
		t.Errorf("the functions are %+v, want Greetings(word:string='hello')", m.Functions)
	}
	if !slices.Contains(m.Builtins.Operators, "where") || !slices.Contains(m.Builtins.Functions, "strcat") || !slices.Contains(m.Builtins.Aggregations, "dcount") {
		t.Errorf("the builtins lack where, strcat or dcount: %+v", m.Builtins)
	}

	noRole, secret, err := cs.node.identity.CreateApplication(context.Background(), "no-role")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, token string
		status           int
	}{
		{"no such workspace", cs.creds.Endpoint + "/v1/workspaces/00000000-0000-0000-0000-000000000000/metadata", cs.adminToken("https://api.loganalytics.io/.default"), 404},
		{"a token for another API", url, cs.mgmt, 401},
		{"a caller who may not read the workspace", url, cs.token(noRole.AppID, secret, "https://api.loganalytics.io/.default"), 403},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			if st := cs.call("GET", tc.url, tc.token, nil, nil); st != tc.status {
				t.Errorf("got %d, want %d", st, tc.status)
			}
		})
	}
}
