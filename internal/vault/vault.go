// Package vault is Sealwatch's key vault: vaults with access policies, soft
// delete and purge protection, and versioned RSA and AES keys that wrap, unwrap,
// encrypt and decrypt without their private half ever leaving the vault or
// reaching disk unsealed. It follows the Azure Key Vault keys API's semantics
// and JSON shapes; the HTTP layer in package api exposes it.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"

	"github.com/sealwatch/sealwatch/internal/keyevents"
)

// sealer protects key material at rest; *rootkey.Key is the implementation.
// Open must fail, with an error wrapping rootkey.ErrIntegrity, when sealed or
// aad differ from what Seal saw.
type sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Options tune a Service. The zero value serves vaults at
// https://{name}.vault.localhost/ with the real clock.
type Options struct {
	// DNSSuffix is the parent domain of vault hosts; default "vault.localhost".
	DNSSuffix string
	// Port is the HTTPS port in vault URIs; 0 or 443 leaves it out.
	Port int
	// VaultURI, when set, overrides DNSSuffix and Port: it returns the base
	// URI, ending in "/", of the vault named (lowercase) name.
	VaultURI func(name string) string
	// TrustedTenants are other tenants whose principals access policies may
	// name: those of the identity service's trusted issuers, whose tokens
	// it accepts for this API.
	TrustedTenants []string
	// Now is the clock; default time.Now. Tests inject a fake one.
	Now func() time.Time
	// MinRotationInterval is the shortest timeAfterCreate and expiryTime a
	// rotation policy may have; default 7 days, as in the cloud. Demos and
	// tests lower it to use durations like PT1M.
	MinRotationInterval time.Duration
	// RotationCheckInterval and PurgeCheckInterval pace the background loops;
	// defaults one minute and one hour.
	RotationCheckInterval time.Duration
	PurgeCheckInterval    time.Duration
	// CacheSize bounds how many opened key versions are kept in memory;
	// default 256.
	CacheSize int
	// OnEvent, when set, is told of every change that can alter a
	// principal's use of a key — a new version, a version disabled or
	// enabled, a key deleted, recovered or purged, access policies changed,
	// the vault deleted — once it is committed. It must not block: the
	// vault's operation waits for it.
	OnEvent func(keyevents.Event)
	Logger  *slog.Logger
}

// Service is the key vault engine over one kv database. It is safe for
// concurrent use. Listings return every item, sorted; paging them
// (maxresults, nextLink, $skiptoken) is the HTTP layer's business.
type Service struct {
	db    kv.DB
	root  sealer
	opts  Options
	log   *slog.Logger
	cache *keyCache
}

// Bucket names; the vault shares its database file with other components.
var (
	bucketVaults   = []byte("vault.vaults")   // lower(vault) → vaultRecord
	bucketKeys     = []byte("vault.keys")     // lower(vault)/lower(key) → keyRecord
	bucketVersions = []byte("vault.versions") // lower(vault)/lower(key)/version → versionRecord
	bucketMaterial = []byte("vault.material") // lower(vault)/lower(key)/version → sealed private key
)

// New opens the vault's buckets in db, creating them on first use. The
// Service does not own db: the caller closes it after the loops have ended.
func New(db kv.DB, root sealer, opts Options) (*Service, error) {
	if db == nil {
		return nil, errors.New("vault: a database is required")
	}
	if root == nil {
		return nil, errors.New("vault: a root key is required to seal key material")
	}
	opts.DNSSuffix = strings.ToLower(strings.Trim(opts.DNSSuffix, "."))
	if opts.DNSSuffix == "" {
		opts.DNSSuffix = "vault.localhost"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinRotationInterval <= 0 {
		opts.MinRotationInterval = 7 * 24 * time.Hour
	}
	if opts.RotationCheckInterval <= 0 {
		opts.RotationCheckInterval = time.Minute
	}
	if opts.PurgeCheckInterval <= 0 {
		opts.PurgeCheckInterval = time.Hour
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		for _, b := range [][]byte{bucketVaults, bucketKeys, bucketVersions, bucketMaterial} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &Service{db: db, root: root, opts: opts, log: opts.Logger, cache: newKeyCache(opts.CacheSize)}, nil
}

// VaultURI is the data-plane base URI of a vault, ending in "/". It is
// computed, never stored, so a change of port or DNS suffix applies to every
// vault and key ID at once.
func (s *Service) VaultURI(name string) string {
	name = strings.ToLower(name)
	if s.opts.VaultURI != nil {
		return s.opts.VaultURI(name)
	}
	if s.opts.Port == 0 || s.opts.Port == 443 {
		return fmt.Sprintf("https://%s.%s/", name, s.opts.DNSSuffix)
	}
	return fmt.Sprintf("https://%s.%s:%d/", name, s.opts.DNSSuffix, s.opts.Port)
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// deletion marks a soft-deleted vault or key.
type deletion struct {
	Date           time.Time `json:"date"`
	ScheduledPurge time.Time `json:"scheduledPurge"`
}

// Storage keys. Names are case-insensitive (vault names are host labels, key
// names are case-insensitive in the cloud), so keys use the lowercase form;
// neither alphabet contains '/', which makes the separator unambiguous.
func vaultID(vault string) []byte { return []byte(strings.ToLower(vault)) }
func keyID(vault, key string) []byte {
	return []byte(strings.ToLower(vault) + "/" + strings.ToLower(key))
}
func versionPrefix(vault, key string) []byte { return append(keyID(vault, key), '/') }
func versionID(vault, key, version string) []byte {
	return append(versionPrefix(vault, key), version...)
}

func getJSON(b kv.Bucket, id []byte, v any) (bool, error) {
	raw := b.Get(id)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode record %q: %w", id, err)
	}
	return true, nil
}

func putJSON(b kv.Bucket, id []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(id, raw)
}

// emitKey tells OnEvent of a committed change to a key (version "" for the
// key as a whole).
func (s *Service) emitKey(eventType string, v *vaultRecord, key, version string, ver *versionRecord) {
	if s.opts.OnEvent == nil {
		return
	}
	id := s.keyURI(v.Name, key)
	if version != "" {
		id += "/" + version
	}
	var nbf, exp *int64
	if ver != nil {
		nbf, exp = ver.NotBefore, ver.Expires
	}
	s.opts.OnEvent(keyevents.KeyEvent(eventType, v.resourceID(), v.Name, id, key, version, nbf, exp, s.now()))
}

// emitVault tells OnEvent of a committed change to the vault as a whole.
func (s *Service) emitVault(eventType string, v *vaultRecord) {
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(keyevents.VaultEvent(eventType, v.resourceID(), v.Name, s.VaultURI(v.Name), s.now()))
	}
}
