package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/keyring"
)

// cmkSetup is a node on which the five set-up steps have been done over HTTP:
// a vault with purge protection and a key; a cluster whose identity and the
// document-store principal may use the key; the key set on the cluster; a
// workspace linked to it and onboarded with customerManagedKey: true.
type cmkSetup struct {
	*running
	mgmt, vtok  string
	cluster     map[string]any
	clusterID   string
	principalID string
	workspace   map[string]any
}

func (rn *running) mgmtURL(path string) string {
	return fmt.Sprintf("%s/subscriptions/%s/resourceGroups/rg1/providers/%s?api-version=2023-07-01", rn.creds.Endpoint, rn.creds.TenantID, path)
}

func setUpCMK(t testing.TB) *cmkSetup {
	t.Helper()
	return setUpCMKWith(t, Config{DataDir: t.TempDir()})
}

func setUpCMKWith(t testing.TB, cfg Config) *cmkSetup {
	t.Helper()
	return setUpCMKOn(t, startNodeWith(t, cfg))
}

// setUpCMKOn does the five set-up steps through rn, a running node.
func setUpCMKOn(t testing.TB, rn *running) *cmkSetup {
	t.Helper()
	cs := &cmkSetup{running: rn, mgmt: rn.adminToken("https://management.azure.com/.default"), vtok: rn.adminToken("https://vault.azure.net/.default")}
	adminOID := rn.objectIDOf(rn.creds.ClientID)
	rn.createVault("cmkvault", map[string][]string{adminOID: {"all"}})
	if st := rn.call("POST", rn.vaultURL("cmkvault")+"/keys/ws-cmk/create?api-version=7.6", cs.vtok, map[string]any{"kty": "RSA", "key_size": 2048}, nil); st != 200 {
		t.Fatalf("create key: %d", st)
	}
	// Step: a cluster with a system-assigned identity.
	var out map[string]any
	st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt,
		map[string]any{"location": "local", "identity": map[string]string{"type": "SystemAssigned"}, "sku": map[string]any{"name": "CapacityReservation", "capacity": 100}}, &out)
	if st != 201 {
		t.Fatalf("create cluster: %d %v", st, out)
	}
	cs.principalID = out["identity"].(map[string]any)["principalId"].(string)
	props := out["properties"].(map[string]any)
	cs.clusterID = props["clusterId"].(string)
	docOID := props["documentStorePrincipalId"].(string)
	if docOID == "" || docOID != rn.node.DocumentStorePrincipalID() {
		t.Fatalf("cluster does not name the document-store principal: %v", props)
	}

	// Setting the key before granting access is refused, naming the permission.
	var er struct {
		Error struct{ Code, Message string }
	}
	st = rn.call("PATCH", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, cs.keyBody(""), &er)
	if st != 403 || er.Error.Code != "Forbidden" || !strings.Contains(er.Error.Message, "get") || !strings.Contains(er.Error.Message, cs.principalID) {
		t.Fatalf("key before grant: %d %+v", st, er)
	}
	// Step: grant both principals get, wrapKey, unwrapKey.
	cs.grant(cs.principalID)
	// Only the cluster identity: the document-store principal is still missing.
	st = rn.call("PATCH", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, cs.keyBody(""), &er)
	if st != 403 || !strings.Contains(er.Error.Message, docOID) {
		t.Fatalf("key without the document-store grant: %d %+v", st, er)
	}
	cs.grant(docOID)
	// Step: set the key (versionless).
	if st := rn.call("PATCH", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, cs.keyBody(""), &cs.cluster); st != 200 {
		t.Fatalf("set key: %d %v", st, cs.cluster)
	}
	if ks := cs.cluster["properties"].(map[string]any)["keyState"]; ks != "Accessible" {
		t.Fatalf("key state %v", ks)
	}
	// Step: a workspace, linked, onboarded with the key.
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, map[string]any{"location": "local"}, &cs.workspace); st != 201 {
		t.Fatalf("create workspace: %d %v", st, cs.workspace)
	}
	out = nil
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/linkedServices/cluster"), cs.mgmt,
		map[string]any{"properties": map[string]any{"writeAccessResourceId": cs.cluster["id"]}}, &out); st != 200 {
		t.Fatalf("link: %d %v", st, out)
	}
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/onboardingStates/default"), cs.mgmt,
		map[string]any{"properties": map[string]any{"customerManagedKey": true}}, &out); st != 200 {
		t.Fatalf("onboard: %d %v", st, out)
	}
	return cs
}

func (cs *cmkSetup) keyBody(version string) map[string]any {
	return map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
		"keyVaultUri": cs.vaultURL("cmkvault") + "/", "keyName": "ws-cmk", "keyVersion": version}}}
}

func (cs *cmkSetup) grant(oid string) {
	cs.t.Helper()
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.KeyVault/vaults/cmkvault/accessPolicies/add"), cs.mgmt,
		map[string]any{"properties": map[string]any{"accessPolicies": []map[string]any{{"objectId": oid, "permissions": map[string]any{"keys": []string{"get", "wrapKey", "unwrapKey"}}}}}}, nil); st != 200 {
		cs.t.Fatalf("grant %s: %d", oid, st)
	}
}

