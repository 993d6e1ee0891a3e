package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeyInAnotherTenantsVaultAsAnApplication keeps a cluster's key in a
// Sealwatch vault of another node and tenant, used as an application
// registered in that tenant with a client secret — no trusted issuer on
// either side. The wrong secret is refused by name; the right one puts the
// key in force for ingest and query, across a restart; the vault's owner
// disabling the key revokes it, enabling restores it; and the secret is never
// shown, nor found in the node's data directory.
func TestKeyInAnotherTenantsVaultAsAnApplication(t *testing.T) {
	cv := startNodeWith(t, Config{DataDir: t.TempDir(), Services: ServeVault})
	cfg := Config{DataDir: t.TempDir(), KeyVaultCAFiles: []string{cv.creds.CAFile}}
	cs := setUpCMKWith(t, cfg)
	if cv.creds.TenantID == cs.creds.TenantID {
		t.Fatal("the vault's node shares the workspace node's tenant")
	}

	// The vault's owner registers an application in their tenant and grants
	// it the key's use.
	app, secret, err := cv.node.identity.CreateApplication(context.Background(), "sealwatch-cluster1")
	if err != nil {
		t.Fatal(err)
	}
	cv.createVault("remotevault", map[string][]string{cv.objectIDOf(cv.creds.ClientID): {"all"}, app.ObjectID: {"get", "wrapKey", "unwrapKey"}})
	cvt := cv.adminToken("https://vault.azure.net/.default")
	keyURL := cv.vaultURL("remotevault") + "/keys/remote-cmk"
	var key struct{ Key struct{ KID string } }
	if st := cv.call("POST", keyURL+"/create?api-version=7.6", cvt, map[string]any{"kty": "RSA", "key_size": 2048}, &key); st != 200 {
		t.Fatalf("create key: %d", st)
	}
	version := key.Key.KID[strings.LastIndexByte(key.Key.KID, '/')+1:]

	immutableID, tok := cs.dcr()
	send := func(msg string) (int, string) {
		return cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": msg}})
	}
	if st, code := send("under the node's vault"); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}

	clusterURL := cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1")
	body := func(clientSecret string) map[string]any {
		return map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
			"keyVaultUri": cv.vaultURL("remotevault") + "/", "keyName": "remote-cmk",
			"keyVaultTenantId": cv.creds.TenantID, "keyVaultClientId": app.AppID, "keyVaultClientSecret": clientSecret,
			"keyVaultAuthorityHost": cv.creds.Endpoint}}}
	}
	const wrong = "not-the-application-secret-4711"
	var er struct {
		Error struct{ Code, Message string }
	}
	st := cs.call("PATCH", clusterURL, cs.mgmt, body(wrong), &er)
	if st != 400 || !strings.Contains(er.Error.Message, app.AppID) || !strings.Contains(er.Error.Message, "invalid_client") ||
		strings.Contains(er.Error.Message, wrong) {
		t.Fatalf("the wrong secret: %d %+v, want 400 naming the application and invalid_client, without the secret", st, er)
	}

	var cluster struct {
		Properties struct {
			KeyVaultProperties map[string]string
			KeyState           string
		}
	}
	if st := cs.call("PATCH", clusterURL, cs.mgmt, body(secret), &cluster); st != 200 {
		t.Fatalf("the key as the application: %d", st)
	}
	if got := cluster.Properties.KeyVaultProperties; got["keyVaultClientId"] != app.AppID || got["keyVaultClientSecret"] != "" {
		t.Fatalf("the cluster shows %v: want the application and no secret", got)
	}
	for _, u := range cs.keyUsage() {
		if u.InUse && !strings.HasPrefix(u.KeyURI, keyURL+"/") {
			t.Fatalf("after the replacement an account key is wrapped by %+v", u)
		}
	}
	if st, code := send("under the other tenant's vault"); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	if st, rows := cs.countEvents(); st != 200 || !strings.Contains(rows, "under the other tenant's vault") || !strings.Contains(rows, "under the node's vault") {
		t.Fatalf("query: %d %s", st, rows)
	}

	// Restarted, the node opens the key with the sealed secret.
	cs.stop()
	cfg.Addr = "127.0.0.1:" + cs.port
	cs.running = startNodeWith(t, cfg)
	cs.mgmt = cs.adminToken("https://management.azure.com/.default")
	// The stored cluster keys are reopened in the background.
	for deadline := time.Now().Add(20 * time.Second); cs.keyState() != "Accessible"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("key state after the restart: %q", cs.keyState())
		}
	}

	setEnabled := func(enabled bool) {
		t.Helper()
		if st := cv.call("PATCH", keyURL+"/"+version+"?api-version=7.6", cvt, map[string]any{"attributes": map[string]any{"enabled": enabled}}, nil); st != 200 {
			t.Fatalf("set the key's enabled to %v: %d", enabled, st)
		}
		cs.probe()
	}
	setEnabled(false)
	if got := cs.keyState(); got != "Revoked" {
		t.Fatalf("after the vault's owner disabled the key: %q", got)
	}
	if st, code := send("while disabled"); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest while disabled: %d %s", st, code)
	}
	setEnabled(true)
	if got := cs.keyState(); got != "Accessible" {
		t.Fatalf("after enabling: %q", got)
	}
	if st, code := send("after enabling"); st != 204 {
		t.Fatalf("ingest after enabling: %d %s", st, code)
	}

	// The secret is never shown, nor kept anywhere in the clear.
	var raw map[string]any
	if st := cs.call("GET", clusterURL, cs.mgmt, nil, &raw); st != 200 {
		t.Fatalf("get: %d", st)
	}
	if shown, _ := json.Marshal(raw); bytes.Contains(shown, []byte(secret)) {
		t.Fatal("GET shows the application's secret")
	}
	cs.stop()
	err = filepath.WalkDir(cs.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range []string{secret, wrong} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a client secret in the clear", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
