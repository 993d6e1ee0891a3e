package nodeseal

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// sharedDB is one database two "nodes" of a test share.
func sharedDB(t *testing.T) (*boltkv.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	db, err := boltkv.Open(path, boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func openShared(t *testing.T, dir string, db kv.DB, root Root) *Box {
	t.Helper()
	b, err := OpenShared(context.Background(), dir, db, root)
	if err != nil {
		t.Fatalf("open shared: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestNodesSharingADatabaseOpenEachOthersSecrets(t *testing.T) {
	ctx := context.Background()
	db, dbPath := sharedDB(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openShared(t, dirA, db, File(rootFile))
	b := openShared(t, dirB, db, File(rootFile))

	keyA, err := a.LoadOrCreateKey(ctx, "workspace/secrets.key")
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := b.LoadOrCreateKey(ctx, "workspace/secrets.key")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keyA, keyB) {
		t.Fatal("node B made its own secrets.key instead of opening node A's")
	}
	gotB, err := b.LoadOrCreate(ctx, "tls/ca", func() ([]byte, error) { return canary, nil })
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := a.LoadOrCreate(ctx, "tls/ca", func() ([]byte, error) { return []byte("A's own"), nil })
	if err != nil || !bytes.Equal(gotA, canary) {
		t.Fatalf("node A read %q, %v; want B's stored secret", gotA, err)
	}
	if !bytes.Equal(gotB, canary) {
		t.Fatalf("node B read %q", gotB)
	}

	// The node's own files are sealed under the cluster's master key too.
	if err := a.WriteFile(filepath.Join(dirA, "tls", "server-key.pem"), canary); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, dir := range []string{dirA, dirB, filepath.Dir(dbPath)} {
		scanFor(t, dir, canary, []byte("canary-client-secret"), keyA, a.raw[a.gen])
	}
}

func TestNodesStartingAtOnceAgreeOnOneMasterKeyAndSecret(t *testing.T) {
	ctx := context.Background()
	db, _ := sharedDB(t)
	root := KEK(SourceAWSKMS, kektest.New("cluster"))
	const nodes = 6
	keys := make([][]byte, nodes)
	masters := make([][]byte, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		dir := t.TempDir()
		wg.Go(func() {
			b, err := OpenShared(ctx, dir, db, root)
			if err != nil {
				errs[i] = err
				return
			}
			defer b.Close()
			masters[i] = bytes.Clone(b.raw[b.gen])
			keys[i], errs[i] = b.LoadOrCreateKey(ctx, "workspace/platform/platform.key")
		})
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if !bytes.Equal(masters[i], masters[0]) || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("node %d holds another master key or platform key than node 0", i)
		}
	}
}

func TestANodeWithAnotherRootOfTrustIsRefused(t *testing.T) {
	ctx := context.Background()
	otherFile := filepath.Join(t.TempDir(), "other.key")
	openBox(t, t.TempDir(), File(otherFile)).Close() // a root key file holding another key
	for _, tc := range []struct {
		name        string
		first, then Root
		says        string
	}{
		{"another root key file", File(filepath.Join(t.TempDir(), "root.key")), File(otherFile), "same root key file"},
		{"the default root key file, not copied", File(""), File(""), "copied from the node that made"},
		{"another passphrase", Passphrase([]byte("correct horse")), Passphrase([]byte("wrong horse")), "not the one the cluster's secrets"},
		{"another source", Passphrase([]byte("correct horse")), File(otherFile), "--root-of-trust passphrase"},
		{"another KEK", KEK(SourceAWSKMS, kektest.New("a")), KEK(SourceAWSKMS, kektest.New("b")), "every node sharing the database must be given the same key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := sharedDB(t)
			a := openShared(t, t.TempDir(), db, tc.first)
			if _, err := a.LoadOrCreate(ctx, "identity-signing-key.pem", func() ([]byte, error) { return canary, nil }); err != nil {
				t.Fatal(err)
			}
			_, err := OpenShared(ctx, t.TempDir(), db, tc.then)
			if !errors.Is(err, ErrWrongRoot) {
				t.Fatalf("a second node with %s: %v; want ErrWrongRoot", tc.name, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("the error does not say %q: %v", tc.says, err)
			}
			if strings.Contains(err.Error(), "horse") {
				t.Fatalf("the error shows the passphrase: %v", err)
			}
		})
	}
}

func TestSharedPassphraseParamsAreInTheDatabase(t *testing.T) {
	ctx := context.Background()
	db, _ := sharedDB(t)
	root := Passphrase([]byte("correct horse battery staple"))
	a := openShared(t, t.TempDir(), db, root)
	want, err := a.LoadOrCreateKey(ctx, "vault/root.key")
	if err != nil {
		t.Fatal(err)
	}
	// Another node has nothing of the first's data directory: the salt and
	// costs come from the database.
	b := openShared(t, t.TempDir(), db, root)
	got, err := b.LoadOrCreateKey(ctx, "vault/root.key")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the second node's vault root key differs (%v)", err)
	}
}

func TestASharedRecordMovedOrAlteredIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(bk kv.Bucket) error
	}{
		{"moved to another name", func(bk kv.Bucket) error {
			return bk.Put([]byte("workspace/secrets.key"), bytes.Clone(bk.Get([]byte("vault/root.key"))))
		}},
		{"a flipped bit", func(bk kv.Bucket) error {
			v := bytes.Clone(bk.Get([]byte("workspace/secrets.key")))
			v[len(v)-1] ^= 1
			return bk.Put([]byte("workspace/secrets.key"), v)
		}},
		{"truncated", func(bk kv.Bucket) error {
			return bk.Put([]byte("workspace/secrets.key"), []byte("SWSEAL1\n"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := sharedDB(t)
			root := KEK(SourceKeyVault, kektest.New("cluster"))
			b := openShared(t, t.TempDir(), db, root)
			for _, n := range []string{"workspace/secrets.key", "vault/root.key"} {
				if _, err := b.LoadOrCreateKey(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			err := db.Update(ctx, func(tx kv.Tx) error { return tc.tamper(tx.Bucket(bucketSecrets)) })
			if err != nil {
				t.Fatal(err)
			}
			_, err = openShared(t, t.TempDir(), db, root).LoadOrCreateKey(ctx, "workspace/secrets.key")
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("a record %s opened: %v", tc.name, err)
			}
		})
	}
}

func TestASecretsNameIsRefusedOutsideTheDataDirectory(t *testing.T) {
	db, _ := sharedDB(t)
	for _, b := range []*Box{openBox(t, t.TempDir(), File("")), openShared(t, t.TempDir(), db, File(""))} {
		for _, name := range []string{"", "../escape.key", "/etc/key"} {
			if _, err := b.LoadOrCreateKey(context.Background(), name); err == nil {
				t.Errorf("shared=%v: the name %q was taken", b.Shared(), name)
			}
		}
	}
}

func TestRekeySharedMovesTheClusterToAnotherRootKeepingItsSecrets(t *testing.T) {
	ctx := context.Background()
	db, _ := sharedDB(t)
	devFile := filepath.Join(t.TempDir(), "root.key")
	kms := KEK(SourceAWSKMS, kektest.New("cluster"))
	if err := RekeyShared(ctx, t.TempDir(), db, File(devFile), kms); err == nil {
		t.Fatal("a database without a cluster master key was rekeyed")
	}
	want, err := openShared(t, t.TempDir(), db, File(devFile)).LoadOrCreateKey(ctx, "workspace/secrets.key")
	if err != nil {
		t.Fatal(err)
	}
	if err := RekeyShared(ctx, t.TempDir(), db, File(devFile), kms); err != nil {
		t.Fatal(err)
	}
	got, err := openShared(t, t.TempDir(), db, kms).LoadOrCreateKey(ctx, "workspace/secrets.key")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("under the new root the secret reads %v (%v)", got, err)
	}
	if _, err := OpenShared(ctx, t.TempDir(), db, File(devFile)); !errors.Is(err, ErrWrongRoot) {
		t.Fatalf("the old root still opens the cluster: %v", err)
	}
	if err := RekeyShared(ctx, t.TempDir(), db, File(devFile), kms); !errors.Is(err, ErrWrongRoot) {
		t.Fatalf("a rekey from the old root: %v", err)
	}
}
