package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary bearer tokens to Verify: it must never panic,
// and nothing but the genuine token may pass.
func FuzzVerify(f *testing.F) {
	fx := &fixture{dir: f.TempDir(), now: fixtureNow}
	fx.openTB(f)
	p, secret, err := fx.svc.CreateApplication(context.Background(), "app")
	if err != nil {
		f.Fatal(err)
	}
	tok, err := fx.svc.IssueToken(context.Background(), fx.svc.TenantID(), p.AppID, secret, "https://vault.azure.net/.default")
	if err != nil {
		f.Fatal(err)
	}
	good := tok.AccessToken
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(good[:len(good)-3])
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := fx.svc.Verify(context.Background(), raw, AudienceVault)
		if err == nil && raw != good {
			// Base64url has padding-free aliases: bits past the end of the
			// last character are ignored by some decoders. Accept only if
			// the token decodes to exactly the same segments.
			if !sameSegments(raw, good) {
				t.Fatalf("forged token accepted: %q", raw)
			}
		}
		if err != nil && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenMissing) &&
			!errors.Is(err, ErrTokenExpired) && !errors.Is(err, ErrWrongAudience) && !errors.Is(err, ErrPrincipalGone) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzAudienceForScope: any scope maps to one known audience or to ErrInvalidScope.
func FuzzAudienceForScope(f *testing.F) {
	fx := &fixture{dir: f.TempDir(), now: fixtureNow}
	fx.openTB(f)
	for _, s := range []string{"https://vault.azure.net/.default", "https://monitor.azure.com//.default", "https://vault.localhost:8443/.default openid", "", "/.default"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, scope string) {
		aud, err := fx.svc.AudienceForScope(scope)
		switch {
		case err != nil && !errors.Is(err, ErrInvalidScope):
			t.Fatalf("untyped error %v", err)
		case err == nil && aud != AudienceVault && aud != AudienceManagement && aud != AudienceIngestion && aud != AudienceQuery:
			t.Fatalf("unknown audience %q", aud)
		}
	})
}

func sameSegments(a, b string) bool {
	da, errA := decodeSegments(a)
	db, errB := decodeSegments(b)
	if errA != nil || errB != nil || len(da) != len(db) {
		return false
	}
	for i := range da {
		if string(da[i]) != string(db[i]) {
			return false
		}
	}
	return true
}

func decodeSegments(tok string) ([][]byte, error) {
	var out [][]byte
	for _, seg := range strings.Split(tok, ".") {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// FuzzParseVerificationKey feeds a trusted issuer's key set entries: nothing
// may panic, and an accepted entry is a usable EC P-256 or RSA ≥ 2048 key.
func FuzzParseVerificationKey(f *testing.F) {
	fx := &fixture{dir: f.TempDir(), now: fixtureNow}
	fx.openTB(f)
	good, _ := json.Marshal(fx.svc.JWKS()["keys"][0])
	f.Add(good)
	f.Add([]byte(`{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte(`{"kty":"EC","kid":"e","crv":"P-384","x":"","y":""}`))
	f.Add([]byte(`{"kty":"oct","kid":"o","k":"c2VjcmV0"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		kid, pub, err := parseVerificationKey(raw)
		if err != nil {
			return
		}
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				t.Fatalf("accepted curve %s", k.Curve.Params().Name)
			}
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 || k.E < 3 {
				t.Fatalf("accepted a weak RSA key: %d bits, e=%d", k.N.BitLen(), k.E)
			}
		default:
			t.Fatalf("accepted %T", pub)
		}
		if kid == "" {
			t.Fatal("accepted a key without an ID")
		}
	})
}
