package docstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Write is one change of a Batch: Body is put, or, when nil, the document
// is deleted. IfMatch is as for Put; for a deletion Unconditional means
// "delete it if it is there".
type Write struct {
	Collection, ID string
	Body           []byte
	IfMatch        string
}

// Batch applies writes to one workspace's documents in one transaction:
// all of them or, when one precondition fails, none. It returns each put's
// new etag ("" for a deletion). A resource kept in several documents (a
// watchlist and the chunks of its items) changes with one Batch, so that
// a reader never sees half of a change, and a crash never leaves one.
func (s *Store) Batch(ctx context.Context, workspace string, writes []Write) ([]string, error) {
	if err := checkNames(workspace); err != nil {
		return nil, err
	}
	etags := make([]string, len(writes))
	sealed := make([][]byte, len(writes))
	for i, w := range writes {
		if err := checkNames(workspace, w.Collection, w.ID); err != nil {
			return nil, err
		}
		if w.Body == nil {
			continue
		}
		if len(w.Body) > MaxBodyBytes {
			return nil, fmt.Errorf("%w: a document body of %d bytes is over %d", ErrInvalid, len(w.Body), MaxBodyBytes)
		}
		if !json.Valid(w.Body) {
			return nil, fmt.Errorf("%w: the document body is not JSON", ErrInvalid)
		}
		var etag [etagSize]byte
		rand.Read(etag[:])
		var err error
		if sealed[i], err = s.seal(ctx, workspace, w.Collection, w.ID, etag[:], w.Body); err != nil {
			return nil, fmt.Errorf("put %s/%s/%s: %w", workspace, w.Collection, w.ID, err)
		}
		etags[i] = hex.EncodeToString(etag[:])
	}
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		changed := map[string]kv.Bucket{}
		for i, w := range writes {
			b, err := s.apply(ctx, tx, workspace, w, sealed[i])
			if err != nil {
				return fmt.Errorf("%s/%s/%s: %w", workspace, w.Collection, w.ID, err)
			}
			if b != nil {
				changed[w.Collection] = b
			}
		}
		// One stamp for each collection changed, however many of its
		// documents were.
		for c, b := range changed {
			if err := stamp(b); err != nil {
				return fmt.Errorf("%s/%s: %w", workspace, c, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	return etags, nil
}

// apply makes one write of a batch inside its transaction and returns the
// bucket of the collection it changed: nil for the deletion of a document
// that is not there.
func (s *Store) apply(ctx context.Context, tx kv.Tx, workspace string, w Write, sealed []byte) (kv.Bucket, error) {
	if sealed != nil {
		b, err := createCollectionBucket(tx, workspace, w.Collection)
		if err != nil {
			return nil, err
		}
		if err := s.precondition(ctx, b, workspace, w.Collection, w.ID, w.IfMatch); err != nil {
			return nil, err
		}
		return b, b.Put([]byte(w.ID), sealed)
	}
	b := collectionBucket(tx, workspace, w.Collection)
	if b == nil || b.Get([]byte(w.ID)) == nil {
		if w.IfMatch == Unconditional {
			return nil, nil
		}
		return nil, ErrNotFound
	}
	ifMatch := w.IfMatch
	if ifMatch == Unconditional {
		ifMatch = AnyVersion // opened first: a revoked key stops deletions too
	}
	if err := s.precondition(ctx, b, workspace, w.Collection, w.ID, ifMatch); err != nil {
		return nil, err
	}
	return b, b.Delete([]byte(w.ID))
}

// Count is the number of documents in a collection. It needs no key: IDs
// are plaintext.
func (s *Store) Count(ctx context.Context, workspace, collection string) (int, error) {
	if err := checkNames(workspace, collection); err != nil {
		return 0, err
	}
	n := 0
	err := s.db.View(ctx, func(tx kv.Tx) error {
		if b := collectionBucket(tx, workspace, collection); b != nil {
			n = b.KeyN()
			if b.Get(stampKey) != nil {
				n-- // the write stamp is not a document
			}
		}
		return nil
	})
	return n, err
}
