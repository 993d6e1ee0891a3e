// Package kekconformance is the contract every keyring.KEK driver must keep,
// as one test suite: a driver's test hands Run a Target — fresh keys in the
// real key service, with switches over that service — and Run proves the
// round trip, exact versions, the typed errors of each failure, that errors
// leak no secret, that concurrent use is safe, and the keyring's lifecycle
// (revoke, restore, rotate, replace, crash during replacement) over the
// driver.
//
// A driver's test implements Key over its service (see kektest.Target, or
// the Key Vault driver's conformance_test.go) and calls
//
//	kekconformance.Run(t, target)
//	kekconformance.RunReplacement(t, target, kektest.Target())
//
// Proxy gives SetAvailable a real outage for a driver that dials its
// service over TCP.
package kekconformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// Key is one key in a key service under a test's control. Every switch
// acts on the service itself, as its administrator would, never on the
// driver.
type Key interface {
	// KEK opens the key through the driver under test, following its
	// current version. Each call may return a new driver value.
	KEK(t *testing.T) keyring.KEK
	// SetEnabled disables or enables the key, every version of it.
	SetEnabled(t *testing.T, enabled bool)
	// Rotate makes a new current version. The versions before it still
	// unwrap what they wrapped.
	Rotate(t *testing.T)
	// Retire disables the one version keyURI names (as a Wrapped or
	// KeyState names it), leaving the others as they are.
	Retire(t *testing.T, keyURI string)
	// Destroy deletes the key as far as the service lets its
	// administrator: deleted, scheduled for deletion, or destroyed. The
	// suite uses the key no more afterwards.
	Destroy(t *testing.T)
	// SetAccess removes or gives back the caller's permission to use the key.
	SetAccess(t *testing.T, allowed bool)
	// SetAvailable makes the service unreachable from the driver (down,
	// cut off) or reachable again.
	SetAvailable(t *testing.T, available bool)
}

// Target is a driver under test, over a running key service.
type Target struct {
	// NewKey makes a fresh key, enabled and reachable, for one subtest.
	NewKey func(t *testing.T) Key
	// Recoverable is what Describe must say of a fresh key: whether the
	// service keeps a deleted key recoverable and unpurgeable for a while.
	Recoverable bool
	// AccessDenied says the service tells a missing permission apart from a
	// disabled or deleted key, so a removed permission must be
	// keyring.ErrAccessDenied, not only keyring.ErrKeyRevoked.
	AccessDenied bool
	// Secrets must never appear in an error: credentials, PINs, tokens.
	Secrets []string
}

// opTimeout bounds every call the suite makes, so that a driver that hangs
// on a down service fails the test instead of stalling it.
const opTimeout = 30 * time.Second

// Run runs the conformance suite against target.
func Run(t *testing.T, target Target) {
	if target.NewKey == nil {
		t.Fatal("kekconformance: Target.NewKey is required")
	}
	s := &suite{target: target}
	t.Run("WrapUnwrapRoundTrip", s.roundTrip)
	t.Run("DescribeNamesTheVersionWrapUses", s.describe)
	t.Run("RotationKeepsOldVersionsAndWrapsWithTheNew", s.rotation)
	t.Run("UnwrapUsesExactlyTheNamedVersion", s.exactVersion)
	t.Run("RetiredVersionIsRevoked", s.retired)
	t.Run("DisabledKeyIsRevokedAndEnablingRestores", s.disabled)
	t.Run("RemovedAccessIsRevokedAndGrantingRestores", s.access)
	t.Run("DestroyedKeyIsRevoked", s.destroyed)
	t.Run("UnavailableServiceIsUnreachableNeverRevoked", s.unavailable)
	t.Run("DamagedWrappingIsAnIntegrityError", s.damaged)
	t.Run("AnotherKeysWrappingIsRefused", s.wrongKey)
	t.Run("ConcurrentUseIsSafe", s.concurrent)
	t.Run("KeyringLifecycle", s.lifecycle)
	// Last: it reads what every subtest above collected.
	t.Run("ErrorsLeakNoSecretOrKeyBytes", s.noLeaks)
}

