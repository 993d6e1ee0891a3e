package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// cheapArgon keeps tests fast; production cost is checked in TestSecretsAreStoredAsArgon2idHashes.
var cheapArgon = argonParam{Time: 1, Memory: 64, Threads: 1}

type fixture struct {
	dir string
	db  *boltkv.DB
	svc *Service
	now time.Time
}

var fixtureNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), now: fixtureNow}
	f.open(t)
	return f
}

func (f *fixture) open(t *testing.T) { f.openTB(t) }

func (f *fixture) openTB(t testing.TB) {
	t.Helper()
	db, err := boltkv.Open(filepath.Join(f.dir, "identity.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := New(db, filepath.Join(f.dir, "signing.pem"), Options{
		Issuer:         "https://127.0.0.1:8443",
		VaultDNSSuffix: "vault.localhost",
		Now:            func() time.Time { return f.now },
		argon:          cheapArgon,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.db, f.svc = db, svc
}

func (f *fixture) app(t *testing.T, roles ...string) (*Principal, string) {
	t.Helper()
	p, secret, err := f.svc.CreateApplication(context.Background(), "app", roles...)
	if err != nil {
		t.Fatal(err)
	}
	return p, secret
}

func (f *fixture) token(t *testing.T, clientID, secret, scope string) string {
	t.Helper()
	tok, err := f.svc.IssueToken(context.Background(), f.svc.TenantID(), clientID, secret, scope)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func TestIssuedTokenCarriesTheNamedClaims(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t, RoleOwner)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	c, err := f.svc.Verify(context.Background(), raw, AudienceVault)
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectID != p.ObjectID || c.AppID != p.AppID || c.TenantID != f.svc.TenantID() {
		t.Errorf("claims oid=%s appid=%s tid=%s, want %s %s %s", c.ObjectID, c.AppID, c.TenantID, p.ObjectID, p.AppID, f.svc.TenantID())
	}
	if c.Issuer != "https://127.0.0.1:8443/"+f.svc.TenantID()+"/v2.0" {
		t.Errorf("iss = %s", c.Issuer)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != time.Hour {
		t.Errorf("lifetime = %s, want 1h", got)
	}
	if len(c.Roles) != 1 || c.Roles[0] != RoleOwner {
		t.Errorf("roles = %v", c.Roles)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(raw, &Claims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Method.Alg() != "ES256" {
		t.Errorf("alg = %s, want ES256", parsed.Method.Alg())
	}
}

func TestBadCredentialsAreRefused(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	cases := []struct {
		name, tenant, client, secret string
		want                         error
	}{
		{"wrong secret", f.svc.TenantID(), p.AppID, secret + "x", ErrInvalidClient},
		{"empty secret", f.svc.TenantID(), p.AppID, "", ErrInvalidClient},
		{"unknown client", f.svc.TenantID(), "11111111-1111-1111-1111-111111111111", secret, ErrInvalidClient},
		{"object ID is not a client ID", f.svc.TenantID(), p.ObjectID, secret, ErrInvalidClient},
		{"other tenant", "22222222-2222-2222-2222-222222222222", p.AppID, secret, ErrUnknownTenant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.IssueToken(context.Background(), tc.tenant, tc.client, tc.secret, "https://vault.azure.net/.default")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("error message contains the secret")
			}
		})
	}
}

func TestScopesMapToOneAudienceEach(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		scope string
		want  Audience
		ok    bool
	}{
		{"https://vault.azure.net/.default", AudienceVault, true},
		{"https://vault.localhost/.default", AudienceVault, true},
		{"https://vault.localhost:8443/.default", AudienceVault, true}, // the vault challenge's resource
		{"https://vault.localhost:8443/x/.default", "", false},
		{"http://vault.localhost/.default", "", false},
		{"https://VAULT.azure.net/.default", AudienceVault, true},
		{"https://management.azure.com/.default", AudienceManagement, true},
		{"https://management.azure.com//.default", AudienceManagement, true},
		{"https://monitor.azure.com//.default", AudienceIngestion, true}, // the ingestion client's spelling
		{"https://monitor.azure.com/.default", AudienceIngestion, true},
		{"https://api.loganalytics.io/.default", AudienceQuery, true},
		{"https://vault.azure.net/.default openid offline_access profile", AudienceVault, true},
		{"openid profile", "", false},
		{"https://api.loganalytics.io", "", false},
		{"https://evil.example/.default", "", false},
		{"https://vault.azure.net/.default https://management.azure.com/.default", "", false},
		{"", "", false},
		{"/.default", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.scope, func(t *testing.T) {
			got, err := f.svc.AudienceForScope(tc.scope)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("AudienceForScope(%q) = %q, %v; want %q ok=%v", tc.scope, got, err, tc.want, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("err = %v, want ErrInvalidScope", err)
			}
		})
	}
}

func TestTokenIsRefusedForAnotherAudience(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://management.azure.com/.default")
	for _, aud := range []Audience{AudienceVault, AudienceIngestion, AudienceQuery} {
		if _, err := f.svc.Verify(context.Background(), raw, aud); !errors.Is(err, ErrWrongAudience) {
			t.Errorf("Verify for %s: err = %v, want ErrWrongAudience", aud, err)
		}
	}
	if _, err := f.svc.Verify(context.Background(), raw, AudienceManagement); err != nil {
		t.Errorf("Verify for its own audience: %v", err)
	}
}

func TestExpiredTokenIsRefused(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	f.now = f.now.Add(time.Hour + clockSkew - time.Second)
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); err != nil {
		t.Fatalf("within skew: %v", err)
	}
	f.now = f.now.Add(2 * time.Second)
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("past exp: err = %v, want ErrTokenExpired", err)
	}
}

