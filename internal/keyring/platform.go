package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/keywrap"
)

// ProviderPlatform names wrappings made by a PlatformKEK.
const ProviderPlatform = "platform"

// PlatformKEK is the key-encryption key of workspaces without a
// customer-managed key: a local AES-256 key that wraps account keys with
// A256KW, so that their data is sealed all the same and nothing is ever
// stored unsealed. It has one version and cannot be revoked; it is as safe as
// the file (or the root key) it comes from.
type PlatformKEK struct {
	key   string // platform://local/keys/<fingerprint>
	uri   string // key + "/1"
	block cipher.Block
}

var _ KEK = (*PlatformKEK)(nil)

// NewPlatformKEK uses a 32-byte key the caller holds, such as one derived
// from the node's root key. The bytes are copied into the cipher and may be
// zeroed by the caller afterwards.
func NewPlatformKEK(key []byte) (*PlatformKEK, error) {
	if len(key) != aekSize {
		return nil, fmt.Errorf("platform key is %d bytes, want %d", len(key), aekSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	// The fingerprint tells platform keys apart without revealing them: a
	// registry opened with another platform key fails with ErrWrongKEK.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("sealwatch/keyring/platform-kek-id/v1"))
	id := "platform://local/keys/" + hex.EncodeToString(m.Sum(nil)[:16])
	return &PlatformKEK{key: id, uri: id + "/1", block: block}, nil
}

// Wrap wraps aek with A256KW.
func (p *PlatformKEK) Wrap(_ context.Context, aek []byte) (Wrapped, error) {
	ct, err := keywrap.Wrap(p.block, aek)
	if err != nil {
		return Wrapped{}, err
	}
	return Wrapped{Provider: ProviderPlatform, KeyURI: p.uri, Algorithm: AlgA256KW, Ciphertext: ct}, nil
}

// Unwrap unwraps what this key wrapped; anything else is ErrWrongKEK.
func (p *PlatformKEK) Unwrap(_ context.Context, w Wrapped) ([]byte, error) {
	if w.Provider != ProviderPlatform || w.KeyURI != p.uri {
		return nil, fmt.Errorf("platform key %s cannot unwrap a wrapping by %s %s: %w", p.uri, w.Provider, w.KeyURI, ErrWrongKEK)
	}
	if w.Algorithm != AlgA256KW {
		return nil, fmt.Errorf("platform key %s: algorithm %q: %w", p.uri, w.Algorithm, ErrIntegrity)
	}
	pt, err := keywrap.Unwrap(p.block, w.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("platform key %s: %w", p.uri, ErrIntegrity)
	}
	return pt, nil
}

// Describe reports the one version, always enabled. It is not recoverable
// in the key-vault sense: losing the file loses the data.
func (p *PlatformKEK) Describe(context.Context) (KeyState, error) {
	return KeyState{Provider: ProviderPlatform, Key: p.key, KeyURI: p.uri, Version: "1", Enabled: true, RecoveryLevel: "Purgeable"}, nil
}
