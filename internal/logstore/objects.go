package logstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// objects is where a store keeps the sealed objects of its tables, segments
// and manifests, each under the key "<workspace>/<table>/<name>" of
// Config.Objects: by default files under Config.Dir, where the table's WALs
// are too, so a data directory written before objects were kept behind
// objstore reads unchanged. WALs stay local files whatever the store.
//
// With a store elsewhere (a bucket), cache keeps whole segments on local
// disk: they are immutable under their names (a name written again, by a
// flush retried after a crash, goes through this node's cache), so a scan
// reads them from disk once fetched. Manifests are never cached: an open
// must read the one the store holds.
type objects struct {
	store objstore.Store
	cache *SegmentCache // nil: segments are read from store itself
	// localDir is the directory of the default store (localfs at
	// Config.Dir), "" for another: a count checks every segment's size,
	// and a stat of the path costs half what the store's checks of the key
	// add to it. The logstore builds its keys from checked names.
	localDir string
}

// filePutter is a store that takes a local file as an object without
// copying it (localfs).
type filePutter interface {
	PutFile(ctx context.Context, key, path string) error
}

// tablePrefix is the prefix of the keys of one table's objects.
func tablePrefix(ws, table string) string { return ws + "/" + table + "/" }

// lineagePrefix is the prefix of the keys of a lineage's objects of a
// table; lineage "" is the table's own, of a store in no cluster.
func lineagePrefix(ws, table, lineage string) string {
	if lineage == "" {
		return tablePrefix(ws, table)
	}
	return ws + "/" + table + "/" + lineage + "/"
}

// segmentKey is the key of a segment of a table's lineage, built in one
// allocation: a count from the manifest checks every segment.
func segmentKey(ws, table, lineage string, n segName) string {
	var buf [400]byte
	b := append(append(append(append(buf[:0], ws...), '/'), table...), '/')
	if lineage != "" {
		b = append(append(b, lineage...), '/')
	}
	return string(n.appendTo(b))
}

// open opens a segment for reading, from the cache if there is one.
func (o *objects) open(ctx context.Context, key string) (objstore.Object, error) {
	if o.cache != nil {
		return o.cache.open(ctx, key)
	}
	return o.store.Open(ctx, key)
}

// openUncached opens an object in the store itself: a verification checks
// what the store holds, not what this node once fetched.
func (o *objects) openUncached(ctx context.Context, key string) (objstore.Object, error) {
	return o.store.Open(ctx, key)
}

// size returns a segment's size, or objstore.ErrNotExist.
func (o *objects) size(ctx context.Context, key string) (int64, error) {
	if o.cache != nil {
		if n, ok := o.cache.size(key); ok {
			return n, nil
		}
	}
	if o.localDir != "" {
		fi, err := os.Stat(o.localDir + string(filepath.Separator) + filepath.FromSlash(key))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("stat %s: %w", key, objstore.ErrNotExist)
		}
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	obj, err := o.store.Open(ctx, key)
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	return obj.Size(), nil
}

// putFile stores the synced local file at path, of size bytes, as key; the
// file is gone from path afterwards (moved into place or into the cache,
// or removed).
func (o *objects) putFile(ctx context.Context, key, path string, size int64) error {
	if p, ok := o.store.(filePutter); ok && o.cache == nil {
		if err := p.PutFile(ctx, key, path); err != nil {
			os.Remove(path)
			return err
		}
		return nil
	}
	if o.cache != nil {
		// Before the store changes: a crash between the two must not leave
		// the cache holding bytes the store no longer does.
		o.cache.remove(key)
	}
	f, err := os.Open(path)
	if err != nil {
		os.Remove(path)
		return err
	}
	err = o.store.Put(ctx, key, f, size)
	f.Close()
	if err != nil || o.cache == nil || !o.cache.adopt(key, path, size) {
		os.Remove(path)
	}
	return err
}

// delete removes an object and its cached copy.
func (o *objects) delete(ctx context.Context, key string) error {
	if o.cache != nil {
		o.cache.remove(key)
	}
	return o.store.Delete(ctx, key)
}

// get reads a whole object (a manifest).
func (o *objects) get(ctx context.Context, key string) ([]byte, error) {
	obj, err := o.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	b := make([]byte, obj.Size())
	if _, err := obj.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// put stores b as key, atomically.
func (o *objects) put(ctx context.Context, key string, b []byte) error {
	return o.store.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
}

// deletePrefix removes every object whose key begins with prefix.
func (o *objects) deletePrefix(ctx context.Context, prefix string) error {
	entries, err := o.store.List(ctx, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, o.delete(ctx, e.Key))
	}
	return errors.Join(errs...)
}

// listTable lists the segments of a table's lineage, with their sizes, and
// tells whether it has a manifest.
func (o *objects) listTable(ctx context.Context, ws, table, lineage string) (segs map[segName]int64, manifest bool, err error) {
	prefix := lineagePrefix(ws, table, lineage)
	entries, err := o.store.List(ctx, prefix)
	if err != nil {
		return nil, false, fmt.Errorf("list the objects of %s/%s: %w", ws, table, err)
	}
	segs = make(map[segName]int64, len(entries))
	for _, e := range entries {
		name := e.Key[len(prefix):]
		if name == manifestFile || strings.HasPrefix(name, manifestFile+"-") {
			manifest = true
		} else if n, ok := parseSegName(name); ok {
			segs[n] = e.Size
		}
	}
	return segs, manifest, nil
}
