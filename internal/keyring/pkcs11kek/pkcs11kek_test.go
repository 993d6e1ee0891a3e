package pkcs11kek_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
)

// The tests share SoftHSM2's process-wide state (SOFTHSM2_CONF), so none
// of them is parallel.

const keyLabel = "sealwatch-cmk"

func newKEK(t *testing.T, tok *softhsmtest.Token, id []byte) *pkcs11kek.KEK {
	t.Helper()
	kek, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: keyLabel, KeyID: id, PIN: []byte(tok.PIN)})
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// wrappedUnderKey makes a token holding the key object keyLabel (ID 01), a
// KEK for it and an account key wrapped under it, where most tests begin.
func wrappedUnderKey(t *testing.T) (*softhsmtest.Token, *pkcs11kek.KEK, []byte, keyring.Wrapped) {
	t.Helper()
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	kek := newKEK(t, tok, nil)
	key := aek(t)
	w, err := kek.Wrap(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return tok, kek, key, w
}

func aek(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// requireIs fails unless err wraps want, and checks that the error never
// names the PIN.
func requireIs(t *testing.T, err, want error, pin string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %q", err, want)
	}
	if strings.Contains(err.Error(), pin) {
		t.Fatalf("error names the PIN: %v", err)
	}
}

func TestWrapUnwrapRoundTrip(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	kek := newKEK(t, tok, nil)

	st, err := keyring.CheckKEK(ctx(t), kek, false)
	if err != nil {
		t.Fatalf("CheckKEK: %v", err)
	}
	want := "pkcs11:token=sealwatch-test;object=sealwatch-cmk;type=secret-key"
	if st.Key != want || st.KeyURI != want+";id=%01" || st.Version != "01" || !st.Enabled || st.Provider != pkcs11kek.Provider {
		t.Fatalf("Describe = %+v", st)
	}
	if st.Recoverable {
		t.Fatalf("a destroyable key object is described as recoverable: %+v", st)
	}

	key := aek(t)
	w, err := kek.Wrap(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if w.Provider != pkcs11kek.Provider || w.KeyURI != st.KeyURI || w.Algorithm != keyring.AlgAESKWP {
		t.Fatalf("Wrapped = %+v", w)
	}
	if bytes.Contains(w.Ciphertext, key) {
		t.Fatal("the wrapping holds the account key in the clear")
	}
	got, err := kek.Unwrap(ctx(t), w)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Fatal("unwrapped to other bytes")
	}
}

func TestNewKeyObjectRotates(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{0x09})
	kek := newKEK(t, tok, nil)
	first := aek(t)
	w1, err := kek.Wrap(ctx(t), first)
	if err != nil {
		t.Fatal(err)
	}

	tok.AddKey(keyLabel, []byte{0x0a}) // 0x0a follows 0x09 as a number
	st, err := kek.Describe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "0a" {
		t.Fatalf("after a new key object, Describe reports version %s, want 0a", st.Version)
	}
	second := aek(t)
	w2, err := kek.Wrap(ctx(t), second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(w2.KeyURI, ";id=%0a") {
		t.Fatalf("wrap after rotation names %s", w2.KeyURI)
	}
	for _, c := range []struct {
		w    keyring.Wrapped
		want []byte
	}{{w1, first}, {w2, second}} {
		got, err := kek.Unwrap(ctx(t), c.w)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("unwrap %s: %v (same bytes: %v)", c.w.KeyURI, err, bytes.Equal(got, c.want))
		}
	}

	// Destroying the old version revokes what it wrapped, not the key.
	tok.Destroy(keyLabel, []byte{0x09})
	_, err = kek.Unwrap(ctx(t), w1)
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	if _, err := kek.Unwrap(ctx(t), w2); err != nil {
		t.Fatalf("the newest version stopped unwrapping after the old one was destroyed: %v", err)
	}

	pinned := newKEK(t, tok, []byte{0x0a})
	tok.AddKey(keyLabel, []byte{0x0b})
	if w, err := pinned.Wrap(ctx(t), aek(t)); err != nil || !strings.HasSuffix(w.KeyURI, ";id=%0a") {
		t.Fatalf("a KEK pinned to 0a wrapped with %s (%v)", w.KeyURI, err)
	}
}

func TestDestroyedKeyIsRevoked(t *testing.T) {
	tok, kek, _, w := wrappedUnderKey(t)
	tok.Destroy(keyLabel, []byte{1})

	_, err := kek.Unwrap(ctx(t), w)
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	_, err = kek.Describe(ctx(t))
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	_, err = kek.Wrap(ctx(t), aek(t))
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	if errors.Is(err, keyring.ErrAccessDenied) {
		t.Fatalf("a destroyed key reads as a missing permission: %v", err)
	}
}

