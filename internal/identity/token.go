package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Audience names the one API a token is good for.
type Audience string

// The audiences use the cloud's resource names, so a token decoded by a
// familiar tool reads as it would there.
const (
	AudienceVault      Audience = "https://vault.azure.net"
	AudienceManagement Audience = "https://management.azure.com"
	AudienceIngestion  Audience = "https://monitor.azure.com"
	AudienceQuery      Audience = "https://api.loganalytics.io"
)

// AudienceForScope maps a client-credentials scope ("<resource>/.default") to
// the API it names. The official clients spell resources in several ways
// (https://monitor.azure.com//.default, the vault challenge's resource), and all
// are accepted.
func (s *Service) AudienceForScope(scope string) (Audience, error) {
	// OpenID Connect scopes ride along from OIDC libraries (the official
	// credential adds "openid offline_access profile"); they ask for no API.
	var fields []string
	for _, f := range strings.Fields(scope) {
		switch f {
		case "openid", "offline_access", "profile", "email":
		default:
			fields = append(fields, f)
		}
	}
	if len(fields) != 1 {
		return "", fmt.Errorf("%w: give exactly one scope of the form <resource>/.default, got %q", ErrInvalidScope, scope)
	}
	resource, ok := strings.CutSuffix(fields[0], "/.default")
	if !ok {
		return "", fmt.Errorf("%w: scope %q must end in /.default (client credentials take a resource's default scope)", ErrInvalidScope, scope)
	}
	resource = strings.ToLower(strings.TrimRight(resource, "/"))
	aliases := map[string]Audience{
		"https://vault.azure.net":             AudienceVault,
		"https://management.azure.com":        AudienceManagement,
		"https://management.core.windows.net": AudienceManagement,
		"https://monitor.azure.com":           AudienceIngestion,
		"https://api.loganalytics.io":         AudienceQuery,
		"https://api.loganalytics.azure.com":  AudienceQuery,
	}
	if a, ok := aliases[resource]; ok {
		return a, nil
	}
	// The vault's 401 challenge names https://{dns-suffix}:{port}: the official
	// key client checks that the resource is a parent of the vault's host:port.
	if suffix := strings.ToLower(s.opts.VaultDNSSuffix); suffix != "" {
		if u, err := url.Parse(resource); err == nil && u.Scheme == "https" && u.Path == "" && u.Hostname() == suffix {
			return AudienceVault, nil
		}
	}
	return "", fmt.Errorf("%w: no API is known as %q; use https://vault.azure.net, https://management.azure.com, https://monitor.azure.com or https://api.loganalytics.io", ErrInvalidScope, resource)
}

// Claims are what a Sealwatch access token asserts.
type Claims struct {
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	AppID    string   `json:"appid"`
	Roles    []string `json:"roles,omitempty"`
	Version  string   `json:"ver"`
	jwt.RegisteredClaims
}

// HasRole reports whether the token grants role.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// Token is an issued access token.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
}

// IssueToken authenticates a client and signs a token for the API its scope
// names.
func (s *Service) IssueToken(ctx context.Context, tenant, clientID, secret, scope string) (*Token, error) {
	if !strings.EqualFold(tenant, s.tenant) {
		return nil, fmt.Errorf("%w: tenant %q is not served here; use tenant %s", ErrUnknownTenant, tenant, s.tenant)
	}
	aud, err := s.AudienceForScope(scope)
	if err != nil {
		return nil, err
	}
	p, err := s.Authenticate(ctx, clientID, secret)
	if err != nil {
		return nil, err
	}
	return s.sign(p, aud)
}

// IssueTokensFor authenticates a client once and signs one token for each of
// auds, in order: what a browser session holds, so that each API it calls
// verifies the very token it would verify from the client itself.
func (s *Service) IssueTokensFor(ctx context.Context, clientID, secret string, auds ...Audience) (*Principal, []*Token, error) {
	p, err := s.Authenticate(ctx, clientID, secret)
	if err != nil {
		return nil, nil, err
	}
	toks := make([]*Token, 0, len(auds))
	for _, aud := range auds {
		t, err := s.sign(p, aud)
		if err != nil {
			return nil, nil, err
		}
		toks = append(toks, t)
	}
	return p, toks, nil
}

