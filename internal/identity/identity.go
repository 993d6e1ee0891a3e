// Package identity names every caller: it keeps the tenant's principals (applications
// and managed identities, with secrets stored only as Argon2id hashes), issues
// OAuth2 client-credentials access tokens as ES256-signed JWTs for one API audience
// each, and verifies them.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Errors that callers tell apart. Every one of them means "not authenticated";
// the distinction is for the message and the OAuth2 error code.
var (
	ErrInvalidClient  = errors.New("invalid client credentials")   // unknown client or wrong secret
	ErrUnknownTenant  = errors.New("unknown tenant")               // token request for another tenant
	ErrInvalidScope   = errors.New("invalid scope")                // scope names no API we serve
	ErrTokenMissing   = errors.New("access token missing")         // no bearer token on the request
	ErrTokenExpired   = errors.New("access token expired")         // exp in the past, or nbf in the future
	ErrTokenInvalid   = errors.New("access token invalid")         // malformed, bad signature, wrong issuer
	ErrWrongAudience  = errors.New("access token for another API") // aud is not this API
	ErrPrincipalGone  = errors.New("principal no longer exists")   // deleted after the token was issued
	ErrNotFound       = errors.New("principal not found")
	ErrInvalidRequest = errors.New("invalid request")
)

// Kind tells applications, which people create, from managed identities, which
// services create for themselves (a cluster's system-assigned identity).
type Kind string

const (
	KindApplication     Kind = "Application"
	KindManagedIdentity Kind = "ManagedIdentity"
)

// Tenant-wide roles a principal may hold.
const (
	// RoleOwner may manage the tenant's resources: principals, vaults, clusters.
	RoleOwner = "Owner"
	// RoleMonitoringReader may read the node's metrics and nothing else: the
	// role of a Prometheus scraper.
	RoleMonitoringReader = "MonitoringReader"
)

// Principal is one caller. ObjectID is what access policies name; AppID is the
// client ID it authenticates with.
type Principal struct {
	ObjectID    string    `json:"objectId"`
	AppID       string    `json:"appId"`
	DisplayName string    `json:"displayName"`
	Kind        Kind      `json:"kind"`
	Roles       []string  `json:"roles,omitempty"`
	CreatedAt   time.Time `json:"createdDateTime"`
}

// HasRole reports whether p holds role.
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// storedPrincipal is the on-disk form: the principal and its secret's hash.
type storedPrincipal struct {
	Principal
	SecretHash []byte     `json:"secretHash"`
	SecretSalt []byte     `json:"secretSalt"`
	KDF        argonParam `json:"kdf"`
}

// argonParam records the Argon2id cost a hash was made with, so the cost can be
// raised later without invalidating existing secrets.
type argonParam struct {
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"`
	Threads uint8  `json:"p"`
}

// defaultArgon follows the OWASP minimum for Argon2id (19 MiB, 2 passes): a
// token request costs ~20 ms of CPU, which a client pays once an hour.
var defaultArgon = argonParam{Time: 2, Memory: 19 * 1024, Threads: 1}

var (
	bucketMeta       = []byte("identity.meta")
	bucketPrincipals = []byte("identity.principals")
	bucketAppIDs     = []byte("identity.appids")
	keyTenant        = []byte("tenant")
)

// Options configures a Service.
type Options struct {
	// Issuer is the base URL of the token service, e.g. https://127.0.0.1:8443;
	// tokens carry iss = Issuer/{tenant}/v2.0.
	Issuer string
	// VaultDNSSuffix is the suffix vault hosts live under (vault.localhost); a
	// scope of https://{suffix}/.default asks for a vault token, since that is the
	// resource the vault's 401 challenge names.
	VaultDNSSuffix string
	// TokenLifetime defaults to one hour.
	TokenLifetime time.Duration
	// TrustedIssuers are other identity services whose tokens the key vault
	// API accepts (see TrustedIssuer).
	TrustedIssuers []TrustedIssuer
	// Now defaults to time.Now; tests move time with it.
	Now    func() time.Time
	Logger *slog.Logger
	// Keys keeps the signing keys: a node passes its sealed store (package
	// nodeseal), which nodes sharing their databases share; nil keeps them
	// in a plain 0600 file.
	Keys KeyStore

	argon argonParam // tests lower the cost
}

