package nodeseal

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
)

var canary = []byte("-----BEGIN PRIVATE KEY-----\ncanary-client-secret-7f3a9c\n-----END PRIVATE KEY-----\n")

func openBox(t *testing.T, dir string, root Root) *Box {
	t.Helper()
	b, err := Open(context.Background(), dir, root)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// scanFor fails the test when any file under dir holds one of needles.
func scanFor(t *testing.T, dir string, needles ...[]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s holds a secret in the clear (%d bytes of it)", path, len(n))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	b := openBox(t, dir, File(""))
	path := filepath.Join(dir, "tls", "ca-key.pem")
	if err := b.WriteFile(path, canary); err != nil {
		t.Fatal(err)
	}
	key, err := b.LoadOrCreateKey(context.Background(), "workspace/secrets.key")
	if err != nil {
		t.Fatal(err)
	}
	scanFor(t, dir, canary, []byte("PRIVATE KEY"), []byte("canary-client-secret"), key, b.raw[b.gen])

	b.Close()
	b = openBox(t, dir, File(""))
	got, err := b.ReadFile(path)
	if err != nil || !bytes.Equal(got, canary) {
		t.Fatalf("read back %q, %v", got, err)
	}
	again, err := b.LoadOrCreateKey(context.Background(), "workspace/secrets.key")
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("the key changed across starts (%v)", err)
	}
}

func TestTamperedSecretIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir, sealed string)
	}{
		{"a flipped ciphertext bit", func(t *testing.T, _, sealed string) {
			data := read(t, sealed)
			data[len(data)-5] ^= 1
			write(t, sealed, data)
		}},
		{"truncated", func(t *testing.T, _, sealed string) { write(t, sealed, read(t, sealed)[:20]) }},
		{"another generation in the header", func(t *testing.T, _, sealed string) {
			data := read(t, sealed)
			data[len(fileMagic)+3]++
			write(t, sealed, data)
		}},
		{"not a sealed file", func(t *testing.T, _, sealed string) { write(t, sealed, []byte("plain text")) }},
		{"another secret moved over it", func(t *testing.T, dir, sealed string) {
			write(t, sealed, read(t, filepath.Join(dir, "other.key"+sealedSuffix)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := openBox(t, dir, File(""))
			path := filepath.Join(dir, "identity-signing-key.pem")
			if err := b.WriteFile(path, canary); err != nil {
				t.Fatal(err)
			}
			if _, err := b.LoadOrCreateKey(context.Background(), "other.key"); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, dir, path+sealedSuffix)
			got, err := b.ReadFile(path)
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("read a tampered secret: %q, %v; want ErrIntegrity", got, err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("canary")) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestPlainFilesAreSealedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tls", "server-key.pem")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, path, canary)
	b := openBox(t, dir, File(""))
	got, err := b.ReadFile(path)
	if err != nil || !bytes.Equal(got, canary) {
		t.Fatalf("migrate: %q, %v", got, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the plain file is still there: %v", err)
	}
	scanFor(t, dir, canary, []byte("PRIVATE KEY"))

	// A crash after the sealed file was written, before the plain one was
	// removed, leaves both: the sealed one wins and the plain one goes.
	write(t, path, []byte("stale plain copy"))
	got, err = b.ReadFile(path)
	if err != nil || !bytes.Equal(got, canary) {
		t.Fatalf("read after a crash mid-migration: %q, %v", got, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the plain file left by the crash is still there: %v", err)
	}
}

func TestWrongRootIsRefused(t *testing.T) {
	ctx := context.Background()
	elsewhere := filepath.Join(t.TempDir(), "root.key")
	openBox(t, t.TempDir(), File(elsewhere)).Close() // another root key file, holding another key
	for _, tc := range []struct {
		name        string
		sealed, got Root
	}{
		{"another passphrase", Passphrase([]byte("correct horse")), Passphrase([]byte("wrong horse"))},
		{"another root key file", File(""), File(elsewhere)},
		{"another source", Passphrase([]byte("correct horse")), File("")},
		{"another KEK", KEK(SourceAWSKMS, kektest.New("a")), KEK(SourceAWSKMS, kektest.New("b"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := openBox(t, dir, tc.sealed)
			if err := b.WriteFile(filepath.Join(dir, "x.pem"), canary); err != nil {
				t.Fatal(err)
			}
			b.Close()
			_, err := Open(ctx, dir, tc.got)
			if !errors.Is(err, ErrWrongRoot) {
				t.Fatalf("open with %s: %v; want ErrWrongRoot", tc.name, err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("horse")) {
				t.Fatalf("the error shows the passphrase: %v", err)
			}
		})
	}
}

func TestKEKRootFailuresAreTyped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k := kektest.New("root")
	openBox(t, dir, KEK(SourcePKCS11, k)).Close()

	k.SetUnreachable(true)
	if _, err := Open(ctx, dir, KEK(SourcePKCS11, k)); !errors.Is(err, keyring.ErrKeyUnreachable) {
		t.Fatalf("unreachable root: %v", err)
	}
	k.SetUnreachable(false)
	k.SetEnabled("", false)
	if _, err := Open(ctx, dir, KEK(SourcePKCS11, k)); !errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("disabled root: %v", err)
	}
	k.SetEnabled("", true)
	openBox(t, dir, KEK(SourcePKCS11, k))
}

func TestRekeyReseatsEverySecret(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openBox(t, dir, File(""))
	paths := []string{filepath.Join(dir, "identity-signing-key.pem"), filepath.Join(dir, "tls", "ca-key.pem")}
	for _, p := range paths {
		if err := b.WriteFile(p, canary); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	to := Passphrase([]byte("a real root"))
	if err := Rekey(ctx, dir, File(""), to); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "seal", "root.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the development root key file is still there after moving off it: %v", err)
	}
	if _, err := Open(ctx, dir, File("")); !errors.Is(err, ErrWrongRoot) {
		t.Fatalf("the old root still opens the node: %v", err)
	}
	b = openBox(t, dir, to)
	for _, p := range paths {
		data := read(t, p+sealedSuffix)
		if gen, _, _ := generation("", data); gen != 2 {
			t.Errorf("%s is sealed by generation %d, want 2", p, gen)
		}
		if got, err := b.ReadFile(p); err != nil || !bytes.Equal(got, canary) {
			t.Fatalf("read %s after rekey: %v", p, err)
		}
	}
}

// TestRekeyCrashMidwayOpensWithEitherRoot stops a rekey after it resealed
// one of three secrets, then starts the node with the old root (which undoes
// the rekey) or the new one (which finishes it).
func TestRekeyCrashMidwayOpensWithEitherRoot(t *testing.T) {
	ctx := context.Background()
	errCrash := errors.New("crash")
	for _, tc := range []struct {
		name    string
		restart func(from, to Root) Root
		gen     uint32
	}{
		{"restarted with the old root", func(from, _ Root) Root { return from }, 1},
		{"restarted with the new root", func(_, to Root) Root { return to }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			from, to := Passphrase([]byte("old root")), KEK(SourceAWSKMS, kektest.New("new"))
			b := openBox(t, dir, from)
			var paths []string
			for _, name := range []string{"a.pem", "b.pem", "c.pem"} {
				p := filepath.Join(dir, name)
				paths = append(paths, p)
				if err := b.WriteFile(p, append([]byte(name), canary...)); err != nil {
					t.Fatal(err)
				}
			}
			b.Close()
			resealed := 0
			err := rekey(ctx, dir, from, to, func() error {
				if resealed++; resealed == 1 {
					return errCrash
				}
				return nil
			})
			if !errors.Is(err, errCrash) {
				t.Fatalf("rekey: %v, want the crash", err)
			}
			b = openBox(t, dir, tc.restart(from, to))
			if b.gen != tc.gen {
				t.Fatalf("generation %d after restart, want %d", b.gen, tc.gen)
			}
			for _, p := range paths {
				got, err := b.ReadFile(p)
				if err != nil || !bytes.Equal(got, append([]byte(filepath.Base(p)), canary...)) {
					t.Fatalf("read %s: %v", p, err)
				}
				if gen, _, _ := generation("", read(t, p+sealedSuffix)); gen != tc.gen {
					t.Errorf("%s sealed by generation %d, want %d", p, gen, tc.gen)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "seal", nextFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s left after the restart: %v", nextFile, err)
			}
		})
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
