package rootkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyKDF keeps the passphrase tests fast; production uses defaultKDF.
var tinyKDF = kdfParams{Time: 1, MemoryKiB: 64, Threads: 1}

func testKey(t testing.TB) *Key {
	t.Helper()
	k, err := newKey(bytes.Repeat([]byte{0x42}, keySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSeal(t testing.TB, k *Key, pt, aad []byte) []byte {
	t.Helper()
	sealed, err := k.Seal(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := testKey(t)
	tests := []struct {
		name    string
		pt, aad []byte
	}{
		{"empty plaintext", nil, []byte("vault/kv1")},
		{"no aad", []byte("secret"), nil},
		{"short", []byte("a key version's private key"), []byte("vault/kv1/keys/k/v1")},
		{"one MiB", bytes.Repeat([]byte{7}, 1<<20), []byte("big")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sealed := mustSeal(t, k, tc.pt, tc.aad)
			if len(sealed) != len(tc.pt)+overhead || sealed[0] != 1 {
				t.Fatalf("sealed is %d bytes with version %d, want %d bytes, version 1", len(sealed), sealed[0], len(tc.pt)+overhead)
			}
			got, err := k.Open(sealed, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.pt) {
				t.Error("Open returned other data than was sealed")
			}
		})
	}
}

func TestFlippedBitIsAnIntegrityErrorNeverOtherData(t *testing.T) {
	k := testKey(t)
	aad := []byte("vault/kv1/keys/k/v1")
	sealed := mustSeal(t, k, []byte("wrapped key material"), aad)
	for i := range sealed {
		for bit := range 8 {
			mutated := bytes.Clone(sealed)
			mutated[i] ^= 1 << bit
			got, err := k.Open(mutated, aad)
			if !errors.Is(err, ErrIntegrity) || got != nil {
				t.Fatalf("byte %d bit %d flipped: Open = %q, %v; want nil, ErrIntegrity", i, bit, got, err)
			}
		}
	}
}

func TestTruncationIsAnIntegrityError(t *testing.T) {
	k := testKey(t)
	sealed := mustSeal(t, k, []byte("wrapped key material"), nil)
	for n := range len(sealed) {
		if _, err := k.Open(sealed[:n], nil); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrIntegrity", n, err)
		}
	}
	if _, err := k.Open(append(bytes.Clone(sealed), 0), nil); !errors.Is(err, ErrIntegrity) {
		t.Errorf("extended by a byte: err = %v, want ErrIntegrity", err)
	}
}

func TestOpenRefusesWhatItWasNotSealedFor(t *testing.T) {
	k := testKey(t)
	other, err := newKey(bytes.Repeat([]byte{0x43}, keySize))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("vault/kv1/keys/k/v1")
	sealed := mustSeal(t, k, []byte("wrapped key material"), aad)

	// A future version byte with a valid tag for it must still be refused by this reader.
	unknownVersion := bytes.Clone(sealed)
	unknownVersion[0] = 2

	tests := []struct {
		name   string
		key    *Key
		sealed []byte
		aad    []byte
	}{
		{"other aad", k, sealed, []byte("vault/kv1/keys/k/v2")},
		{"aad missing", k, sealed, nil},
		{"other key", other, sealed, aad},
		{"unknown version", k, unknownVersion, aad},
		{"empty input", k, nil, aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.Open(tc.sealed, tc.aad)
			if !errors.Is(err, ErrIntegrity) || got != nil {
				t.Errorf("Open = %q, %v; want nil, ErrIntegrity", got, err)
			}
		})
	}
}

func TestSealedValueNeverContainsPlaintext(t *testing.T) {
	k := testKey(t)
	pt := []byte("-----BEGIN RSA PRIVATE KEY----- this must never be on disk")
	a, b := mustSeal(t, k, pt, nil), mustSeal(t, k, pt, nil)
	for _, sealed := range [][]byte{a, b} {
		if bytes.Contains(sealed, pt[:16]) {
			t.Error("sealed value contains the plaintext")
		}
	}
	if bytes.Equal(a, b) {
		t.Error("sealing twice gave the same bytes: nonce is not random")
	}
}

func TestDeriveGivesIndependentStableKeys(t *testing.T) {
	k := testKey(t)
	audit1, audit2, other := k.Derive("audit-mac"), k.Derive("audit-mac"), k.Derive("other")
	if len(audit1) != 32 {
		t.Fatalf("derived %d bytes, want 32", len(audit1))
	}
	if !bytes.Equal(audit1, audit2) {
		t.Error("same purpose gave different keys")
	}
	if bytes.Equal(audit1, other) {
		t.Error("different purposes gave the same key")
	}
	if bytes.Equal(audit1, k.raw) {
		t.Error("derived key equals the root key")
	}
	otherRoot, err := newKey(bytes.Repeat([]byte{0x43}, keySize))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(audit1, otherRoot.Derive("audit-mac")) {
		t.Error("different roots gave the same derived key")
	}
}

func TestCloseZeroesKeyAndRefusesUse(t *testing.T) {
	k := testKey(t)
	raw := k.raw
	k.Close()
	if !bytes.Equal(raw, make([]byte, keySize)) {
		t.Error("key bytes not zeroed")
	}
	if _, err := k.Seal([]byte("x"), nil); err == nil {
		t.Error("Seal worked after Close")
	}
	if _, err := k.Open(make([]byte, overhead), nil); err == nil {
		t.Error("Open worked after Close")
	}
}

func TestKeyFileIsCreatedOwnerOnlyAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	k1, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file mode %04o size %d, want 0600 and 32 bytes", fi.Mode().Perm(), fi.Size())
	}
	sealed := mustSeal(t, k1, []byte("kept across restarts"), nil)
	k1.Close()

	k2, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open(sealed, nil); err != nil || string(got) != "kept across restarts" {
		t.Errorf("reloaded key: Open = %q, %v", got, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestKeyFileIsRefusedWhenOthersMayReadItOrItsSizeIsWrong(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		size    int
		wantMsg string
	}{
		{"group readable", 0o640, 32, "chmod 600"},
		{"world readable", 0o604, 32, "chmod 600"},
		{"group writable", 0o620, 32, "chmod 600"},
		{"too short", 0o600, 31, "exactly 32"},
		{"too long", 0o600, 33, "exactly 32"},
		{"empty", 0o600, 0, "exactly 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			if err := os.WriteFile(path, make([]byte, tc.size), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want an error naming %s and saying %q", err, path, tc.wantMsg)
			}
			if fi, _ := os.Stat(path); fi.Size() != int64(tc.size) {
				t.Error("refused key file was overwritten")
			}
		})
	}
}

func TestPassphraseReuseGivesTheSameKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passphrase.json")
	k1, err := fromPassphrase([]byte("correct horse"), path, tinyKDF)
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustSeal(t, k1, []byte("vault data"), []byte("aad"))
	k1.Close()

	// The stored parameters, not the ones passed, decide the key once the file exists.
	k2, err := fromPassphrase([]byte("correct horse"), path, kdfParams{Time: 2, MemoryKiB: 128, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open(sealed, []byte("aad")); err != nil || string(got) != "vault data" {
		t.Errorf("Open with the re-derived key = %q, %v", got, err)
	}
}

func TestPassphraseParametersFileHoldsNoSecretAndIsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passphrase.json")
	k, err := fromPassphrase([]byte("correct horse"), path, tinyKDF)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"kdf", "time", "memoryKiB", "threads", "salt", "check"} {
		if _, ok := got[field]; !ok {
			t.Errorf("parameters file lacks %q: %s", field, data)
		}
	}
	if got["kdf"] != "argon2id" {
		t.Errorf("kdf = %v, want argon2id", got["kdf"])
	}
	if bytes.Contains(data, []byte("correct horse")) || bytes.Contains(data, k.raw) {
		t.Error("parameters file contains the passphrase or the key")
	}
}

func TestWrongPassphraseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passphrase.json")
	if _, err := fromPassphrase([]byte("correct horse"), path, tinyKDF); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pass string
	}{
		{"other passphrase", "battery staple"},
		{"one character off", "correct hors3"},
		{"prefix", "correct"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FromPassphrase([]byte(tc.pass), path)
			if !errors.Is(err, ErrWrongPassphrase) || k != nil {
				t.Errorf("FromPassphrase = %v, %v; want nil, ErrWrongPassphrase", k, err)
			}
		})
	}
}

