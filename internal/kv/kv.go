// Package kv is the ordered, transactional key-value storage that the
// control plane and the document store keep their records in: the embedded
// bbolt file of a single node (package boltkv), or PostgreSQL shared by
// several nodes (package pgkv). The domain packages see only these
// interfaces, so they do not know which engine holds their bytes; what they
// hand it is already sealed where it must be.
//
// The model is bbolt's: named buckets, nested to any depth, of keys ordered
// bytewise; one writer at a time per database and consistent snapshots for
// readers. A backend whose reads can fail (a network round trip) records
// the first failure in the transaction: the read returns nil, and View or
// Update returns that failure in place of fn's own result, so a failed read
// is never taken for a missing key. A bucket looked up then is an empty one
// whose writes fail, not nil, so that code relying on a bucket made at
// start does not dereference nil before View or Update returns.
package kv

import (
	"context"
	"errors"
)

// Errors a backend returns, whatever its engine.
var (
	// ErrBucketNotFound is returned when deleting a bucket that is not there.
	ErrBucketNotFound = errors.New("kv: bucket not found")
	// ErrIncompatibleValue is returned when a key names a bucket where a
	// value was expected, or a value where a bucket was.
	ErrIncompatibleValue = errors.New("kv: incompatible value")
	// ErrKeyRequired is returned for an empty key or bucket name.
	ErrKeyRequired = errors.New("kv: key required")
	// ErrTxNotWritable is returned for a write inside View.
	ErrTxNotWritable = errors.New("kv: transaction not writable")
	// ErrUnavailable is a transaction that could not reach its database
	// (a server down or refusing connections): nothing of it was done, and
	// it may be tried again later.
	ErrUnavailable = errors.New("kv: the database is unreachable")
)

// DB is one database: the records of one concern (identity, vault,
// control plane, documents). Writers are serialized; a reader sees one
// consistent snapshot for its whole transaction.
type DB interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committed if fn returns
	// nil and rolled back otherwise. Updates to one DB run one at a time,
	// across every node that shares it.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the database; transactions in flight finish first.
	Close() error
}

// Tx is a transaction: its top-level buckets. Slices it returns are valid
// only until it ends.
type Tx interface {
	// Bucket returns the named top-level bucket, or nil if there is none.
	Bucket(name []byte) Bucket
	// CreateBucketIfNotExists returns the named top-level bucket, creating
	// it in a writable transaction.
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	// DeleteBucket deletes the named top-level bucket and all it holds.
	DeleteBucket(name []byte) error
}

// Bucket is an ordered set of keys, each holding a value or a nested
// bucket.
type Bucket interface {
	// Get returns the key's value, or nil if the key is absent or names a
	// nested bucket.
	Get(key []byte) []byte
	// Put sets the key's value. The value may be empty but not nil.
	Put(key, value []byte) error
	// Delete removes the key's value; deleting an absent key is no error.
	Delete(key []byte) error
	// Bucket returns the nested bucket, or nil if there is none.
	Bucket(name []byte) Bucket
	// CreateBucketIfNotExists returns the nested bucket, creating it.
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	// DeleteBucket deletes the nested bucket and all it holds.
	DeleteBucket(name []byte) error
	// Cursor returns a cursor over the bucket's keys in order.
	Cursor() Cursor
	// ForEach calls fn for every key in order; a nested bucket's key comes
	// with a nil value. fn must not change the bucket.
	ForEach(fn func(k, v []byte) error) error
	// ForEachBucket calls fn with the name of every nested bucket, in
	// order.
	ForEachBucket(fn func(name []byte) error) error
	// KeyN counts the keys directly in the bucket, nested buckets' names
	// included.
	KeyN() int
}

// Cursor walks a bucket's keys in order. Each move returns the key and
// value it lands on, a nil value for a nested bucket, and a nil key past
// either end.
type Cursor interface {
	First() (key, value []byte)
	Last() (key, value []byte)
	// Seek moves to the first key at or after seek.
	Seek(seek []byte) (key, value []byte)
	Next() (key, value []byte)
	Prev() (key, value []byte)
	// Delete removes the value under the cursor; the next move goes on from
	// where it was.
	Delete() error
}

// Appender is implemented by a Bucket whose engine stores keys that only
// ever grow (sequence numbers) more densely when told so: boltkv then fills
// its pages instead of splitting them in half. A backend that gains nothing
// from the hint does not implement it.
type Appender interface {
	// AppendOnly says that, for the rest of the transaction, keys are put
	// only after the bucket's last key.
	AppendOnly()
}

// Claimer is implemented by a DB that keeps sets of keys beside its
// buckets, written without its serialized writer: claims from every node
// run concurrently, and the engine alone decides which of two claims of one
// key came first. It is for records that every request writes and nothing
// reads back but the next claim of the same key (the signatures of taken
// requests), which would otherwise queue every node's requests behind one
// Update at a time. A set is not a bucket: no Tx sees it.
type Claimer interface {
	// Claim adds keys to the named set and reports, for each, whether this
	// call added it: false where the set held it already, or an earlier key
	// of keys is the same. Of concurrent claims of one key, from any node,
	// exactly one is told true. Claims are durable when Claim returns.
	Claim(ctx context.Context, set []byte, keys [][]byte) (claimed []bool, err error)
	// Unclaim removes keys from the named set and, if before is not nil,
	// every key of the set that sorts before it.
	Unclaim(ctx context.Context, set []byte, keys [][]byte, before []byte) error
}
