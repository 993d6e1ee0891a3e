package api

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// TestListingWorkspacesShowsEachCallerThoseItMayRead: an Owner lists every
// workspace; anyone else those on which a role that reads covers them,
// from the workspace, its resource group or its subscription; a role that
// does not read (Ingestor) or none lists nothing, as the cloud lists only
// what the caller may read.
func TestListingWorkspacesShowsEachCallerThoseItMayRead(t *testing.T) {
	f := newFullEnv(t)
	ctx := context.Background()
	f.mustDo(201, "PUT", f.arm("Microsoft.OperationalInsights/workspaces/other"), `{"location":"local"}`, nil)
	rg := "/subscriptions/" + testSub + "/resourceGroups/rg1"
	secops := rg + "/providers/Microsoft.OperationalInsights/workspaces/secops"
	dcr := rg + "/providers/Microsoft.Insights/dataCollectionRules/events-dcr"
	for _, c := range []struct {
		name, role, scope string
		want              []string
	}{
		{"a Responder of one workspace", workspace.RoleResponder, secops, []string{"secops"}},
		{"a Reader of the resource group", workspace.RoleReader, rg, []string{"other", "secops"}},
		{"a Contributor of the subscription", workspace.RoleContributor, "/subscriptions/" + testSub, []string{"other", "secops"}},
		{"an Ingestor of a rule that sends to one", workspace.RoleIngestor, dcr, nil},
		{"an application without a role", "", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			app, secret, err := f.identity.CreateApplication(ctx, "lister")
			if err != nil {
				t.Fatal(err)
			}
			if c.role != "" {
				if _, err := f.server.cfg.Workspaces.PutRoleAssignment(ctx, c.scope, app.ObjectID, c.role, app.ObjectID); err != nil {
					t.Fatal(err)
				}
			}
			tok := f.token(app.AppID, secret, "https://management.azure.com/.default")
			for _, path := range []string{"/subscriptions/" + testSub, rg} {
				if got := listedWorkspaces(t, f, path, tok); !slices.Equal(got, c.want) {
					t.Errorf("under %s it lists %v, want %v", path, got, c.want)
				}
			}
		})
	}
	if got := listedWorkspaces(t, f, "/subscriptions/"+testSub, f.mgmt); !slices.Equal(got, []string{"other", "secops"}) {
		t.Errorf("the Owner lists %v, want every workspace", got)
	}
	if rec := f.serve("GET", "127.0.0.1", "/subscriptions/"+testSub+"/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01", f.query, ""); rec.Code != 401 {
		t.Errorf("a query token lists workspaces: %d %s", rec.Code, rec.Body)
	}
}

// listedWorkspaces are the names of the workspaces a GET of under's
// workspaces answers tok, sorted.
func listedWorkspaces(t *testing.T, f *fullEnv, under, tok string) []string {
	t.Helper()
	var out struct {
		Value []struct{ Name string }
	}
	rec := f.serve("GET", "127.0.0.1", under+"/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01", tok, "")
	if rec.Code != 200 {
		t.Fatalf("list workspaces under %s: %d %s", under, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range out.Value {
		names = append(names, w.Name)
	}
	slices.Sort(names)
	return names
}
