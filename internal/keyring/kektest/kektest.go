// Package kektest is an in-process key service for tests: one customer key
// whose versions a test can rotate, disable, delete, deny, slow down or make
// unreachable, answering with the keyring's typed errors the way the Key
// Vault driver maps HTTP answers, and counting its calls. It also has a
// clock that tests advance by hand.
package kektest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keywrap"
)

// Provider names wrappings made by this package.
const Provider = "kektest"

// KEK is one key of the test service, following its latest version or
// pinned to one (see Pin). Views made by Pin share the key's versions, its
// switches and its counters.
type KEK struct {
	svc    *service
	pinned string
}

var _ keyring.KEK = (*KEK)(nil)

type service struct {
	name string
	key  string // kektest://<name>/keys/<name>

	mu          sync.Mutex
	versions    []*version // creation order; the last is the latest
	deleted     bool
	denied      bool
	unreachable bool
	recoverable bool
	delay       time.Duration

	wraps, unwraps, describes atomic.Int64
}

type version struct {
	id      string
	block   cipher.Block
	enabled bool
}

// New makes a key named name with one enabled version, recoverable.
func New(name string) *KEK {
	s := &service{name: name, key: "kektest://" + name + "/keys/" + name, recoverable: true}
	s.addVersion()
	return &KEK{svc: s}
}

func (s *service) addVersion() string {
	raw := make([]byte, 32)
	idb := make([]byte, 16)
	rand.Read(raw)
	rand.Read(idb)
	block, _ := aes.NewCipher(raw)
	clear(raw)
	v := &version{id: hex.EncodeToString(idb), block: block, enabled: true}
	s.versions = append(s.versions, v)
	return v.id
}

// Pin returns a view of the same key that wraps with version v.
func (k *KEK) Pin(v string) *KEK { return &KEK{svc: k.svc, pinned: v} }

// Rotate adds a new version, which becomes the latest; old versions still
// unwrap what they wrapped.
func (k *KEK) Rotate() string {
	k.svc.mu.Lock()
	defer k.svc.mu.Unlock()
	return k.svc.addVersion()
}

// Latest is the newest version.
func (k *KEK) Latest() string {
	k.svc.mu.Lock()
	defer k.svc.mu.Unlock()
	return k.svc.versions[len(k.svc.versions)-1].id
}

// Key is the versionless key URI; KeyURI names one version.
func (k *KEK) Key() string              { return k.svc.key }
func (k *KEK) KeyURI(v string) string   { return k.svc.key + "/" + v }
func (k *KEK) SetDelay(d time.Duration) { k.set(func(s *service) { s.delay = d }) }

// SetEnabled enables or disables version v, or every version when v is "".
func (k *KEK) SetEnabled(v string, enabled bool) {
	k.set(func(s *service) {
		for _, ver := range s.versions {
			if v == "" || ver.id == v {
				ver.enabled = enabled
			}
		}
	})
}

// Delete soft-deletes the key (every call answers as not found); Recover
// brings it back.
func (k *KEK) Delete()  { k.set(func(s *service) { s.deleted = true }) }
func (k *KEK) Recover() { k.set(func(s *service) { s.deleted = false }) }

// Deny removes the caller's permission (403); Allow restores it.
func (k *KEK) Deny()  { k.set(func(s *service) { s.denied = true }) }
func (k *KEK) Allow() { k.set(func(s *service) { s.denied = false }) }

// SetUnreachable makes every call fail as if the network were down.
func (k *KEK) SetUnreachable(down bool) { k.set(func(s *service) { s.unreachable = down }) }

// SetRecoverable says whether Describe reports soft delete and purge protection.
func (k *KEK) SetRecoverable(r bool) { k.set(func(s *service) { s.recoverable = r }) }

func (k *KEK) set(f func(*service)) {
	k.svc.mu.Lock()
	defer k.svc.mu.Unlock()
	f(k.svc)
}

// Calls counts the calls made to the key since New or ResetCalls, failed ones included.
type Calls struct{ Wrap, Unwrap, Describe int64 }

// Total is the number of calls of any kind.
func (c Calls) Total() int64 { return c.Wrap + c.Unwrap + c.Describe }

func (k *KEK) Calls() Calls {
	return Calls{Wrap: k.svc.wraps.Load(), Unwrap: k.svc.unwraps.Load(), Describe: k.svc.describes.Load()}
}

func (k *KEK) ResetCalls() {
	k.svc.wraps.Store(0)
	k.svc.unwraps.Store(0)
	k.svc.describes.Store(0)
}