// revoke removes oid's access policy on the cluster's key and probes the
// key, as a key owner taking access away does.
func (cs *cmkSetup) revoke(oid string) {
	cs.t.Helper()
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.KeyVault/vaults/cmkvault/accessPolicies/remove"), cs.mgmt,
		map[string]any{"properties": map[string]any{"accessPolicies": []map[string]any{{"objectId": oid, "permissions": map[string]any{"keys": []string{"get", "wrapKey", "unwrapKey"}}}}}}, nil); st != 200 {
		cs.t.Fatalf("remove the access policy of %s: %d", oid, st)
	}
	cs.probe()
}

func (cs *cmkSetup) keyState() string {
	var out map[string]any
	cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, nil, &out)
	s, _ := out["properties"].(map[string]any)["keyState"].(string)
	return s
}

// requireKeyState probes the cluster's key and fails unless its state is
// then want; when says after what.
func (cs *cmkSetup) requireKeyState(t *testing.T, want, when string) {
	t.Helper()
	cs.probe()
	if st := cs.keyState(); st != want {
		t.Fatalf("key state %s: %s, want %s", when, st, want)
	}
}

func (cs *cmkSetup) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs.node.keys.ProbeNow(ctx, cs.clusterID)
}

func TestFiveStepSetUpPutsTheKeyInForce(t *testing.T) {
	cs := setUpCMK(t)
	if got := cs.keyState(); got != "Accessible" {
		t.Fatalf("key state %q", got)
	}
	// The key can never be removed from the cluster.
	var er struct {
		Error struct{ Code, Message string }
	}
	st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt,
		map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{}}}, &er)
	if st != 409 {
		t.Fatalf("removing the key: %d %+v", st, er)
	}
	// The CMK workspace cannot be unlinked.
	if st := cs.call("DELETE", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/linkedServices/cluster"), cs.mgmt, nil, &er); st != 409 {
		t.Fatalf("unlink: %d %+v", st, er)
	}
}

func TestRevokingTheKeyTwoWaysAndRestoring(t *testing.T) {
	cs := setUpCMK(t)
	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	kid := key["key"].(map[string]any)["kid"].(string)
	version := kid[strings.LastIndexByte(kid, '/')+1:]

	// Disable the key: one probe later, revoked.
	if st := cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": false}}, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	cs.requireKeyState(t, "Revoked", "after disabling")
	cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": true}}, nil)
	cs.requireKeyState(t, "Accessible", "after enabling")

	// Remove the cluster identity's access policy.
	cs.revoke(cs.principalID)
	if got := cs.keyState(); got != "Revoked" {
		t.Fatalf("after removing the policy: %q", got)
	}
	cs.grant(cs.principalID)
	cs.requireKeyState(t, "Accessible", "after restoring the policy")
}

func TestVersionlessRotationLeavesTheOldVersionWrappingNothing(t *testing.T) {
	cs := setUpCMK(t)
	var rotated map[string]any
	if st := cs.call("POST", cs.vaultURL("cmkvault")+"/keys/ws-cmk/rotate?api-version=7.6", cs.vtok, nil, &rotated); st != http.StatusOK {
		t.Fatalf("rotate: %d", st)
	}
	newKID := rotated["key"].(map[string]any)["kid"].(string)
	cs.probe()
	var usage struct {
		Value []struct {
			Resource    string   `json:"resource"`
			KeyURI      string   `json:"keyUri"`
			AccountKeys []string `json:"accountKeys"`
			InUse       bool     `json:"inUse"`
		} `json:"value"`
	}
	if st := cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1/keyUsage"), cs.mgmt, nil, &usage); st != 200 {
		t.Fatalf("key usage: %d", st)
	}
	inUse := map[string]bool{}
	for _, u := range usage.Value {
		if u.InUse {
			if u.KeyURI != newKID {
				t.Errorf("%s account keys still wrapped by %s after rotation", u.Resource, u.KeyURI)
			}
			inUse[u.Resource] = true
		}
	}
	if !inUse["logs"] || !inUse["documents"] || len(usage.Value) != 4 {
		t.Fatalf("usage report: %+v", usage.Value)
	}
}

// dcr creates a data collection rule sending stream Custom-Events to the
// workspace's table Events_CL, and an application with the Ingestor role on
// it; it returns the rule's immutable ID and the application's ingestion token.
func (cs *cmkSetup) dcr() (string, string) {
	cs.t.Helper()
	id := cs.streamDCR(cs.t, "events-dcr", "Custom-Events", cs.workspace["id"].(string),
		[]map[string]string{{"name": "TimeGenerated", "type": "datetime"}, {"name": "Message", "type": "string"}})
	return id, cs.ingestor("events-dcr", "shipper")
}

