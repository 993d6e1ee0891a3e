package vault

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
)

func TestDataSurvivesReopeningTheDatabase(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-persist", true, 30)
	b := e.createKey("kv-persist", "cmk", CreateKeyParameters{Kty: "RSA"})
	e.createKey("kv-persist", "gone", CreateKeyParameters{Kty: "oct"})
	if _, err := e.svc.DeleteKey(e.ctx, "kv-persist", "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-persist", PolicyAdd, []AccessPolicy{{ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"unwrapKey"}}}}); err != nil {
		t.Fatal(err)
	}
	wrapped, err := e.svc.Wrap(e.ctx, "kv-persist", "cmk", "", KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: []byte("aek")})
	if err != nil {
		t.Fatal(err)
	}

	e.reopen()

	v, err := e.svc.GetVault(e.ctx, "kv-persist")
	if err != nil || !v.Properties.EnablePurgeProtection || v.Properties.SoftDeleteRetentionInDays != 30 {
		t.Fatalf("vault after reopen = %+v, %v", v, err)
	}
	if err := e.svc.Authorize(e.ctx, "kv-persist", testTenant, clusterOID, PermUnwrapKey); err != nil {
		t.Fatalf("policy lost: %v", err)
	}
	got, err := e.svc.GetKey(e.ctx, "kv-persist", "cmk", "")
	if err != nil || got.Key.KID != b.Key.KID || !bytes.Equal(got.Key.N, b.Key.N) {
		t.Fatalf("key after reopen = %+v, %v", got, err)
	}
	out, err := e.svc.Unwrap(e.ctx, "kv-persist", "cmk", versionOf(wrapped.KID), KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: wrapped.Value})
	if err != nil || string(out.Value) != "aek" {
		t.Fatalf("unwrap after reopen = %v, %v", out, err)
	}
	if _, err := e.svc.GetDeletedKey(e.ctx, "kv-persist", "gone"); err != nil {
		t.Fatalf("deleted key lost: %v", err)
	}
}

// TestNoPrivateKeyBytesOnDisk is the canary for "no plaintext keys at rest":
// every private value the vault ever held must be absent from every file,
// raw or in any common encoding at any alignment.
func TestNoPrivateKeyBytesOnDisk(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-canary", false, 90)
	e.createKey("kv-canary", "rsa-created", CreateKeyParameters{Kty: "RSA"})
	e.createKey("kv-canary", "oct-created", CreateKeyParameters{Kty: "oct"})
	imported := genRSA(t, 2048)
	if _, err := e.svc.ImportKey(e.ctx, "kv-canary", "rsa-imported", ImportKeyParameters{Key: rsaJWK(imported)}); err != nil {
		t.Fatal(err)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if _, err := e.svc.ImportKey(e.ctx, "kv-canary", "oct-imported", ImportKeyParameters{Key: ImportJSONWebKey{Kty: "oct", K: k}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RotateKey(e.ctx, "kv-canary", "rsa-created"); err != nil {
		t.Fatal(err)
	}
	// Use the keys so that caches fill, then close.
	for _, n := range []string{"oct-created", "oct-imported"} {
		if _, err := e.svc.Wrap(e.ctx, "kv-canary", n, "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.db = nil

	// The secrets: whatever the vault handed the sealer (which covers created
	// keys, whose private half the test cannot otherwise see), split into D,
	// P, Q for RSA.
	secrets := map[string][]byte{}
	var publics [][]byte
	for i, plain := range e.sealer.sealed {
		if priv, err := x509.ParsePKCS1PrivateKey(plain); err == nil {
			secrets["D"+string(rune('0'+i))] = priv.D.Bytes()
			secrets["P"+string(rune('0'+i))] = priv.Primes[0].Bytes()
			secrets["Q"+string(rune('0'+i))] = priv.Primes[1].Bytes()
			secrets["PKCS1"+string(rune('0'+i))] = plain
			publics = append(publics, priv.N.Bytes())
		} else {
			secrets["k"+string(rune('0'+i))] = plain
		}
	}
	if len(e.sealer.sealed) != 5 || len(publics) != 3 {
		t.Fatalf("sealer saw %d keys (%d RSA), want 5 (3 RSA)", len(e.sealer.sealed), len(publics))
	}
	if !bytes.Equal(secrets["k3"], k) || !bytes.Equal(secrets["D2"], imported.D.Bytes()) {
		t.Fatal("the imported keys are not among the sealed ones")
	}

	var files []string
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no files under %s: %v", e.dir, err)
	}
	var disk []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	for name, secret := range secrets {
		for form, needle := range needles(secret) {
			if bytes.Contains(disk, needle) {
				t.Errorf("private value %s found on disk as %s", name, form)
			}
		}
	}
	// The search itself works: the public moduli are stored in the clear.
	for _, n := range publics {
		found := false
		for _, needle := range needles(n) {
			found = found || bytes.Contains(disk, needle)
		}
		if !found {
			t.Fatal("a public modulus was not found on disk: the canary search is blind")
		}
	}
}

// needles returns a secret raw, as hex, and in the four base64 alphabets at
// each of the three byte alignments it can have inside a longer encoding.
func needles(secret []byte) map[string][]byte {
	out := map[string][]byte{
		"raw":       secret,
		"hex":       []byte(hex.EncodeToString(secret)),
		"HEX":       bytes.ToUpper([]byte(hex.EncodeToString(secret))),
		"raw[8:24]": secret[8:24],
	}
	encs := map[string]*base64.Encoding{"std": base64.StdEncoding, "url": base64.URLEncoding, "rawstd": base64.RawStdEncoding, "rawurl": base64.RawURLEncoding}
	for name, enc := range encs {
		for shift := range 3 {
			s := enc.EncodeToString(secret[shift:])
			// Drop the tail, whose last characters depend on what follows.
			out[name+"@"+string(rune('0'+shift))] = []byte(s[:len(s)-4])
		}
	}
	return out
}

func TestSealedMaterialMovedToAnotherKeyOrVersionFailsToOpen(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-move", false, 90)
	a := e.createKey("kv-move", "a", CreateKeyParameters{Kty: "oct"})
	b := e.createKey("kv-move", "b", CreateKeyParameters{Kty: "oct"})
	b2, err := e.svc.RotateKey(e.ctx, "kv-move", "b")
	if err != nil {
		t.Fatal(err)
	}
	copyMaterial := func(from, to []byte) {
		t.Helper()
		err := e.db.Update(e.ctx, func(tx kv.Tx) error {
			m := tx.Bucket(bucketMaterial)
			return m.Put(to, bytes.Clone(m.Get(from)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		from, to []byte
		key, ver string
	}{
		{"onto another key", versionID("kv-move", "a", versionOf(a.Key.KID)), versionID("kv-move", "b", versionOf(b.Key.KID)), "b", versionOf(b.Key.KID)},
		{"onto another version of the same key", versionID("kv-move", "a", versionOf(a.Key.KID)), versionID("kv-move", "b", versionOf(b2.Key.KID)), "b", versionOf(b2.Key.KID)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			copyMaterial(tc.from, tc.to)
			_, err := e.svc.Wrap(e.ctx, "kv-move", tc.key, tc.ver, KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)})
			wantErr(t, err, ErrKeyIntegrity)
			if !errors.Is(err, errTestIntegrity) {
				t.Fatalf("the sealer's integrity error is not in the chain: %v", err)
			}
		})
	}
	// The original still opens where it belongs.
	if _, err := e.svc.Wrap(e.ctx, "kv-move", "a", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)}); err != nil {
		t.Fatal(err)
	}
}