func TestTokenFromTheFutureIsRefused(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	f.now = f.now.Add(-time.Minute)
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("err = %v, want ErrTokenExpired (not yet valid)", err)
	}
}

func TestTamperedTokenIsRefused(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t, RoleOwner)
	other, _ := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	parts := strings.Split(raw, ".")
	b64 := base64.RawURLEncoding

	payload, _ := b64.DecodeString(parts[1])
	swapped := bytes.Replace(payload, []byte(p.ObjectID), []byte(other.ObjectID), 1)

	foreignKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	claims := Claims{TenantID: f.svc.TenantID(), ObjectID: p.ObjectID, AppID: p.AppID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: f.svc.IssuerURL(), Audience: jwt.ClaimStrings{string(AudienceVault)},
		IssuedAt: jwt.NewNumericDate(f.now), ExpiresAt: jwt.NewNumericDate(f.now.Add(time.Hour)),
	}}
	foreign := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	foreign.Header["kid"] = f.svc.signers[0].kid
	foreignRaw, _ := foreign.SignedString(foreignKey)
	hmacTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("guess"))
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)

	sig := []byte(parts[2])
	sig[10] ^= 1
	cases := map[string]string{
		"payload edited to another principal": parts[0] + "." + b64.EncodeToString(swapped) + "." + parts[2],
		"signature bit flipped":               parts[0] + "." + parts[1] + "." + string(sig),
		"signature removed":                   parts[0] + "." + parts[1] + ".",
		"signed by another key with our kid":  foreignRaw,
		"HS256 forgery":                       hmacTok,
		"alg none":                            noneTok,
		"not a JWT":                           "hello",
		"three empty parts":                   "..",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := f.svc.Verify(context.Background(), tok, AudienceVault); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("err = %v, want ErrTokenInvalid", err)
			}
		})
	}
}

func TestTokenOfAnotherIssuerIsRefused(t *testing.T) {
	f := newFixture(t)
	g := newFixture(t) // another installation: other tenant, other key
	p, secret := g.app(t)
	raw := g.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
}

func TestDeletedPrincipalsTokensStopWorking(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); err != nil {
		t.Fatalf("before the delete: %v", err)
	}
	if err := f.svc.Delete(context.Background(), p.AppID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); !errors.Is(err, ErrPrincipalGone) {
		t.Fatalf("err = %v, want ErrPrincipalGone", err)
	}
	// an application created again under the same name is another
	// principal: the deleted one's token stays refused
	again, _ := f.app(t)
	if again.ObjectID == p.ObjectID || again.AppID == p.AppID {
		t.Fatalf("the new application took the deleted one's IDs: %+v", again)
	}
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); !errors.Is(err, ErrPrincipalGone) {
		t.Fatalf("after a new application of the same name: err = %v, want ErrPrincipalGone", err)
	}
	if _, err := f.svc.IssueToken(context.Background(), f.svc.TenantID(), p.AppID, secret, "https://vault.azure.net/.default"); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("token for deleted app: err = %v", err)
	}
}