// streamDCR creates a data collection rule name sending stream (Custom-X)
// with columns cols to table X_CL of the workspace with resource ID wsID; it
// returns the rule's immutable ID.
func (cs *cmkSetup) streamDCR(tb testing.TB, name, stream, wsID string, cols []map[string]string) string {
	tb.Helper()
	var rule map[string]any
	body := map[string]any{"location": "local", "properties": map[string]any{
		"streamDeclarations": map[string]any{stream: map[string]any{"columns": cols}},
		"destinations":       map[string]any{"logAnalytics": []map[string]any{{"workspaceResourceId": wsID, "name": "ws"}}},
		"dataFlows":          []map[string]any{{"streams": []string{stream}, "destinations": []string{"ws"}, "transformKql": "source", "outputStream": stream + "_CL"}},
	}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.Insights/dataCollectionRules/"+name), cs.mgmt, body, &rule); st != 201 {
		tb.Fatalf("create DCR: %d %v", st, rule)
	}
	return rule["properties"].(map[string]any)["immutableId"].(string)
}

// ingestor creates an application named app with the Ingestor role on data
// collection rule dcr and returns its ingestion token.
func (cs *cmkSetup) ingestor(dcr, app string) string {
	cs.t.Helper()
	var a struct{ ID, AppID, ClientSecret string }
	if st := cs.call("POST", cs.creds.Endpoint+"/v1.0/applications", cs.mgmt, map[string]any{"displayName": app}, &a); st != 201 {
		cs.t.Fatalf("create app: %d", st)
	}
	assignment := map[string]any{"properties": map[string]any{"roleDefinitionId": "Ingestor", "principalId": a.ID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.Insights/dataCollectionRules/"+dcr+"/providers/Microsoft.Authorization/roleAssignments/"+app), cs.mgmt, assignment, nil); st != 201 {
		cs.t.Fatalf("assign role: %d", st)
	}
	return cs.token(a.AppID, a.ClientSecret, "https://monitor.azure.com//.default")
}

func (cs *cmkSetup) ingest(immutableID, token string, rows []map[string]any) (int, string) {
	cs.t.Helper()
	var er struct {
		Error struct{ Code, Message string }
	}
	st := cs.call("POST", cs.creds.Endpoint+"/dataCollectionRules/"+immutableID+"/streams/Custom-Events?api-version=2023-01-01", token, rows, &er)
	return st, er.Error.Code
}

func TestIngestionStopsWhenTheKeyIsRevokedAndResumesWhenRestored(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "hello"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	// A principal without the Ingestor role is refused.
	if st, code := cs.ingest(immutableID, cs.adminToken("https://vault.azure.net/.default"), rows); st != 401 {
		t.Fatalf("vault token on ingestion: %d %s", st, code)
	}
	other, secret, _ := cs.node.identity.CreateApplication(context.Background(), "no-role")
	if st, code := cs.ingest(immutableID, cs.token(other.AppID, secret, "https://monitor.azure.com/.default"), rows); st != 403 || code != "AuthorizationFailed" {
		t.Fatalf("ingest without the Ingestor role: %d %s", st, code)
	}
	if st, code := cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": "not a time"}}); st != 400 || code != "InvalidPayload" {
		t.Fatalf("bad row: %d %s", st, code)
	}

	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	kid := key["key"].(map[string]any)["kid"].(string)
	version := kid[strings.LastIndexByte(kid, '/')+1:]
	cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": false}}, nil)
	cs.probe()
	if st, code := cs.ingest(immutableID, tok, rows); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest while revoked: %d %s", st, code)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	queryTok := cs.adminToken("https://api.loganalytics.io/.default")
	var er struct{ Error struct{ Code string } }
	if st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", queryTok, map[string]string{"query": "Events_CL | count"}, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("query while revoked: %d %s", st, er.Error.Code)
	}
	if st := cs.call("POST", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/flush"), cs.mgmt, nil, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("flush while revoked: %d %s", st, er.Error.Code)
	}
	// Deleting is the one thing left: a second workspace on the cluster can
	// still be deleted while the key is revoked.
	if st := cs.call("DELETE", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, nil, nil); st != 200 {
		t.Fatalf("delete workspace while revoked: %d", st)
	}
	cs.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cs.vtok, map[string]any{"attributes": map[string]any{"enabled": true}}, nil)
	cs.requireKeyState(t, "Accessible", "after restore")
}

func TestIngestionResumesWhenTheKeyIsRestored(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "before"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	cs.revoke(cs.principalID)
	refused := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "refused"}}
	if st, code := cs.ingest(immutableID, tok, refused); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest while revoked: %d %s", st, code)
	}
	cs.grant(cs.principalID)
	cs.probe()
	rows[0]["Message"] = "after"
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest after restore: %d %s", st, code)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var res struct {
		Tables []struct{ Rows [][]any } `json:"tables"`
	}
	st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": "Events_CL | summarize by Message | sort by Message asc"}, &res)
	if st != 200 || len(res.Tables) != 1 || len(res.Tables[0].Rows) != 2 || res.Tables[0].Rows[0][0] != "after" || res.Tables[0].Rows[1][0] != "before" {
		t.Fatalf("all earlier data reads back, and the refused batch was never stored: %d %+v", st, res)
	}
}

func (cs *cmkSetup) incidentURL(id string) string {
	return cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/incidents/" + id)
}

