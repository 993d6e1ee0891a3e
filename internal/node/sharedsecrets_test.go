package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// clusterPublicURL is what the nodes of these tests are reached at, as a
// load balancer's address would be: no node listens on it.
const clusterPublicURL = "https://sealwatch.localhost:8443"

// sharedStorage is the four databases of one PostgreSQL database, on
// connections of their own, as one node holds them.
func sharedStorage(t testing.TB, url string) *Storage {
	t.Helper()
	dbs := pgkvtest.OpenAll(t, url, "identity", "vault", "control", "documents")
	return &Storage{Identity: dbs[0], Vault: dbs[1], Control: dbs[2], Documents: dbs[3]}
}

// startClusterNode starts a node on shared storage and returns it with a
// client that trusts caFile and dials every host at the node.
func startClusterNode(t testing.TB, cfg Config, creds Credentials) *running {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.PublicURL = clusterPublicURL
	return serveNode(t, cfg, creds)
}

// TestTwoNodesOnSharedStorageShareTheirSecrets starts two nodes, each with
// a data directory and a port of its own, on one PostgreSQL database and one
// root of trust (the development default's file, copied): what one issues
// or seals, the other accepts or opens, one CA file verifies both, one
// admin application exists, a node with another root is refused, and no
// secret is in the clear in either data directory or the database.
func TestTwoNodesOnSharedStorageShareTheirSecrets(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startClusterNode(t, Config{DataDir: dirA, Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, Credentials{})
	if !a.node.FirstRun() {
		t.Fatal("the first node did not make the admin application")
	}
	b := startClusterNode(t, Config{DataDir: dirB, Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, a.creds)
	if b.node.FirstRun() {
		t.Fatal("the second node made another admin application")
	}
	if where := b.node.AdminCredentialsElsewhere(); !strings.Contains(where, a.node.CredentialsFile()) {
		t.Fatalf("the second node says the admin's credentials are at %q, not %s", where, a.node.CredentialsFile())
	}
	if _, err := os.Stat(b.node.CredentialsFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the second node wrote an admin.json (%v)", err)
	}
	if a.creds.Endpoint != clusterPublicURL {
		t.Fatalf("admin.json names %s, not the public URL", a.creds.Endpoint)
	}

	t.Run("one CA file verifies both nodes", func(t *testing.T) {
		if !bytes.Equal(readFile(t, a.node.CAFile()), readFile(t, b.node.CAFile())) {
			t.Fatal("the nodes' ca.pem differ")
		}
		// b's client trusts a's CA file: every call to b below verifies b's
		// certificate with it.
	})

	mgmt := a.adminToken("https://management.azure.com/.default")
	t.Run("a token from one node works on the other", func(t *testing.T) {
		requireOneAdmin(t, b, mgmt)
	})

	t.Run("a vault key made on one node wraps on the other", func(t *testing.T) {
		a.createVault("shared", map[string][]string{a.objectIDOf(a.creds.ClientID): {"all"}})
		vtok := b.adminToken("https://vault.azure.net/.default") // issued by B, used on A and B
		var made struct{ Key struct{ Kid string } }
		if st := a.call("POST", a.vaultURL("shared")+"/keys/k1/create?api-version=7.6", vtok, map[string]any{"kty": "RSA", "key_size": 2048}, &made); st != 200 {
			t.Fatalf("create key on A: %d", st)
		}
		var got struct{ Key struct{ Kid string } }
		if st := b.call("GET", b.vaultURL("shared")+"/keys/k1?api-version=7.6", vtok, nil, &got); st != 200 || got.Key.Kid != made.Key.Kid {
			t.Fatalf("B names the key %q (%d); A named it %q", got.Key.Kid, st, made.Key.Kid)
		}
		if !strings.HasPrefix(made.Key.Kid, "https://shared.vault.localhost:8443/keys/k1/") {
			t.Fatalf("the key ID %s does not name the public URL's port", made.Key.Kid)
		}
		aek := bytes.Repeat([]byte{7}, 32)
		var w struct{ Kid, Value string }
		if st := b.call("POST", b.vaultURL("shared")+"/keys/k1/wrapkey?api-version=7.6", vtok, map[string]string{"alg": "RSA-OAEP-256", "value": b64u(aek)}, &w); st != 200 {
			t.Fatalf("wrap on B: %d", st)
		}
		var u struct{ Value string }
		if st := a.call("POST", a.vaultURL("shared")+"/keys/k1/unwrapkey?api-version=7.6", vtok, map[string]string{"alg": "RSA-OAEP-256", "value": w.Value}, &u); st != 200 || u.Value != b64u(aek) {
			t.Fatalf("unwrap on A of what B wrapped: %d", st)
		}
	})

	t.Run("a node with another root of trust is refused", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.key")
		_, err := Open(ctx, Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", PublicURL: clusterPublicURL,
			Root: nodeseal.File(other), Storage: sharedStorage(t, dbURL)})
		if !errors.Is(err, nodeseal.ErrWrongRoot) || !strings.Contains(err.Error(), "same root key file") {
			t.Fatalf("a node with another root key file: %v", err)
		}
	})

	t.Run("no secret is in the clear on disk or in the database", func(t *testing.T) {
		secrets := sharedSecretMaterial(t, dirA, dbURL, nodeseal.File(rootFile))
		secrets = append(secrets, []byte("PRIVATE KEY"))
		for _, dir := range []string{dirA, dirB} {
			// admin.json holds the admin's own credentials, by design.
			requireNoneUnder(t, dir, secretNeedles(secrets), 0, "admin.json")
		}
		// pg_dump writes bytea in hex.
		dump := pgtest.Dump(t, dbURL)
		for _, form := range holding(dump, withLeakForms(secretNeedles(secrets))) {
			t.Errorf("the database holds %s", form)
		}
		if !bytes.Contains(dump, []byte(hex.EncodeToString([]byte("node.secrets")))) {
			t.Fatal("the dump holds no node.secrets: is it the nodes' database?")
		}
	})
}