func TestResetSecretRetiresTheOldOne(t *testing.T) {
	f := newFixture(t)
	p, old := f.app(t)
	_, fresh, err := f.svc.ResetSecret(context.Background(), p.ObjectID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(context.Background(), p.AppID, old); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("old secret: err = %v", err)
	}
	if _, err := f.svc.Authenticate(context.Background(), p.AppID, fresh); err != nil {
		t.Errorf("new secret: %v", err)
	}
}

func TestSecretsAreStoredAsArgon2idHashes(t *testing.T) {
	f := newFixture(t)
	f.svc.opts.argon = defaultArgon
	p, secret := f.app(t)
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(f.dir, "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(secret, "sws~")
	for _, needle := range []string{secret, body, base64.StdEncoding.EncodeToString([]byte(secret))} {
		if bytes.Contains(raw, []byte(needle)) {
			t.Fatalf("the identity store holds the client secret in the clear")
		}
	}
	f.open(t)
	sp, err := f.svc.lookup(context.Background(), p.ObjectID)
	if err != nil {
		t.Fatal(err)
	}
	if sp.KDF != defaultArgon || len(sp.SecretHash) != 32 || len(sp.SecretSalt) != 16 {
		t.Fatalf("stored KDF %+v, hash %d bytes, salt %d bytes", sp.KDF, len(sp.SecretHash), len(sp.SecretSalt))
	}
	if _, err := f.svc.Authenticate(context.Background(), p.AppID, secret); err != nil {
		t.Fatalf("secret hashed at production cost no longer authenticates after reopen: %v", err)
	}
}

func TestTenantAndSigningKeySurviveRestart(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	tenant := f.svc.TenantID()
	f.db.Close()
	f.open(t)
	if f.svc.TenantID() != tenant {
		t.Fatalf("tenant changed across restart")
	}
	if _, err := f.svc.Verify(context.Background(), raw, AudienceVault); err != nil {
		t.Fatalf("token from before restart: %v", err)
	}
	info, err := os.Stat(filepath.Join(f.dir, "signing.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("signing key mode %v, want 0600", info.Mode().Perm())
	}
}

func TestJWKSVerifiesIssuedTokens(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t)
	raw := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	keys := f.svc.JWKS()["keys"]
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	k := keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) { return pub, nil },
		jwt.WithTimeFunc(func() time.Time { return f.now }), jwt.WithAudience(string(AudienceVault)))
	if err != nil || tok.Header["kid"] != k.Kid {
		t.Fatalf("token does not verify with the published key: %v (kid %v vs %s)", err, tok.Header["kid"], k.Kid)
	}
	cfg := f.svc.OpenIDConfiguration()
	if cfg["issuer"] != f.svc.IssuerURL() || !strings.HasSuffix(cfg["jwks_uri"].(string), "/discovery/v2.0/keys") {
		t.Fatalf("openid configuration: %v", cfg)
	}
}

func TestDisplayNameIsValidated(t *testing.T) {
	f := newFixture(t)
	for name, dn := range map[string]string{"empty": "", "too long": strings.Repeat("a", 121), "control character": "a\nb"} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := f.svc.CreateApplication(context.Background(), dn); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, _, err := f.svc.CreateApplication(context.Background(), "x", "Admin"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("unknown role: err = %v", err)
	}
}

func TestIssueTokensForSignsOneTokenPerAudienceAfterOneCheck(t *testing.T) {
	f := newFixture(t)
	p, secret := f.app(t, RoleOwner)
	got, toks, err := f.svc.IssueTokensFor(context.Background(), p.AppID, secret, AudienceManagement, AudienceQuery)
	if err != nil {
		t.Fatal(err)
	}
	if got.ObjectID != p.ObjectID || len(toks) != 2 {
		t.Fatalf("principal %s with %d tokens, want %s with 2", got.ObjectID, len(toks), p.ObjectID)
	}
	for i, aud := range []Audience{AudienceManagement, AudienceQuery} {
		c, err := f.svc.Verify(context.Background(), toks[i].AccessToken, aud)
		if err != nil {
			t.Fatalf("token %d for %s: %v", i, aud, err)
		}
		if !c.HasRole(RoleOwner) {
			t.Errorf("token for %s lacks the principal's role: %v", aud, c.Roles)
		}
	}
	if _, err := f.svc.Verify(context.Background(), toks[0].AccessToken, AudienceQuery); !errors.Is(err, ErrWrongAudience) {
		t.Errorf("the management token verified for the query API: %v", err)
	}
	if _, _, err := f.svc.IssueTokensFor(context.Background(), p.AppID, secret+"x", AudienceManagement); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("wrong secret: err = %v, want ErrInvalidClient", err)
	}
}