func TestIncidentsStopWhenTheDocumentStorePrincipalLosesAccess(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	incidentBody := map[string]any{"properties": map[string]any{"title": "Brute force on dc01", "severity": "High"}}
	var inc map[string]any
	if st := cs.call("PUT", cs.incidentURL("i1"), cs.mgmt, incidentBody, &inc); st != 201 {
		t.Fatalf("create incident: %d %v", st, inc)
	}
	if n := inc["properties"].(map[string]any)["incidentNumber"]; n != 1.0 {
		t.Fatalf("incident number %v", n)
	}
	// Roles: a Reader reads but cannot change.
	app, secret, _ := cs.node.identity.CreateApplication(context.Background(), "analyst")
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Reader", "principalId": app.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/r1"), cs.mgmt, assign, nil); st != 201 {
		t.Fatalf("assign Reader: %d", st)
	}
	reader := cs.token(app.AppID, secret, "https://management.azure.com/.default")
	if st := cs.call("GET", cs.incidentURL("i1"), reader, nil, nil); st != 200 {
		t.Fatalf("reader GET: %d", st)
	}
	var er struct {
		Error struct{ Code, Message string }
	}
	if st := cs.call("PUT", cs.incidentURL("i2"), reader, incidentBody, &er); st != 403 || er.Error.Code != "AuthorizationFailed" {
		t.Fatalf("reader PUT: %d %+v", st, er)
	}

	// Remove the document-store principal's access: incidents stop.
	docOID := cs.node.DocumentStorePrincipalID()
	cs.revoke(docOID)
	if st := cs.call("PUT", cs.incidentURL("i2"), cs.mgmt, incidentBody, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("create incident while revoked: %d %+v", st, er)
	}
	// The key governs the whole workspace: ingestion and configuration
	// changes stop too, not only the document store.
	if st, code := cs.ingest(immutableID, tok, []map[string]any{{"Message": "x"}}); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest with the document-store principal revoked: %d %s", st, code)
	}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, map[string]any{"properties": map[string]any{"retentionInDays": 120}}, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("change the workspace's settings while revoked: %d %+v", st, er)
	}
	if st := cs.call("GET", cs.incidentURL("i1"), cs.mgmt, nil, &er); st != 403 {
		t.Fatalf("read incident while revoked: %d %+v", st, er)
	}
	cs.grant(docOID)
	cs.probe()
	var back map[string]any
	if st := cs.call("GET", cs.incidentURL("i1"), cs.mgmt, nil, &back); st != 200 || back["properties"].(map[string]any)["title"] != "Brute force on dc01" {
		t.Fatalf("incident after restore: %d %v", st, back)
	}
}

func TestKeyStateIsExportedAsMetricsToMonitoringReaders(t *testing.T) {
	cs := setUpCMK(t)
	get := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", cs.creds.Endpoint+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cs.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if st, body := get(""); st != 401 || strings.Contains(body, cs.clusterID) {
		t.Fatalf("metrics without a token: %d", st)
	}
	scraper, secret, err := cs.node.identity.CreateApplication(context.Background(), "prometheus", identity.RoleMonitoringReader)
	if err != nil {
		t.Fatal(err)
	}
	plain, plainSecret, err := cs.node.identity.CreateApplication(context.Background(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	if st, body := get(cs.token(plain.AppID, plainSecret, "https://management.azure.com/.default")); st != 403 || strings.Contains(body, cs.clusterID) {
		t.Fatalf("metrics for an application without a role: %d", st)
	}
	if st, _ := get(cs.token(scraper.AppID, secret, "https://api.loganalytics.io/.default")); st != 401 {
		t.Fatalf("metrics with a query token: %d", st)
	}
	st, body := get(cs.token(scraper.AppID, secret, "https://management.azure.com/.default"))
	if st != 200 || !strings.Contains(body, cs.clusterID) || !strings.Contains(body, "sealwatch_keyring_state") {
		t.Fatalf("metrics: %d, cluster %s not in:\n%.2000s", st, cs.clusterID, body)
	}
	// The scraper holds no other right.
	if st := cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.token(scraper.AppID, secret, "https://management.azure.com/.default"), nil, nil); st != 403 {
		t.Fatalf("a monitoring reader read a cluster: %d", st)
	}
}

// collectorPost signs and sends a Data Collector API request.
func (rn *running) collectorPost(customerID, sharedKey, logType string, body []byte) (int, string) {
	rn.t.Helper()
	return rn.collectorSend(customerID, sharedKey, logType, time.Now().UTC().Format(http.TimeFormat), body)
}

// collectorSend sends a Data Collector API request signed with date: the
// same arguments make the same request, as a replay would.
func (rn *running) collectorSend(customerID, sharedKey, logType, date string, body []byte) (int, string) {
	rn.t.Helper()
	st, e, err := rn.collectorTry(customerID, sharedKey, logType, date, body)
	if err != nil {
		rn.t.Fatal(err)
	}
	return st, e.Code
}

