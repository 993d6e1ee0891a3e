package kekconformance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// ring is a keyring over a driver, with one object sealed under it.
type ring struct {
	t     *testing.T
	db    *boltkv.DB
	ring  *keyring.Keyring
	keyID string
	salt  []byte
	nonce []byte
	box   []byte
}

var sealedAAD = envelope.AAD("conformance-ws", "incidents", "42")

const sealedText = "incident 42"

func openDB(t *testing.T) *boltkv.DB {
	t.Helper()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "registry.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openRing opens the keyring of cluster c1's log store in db over kek. The
// grace is long so that an unreachable service stays Unreachable.
func openRing(t *testing.T, db *boltkv.DB, kek keyring.KEK, recoverable bool) (*keyring.Keyring, error) {
	t.Helper()
	return keyring.Open(ctxFor(t), keyring.Config{DB: db, Cluster: "c1", Resource: "logs", KEK: kek,
		UnreachableGrace: time.Hour, RequireRecoverable: recoverable})
}

// newRing opens a fresh keyring over kek and seals an object under it.
func newRing(t *testing.T, kek keyring.KEK, recoverable bool) *ring {
	t.Helper()
	r := &ring{t: t, db: openDB(t), salt: make([]byte, 32), nonce: make([]byte, 12)}
	rand.Read(r.salt)
	var err error
	if r.ring, err = openRing(t, r.db, kek, recoverable); err != nil {
		t.Fatalf("open a keyring over the driver: %v", err)
	}
	t.Cleanup(func() { r.ring.Close() })
	s, err := r.ring.Current(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	r.keyID = s.KeyID()
	a, err := s.AEAD(r.salt, "doc")
	if err != nil {
		t.Fatal(err)
	}
	r.box = a.Seal(nil, r.nonce, []byte(sealedText), sealedAAD)
	return r
}

// read opens the sealed object through the keyring.
func (r *ring) read() error {
	s, err := r.ring.ByID(ctxFor(r.t), r.keyID)
	if err != nil {
		return err
	}
	a, err := s.AEAD(r.salt, "doc")
	if err != nil {
		return err
	}
	pt, err := a.Open(nil, r.nonce, r.box, sealedAAD)
	if err != nil {
		return err
	}
	if string(pt) != sealedText {
		return errors.New("the sealed object opened to other bytes")
	}
	return nil
}

func (r *ring) mustRead() {
	r.t.Helper()
	if err := r.read(); err != nil {
		r.t.Fatalf("read the sealed object: %v", err)
	}
}

// probe checks the key now and fails unless the keyring is in state want.
func (r *ring) probe(want keyring.State) {
	r.t.Helper()
	st, err := r.ring.ProbeNow(ctxFor(r.t))
	if st != want {
		r.t.Fatalf("keyring state after a probe = %s (%v), want %s", st, err, want)
	}
}

// wrappedBy fails unless every account key is wrapped by keyURI.
func (r *ring) wrappedBy(keyURI string) {
	r.t.Helper()
	for _, ak := range r.ring.AccountKeys() {
		if ak.KeyURI != keyURI {
			r.t.Fatalf("account key %s is wrapped by %s, want %s", ak.ID, ak.KeyURI, keyURI)
		}
	}
}

// reopen closes the keyring and opens its registry again over kek, as a
// restarted node does.
func (r *ring) reopen(kek keyring.KEK) error {
	r.t.Helper()
	r.ring.Close()
	k, err := openRing(r.t, r.db, kek, false)
	if err != nil {
		return err
	}
	r.ring = k
	return nil
}

// lifecycle drives a keyring over the driver through revocation, restore,
// rotation, retirement of the old version, an outage and a restart.
func (s *suite) lifecycle(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	r := newRing(t, kek, s.target.Recoverable)
	r.mustRead()

	t.Run("revoke and restore", func(t *testing.T) {
		r.t = t
		key.SetEnabled(t, false)
		r.probe(keyring.Revoked)
		if err := r.read(); !errors.Is(err, keyring.ErrKeyRevoked) {
			t.Fatalf("read while the key is disabled: %v, want ErrKeyRevoked", err)
		}
		key.SetEnabled(t, true)
		r.probe(keyring.Accessible)
		r.mustRead()
	})
	t.Run("access removed and given back", func(t *testing.T) {
		r.t = t
		key.SetAccess(t, false)
		r.probe(keyring.Revoked)
		key.SetAccess(t, true)
		r.probe(keyring.Accessible)
		r.mustRead()
	})
	t.Run("outage is unreachable, then accessible", func(t *testing.T) {
		r.t = t
		key.SetAvailable(t, false)
		r.probe(keyring.Unreachable)
		r.mustRead() // within the grace, from memory
		key.SetAvailable(t, true)
		r.probe(keyring.Accessible)
	})
	t.Run("rotation rewraps at the next probe and the old version can retire", func(t *testing.T) {
		r.t = t
		old := s.describe1(t, kek)
		key.Rotate(t)
		now := s.describe1(t, kek)
		r.probe(keyring.Accessible)
		r.wrappedBy(now.KeyURI)
		for _, u := range r.ring.KeyUsage() {
			if u.KeyURI == old.KeyURI && len(u.AccountKeys) > 0 {
				t.Fatalf("key usage says the old version %s still wraps %d account keys", old.KeyURI, len(u.AccountKeys))
			}
		}
		key.Retire(t, old.KeyURI)
		r.probe(keyring.Accessible)
		r.mustRead()
	})
	t.Run("restart", func(t *testing.T) {
		r.t = t
		if err := r.reopen(key.KEK(t)); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if st := r.ring.State(); st != keyring.Accessible {
			t.Fatalf("state after reopening = %s", st)
		}
		r.mustRead()
	})
}

// RunReplacement proves a keyring can move from a key of one driver to a
// key of another (or the same) and back: a replacement that fails at any
// of its calls to the new key's service — as a crash or an outage there
// would stop it — leaves the old key in force and the registry opening
// with it; the one that goes through leaves every account key rewrapped by
// the new key and verified, the old key can then go, and a restart opens
// with the new key.
func RunReplacement(t *testing.T, from, to Target) {
	fromKey, toKey := from.NewKey(t), to.NewKey(t)
	fromKEK, toKEK := fromKey.KEK(t), toKey.KEK(t)
	r := newRing(t, fromKEK, from.Recoverable && to.Recoverable)
	fromURI := r.ring.AccountKeys()[0].KeyURI

	t.Run("a replacement failing at any call to the new key keeps the old key", func(t *testing.T) {
		r.t = t
		for n := 1; ; n++ {
			f := &failNth{KEK: toKEK, n: n}
			err := r.ring.SetKEK(ctxFor(t), f, "")
			if !f.failed() {
				if err != nil {
					t.Fatalf("replace: %v", err)
				}
				if n < 3 {
					t.Fatalf("the replacement made %d calls to the new key; it must describe, wrap and verify", n-1)
				}
				f.disarm() // the ring keeps f as its key
				return
			}
			if err == nil {
				t.Fatalf("a replacement whose call %d to the new key failed went through", n)
			}
			r.wrappedBy(fromURI)
			r.probe(keyring.Accessible)
			if err := r.reopen(fromKEK); err != nil {
				t.Fatalf("reopen with the old key after the replacement failed at call %d: %v", n, err)
			}
			r.mustRead()
			if n == 1 {
				if err := r.reopen(toKEK); err == nil {
					t.Fatal("the registry opened with the new key after a failed replacement")
				}
				if err := r.reopen(fromKEK); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	t.Run("then the old key can go", func(t *testing.T) {
		r.t = t
		st, err := toKEK.Describe(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		r.wrappedBy(st.KeyURI)
		fromKey.SetEnabled(t, false)
		r.probe(keyring.Accessible)
		r.mustRead()
		if err := r.reopen(toKey.KEK(t)); err != nil {
			t.Fatalf("reopen with the new key: %v", err)
		}
		r.mustRead()
	})
	t.Run("and back", func(t *testing.T) {
		r.t = t
		fromKey.SetEnabled(t, true)
		if err := r.ring.SetKEK(ctxFor(t), fromKEK, ""); err != nil {
			t.Fatalf("replace back: %v", err)
		}
		st, err := fromKEK.Describe(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		r.wrappedBy(st.KeyURI)
		toKey.SetEnabled(t, false)
		r.probe(keyring.Accessible)
		r.mustRead()
	})
}

// failNth is a KEK whose n-th call fails as an outage would, the calls
// before and after it going through.
type failNth struct {
	keyring.KEK
	n int

	mu    sync.Mutex
	calls int
}

func (f *failNth) fail(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == f.n {
		return fmt.Errorf("%s: injected outage at call %d: %w", op, f.n, keyring.ErrKeyUnreachable)
	}
	return nil
}

// disarm lets every later call through.
func (f *failNth) disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n = -1
}

func (f *failNth) failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n > 0 && f.calls >= f.n
}

func (f *failNth) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	if err := f.fail("wrap"); err != nil {
		return keyring.Wrapped{}, err
	}
	return f.KEK.Wrap(ctx, aek)
}

func (f *failNth) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	if err := f.fail("unwrap"); err != nil {
		return nil, err
	}
	return f.KEK.Unwrap(ctx, w)
}

func (f *failNth) Describe(ctx context.Context) (keyring.KeyState, error) {
	if err := f.fail("describe"); err != nil {
		return keyring.KeyState{}, err
	}
	return f.KEK.Describe(ctx)
}
