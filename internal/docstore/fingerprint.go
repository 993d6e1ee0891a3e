package docstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Digest is a collection's fingerprint.
type Digest [sha256.Size]byte

// Fingerprint is a digest of a collection's documents as stored, sealed.
// Every write seals a document afresh, under a new salt and nonce, so a
// put or a deletion changes it; so does any change of the stored bytes. A
// reader that keeps what it decrypted from a collection can tell from it,
// without a key and without decrypting anything, whether that still
// stands; it says nothing of whether the key still opens the documents. A
// collection without documents has the digest of none.
func (s *Store) Fingerprint(ctx context.Context, workspace, collection string) (Digest, error) {
	if err := checkNames(workspace, collection); err != nil {
		return Digest{}, err
	}
	h := sha256.New()
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := collectionBucket(tx, workspace, collection)
		if b == nil {
			return nil
		}
		var n [4]byte
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return nil // a bucket, not a document
			}
			for _, part := range [][]byte{k, v} { // length-prefixed: unambiguous
				binary.BigEndian.PutUint32(n[:], uint32(len(part)))
				h.Write(n[:])
				h.Write(part)
			}
			return nil
		})
	})
	if err != nil {
		return Digest{}, fmt.Errorf("fingerprint %s/%s: %w", workspace, collection, err)
	}
	var sum Digest
	h.Sum(sum[:0])
	return sum, nil
}
