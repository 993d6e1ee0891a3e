package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyring"
)

// TestKeyInTheCustomersOwnVaultProcess runs the split deployment: the
// customer's vault in its own process, data directory and tenant, trusting
// the workspace node's identity service; the workspace node trusting the
// vault's CA. The cluster's key is replaced by one in that vault, then the
// vault is stopped (work goes on within the grace, then 503), started again
// (work resumes by itself), and finally the customer revokes the cluster
// identity's access in their own vault.
func TestKeyInTheCustomersOwnVaultProcess(t *testing.T) {
	// The vault's first start creates its CA, which the workspace node is
	// then configured to trust.
	first := startNodeWith(t, Config{DataDir: t.TempDir(), Services: ServeVault})
	vaultDir, vaultAddr, vaultCA := first.dir, "127.0.0.1:"+first.port, first.creds.CAFile
	first.stop()

	const grace = 4 * time.Second
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), KeyCheckInterval: 200 * time.Millisecond, UnreachableGrace: grace,
		KeyVaultCAFiles: []string{vaultCA}})
	trust := []identity.TrustedIssuer{{Issuer: cs.creds.Endpoint + "/" + cs.creds.TenantID + "/v2.0", TenantID: cs.creds.TenantID, Client: cs.client}}
	startVault := func() *running {
		return startNodeWith(t, Config{DataDir: vaultDir, Addr: vaultAddr, Services: ServeVault, TrustedIssuers: trust})
	}
	cv := startVault()
	if cv.creds.TenantID == cs.creds.TenantID {
		t.Fatal("the customer's vault shares the workspace node's tenant")
	}
	// A vault-only node serves no workspace API.
	if st := cv.call("GET", cv.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cv.adminToken("https://management.azure.com/.default"), nil, nil); st != 404 {
		t.Fatalf("workspace API on the vault-only node: %d", st)
	}

	immutableID, tok := cs.dcr()
	send := func(msg string) (int, string) {
		return cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": msg}})
	}
	if st, code := send("under the node's vault"); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}

	// The customer creates a vault and a key in their own process.
	cv.createVault("custvault", map[string][]string{cv.objectIDOf(cv.creds.ClientID): {"all"}})
	cvt := cv.adminToken("https://vault.azure.net/.default")
	if st := cv.call("POST", cv.vaultURL("custvault")+"/keys/cust-cmk/create?api-version=7.6", cvt, map[string]any{"kty": "RSA", "key_size": 3072}, nil); st != 200 {
		t.Fatalf("create key: %d", st)
	}
	docOID := cs.node.DocumentStorePrincipalID()
	policy := func(op, oid string) {
		t.Helper()
		body := map[string]any{"properties": map[string]any{"accessPolicies": []map[string]any{{
			"tenantId": cs.creds.TenantID, "objectId": oid, "permissions": map[string]any{"keys": []string{"get", "wrapKey", "unwrapKey"}}}}}}
		if st := cv.call("PUT", cv.mgmtURL("Microsoft.KeyVault/vaults/custvault/accessPolicies/"+op), cv.adminToken("https://management.azure.com/.default"), body, nil); st != 200 {
			t.Fatalf("%s policy for %s: %d", op, oid, st)
		}
	}
	replace := map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
		"keyVaultUri": cv.vaultURL("custvault") + "/", "keyName": "cust-cmk"}}}
	clusterURL := cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1")
	var er struct {
		Error struct{ Code, Message string }
	}
	// Before the customer grants access, their vault refuses the operator's identity.
	if st := cs.call("PATCH", clusterURL, cs.mgmt, replace, &er); st != 403 || !strings.Contains(er.Error.Message, cs.principalID) {
		t.Fatalf("replace before the grant: %d %+v", st, er)
	}
	policy("add", cs.principalID)
	policy("add", docOID)
	if st := cs.call("PATCH", clusterURL, cs.mgmt, replace, &er); st != 200 {
		t.Fatalf("replace with the customer's key: %d %+v", st, er)
	}
	inUse := 0
	for _, u := range cs.keyUsage() {
		if u.InUse {
			inUse++
			if !strings.HasPrefix(u.KeyURI, cv.vaultURL("custvault")+"/keys/cust-cmk/") {
				t.Fatalf("after the replacement an account key is wrapped by %+v", u)
			}
		}
	}
	if inUse != 2 {
		t.Fatalf("%d key versions in use, want the customer's for logs and documents", inUse)
	}
	// The customer's audit log names the operator's principals with their tenant.
	var audit struct {
		Value []struct{ Operation, CallerObjectID, CallerTenantID string }
	}
	if st := cv.call("GET", strings.Replace(cv.mgmtURL("Microsoft.KeyVault/vaults/custvault/auditRecords"), "?", "?key=cust-cmk&", 1),
		cv.adminToken("https://management.azure.com/.default"), nil, &audit); st != 200 {
		t.Fatalf("audit: %d", st)
	}
	wraps := 0
	for _, r := range audit.Value {
		if r.Operation == "KeyWrap" && r.CallerObjectID == cs.principalID {
			wraps++
			if r.CallerTenantID != cs.creds.TenantID {
				t.Fatalf("audit record of the cluster identity names tenant %q, want the operator's %s", r.CallerTenantID, cs.creds.TenantID)
			}
		}
	}
	if wraps == 0 {
		t.Fatalf("no KeyWrap by the cluster identity in the customer's audit log: %+v", audit.Value)
	}
	if st, code := send("under the customer's vault"); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	count := func(want float64) {
		t.Helper()
		var res struct{ Tables []struct{ Rows [][]any } }
		customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
		if st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
			map[string]any{"query": "Events_CL | count"}, &res); st != 200 || len(res.Tables) != 1 || res.Tables[0].Rows[0][0] != want {
			t.Fatalf("query: %d %+v, want %v rows", st, res, want)
		}
	}
	count(2)

	// The customer's vault stops.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := cs.node.keys.Keyring(cs.clusterID, "logs")
	cv.stop()
	cut := time.Now()
	if err := logs.WaitState(ctx, keyring.Unreachable); err != nil {
		t.Fatalf("never unreachable: %v (state %s)", err, logs.State())
	}
	rows := 2.0
	if time.Since(cut) < grace-time.Second {
		rows++
		if st, code := send("within the grace"); st != 204 {
			t.Fatalf("ingest within the grace: %d %s", st, code)
		}
	} else {
		t.Logf("the machine is too slow to check work within the grace (%s since the stop)", time.Since(cut))
	}
	if err := logs.WaitState(ctx, keyring.Locked); err != nil {
		t.Fatalf("never locked: %v", err)
	}
	cs.ingestIsLocked(immutableID, tok)

	// Started again, it is found by the next check; nothing was lost.
	cv = startVault()
	for _, res := range []string{"logs", "documents"} {
		if err := cs.node.keys.Keyring(cs.clusterID, res).WaitState(ctx, keyring.Accessible); err != nil {
			t.Fatalf("%s did not resume: %v", res, err)
		}
	}
	if st, code := send("after the vault is back"); st != 204 {
		t.Fatalf("ingest after the vault is back: %d %s", st, code)
	}
	count(rows + 1)

	// The customer takes the cluster identity's access away in their vault.
	policy("remove", cs.principalID)
	if err := logs.WaitState(ctx, keyring.Revoked); err != nil {
		t.Fatalf("never revoked: %v", err)
	}
	if st, code := send("after the revocation"); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest after the customer revoked: %d %s", st, code)
	}
}