func TestKeyNotAllowedToWrapIsRevoked(t *testing.T) {
	tok, kek, key, w := wrappedUnderKey(t)

	tok.SetUsable(keyLabel, []byte{1}, false)
	_, err := kek.Unwrap(ctx(t), w)
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	_, err = kek.Wrap(ctx(t), key)
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	if st, err := kek.Describe(ctx(t)); err != nil || st.Enabled {
		t.Fatalf("Describe of a key that may not wrap = %+v, %v; want Enabled false", st, err)
	}

	tok.SetUsable(keyLabel, []byte{1}, true)
	if got, err := kek.Unwrap(ctx(t), w); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap after the key may wrap again: %v", err)
	}
}

func TestRemovedTokenIsUnreachableUntilItComesBack(t *testing.T) {
	tok, kek, key, w := wrappedUnderKey(t)

	tok.Remove()
	for _, call := range []func() error{
		func() error { _, err := kek.Unwrap(ctx(t), w); return err },
		func() error { _, err := kek.Describe(ctx(t)); return err },
		func() error { _, err := kek.Wrap(ctx(t), key); return err },
	} {
		err := call()
		requireIs(t, err, keyring.ErrKeyUnreachable, tok.PIN)
		if errors.Is(err, keyring.ErrKeyRevoked) {
			t.Fatalf("a removed token reads as a revoked key: %v", err)
		}
	}

	tok.Insert()
	if got, err := kek.Unwrap(ctx(t), w); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap once the token is back: %v", err)
	}
}

func TestModuleThatCannotLoadIsUnreachableUntilItCan(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	path := filepath.Join(t.TempDir(), "libhsm.so")
	kek, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: path, TokenLabel: tok.Label, KeyLabel: keyLabel, PIN: []byte(tok.PIN)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kek.Describe(ctx(t))
	requireIs(t, err, keyring.ErrKeyUnreachable, tok.PIN)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("the error does not name the module path: %v", err)
	}

	if err := os.Symlink(tok.Module, path); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.CheckKEK(ctx(t), kek, false); err != nil {
		t.Fatalf("once the module is installed: %v", err)
	}
}

func TestLostSessionsAreReplaced(t *testing.T) {
	tok, kek, key, w := wrappedUnderKey(t)
	tok.CloseSessions() // the driver's pooled session, and its login, are gone
	if got, err := kek.Unwrap(ctx(t), w); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap after the sessions were closed: %v", err)
	}
}

func TestWrongPINIsAccessDenied(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	wrong := "wrong-" + tok.PIN
	kek, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: keyLabel, PIN: []byte(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kek.Describe(ctx(t))
	requireIs(t, err, keyring.ErrAccessDenied, wrong)
	requireIs(t, err, keyring.ErrAccessDenied, tok.PIN)

	// Logged in with the right PIN, the token still refuses another one.
	good := newKEK(t, tok, nil)
	if _, err := good.Describe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	other, _ := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: keyLabel, PIN: []byte(wrong)})
	_, err = other.Describe(ctx(t))
	requireIs(t, err, keyring.ErrAccessDenied, wrong)
}

// TestAWrongPINNeverRidesOnAnotherHandlesLogin: a PKCS#11 login belongs to
// the process, so when another user of the module in the process (another
// handle, a pool dropped after a failure) is logged in, the driver's
// sessions start logged in; a KEK with a wrong PIN must still be refused,
// and one with the right PIN still works.
func TestAWrongPINNeverRidesOnAnotherHandlesLogin(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	wrong := "wrong-" + tok.PIN
	tok.WhileLoggedIn(func() {
		kek, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: keyLabel, PIN: []byte(wrong)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = kek.Wrap(ctx(t), aek(t))
		requireIs(t, err, keyring.ErrAccessDenied, wrong)
	})
	tok.WhileLoggedIn(func() {
		if _, err := newKEK(t, tok, nil).Wrap(ctx(t), aek(t)); err != nil {
			t.Fatalf("the right PIN while another handle is logged in: %v", err)
		}
	})
}

