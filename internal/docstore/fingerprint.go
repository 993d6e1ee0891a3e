package docstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Digest is a collection's fingerprint.
type Digest [sha256.Size]byte

// stampKey is the key of a collection's write stamp, in its bucket beside
// its documents: '!' is in no document ID (checkNames), so no document
// can take the key, and it sorts before every ID, so a backend that reads
// a bucket's first keys with its lookup (pgkv) reads the stamp in the same
// round trip.
var stampKey = []byte("!stamp")

const (
	stampSize    = 16
	stampPurpose = "sealwatch/docstore/stamp/v1"
)

// stamp rewrites the write stamp of the collection in b with fresh random
// bytes. Every write that changes a collection calls it in the write's own
// transaction, so no reader on any node sees the change without the new
// stamp, nor the stamp without the change.
func stamp(b kv.Bucket) error {
	var s [stampSize]byte
	rand.Read(s[:])
	return b.Put(stampKey, s[:])
}

// Fingerprint tells, without a key and without decrypting anything,
// whether a collection changed: each put (even of the same body), batch
// and deletion through any Store over the database gives it a new value,
// and a collection without documents has the digest of none. It is read
// from the collection's write stamp, one key however many documents the
// collection holds; a collection last written before stamps existed has
// none, and its digest is a SHA-256 of its sealed documents as stored
// until its next write stamps it.
//
// A stamped collection's fingerprint does not follow bytes changed behind
// the store's back (a flipped bit in the database): a reader that keeps
// what it decrypted keeps serving the authentic documents it opened, and
// the damage is refused when a document is next read, since every read
// authenticates it. It says nothing of whether the key still opens the
// documents.
func (s *Store) Fingerprint(ctx context.Context, workspace, collection string) (Digest, error) {
	if err := checkNames(workspace, collection); err != nil {
		return Digest{}, err
	}
	var sum Digest
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := collectionBucket(tx, workspace, collection)
		if b == nil {
			sum = sha256.Sum256(nil) // the digest of no documents
			return nil
		}
		if st := b.Get(stampKey); st != nil {
			sum = sha256.Sum256(append([]byte(stampPurpose), st...))
			return nil
		}
		var err error
		sum, err = contentDigest(b)
		return err
	})
	if err != nil {
		return Digest{}, fmt.Errorf("fingerprint %s/%s: %w", workspace, collection, err)
	}
	return sum, nil
}

// contentDigest is a SHA-256 of the documents of the collection in b as
// stored, sealed: the fingerprint of a collection without a write stamp.
func contentDigest(b kv.Bucket) (Digest, error) {
	h := sha256.New()
	var n [4]byte
	err := forEachDocument(b, func(id, sealed []byte) error {
		for _, part := range [][]byte{id, sealed} { // length-prefixed: unambiguous
			binary.BigEndian.PutUint32(n[:], uint32(len(part)))
			h.Write(n[:])
			h.Write(part)
		}
		return nil
	})
	var sum Digest
	h.Sum(sum[:0])
	return sum, err
}

// forEachDocument calls fn with the ID and sealed value of every document
// of the collection in b, in ID order: its write stamp and any nested
// bucket are not documents.
func forEachDocument(b kv.Bucket, fn func(id, sealed []byte) error) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil || bytes.Equal(k, stampKey) {
			return nil
		}
		return fn(k, v)
	})
}