type suite struct {
	target Target

	mu   sync.Mutex
	errs []error  // every error a driver returned
	aeks [][]byte // every account key the suite wrapped
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newAEK is a random account key, remembered for the leak check.
func (s *suite) newAEK() []byte {
	aek := make([]byte, 32)
	rand.Read(aek)
	s.mu.Lock()
	s.aeks = append(s.aeks, bytes.Clone(aek))
	s.mu.Unlock()
	return aek
}

// note remembers a driver's error for the leak check and returns it.
func (s *suite) note(err error) error {
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
	}
	return err
}

func (s *suite) wrap(t *testing.T, kek keyring.KEK) (keyring.Wrapped, []byte) {
	t.Helper()
	aek := s.newAEK()
	w, err := kek.Wrap(ctxFor(t), aek)
	if err != nil {
		t.Fatalf("wrap: %v", s.note(err))
	}
	return w, aek
}

func (s *suite) mustUnwrap(t *testing.T, kek keyring.KEK, w keyring.Wrapped, want []byte) {
	t.Helper()
	got, err := kek.Unwrap(ctxFor(t), w)
	if err != nil {
		t.Fatalf("unwrap of a wrapping by %s: %v", w.KeyURI, s.note(err))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("unwrap of a wrapping by %s gave other bytes than were wrapped", w.KeyURI)
	}
}

func (s *suite) describe1(t *testing.T, kek keyring.KEK) keyring.KeyState {
	t.Helper()
	st, err := kek.Describe(ctxFor(t))
	if err != nil {
		t.Fatalf("describe: %v", s.note(err))
	}
	return st
}

// kinds are the typed errors a driver's failures are told apart by.
var kinds = []struct {
	name string
	err  error
}{
	{"ErrKeyRevoked", keyring.ErrKeyRevoked},
	{"ErrAccessDenied", keyring.ErrAccessDenied},
	{"ErrKeyUnreachable", keyring.ErrKeyUnreachable},
	{"ErrIntegrity", keyring.ErrIntegrity},
	{"ErrWrongKEK", keyring.ErrWrongKEK},
}

func kindsOf(err error) []string {
	var is []string
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			is = append(is, k.name)
		}
	}
	return is
}

// wantRevoked fails unless err is a revocation and not an unreachable service.
func (s *suite) wantRevoked(t *testing.T, what string, err error) {
	t.Helper()
	s.note(err)
	if !errors.Is(err, keyring.ErrKeyRevoked) || errors.Is(err, keyring.ErrKeyUnreachable) {
		t.Fatalf("%s: error %v is %v, want ErrKeyRevoked alone", what, err, kindsOf(err))
	}
}

// wantRefused fails unless err says the wrapping itself is wrong — damaged,
// or another key's — and nothing that a retry or the customer could change.
func (s *suite) wantRefused(t *testing.T, what string, got []byte, err error) {
	t.Helper()
	s.note(err)
	if got != nil || err == nil {
		t.Fatalf("%s: unwrapped to %d bytes with error %v, want a refusal", what, len(got), err)
	}
	if !errors.Is(err, keyring.ErrIntegrity) && !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("%s: error %v is %v, want ErrIntegrity or ErrWrongKEK", what, err, kindsOf(err))
	}
	if errors.Is(err, keyring.ErrKeyUnreachable) || errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("%s: error %v is %v: a bad wrapping is neither a service outage nor a revocation", what, err, kindsOf(err))
	}
}

