package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// trustFixture is a customer's identity service (the vault's) trusting an
// operator's (the workspace node's), which serves its metadata over HTTPS.
type trustFixture struct {
	operator, customer *Service
	server             *httptest.Server
	keyReads           atomic.Int32
	now                time.Time
}

func newTrustFixture(t *testing.T) *trustFixture {
	t.Helper()
	f := &trustFixture{now: fixtureNow}
	clock := func() time.Time { return f.now }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(f.operator.OpenIDConfiguration())
	})
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		f.keyReads.Add(1)
		json.NewEncoder(w).Encode(f.operator.JWKS())
	})
	f.server = httptest.NewTLSServer(mux)
	t.Cleanup(f.server.Close)

	open := func(name string, opts Options) *Service {
		dir := t.TempDir()
		db, err := boltkv.Open(filepath.Join(dir, name+".db"), boltkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		opts.Now, opts.argon, opts.VaultDNSSuffix = clock, cheapArgon, "vault.localhost"
		svc, err := New(db, filepath.Join(dir, "signing.pem"), opts)
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	f.operator = open("operator", Options{Issuer: f.server.URL})
	f.customer = open("customer", Options{Issuer: "https://127.0.0.1:9443", TrustedIssuers: []TrustedIssuer{{
		Issuer: f.operator.IssuerURL(), TenantID: f.operator.TenantID(), Client: f.server.Client(),
	}}})
	return f
}

// operatorToken signs in as a new managed identity of the operator.
func (f *trustFixture) operatorToken(t *testing.T, scope string) (*Principal, string) {
	t.Helper()
	p, secret, err := f.operator.CreateManagedIdentity(context.Background(), "cluster1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.operator.IssueToken(context.Background(), f.operator.TenantID(), p.AppID, secret, scope)
	if err != nil {
		t.Fatal(err)
	}
	return p, tok.AccessToken
}

func TestTrustedIssuersTokenIsAcceptedForTheVaultWithItsOwnTenant(t *testing.T) {
	f := newTrustFixture(t)
	p, raw := f.operatorToken(t, "https://vault.azure.net/.default")
	c, err := f.customer.Verify(context.Background(), raw, AudienceVault)
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectID != p.ObjectID || c.TenantID != f.operator.TenantID() || c.TenantID == f.customer.TenantID() {
		t.Fatalf("claims = oid %s tid %s; want the operator's principal %s in tenant %s", c.ObjectID, c.TenantID, p.ObjectID, f.operator.TenantID())
	}
	// A second token is verified with the keys already read.
	_, raw2 := f.operatorToken(t, "https://vault.azure.net/.default")
	if _, err := f.customer.Verify(context.Background(), raw2, AudienceVault); err != nil {
		t.Fatal(err)
	}
	if n := f.keyReads.Load(); n != 1 {
		t.Fatalf("the operator's keys were read %d times for two tokens, want 1", n)
	}
	if got := f.customer.TrustedTenants(); len(got) != 1 || got[0] != f.operator.TenantID() {
		t.Fatalf("TrustedTenants = %v", got)
	}
}

func TestTrustedIssuersTokenIsRefusedByEveryOtherAPI(t *testing.T) {
	f := newTrustFixture(t)
	for _, scope := range []string{"https://management.azure.com/.default", "https://monitor.azure.com/.default", "https://api.loganalytics.io/.default"} {
		_, raw := f.operatorToken(t, scope)
		aud, _ := f.customer.AudienceForScope(scope)
		_, err := f.customer.Verify(context.Background(), raw, aud)
		if !errors.Is(err, ErrTokenInvalid) || !strings.Contains(err.Error(), "key vault API only") {
			t.Fatalf("%s: err = %v, want a refusal naming the key vault API", scope, err)
		}
	}
}

func TestTrustedIssuerCannotSpeakForAnotherTenantOrGrantRoles(t *testing.T) {
	f := newTrustFixture(t)
	admin, _, err := f.customer.CreateApplication(context.Background(), "customer-admin", RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(tenant string, roles []string) string {
		claims := Claims{TenantID: tenant, ObjectID: admin.ObjectID, AppID: admin.AppID, Roles: roles, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: f.operator.IssuerURL(), Audience: jwt.ClaimStrings{string(AudienceVault)},
			IssuedAt: jwt.NewNumericDate(f.now), ExpiresAt: jwt.NewNumericDate(f.now.Add(time.Hour)),
		}}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["kid"] = f.operator.signers[0].kid
		raw, err := tok.SignedString(f.operator.signers[0].key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	// The operator's key, claiming to be the customer's own admin.
	if _, err := f.customer.Verify(context.Background(), sign(f.customer.TenantID(), nil), AudienceVault); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("a trusted issuer's token naming the customer's tenant: err = %v, want ErrTokenInvalid", err)
	}
	c, err := f.customer.Verify(context.Background(), sign(f.operator.TenantID(), []string{RoleOwner}), AudienceVault)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Roles) != 0 {
		t.Fatalf("a trusted issuer's roles were kept: %v", c.Roles)
	}
}

func TestUntrustedOrForgedIssuersAreRefused(t *testing.T) {
	f := newTrustFixture(t)
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forge := func(issuer, kid string) string {
		claims := Claims{TenantID: f.operator.TenantID(), ObjectID: "00000000-0000-0000-0000-000000000001", RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Audience: jwt.ClaimStrings{string(AudienceVault)},
			IssuedAt: jwt.NewNumericDate(f.now), ExpiresAt: jwt.NewNumericDate(f.now.Add(time.Hour)),
		}}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["kid"] = kid
		raw, _ := tok.SignedString(forger)
		return raw
	}
	cases := map[string]struct {
		token  string
		reason string
	}{
		"issuer not trusted":            {forge("https://evil.example/"+f.operator.TenantID()+"/v2.0", "k1"), "does not trust"},
		"trusted issuer, unknown key":   {forge(f.operator.IssuerURL(), "forged-kid"), "does not verify"},
		"trusted issuer, its key ID":    {forge(f.operator.IssuerURL(), f.operator.signers[0].kid), "signature does not verify"},
		"again an unknown key, at once": {forge(f.operator.IssuerURL(), "forged-kid-2"), "does not verify"},
	}
	for _, name := range []string{"issuer not trusted", "trusted issuer, unknown key", "trusted issuer, its key ID", "again an unknown key, at once"} {
		tc := cases[name]
		_, err := f.customer.Verify(context.Background(), tc.token, AudienceVault)
		if !errors.Is(err, ErrTokenInvalid) || !strings.Contains(err.Error(), tc.reason) {
			t.Fatalf("%s: err = %v, want ErrTokenInvalid saying %q", name, err, tc.reason)
		}
	}
	// Unknown key IDs read the key set at most once per interval.
	if n := f.keyReads.Load(); n != 1 {
		t.Fatalf("forged key IDs made %d reads of the operator's keys, want 1", n)
	}
	f.now = f.now.Add(keyRefreshInterval + time.Second)
	if _, err := f.customer.Verify(context.Background(), forge(f.operator.IssuerURL(), "forged-kid-3"), AudienceVault); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v", err)
	}
	if n := f.keyReads.Load(); n != 2 {
		t.Fatalf("after the interval: %d reads, want 2", n)
	}
}