func TestDamagedOrForeignWrappingsAreRefused(t *testing.T) {
	tok, kek, _, w := wrappedUnderKey(t)
	flipped := w
	flipped.Ciphertext = bytes.Clone(w.Ciphertext)
	flipped.Ciphertext[5] ^= 1
	short := w
	short.Ciphertext = w.Ciphertext[:len(w.Ciphertext)-8]

	cases := []struct {
		name string
		w    keyring.Wrapped
		want error
	}{
		{"a flipped bit", flipped, keyring.ErrIntegrity},
		{"a shortened blob", short, keyring.ErrIntegrity},
		{"another algorithm", keyring.Wrapped{Provider: w.Provider, KeyURI: w.KeyURI, Algorithm: keyring.AlgA256KW, Ciphertext: w.Ciphertext}, keyring.ErrIntegrity},
		{"another provider", keyring.Wrapped{Provider: "keyvault", KeyURI: w.KeyURI, Algorithm: w.Algorithm, Ciphertext: w.Ciphertext}, keyring.ErrWrongKEK},
		{"another token", keyring.Wrapped{Provider: w.Provider, KeyURI: strings.Replace(w.KeyURI, "token=sealwatch-test", "token=other", 1), Algorithm: w.Algorithm, Ciphertext: w.Ciphertext}, keyring.ErrWrongKEK},
		{"no version", keyring.Wrapped{Provider: w.Provider, KeyURI: kek.Key(), Algorithm: w.Algorithm, Ciphertext: w.Ciphertext}, keyring.ErrIntegrity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := kek.Unwrap(ctx(t), c.w)
			requireIs(t, err, c.want, tok.PIN)
		})
	}
}