func (s *suite) roundTrip(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	// A second driver value over the same key, as after a restart: an
	// unwrap needs nothing beyond what Wrapped records.
	again := key.KEK(t)
	for i := range 3 {
		w, aek := s.wrap(t, kek)
		if w.Provider == "" || w.KeyURI == "" || w.Algorithm == "" || len(w.Ciphertext) == 0 {
			t.Fatalf("wrap %d: incomplete wrapping: provider %q, key %q, algorithm %q, %d ciphertext bytes",
				i, w.Provider, w.KeyURI, w.Algorithm, len(w.Ciphertext))
		}
		if bytes.Contains(w.Ciphertext, aek) {
			t.Fatalf("wrap %d: the ciphertext holds the account key in the clear", i)
		}
		s.mustUnwrap(t, kek, w, aek)
		s.mustUnwrap(t, again, w, aek)
	}
}

func (s *suite) describe(t *testing.T) {
	kek := s.target.NewKey(t).KEK(t)
	st := s.describe1(t, kek)
	if st.Provider == "" || st.Key == "" || st.KeyURI == "" || st.Version == "" {
		t.Fatalf("describe names no provider, key, key URI or version: %+v", st)
	}
	if !st.Enabled {
		t.Fatalf("describe of a fresh key says it is disabled: %+v", st)
	}
	if st.Recoverable != s.target.Recoverable {
		t.Fatalf("describe says recoverable = %v (level %q), want %v", st.Recoverable, st.RecoveryLevel, s.target.Recoverable)
	}
	w, _ := s.wrap(t, kek)
	if w.KeyURI != st.KeyURI || w.Provider != st.Provider {
		t.Fatalf("wrap names %s %s, describe said it would use %s %s", w.Provider, w.KeyURI, st.Provider, st.KeyURI)
	}
}

func (s *suite) rotation(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	st1 := s.describe1(t, kek)
	w1, aek1 := s.wrap(t, kek)
	key.Rotate(t)
	st2 := s.describe1(t, kek)
	if st2.Key != st1.Key {
		t.Fatalf("rotation changed the key from %s to %s: a new version must keep the key's name", st1.Key, st2.Key)
	}
	if st2.KeyURI == st1.KeyURI || st2.Version == st1.Version {
		t.Fatalf("describe after rotation still names %s", st2.KeyURI)
	}
	w2, aek2 := s.wrap(t, kek)
	if w2.KeyURI != st2.KeyURI {
		t.Fatalf("wrap after rotation used %s, want the new version %s", w2.KeyURI, st2.KeyURI)
	}
	if w1.KeyURI != st1.KeyURI {
		t.Fatalf("the wrapping before rotation names %s, want %s", w1.KeyURI, st1.KeyURI)
	}
	s.mustUnwrap(t, kek, w1, aek1)
	s.mustUnwrap(t, kek, w2, aek2)
}

// exactVersion relabels one version's wrapping as another's: a driver that
// unwrapped against "latest", or tried versions in turn, would succeed.
func (s *suite) exactVersion(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	w1, _ := s.wrap(t, kek)
	key.Rotate(t)
	w2, _ := s.wrap(t, kek)
	oldAsNew := w1
	oldAsNew.KeyURI = w2.KeyURI
	got, err := kek.Unwrap(ctxFor(t), oldAsNew)
	s.wantRefused(t, "the old version's wrapping labelled with the new version", got, err)
	newAsOld := w2
	newAsOld.KeyURI = w1.KeyURI
	got, err = kek.Unwrap(ctxFor(t), newAsOld)
	s.wantRefused(t, "the new version's wrapping labelled with the old version", got, err)
}

func (s *suite) retired(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	w1, _ := s.wrap(t, kek)
	key.Rotate(t)
	w2, aek2 := s.wrap(t, kek)
	key.Retire(t, w1.KeyURI)
	_, err := kek.Unwrap(ctxFor(t), w1)
	s.wantRevoked(t, "unwrap with a retired version", err)
	s.mustUnwrap(t, kek, w2, aek2)
	if st := s.describe1(t, kek); !st.Enabled || st.KeyURI != w2.KeyURI {
		t.Fatalf("describe after retiring the old version: %+v, want the new version enabled", st)
	}
}