// sharedSecretMaterial opens the cluster's secrets in the database as a
// node does and returns every form of them a leak could take.
func sharedSecretMaterial(t *testing.T, dir, dbURL string, root nodeseal.Root) [][]byte {
	t.Helper()
	ctx := context.Background()
	box, err := nodeseal.OpenShared(ctx, dir, sharedStorage(t, dbURL).Identity, root)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var out [][]byte
	for _, name := range []string{"identity-signing-key.pem", "tls/ca", "workspace/secrets.key", "workspace/platform/platform.key", "vault/root.key"} {
		raw, err := box.LoadOrCreate(ctx, name, func() ([]byte, error) { return nil, errors.New("missing") })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, keyMaterial(t, name, raw)...)
	}
	return out
}

// requireOneAdmin lists the applications through rn with token and fails
// unless rn answers and exactly one of them is the admin.
func requireOneAdmin(t *testing.T, rn *running, token string) {
	t.Helper()
	var apps struct {
		Value []struct{ DisplayName string }
	}
	if st := rn.call("GET", clusterPublicURL+"/v1.0/applications", token, nil, &apps); st != 200 {
		t.Fatalf("the node answered %d to a list of the applications with the token", st)
	}
	admins := 0
	for _, app := range apps.Value {
		if app.DisplayName == "sealwatch-admin" {
			admins++
		}
	}
	if admins != 1 {
		t.Fatalf("%d admin applications; want one", admins)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestNodesStartingAtOnceAgreeOnTheirBootstrap opens three nodes at once on
// one empty database: they make one master key, one signing key, one admin
// application (one node writes admin.json), one document-store principal
// and one key events secret between them.
func TestNodesStartingAtOnceAgreeOnTheirBootstrap(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	root := nodeseal.Passphrase([]byte("correct horse battery staple"))
	const count = 3
	nodes := make([]*Node, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		cfg := Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", PublicURL: clusterPublicURL, Root: root, Storage: sharedStorage(t, dbURL)}
		wg.Go(func() { nodes[i], errs[i] = Open(ctx, cfg) })
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			t.Cleanup(func() { n.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
	}
	writers := 0
	for i, n := range nodes {
		if n.FirstRun() {
			writers++
		} else if n.AdminCredentialsElsewhere() == "" {
			t.Errorf("node %d neither wrote admin.json nor says where it is", i)
		}
		if !reflect.DeepEqual(n.identity.JWKS(), nodes[0].identity.JWKS()) {
			t.Errorf("node %d publishes other signing keys than node 0", i)
		}
		if n.DocumentStorePrincipalID() != nodes[0].DocumentStorePrincipalID() {
			t.Errorf("node %d has another document-store principal than node 0", i)
		}
		if !bytes.Equal(n.keyEvents.secret, nodes[0].keyEvents.secret) {
			t.Errorf("node %d has another key events secret than node 0", i)
		}
	}
	if writers != 1 {
		t.Fatalf("%d nodes wrote admin.json; want one", writers)
	}
	all, err := nodes[0].identity.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for _, p := range all {
		byName[p.DisplayName]++
	}
	if byName["sealwatch-admin"] != 1 || byName["sealwatch-document-store"] != 1 {
		t.Fatalf("principals by name: %v; want one admin and one document-store principal", byName)
	}
}
