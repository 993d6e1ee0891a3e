package localfs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A rename or link into a directory the write created is durable only once
// the directory's own entry is: each new directory's parent is synced.
func TestNewDirectoriesAreSyncedIntoTheirParents(t *testing.T) {
	root := filepath.Join(t.TempDir(), "objects")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	s.syncDir = func(dir string) error {
		synced = append(synced, dir)
		return syncDir(dir)
	}
	ctx := context.Background()
	seg := filepath.Join(t.TempDir(), "seg")
	writeFile(t, seg)
	for name, write := range map[string]func() error{
		"Put":     func() error { return s.Put(ctx, "a/b/obj", strings.NewReader("x"), 1) },
		"Create":  func() error { return s.Create(ctx, "c/d/obj", strings.NewReader("x"), 1) },
		"PutFile": func() error { return s.PutFile(ctx, "e/f/obj", seg) },
	} {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, dir := range []string{"", "a", "a/b", "c", "c/d", "e", "e/f"} {
		if p := filepath.Join(root, dir); !slices.Contains(synced, p) {
			t.Errorf("%s was not synced after an entry was made in it (synced: %q)", p, synced)
		}
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
