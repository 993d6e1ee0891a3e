package node

import (
	"context"
	"fmt"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

func (cs *cmkSetup) savedSearchURL(rest string) string {
	return cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/savedSearches" + rest)
}

// functionsOf returns the functions the workspace's query source serves.
func (cs *cmkSetup) functionsOf() ([]kql.Function, error) {
	cs.t.Helper()
	ctx := context.Background()
	ws, err := cs.node.workspaces.Info(ctx, workspace.ResourceGroup{Subscription: cs.creds.TenantID, Group: "rg1"}, "secops")
	if err != nil {
		cs.t.Fatal(err)
	}
	src, err := cs.node.data.Source(ctx, ws)
	if err != nil {
		return nil, err
	}
	defer src.Release()
	return src.Functions(ctx)
}

// TestSavedSearchesAreTheWorkspacesSealedFunctions saves a parser over the
// API and finds it among the functions the workspace's queries are served;
// while the document-store principal has no access it is neither changed
// nor served; its text never reaches disk in the clear.
func TestSavedSearchesAreTheWorkspacesSealedFunctions(t *testing.T) {
	cs := setUpCMK(t)
	canary := "canary-parser-7f3a91c2"
	body := map[string]any{"properties": map[string]any{"category": "ASIM", "displayName": "DNS parser", "functionAlias": "vimDnsCanary",
		"functionParameters": "disabled:bool=false", "query": fmt.Sprintf("DnsEvents | where not(disabled) | where Name == '%s'", canary)}}
	if st := cs.call("PUT", cs.savedSearchURL("/vimDnsCanary"), cs.mgmt, body, nil); st != 200 {
		t.Fatalf("save a parser: %d", st)
	}
	fns, err := cs.functionsOf()
	if err != nil || len(fns) != 1 || fns[0].Name != "vimDnsCanary" || fns[0].Parameters != "disabled:bool=false" ||
		fns[0].Body != body["properties"].(map[string]any)["query"] {
		t.Fatalf("functions served: %+v %v", fns, err)
	}

	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	var er struct {
		Error struct{ Code, Message string }
	}
	for _, c := range []struct {
		name, method, url string
		body              any
	}{
		{"create", "PUT", cs.savedSearchURL("/while-revoked"), body},
		{"update", "PUT", cs.savedSearchURL("/vimDnsCanary"), body},
		{"read", "GET", cs.savedSearchURL("/vimDnsCanary"), nil},
		{"list", "GET", cs.savedSearchURL(""), nil},
		{"delete", "DELETE", cs.savedSearchURL("/vimDnsCanary"), nil},
	} {
		if st := cs.call(c.method, c.url, cs.mgmt, c.body, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
			t.Errorf("%s a saved search while revoked: %d %+v", c.name, st, er)
		}
	}
	if fns, err := cs.functionsOf(); err == nil {
		t.Errorf("functions served while revoked: %+v", fns)
	}
	cs.grant(docOID)
	cs.probe()
	if fns, err := cs.functionsOf(); err != nil || len(fns) != 1 {
		t.Fatalf("functions after restore: %+v %v", fns, err)
	}

	cs.stop()
	requireNoneUnder(t, cs.dir, map[string][]byte{"the parser's text": []byte("7f3a91c2")}, 0)
}
