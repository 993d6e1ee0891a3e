package localfs_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/objstore/objtest"
)

func TestConformance(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objstore.Store {
		s, err := localfs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A crash between writing a temporary file and renaming it leaves the file;
// it is never an object.
func TestTemporaryFilesAreNeverObjects(t *testing.T) {
	root := filepath.Join(t.TempDir(), ".sealwatch") // a hidden root is still the root
	s, err := localfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "ws/t/manifest", strings.NewReader("m"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "ws/t/seg", strings.NewReader("s"), 1); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "ws", "t"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"manifest", "seg"}) {
		t.Fatalf("after Put and Create the directory holds %v, want the two objects alone", names)
	}
	left := filepath.Join(root, "ws", "t", ".objstore-123.tmp")
	if err := os.WriteFile(left, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []objstore.Entry{{Key: "ws/t/manifest", Size: 1}, {Key: "ws/t/seg", Size: 1}}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

func TestObjectFilesAreTheOwnersAlone(t *testing.T) {
	root := t.TempDir()
	s, err := localfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "ws/seg", strings.NewReader("s"), 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ws", "ws/seg"} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", p, fi.Mode().Perm())
		}
	}
}

// TestACrashedWritesTemporaryFileIsRemovedAtOpen opens a store holding the
// temporary files of writes that crashed, an hour and more ago, and of
// one that may be in flight: New removes the first, whatever directory
// they are in, and leaves the one in flight and every object.
func TestACrashedWritesTemporaryFileIsRemovedAtOpen(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	s, err := localfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "ws/t/seg", strings.NewReader("s"), 1); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	write := func(rel string, mtime time.Time) string {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crashed := []string{write("ws/t/.objstore-1.tmp", old), write(".objstore-2.tmp", old), write("other/x/y/.objstore-3.tmp", old)}
	inFlight := write("ws/t/.objstore-4.tmp", time.Now())
	notOurs := write("ws/t/.keep", old)
	if err := os.Chtimes(filepath.Join(root, "ws", "t", "seg"), old, old); err != nil {
		t.Fatal(err)
	}

	if _, err := localfs.New(root); err != nil {
		t.Fatal(err)
	}
	for _, p := range crashed {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	for _, p := range []string{inFlight, notOurs, filepath.Join(root, "ws", "t", "seg")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; want it kept", p, err)
		}
	}
}
