package api

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// wals counts the write-ahead logs of the test's workspaces.
func (f *fullEnv) wals() int {
	f.t.Helper()
	n := 0
	err := filepath.WalkDir(f.logsDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".wal") {
			n++
		}
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestFlushSealsTheWriteAheadLogsNow: rows ingested wait in a write-ahead
// log; a flush of their table, or of the workspace, seals them into
// segments before it answers, and they read back the same.
func TestFlushSealsTheWriteAheadLogsNow(t *testing.T) {
	f := newFullEnv(t)
	now := time.Now().UTC().Format(time.RFC3339)
	if st, er := f.send(f.immutableID, "Custom-Events", `[{"TimeGenerated":"`+now+`","Message":"one"},{"TimeGenerated":"`+now+`","Message":"two"}]`); st != 204 {
		t.Fatalf("ingest: %d %+v", st, er)
	}
	if f.wals() == 0 {
		t.Fatal("no write-ahead log holds the rows ingested")
	}
	_, before := f.queryRows("Events_CL | order by Message asc | project Message")
	for _, path := range []string{"secops/tables/Events_CL/flush", "secops/flush"} {
		var er errResp
		if resp := f.do("POST", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/"+path)), f.mgmt, "", &er); resp.StatusCode != 204 {
			t.Fatalf("POST %s: %d %+v", path, resp.StatusCode, er)
		}
		if n := f.wals(); n != 0 {
			t.Fatalf("POST %s answered with %d write-ahead logs left", path, n)
		}
	}
	if _, after := f.queryRows("Events_CL | order by Message asc | project Message"); len(after) != 2 || !slices.EqualFunc(after, before, slices.Equal) {
		t.Fatalf("rows after the flush %v, before %v", after, before)
	}
}

// TestFlushNeedsAContributorAndAWorkspace: a Reader may not flush, a
// Contributor may; a workspace that does not exist is 404, a query token
// 401, a table name the store would refuse 400.
func TestFlushNeedsAContributorAndAWorkspace(t *testing.T) {
	f := newFullEnv(t)
	ctx := context.Background()
	wsID := "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/secops"
	tokens := map[string]string{}
	for _, role := range []string{workspace.RoleReader, workspace.RoleContributor, workspace.RoleIngestor} {
		app, secret, err := f.identity.CreateApplication(ctx, "as-"+role)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.server.cfg.Workspaces.PutRoleAssignment(ctx, wsID, "flush-"+role, role, app.ObjectID); err != nil {
			t.Fatal(err)
		}
		tokens[role] = f.token(app.AppID, secret, "https://management.azure.com/.default")
	}
	flushURL := f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/flush"))
	cases := []struct {
		name, url, token string
		status           int
		code             string
	}{
		{"a Reader", flushURL, tokens[workspace.RoleReader], 403, "AuthorizationFailed"},
		{"an Ingestor", flushURL, tokens[workspace.RoleIngestor], 403, "AuthorizationFailed"},
		{"a Contributor", flushURL, tokens[workspace.RoleContributor], 204, ""},
		{"a Contributor, one table", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Events_CL/flush")), tokens[workspace.RoleContributor], 204, ""},
		{"a table without rows", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/Nothing_CL/flush")), f.mgmt, 204, ""},
		{"a query token", flushURL, f.query, 401, "Unauthorized"},
		{"an unknown workspace", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/nowhere/flush")), f.mgmt, 404, ""},
		{"a table name with a dot", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/..Events/flush")), f.mgmt, 400, "InvalidResourceName"},
		{"a table name with a space", f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/tables/My%20Events/flush")), f.mgmt, 400, "InvalidResourceName"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var er errResp
			resp := f.do("POST", c.url, c.token, "", &er)
			if resp.StatusCode != c.status || c.code != "" && er.Error.Code != c.code {
				t.Fatalf("%d %+v, want %d %s", resp.StatusCode, er, c.status, c.code)
			}
			if c.status >= 400 && er.Error.Message == "" {
				t.Fatal("a refusal without a message")
			}
		})
	}
}
