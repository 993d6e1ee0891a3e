package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/sealwatch/sealwatch/internal/freeport"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// running is a node serving on 127.0.0.1 in a temporary directory, and an
// HTTP client that trusts its CA and dials every host name at it.
type running struct {
	t      testing.TB
	node   *Node
	dir    string
	creds  Credentials
	client *http.Client
	port   string
	stop   func()
	// crash stops the node serving without closing it, as a killed
	// process leaves its data directory: write-ahead logs unsealed.
	crash func()
}

func startNode(t testing.TB, dir string) *running {
	t.Helper()
	return startNodeWith(t, Config{DataDir: dir})
}

// startNodeWith starts a node with cfg, on a port from freeport unless cfg
// names an address (a restart on the port it had): a port outside the
// kernel's ephemeral range stays free for the restart.
func startNodeWith(t testing.TB, cfg Config) *running {
	t.Helper()
	if cfg.Addr == "" {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return serveNode(t, cfg, Credentials{})
}

// serveNode opens a node with cfg and serves it until the test ends. Its
// admin's credentials are those of the admin.json it keeps in its data
// directory, or creds for a node of a cluster whose admin another node
// made.
func serveNode(t testing.TB, cfg Config, creds Credentials) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Open(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	stopped := false
	halt := func() bool { // once: a test may stop the node before its cleanup does
		if stopped {
			return false
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		return true
	}
	stop := func() {
		if halt() {
			if err := n.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	if n.FirstRun() || creds == (Credentials{}) {
		raw, err := os.ReadFile(n.CredentialsFile())
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &creds); err != nil {
			t.Fatal(err)
		}
	}
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	addr := n.listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &running{t: t, node: n, dir: cfg.DataDir, creds: creds, client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		port: port, stop: stop, crash: func() { halt() }}
}

// credential is the official client-secret credential pointed at the node.
func (rn *running) credential(clientID, secret string) azcore.TokenCredential {
	rn.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(rn.creds.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: rn.creds.Endpoint + "/"},
			Transport: rn.client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		rn.t.Fatal(err)
	}
	return cred
}

func (rn *running) token(clientID, secret, scope string) string {
	rn.t.Helper()
	tok, err := rn.credential(clientID, secret).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		rn.t.Fatal(err)
	}
	return tok.Token
}

func (rn *running) adminToken(scope string) string {
	return rn.token(rn.creds.ClientID, rn.creds.ClientSecret, scope)
}

// call sends a JSON request and decodes the JSON answer into out.
func (rn *running) call(method, url, token string, in, out any) int {
	rn.t.Helper()
	var body io.Reader
	if in != nil {
		buf, _ := json.Marshal(in)
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		rn.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := rn.client.Do(req)
	if err != nil {
		rn.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			rn.t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

func (rn *running) vaultResource(name string) string {
	return fmt.Sprintf("%s/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/%s?api-version=2023-07-01", rn.creds.Endpoint, rn.creds.TenantID, name)
}

func (rn *running) vaultURL(name string) string {
	return fmt.Sprintf("https://%s.%s:%s", name, rn.creds.VaultDNSSuffix, rn.port)
}

// createVault creates a vault with purge protection and grants each object ID
// the given key permissions.
func (rn *running) createVault(name string, grants map[string][]string) {
	rn.t.Helper()
	mgmt := rn.adminToken("https://management.azure.com/.default")
	var policies []map[string]any
	for oid, perms := range grants {
		policies = append(policies, map[string]any{"tenantId": rn.creds.TenantID, "objectId": oid, "permissions": map[string]any{"keys": perms}})
	}
	body := map[string]any{"location": "local", "properties": map[string]any{
		"tenantId": rn.creds.TenantID, "sku": map[string]string{"family": "A", "name": "standard"},
		"accessPolicies": policies, "enableSoftDelete": true, "softDeleteRetentionInDays": 7, "enablePurgeProtection": true,
	}}
	var out map[string]any
	if st := rn.call("PUT", rn.vaultResource(name), mgmt, body, &out); st != 201 && st != 200 {
		rn.t.Fatalf("create vault: %d %v", st, out)
	}
}

func (rn *running) objectIDOf(clientID string) string {
	rn.t.Helper()
	var app struct{ ID string }
	if st := rn.call("GET", rn.creds.Endpoint+"/v1.0/applications/"+clientID, rn.adminToken("https://management.azure.com/.default"), nil, &app); st != 200 {
		rn.t.Fatalf("get application: %d", st)
	}
	return app.ID
}

func TestFirstRunCreatesCredentialsAndLaterRunsReuseThem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	rn := startNode(t, dir)
	if !rn.node.FirstRun() {
		t.Fatal("first run not reported")
	}
	info, err := os.Stat(filepath.Join(dir, "admin.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("admin.json: %v %v", err, info)
	}
	for _, f := range []string{"tls/ca.pem", "vault/root.key.sealed", "vault/vault.db", "identity.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", info.Mode().Perm())
	}
	first := rn.creds
	rn.createVault("reused", map[string][]string{rn.objectIDOf(first.ClientID): {"all"}})
	ca1, _ := os.ReadFile(first.CAFile)

	rn.stop()

	again := startNode(t, dir)
	if again.node.FirstRun() {
		t.Fatal("second run believes it is the first")
	}
	if again.creds.ClientSecret != first.ClientSecret || again.creds.TenantID != first.TenantID {
		t.Fatal("second run replaced the admin credentials")
	}
	ca2, _ := os.ReadFile(again.creds.CAFile)
	if !bytes.Equal(ca1, ca2) {
		t.Fatal("second run made a new CA")
	}
	var v map[string]any
	if st := again.call("GET", again.vaultResource("reused"), again.adminToken("https://management.azure.com/.default"), nil, &v); st != 200 {
		t.Fatalf("vault from the first run: %d %v", st, v)
	}
}

func TestVaultRootKeyFromPassphrase(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func(pass string) (*Node, error) {
		return Open(ctx, Config{DataDir: dir, Addr: "127.0.0.1:0", VaultPassphrase: []byte(pass)})
	}
	n, err := open("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault", "root.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a root key file was written although a passphrase was given: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault", "root.params")); err != nil {
		t.Fatalf("passphrase parameters: %v", err)
	}
	n, err = open("correct horse battery staple")
	if err != nil {
		t.Fatalf("same passphrase again: %v", err)
	}
	n.Close()
	_, err = open("wrong passphrase")
	if !errors.Is(err, rootkey.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
}
