package keyring

import (
	"context"
	"errors"
	"fmt"
)

// Errors callers must tell apart. Drivers return them wrapped with the
// operation and the key URI (never key bytes or tokens); the API layer maps
// them to HTTP in one place.
var (
	// ErrKeyRevoked: the customer took access away — the key or its version
	// is disabled or deleted, or the caller's permission was removed
	// (401/403/404). → 403 CustomerManagedKeyInaccessible.
	ErrKeyRevoked = errors.New("customer-managed key revoked")
	// ErrAccessDenied: the key service refused the caller a permission its
	// access policy does not grant (a 403 AccessDenied). It is a revocation
	// — errors.Is(err, ErrKeyRevoked) holds — told apart from a disabled or
	// deleted key so that a refusal can name the missing permission.
	ErrAccessDenied = fmt.Errorf("the key's access policy does not grant the caller this operation: %w", ErrKeyRevoked)
	// ErrSignInRefused: the key service refused the caller's own credential
	// (its sign-in, access key or PIN), not the key. A revocation for the
	// caller, and only for the caller: among nodes sharing their checks, a
	// node whose credential alone is refused refuses on its own, and does
	// not publish it as the key's state (shared.go).
	ErrSignInRefused = fmt.Errorf("the key service refused the caller's credential: %w", ErrKeyRevoked)
	// ErrKeyUnreachable: the key service could not answer — network error,
	// timeout, 429, 5xx. Never treated as a revocation.
	ErrKeyUnreachable = errors.New("key service unreachable")
	// ErrLocked: the key service stayed unreachable past the grace period, so
	// the keyring failed closed and dropped its keys. → 503 KeyVaultUnreachable.
	ErrLocked = errors.New("customer-managed key unreachable past the grace period; account keys locked")
	// ErrIntegrity: a wrapped account key or its registry record is damaged,
	// or unwrapped to bytes that are not the account key it claims to be.
	// Never a wrong key: the keyring refuses instead.
	ErrIntegrity = errors.New("wrapped account key failed its integrity check")
	// ErrWrongKEK: the wrapping names a key other than the one this KEK is,
	// so it was not sent to the key service.
	ErrWrongKEK = errors.New("account key is wrapped by another key-encryption key")
	// ErrNotRecoverable: the key is not protected by soft delete and purge
	// protection, and the keyring was told to require it.
	ErrNotRecoverable = errors.New("key-encryption key is not recoverable (turn on soft delete and purge protection)")
	// ErrUnknownAccountKey: an object names an account key this keyring does
	// not hold (another cluster's, or a damaged envelope).
	ErrUnknownAccountKey = errors.New("unknown account key")
	// ErrClosed: the keyring was closed.
	ErrClosed = errors.New("keyring closed")
	// ErrNoRing: the registry holds no ring to open (Config.Existing): its
	// cluster was deleted, or its key never set.
	ErrNoRing = errors.New("the key registry holds no such ring")
)

// KEK is one customer key (key-encryption key) in one key service: Sealwatch's
// vault, Azure Key Vault, a cloud KMS, an HSM. Implementations must be safe for
// concurrent use, and map the service's failures onto the typed errors:
//
//   - the key or the version a wrapping names is disabled, deleted,
//     destroyed or scheduled for deletion, or the caller's access was
//     removed: ErrKeyRevoked (ErrAccessDenied when the service says a
//     permission is missing). Permanent until the customer acts.
//   - a wrapping that is damaged, or that this key's named version did not
//     make: ErrIntegrity; a wrapping that names another provider or key, so
//     that it is not sent: ErrWrongKEK. Never other bytes.
//   - the service could not answer (network, timeout, throttling, 5xx, a
//     module or token gone): ErrKeyUnreachable, never ErrKeyRevoked.
//
// Errors name the operation and the key URI, never key bytes, PINs,
// secrets or tokens. Package kekconformance is this contract as a test
// suite; every driver passes it against its real service.
type KEK interface {
	// Wrap wraps a 32-byte account key with the key's current version (or
	// the pinned one) and names that exact version in Wrapped.KeyURI, as
	// Describe names it in KeyState.KeyURI.
	Wrap(ctx context.Context, aek []byte) (Wrapped, error)
	// Unwrap unwraps with exactly w.KeyURI's version, never "latest".
	Unwrap(ctx context.Context, w Wrapped) ([]byte, error)
	// Describe tells the version Wrap would use now and whether it is
	// enabled and recoverable.
	Describe(ctx context.Context) (KeyState, error)
}

// Wrapped is an account key wrapped by one KEK version. It is self-describing
// (rule 3): the provider, the key URI with its version, and the algorithm.
type Wrapped struct {
	Provider   string `json:"provider"`  // "keyvault", "aws-kms", "pkcs11", "platform", "kektest"
	KeyURI     string `json:"keyUri"`    // with version, e.g. https://v.vault.azure.net/keys/cmk/0123...
	Algorithm  string `json:"algorithm"` // RSA-OAEP-256, A256KW or AES-KWP
	Ciphertext []byte `json:"ciphertext"`
}

// Algorithms the drivers use.
const (
	AlgRSAOAEP256 = "RSA-OAEP-256"
	AlgA256KW     = "A256KW"
	// AlgAESKWP is AES key wrap with padding (RFC 5649), as PKCS#11's
	// CKM_AES_KEY_WRAP_PAD does it.
	AlgAESKWP = "AES-KWP"
)

// KeyState is what a key service says about a key now.
type KeyState struct {
	Provider string
	// Key names the key without a version; two KEKs with the same Key are
	// versions of one key (rotation), different Keys are a replacement.
	Key string
	// KeyURI is the version Wrap uses now (the latest, or the pinned one).
	KeyURI  string
	Version string
	Enabled bool
	// Recoverable: soft delete and purge protection are on, so the key can
	// be neither lost by mistake nor purged before its retention ends.
	Recoverable   bool
	RecoveryLevel string
}
