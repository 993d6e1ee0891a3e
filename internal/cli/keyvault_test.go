package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/pki"
)

// TestCustomerManagedKeyWalkthrough runs the README's walkthrough: a vault
// with purge protection, a key, a policy for an application, rotation,
// revocation by removing the policy, and the audit log that shows it all.
func TestCustomerManagedKeyWalkthrough(t *testing.T) {
	n := startNode(t)
	n.login()
	ctx := context.Background()
	app := decode[application](t, n.must("identity", "app", "create", "--name", "cluster", "-o", "json"))

	v := decode[vaultResource](t, n.must("keyvault", "create", "--name", "cmk1", "-g", "rg1", "--enable-purge-protection", "-o", "json"))
	if !v.Properties.EnablePurgeProtection || !v.Properties.EnableSoftDelete || v.Properties.SoftDeleteRetentionInDays != 90 {
		t.Errorf("vault properties = %+v", v.Properties)
	}
	if len(v.Properties.AccessPolicies) != 1 || !slices.Contains(v.Properties.AccessPolicies[0].Permissions.Keys, "unwrapKey") {
		t.Errorf("the creator was not granted every key permission: %+v", v.Properties.AccessPolicies)
	}
	if out := n.must("keyvault", "list"); !strings.Contains(out, "cmk1") || !strings.Contains(out, "rg1") {
		t.Errorf("list:\n%s", out)
	}
	// Without -g, the resource group is found by listing.
	if out := n.must("keyvault", "show", "--name", "cmk1"); !strings.Contains(out, "Access policies:") || !strings.Contains(out, "wrapKey") {
		t.Errorf("show:\n%s", out)
	}

	out := n.must("keyvault", "key", "create", "--vault-name", "cmk1", "--name", "k1", "--size", "3072", "--ops", "wrapKey", "unwrapKey")
	if !strings.Contains(out, "k1") || !strings.Contains(out, "RSA") || !strings.HasPrefix(out, "NAME") {
		t.Errorf("key create:\n%s", out)
	}
	first := decode[keyBundle](t, n.must("keyvault", "key", "show", "--vault-name", "cmk1", "--name", "k1", "-o", "json"))
	_, v1 := kidParts(first.Key.KID)
	if v1 == "" || !slices.Equal(first.Key.KeyOps, []string{"wrapKey", "unwrapKey"}) {
		t.Fatalf("key show = %+v", first)
	}

	out = n.must("keyvault", "set-policy", "--name", "cmk1", "--object-id", app.ID, "--key-permissions", "get", "wrapKey", "unwrapKey")
	if !strings.Contains(out, app.ID) || !strings.Contains(out, "get wrapKey unwrapKey") {
		t.Errorf("set-policy:\n%s", out)
	}
	cluster := n.clientFor(app.AppID, app.ClientSecret)
	keyURL := cluster.VaultURL("cmk1") + "/keys/k1?api-version=7.6"
	if err := cluster.Do(ctx, http.MethodGet, keyURL, client.AudienceVault, nil, nil); err != nil {
		t.Fatalf("the granted application cannot get the key: %v", err)
	}

	rotated := decode[keyBundle](t, n.must("keyvault", "key", "rotate", "--vault-name", "cmk1", "--name", "k1", "-o", "json"))
	if _, v2 := kidParts(rotated.Key.KID); v2 == v1 || v2 == "" {
		t.Fatalf("rotate returned version %q after %q", v2, v1)
	}
	versions := decode[[]keyItem](t, n.must("keyvault", "key", "list-versions", "--vault-name", "cmk1", "--name", "k1", "-o", "json"))
	if len(versions) != 2 {
		t.Fatalf("list-versions: %d versions, want 2", len(versions))
	}
	if out := n.must("keyvault", "key", "list-versions", "--vault-name", "cmk1", "--name", "k1"); !strings.Contains(out, v1) {
		t.Errorf("list-versions table does not name version %s:\n%s", v1, out)
	}

	out = n.must("keyvault", "key", "set-attributes", "--vault-name", "cmk1", "--name", "k1", "--version", v1, "--enabled=false", "--tags", "team=sec", "env=prod")
	if !strings.Contains(out, v1) || !strings.Contains(out, " no ") {
		t.Errorf("set-attributes --enabled=false:\n%s", out)
	}
	old := decode[keyBundle](t, n.must("keyvault", "key", "show", "--vault-name", "cmk1", "--name", "k1", "--version", v1, "-o", "json"))
	if old.Attributes.Enabled == nil || *old.Attributes.Enabled || old.Tags["team"] != "sec" || old.Tags["env"] != "prod" {
		t.Errorf("version %s after set-attributes: %+v", v1, old)
	}

	n.must("keyvault", "key", "rotation-policy", "set", "--vault-name", "cmk1", "--name", "k1", "--rotate-after", "P90D", "--expires-after", "P1Y")
	if out := n.must("keyvault", "key", "rotation-policy", "show", "--vault-name", "cmk1", "--name", "k1"); !strings.Contains(out, "P90D after creation") || !strings.Contains(out, "P1Y") {
		t.Errorf("rotation-policy show:\n%s", out)
	}

	// Revocation: removing the policy refuses the application's next call.
	if out := n.must("keyvault", "delete-policy", "--name", "cmk1", "--object-id", app.ID); strings.Contains(out, app.ID) {
		t.Errorf("delete-policy left the policy:\n%s", out)
	}
	var apiErr *client.APIError
	if err := cluster.Do(ctx, http.MethodGet, keyURL, client.AudienceVault, nil, nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("after delete-policy the application got %v, want 403", err)
	}
	if r := n.run("keyvault", "delete-policy", "--name", "cmk1", "--object-id", app.ID); r.code != exitError || !strings.Contains(r.stderr, "has no access policy") {
		t.Errorf("removing a missing policy: exit %d, %s", r.code, r.stderr)
	}

	out = n.must("keyvault", "audit", "--name", "cmk1", "--key", "k1", "--since", "1h")
	for _, want := range []string{"KeyCreate", "KeyRotate", "KeyUpdate", v1, app.ID, "Forbidden", "audit chain verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit does not show %q:\n%s", want, out)
		}
	}
	audit := decode[struct {
		Value         []auditRecord `json:"value"`
		ChainVerified bool          `json:"chainVerified"`
	}](t, n.must("keyvault", "audit", "--name", "cmk1", "-o", "json"))
	if !audit.ChainVerified || len(audit.Value) == 0 {
		t.Errorf("audit json: verified=%v, %d records", audit.ChainVerified, len(audit.Value))
	}
}