// collectorTry is collectorSend returning the transport's error rather than
// failing the test: for requests to a node that may be going down, and from
// goroutines other than the test's. It returns the answer's status and
// error, if any.
func (rn *running) collectorTry(customerID, sharedKey, logType, date string, body []byte) (int, apiError, error) {
	key, _ := base64.StdEncoding.DecodeString(sharedKey)
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "POST\n%d\napplication/json\nx-ms-date:%s\n/api/logs", len(body), date)
	req, _ := http.NewRequest("POST", rn.creds.Endpoint+"/api/logs?api-version=2016-04-01", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Log-Type", logType)
	req.Header.Set("x-ms-date", date)
	req.Header.Set("Authorization", "SharedKey "+customerID+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	resp, err := rn.client.Do(req)
	if err != nil {
		return 0, apiError{}, err
	}
	defer resp.Body.Close()
	var er struct{ Error apiError }
	json.NewDecoder(resp.Body).Decode(&er)
	return resp.StatusCode, er.Error, nil
}

// apiError is the error an API answer carries: never a token or a row.
type apiError struct{ Code, Message string }

func (e apiError) String() string { return e.Code + ": " + e.Message }

// TestCanariesNeverReachDiskInTheClear sends canary values through both
// ingestion APIs, into an incident, and through an analytics rule the
// scheduler runs (its alert, custom details, health record and run state),
// on a CMK workspace and on a
// platform-key workspace, stops the node, and searches every file under the
// data directory for them.
func TestCanariesNeverReachDiskInTheClear(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), RuleInterval: 100 * time.Millisecond})
	canary := "CANARY-7f3a9c1e-d0c5-4b8e-9f2a-sealwatch"
	immutableID, tok := cs.dcr()
	if st, code := cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": canary + "-ingest"}}); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	// A workspace without a customer-managed key: sealed under the platform key.
	customerID, sharedKey := collectorWorkspace(t, cs.running, "plainws")
	body, _ := json.Marshal([]map[string]any{{"Computer": "dc01", "Message": canary + "-collector"}})
	if st, code := cs.collectorPost(customerID, sharedKey, "Canary", body); st != 200 {
		t.Fatalf("data collector: %d %s", st, code)
	}
	if st, _ := cs.collectorPost(customerID, base64.StdEncoding.EncodeToString([]byte("wrong key, wrong key, wrong key!")), "Canary", body); st != 403 {
		t.Fatalf("wrong shared key: %d", st)
	}
	incidentBody := map[string]any{"properties": map[string]any{"title": canary + "-incident", "severity": "Low"}}
	if st := cs.call("PUT", cs.incidentURL("canary"), cs.mgmt, incidentBody, nil); st != 201 {
		t.Fatalf("incident: %d", st)
	}
	ruleBody := map[string]any{"kind": "NRT", "properties": map[string]any{"displayName": canary + "-rule", "severity": "Low", "enabled": true,
		"query": "Events_CL | where Message has '" + canary + "-query'"}}
	if st := cs.call("PUT", cs.alertRuleURL("/canary"), cs.mgmt, ruleBody, nil); st != 201 {
		t.Fatalf("analytics rule: %d", st)
	}
	// a rule the scheduler runs: its alert, health record and run state hold canaries
	scheduled := map[string]any{"kind": "Scheduled", "properties": map[string]any{"displayName": canary + "-scheduled", "severity": "Low", "enabled": true,
		"query": "Events_CL | where Message has '" + canary + "-ingest' | project Message", "queryFrequency": "PT5M", "queryPeriod": "PT1H",
		"triggerOperator": "GreaterThan", "triggerThreshold": 0, "customDetails": map[string]string{"Msg": "Message"},
		"alertDetailsOverride": map[string]any{"alertDisplayNameFormat": "{{Message}}"}}}
	if st := cs.call("PUT", cs.alertRuleURL("/canary-scheduled"), cs.mgmt, scheduled, nil); st != 201 {
		t.Fatalf("scheduled rule: %d", st)
	}
	waitFor(t, 20*time.Second, "the scheduled rule's alert and health record", func() bool {
		st, n, _ := cs.queryStatus(`SentinelHealth | where SentinelResourceName == "canary-scheduled" and ExtendedProperties.AlertsGenerated == 1 | count`, "")
		return st == 200 && n == 1.0
	})
	a := ruleAlert(t, 1, canary+"-account", "198.51.100.23")
	a.DisplayName, a.Query, a.CustomDetails["Who"] = canary+"-alert", "T | where x == '"+canary+"-alert-query'", []any{canary + "-detail"}
	cs.raiseAlert(a, "brute-force", incident.Grouping{Enabled: true, Lookback: time.Hour, Method: incident.MatchAllEntities})
	cs.stop()

	requireNoneUnder(t, cs.dir, map[string][]byte{
		"the canary": []byte(canary), "the canary as base64": []byte(base64.StdEncoding.EncodeToString([]byte(canary))[:24]),
		"a part of the canary": []byte("7f3a9c1e-d0c5"),
	}, 10)
}

