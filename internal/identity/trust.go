package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrIssuerUnreachable means a trusted issuer's signing keys could not be
// read, so its token can be neither accepted nor refused: try again later.
var ErrIssuerUnreachable = errors.New("token issuer unreachable")

// errUntrustedIssuer is the key lookup's refusal of an iss it does not know.
var errUntrustedIssuer = errors.New("untrusted issuer")

// TrustedIssuer is another identity service whose tokens this one accepts
// for the key vault API, and for nothing else: a customer's vault serving the
// cluster identities of an operator's workspace node, each in its own trust
// domain. Its signing keys are read from its OpenID metadata when first
// needed and again when a token names a key not seen yet.
type TrustedIssuer struct {
	// Issuer is the iss claim its tokens carry, such as
	// https://ops.example:8443/{tenant}/v2.0; the metadata is read from
	// Issuer/.well-known/openid-configuration.
	Issuer string
	// TenantID is the tid its tokens must carry. Access policies name its
	// principals by this tenant and their object IDs, so a trusted issuer
	// can never speak for this service's own principals.
	TenantID string
	// Client reaches the issuer; nil uses http.DefaultClient.
	Client *http.Client
}

// keyRefreshInterval bounds how often an unknown key ID makes the service
// read a trusted issuer's keys again, so that forged key IDs cannot turn it
// into a request amplifier.
const keyRefreshInterval = 30 * time.Second

// issuerKeys caches one trusted issuer's signing keys.
type issuerKeys struct {
	cfg TrustedIssuer

	mu        sync.Mutex
	keys      map[string]crypto.PublicKey
	fetchedAt time.Time
}

func newIssuerKeys(t TrustedIssuer) (*issuerKeys, error) {
	t.Issuer = strings.TrimRight(t.Issuer, "/")
	if !strings.HasPrefix(t.Issuer, "https://") || t.TenantID == "" {
		return nil, fmt.Errorf("identity: a trusted issuer needs an https issuer URL and a tenant ID (got %q, %q)", t.Issuer, t.TenantID)
	}
	if t.Client == nil {
		t.Client = http.DefaultClient
	}
	return &issuerKeys{cfg: t}, nil
}

// key returns the public key kid names, reading the issuer's key set when
// the key is not known yet and the last read is not too recent.
func (ik *issuerKeys) key(ctx context.Context, kid string, now time.Time) (crypto.PublicKey, error) {
	ik.mu.Lock()
	defer ik.mu.Unlock()
	if k, ok := ik.keys[kid]; ok {
		return k, nil
	}
	if !ik.fetchedAt.IsZero() && now.Sub(ik.fetchedAt) < keyRefreshInterval {
		return nil, fmt.Errorf("issuer %s has no signing key %q", ik.cfg.Issuer, kid)
	}
	keys, err := ik.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: read the signing keys of %s: %v", ErrIssuerUnreachable, ik.cfg.Issuer, err)
	}
	ik.keys, ik.fetchedAt = keys, now
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("issuer %s has no signing key %q", ik.cfg.Issuer, kid)
}

func (ik *issuerKeys) fetch(ctx context.Context) (map[string]crypto.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := ik.getJSON(ctx, ik.cfg.Issuer+"/.well-known/openid-configuration", &meta); err != nil {
		return nil, err
	}
	if meta.Issuer != ik.cfg.Issuer {
		return nil, fmt.Errorf("its metadata names issuer %q", meta.Issuer)
	}
	if !strings.HasPrefix(meta.JWKSURI, "https://") {
		return nil, fmt.Errorf("its metadata names no https jwks_uri")
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := ik.getJSON(ctx, meta.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := make(map[string]crypto.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		kid, pub, err := parseVerificationKey(raw)
		if err != nil {
			continue // a key of a kind we do not verify with cannot sign a token we accept
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("its key set holds no EC P-256 or RSA signing key")
	}
	return keys, nil
}

func (ik *issuerKeys) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := ik.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// parseVerificationKey reads one JWK of a key set: EC P-256 or RSA of at
// least 2048 bits, meant for signatures.
func parseVerificationKey(raw []byte) (string, crypto.PublicKey, error) {
	var k struct {
		Kty, Use, Kid, Crv, X, Y, N, E string
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", nil, err
	}
	if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
		return "", nil, errors.New("not a signing key")
	}
	b64 := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "EC":
		if k.Crv != "P-256" {
			return "", nil, errors.New("unsupported curve")
		}
		x, errX := b64(k.X)
		y, errY := b64(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return "", nil, errors.New("bad EC point")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return "", nil, err
		}
		return k.Kid, pub, nil
	case "RSA":
		n, errN := b64(k.N)
		e, errE := b64(k.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
			return "", nil, errors.New("bad RSA key")
		}
		mod, exp := new(big.Int).SetBytes(n), int(new(big.Int).SetBytes(e).Int64())
		if mod.BitLen() < 2048 || exp < 3 || exp%2 == 0 {
			return "", nil, errors.New("RSA key too weak")
		}
		return k.Kid, &rsa.PublicKey{N: mod, E: exp}, nil
	}
	return "", nil, errors.New("unsupported key type")
}