// Service holds the tenant's principals and its token-signing key.
type Service struct {
	db     kv.DB
	tenant string
	// signers are the tenant's signing keys, the one that signs first; the
	// others still verify the tokens they signed (a rotation's previous key).
	signers  []*signer
	opts     Options
	verified verifiedTokens
	trusted  map[string]*issuerKeys // by issuer URL
}

// KeyStore is where the signing keys are kept (see Options.Keys).
type KeyStore interface {
	// LoadOrCreate returns what is kept under name, storing what create
	// returns when nothing is; of services sharing the store that ask at
	// once, all get what one of them stored.
	LoadOrCreate(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)
}

// New opens the identity service on db, creating the tenant on first use. The
// signing keys are kept under signingKeyName in opts.Keys (the path of a
// file, without Keys): PEM private keys, the one that signs first.
func New(db kv.DB, signingKeyName string, opts Options) (*Service, error) {
	if opts.Issuer == "" {
		return nil, errors.New("identity: issuer URL is required")
	}
	opts.Issuer = strings.TrimRight(opts.Issuer, "/")
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.argon == (argonParam{}) {
		opts.argon = defaultArgon
	}
	if opts.Keys == nil {
		opts.Keys = plainKeyFile{}
	}
	// Opening has no caller's context: it runs once, at start-up.
	signers, err := loadOrCreateSigners(context.Background(), opts.Keys, signingKeyName)
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, signers: signers, opts: opts, trusted: make(map[string]*issuerKeys)}
	for _, t := range opts.TrustedIssuers {
		ik, err := newIssuerKeys(t)
		if err != nil {
			return nil, err
		}
		for _, other := range s.trusted {
			// Access policies name a principal by tenant and object ID: two
			// issuers for one tenant could each speak for the other's principals.
			if strings.EqualFold(other.cfg.TenantID, ik.cfg.TenantID) {
				return nil, fmt.Errorf("identity: trusted issuers %s and %s name the same tenant %s; trust one issuer per tenant", other.cfg.Issuer, ik.cfg.Issuer, ik.cfg.TenantID)
			}
		}
		s.trusted[ik.cfg.Issuer] = ik
	}
	// Opening has no caller's context: it runs once, at start-up.
	err = db.Update(context.Background(), func(tx kv.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketPrincipals, bucketAppIDs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if t := meta.Get(keyTenant); t != nil {
			s.tenant = string(t)
			return nil
		}
		s.tenant = uuid.NewString()
		return meta.Put(keyTenant, []byte(s.tenant))
	})
	if err != nil {
		return nil, fmt.Errorf("identity: open store: %w", err)
	}
	for _, ik := range s.trusted {
		if strings.EqualFold(ik.cfg.TenantID, s.tenant) || ik.cfg.Issuer == s.IssuerURL() {
			return nil, fmt.Errorf("identity: trusted issuer %s is this service itself", ik.cfg.Issuer)
		}
	}
	return s, nil
}

// TrustedTenants are the tenants of the trusted issuers, whose principals
// may be named in a vault's access policies.
func (s *Service) TrustedTenants() []string {
	out := make([]string, 0, len(s.trusted))
	for _, ik := range s.trusted {
		out = append(out, ik.cfg.TenantID)
	}
	return out
}

// TenantID is the one tenant this service issues tokens for.
func (s *Service) TenantID() string { return s.tenant }

// IssuerURL is the iss claim of every token: {issuer}/{tenant}/v2.0.
func (s *Service) IssuerURL() string { return s.opts.Issuer + "/" + s.tenant + "/v2.0" }

// AuthorityURL is where clients ask for tokens: {issuer}/{tenant}. It is what
// a 401 challenge names.
func (s *Service) AuthorityURL() string { return s.opts.Issuer + "/" + s.tenant }