func TestRetentionPurgesExpiredDataWhileTheKeyIsRevoked(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), "Message": "old news"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	if err := cs.node.data.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segments := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(cs.dir, "logs"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".seg") {
				n++
			}
			return nil
		})
		return n
	}
	if segments() == 0 {
		t.Fatal("no segment written")
	}
	cs.revoke(cs.principalID)
	if got := cs.keyState(); got != "Revoked" {
		t.Fatalf("key state %s", got)
	}
	// 91 days on, past the workspace's 90-day retention.
	purged, err := cs.node.PurgeExpired(context.Background(), time.Now().Add(91*24*time.Hour))
	if err != nil || purged == 0 || segments() != 0 {
		t.Fatalf("purge while revoked: %d purged, %v, %d segments left", purged, err, segments())
	}
}

type usageRow struct {
	Resource string `json:"resource"`
	KeyURI   string `json:"keyUri"`
	InUse    bool   `json:"inUse"`
}

func (cs *cmkSetup) keyUsage() []usageRow {
	cs.t.Helper()
	var usage struct{ Value []usageRow }
	if st := cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1/keyUsage"), cs.mgmt, nil, &usage); st != 200 {
		cs.t.Fatalf("key usage: %d", st)
	}
	return usage.Value
}

// TestPinnedRotationThenReplacementInAnotherVault pins a new version by
// PATCH, then replaces the key with one in a second vault: everything ingested
// before still reads, the old keys wrap nothing, and disabling them changes
// nothing.
func TestPinnedRotationThenReplacementInAnotherVault(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	send := func(msg string) {
		t.Helper()
		if st, code := cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": msg}}); st != 204 {
			t.Fatalf("ingest %s: %d %s", msg, st, code)
		}
	}
	send("under v1")

	// Pinned rotation: a new version, named on the cluster.
	var rotated map[string]any
	cs.call("POST", cs.vaultURL("cmkvault")+"/keys/ws-cmk/rotate?api-version=7.6", cs.vtok, nil, &rotated)
	v2kid := rotated["key"].(map[string]any)["kid"].(string)
	v2 := v2kid[strings.LastIndexByte(v2kid, '/')+1:]
	if st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, cs.keyBody(v2), nil); st != 200 {
		t.Fatalf("pin v2: %d", st)
	}
	for _, u := range cs.keyUsage() {
		if u.InUse != (u.KeyURI == v2kid) {
			t.Fatalf("after pinning v2: %+v", cs.keyUsage())
		}
	}
	send("under v2")

	// Replacement: another key in another vault, both principals granted.
	adminOID := cs.objectIDOf(cs.creds.ClientID)
	cs.createVault("othervault", map[string][]string{adminOID: {"all"},
		cs.principalID: {"get", "wrapKey", "unwrapKey"}, cs.node.DocumentStorePrincipalID(): {"get", "wrapKey", "unwrapKey"}})
	var created map[string]any
	cs.call("POST", cs.vaultURL("othervault")+"/keys/new-cmk/create?api-version=7.6", cs.vtok, map[string]any{"kty": "RSA", "key_size": 3072}, &created)
	newKID := created["key"].(map[string]any)["kid"].(string)
	replace := map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
		"keyVaultUri": cs.vaultURL("othervault") + "/", "keyName": "new-cmk", "keyVersion": ""}}}
	if st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, replace, nil); st != 200 {
		t.Fatalf("replace: %d", st)
	}
	for _, u := range cs.keyUsage() {
		if u.InUse && u.KeyURI != newKID {
			t.Fatalf("after replacement %s still wraps account keys", u.KeyURI)
		}
	}
	// The old key can go: disable every version of it; nothing changes.
	var versions struct{ Value []struct{ KID string } }
	cs.call("GET", cs.vaultURL("cmkvault")+"/keys/ws-cmk/versions?api-version=7.6", cs.vtok, nil, &versions)
	for _, v := range versions.Value {
		cs.call("PATCH", cs.vaultURL("cmkvault")+"/keys/ws-cmk/"+v.KID[strings.LastIndexByte(v.KID, '/')+1:]+"?api-version=7.6", cs.vtok,
			map[string]any{"attributes": map[string]any{"enabled": false}}, nil)
	}
	cs.requireKeyState(t, "Accessible", "after disabling the old key")
	send("under the new key")
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var res struct {
		Tables []struct{ Rows [][]any } `json:"tables"`
	}
	cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": "Events_CL | summarize by Message | sort by Message asc"}, &res)
	if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 3 {
		t.Fatalf("rows under all three keys read back: %+v", res)
	}
}

// partition is a transport that fails every request while down, as a network
// fault between the workspace and the key vault would.
type partition struct {
	next http.RoundTripper
	down atomic.Bool
}

func (p *partition) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.down.Load() {
		return nil, fmt.Errorf("dial %s: connection refused (test partition)", r.URL.Host)
	}
	return p.next.RoundTrip(r)
}