func TestSamePassphraseWithAnotherSaltIsAnotherKey(t *testing.T) {
	dir := t.TempDir()
	a, err := fromPassphrase([]byte("correct horse"), filepath.Join(dir, "a.json"), tinyKDF)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fromPassphrase([]byte("correct horse"), filepath.Join(dir, "b.json"), tinyKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(mustSeal(t, a, []byte("x"), nil), nil); !errors.Is(err, ErrIntegrity) {
		t.Errorf("two vaults with one passphrase share a key: err = %v", err)
	}
}

func TestDamagedParametersFileIsRefused(t *testing.T) {
	tests := []struct {
		name     string
		contents string
	}{
		{"not json", "{"},
		{"other kdf", `{"kdf":"scrypt","time":1,"memoryKiB":64,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","check":"AQ=="}`},
		{"zero time", `{"kdf":"argon2id","time":0,"memoryKiB":64,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","check":"AQ=="}`},
		{"absurd memory", `{"kdf":"argon2id","time":1,"memoryKiB":4294967295,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","check":"AQ=="}`},
		{"short salt", `{"kdf":"argon2id","time":1,"memoryKiB":64,"threads":1,"salt":"AAAA","check":"AQ=="}`},
		{"no check", `{"kdf":"argon2id","time":1,"memoryKiB":64,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "passphrase.json")
			if err := os.WriteFile(path, []byte(tc.contents), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := FromPassphrase([]byte("correct horse"), path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want an error naming %s", err, path)
			}
		})
	}
}

func TestEmptyPassphraseIsRefused(t *testing.T) {
	if _, err := fromPassphrase(nil, filepath.Join(t.TempDir(), "p.json"), tinyKDF); err == nil {
		t.Error("empty passphrase accepted")
	}
}

// fuzzAAD and fuzzPlaintext are what FuzzOpen's valid seeds were sealed with. A fixed nonce
// keeps the seeds identical in every fuzzing worker process.
var (
	fuzzAAD       = []byte("vault/kv1/keys/k/v1")
	fuzzPlaintext = []byte("wrapped key material")
)

func FuzzOpen(f *testing.F) {
	k := testKey(f)
	valid, err := k.sealWithNonce(make([]byte, nonceSize), fuzzPlaintext, fuzzAAD)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, fuzzAAD)
	f.Add(valid, []byte("vault/kv1/keys/k/v2"))
	f.Add(valid[:len(valid)-1], fuzzAAD)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{2}, fuzzAAD)
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		got, err := k.Open(sealed, aad)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("Open failed without ErrIntegrity: %v", err)
			}
			if got != nil {
				t.Fatal("Open returned data along with an error")
			}
			return
		}
		// Only the untouched value under its own aad may open.
		if !bytes.Equal(sealed, valid) || !bytes.Equal(aad, fuzzAAD) {
			t.Fatalf("Open accepted a mutated input: sealed=%x aad=%q", sealed, aad)
		}
		if !bytes.Equal(got, fuzzPlaintext) {
			t.Fatalf("Open returned %q, want %q", got, fuzzPlaintext)
		}
	})
}

func TestDefaultKDFCostIsNotWeakened(t *testing.T) {
	want := kdfParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
	if defaultKDF != want {
		t.Errorf("defaultKDF = %+v, want %+v", defaultKDF, want)
	}
}

func TestPassphraseParamsKeptElsewhereGiveTheSameKey(t *testing.T) {
	k1, params, err := newPassphraseKey([]byte("correct horse"), tinyKDF)
	if err != nil {
		t.Fatal(err)
	}
	defer k1.Close()
	if bytes.Contains(params, []byte("correct horse")) {
		t.Fatal("the parameters hold the passphrase")
	}
	k2, err := FromPassphraseParams([]byte("correct horse"), params)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	sealed := mustSeal(t, k1, []byte("secret"), nil)
	if got, err := k2.Open(sealed, nil); err != nil || string(got) != "secret" {
		t.Fatalf("the key derived again does not open what the first sealed: %q, %v", got, err)
	}
	for _, tc := range []struct {
		name   string
		pass   string
		params []byte
		want   error
	}{
		{name: "another passphrase", pass: "wrong horse", params: params, want: ErrWrongPassphrase},
		{name: "damaged parameters", pass: "correct horse", params: params[:len(params)/2]},
		{name: "no parameters", pass: "correct horse", params: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FromPassphraseParams([]byte(tc.pass), tc.params)
			if err == nil || k != nil {
				t.Fatalf("FromPassphraseParams = %v, %v; want an error", k, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
