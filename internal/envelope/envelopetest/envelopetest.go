// Package envelopetest is an in-memory envelope.Keys for the stores' tests:
// real AES-256-GCM object keys derived with HKDF, account keys that can be
// rotated, revoked and restored, and counters of what a store asked for.
package envelopetest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// ErrRevoked stands for the keyring's revoked error.
var ErrRevoked = errors.New("test keyring: key revoked")

// Keys is an envelope.Keys whose account keys live in memory.
type Keys struct {
	prefix  string
	mu      sync.Mutex
	keys    map[string][]byte
	current string

	revoked atomic.Bool
	calls   atomic.Int64 // Current and ByID
	opens   atomic.Int64 // AEAD Open calls
}

var _ envelope.Keys = (*Keys)(nil)

// New returns Keys with one account key, named prefix-1.
func New(prefix string) *Keys {
	k := &Keys{prefix: prefix, keys: make(map[string][]byte)}
	k.Rotate()
	return k
}

// Rotate makes a new account key current; the old ones stay readable by ID.
func (k *Keys) Rotate() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := fmt.Sprintf("%s-%d", k.prefix, len(k.keys)+1)
	key := make([]byte, 32)
	rand.Read(key)
	k.keys[id], k.current = key, id
	return id
}

// CurrentID is the ID of the current account key.
func (k *Keys) CurrentID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current
}

// Revoke makes every call fail with ErrRevoked, as a revoked keyring does,
// including AEAD on sealers handed out before; Restore undoes it.
func (k *Keys) Revoke()       { k.revoked.Store(true) }
func (k *Keys) Restore()      { k.revoked.Store(false) }
func (k *Keys) Revoked() bool { return k.revoked.Load() }
func (k *Keys) Calls() int64  { return k.calls.Load() } // Current and ByID calls
func (k *Keys) Opens() int64  { return k.opens.Load() } // decryptions
func (k *Keys) ResetOpens()   { k.opens.Store(0) }
func (k *Keys) ResetCalls()   { k.calls.Store(0) }

// Current returns the current account key.
func (k *Keys) Current(ctx context.Context) (envelope.Sealer, error) {
	return k.ByID(ctx, k.CurrentID())
}

// ByID returns the account key id.
func (k *Keys) ByID(_ context.Context, id string) (envelope.Sealer, error) {
	k.calls.Add(1)
	if k.revoked.Load() {
		return nil, fmt.Errorf("account key %s: %w", id, ErrRevoked)
	}
	k.mu.Lock()
	key, ok := k.keys[id]
	k.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("account key %s: unknown", id)
	}
	return sealer{k: k, id: id, key: key}, nil
}

type sealer struct {
	k   *Keys
	id  string
	key []byte
}

func (s sealer) KeyID() string { return s.id }

func (s sealer) AEAD(salt []byte, purpose string) (cipher.AEAD, error) {
	if s.k.revoked.Load() {
		return nil, fmt.Errorf("account key %s: %w", s.id, ErrRevoked)
	}
	ok, err := hkdf.Key(sha256.New, s.key, salt, purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ok)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return countingAEAD{gcm, &s.k.opens}, nil
}

type countingAEAD struct {
	cipher.AEAD
	opens *atomic.Int64
}

func (c countingAEAD) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	c.opens.Add(1)
	return c.AEAD.Open(dst, nonce, ciphertext, aad)
}

// Material returns copies of every account key's bytes, for tests that
// search the disk for them.
func (k *Keys) Material() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([][]byte, 0, len(k.keys))
	for _, key := range k.keys {
		out = append(out, append([]byte(nil), key...))
	}
	return out
}
