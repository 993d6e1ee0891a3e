package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"hash"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"

	"github.com/sealwatch/sealwatch/internal/keywrap"
)

// Algorithms (JWA names) the vault serves.
const (
	AlgRSAOAEP    = "RSA-OAEP"     // RSA-OAEP with SHA-1 and MGF1-SHA-1
	AlgRSAOAEP256 = "RSA-OAEP-256" // RSA-OAEP with SHA-256 and MGF1-SHA-256
	AlgA256KW     = "A256KW"       // AES key wrap, RFC 3394
	AlgA256GCM    = "A256GCM"      // AES-256-GCM, 12-byte IV, 16-byte tag
	algRSA15      = "RSA1_5"       // refused
)

// maxOperationInput caps value and aad of any operation: key operations
// protect keys, not bulk data.
const maxOperationInput = 64 << 10

const (
	gcmIVSize  = 12
	gcmTagSize = 16
)

// Wrap wraps a key (value) with the key version ("" = latest): RSA-OAEP or
// RSA-OAEP-256 for RSA keys, A256KW for oct keys.
func (s *Service) Wrap(ctx context.Context, vault, name, version string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return s.keyOperation(ctx, OpWrapKey, vault, name, version, p)
}

// Unwrap reverses Wrap. It works on a version that has expired or is not yet
// valid, so data protected while the key was valid stays readable.
func (s *Service) Unwrap(ctx context.Context, vault, name, version string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return s.keyOperation(ctx, OpUnwrapKey, vault, name, version, p)
}

// Encrypt encrypts value: RSA-OAEP(-256) for RSA keys, A256GCM for oct keys,
// where the vault picks the IV and returns iv, tag and aad with the ciphertext.
func (s *Service) Encrypt(ctx context.Context, vault, name, version string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return s.keyOperation(ctx, OpEncrypt, vault, name, version, p)
}

// Decrypt reverses Encrypt; like Unwrap it ignores nbf and exp.
func (s *Service) Decrypt(ctx context.Context, vault, name, version string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return s.keyOperation(ctx, OpDecrypt, vault, name, version, p)
}