func (s *suite) disabled(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	w, aek := s.wrap(t, kek)
	key.SetEnabled(t, false)
	_, err := kek.Unwrap(ctxFor(t), w)
	s.wantRevoked(t, "unwrap with a disabled key", err)
	if s.target.AccessDenied && errors.Is(err, keyring.ErrAccessDenied) {
		t.Fatalf("a disabled key is reported as a missing permission: %v", err)
	}
	_, err = kek.Wrap(ctxFor(t), s.newAEK())
	s.wantRevoked(t, "wrap with a disabled key", err)
	if st, err := kek.Describe(ctxFor(t)); err != nil {
		s.wantRevoked(t, "describe of a disabled key", err)
	} else if st.Enabled {
		t.Fatalf("describe of a disabled key says enabled: %+v", st)
	}
	key.SetEnabled(t, true)
	s.mustUnwrap(t, kek, w, aek)
	if st := s.describe1(t, kek); !st.Enabled {
		t.Fatalf("describe after enabling: %+v", st)
	}
}

func (s *suite) access(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	w, aek := s.wrap(t, kek)
	key.SetAccess(t, false)
	check := func(what string, err error) {
		t.Helper()
		s.wantRevoked(t, what, err)
		if s.target.AccessDenied && !errors.Is(err, keyring.ErrAccessDenied) {
			t.Fatalf("%s: error %v is %v, want ErrAccessDenied too", what, err, kindsOf(err))
		}
	}
	_, err := kek.Unwrap(ctxFor(t), w)
	check("unwrap without access", err)
	_, err = kek.Wrap(ctxFor(t), s.newAEK())
	check("wrap without access", err)
	_, err = kek.Describe(ctxFor(t))
	check("describe without access", err)
	key.SetAccess(t, true)
	s.mustUnwrap(t, kek, w, aek)
}

func (s *suite) destroyed(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	w, _ := s.wrap(t, kek)
	key.Destroy(t)
	_, err := kek.Unwrap(ctxFor(t), w)
	s.wantRevoked(t, "unwrap with a destroyed key", err)
	_, err = kek.Wrap(ctxFor(t), s.newAEK())
	s.wantRevoked(t, "wrap with a destroyed key", err)
	if st, err := kek.Describe(ctxFor(t)); err != nil {
		s.wantRevoked(t, "describe of a destroyed key", err)
	} else if st.Enabled {
		t.Fatalf("describe of a destroyed key says it is usable: %+v", st)
	}
}

func (s *suite) unavailable(t *testing.T) {
	key := s.target.NewKey(t)
	kek := key.KEK(t)
	w, aek := s.wrap(t, kek)
	key.SetAvailable(t, false)
	check := func(what string, err error) {
		t.Helper()
		s.note(err)
		if !errors.Is(err, keyring.ErrKeyUnreachable) || errors.Is(err, keyring.ErrKeyRevoked) {
			t.Fatalf("%s: error %v is %v, want ErrKeyUnreachable alone", what, err, kindsOf(err))
		}
	}
	_, err := kek.Unwrap(ctxFor(t), w)
	check("unwrap with the service down", err)
	_, err = kek.Wrap(ctxFor(t), s.newAEK())
	check("wrap with the service down", err)
	_, err = kek.Describe(ctxFor(t))
	check("describe with the service down", err)
	key.SetAvailable(t, true)
	s.mustUnwrap(t, kek, w, aek)
}

