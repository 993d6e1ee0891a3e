// Package localfs keeps objects as files under a directory: the key's
// segments are the path below it. A write goes to a temporary file beside
// its target, is synced, renamed over the target and the directory synced,
// so a crash leaves the old object or the new one, whole. It is the embedded
// default behind objstore.Store.
//
// Unlike S3, a file system cannot hold an object at a key and others under it
// as a directory ("a" and "a/b"); such a Put fails. The log store's keys
// (workspace/table/name) never do that.
package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// tmpPattern names temporary files: a leading '.' no valid key has, so List
// never shows one and no key ever names one.
const tmpPattern = ".objstore-*.tmp"

// staleTemp is how long a temporary file must have gone unmodified for New
// to remove it as a crashed write's: a write in flight, this process's or
// that of another node mounting the same directory, modifies its file
// until it renames it, within seconds.
const staleTemp = time.Hour

// Store is an objstore.Store on a directory.
type Store struct {
	root string
	// syncDir syncs a directory's entries (a test watches it).
	syncDir func(dir string) error
}

var _ objstore.Store = (*Store)(nil)

// New opens the store rooted at dir, creating the directory if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("localfs: no directory given")
	}
	s := &Store{root: dir, syncDir: syncDir}
	if err := s.mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	if err := removeStaleTemps(dir, time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("localfs: remove the temporary files of writes that crashed: %w", err)
	}
	return s, nil
}

// removeStaleTemps removes the temporary files under root last modified
// before cutoff: a write that crashed leaves its file, which nothing else
// ever removes. It reads every directory of the store once, and stats only
// the files named as temporary files.
func removeStaleTemps(root string, cutoff time.Time) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walked
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if ok, _ := filepath.Match(tmpPattern, d.Name()); !ok {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil // gone meanwhile, or a write that may be in flight: left
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.write(ctx, "put", key, r, size, os.Rename)
}

// Create implements objstore.Store: the object is linked under its name, which
// fails if the name is taken, then the temporary name removed.
func (s *Store) Create(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.write(ctx, "create", key, r, size, func(tmp, dst string) error {
		if err := os.Link(tmp, dst); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return objstore.ErrExist
			}
			return err
		}
		os.Remove(tmp) // the object is in place; a stray temporary file is hidden from List
		return nil
	})
}

// write writes the body to a synced temporary file in the key's directory
// and hands it to publish to put under the key's name.
func (s *Store) write(ctx context.Context, op, key string, r io.Reader, size int64, publish func(tmp, dst string) error) (err error) {
	if err := objstore.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s %s: %w", op, key, err)
		}
	}()
	if size < 0 {
		return objstore.ErrSize
	}
	dst := s.path(key)
	dir := filepath.Dir(dst)
	if err := s.mkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPattern)
	if err != nil {
		return err
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			os.Remove(tmp)
		}
	}()
	err = copyExactly(f, r, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := publish(tmp, dst); err != nil {
		return err
	}
	published = true
	return s.syncDir(dir)
}

// mkdirAll creates dir and the directories above it that are missing, and
// syncs the parent of each it created: an object renamed or linked into a
// new directory survives a crash only if the directory's own entry does.
func (s *Store) mkdirAll(dir string) error {
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range created {
		if err := s.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// copyExactly copies size bytes from r to w and checks r has no more.
func copyExactly(w io.Writer, r io.Reader, size int64) error {
	n, err := io.CopyN(w, r, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the body ended after %d bytes of %d", objstore.ErrSize, n, size)
	}
	if err != nil {
		return err
	}
	var one [1]byte
	switch _, err := io.ReadFull(r, one[:]); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	default:
		return fmt.Errorf("%w: the body holds more than %d bytes", objstore.ErrSize, size)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open implements objstore.Store. The file stays open, so its bytes stay
// readable through the Object even after the key is replaced or deleted.
func (s *Store) Open(ctx context.Context, key string) (objstore.Object, error) {
	if err := objstore.ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, notExist(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = objstore.ErrNotExist // a directory: keys under it exist, not it
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return &object{File: f, size: fi.Size()}, nil
}

type object struct {
	*os.File
	size int64
}

func (o *object) Size() int64 { return o.size }

// notExist turns the file system's "no such file" into objstore.ErrNotExist;
// ENOTDIR is one too: a key under a key that is an object.
func notExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return objstore.ErrNotExist
	}
	return err
}

// List implements objstore.Store. It walks the deepest directory the prefix
// names whole and keeps the files whose keys begin with the prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]objstore.Entry, error) {
	if err := objstore.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = s.path(prefix[:i])
	}
	entries := []objstore.Entry{}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(notExist(err), objstore.ErrNotExist) {
				return fs.SkipAll // nothing under the prefix
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p != start && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // a temporary file
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listed
		}
		if err != nil {
			return err
		}
		entries = append(entries, objstore.Entry{Key: key, Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	// The walk goes by names within each directory; keys order by bytes,
	// where "a-b" comes before "a/b".
	slices.SortFunc(entries, func(a, b objstore.Entry) int { return strings.Compare(a.Key, b.Key) })
	return entries, nil
}

// Delete implements objstore.Store. The directories left empty stay: a
// concurrent write into them must not find its directory gone.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(notExist(err), objstore.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return nil // a directory: no object has this key
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return s.syncDir(filepath.Dir(p))
}

// PutFile moves the file at path, which the caller has written and synced
// on the store's file system, into place as key, replacing any object
// there: Put without copying the bytes, for an object first written as a
// local file (a log segment). The file is no longer at path once it
// returns without error.
func (s *Store) PutFile(ctx context.Context, key, path string) error {
	if err := objstore.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dst := s.path(key)
	dir := filepath.Dir(dst)
	if err := s.mkdirAll(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.syncDir(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
