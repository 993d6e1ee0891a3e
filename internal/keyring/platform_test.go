package keyring_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// newPlatformKEK is a platform key of fresh random bytes.
func newPlatformKEK(t *testing.T) (*keyring.PlatformKEK, []byte) {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	p, err := keyring.NewPlatformKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p, raw
}

func TestPlatformKEKSealsWorkspacesWithoutACustomerKey(t *testing.T) {
	p, raw := newPlatformKEK(t)
	e := newEnv(t)
	k := e.open(func(c *keyring.Config) { c.KEK = p; c.RequireRecoverable = false })
	o := seal(t, k)
	w := k.AccountKeys()[0]
	if w.KeyURI == "" || k.KeyUsage()[0].KeyURI != w.KeyURI {
		t.Fatalf("platform wrapping not reported: %+v", k.KeyUsage())
	}
	k.Close()

	again, err := keyring.NewPlatformKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	k = e.open(func(c *keyring.Config) { c.KEK = again })
	mustOpen(t, o, k)
	k.Close()

	other, _ := newPlatformKEK(t)
	if _, err := keyring.Open(context.Background(), e.config(other)); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("another platform key: %v", err)
	}
	if _, err := keyring.Open(context.Background(), e.config(e.kek)); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("a customer key on a platform-keyed registry: %v", err)
	}
}

func TestPlatformKeyOfTheWrongSizeIsRefused(t *testing.T) {
	if _, err := keyring.NewPlatformKEK([]byte("short")); err == nil {
		t.Fatal("a truncated key was used")
	}
}
