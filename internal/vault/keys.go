package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/keyevents"
)

// Key types. The -HSM spellings are accepted as aliases that behave the same:
// there is no HSM here, but clients written for the cloud ask for them.
const (
	KtyRSA    = "RSA"
	KtyRSAHSM = "RSA-HSM"
	KtyOct    = "oct"
	KtyOctHSM = "oct-HSM"
)

func isOct(kty string) bool { return kty == KtyOct || kty == KtyOctHSM }

func canonicalKty(kty string) (string, error) {
	for _, k := range []string{KtyRSA, KtyRSAHSM, KtyOct, KtyOctHSM} {
		if strings.EqualFold(k, kty) {
			return k, nil
		}
	}
	return "", badParam(InnerInvalidValue, "key type '%s' is not supported; use RSA (2048, 3072 or 4096 bits) or oct (256 bits)", printable(kty))
}

type keyRecord struct {
	Name    string        `json:"name"` // as first created; storage keys are lowercase
	Latest  string        `json:"latest"`
	Created time.Time     `json:"created"`
	Deleted *deletion     `json:"deleted,omitempty"`
	Policy  *policyRecord `json:"policy,omitempty"`
}

// versionRecord is one key version's public half and attributes; the sealed
// private half lives in bucketMaterial so that the hot path reads less.
type versionRecord struct {
	Version   string            `json:"version"`
	Kty       string            `json:"kty"`
	Bits      int               `json:"bits"`
	KeyOps    []string          `json:"keyOps"`
	N         []byte            `json:"n,omitempty"` // RSA modulus: public
	E         int               `json:"e,omitempty"` // RSA public exponent
	Enabled   bool              `json:"enabled"`
	NotBefore *int64            `json:"nbf,omitempty"`
	Expires   *int64            `json:"exp,omitempty"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	Tags      map[string]string `json:"tags,omitempty"`
}

// materialAAD binds a sealed private key to its vault, key and version, so a
// blob copied onto another record fails to open. Every part is length-prefixed,
// so no two different triples produce the same bytes.
func materialAAD(vault, key, version string) []byte {
	var b []byte
	for _, part := range []string{"sealwatch/vault/key/v1", strings.ToLower(vault), strings.ToLower(key), version} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b
}

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// newKey is a version about to be stored: its record and private material.
type newKey struct {
	rec      versionRecord
	material []byte // PKCS#1 DER or AES key; sealed before it is stored
}

// CreateKey creates a key, or a new version of an existing key (as the cloud
// does). A name that is soft-deleted is refused with Conflict /
// ObjectIsDeletedButRecoverable.
func (s *Service) CreateKey(ctx context.Context, vault, name string, p CreateKeyParameters) (*KeyBundle, error) {
	if err := validateKeyName(name); err != nil {
		return nil, err
	}
	kty, err := canonicalKty(p.Kty)
	if err != nil {
		return nil, err
	}
	if p.Curve != "" {
		return nil, badParam(InnerInvalidValue, "elliptic-curve keys are not supported; use RSA or oct")
	}
	bits := 2048
	if isOct(kty) {
		bits = 256
	}
	if p.KeySize != nil {
		bits = *p.KeySize
	}
	switch {
	case isOct(kty) && bits != 256:
		return nil, badParam(InnerInvalidValue, "key_size %d is not supported for oct keys; use 256", bits)
	case !isOct(kty) && bits != 2048 && bits != 3072 && bits != 4096:
		return nil, badParam(InnerInvalidValue, "key_size %d is not supported for RSA keys; use 2048, 3072 or 4096", bits)
	case p.PublicExponent != nil && (isOct(kty) || *p.PublicExponent != 65537):
		return nil, badParam(InnerInvalidValue, "public_exponent must be 65537 for RSA keys and absent for oct keys")
	}
	nk, err := s.prepareVersion(kty, p.KeyOps, p.Attributes, p.Tags)
	if err != nil {
		return nil, err
	}
	// Refuse before generating: a 4096-bit key takes seconds. storeVersion
	// checks again in its transaction.
	if err := s.checkCreatable(ctx, vault, name); err != nil {
		return nil, err
	}
	if err := generateMaterial(&nk, bits); err != nil {
		return nil, err
	}
	return s.storeVersion(ctx, vault, name, nk, "", "created")
}

// ImportKey imports a JWK as a new key or a new version. The private half is
// required: a vault that cannot unwrap is of no use to the keyring.
func (s *Service) ImportKey(ctx context.Context, vault, name string, p ImportKeyParameters) (*KeyBundle, error) {
	if err := validateKeyName(name); err != nil {
		return nil, err
	}
	parsed, err := parseImportJWK(p.Key)
	if err != nil {
		return nil, err
	}
	kty := parsed.kty
	if p.HSM != nil && *p.HSM && !strings.HasSuffix(kty, "-HSM") {
		kty += "-HSM"
	}
	nk, err := s.prepareVersion(kty, p.Key.KeyOps, p.Attributes, p.Tags)
	if err != nil {
		return nil, err
	}
	nk.rec.Bits, nk.material = parsed.bits, parsed.material
	if parsed.rsa != nil {
		nk.rec.N, nk.rec.E = parsed.rsa.N.Bytes(), parsed.rsa.E
	}
	return s.storeVersion(ctx, vault, name, nk, "", "imported")
}

// checkCreatable refuses a new version in a missing vault or under a
// soft-deleted name.
func (s *Service) checkCreatable(ctx context.Context, vault, name string) error {
	return s.db.View(ctx, func(tx kv.Tx) error {
		if _, err := liveVault(tx, vault); err != nil {
			return err
		}
		var krec keyRecord
		found, err := getJSON(tx.Bucket(bucketKeys), keyID(vault, name), &krec)
		if err == nil && found && krec.Deleted != nil {
			err = deletedNameConflict(krec.Name)
		}
		return err
	})
}

func deletedNameConflict(name string) error {
	return conflict(InnerObjectIsDeletedButRecoverable,
		"key '%s' is currently in a deleted but recoverable state, and its name cannot be reused; "+
			"recover it with `sealwatch keyvault key recover --name %s` or purge it with `sealwatch keyvault key purge --name %s`",
		name, name, name)
}

// prepareVersion validates what create and import share.
func (s *Service) prepareVersion(kty string, ops []string, attrs *KeyAttributes, tags map[string]string) (newKey, error) {
	keyOps, err := canonicalKeyOps(kty, ops)
	if err != nil {
		return newKey{}, err
	}
	if err := validateTags(tags); err != nil {
		return newKey{}, err
	}
	now := s.now()
	rec := versionRecord{Version: newVersionID(), Kty: kty, KeyOps: keyOps, Enabled: true, Created: now, Updated: now, Tags: tags}
	if attrs != nil {
		if attrs.Enabled != nil {
			rec.Enabled = *attrs.Enabled
		}
		rec.NotBefore, rec.Expires = attrs.NotBefore, attrs.Expires
	}
	if err := checkValidity(rec.NotBefore, rec.Expires); err != nil {
		return newKey{}, err
	}
	return newKey{rec: rec}, nil
}

func checkValidity(nbf, exp *int64) error {
	if nbf != nil && exp != nil && *exp <= *nbf {
		return badParam(InnerInvalidValue, "the expiry (exp %d) must be later than the activation date (nbf %d)", *exp, *nbf)
	}
	return nil
}

// generateMaterial makes fresh key material of nk's type and size.
func generateMaterial(nk *newKey, bits int) error {
	nk.rec.Bits = bits
	if isOct(nk.rec.Kty) {
		nk.material = make([]byte, 32)
		_, _ = rand.Read(nk.material)
		return nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return fmt.Errorf("generate RSA-%d key: %w", bits, err)
	}
	nk.rec.N, nk.rec.E = priv.N.Bytes(), priv.E
	nk.material = x509.MarshalPKCS1PrivateKey(priv)
	return nil
}

// storeVersion seals and stores a new version and makes it the latest. With
// rotateFrom set (rotation), the key must exist and its latest version must
// still be rotateFrom, so two rotations racing each other make one version.
func (s *Service) storeVersion(ctx context.Context, vault, name string, nk newKey, rotateFrom string, verb string) (*KeyBundle, error) {
	aad := materialAAD(vault, name, nk.rec.Version)
	sealed, err := s.root.Seal(nk.material, aad)
	clear(nk.material)
	if err != nil {
		return nil, internalError(InnerKeyMaterialIntegrity, "the key material could not be sealed", err)
	}
	var out *KeyBundle
	var vrec *vaultRecord
	var keyName string
	err = s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		vrec, err = liveVault(tx, vault)
		if err != nil {
			return err
		}
		keys := tx.Bucket(bucketKeys)
		var krec keyRecord
		found, err := getJSON(keys, keyID(vault, name), &krec)
		if err != nil {
			return err
		}
		switch {
		case found && krec.Deleted != nil && rotateFrom == "":
			return deletedNameConflict(krec.Name)
		case rotateFrom != "" && (!found || krec.Deleted != nil):
			return keyNotFound(name, "")
		case rotateFrom != "" && krec.Latest != rotateFrom:
			return errRotationRaced
		case !found:
			krec = keyRecord{Name: name, Created: nk.rec.Created}
		}
		krec.Latest = nk.rec.Version
		if err := putJSON(keys, keyID(vault, name), &krec); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketVersions), versionID(vault, name, nk.rec.Version), &nk.rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMaterial).Put(versionID(vault, name, nk.rec.Version), sealed); err != nil {
			return err
		}
		out, keyName = s.bundle(vrec, &krec, &nk.rec), krec.Name
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("key "+verb, "vault", vrec.Name, "key", out.Key.KID, "keyVersion", nk.rec.Version,
		"kty", nk.rec.Kty, "bits", nk.rec.Bits)
	s.emitKey(keyevents.KeyNewVersionCreated, vrec, keyName, nk.rec.Version, &nk.rec)
	return out, nil
}

func (s *Service) keyURI(vault, name string) string { return s.VaultURI(vault) + "keys/" + name }

func (s *Service) attributes(v *vaultRecord, rec *versionRecord) KeyAttributes {
	enabled, created, updated, days := rec.Enabled, rec.Created.Unix(), rec.Updated.Unix(), v.RetentionDays
	return KeyAttributes{
		Enabled: &enabled, NotBefore: rec.NotBefore, Expires: rec.Expires, Created: &created, Updated: &updated,
		RecoveryLevel: v.recoveryLevel(), RecoverableDays: &days,
	}
}

func (s *Service) bundle(v *vaultRecord, k *keyRecord, rec *versionRecord) *KeyBundle {
	jwk := JSONWebKey{KID: s.keyURI(v.Name, k.Name) + "/" + rec.Version, Kty: rec.Kty, KeyOps: slices.Clone(rec.KeyOps)}
	if !isOct(rec.Kty) {
		jwk.N, jwk.E = rec.N, big.NewInt(int64(rec.E)).Bytes()
	}
	return &KeyBundle{Key: jwk, Attributes: s.attributes(v, rec), Tags: rec.Tags}
}

// keyState is what a read of one key version found.
type keyState struct {
	vault *vaultRecord
	key   *keyRecord
	ver   *versionRecord
}

// loadKey reads a live key's version ("" = latest) in tx. A deleted key is
// not found, as in the cloud; the message says it can be recovered.
func loadKey(tx kv.Tx, vault, name, version string) (keyState, error) {
	if err := validateKeyName(name); err != nil {
		return keyState{}, err
	}
	if err := validateVersion(name, version); err != nil {
		return keyState{}, err
	}
	vrec, err := liveVault(tx, vault)
	if err != nil {
		return keyState{}, err
	}
	var krec keyRecord
	found, err := getJSON(tx.Bucket(bucketKeys), keyID(vault, name), &krec)
	if err != nil {
		return keyState{}, err
	}
	if !found {
		return keyState{}, keyNotFound(name, version)
	}
	if krec.Deleted != nil {
		return keyState{}, newError(fault.NotFound, CodeKeyNotFound, "",
			"key '%s' is deleted; recover it with `sealwatch keyvault key recover --name %s` to use it again", krec.Name, krec.Name)
	}
	if version == "" {
		version = krec.Latest
	}
	var ver versionRecord
	found, err = getJSON(tx.Bucket(bucketVersions), versionID(vault, name, version), &ver)
	if err != nil {
		return keyState{}, err
	}
	if !found {
		return keyState{}, keyNotFound(krec.Name, version)
	}
	return keyState{vault: vrec, key: &krec, ver: &ver}, nil
}

// GetKey returns a key's version, or its latest version when version is "".
func (s *Service) GetKey(ctx context.Context, vault, name, version string) (*KeyBundle, error) {
	var out *KeyBundle
	err := s.db.View(ctx, func(tx kv.Tx) error {
		st, err := loadKey(tx, vault, name, version)
		if err != nil {
			return err
		}
		out = s.bundle(st.vault, st.key, st.ver)
		return nil
	})
	return out, err
}

// ListKeys returns the latest version of every live key, sorted by name
// (case-insensitively), with versionless kids. It returns them all; the HTTP
// layer pages the slice with maxresults and a nextLink.
func (s *Service) ListKeys(ctx context.Context, vault string) ([]KeyItem, error) {
	out := []KeyItem{}
	err := s.db.View(ctx, func(tx kv.Tx) error {
		vrec, err := liveVault(tx, vault)
		if err != nil {
			return err
		}
		return eachKey(tx, vault, func(krec *keyRecord, latest *versionRecord) {
			if krec.Deleted == nil {
				out = append(out, s.keyItem(vrec, krec, latest))
			}
		})
	})
	return out, err
}

// keyItem is a key's listing entry: its versionless kid and its latest
// version's attributes and tags.
func (s *Service) keyItem(v *vaultRecord, k *keyRecord, latest *versionRecord) KeyItem {
	return KeyItem{KID: s.keyURI(v.Name, k.Name), Attributes: s.attributes(v, latest), Tags: latest.Tags}
}

// eachKey visits every key record of a vault, with its latest version.
func eachKey(tx kv.Tx, vault string, fn func(*keyRecord, *versionRecord)) error {
	prefix := append(vaultID(vault), '/')
	c := tx.Bucket(bucketKeys).Cursor()
	for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
		var krec keyRecord
		var ver versionRecord
		if raw == nil {
			continue
		}
		if err := json.Unmarshal(raw, &krec); err != nil {
			return fmt.Errorf("decode record %q: %w", k, err)
		}
		if _, err := getJSON(tx.Bucket(bucketVersions), versionID(vault, krec.Name, krec.Latest), &ver); err != nil {
			return err
		}
		fn(&krec, &ver)
	}
	return nil
}

// ListKeyVersions returns every version of a live key, oldest first (by
// creation time, then version ID).
func (s *Service) ListKeyVersions(ctx context.Context, vault, name string) ([]KeyItem, error) {
	var out []KeyItem
	err := s.db.View(ctx, func(tx kv.Tx) error {
		st, err := loadKey(tx, vault, name, "")
		if err != nil {
			return err
		}
		versions, err := allVersions(tx, vault, name)
		if err != nil {
			return err
		}
		out = make([]KeyItem, 0, len(versions))
		for _, v := range versions {
			out = append(out, KeyItem{KID: s.keyURI(st.vault.Name, st.key.Name) + "/" + v.Version,
				Attributes: s.attributes(st.vault, &v), Tags: v.Tags})
		}
		return nil
	})
	return out, err
}

func allVersions(tx kv.Tx, vault, name string) ([]versionRecord, error) {
	var out []versionRecord
	prefix := versionPrefix(vault, name)
	c := tx.Bucket(bucketVersions).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var v versionRecord
		if _, err := getJSON(tx.Bucket(bucketVersions), k, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b versionRecord) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out, nil
}

// UpdateKey changes a version's attributes, key_ops and tags; absent fields
// stay. version "" means the latest. The version's opened material is
// dropped from memory, so a disabled version holds nothing there.
func (s *Service) UpdateKey(ctx context.Context, vault, name, version string, p UpdateKeyParameters) (*KeyBundle, error) {
	if p.Tags != nil {
		if err := validateTags(p.Tags); err != nil {
			return nil, err
		}
	}
	var out *KeyBundle
	var before, after bool
	var ver string
	var st keyState
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		st, err = loadKey(tx, vault, name, version)
		if err != nil {
			return err
		}
		v := st.ver
		before, ver = v.Enabled, v.Version
		if p.KeyOps != nil {
			if v.KeyOps, err = canonicalKeyOps(v.Kty, p.KeyOps); err != nil {
				return err
			}
		}
		if a := p.Attributes; a != nil {
			if a.Enabled != nil {
				v.Enabled = *a.Enabled
			}
			if a.NotBefore != nil {
				v.NotBefore = a.NotBefore
			}
			if a.Expires != nil {
				v.Expires = a.Expires
			}
		}
		if p.Tags != nil {
			v.Tags = p.Tags
		}
		if err := checkValidity(v.NotBefore, v.Expires); err != nil {
			return err
		}
		after = v.Enabled
		v.Updated = s.now()
		out = s.bundle(st.vault, st.key, v)
		return putJSON(tx.Bucket(bucketVersions), versionID(vault, name, v.Version), v)
	})
	if err != nil {
		return nil, err
	}
	s.cache.drop(string(versionID(vault, name, ver)))
	if before != after {
		s.log.Info("key version enabled changed", "vault", vault, "key", name, "keyVersion", ver, "enabled", after)
		ev := keyevents.KeyDisabled
		if after {
			ev = keyevents.KeyEnabled
		}
		s.emitKey(ev, st.vault, st.key.Name, ver, st.ver)
	} else {
		s.log.Info("key version updated", "vault", vault, "key", name, "keyVersion", ver)
	}
	return out, nil
}

var errRotationRaced = newError(fault.Conflict, CodeConflict, "ConcurrentRotation",
	"the key was rotated concurrently; read its latest version again")

// RotateKey makes a new version with the latest version's type, size,
// key_ops and tags. When the key's rotation policy has an expiryTime, the new
// version expires that long after its creation.
func (s *Service) RotateKey(ctx context.Context, vault, name string) (*KeyBundle, error) {
	return s.rotate(ctx, vault, name, "")
}

// rotate rotates name; with expectLatest set, only if that is still the
// latest version (the scheduler's guard against rotating twice).
func (s *Service) rotate(ctx context.Context, vault, name, expectLatest string) (*KeyBundle, error) {
	var nk newKey
	var expiry string
	err := s.db.View(ctx, func(tx kv.Tx) error {
		st, err := loadKey(tx, vault, name, "")
		if err != nil {
			return err
		}
		if expectLatest != "" && st.key.Latest != expectLatest {
			return errRotationRaced
		}
		now := s.now()
		nk.rec = versionRecord{Version: newVersionID(), Kty: st.ver.Kty, Bits: st.ver.Bits, KeyOps: st.ver.KeyOps,
			Enabled: true, Created: now, Updated: now, Tags: st.ver.Tags}
		expectLatest = st.key.Latest
		if st.key.Policy != nil {
			expiry = st.key.Policy.ExpiryTime
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if expiry != "" {
		d, err := parseISODuration(expiry)
		if err != nil {
			return nil, err
		}
		exp := d.addTo(nk.rec.Created).Unix()
		nk.rec.Expires = &exp
	}
	if err := generateMaterial(&nk, nk.rec.Bits); err != nil {
		return nil, err
	}
	return s.storeVersion(ctx, vault, name, nk, expectLatest, "rotated")
}

// DeleteKey soft-deletes a key with all its versions. It stays recoverable
// until the vault's retention period has passed.
func (s *Service) DeleteKey(ctx context.Context, vault, name string) (*DeletedKeyBundle, error) {
	var out *DeletedKeyBundle
	var st keyState
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		st, err = loadKey(tx, vault, name, "")
		if err != nil {
			return err
		}
		now := s.now()
		st.key.Deleted = &deletion{Date: now, ScheduledPurge: now.AddDate(0, 0, st.vault.RetentionDays)}
		out = s.deletedBundle(st)
		return putJSON(tx.Bucket(bucketKeys), keyID(vault, name), st.key)
	})
	if err != nil {
		return nil, err
	}
	s.cache.dropPrefix(string(versionPrefix(vault, name)))
	s.log.Info("key deleted", "vault", vault, "key", name, "scheduledPurgeDate", time.Unix(out.ScheduledPurgeDate, 0).UTC())
	s.emitKey(keyevents.KeyDeleted, st.vault, st.key.Name, "", nil)
	return out, nil
}

func (s *Service) deletedBundle(st keyState) *DeletedKeyBundle {
	return &DeletedKeyBundle{
		KeyBundle:          *s.bundle(st.vault, st.key, st.ver),
		RecoveryID:         s.VaultURI(st.vault.Name) + "deletedkeys/" + st.key.Name,
		DeletedDate:        st.key.Deleted.Date.Unix(),
		ScheduledPurgeDate: st.key.Deleted.ScheduledPurge.Unix(),
	}
}

// loadDeletedKey reads a soft-deleted key and its latest version.
func loadDeletedKey(tx kv.Tx, vault, name string) (keyState, error) {
	if err := validateKeyName(name); err != nil {
		return keyState{}, err
	}
	vrec, err := liveVault(tx, vault)
	if err != nil {
		return keyState{}, err
	}
	var krec keyRecord
	found, err := getJSON(tx.Bucket(bucketKeys), keyID(vault, name), &krec)
	if err != nil {
		return keyState{}, err
	}
	if !found || krec.Deleted == nil {
		return keyState{}, deletedKeyNotFound(name)
	}
	var ver versionRecord
	if _, err := getJSON(tx.Bucket(bucketVersions), versionID(vault, name, krec.Latest), &ver); err != nil {
		return keyState{}, err
	}
	return keyState{vault: vrec, key: &krec, ver: &ver}, nil
}

// GetDeletedKey returns a soft-deleted key.
func (s *Service) GetDeletedKey(ctx context.Context, vault, name string) (*DeletedKeyBundle, error) {
	var out *DeletedKeyBundle
	err := s.db.View(ctx, func(tx kv.Tx) error {
		st, err := loadDeletedKey(tx, vault, name)
		if err != nil {
			return err
		}
		out = s.deletedBundle(st)
		return nil
	})
	return out, err
}

// ListDeletedKeys returns the vault's soft-deleted keys sorted by name; like
// ListKeys it returns them all for the HTTP layer to page.
func (s *Service) ListDeletedKeys(ctx context.Context, vault string) ([]DeletedKeyItem, error) {
	out := []DeletedKeyItem{}
	err := s.db.View(ctx, func(tx kv.Tx) error {
		vrec, err := liveVault(tx, vault)
		if err != nil {
			return err
		}
		return eachKey(tx, vault, func(krec *keyRecord, latest *versionRecord) {
			if krec.Deleted != nil {
				out = append(out, DeletedKeyItem{
					KeyItem:            s.keyItem(vrec, krec, latest),
					RecoveryID:         s.VaultURI(vrec.Name) + "deletedkeys/" + krec.Name,
					DeletedDate:        krec.Deleted.Date.Unix(),
					ScheduledPurgeDate: krec.Deleted.ScheduledPurge.Unix(),
				})
			}
		})
	})
	return out, err
}

// RecoverDeletedKey brings a soft-deleted key back with all its versions.
func (s *Service) RecoverDeletedKey(ctx context.Context, vault, name string) (*KeyBundle, error) {
	var out *KeyBundle
	var st keyState
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		st, err = loadDeletedKey(tx, vault, name)
		if err != nil {
			return err
		}
		st.key.Deleted = nil
		out = s.bundle(st.vault, st.key, st.ver)
		return putJSON(tx.Bucket(bucketKeys), keyID(vault, name), st.key)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("key recovered", "vault", vault, "key", name)
	s.emitKey(keyevents.KeyRecovered, st.vault, st.key.Name, "", nil)
	return out, nil
}

// PurgeDeletedKey deletes a soft-deleted key for good. Under purge protection
// that is refused until its scheduled purge date (the purge scheduler then
// does it).
func (s *Service) PurgeDeletedKey(ctx context.Context, vault, name string) error {
	var st keyState
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		st, err = loadDeletedKey(tx, vault, name)
		if err != nil {
			return err
		}
		if st.vault.PurgeProtection && s.now().Before(st.key.Deleted.ScheduledPurge) {
			return forbidden(InnerPurgeProtectionEnabled,
				"operation \"purge\" is not allowed on key '%s' because purge protection is enabled for vault '%s'; "+
					"the key is purged automatically after %s, or recover it with `sealwatch keyvault key recover --name %s`",
				st.key.Name, st.vault.Name, st.key.Deleted.ScheduledPurge.Format(time.RFC3339), st.key.Name)
		}
		return purgeKeyTx(tx, vault, name)
	})
	if err != nil {
		return err
	}
	s.cache.dropPrefix(string(versionPrefix(vault, name)))
	s.log.Info("key purged", "vault", vault, "key", name)
	s.emitKey(keyevents.KeyPurged, st.vault, st.key.Name, "", nil)
	return nil
}

func purgeKeyTx(tx kv.Tx, vault, name string) error {
	if err := tx.Bucket(bucketKeys).Delete(keyID(vault, name)); err != nil {
		return err
	}
	return deletePrefix(tx, versionPrefix(vault, name), bucketVersions, bucketMaterial)
}
