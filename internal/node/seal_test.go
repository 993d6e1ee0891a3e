package node

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
)

// nodeSecrets are the files of the node's own secrets, as the node opens them.
var nodeSecrets = []string{
	"identity-signing-key.pem", "tls/ca-key.pem", "tls/server-key.pem",
	"workspace/secrets.key", "workspace/platform/platform.key", "vault/root.key",
}

// secretMaterial opens the node's secrets under root and returns every form
// of them a leak could take: the bytes as the node holds them and, for a
// private key, its DER and its scalar.
func secretMaterial(t *testing.T, dir string, root nodeseal.Root) [][]byte {
	t.Helper()
	box, err := nodeseal.Open(context.Background(), dir, root)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var out [][]byte
	for _, name := range nodeSecrets {
		raw, err := box.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, keyMaterial(t, name, raw)...)
	}
	return out
}

// scanDataDir fails the test when a file of the data directory dir holds
// one of needles, naming the file and which needle.
func scanDataDir(t *testing.T, dir string, needles [][]byte) {
	t.Helper()
	requireNoneUnder(t, dir, secretNeedles(needles), 10)
}

// TestNodeSecretsAreSealedUnderAnHSMRoot starts a node whose root of trust
// is an AES key on a SoftHSM2 token, gives a cluster a key on a token (its
// PIN the canary a stored driver credential is), stops the node, and scans
// every file of the data directory for the PEM marker, the raw bytes of
// each node secret, and the PIN. The node then starts again with the root.
func TestNodeSecretsAreSealedUnderAnHSMRoot(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-root")
	tok.AddProtectedKey("node-root", []byte{1})
	tok.AddProtectedKey("sealwatch-cmk", []byte{1})
	hsm, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: "node-root", PIN: []byte(tok.PIN)})
	if err != nil {
		t.Fatal(err)
	}
	root := nodeseal.KEK(nodeseal.SourcePKCS11, hsm)
	dir := t.TempDir()
	cs := setUpCMKWith(t, Config{DataDir: dir, Root: root, PKCS11Modules: []string{tok.Module}})
	if st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, pkcs11KeyBody(tok, nil), nil); st != 200 {
		t.Fatalf("move the cluster to a PKCS#11 key: %d", st)
	}
	cs.stop()

	for _, name := range nodeSecrets {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is on disk in the clear: %v", name, err)
		}
	}
	needles := append(secretMaterial(t, dir, root), []byte("PRIVATE KEY"), []byte(tok.PIN))
	scanDataDir(t, dir, needles)

	again := startNodeWith(t, Config{DataDir: dir, Root: root, PKCS11Modules: []string{tok.Module}})
	if again.creds.ClientSecret != cs.creds.ClientSecret {
		t.Fatal("the restarted node made a new admin")
	}
}