// CreateApplication registers an application and returns it with its client
// secret, which is shown only this once.
func (s *Service) CreateApplication(ctx context.Context, displayName string, roles ...string) (*Principal, string, error) {
	return s.create(ctx, KindApplication, displayName, roles)
}

// CreateManagedIdentity registers a service's own identity (a cluster's
// system-assigned identity). The service keeps the secret to obtain tokens.
func (s *Service) CreateManagedIdentity(ctx context.Context, displayName string) (*Principal, string, error) {
	return s.create(ctx, KindManagedIdentity, displayName, nil)
}

func (s *Service) create(ctx context.Context, kind Kind, displayName string, roles []string) (*Principal, string, error) {
	if err := validDisplayName(displayName); err != nil {
		return nil, "", err
	}
	for _, r := range roles {
		if r != RoleOwner && r != RoleMonitoringReader {
			return nil, "", fmt.Errorf("%w: unknown role %q (roles are %q and %q)", ErrInvalidRequest, r, RoleOwner, RoleMonitoringReader)
		}
	}
	secret, sp, err := s.newSecret()
	if err != nil {
		return nil, "", err
	}
	sp.Principal = Principal{
		ObjectID:    uuid.NewString(),
		AppID:       uuid.NewString(),
		DisplayName: displayName,
		Kind:        kind,
		Roles:       roles,
		CreatedAt:   s.opts.Now().UTC().Truncate(time.Second),
	}
	if err := s.put(ctx, sp, true); err != nil {
		return nil, "", err
	}
	s.opts.Logger.Info("principal created", "objectId", sp.ObjectID, "appId", sp.AppID, "kind", kind)
	p := sp.Principal
	return &p, secret, nil
}

// ResetSecret replaces a principal's secret; the old one stops working at once.
func (s *Service) ResetSecret(ctx context.Context, id string) (*Principal, string, error) {
	sp, err := s.lookup(ctx, id)
	if err != nil {
		return nil, "", err
	}
	secret, fresh, err := s.newSecret()
	if err != nil {
		return nil, "", err
	}
	sp.SecretHash, sp.SecretSalt, sp.KDF = fresh.SecretHash, fresh.SecretSalt, fresh.KDF
	if err := s.put(ctx, sp, false); err != nil {
		return nil, "", err
	}
	s.opts.Logger.Info("principal secret reset", "objectId", sp.ObjectID, "appId", sp.AppID)
	p := sp.Principal
	return &p, secret, nil
}

// Delete removes a principal; tokens it already holds stop working at once.
func (s *Service) Delete(ctx context.Context, id string) error {
	sp, err := s.lookup(ctx, id)
	if err != nil {
		return err
	}
	err = s.db.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Bucket(bucketPrincipals).Delete([]byte(sp.ObjectID)); err != nil {
			return err
		}
		return tx.Bucket(bucketAppIDs).Delete([]byte(sp.AppID))
	})
	if err != nil {
		return fmt.Errorf("identity: delete principal: %w", err)
	}
	s.opts.Logger.Info("principal deleted", "objectId", sp.ObjectID, "appId", sp.AppID)
	return nil
}

// Get finds a principal by object ID or app (client) ID.
func (s *Service) Get(ctx context.Context, id string) (*Principal, error) {
	sp, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	p := sp.Principal
	return &p, nil
}

// List returns every principal, applications first, each group by name.
func (s *Service) List(ctx context.Context) ([]Principal, error) {
	var out []Principal
	err := s.db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket(bucketPrincipals).ForEach(func(_, v []byte) error {
			var sp storedPrincipal
			if err := json.Unmarshal(v, &sp); err != nil {
				return err
			}
			out = append(out, sp.Principal)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("identity: list principals: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		if out[i].DisplayName != out[j].DisplayName {
			return out[i].DisplayName < out[j].DisplayName
		}
		return out[i].ObjectID < out[j].ObjectID
	})
	return out, nil
}