func TestUnreachableIssuerIsNeitherAcceptedNorRefused(t *testing.T) {
	f := newTrustFixture(t)
	_, raw := f.operatorToken(t, "https://vault.azure.net/.default")
	f.server.Close()
	_, err := f.customer.Verify(context.Background(), raw, AudienceVault)
	if !errors.Is(err, ErrIssuerUnreachable) || errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrIssuerUnreachable", err)
	}
}

func TestTrustingItselfOrNoTenantIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "i.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opts := Options{Issuer: "https://127.0.0.1:8443", argon: cheapArgon}
	self, err := New(db, filepath.Join(dir, "k.pem"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, ti := range map[string]TrustedIssuer{
		"itself":     {Issuer: self.IssuerURL(), TenantID: self.TenantID()},
		"no tenant":  {Issuer: "https://ops.example/t/v2.0"},
		"plain http": {Issuer: "http://ops.example/t/v2.0", TenantID: "t"},
	} {
		opts.TrustedIssuers = []TrustedIssuer{ti}
		if _, err := New(db, filepath.Join(dir, "k.pem"), opts); err == nil {
			t.Errorf("%s: trusted", name)
		}
	}
	// Two issuers for one tenant could each speak for the other's principals.
	for name, tis := range map[string][]TrustedIssuer{
		"same tenant twice": {{Issuer: "https://a.example/t/v2.0", TenantID: "t"}, {Issuer: "https://b.example/t/v2.0", TenantID: "T"}},
	} {
		opts.TrustedIssuers = tis
		if _, err := New(db, filepath.Join(dir, "k.pem"), opts); err == nil {
			t.Errorf("%s: trusted", name)
		}
	}
}