func (s *Service) sign(p *Principal, aud Audience) (*Token, error) {
	now := s.opts.Now().UTC().Truncate(time.Second)
	exp := now.Add(s.opts.TokenLifetime)
	claims := Claims{
		TenantID: s.tenant,
		ObjectID: p.ObjectID,
		AppID:    p.AppID,
		Roles:    p.Roles,
		Version:  "2.0",
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.IssuerURL(),
			Subject:   p.ObjectID,
			Audience:  jwt.ClaimStrings{string(aud)},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = s.signers[0].kid
	raw, err := t.SignedString(s.signers[0].key)
	if err != nil {
		return nil, fmt.Errorf("identity: sign token: %w", err)
	}
	return &Token{AccessToken: raw, ExpiresAt: exp}, nil
}

// clockSkew is how far apart our clock and the issuer's may be.
const clockSkew = 30 * time.Second

// Verify checks a bearer token for API aud: signature, issuer, audience,
// lifetime, and that its principal still exists (a deleted application's
// tokens stop working at once). A trusted issuer's token is accepted for the
// key vault API only, with its own tenant, and grants no roles here; whether
// its principal still exists is that issuer's to say, through the token's
// lifetime.
func (s *Service) Verify(ctx context.Context, raw string, aud Audience) (*Claims, error) {
	if raw == "" {
		return nil, ErrTokenMissing
	}
	c, err := s.verifySignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	if len(c.Audience) != 1 || Audience(c.Audience[0]) != aud {
		return nil, fmt.Errorf("%w: this API accepts tokens for %s, but the token is for %v; ask for scope %s/.default", ErrWrongAudience, aud, []string(c.Audience), aud)
	}
	if ik, foreign := s.trusted[c.Issuer]; foreign {
		if aud != AudienceVault {
			return nil, fmt.Errorf("%w: tokens of trusted issuer %s are accepted by the key vault API only", ErrTokenInvalid, c.Issuer)
		}
		if !strings.EqualFold(c.TenantID, ik.cfg.TenantID) {
			return nil, fmt.Errorf("%w: a token of %s names tenant %q", ErrTokenInvalid, c.Issuer, c.TenantID)
		}
		return c, nil
	}
	if c.TenantID != s.tenant {
		return nil, fmt.Errorf("%w: token names tenant %q", ErrTokenInvalid, c.TenantID)
	}
	switch found, err := s.exists(ctx, c.ObjectID); {
	case err != nil:
		return nil, err
	case !found:
		return nil, fmt.Errorf("%w: object ID %s", ErrPrincipalGone, c.ObjectID)
	}
	return c, nil
}

// verifySignature parses raw and checks its signature, issuer and lifetime.
// A token that passed once is remembered (by its hash) until it expires: an
// ECDSA verification costs more than the rest of a vault unwrap, and a client
// sends the same token for an hour. The lifetime is checked on every call.
func (s *Service) verifySignature(ctx context.Context, raw string) (*Claims, error) {
	sum := sha256.Sum256([]byte(raw))
	now := s.opts.Now()
	if c, ok := s.verified.get(sum); ok {
		if now.After(c.ExpiresAt.Add(clockSkew)) {
			s.verified.drop(sum)
			return nil, fmt.Errorf("%w: get a new token from %s/oauth2/v2.0/token", ErrTokenExpired, s.AuthorityURL())
		}
		return c, nil
	}
	c := new(Claims)
	_, err := jwt.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		iss, _ := t.Claims.GetIssuer()
		if iss == s.IssuerURL() {
			i := slices.IndexFunc(s.signers, func(sg *signer) bool { return sg.kid == kid })
			if t.Method != jwt.SigningMethodES256 || i < 0 {
				return nil, fmt.Errorf("unknown signing key %q", kid)
			}
			return &s.signers[i].key.PublicKey, nil
		}
		ik, ok := s.trusted[iss]
		if !ok {
			return nil, errUntrustedIssuer
		}
		return ik.key(ctx, kid, now)
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg(), jwt.SigningMethodRS256.Alg()}),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(s.opts.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, fmt.Errorf("%w: get a new token from %s/oauth2/v2.0/token", ErrTokenExpired, s.AuthorityURL())
	case errors.Is(err, ErrIssuerUnreachable):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %s", ErrTokenInvalid, tokenErrorReason(err))
	}
	if c.Issuer != s.IssuerURL() {
		c.Roles = nil // another tenant's roles mean nothing here
	}
	s.verified.put(sum, c)
	return c, nil
}