// TestNodeRefusesToStartWhenItsSecretsCannotBeUnsealed starts a node, then
// starts it again with a wrong, revoked or unreachable root, or with a
// sealed secret altered: each start is refused with a typed error saying
// what to do, which holds no passphrase, and leaves no secret in the clear.
func TestNodeRefusesToStartWhenItsSecretsCannotBeUnsealed(t *testing.T) {
	ctx := context.Background()
	const passphrase = "correct horse battery staple"
	kek := kektest.New("node-root")
	for _, tc := range []struct {
		name     string
		sealedBy nodeseal.Root
		startBy  nodeseal.Root
		tamper   func(t *testing.T, dir string)
		want     error
		says     string
	}{
		{name: "a wrong passphrase", sealedBy: nodeseal.Passphrase([]byte(passphrase)), startBy: nodeseal.Passphrase([]byte("wrong " + passphrase)),
			want: nodeseal.ErrWrongRoot, says: "not the one"},
		{name: "another source than the one sealing it", sealedBy: nodeseal.Passphrase([]byte(passphrase)), startBy: nodeseal.File(""),
			want: nodeseal.ErrWrongRoot, says: "--root-of-trust passphrase"},
		{name: "a revoked root key", sealedBy: nodeseal.KEK(nodeseal.SourceAWSKMS, kek), startBy: nodeseal.KEK(nodeseal.SourceAWSKMS, kek),
			tamper: func(*testing.T, string) { kek.SetEnabled("", false) }, want: keyring.ErrKeyRevoked, says: "enable the key"},
		{name: "an unreachable root", sealedBy: nodeseal.KEK(nodeseal.SourceAWSKMS, kek), startBy: nodeseal.KEK(nodeseal.SourceAWSKMS, kek),
			tamper: func(*testing.T, string) { kek.SetEnabled("", true); kek.SetUnreachable(true) }, want: keyring.ErrKeyUnreachable, says: "starts once it answers"},
		{name: "an altered sealed signing key", sealedBy: nodeseal.File(""), startBy: nodeseal.File(""),
			tamper: func(t *testing.T, dir string) { flipLastByte(t, filepath.Join(dir, "identity-signing-key.pem.sealed")) },
			want:   nodeseal.ErrIntegrity, says: "restore it from a backup"},
		{name: "an altered sealed CA key", sealedBy: nodeseal.File(""), startBy: nodeseal.File(""),
			tamper: func(t *testing.T, dir string) { flipLastByte(t, filepath.Join(dir, "tls", "ca-key.pem.sealed")) },
			want:   nodeseal.ErrIntegrity, says: "restore it from a backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kek.SetUnreachable(false)
			kek.SetEnabled("", true)
			dir := t.TempDir()
			n, err := Open(ctx, Config{DataDir: dir, Addr: "127.0.0.1:0", Root: tc.sealedBy})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(t, dir)
			}
			n, err = Open(ctx, Config{DataDir: dir, Addr: "127.0.0.1:0", Root: tc.startBy})
			if err == nil {
				n.Close()
				t.Fatal("the node started")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("start: %v; want %v saying %q", err, tc.want, tc.says)
			}
			if strings.Contains(err.Error(), "horse") {
				t.Fatalf("the refusal shows the passphrase: %v", err)
			}
			for _, name := range nodeSecrets {
				if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the refused start left %s in the clear: %v", name, err)
				}
			}
		})
	}
}

