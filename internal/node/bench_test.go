package node

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keywrap"
)

// BenchmarkUnwrapKey measures unwrapkey over HTTPS on loopback with
// keep-alive, against the bare cryptographic operation on the same key in
// the same run: the difference is what the vault adds (TLS, routing, token
// check, access policy, audit record).
func BenchmarkUnwrapKey(b *testing.B) {
	rn := startNode(b, b.TempDir())
	oid := rn.objectIDOf(rn.creds.ClientID)
	rn.createVault("bench", map[string][]string{oid: {"all"}})
	vtok := rn.adminToken("https://vault.azure.net/.default")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		b.Fatal(err)
	}
	rsaKey.Precompute()
	octKey := make([]byte, 32)
	rand.Read(octKey)
	aek := make([]byte, 32)
	rand.Read(aek)

	type keyCase struct {
		name, alg string
		jwk       map[string]any
		bare      func() ([]byte, error)
	}
	rsaWrapped, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &rsaKey.PublicKey, aek, nil)
	block, _ := aes.NewCipher(octKey)
	octWrapped, _ := keywrap.Wrap(block, aek)
	cases := []keyCase{
		{"RSA-3072", "RSA-OAEP-256", rsaJWK(rsaKey), func() ([]byte, error) {
			return rsa.DecryptOAEP(sha256.New(), nil, rsaKey, rsaWrapped, nil)
		}},
		{"oct-256", "A256KW", map[string]any{"kty": "oct", "k": b64u(octKey)}, func() ([]byte, error) {
			blk, err := aes.NewCipher(octKey)
			if err != nil {
				return nil, err
			}
			return keywrap.Unwrap(blk, octWrapped)
		}},
	}
	for _, kc := range cases {
		if st := rn.call("PUT", rn.vaultURL("bench")+"/keys/"+kc.name+"?api-version=7.6", vtok, map[string]any{"key": kc.jwk}, nil); st != 200 {
			b.Fatalf("import %s: %d", kc.name, st)
		}
		var w struct{ Value string }
		rn.call("POST", rn.vaultURL("bench")+"/keys/"+kc.name+"/wrapkey?api-version=7.6", vtok, map[string]string{"alg": kc.alg, "value": b64u(aek)}, &w)
		body, _ := json.Marshal(map[string]string{"alg": kc.alg, "value": w.Value})
		url := rn.vaultURL("bench") + "/keys/" + kc.name + "/unwrapkey?api-version=7.6"

		b.Run("key="+kc.name+"/via=bare", func(b *testing.B) {
			for b.Loop() {
				out, err := kc.bare()
				if err != nil || !bytes.Equal(out, aek) {
					b.Fatal("bare unwrap failed")
				}
			}
		})
		b.Run("key="+kc.name+"/via=https", func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+vtok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := rn.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var out struct{ Value string }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || out.Value != b64u(aek) {
					b.Fatalf("unwrap over HTTPS: %d %v", resp.StatusCode, err)
				}
			}
		})
	}
}