// TestVaultUnreachableWorksWithinTheGraceThenLocksThenResumes cuts the
// network to the key vault: work goes on from memory within the grace, then
// refuses with 503 KeyVaultUnreachable and Retry-After, never as revoked;
// when the vault is back it resumes by itself.
func TestVaultUnreachableWorksWithinTheGraceThenLocksThenResumes(t *testing.T) {
	p := &partition{}
	const grace = 4 * time.Second
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), KeyCheckInterval: 200 * time.Millisecond, UnreachableGrace: grace,
		WrapKeyServiceTransport: func(next http.RoundTripper) http.RoundTripper { p.next = next; return p }})
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "x"}}

	p.down.Store(true)
	cut := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := cs.node.keys.Keyring(cs.clusterID, "logs")
	if err := logs.WaitState(ctx, keyring.Unreachable); err != nil {
		t.Fatalf("never unreachable: %v (state %s)", err, logs.State())
	}
	if time.Since(cut) < grace-time.Second {
		if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
			t.Fatalf("ingest within the grace: %d %s", st, code)
		}
	} else {
		t.Logf("the machine is too slow to check work within the grace (%s since the cut)", time.Since(cut))
	}
	if err := logs.WaitState(ctx, keyring.Locked); err != nil {
		t.Fatalf("never locked: %v", err)
	}
	cs.ingestIsLocked(immutableID, tok)

	p.down.Store(false)
	if err := logs.WaitState(ctx, keyring.Accessible); err != nil {
		t.Fatalf("did not resume: %v", err)
	}
	if err := cs.node.keys.Keyring(cs.clusterID, "documents").WaitState(ctx, keyring.Accessible); err != nil {
		t.Fatalf("documents did not resume: %v", err)
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest after the vault is back: %d %s", st, code)
	}
}

// ingestIsLocked checks that, past the grace of an unreachable vault, ingest
// answers 503 KeyVaultUnreachable with Retry-After and the key is Locked,
// never Revoked.
func (cs *cmkSetup) ingestIsLocked(immutableID, tok string) {
	cs.t.Helper()
	req, _ := http.NewRequest("POST", cs.creds.Endpoint+"/dataCollectionRules/"+immutableID+"/streams/Custom-Events?api-version=2023-01-01", strings.NewReader(`[{"Message":"y"}]`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := cs.client.Do(req)
	if err != nil {
		cs.t.Fatal(err)
	}
	var er struct{ Error struct{ Code string } }
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 503 || er.Error.Code != "KeyVaultUnreachable" || resp.Header.Get("Retry-After") == "" {
		cs.t.Fatalf("ingest past the grace: %d %s Retry-After=%q", resp.StatusCode, er.Error.Code, resp.Header.Get("Retry-After"))
	}
	if got := cs.keyState(); got != "Locked" {
		cs.t.Fatalf("cluster key state %q, want Locked (never Revoked)", got)
	}
}

// TestEveryRouteChecksTheCallersRole gives one application each role on the
// workspace (and Ingestor on the rule) and tries every kind of call.
func TestEveryRouteChecksTheCallersRole(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, _ := cs.dcr()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	if st := cs.call("PUT", cs.incidentURL("seed"), cs.mgmt, map[string]any{"properties": map[string]any{"title": "t", "severity": "Low"}}, nil); st != 201 {
		t.Fatalf("seed incident: %d", st)
	}
	type principal struct{ mgmt, query, ingest string }
	tokens := map[string]principal{}
	for i, role := range []string{"Reader", "Responder", "Contributor", "Ingestor"} {
		app, secret, err := cs.node.identity.CreateApplication(context.Background(), "as-"+role)
		if err != nil {
			t.Fatal(err)
		}
		scope := "Microsoft.OperationalInsights/workspaces/secops"
		if role == "Ingestor" {
			scope = "Microsoft.Insights/dataCollectionRules/events-dcr"
		}
		body := map[string]any{"properties": map[string]any{"roleDefinitionId": role, "principalId": app.ObjectID}}
		if st := cs.call("PUT", cs.mgmtURL(scope+fmt.Sprintf("/providers/Microsoft.Authorization/roleAssignments/role-%d", i)), cs.mgmt, body, nil); st != 201 {
			t.Fatalf("assign %s: %d", role, st)
		}
		tokens[role] = principal{
			mgmt:   cs.token(app.AppID, secret, "https://management.azure.com/.default"),
			query:  cs.token(app.AppID, secret, "https://api.loganalytics.io/.default"),
			ingest: cs.token(app.AppID, secret, "https://monitor.azure.com/.default"),
		}
	}
	var listed struct {
		Value []struct {
			Properties struct{ RoleDefinitionID, PrincipalID string }
		}
	}
	if st := cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments"), cs.mgmt, nil, &listed); st != 200 || len(listed.Value) != 3 {
		t.Fatalf("list the workspace's role assignments: %d %+v", st, listed)
	}
	if st := cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/nonsense"), cs.mgmt, nil, nil); st != 404 {
		t.Fatalf("an unknown management path: %d", st)
	}
	row := []map[string]any{{"Message": "x"}}
	calls := []struct {
		name string
		do   func(p principal) int
		want map[string]int
	}{
		{"query", func(p principal) int {
			return cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", p.query, map[string]string{"query": "print x = 1"}, nil)
		}, map[string]int{"Reader": 200, "Responder": 200, "Contributor": 200, "Ingestor": 403}},
		{"read an incident", func(p principal) int { return cs.call("GET", cs.incidentURL("seed"), p.mgmt, nil, nil) },
			map[string]int{"Reader": 200, "Responder": 200, "Contributor": 200, "Ingestor": 403}},
		{"create an incident", func(p principal) int {
			return cs.call("PUT", cs.incidentURL(fmt.Sprintf("i-%d", time.Now().UnixNano())), p.mgmt, map[string]any{"properties": map[string]any{"title": "t", "severity": "Low"}}, nil)
		}, map[string]int{"Reader": 403, "Responder": 201, "Contributor": 201, "Ingestor": 403}},
		{"delete an incident", func(p principal) int { return cs.call("DELETE", cs.incidentURL("nonexistent"), p.mgmt, nil, nil) },
			map[string]int{"Reader": 403, "Responder": 403, "Contributor": 200, "Ingestor": 403}},
		{"list analytics rules", func(p principal) int {
			return cs.call("GET", cs.alertRuleURL(""), p.mgmt, nil, nil)
		}, map[string]int{"Reader": 200, "Responder": 200, "Contributor": 200, "Ingestor": 403}},
		{"delete an analytics rule", func(p principal) int { return cs.call("DELETE", cs.alertRuleURL("/nonexistent"), p.mgmt, nil, nil) },
			map[string]int{"Reader": 403, "Responder": 403, "Contributor": 200, "Ingestor": 403}},
		{"ingest", func(p principal) int { st, _ := cs.ingest(immutableID, p.ingest, row); return st },
			map[string]int{"Reader": 403, "Responder": 403, "Contributor": 403, "Ingestor": 204}},
		{"flush the workspace's logs", func(p principal) int {
			return cs.call("POST", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/flush"), p.mgmt, nil, nil)
		}, map[string]int{"Reader": 403, "Responder": 403, "Contributor": 204, "Ingestor": 403}},
		{"manage the workspace", func(p principal) int {
			return cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), p.mgmt, map[string]any{}, nil)
		}, map[string]int{"Reader": 403, "Responder": 403, "Contributor": 403, "Ingestor": 403}},
	}
	for _, c := range calls {
		for role, want := range c.want {
			if got := c.do(tokens[role]); got != want {
				t.Errorf("%s as %s: %d, want %d", c.name, role, got, want)
			}
		}
	}
}