// keyOperation runs the checks in a fixed order — the key version exists, is
// enabled, allows op, is within nbf/exp (protecting operations only), the
// algorithm fits, the sizes fit — and then the operation. Policy state is read
// fresh on every call; only the opened material is cached.
func (s *Service) keyOperation(ctx context.Context, op, vault, name, version string, p KeyOperationParameters) (*KeyOperationResult, error) {
	var st keyState
	err := s.db.View(ctx, func(tx kv.Tx) error {
		var err error
		st, err = loadKey(tx, vault, name, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	v := st.ver
	keyName := st.key.Name
	kid := s.keyURI(st.vault.Name, keyName) + "/" + v.Version
	if !v.Enabled {
		return nil, forbidden(InnerKeyDisabled,
			"operation %s is not allowed on a disabled key: key '%s' version '%s' is disabled; enable it with "+
				"PATCH %s {\"attributes\":{\"enabled\":true}} or `sealwatch keyvault key set-attributes --vault-name %s --name %s --version %s --enabled=true`",
			op, keyName, v.Version, kid, st.vault.Name, keyName, v.Version)
	}
	if !slices.Contains(v.KeyOps, op) {
		return nil, forbidden(InnerKeyOperationForbidden,
			"operation %s is not permitted by key '%s' version '%s' (its key_ops are [%s]); add it with "+
				"`sealwatch keyvault key set-attributes --vault-name %s --name %s --version %s --ops %s`",
			op, keyName, v.Version, strings.Join(v.KeyOps, ", "), st.vault.Name, keyName, v.Version, strings.Join(append(slices.Clone(v.KeyOps), op), ","))
	}
	if op == OpWrapKey || op == OpEncrypt {
		if err := checkValidNow(s.now(), keyName, v); err != nil {
			return nil, err
		}
	}
	alg, err := checkAlgorithm(op, v.Kty, p.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := checkSizes(op, alg, v, p); err != nil {
		return nil, err
	}

	res := &KeyOperationResult{KID: kid}
	switch {
	case alg == AlgRSAOAEP || alg == AlgRSAOAEP256:
		h := oaepHash(alg)
		if op == OpWrapKey || op == OpEncrypt {
			// Protecting needs only the public half, which is stored in the clear.
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(v.N), E: v.E}
			if res.Value, err = rsa.EncryptOAEP(h, rand.Reader, pub, p.Value, nil); err != nil {
				return nil, badParam(InnerInvalidValue, "the value could not be encrypted with key '%s' version '%s'", keyName, v.Version)
			}
			return res, nil
		}
		k, err := s.opened(ctx, st.vault.Name, keyName, v)
		if err != nil {
			return nil, err
		}
		if res.Value, err = rsa.DecryptOAEP(h, nil, k.rsa, p.Value, nil); err != nil {
			return nil, decryptFailed(keyName, v.Version)
		}
	case alg == AlgA256KW:
		k, err := s.opened(ctx, st.vault.Name, keyName, v)
		if err != nil {
			return nil, err
		}
		if op == OpWrapKey {
			res.Value, err = keywrap.Wrap(k.block, p.Value)
		} else {
			res.Value, err = keywrap.Unwrap(k.block, p.Value)
		}
		if err != nil {
			return nil, decryptFailed(keyName, v.Version)
		}
	case alg == AlgA256GCM:
		k, err := s.opened(ctx, st.vault.Name, keyName, v)
		if err != nil {
			return nil, err
		}
		if op == OpEncrypt {
			iv := make([]byte, gcmIVSize)
			_, _ = rand.Read(iv)
			sealed := k.gcm.Seal(nil, iv, p.Value, p.AAD)
			cut := len(sealed) - gcmTagSize
			res.Value, res.Tag, res.IV, res.AAD = sealed[:cut], sealed[cut:], iv, p.AAD
			return res, nil
		}
		ct := append(bytes.Clone(p.Value), p.Tag...)
		if res.Value, err = k.gcm.Open(nil, p.IV, ct, p.AAD); err != nil {
			return nil, decryptFailed(keyName, v.Version)
		}
	}
	return res, nil
}

// decryptFailed is the one answer to every failed unwrap or decrypt: the
// cause (padding, integrity check, tag) is deliberately not distinguished,
// so the vault is not a padding oracle.
func decryptFailed(name, version string) error {
	return badParam(InnerDecryptionFailed,
		"the ciphertext could not be decrypted with key '%s' version '%s'; check that it was produced by this key version with the same algorithm",
		name, version)
}

func checkValidNow(now time.Time, name string, v *versionRecord) error {
	if v.NotBefore != nil && now.Unix() < *v.NotBefore {
		return forbidden(InnerKeyNotYetValid,
			"key '%s' version '%s' is not valid before %s (nbf); wait until then or change nbf with `sealwatch keyvault key set-attributes`",
			name, v.Version, time.Unix(*v.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	if v.Expires != nil && now.Unix() >= *v.Expires {
		return forbidden(InnerKeyExpired,
			"key '%s' version '%s' expired at %s (exp) and can no longer protect new data (unwrap and decrypt still work); "+
				"rotate the key with `sealwatch keyvault key rotate --name %s` or extend exp",
			name, v.Version, time.Unix(*v.Expires, 0).UTC().Format(time.RFC3339), name)
	}
	return nil
}

// checkAlgorithm returns alg's canonical name after checking that it is
// served and fits the key type and operation.
func checkAlgorithm(op, kty, alg string) (string, error) {
	var canonical string
	for _, a := range []string{AlgRSAOAEP, AlgRSAOAEP256, AlgA256KW, AlgA256GCM} {
		if strings.EqualFold(a, alg) {
			canonical = a
		}
	}
	switch {
	case strings.EqualFold(alg, algRSA15):
		return "", badParam(InnerUnsupportedAlgorithm,
			"algorithm RSA1_5 is not supported: PKCS#1 v1.5 encryption padding invites padding-oracle attacks; use RSA-OAEP-256")
	case alg == "":
		return "", badParam(InnerUnsupportedAlgorithm, "an algorithm (alg) is required")
	case canonical == "":
		return "", badParam(InnerUnsupportedAlgorithm,
			"algorithm '%s' is not supported; use RSA-OAEP-256 or RSA-OAEP with RSA keys, A256KW (wrap) or A256GCM (encrypt) with oct keys",
			printable(alg))
	}
	var want []string
	switch {
	case !isOct(kty):
		want = []string{AlgRSAOAEP256, AlgRSAOAEP}
	case op == OpWrapKey || op == OpUnwrapKey:
		want = []string{AlgA256KW}
	default:
		want = []string{AlgA256GCM}
	}
	if !slices.Contains(want, canonical) {
		return "", badParam(InnerAlgorithmKeyTypeMismatch,
			"algorithm %s cannot be used for %s with a key of type %s; use %s", canonical, op, kty, strings.Join(want, " or "))
	}
	return canonical, nil
}

func oaepHash(alg string) hash.Hash {
	if alg == AlgRSAOAEP256 {
		return sha256.New()
	}
	return sha1.New()
}

// checkSizes applies each algorithm's limits before any work is done.
func checkSizes(op, alg string, v *versionRecord, p KeyOperationParameters) error {
	switch {
	case len(p.Value) == 0:
		return badParam(InnerInvalidValue, "a value is required")
	case len(p.Value) > maxOperationInput || len(p.AAD) > maxOperationInput:
		return badParam(InnerValueTooLarge, "value and aad are limited to %d bytes each", maxOperationInput)
	case alg != AlgA256GCM && (len(p.IV) > 0 || len(p.Tag) > 0 || len(p.AAD) > 0):
		return badParam(InnerInvalidValue, "iv, tag and aad apply to A256GCM only; %s takes a value alone", alg)
	}
	n := len(p.Value)
	switch alg {
	case AlgRSAOAEP, AlgRSAOAEP256:
		k := (v.Bits + 7) / 8
		if op == OpWrapKey || op == OpEncrypt {
			if limit := k - 2*oaepHash(alg).Size() - 2; n > limit {
				return badParam(InnerValueTooLarge, "%s with a %d-bit key takes at most %d bytes; %d were given", alg, v.Bits, limit, n)
			}
		} else if n != k {
			return badParam(InnerInvalidValue, "a ciphertext for a %d-bit RSA key is exactly %d bytes; %d were given", v.Bits, k, n)
		}
	case AlgA256KW:
		if op == OpWrapKey && (n%8 != 0 || n < 16) {
			return badParam(InnerInvalidValue, "A256KW wraps a multiple of 8 bytes, at least 16; %d were given", n)
		}
		if op == OpUnwrapKey && (n%8 != 0 || n < 24) {
			return badParam(InnerInvalidValue, "an A256KW-wrapped key is a multiple of 8 bytes, at least 24; %d were given", n)
		}
	case AlgA256GCM:
		if op == OpEncrypt && (len(p.IV) > 0 || len(p.Tag) > 0) {
			return badParam(InnerInvalidValue, "the vault chooses the iv for A256GCM encryption; send value and optional aad only")
		}
		if op == OpDecrypt && (len(p.IV) != gcmIVSize || len(p.Tag) != gcmTagSize) {
			return badParam(InnerInvalidValue, "A256GCM decryption needs the %d-byte iv and %d-byte tag that encryption returned", gcmIVSize, gcmTagSize)
		}
	}
	return nil
}

// opened returns a version's private half from the cache, or unseals and
// parses it. The AAD names the version, so material moved onto another
// record fails here with an integrity error.
func (s *Service) opened(ctx context.Context, vault, name string, v *versionRecord) (*openedKey, error) {
	id := string(versionID(vault, name, v.Version))
	if k := s.cache.get(id); k != nil {
		return k, nil
	}
	var sealed []byte
	err := s.db.View(ctx, func(tx kv.Tx) error {
		sealed = bytes.Clone(tx.Bucket(bucketMaterial).Get([]byte(id)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		return nil, keyNotFound(name, v.Version) // purged since the record was read
	}
	plain, err := s.root.Open(sealed, materialAAD(vault, name, v.Version))
	if err != nil {
		s.log.Error("key material failed to open", "vault", vault, "key", name, "keyVersion", v.Version, "err", err)
		return nil, internalError(InnerKeyMaterialIntegrity,
			"the stored material of key '"+name+"' version '"+v.Version+"' failed its integrity check "+
				"(tampered with, moved, or sealed under another root key); restore the vault's data from a backup", err)
	}
	defer clear(plain)
	k := &openedKey{}
	if isOct(v.Kty) {
		if k.block, err = aes.NewCipher(plain); err == nil {
			k.gcm, err = cipher.NewGCM(k.block)
		}
	} else if k.rsa, err = x509.ParsePKCS1PrivateKey(plain); err == nil {
		k.rsa.Precompute()
	}
	if err != nil {
		return nil, internalError(InnerKeyMaterialIntegrity, "the stored material of key '"+name+"' version '"+v.Version+"' is not a valid key", err)
	}
	s.cache.put(id, k)
	return k, nil
}