func TestConcurrentCallsShareTheSessionPool(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	kek := newKEK(t, tok, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 10 {
				key := make([]byte, 32)
				rand.Read(key)
				w, err := kek.Wrap(context.Background(), key)
				if err == nil {
					var got []byte
					got, err = kek.Unwrap(context.Background(), w)
					if err == nil && !bytes.Equal(got, key) {
						err = errors.New("unwrapped to other bytes")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConfigNamesWhatIsMissing(t *testing.T) {
	full := pkcs11kek.Config{ModulePath: "/usr/lib/x.so", TokenLabel: "t", KeyLabel: "k", PIN: []byte("1234")}
	cases := []struct {
		name string
		edit func(*pkcs11kek.Config)
		want string
	}{
		{"no module path", func(c *pkcs11kek.Config) { c.ModulePath = "" }, "module path"},
		{"a relative module path", func(c *pkcs11kek.Config) { c.ModulePath = "libsofthsm2.so" }, "absolute"},
		{"no token label", func(c *pkcs11kek.Config) { c.TokenLabel = "" }, "token label"},
		{"no key label", func(c *pkcs11kek.Config) { c.KeyLabel = "" }, "key label"},
		{"no PIN", func(c *pkcs11kek.Config) { c.PIN = nil }, "PIN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := full
			c.edit(&cfg)
			_, err := pkcs11kek.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error naming %q", err, c.want)
			}
		})
	}
}

func TestUndestroyableKeyIsRecoverableUntilZeroized(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddProtectedKey(keyLabel, []byte{1})
	kek := newKEK(t, tok, nil)
	st, err := keyring.CheckKEK(ctx(t), kek, true)
	if err != nil {
		t.Fatalf("CheckKEK requiring a recoverable key: %v", err)
	}
	if !st.Recoverable || st.RecoveryLevel != "NotDestroyable" {
		t.Fatalf("a key object with CKA_DESTROYABLE false is described as %+v", st)
	}
	w, err := kek.Wrap(ctx(t), aek(t))
	if err != nil {
		t.Fatal(err)
	}
	tok.Zeroize(keyLabel, []byte{1})
	_, err = kek.Unwrap(ctx(t), w)
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
}

func TestCreateVersionMakesRecoverableVersionsAndRetiresThem(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	kek := newKEK(t, tok, nil)
	first, err := kek.CreateVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != "01" || !first.Recoverable || !first.Enabled {
		t.Fatalf("first version: %+v", first)
	}
	if _, err := keyring.CheckKEK(ctx(t), kek, true); err != nil {
		t.Fatalf("CheckKEK of a created key, requiring it recoverable: %v", err)
	}
	w1, err := kek.Wrap(ctx(t), aek(t))
	if err != nil {
		t.Fatal(err)
	}
	second, err := kek.CreateVersion(ctx(t))
	if err != nil || second.Version != "02" {
		t.Fatalf("second version: %+v, %v", second, err)
	}
	if err := kek.SetVersionUsable(ctx(t), []byte{1}, false); err != nil {
		t.Fatal(err)
	}
	_, err = kek.Unwrap(ctx(t), w1)
	requireIs(t, err, keyring.ErrKeyRevoked, tok.PIN)
	if st, err := kek.Describe(ctx(t)); err != nil || !st.Enabled || st.Version != "02" {
		t.Fatalf("describe after retiring version 01: %+v, %v", st, err)
	}
}

func TestAModuleThatDoesNotAnswerIsUnreachableAtTheDeadline(t *testing.T) {
	tok, kek, key, w := wrappedUnderKey(t)
	release := pkcs11kek.HoldModule(tok.Module)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	got, err := kek.Unwrap(short, w)
	release() // the held call goes on now, and its answer is dropped
	requireIs(t, err, keyring.ErrKeyUnreachable, tok.PIN)
	if got != nil {
		t.Fatal("an unwrap that timed out returned bytes")
	}
	if got, err := kek.Unwrap(ctx(t), w); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap once the module answers again: %v", err)
	}
}

func TestAnotherTokenOfTheModuleIsUnharmedWhenOneIsRemoved(t *testing.T) {
	a := softhsmtest.New(t, "partition-a")
	b := a.AddToken("partition-b")
	a.AddKey(keyLabel, []byte{1})
	b.AddKey(keyLabel, []byte{1})
	kekA, kekB := newKEK(t, a, nil), newKEK(t, b, nil)
	key := aek(t)
	wa, err := kekA.Wrap(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := kekB.Wrap(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}

	a.Remove() // the module is reloaded: b's sessions and login go with it
	_, err = kekA.Unwrap(ctx(t), wa)
	requireIs(t, err, keyring.ErrKeyUnreachable, a.PIN)
	for range 2 {
		if got, err := kekB.Unwrap(ctx(t), wb); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("the other token's key while one token is out: %v", err)
		}
		_, err = kekA.Describe(ctx(t))
		requireIs(t, err, keyring.ErrKeyUnreachable, a.PIN)
	}
	a.Insert()
	if got, err := kekA.Unwrap(ctx(t), wa); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap once the token is back: %v", err)
	}
	if _, err := kekB.Unwrap(ctx(t), wb); err != nil {
		t.Fatal(err)
	}
}

// TestThePINIsNeverPrinted: the configuration and the KEK, printed with
// any verb, name the key but never the PIN.
func TestThePINIsNeverPrinted(t *testing.T) {
	const pin = "pin-never-printed-0123"
	cfg := pkcs11kek.Config{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t1", KeyLabel: keyLabel, PIN: []byte(pin)}
	k, err := pkcs11kek.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, k, struct{ C pkcs11kek.Config }{cfg}} {
			out := fmt.Sprintf(verb, v)
			leaks := strings.Contains(out, pin) || strings.Contains(out, fmt.Sprint([]byte(pin))) ||
				strings.Contains(out, fmt.Sprintf("%#v", []byte(pin))[7:20]) || strings.Contains(out, fmt.Sprintf("%x", pin))
			if leaks || !strings.Contains(out, keyLabel) {
				t.Errorf("%s of %T: %s", verb, v, out)
			}
		}
	}
}

// TestOneModuleUnderTwoNamesSharesItsLogin: the module named through a
// symbolic link is the same library, so KEKs through either name share one
// login: a KEK with a wrong PIN through the other name is refused against
// the PIN logged in with — neither logging the first out nor spending one
// of the token's PIN tries — and the first keeps working.
func TestOneModuleUnderTwoNamesSharesItsLogin(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-test")
	tok.AddKey(keyLabel, []byte{1})
	link := filepath.Join(t.TempDir(), "libalias.so")
	if err := os.Symlink(tok.Module, link); err != nil {
		t.Fatal(err)
	}
	good := newKEK(t, tok, nil)
	w, err := good.Wrap(ctx(t), aek(t))
	if err != nil {
		t.Fatal(err)
	}
	wrong := "wrong-" + tok.PIN
	other, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: link, TokenLabel: tok.Label, KeyLabel: keyLabel, PIN: []byte(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Describe(ctx(t))
	requireIs(t, err, keyring.ErrAccessDenied, wrong)
	if !strings.Contains(err.Error(), "logged in on this node with another PIN") {
		t.Fatalf("the wrong PIN was tried on the token instead of against the login: %v", err)
	}
	if _, err := good.Unwrap(ctx(t), w); err != nil {
		t.Fatalf("the right PIN's KEK after a wrong one through another name: %v", err)
	}
}
