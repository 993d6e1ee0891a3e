package node

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK is an RSA private key as the import API takes it.
func rsaJWK(k *rsa.PrivateKey) map[string]any {
	k.Precompute()
	return map[string]any{"kty": "RSA", "n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes()),
		"d": b64u(k.D.Bytes()), "p": b64u(k.Primes[0].Bytes()), "q": b64u(k.Primes[1].Bytes()),
		"dp": b64u(k.Precomputed.Dp.Bytes()), "dq": b64u(k.Precomputed.Dq.Bytes()), "qi": b64u(k.Precomputed.Qinv.Bytes())}
}

// TestPrivateKeyMaterialNeverReachesDiskInTheClear imports RSA and AES keys
// over HTTP, uses them, stops the node, and searches every file under the
// data directory for the private parts in every encoding the API uses.
func TestPrivateKeyMaterialNeverReachesDiskInTheClear(t *testing.T) {
	dir := t.TempDir()
	rn := startNode(t, dir)
	oid := rn.objectIDOf(rn.creds.ClientID)
	rn.createVault("canary", map[string][]string{oid: {"all"}})
	vtok := rn.adminToken("https://vault.azure.net/.default")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	octKey := make([]byte, 32)
	rand.Read(octKey)
	for name, jwk := range map[string]map[string]any{
		"imported-rsa": rsaJWK(rsaKey),
		"imported-oct": {"kty": "oct", "k": b64u(octKey)},
	} {
		var out map[string]any
		if st := rn.call("PUT", rn.vaultURL("canary")+"/keys/"+name+"?api-version=7.6", vtok, map[string]any{"key": jwk}, &out); st != 200 {
			t.Fatalf("import %s: %d %v", name, st, out)
		}
		if k := out["key"].(map[string]any); k["d"] != nil || k["k"] != nil || k["p"] != nil {
			t.Fatalf("import response of %s shows private parts", name)
		}
	}
	// Use both keys, so that every code path that holds them has run.
	var wrapped map[string]string
	if st := rn.call("POST", rn.vaultURL("canary")+"/keys/imported-rsa/wrapkey?api-version=7.6", vtok,
		map[string]string{"alg": "RSA-OAEP-256", "value": b64u(octKey)}, &wrapped); st != 200 {
		t.Fatalf("wrap: %d", st)
	}
	if st := rn.call("POST", rn.vaultURL("canary")+"/keys/imported-rsa/unwrapkey?api-version=7.6", vtok,
		map[string]string{"alg": "RSA-OAEP-256", "value": wrapped["value"]}, nil); st != 200 {
		t.Fatalf("unwrap: %d", st)
	}
	if st := rn.call("POST", rn.vaultURL("canary")+"/keys/imported-oct/wrapkey?api-version=7.6", vtok,
		map[string]string{"alg": "A256KW", "value": b64u(make([]byte, 32))}, nil); st != 200 {
		t.Fatalf("oct wrap: %d", st)
	}
	rn.stop()

	secrets := map[string][]byte{
		"d": rsaKey.D.Bytes(), "p": rsaKey.Primes[0].Bytes(), "q": rsaKey.Primes[1].Bytes(),
		"dp": rsaKey.Precomputed.Dp.Bytes(), "dq": rsaKey.Precomputed.Dq.Bytes(), "qi": rsaKey.Precomputed.Qinv.Bytes(),
		"oct k": octKey,
	}
	// The AES key schedule's first round key is the key itself; searching for
	// it also covers a leaked expanded key.
	if _, err := aes.NewCipher(octKey); err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{}
	for name, raw := range secrets {
		needles[name+" raw"] = raw[:24] // a prefix finds the value even if cut or padded
		needles[name+" base64url"] = []byte(b64u(raw)[:32])
		needles[name+" base64"] = []byte(base64.StdEncoding.EncodeToString(raw)[:32])
		needles[name+" hex"] = []byte(hex.EncodeToString(raw)[:48])
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for name, needle := range needles {
			if bytes.Contains(data, needle) {
				return fmt.Errorf("%s holds the private key's %s", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("searched only %d files", files)
	}
}