func flipLastByte(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// unseal turns a data directory back into the layout of a node from before
// sealing: each secret a plain 0600 file, no seal directory.
func unseal(t *testing.T, dir string, root nodeseal.Root) {
	t.Helper()
	box, err := nodeseal.Open(context.Background(), dir, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range nodeSecrets {
		path := filepath.Join(dir, name)
		raw, err := box.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path + ".sealed"); err != nil {
			t.Fatal(err)
		}
	}
	box.Close()
	if err := os.RemoveAll(filepath.Join(dir, "seal")); err != nil {
		t.Fatal(err)
	}
}

// TestPlainDataDirIsSealedOnFirstStartAndRekeyed starts a node on a data directory
// from before sealing (its secrets plain PEM and key files) under a
// passphrase:
// the node keeps its CA, its admin and its vault's keys, and no secret is
// left in the clear. Then a rekey to another passphrase, after which the
// old one is refused and the new one opens the node with all of it.
func TestPlainDataDirIsSealedOnFirstStartAndRekeyed(t *testing.T) {
	dir := t.TempDir()
	rn := startNode(t, dir)
	adminOID := rn.objectIDOf(rn.creds.ClientID)
	rn.createVault("kept", map[string][]string{adminOID: {"all"}})
	vtok := rn.adminToken("https://vault.azure.net/.default")
	if st := rn.call("POST", rn.vaultURL("kept")+"/keys/k1/create?api-version=7.6", vtok, map[string]any{"kty": "RSA", "key_size": 2048}, nil); st != 200 {
		t.Fatalf("create key: %d", st)
	}
	caPEM, err := os.ReadFile(rn.creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	rn.stop()
	secrets := secretMaterial(t, dir, nodeseal.File(""))
	unseal(t, dir, nodeseal.File(""))
	if _, err := os.Stat(filepath.Join(dir, "tls", "ca-key.pem")); err != nil {
		t.Fatalf("the plain layout: %v", err)
	}

	old := nodeseal.Passphrase([]byte("first passphrase"))
	migrated := startNodeWith(t, Config{DataDir: dir, Root: old})
	checkKept := func(rn *running) {
		t.Helper()
		if rn.creds.ClientSecret != migrated.creds.ClientSecret {
			t.Fatal("a new admin was made")
		}
		if got, _ := os.ReadFile(rn.creds.CAFile); !bytes.Equal(got, caPEM) {
			t.Fatal("a new CA was made")
		}
		vtok := rn.adminToken("https://vault.azure.net/.default")
		var key map[string]any
		if st := rn.call("GET", rn.vaultURL("kept")+"/keys/k1?api-version=7.6", vtok, nil, &key); st != 200 {
			t.Fatalf("the vault's key from before: %d %v", st, key)
		}
	}
	checkKept(migrated)
	migrated.stop()
	scanDataDir(t, dir, append(secrets, []byte("PRIVATE KEY")))

	next := nodeseal.Passphrase([]byte("second passphrase"))
	if err := nodeseal.Rekey(context.Background(), dir, old, next); err != nil {
		t.Fatal(err)
	}
	if n, err := Open(context.Background(), Config{DataDir: dir, Addr: "127.0.0.1:0", Root: old}); !errors.Is(err, nodeseal.ErrWrongRoot) {
		if err == nil {
			n.Close()
		}
		t.Fatalf("the old passphrase after the rekey: %v", err)
	}
	rekeyed := startNodeWith(t, Config{DataDir: dir, Root: next})
	checkKept(rekeyed)
	rekeyed.stop()
	scanDataDir(t, dir, append(secretMaterial(t, dir, next), []byte("PRIVATE KEY")))
}

// TestNodeStartsUnderAnAWSKMSRootAndRefusesWhileItIsDisabled seals a node
// under a key in Local KMS, through the AWS SDK: the node restarts under
// it; with the key disabled the start is refused as a revoked root, naming
// what to do and never falling back; with the key enabled again it starts.
func TestNodeStartsUnderAnAWSKMSRootAndRefusesWhileItIsDisabled(t *testing.T) {
	srv := localkms.Start(t)
	arn := srv.CreateKey(t)
	k, err := awskms.New(awskms.Config{KeyID: arn, Region: localkms.Region, Endpoint: srv.Endpoint,
		Credentials: localkms.Credentials(kmsAccessKeyID, kmsSecret), Cluster: "node", Resource: "node-master-key"})
	if err != nil {
		t.Fatal(err)
	}
	root := nodeseal.KEK(nodeseal.SourceAWSKMS, k)
	dir := t.TempDir()
	first := startNodeWith(t, Config{DataDir: dir, Root: root})
	first.stop()

	srv.SetEnabled(t, arn, false)
	n, err := Open(context.Background(), Config{DataDir: dir, Addr: "127.0.0.1:0", Root: root})
	if err == nil {
		n.Close()
		t.Fatal("the node started under a disabled root key")
	}
	if !errors.Is(err, keyring.ErrKeyRevoked) || !strings.Contains(err.Error(), "enable the key") || strings.Contains(err.Error(), kmsSecret) {
		t.Fatalf("start under a disabled root key: %v", err)
	}
	srv.SetEnabled(t, arn, true)
	again := startNodeWith(t, Config{DataDir: dir, Root: root})
	if again.creds.ClientSecret != first.creds.ClientSecret {
		t.Fatal("the restarted node made a new admin")
	}
	again.stop()
	scanDataDir(t, dir, append(secretMaterial(t, dir, root), []byte("PRIVATE KEY")))
}

// TestRekeyStoppedMidwayLeavesANodeThatStartsWithEitherRoot stops a rekey
// from a passphrase to a KEK partway, as a crash would: a damaged sealed
// file that sorts between the node's secrets makes it fail after resealing
// some of them and before its commit. Once the damaged file is gone, the
// node starts with the old root (undoing the rekey) or with the new one
// (finishing it), keeping its admin and CA, and the other root is refused.
func TestRekeyStoppedMidwayLeavesANodeThatStartsWithEitherRoot(t *testing.T) {
	for _, restartWithNew := range []bool{false, true} {
		name := map[bool]string{false: "restarted with the old root", true: "restarted with the new root"}[restartWithNew]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			old := nodeseal.Passphrase([]byte("old passphrase"))
			next := nodeseal.KEK(nodeseal.SourceAWSKMS, kektest.New("new-root"))
			first := startNodeWith(t, Config{DataDir: dir, Root: old})
			caPEM, err := os.ReadFile(first.creds.CAFile)
			if err != nil {
				t.Fatal(err)
			}
			first.stop()

			damaged := filepath.Join(dir, "vault", "zz-damaged.sealed")
			if err := os.WriteFile(damaged, []byte("not sealed"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := nodeseal.Rekey(ctx, dir, old, next); !errors.Is(err, nodeseal.ErrIntegrity) {
				t.Fatalf("rekey over a damaged file: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "seal", "master.next.json")); err != nil {
				t.Fatalf("the rekey did not stop midway: %v", err)
			}
			if err := os.Remove(damaged); err != nil {
				t.Fatal(err)
			}

			use, other := old, next
			if restartWithNew {
				use, other = next, old
			}
			again := startNodeWith(t, Config{DataDir: dir, Root: use})
			if again.creds.ClientSecret != first.creds.ClientSecret {
				t.Fatal("a new admin was made")
			}
			if got, _ := os.ReadFile(again.creds.CAFile); !bytes.Equal(got, caPEM) {
				t.Fatal("a new CA was made")
			}
			again.stop()
			if _, err := os.Stat(filepath.Join(dir, "seal", "master.next.json")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the interrupted rekey was left pending: %v", err)
			}
			if n, err := Open(ctx, Config{DataDir: dir, Addr: "127.0.0.1:0", Root: other}); !errors.Is(err, nodeseal.ErrWrongRoot) {
				if err == nil {
					n.Close()
				}
				t.Fatalf("the other root after the restart: %v", err)
			}
		})
	}
}

// TestNodeStartsUnderAKeyVaultRootInAnotherTenant seals a node's own secrets
// under a key in another node's Sealwatch vault, reached as an application
// registered in that vault's tenant: the node starts with it, refuses to
// start while the vault's owner has the key disabled (saying what to do,
// without the application's secret), starts again once it is enabled, and
// leaves no secret of its own in the clear.
func TestNodeStartsUnderAKeyVaultRootInAnotherTenant(t *testing.T) {
	cv := startNodeWith(t, Config{DataDir: t.TempDir(), Services: ServeVault})
	app, secret, err := cv.node.identity.CreateApplication(context.Background(), "node-root-of-trust")
	if err != nil {
		t.Fatal(err)
	}
	cv.createVault("rootvault", map[string][]string{cv.objectIDOf(cv.creds.ClientID): {"all"}, app.ObjectID: {"get", "wrapKey", "unwrapKey"}})
	owner := cv.adminToken("https://vault.azure.net/.default")
	keyURL := cv.vaultURL("rootvault") + "/keys/node-root"
	var key struct{ Key struct{ KID string } }
	if st := cv.call("POST", keyURL+"/create?api-version=7.6", owner, map[string]any{"kty": "RSA", "key_size": 2048}, &key); st != 200 {
		t.Fatalf("create key: %d", st)
	}
	setEnabled := func(enabled bool) {
		t.Helper()
		if st := cv.call("PATCH", key.Key.KID+"?api-version=7.6", owner, map[string]any{"attributes": map[string]any{"enabled": enabled}}, nil); st != 200 {
			t.Fatalf("set the key's enabled to %v: %d", enabled, st)
		}
	}

	k, err := kv.New(kv.Config{VaultURL: cv.vaultURL("rootvault"), KeyName: "node-root", Credential: cv.credential(app.AppID, secret),
		SignInAs: "application " + app.AppID, Transport: cv.client})
	if err != nil {
		t.Fatal(err)
	}
	root := nodeseal.KEK(nodeseal.SourceKeyVault, k)
	dir := t.TempDir()
	first := startNodeWith(t, Config{DataDir: dir, Root: root})
	first.stop()

	setEnabled(false)
	n, err := Open(context.Background(), Config{DataDir: dir, Addr: "127.0.0.1:0", Root: root})
	if err == nil {
		n.Close()
		t.Fatal("the node started under a disabled root key")
	}
	if !errors.Is(err, keyring.ErrKeyRevoked) || !strings.Contains(err.Error(), "enable the key") || strings.Contains(err.Error(), secret) {
		t.Fatalf("start under a disabled root key: %v", err)
	}
	setEnabled(true)
	again := startNodeWith(t, Config{DataDir: dir, Root: root})
	if again.creds.ClientSecret != first.creds.ClientSecret {
		t.Fatal("the restarted node made a new admin")
	}
	again.stop()
	scanDataDir(t, dir, append(secretMaterial(t, dir, root), []byte("PRIVATE KEY")))
}