// admit waits out the delay and answers what the key service would before
// looking at a version: unreachable, not found, forbidden.
func (s *service) admit(ctx context.Context, op string) error {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("kektest %s %s: %v: %w", op, s.key, ctx.Err(), keyring.ErrKeyUnreachable)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.unreachable:
		return fmt.Errorf("kektest %s %s: connection refused: %w", op, s.key, keyring.ErrKeyUnreachable)
	case s.deleted:
		return fmt.Errorf("kektest %s %s: HTTP 404 KeyNotFound: %w", op, s.key, keyring.ErrKeyRevoked)
	case s.denied:
		return fmt.Errorf("kektest %s %s: HTTP 403 Forbidden (AccessDenied): %w", op, s.key, keyring.ErrAccessDenied)
	}
	return nil
}

// find returns version v ("" = latest); s.mu must be held.
func (s *service) find(op, v string) (*version, error) {
	var ver *version
	if v == "" {
		ver = s.versions[len(s.versions)-1]
	} else {
		for _, x := range s.versions {
			if x.id == v {
				ver = x
			}
		}
	}
	if ver == nil {
		return nil, fmt.Errorf("kektest %s %s/%s: HTTP 404 KeyNotFound (no such version): %w", op, s.key, v, keyring.ErrKeyRevoked)
	}
	if !ver.enabled {
		return nil, fmt.Errorf("kektest %s %s/%s: HTTP 403 KeyDisabled: %w", op, s.key, ver.id, keyring.ErrKeyRevoked)
	}
	return ver, nil
}

// Wrap wraps with the pinned version, or the latest, using A256KW.
func (k *KEK) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	s := k.svc
	s.wraps.Add(1)
	if err := s.admit(ctx, "wrap"); err != nil {
		return keyring.Wrapped{}, err
	}
	s.mu.Lock()
	ver, err := s.find("wrap", k.pinned)
	s.mu.Unlock()
	if err != nil {
		return keyring.Wrapped{}, err
	}
	ct, err := keywrap.Wrap(ver.block, aek)
	if err != nil {
		return keyring.Wrapped{}, fmt.Errorf("kektest wrap: %w", err)
	}
	return keyring.Wrapped{Provider: Provider, KeyURI: s.key + "/" + ver.id, Algorithm: keyring.AlgA256KW, Ciphertext: ct}, nil
}

// Unwrap unwraps with exactly the version w names.
func (k *KEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	s := k.svc
	s.unwraps.Add(1)
	v, ok := strings.CutPrefix(w.KeyURI, s.key+"/")
	if w.Provider != Provider || !ok || v == "" || strings.Contains(v, "/") {
		return nil, fmt.Errorf("kektest key %s cannot unwrap a wrapping by %s %s: %w", s.key, w.Provider, w.KeyURI, keyring.ErrWrongKEK)
	}
	if err := s.admit(ctx, "unwrap"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ver, err := s.find("unwrap", v)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if w.Algorithm != keyring.AlgA256KW {
		return nil, fmt.Errorf("kektest unwrap %s: algorithm %q: %w", w.KeyURI, w.Algorithm, keyring.ErrIntegrity)
	}
	pt, err := keywrap.Unwrap(ver.block, w.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("kektest unwrap %s: HTTP 400 DecryptionFailed: %w", w.KeyURI, keyring.ErrIntegrity)
	}
	return pt, nil
}

// Describe reports the pinned or latest version. A disabled version is
// described (as Key Vault's GET does), with Enabled false.
func (k *KEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	s := k.svc
	s.describes.Add(1)
	if err := s.admit(ctx, "get"); err != nil {
		return keyring.KeyState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ver *version
	if k.pinned == "" {
		ver = s.versions[len(s.versions)-1]
	} else {
		for _, x := range s.versions {
			if x.id == k.pinned {
				ver = x
			}
		}
	}
	if ver == nil {
		return keyring.KeyState{}, fmt.Errorf("kektest get %s/%s: HTTP 404 KeyNotFound: %w", s.key, k.pinned, keyring.ErrKeyRevoked)
	}
	level := "Recoverable+Purgeable"
	if s.recoverable {
		level = "Recoverable"
	}
	return keyring.KeyState{Provider: Provider, Key: s.key, KeyURI: s.key + "/" + ver.id, Version: ver.id,
		Enabled: ver.enabled, Recoverable: s.recoverable, RecoveryLevel: level}, nil
}