func (s *suite) damaged(t *testing.T) {
	kek := s.target.NewKey(t).KEK(t)
	w, aek := s.wrap(t, kek)
	// A flipped bit anywhere must never give other bytes. A service may
	// ignore a header it does not need — Local KMS skips the key ARN it
	// records in its ciphertext when the caller names the key — so a bit
	// in the middle may also give the very key wrapped.
	mid := w
	mid.Ciphertext = bytes.Clone(w.Ciphertext)
	for i := range mid.Ciphertext {
		mid.Ciphertext[i] ^= 0x10
		got, err := kek.Unwrap(ctxFor(t), mid)
		mid.Ciphertext[i] ^= 0x10
		if err == nil && bytes.Equal(got, aek) {
			continue
		}
		s.wantRefused(t, fmt.Sprintf("unwrap of a wrapping with a flipped bit in byte %d", i), got, err)
	}
	for _, tc := range []struct {
		name   string
		damage func(w *keyring.Wrapped)
	}{
		{"a flipped bit in the last byte", func(w *keyring.Wrapped) { w.Ciphertext[len(w.Ciphertext)-1] ^= 0x01 }},
		{"truncated", func(w *keyring.Wrapped) { w.Ciphertext = w.Ciphertext[:len(w.Ciphertext)-8] }},
		{"one byte", func(w *keyring.Wrapped) { w.Ciphertext = w.Ciphertext[:1] }},
		{"empty", func(w *keyring.Wrapped) { w.Ciphertext = nil }},
		{"another algorithm named", func(w *keyring.Wrapped) { w.Algorithm = "ROT13" }},
		{"another provider named", func(w *keyring.Wrapped) { w.Provider = "elsewhere" }},
		{"no version named", func(w *keyring.Wrapped) { w.KeyURI = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := w
			bad.Ciphertext = bytes.Clone(w.Ciphertext)
			tc.damage(&bad)
			got, err := kek.Unwrap(ctxFor(t), bad)
			s.wantRefused(t, "unwrap of a wrapping with "+tc.name, got, err)
		})
	}
}

func (s *suite) wrongKey(t *testing.T) {
	a := s.target.NewKey(t).KEK(t)
	b := s.target.NewKey(t).KEK(t)
	w, _ := s.wrap(t, a)
	got, err := b.Unwrap(ctxFor(t), w)
	s.wantRefused(t, "unwrap of key A's wrapping with key B", got, err)
}

func (s *suite) concurrent(t *testing.T) {
	kek := s.target.NewKey(t).KEK(t)
	const workers, rounds = 8, 4
	ctx := ctxFor(t)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				aek := s.newAEK()
				w, err := kek.Wrap(ctx, aek)
				if err != nil {
					errc <- fmt.Errorf("wrap: %w", s.note(err))
					return
				}
				got, err := kek.Unwrap(ctx, w)
				if err != nil {
					errc <- fmt.Errorf("unwrap: %w", s.note(err))
					return
				}
				if !bytes.Equal(got, aek) {
					errc <- errors.New("unwrap gave another worker's or other bytes")
					return
				}
				if _, err := kek.Describe(ctx); err != nil {
					errc <- fmt.Errorf("describe: %w", s.note(err))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

// noLeaks reads every error the drivers returned in the subtests before.
func (s *suite) noLeaks(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 10 {
		t.Fatalf("only %d driver errors collected: the subtests before did not run their failures", len(s.errs))
	}
	needles := map[string]string{"bearer token": "Bearer ", "JWT": "eyJ"}
	for i, secret := range s.target.Secrets {
		if len(secret) >= 4 {
			needles[fmt.Sprintf("secret %d", i)] = secret
		}
	}
	for i, aek := range s.aeks {
		needles[fmt.Sprintf("account key %d (hex)", i)] = hex.EncodeToString(aek)[:16]
		needles[fmt.Sprintf("account key %d (base64)", i)] = base64.StdEncoding.EncodeToString(aek)[:16]
		needles[fmt.Sprintf("account key %d (base64url)", i)] = base64.RawURLEncoding.EncodeToString(aek)[:16]
	}
	for _, err := range s.errs {
		msg := err.Error()
		for name, needle := range needles {
			if strings.Contains(msg, needle) {
				t.Errorf("an error leaks the %s: %s", name, msg)
			}
		}
	}
}
