// Package objstore is the interface that sealed objects (log segments, table
// manifests) are kept behind: named byte strings, each written whole, read by
// ranges, listed in key order and deleted, in a local directory or in an
// S3-compatible bucket. What it holds is sealed before it arrives: a backend
// sees keys and sizes, never plaintext.
//
// One backend package each: objstore/localfs (files under a directory) and
// objstore/s3store (an S3-compatible bucket). objstore/objtest is the
// conformance suite both pass.
package objstore

import (
	"context"
	"errors"
	"io"
)

// Errors callers tell apart, returned wrapped with the key and operation.
var (
	// ErrNotExist: no object has the key, or the object an Object handle was
	// opened on has since been replaced or deleted (a backend that cannot
	// keep reading the old bytes says so rather than read the new ones).
	ErrNotExist = errors.New("object does not exist")
	// ErrExist: Create found an object at the key already.
	ErrExist = errors.New("object already exists")
	// ErrInvalidKey: the key or prefix breaks the rules of ValidKey; it is
	// always a *KeyError.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrSize: the body given to Put or Create did not hold exactly the size
	// given; nothing was stored.
	ErrSize = errors.New("object body is not of the size given")
	// ErrUnreachable: the store could not be reached or did not answer
	// (network, timeout, 5xx, throttling); the call may succeed if retried.
	ErrUnreachable = errors.New("object store unreachable")
	// ErrDenied: the store refused the credentials or the access
	// (a wrong key or secret, a missing permission).
	ErrDenied = errors.New("object store refused access")
)

// Store holds objects by key. Keys are "/"-separated paths (see ValidKey);
// every method refuses a bad key with a *KeyError before it touches the
// store. Its methods are safe for concurrent use.
type Store interface {
	// Put stores the size bytes r yields as key, replacing any object there.
	// It is atomic: a reader sees the old object or the new one, whole,
	// never a part; and once Put returns, Open and List see the new one. If
	// r yields more or fewer than size bytes, Put fails with ErrSize and
	// stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Create is Put that stores only if no object is at key, failing with
	// ErrExist otherwise: of several concurrent Creates of one key, exactly
	// one succeeds. A backend that sends its request again when an answer
	// is lost knows its own object when the retry finds it, and succeeds.
	Create(ctx context.Context, key string, r io.Reader, size int64) error
	// Open opens the object at key for reading, or fails with ErrNotExist.
	// ctx bounds the Object's reads too, where they can wait (on a network).
	Open(ctx context.Context, key string) (Object, error)
	// List returns the objects whose keys begin with prefix (a plain string
	// prefix, which need not end at a "/"; "" lists every object), in
	// increasing byte order of their keys.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Delete removes the object at key. Deleting a key that holds no object
	// is not an error: the object is gone either way.
	Delete(ctx context.Context, key string) error
}

// Object is one stored object, opened for reading: the bytes it had when
// opened, or ErrNotExist from ReadAt once they are gone. ReadAt follows
// io.ReaderAt (io.EOF at the end; safe for concurrent calls).
type Object interface {
	io.ReaderAt
	// Size is the object's length in bytes.
	Size() int64
	Close() error
}

// Entry is one object as List returns it.
type Entry struct {
	Key  string
	Size int64
}