// TestWorkspaceOnlyNodeUsesAVaultElsewhere runs both sides apart: a
// workspace-only node (sealwatch serve), which serves no vault, keeps a new
// cluster's first key in a vault-only node.
func TestWorkspaceOnlyNodeUsesAVaultElsewhere(t *testing.T) {
	first := startNodeWith(t, Config{DataDir: t.TempDir(), Services: ServeVault})
	vaultDir, vaultAddr, vaultCA := first.dir, "127.0.0.1:"+first.port, first.creds.CAFile
	first.stop()
	ws := startNodeWith(t, Config{DataDir: t.TempDir(), Services: ServeWorkspaces, KeyVaultCAFiles: []string{vaultCA}})
	mgmt := ws.adminToken("https://management.azure.com/.default")
	var er struct{ Error struct{ Code string } }
	if st := ws.call("PUT", ws.vaultResource("nope"), mgmt, map[string]any{"location": "local"}, &er); st != 404 || er.Error.Code != "NotFound" {
		t.Fatalf("vault management on a workspace-only node: %d %s", st, er.Error.Code)
	}
	if st := ws.call("GET", ws.vaultURL("nope")+"/keys?api-version=7.6", ws.adminToken("https://vault.azure.net/.default"), nil, nil); st != 404 {
		t.Fatalf("vault data plane on a workspace-only node: %d", st)
	}

	cv := startNodeWith(t, Config{DataDir: vaultDir, Addr: vaultAddr, Services: ServeVault,
		TrustedIssuers: []identity.TrustedIssuer{{Issuer: ws.creds.Endpoint + "/" + ws.creds.TenantID + "/v2.0", TenantID: ws.creds.TenantID, Client: ws.client}}})
	cv.createVault("keys1", map[string][]string{cv.objectIDOf(cv.creds.ClientID): {"all"}})
	if st := cv.call("POST", cv.vaultURL("keys1")+"/keys/k1/create?api-version=7.6", cv.adminToken("https://vault.azure.net/.default"), map[string]any{"kty": "RSA", "key_size": 2048}, nil); st != 200 {
		t.Fatalf("create key: %d", st)
	}
	var cluster map[string]any
	if st := ws.call("PUT", ws.mgmtURL("Microsoft.OperationalInsights/clusters/cl01"), mgmt,
		map[string]any{"location": "local", "identity": map[string]string{"type": "SystemAssigned"}, "sku": map[string]any{"name": "CapacityReservation", "capacity": 100}}, &cluster); st != 201 {
		t.Fatalf("create cluster: %d %v", st, cluster)
	}
	var policies []map[string]any
	for _, oid := range []string{cluster["identity"].(map[string]any)["principalId"].(string), ws.node.DocumentStorePrincipalID()} {
		policies = append(policies, map[string]any{"tenantId": ws.creds.TenantID, "objectId": oid, "permissions": map[string]any{"keys": []string{"get", "wrapKey", "unwrapKey"}}})
	}
	if st := cv.call("PUT", cv.mgmtURL("Microsoft.KeyVault/vaults/keys1/accessPolicies/add"), cv.adminToken("https://management.azure.com/.default"),
		map[string]any{"properties": map[string]any{"accessPolicies": policies}}, nil); st != 200 {
		t.Fatalf("grant: %d", st)
	}
	var out map[string]any
	if st := ws.call("PATCH", ws.mgmtURL("Microsoft.OperationalInsights/clusters/cl01"), mgmt, map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
		"keyVaultUri": cv.vaultURL("keys1") + "/", "keyName": "k1"}}}, &out); st != 200 || out["properties"].(map[string]any)["keyState"] != "Accessible" {
		t.Fatalf("set the key: %d %v", st, out)
	}
}