// Authenticate checks a client ID and secret. Unknown client and wrong secret
// give the same error after the same work, so a caller cannot probe for IDs.
func (s *Service) Authenticate(ctx context.Context, clientID, secret string) (*Principal, error) {
	sp, err := s.lookup(ctx, clientID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err // the database failed: no answer about the client, which ErrInvalidClient would give
	}
	if err != nil || sp.AppID != clientID {
		// Burn the same Argon2id cost as a real check.
		hashSecret(secret, make([]byte, 16), s.opts.argon)
		return nil, fmt.Errorf("%w: client %q is unknown or its secret is wrong", ErrInvalidClient, clientID)
	}
	got := hashSecret(secret, sp.SecretSalt, sp.KDF)
	if subtle.ConstantTimeCompare(got, sp.SecretHash) != 1 {
		return nil, fmt.Errorf("%w: client %q is unknown or its secret is wrong", ErrInvalidClient, clientID)
	}
	p := sp.Principal
	return &p, nil
}

func (s *Service) newSecret() (string, *storedPrincipal, error) {
	raw := make([]byte, 30)
	salt := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(salt); err != nil {
		return "", nil, err
	}
	// The prefix lets secret scanners recognise a leaked Sealwatch secret.
	secret := "sws~" + base64.RawURLEncoding.EncodeToString(raw)
	return secret, &storedPrincipal{
		SecretHash: hashSecret(secret, salt, s.opts.argon),
		SecretSalt: salt,
		KDF:        s.opts.argon,
	}, nil
}

func hashSecret(secret string, salt []byte, p argonParam) []byte {
	return argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, 32)
}

func (s *Service) put(ctx context.Context, sp *storedPrincipal, isNew bool) error {
	buf, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	err = s.db.Update(ctx, func(tx kv.Tx) error {
		if isNew && tx.Bucket(bucketPrincipals).Get([]byte(sp.ObjectID)) != nil {
			return fmt.Errorf("object ID %s already exists", sp.ObjectID)
		}
		if err := tx.Bucket(bucketPrincipals).Put([]byte(sp.ObjectID), buf); err != nil {
			return err
		}
		return tx.Bucket(bucketAppIDs).Put([]byte(sp.AppID), []byte(sp.ObjectID))
	})
	if err != nil {
		return fmt.Errorf("identity: store principal: %w", err)
	}
	return nil
}

// exists reports whether a principal has object ID or app ID id, as lookup
// finds it, without decoding its record: Verify asks it on every request and
// needs nothing more.
func (s *Service) exists(ctx context.Context, id string) (bool, error) {
	var found bool
	err := s.db.View(ctx, func(tx kv.Tx) error {
		key := []byte(id)
		found = tx.Bucket(bucketPrincipals).Get(key) != nil
		if !found {
			if oid := tx.Bucket(bucketAppIDs).Get(key); oid != nil {
				found = tx.Bucket(bucketPrincipals).Get(oid) != nil
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("identity: read principal: %w", err)
	}
	return found, nil
}

// lookup finds a principal by object ID or app ID.
func (s *Service) lookup(ctx context.Context, id string) (*storedPrincipal, error) {
	var sp *storedPrincipal
	err := s.db.View(ctx, func(tx kv.Tx) error {
		v := tx.Bucket(bucketPrincipals).Get([]byte(id))
		if v == nil {
			if oid := tx.Bucket(bucketAppIDs).Get([]byte(id)); oid != nil {
				v = tx.Bucket(bucketPrincipals).Get(oid)
			}
		}
		if v == nil {
			return nil
		}
		sp = new(storedPrincipal)
		return json.Unmarshal(v, sp)
	})
	if err != nil {
		return nil, fmt.Errorf("identity: read principal: %w", err)
	}
	if sp == nil {
		return nil, fmt.Errorf("%w: no principal has object or client ID %q", ErrNotFound, id)
	}
	return sp, nil
}

func validDisplayName(name string) error {
	if name == "" || len(name) > 120 {
		return fmt.Errorf("%w: display name must be 1-120 characters", ErrInvalidRequest)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: display name must not contain control characters", ErrInvalidRequest)
		}
	}
	return nil
}
