package vault

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// FuzzImportJWK: whatever JSON arrives as an import body, parsing never
// panics, and a refusal is always a typed 400.
func FuzzImportJWK(f *testing.F) {
	priv := genRSA(f, 2048)
	for _, p := range []ImportKeyParameters{
		{Key: rsaJWK(priv)},
		{Key: ImportJSONWebKey{Kty: "oct", K: make([]byte, 32)}},
		{Key: ImportJSONWebKey{Kty: "RSA", N: priv.N.Bytes(), E: []byte{1, 0, 1}}},
		{Key: ImportJSONWebKey{Kty: "oct-HSM", K: make([]byte, 31), KeyOps: []string{"wrapKey"}}},
	} {
		raw, err := json.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"key":{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQ","p":"Aw","q":"BQ"}}`))
	f.Add([]byte(`{"key":{"kty":"EC","crv":"P-256"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p ImportKeyParameters
		if json.Unmarshal(body, &p) != nil {
			return // malformed JSON is the HTTP layer's refusal
		}
		parsed, err := parseImportJWK(p.Key)
		if err == nil {
			_, err = canonicalKeyOps(parsed.kty, p.Key.KeyOps)
		}
		if err == nil {
			if parsed.bits == 0 || len(parsed.material) == 0 {
				t.Fatalf("accepted a key without material: %v", p.Key)
			}
			return
		}
		var ve *fault.Error
		if !errors.As(err, &ve) || ve.Kind != fault.Invalid || ve.Code != CodeBadParameter {
			t.Fatalf("refusal %v is not a typed BadParameter", err)
		}
	})
}
