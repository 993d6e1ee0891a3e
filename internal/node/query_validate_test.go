package node

import (
	"context"
	"strings"
	"testing"
	"time"
)

type validation struct {
	Valid   bool
	Columns []struct{ Name, Type string }
	Error   *struct {
		Code, Message string
		Line, Column  int
	}
}

// TestQueryValidatorCompilesWithoutRunning: POST .../query/validate
// answers a query that compiles against the workspace with its result's
// columns, one that does not with its error's code, line and column — as
// 200, a verdict — and refuses a request without a query, for a workspace
// that does not exist, or from a caller who may not read it, as the query
// API does. It runs nothing: an externaldata URL no prefix allows, which a
// run would refuse, compiles.
func TestQueryValidatorCompilesWithoutRunning(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "hello"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	url := cs.creds.Endpoint + "/v1/workspaces/" + customerID + "/query/validate"
	queryToken := cs.adminToken("https://api.loganalytics.io/.default")
	validate := func(t *testing.T, q string) validation {
		t.Helper()
		var v validation
		if st := cs.call("POST", url, queryToken, map[string]string{"query": q}, &v); st != 200 {
			t.Fatalf("validate %q: %d", q, st)
		}
		return v
	}

	t.Run("a query that compiles gives its result's columns", func(t *testing.T) {
		v := validate(t, "Events_CL\n| summarize n = count() by Message")
		var cols []string
		for _, c := range v.Columns {
			cols = append(cols, c.Name+":"+c.Type)
		}
		if !v.Valid || v.Error != nil || strings.Join(cols, ",") != "Message:string,n:long" {
			t.Errorf("got %+v, want valid with Message:string,n:long", v)
		}
	})
	t.Run("a query is compiled, not run", func(t *testing.T) {
		if v := validate(t, `externaldata (x: string) [@"https://feeds.example/list.csv"] with (format="csv")`); !v.Valid {
			t.Errorf("an externaldata query no run may fetch is refused: %+v", v.Error)
		}
	})
	for _, tc := range []struct {
		name, query, code string
		line, column      int
		says              string
	}{
		{"a syntax error is placed at its line and column", "Events_CL\n| where", "SyntaxError", 2, 8, "syntax error at 2:8"},
		{"an unknown column is placed at its line and column", "Events_CL\n| where Nope == 1", "SemanticError", 2, 9, "Nope"},
		{"an unknown table is named", "NoSuchTable_CL | take 1", "SemanticError", 1, 1, "NoSuchTable_CL"},
		{"a watchlist that does not exist is named", "_GetWatchlist('missing')", "SemanticError", 1, 1, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := validate(t, tc.query)
			if v.Valid || v.Error == nil || v.Error.Code != tc.code || v.Error.Line != tc.line || v.Error.Column != tc.column || !strings.Contains(v.Error.Message, tc.says) {
				t.Errorf("got %+v %+v, want %s at %d:%d saying %q", v, v.Error, tc.code, tc.line, tc.column, tc.says)
			}
		})
	}

	noRole, secret, _ := cs.node.identity.CreateApplication(context.Background(), "no-role")
	for _, tc := range []struct {
		name, url, token, query string
		status                  int
		code                    string
	}{
		{"no query", url, queryToken, " ", 400, "BadArgumentError"},
		{"no such workspace", cs.creds.Endpoint + "/v1/workspaces/00000000-0000-0000-0000-000000000000/query/validate", queryToken, "print 1", 404, "WorkspaceNotFoundError"},
		{"a caller who may not read the workspace", url, cs.token(noRole.AppID, secret, "https://api.loganalytics.io/.default"), "print 1", 403, "AuthorizationFailed"},
		{"a token for another API", url, cs.mgmt, "print 1", 401, ""},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			var er struct{ Error struct{ Code string } }
			if st := cs.call("POST", tc.url, tc.token, map[string]string{"query": tc.query}, &er); st != tc.status || (tc.code != "" && er.Error.Code != tc.code) {
				t.Errorf("got %d %s, want %d %s", st, er.Error.Code, tc.status, tc.code)
			}
		})
	}
}