// verifiedTokens remembers tokens whose signature checked. It is bounded; when
// full it starts over, which costs only re-verification.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[32]byte]*Claims
}

const maxVerifiedTokens = 4096

func (v *verifiedTokens) get(k [32]byte) (*Claims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.m[k]
	return c, ok
}

func (v *verifiedTokens) put(k [32]byte, c *Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = make(map[[32]byte]*Claims)
	}
	v.m[k] = c
}

func (v *verifiedTokens) drop(k [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, k)
}

// tokenErrorReason names what was wrong with a token without echoing any of it.
func tokenErrorReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is not a well-formed JWT"
	case errors.Is(err, errUntrustedIssuer):
		return "the token was issued by an issuer this service does not trust"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signature does not verify against this issuer's keys"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token was issued by another issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim"
	default:
		return "the token could not be validated"
	}
}

// signer is the tenant's token-signing key.
type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

// plainKeyFile keeps the signing keys in a 0600 file at the name's path.
type plainKeyFile struct{}

func (plainKeyFile) LoadOrCreate(_ context.Context, path string, create func() ([]byte, error)) ([]byte, error) {
	data, err := os.ReadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return data, err
	}
	if data, err = create(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity: create key directory: %w", err)
	}
	return data, os.WriteFile(path, data, 0o600)
}

// loadOrCreateSigners reads the signing keys kept under name, making the
// first on first use. They are PEM blocks, the key that signs first: a
// rotation puts a new key in front and keeps the previous one, whose
// tokens still verify, until they have expired.
func loadOrCreateSigners(ctx context.Context, keys KeyStore, name string) ([]*signer, error) {
	pemBytes, err := keys.LoadOrCreate(ctx, name, newSigningKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("identity: signing key: %w", err)
	}
	var signers []*signer
	for rest := pemBytes; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: parse signing key %d of %s: %w", len(signers)+1, name, err)
		}
		key, ok := parsed.(*ecdsa.PrivateKey)
		if !ok || key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("identity: signing key %d of %s is not an ECDSA P-256 key", len(signers)+1, name)
		}
		signers = append(signers, newSigner(key))
	}
	if len(signers) == 0 {
		return nil, fmt.Errorf("identity: %s holds no PEM block", name)
	}
	return signers, nil
}

func newSigningKeyPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSigner(key *ecdsa.PrivateKey) *signer {
	jwk := publicJWK(&key.PublicKey, "")
	// RFC 7638 thumbprint: the required members in lexicographic order.
	canon := fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, jwk.Crv, jwk.Kty, jwk.X, jwk.Y)
	sum := sha256.Sum256([]byte(canon))
	return &signer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// JWK is a public signing key as published in the JWKS.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func publicJWK(pub *ecdsa.PublicKey, kid string) JWK {
	b64 := base64.RawURLEncoding.EncodeToString
	raw, _ := pub.Bytes() // uncompressed point: 0x04 || X || Y
	size := (len(raw) - 1) / 2
	return JWK{Kty: "EC", Use: "sig", Alg: "ES256", Kid: kid, Crv: "P-256", X: b64(raw[1 : 1+size]), Y: b64(raw[1+size:])}
}

// JWKS is the key set relying parties verify tokens with: every signing
// key, the previous ones too, whose tokens may not have expired yet.
func (s *Service) JWKS() map[string][]JWK {
	keys := make([]JWK, 0, len(s.signers))
	for _, sg := range s.signers {
		keys = append(keys, publicJWK(&sg.key.PublicKey, sg.kid))
	}
	return map[string][]JWK{"keys": keys}
}

// OpenIDConfiguration is the discovery document at
// /{tenant}/v2.0/.well-known/openid-configuration.
func (s *Service) OpenIDConfiguration() map[string]any {
	base := s.AuthorityURL()
	return map[string]any{
		"issuer":                                base + "/v2.0",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      []string{"iss", "aud", "tid", "oid", "appid", "iat", "nbf", "exp", "sub", "roles"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "sealwatch",
	}
}