func TestIngestionRefusesOverOneMegabyteWhole(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	big := []map[string]any{}
	for range 1200 {
		big = append(big, map[string]any{"Message": strings.Repeat("a", 1000)})
	}
	if st, code := cs.ingest(immutableID, tok, big); st != 413 || code != "PayloadTooLarge" {
		t.Fatalf("1.2 MB: %d %s", st, code)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var res struct {
		Tables []struct{ Rows [][]any } `json:"tables"`
	}
	// The table the rule declares exists with no row: the refused body stored nothing.
	st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"), map[string]string{"query": "Events_CL | count"}, &res)
	if st != 200 || len(res.Tables) != 1 || fmt.Sprint(res.Tables[0].Rows) != "[[0]]" {
		t.Fatalf("query after the refused body: %d %+v", st, res)
	}
}

// TestClusterSaysWhenItsKeyWasLastCheckedAndWhyItFailed: a cluster's
// lastKeyCheckDate moves with each check, and keyCheckError says what the
// vault answered while the key is disabled, and goes once it is restored.
func TestClusterSaysWhenItsKeyWasLastCheckedAndWhyItFailed(t *testing.T) {
	cs := setUpCMK(t)
	health := func() (string, time.Time, string) {
		t.Helper()
		var out struct {
			Properties struct {
				KeyState         string     `json:"keyState"`
				LastKeyCheckDate *time.Time `json:"lastKeyCheckDate"`
				KeyCheckError    string     `json:"keyCheckError"`
			} `json:"properties"`
		}
		if st := cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, nil, &out); st != 200 {
			t.Fatalf("get cluster: %d", st)
		}
		if out.Properties.LastKeyCheckDate == nil {
			t.Fatalf("the cluster (key state %q) says no check of its key", out.Properties.KeyState)
		}
		return out.Properties.KeyState, *out.Properties.LastKeyCheckDate, out.Properties.KeyCheckError
	}
	state, set, why := health()
	if state != "Accessible" || why != "" || time.Since(set) > time.Minute {
		t.Fatalf("after the set-up: %s, checked %v, error %q", state, set, why)
	}

	cs.disableKey(true)
	state, revoked, why := health()
	if state != "Revoked" || !revoked.After(set) || !strings.Contains(why, "ws-cmk") || !strings.Contains(why, "KeyDisabled") {
		t.Errorf("disabled: %s, checked %v (before: %v), error %q; want Revoked, a later check, an error naming the key and KeyDisabled", state, revoked, set, why)
	}
	cs.disableKey(false)
	state, restored, why := health()
	if state != "Accessible" || !restored.After(revoked) || why != "" {
		t.Errorf("restored: %s, checked %v (before: %v), error %q", state, restored, revoked, why)
	}
}
