// Package boltkv keeps a kv database in one embedded bbolt file: the
// storage of a single node, and the default.
package boltkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("database file is in use by another process")

// Options tune Open.
type Options struct {
	// ReadOnly opens the file for reading only, shared with other readers.
	ReadOnly bool
	// Timeout is how long Open waits for another process's lock (default 2s).
	Timeout time.Duration
	// NoSync commits without syncing the file: for tests and benchmarks
	// only, since a crash may then lose committed writes or the file.
	NoSync bool
}

// DB is a kv.DB in a bbolt file.
type DB struct{ db *bbolt.DB }

var (
	_ kv.DB      = (*DB)(nil)
	_ kv.Claimer = (*DB)(nil)
)

// Open opens or creates the database file at path, mode 0600, creating its
// directory (mode 0700) if need be.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create the directory of %s: %w", path, err)
		}
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// Path returns the file's path.
func (d *DB) Path() string { return d.db.Path() }

// Close closes the file.
func (d *DB) Close() error { return d.db.Close() }

// View runs fn in a read-only transaction. bbolt does not block on I/O
// that a context could cut short, so ctx is checked only before starting.
func (d *DB) View(ctx context.Context, fn func(kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(d.db.View(func(tx *bbolt.Tx) error { return fn(boltTx{tx}) }))
}

// Update runs fn in a read-write transaction.
func (d *DB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(d.db.Update(func(tx *bbolt.Tx) error { return fn(boltTx{tx}) }))
}

// claimsBucket holds the sets of keys of kv.Claimer, a nested bucket each.
// No package names a bucket with a NUL byte.
var claimsBucket = []byte("\x00claims")

// Claim implements kv.Claimer in an Update: the file has one writer, the
// node, so there is no other writer to keep out of its way.
func (d *DB) Claim(ctx context.Context, set []byte, keys [][]byte) ([]bool, error) {
	claimed := make([]bool, len(keys))
	err := d.Update(ctx, func(tx kv.Tx) error {
		b, err := claimSet(tx, set)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if b.Get(k) != nil {
				continue
			}
			if err := b.Put(k, []byte{}); err != nil {
				return err
			}
			claimed[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// Unclaim implements kv.Claimer in an Update.
func (d *DB) Unclaim(ctx context.Context, set []byte, keys [][]byte, before []byte) error {
	return d.Update(ctx, func(tx kv.Tx) error {
		b, err := claimSet(tx, set)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if before == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, before) < 0; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// claimSet returns the bucket of the named set, creating it.
func claimSet(tx kv.Tx, set []byte) (kv.Bucket, error) {
	if len(set) == 0 {
		return nil, kv.ErrKeyRequired
	}
	b, err := tx.CreateBucketIfNotExists(claimsBucket)
	if err != nil {
		return nil, err
	}
	return b.CreateBucketIfNotExists(set)
}

type boltTx struct{ tx *bbolt.Tx }

func (t boltTx) Bucket(name []byte) kv.Bucket { return wrap(t.tx.Bucket(name)) }

func (t boltTx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return boltBucket{b}, nil
}

func (t boltTx) DeleteBucket(name []byte) error { return mapErr(t.tx.DeleteBucket(name)) }

type boltBucket struct{ b *bbolt.Bucket }

var _ kv.Appender = boltBucket{}

// appendFill is the fill of a page split by appends: bbolt's default of half
// leaves every page of an append-only bucket half empty for good.
const appendFill = 0.95

// wrap returns nil for a missing bucket, never a kv.Bucket holding nil.
func wrap(b *bbolt.Bucket) kv.Bucket {
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func (b boltBucket) Get(key []byte) []byte        { return b.b.Get(key) }
func (b boltBucket) Put(key, value []byte) error  { return mapErr(b.b.Put(key, value)) }
func (b boltBucket) Delete(key []byte) error      { return mapErr(b.b.Delete(key)) }
func (b boltBucket) Bucket(name []byte) kv.Bucket { return wrap(b.b.Bucket(name)) }
func (b boltBucket) Cursor() kv.Cursor            { return &boltCursor{c: b.b.Cursor()} }
func (b boltBucket) KeyN() int {
	n := 0
	c := b.b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func (b boltBucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return boltBucket{nb}, nil
}

func (b boltBucket) DeleteBucket(name []byte) error { return mapErr(b.b.DeleteBucket(name)) }

// AppendOnly fills pages before splitting them; bbolt keeps the setting on
// the bucket for the rest of the transaction.
func (b boltBucket) AppendOnly() { b.b.FillPercent = appendFill }

func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }

func (b boltBucket) ForEachBucket(fn func(name []byte) error) error { return b.b.ForEachBucket(fn) }

// boltCursor is bbolt's cursor, but for Delete: once the transaction has
// changed the page under it, bbolt's Cursor.Delete leaves the cursor on the
// following key, so a Next after it skips one (bbolt issue 146). The
// cursor keeps the key it deleted and finds its place again by Seek on the
// next move.
type boltCursor struct {
	c       *bbolt.Cursor
	key     []byte // where the last move landed
	deleted []byte // the key Delete removed, until the next move
}

func (c *boltCursor) First() ([]byte, []byte)           { return c.at(c.c.First()) }
func (c *boltCursor) Last() ([]byte, []byte)            { return c.at(c.c.Last()) }
func (c *boltCursor) Seek(seek []byte) ([]byte, []byte) { return c.at(c.c.Seek(seek)) }

func (c *boltCursor) Next() ([]byte, []byte) {
	if c.deleted != nil {
		// The first key after the deleted one.
		return c.at(c.c.Seek(c.deleted))
	}
	return c.at(c.c.Next())
}

func (c *boltCursor) Prev() ([]byte, []byte) {
	if c.deleted != nil {
		if k, _ := c.c.Seek(c.deleted); k == nil {
			return c.at(c.c.Last())
		}
	}
	return c.at(c.c.Prev())
}

func (c *boltCursor) Delete() error {
	if err := c.c.Delete(); err != nil {
		return mapErr(err)
	}
	c.deleted = bytes.Clone(c.key)
	return nil
}

// at records where a move landed and returns it.
func (c *boltCursor) at(k, v []byte) ([]byte, []byte) {
	c.key, c.deleted = k, nil
	return k, v
}

// mapErr turns bbolt's errors into kv's, so callers test one set.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrBucketNotFound):
		return fmt.Errorf("%w (%w)", kv.ErrBucketNotFound, err)
	case errors.Is(err, bolterrors.ErrIncompatibleValue):
		return fmt.Errorf("%w (%w)", kv.ErrIncompatibleValue, err)
	case errors.Is(err, bolterrors.ErrKeyRequired), errors.Is(err, bolterrors.ErrBucketNameRequired):
		return fmt.Errorf("%w (%w)", kv.ErrKeyRequired, err)
	case errors.Is(err, bolterrors.ErrTxNotWritable):
		return fmt.Errorf("%w (%w)", kv.ErrTxNotWritable, err)
	}
	return err
}