func TestKeyImportDeleteRecoverPurge(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("keyvault", "create", "--name", "imp", "-g", "rg", "--enable-purge-protection")
	dir := t.TempDir()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	imported := decode[keyBundle](t, n.must("keyvault", "key", "import", "--vault-name", "imp", "--name", "byok", "--pem-file", pemFile, "--ops", "wrapKey,unwrapKey", "-o", "json"))
	if imported.Key.Kty != "RSA" {
		t.Errorf("imported kty = %q", imported.Key.Kty)
	}
	var pub struct {
		Key struct{ N string } `json:"key"`
	}
	raw := n.must("keyvault", "key", "show", "--vault-name", "imp", "--name", "byok", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &pub); err != nil || pub.Key.N != b64(rsaKey.N.Bytes()) {
		t.Errorf("the vault's public modulus is not the imported key's")
	}
	if strings.Contains(raw, `"d"`) {
		t.Error("show returned private key material")
	}

	octFile := filepath.Join(dir, "aes.bin")
	if err := os.WriteFile(octFile, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := n.must("keyvault", "key", "import", "--vault-name", "imp", "--name", "aes", "--oct-file", octFile); !strings.Contains(out, "oct") {
		t.Errorf("oct import:\n%s", out)
	}
	short := filepath.Join(dir, "short.bin")
	if err := os.WriteFile(short, make([]byte, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := n.run("keyvault", "key", "import", "--vault-name", "imp", "--name", "aes2", "--oct-file", short); r.code != exitError || !strings.Contains(r.stderr, "exactly 32 raw bytes") {
		t.Errorf("a 16-byte oct key: exit %d, %s", r.code, r.stderr)
	}

	if out := n.must("keyvault", "key", "list", "--vault-name", "imp"); !strings.Contains(out, "byok") || !strings.Contains(out, "aes") {
		t.Errorf("key list:\n%s", out)
	}
	if out := n.must("keyvault", "key", "delete", "--vault-name", "imp", "--name", "aes"); !strings.Contains(out, "can be recovered until") {
		t.Errorf("key delete:\n%s", out)
	}
	if out := n.must("keyvault", "key", "list-deleted", "--vault-name", "imp"); !strings.Contains(out, "aes") {
		t.Errorf("list-deleted:\n%s", out)
	}
	r := n.run("keyvault", "key", "purge", "--vault-name", "imp", "--name", "aes")
	if r.code != exitError || !strings.Contains(r.stderr, "error: purge key aes") {
		t.Errorf("purge under purge protection: exit %d, %s", r.code, r.stderr)
	}
	n.must("keyvault", "key", "recover", "--vault-name", "imp", "--name", "aes")
	if out := n.must("keyvault", "key", "show", "--vault-name", "imp", "--name", "aes"); !strings.Contains(out, "oct") {
		t.Errorf("show after recover:\n%s", out)
	}

	if r := n.run("keyvault", "key", "show", "--vault-name", "imp", "--name", "nope"); r.code != exitError || !strings.Contains(r.stderr, "HTTP 404") {
		t.Errorf("a missing key: exit %d, %s", r.code, r.stderr)
	}
	if r := n.run("keyvault", "show", "--name", "nope"); r.code != exitError || !strings.Contains(r.stderr, `no vault named "nope"`) {
		t.Errorf("a missing vault: exit %d, %s", r.code, r.stderr)
	}
	if out := n.must("keyvault", "delete", "--name", "imp"); !strings.Contains(out, "recoverable for 90 days") {
		t.Errorf("keyvault delete:\n%s", out)
	}
}

// TestBrokenAuditChainFailsLoudly runs `keyvault audit` against a stand-in
// node that reports a broken chain, since a real one would have to be
// tampered with on disk while it runs.
func TestBrokenAuditChainFailsLoudly(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"x.e30.y"}`)
	})
	mux.HandleFunc("GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}/auditRecords", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"value":[{"seq":1,"time":"2026-01-02T03:04:05Z","operation":"KeyCreate","keyName":"k1","httpStatus":200}],`+
			`"chainVerified":false,"chainError":"audit record 1: MAC mismatch"}`)
	})
	srv := httptest.NewUnstartedServer(mux)
	bundle, err := pki.Ensure(t.TempDir(), []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = bundle.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	creds := filepath.Join(t.TempDir(), "creds.json")
	buf, _ := json.Marshal(client.Credentials{TenantID: "t", ClientID: "c", ClientSecret: "s", Endpoint: srv.URL, CAFile: bundle.CAFile})
	if err := os.WriteFile(creds, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, t.TempDir(), "keyvault", "audit", "--name", "v1", "-g", "rg", "--credentials", creds)
	if r.code != exitError {
		t.Errorf("exit %d with a broken chain, want %d", r.code, exitError)
	}
	if !strings.Contains(r.stdout, "KeyCreate") {
		t.Errorf("the records were not printed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "AUDIT CHAIN OF VAULT V1 DOES NOT VERIFY") || !strings.Contains(r.stderr, "MAC mismatch") {
		t.Errorf("stderr does not say so loudly:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "verified") {
		t.Errorf("stdout claims the chain verified:\n%s", r.stdout)
	}
}
