package keyring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

func TestPlatformKEKSealsWorkspacesWithoutACustomerKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "platform.key")
	p, err := keyring.LoadOrCreatePlatformKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, want %v (%v)", f, info.Mode().Perm(), want, err)
		}
	}
	e := newEnv(t)
	k := e.open(func(c *keyring.Config) { c.KEK = p; c.RequireRecoverable = false })
	o := seal(t, k)
	w := k.AccountKeys()[0]
	if w.KeyURI == "" || k.KeyUsage()[0].KeyURI != w.KeyURI {
		t.Fatalf("platform wrapping not reported: %+v", k.KeyUsage())
	}
	k.Close()

	again, err := keyring.LoadOrCreatePlatformKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	k = e.open(func(c *keyring.Config) { c.KEK = again })
	mustOpen(t, o, k)
	k.Close()

	other, err := keyring.LoadOrCreatePlatformKEK(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Open(context.Background(), e.config(other)); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("another platform key: %v", err)
	}
	if _, err := keyring.Open(context.Background(), e.config(e.kek)); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("a customer key on a platform-keyed registry: %v", err)
	}
}

func TestPlatformKeyFileReadableByOthersIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "platform.key")
	if _, err := keyring.LoadOrCreatePlatformKEK(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.LoadOrCreatePlatformKEK(path); err == nil {
		t.Fatal("a world-readable key file was used")
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	if _, err := keyring.LoadOrCreatePlatformKEK(path); err == nil {
		t.Fatal("a truncated key file was used")
	}
}
