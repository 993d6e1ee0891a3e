// Package docstore keeps a workspace's documents (incidents, comments,
// rules, watchlists, settings) in a kv database, each sealed on its own
// under the document store's account key, with an etag for optimistic
// concurrency.
//
// Workspace IDs, collection names and document IDs are stored in plaintext
// (bucket names and keys) so that a workspace can be listed and deleted
// without any key; callers must not put customer data in them. Everything
// else, the etag included, is inside the seal.
package docstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/kv"
)

var (
	// ErrNotFound means no document has the ID.
	ErrNotFound = errors.New("document not found")
	// ErrConflict means the document's etag is not the one given: someone
	// changed it since it was read.
	ErrConflict = errors.New("document changed since it was read: etag does not match")
	// ErrCorrupt means a sealed document failed its integrity check: a
	// flipped bit, or a value moved to another ID, collection or workspace.
	ErrCorrupt = errors.New("sealed document failed its integrity check")
	// ErrInvalid means a name or a body the store cannot take.
	ErrInvalid = errors.New("invalid document request")
)

// IntegrityError names a document that failed its integrity check. It is
// an ErrCorrupt, and holds no content of the document.
type IntegrityError struct {
	Workspace, Collection, ID string
	Detail                    string // what failed
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("document %s/%s/%s: %s", e.Workspace, e.Collection, e.ID, e.Detail)
}

// Unwrap makes every IntegrityError an ErrCorrupt.
func (e *IntegrityError) Unwrap() error { return ErrCorrupt }

// IfMatch values other than an etag.
const (
	Unconditional = ""  // create or replace
	AnyVersion    = "*" // replace, or ErrNotFound
	CreateOnly    = "!" // create, or ErrConflict if the document exists
)

const (
	bucketPrefix  = "docstore."
	formatVersion = 1
	purpose       = "sealwatch/docstore/document/v1"
	magic         = "SWDC"
	saltSize      = 32
	etagSize      = 16
	// MaxBodyBytes is the largest document body.
	MaxBodyBytes = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Document is one JSON document and its etag.
type Document struct {
	ID   string
	ETag string
	Body json.RawMessage
}

// Store is the document store over one kv database. It is safe for
// concurrent use.
type Store struct {
	db   kv.DB
	keys envelope.Keys
}

// New returns a store in db (which the caller opens and closes), sealing
// under keys. It needs no key to start.
func New(db kv.DB, keys envelope.Keys) (*Store, error) {
	if db == nil || keys == nil {
		return nil, errors.New("document store: a database and keys are required")
	}
	return &Store{db: db, keys: keys}, nil
}

// Get reads a document.
func (s *Store) Get(ctx context.Context, workspace, collection, id string) (Document, error) {
	if err := checkNames(workspace, collection, id); err != nil {
		return Document{}, err
	}
	var sealed []byte
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := collectionBucket(tx, workspace, collection)
		if b == nil {
			return ErrNotFound
		}
		sealed = bytes.Clone(b.Get([]byte(id)))
		if sealed == nil {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return Document{}, fmt.Errorf("get %s/%s/%s: %w", workspace, collection, id, err)
	}
	doc, err := s.open(ctx, workspace, collection, id, sealed)
	if err != nil {
		return Document{}, fmt.Errorf("get %s/%s/%s: %w", workspace, collection, id, err)
	}
	return doc, nil
}

// Put writes a document and returns its new etag. ifMatch is Unconditional,
// AnyVersion, CreateOnly, or the etag the caller read: ErrNotFound if there
// is no document to match, ErrConflict if it has another etag (or, for
// CreateOnly, exists).
func (s *Store) Put(ctx context.Context, workspace, collection, id string, body []byte, ifMatch string) (string, error) {
	if err := checkNames(workspace, collection, id); err != nil {
		return "", err
	}
	if len(body) > MaxBodyBytes {
		return "", fmt.Errorf("%w: a document body of %d bytes is over %d", ErrInvalid, len(body), MaxBodyBytes)
	}
	if !json.Valid(body) {
		return "", fmt.Errorf("%w: the document body is not JSON", ErrInvalid)
	}
	var etag [etagSize]byte
	rand.Read(etag[:])
	sealed, err := s.seal(ctx, workspace, collection, id, etag[:], body)
	if err != nil {
		return "", fmt.Errorf("put %s/%s/%s: %w", workspace, collection, id, err)
	}
	err = s.db.Update(ctx, func(tx kv.Tx) error {
		b, err := createCollectionBucket(tx, workspace, collection)
		if err != nil {
			return err
		}
		if err := s.precondition(ctx, b, workspace, collection, id, ifMatch); err != nil {
			return err
		}
		if err := b.Put([]byte(id), sealed); err != nil {
			return err
		}
		return stamp(b)
	})
	if err != nil {
		return "", fmt.Errorf("put %s/%s/%s: %w", workspace, collection, id, err)
	}
	return hex.EncodeToString(etag[:]), nil
}

// Delete deletes a document; ifMatch is as for Put. The document is opened
// first, so that a revoked key stops deletions like every other change.
func (s *Store) Delete(ctx context.Context, workspace, collection, id, ifMatch string) error {
	if err := checkNames(workspace, collection, id); err != nil {
		return err
	}
	if ifMatch == Unconditional {
		ifMatch = AnyVersion
	}
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		b := collectionBucket(tx, workspace, collection)
		if b == nil {
			return ErrNotFound
		}
		if err := s.precondition(ctx, b, workspace, collection, id, ifMatch); err != nil {
			return err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		return stamp(b)
	})
	if err != nil {
		return fmt.Errorf("delete %s/%s/%s: %w", workspace, collection, id, err)
	}
	return nil
}

// precondition checks ifMatch against the stored document (the caller's
// write transaction holds it still). AnyVersion opens the document too:
// every change needs the key and an authentic document.
func (s *Store) precondition(ctx context.Context, b kv.Bucket, workspace, collection, id, ifMatch string) error {
	if ifMatch == Unconditional {
		return nil
	}
	sealed := b.Get([]byte(id))
	if ifMatch == CreateOnly {
		if sealed != nil {
			return ErrConflict
		}
		return nil
	}
	if sealed == nil {
		return ErrNotFound
	}
	doc, err := s.open(ctx, workspace, collection, id, sealed)
	if err != nil {
		return err
	}
	if ifMatch != AnyVersion && doc.ETag != ifMatch {
		return ErrConflict
	}
	return nil
}

// List reads every document of a collection, ordered by ID. One document
// that does not open fails the whole list.
func (s *Store) List(ctx context.Context, workspace, collection string) ([]Document, error) {
	if err := checkNames(workspace, collection); err != nil {
		return nil, err
	}
	type entry struct{ id, sealed []byte }
	var entries []entry
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := collectionBucket(tx, workspace, collection)
		if b == nil {
			return nil
		}
		return forEachDocument(b, func(id, sealed []byte) error {
			entries = append(entries, entry{bytes.Clone(id), bytes.Clone(sealed)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", workspace, collection, err)
	}
	docs := make([]Document, 0, len(entries))
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		doc, err := s.open(ctx, workspace, collection, string(e.id), e.sealed)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", workspace, collection, err)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// Verify opens every document of a workspace, reporting each one opened to
// progress (if not nil), and returns those that failed their integrity
// check. Any other failure (a revoked key) ends it with an error.
func (s *Store) Verify(ctx context.Context, workspace string, progress func(docs int)) ([]IntegrityError, error) {
	collections, err := s.Collections(ctx, workspace)
	if err != nil {
		return nil, err
	}
	var damaged []IntegrityError
	for _, c := range collections {
		var entries [][2][]byte
		err := s.db.View(ctx, func(tx kv.Tx) error {
			b := collectionBucket(tx, workspace, c)
			if b == nil {
				return nil // deleted since it was listed
			}
			return forEachDocument(b, func(id, sealed []byte) error {
				entries = append(entries, [2][]byte{bytes.Clone(id), bytes.Clone(sealed)})
				return nil
			})
		})
		if err != nil {
			return damaged, fmt.Errorf("verify %s/%s: %w", workspace, c, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return damaged, err
			}
			_, err := s.open(ctx, workspace, c, string(e[0]), e[1])
			var ie *IntegrityError
			switch {
			case errors.As(err, &ie):
				damaged = append(damaged, *ie)
			case err != nil:
				return damaged, fmt.Errorf("verify %s/%s: %w", workspace, c, err)
			}
			if progress != nil {
				progress(1)
			}
		}
	}
	return damaged, nil
}

// Collections lists a workspace's collections. It needs no key.
func (s *Store) Collections(ctx context.Context, workspace string) ([]string, error) {
	if err := checkNames(workspace); err != nil {
		return nil, err
	}
	var out []string
	err := s.db.View(ctx, func(tx kv.Tx) error {
		wb := tx.Bucket([]byte(bucketPrefix + workspace))
		if wb == nil {
			return nil
		}
		return wb.ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// DeleteWorkspace deletes every document of a workspace, and its
// collections' write stamps with them. It needs no key: it is what a
// customer can still do once the key is revoked.
func (s *Store) DeleteWorkspace(ctx context.Context, workspace string) error {
	if err := checkNames(workspace); err != nil {
		return err
	}
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		err := tx.DeleteBucket([]byte(bucketPrefix + workspace))
		if errors.Is(err, kv.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete workspace %s: %w", workspace, err)
	}
	return nil
}

// createCollectionBucket is collectionBucket, created if need be.
func createCollectionBucket(tx kv.Tx, workspace, collection string) (kv.Bucket, error) {
	wb, err := tx.CreateBucketIfNotExists([]byte(bucketPrefix + workspace))
	if err != nil {
		return nil, err
	}
	return wb.CreateBucketIfNotExists([]byte(collection))
}

func collectionBucket(tx kv.Tx, workspace, collection string) kv.Bucket {
	wb := tx.Bucket([]byte(bucketPrefix + workspace))
	if wb == nil {
		return nil
	}
	return wb.Bucket([]byte(collection))
}

// A sealed document:
//
//	magic "SWDC" | u16 version | u8 AEK ID length | AEK ID | salt (32) |
//	u32 CRC-32C of the above | nonce ‖ AES-GCM(etag (16) ‖ body) ‖ tag
//
// The object key is HKDF(AEK, salt, purpose), with a fresh salt for each
// write (so each key seals once); the AAD binds the format version, the AEK
// ID, the workspace, the collection and the ID. The header's checksum makes
// a flipped header bit ErrCorrupt before any key is asked for.
func (s *Store) seal(ctx context.Context, workspace, collection, id string, etag, body []byte) ([]byte, error) {
	sealer, err := s.keys.Current(ctx)
	if err != nil {
		return nil, err
	}
	aekID := sealer.KeyID()
	if aekID == "" || len(aekID) > 255 {
		return nil, fmt.Errorf("account key ID of %d bytes does not fit a header", len(aekID))
	}
	out := make([]byte, 0, 4+2+1+len(aekID)+saltSize+4+12+etagSize+len(body)+16)
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint16(out, formatVersion)
	out = append(out, byte(len(aekID)))
	out = append(out, aekID...)
	salt := make([]byte, saltSize)
	rand.Read(salt)
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	aead, err := sealer.AEAD(salt, purpose)
	if err != nil {
		return nil, fmt.Errorf("derive document key: %w", err)
	}
	n := len(out)
	out = out[:n+aead.NonceSize()]
	rand.Read(out[n:])
	plain := append(append(make([]byte, 0, etagSize+len(body)), etag...), body...)
	return aead.Seal(out, out[n:], plain, aad(formatVersion, aekID, workspace, collection, id)), nil
}

func aad(version int, aekID, workspace, collection, id string) []byte {
	return envelope.AAD("docstore.document", strconv.Itoa(version), aekID, workspace, collection, id)
}

// open authenticates and decrypts a sealed document found under
// (workspace, collection, id).
func (s *Store) open(ctx context.Context, workspace, collection, id string, sealed []byte) (Document, error) {
	doc, err := s.openSealed(ctx, workspace, collection, id, sealed)
	if errors.Is(err, ErrCorrupt) {
		return doc, &IntegrityError{Workspace: workspace, Collection: collection, ID: id,
			Detail: strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": ")}
	}
	return doc, err
}

func (s *Store) openSealed(ctx context.Context, workspace, collection, id string, sealed []byte) (Document, error) {
	if len(sealed) < 7 || string(sealed[:4]) != magic {
		return Document{}, fmt.Errorf("%w: not a sealed document", ErrCorrupt)
	}
	idLen := int(sealed[6])
	hlen := 7 + idLen + saltSize
	if idLen == 0 || len(sealed) < hlen+4 {
		return Document{}, fmt.Errorf("%w: truncated header", ErrCorrupt)
	}
	if crc32.Checksum(sealed[:hlen], castagnoli) != binary.BigEndian.Uint32(sealed[hlen:]) {
		return Document{}, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if v := binary.BigEndian.Uint16(sealed[4:]); v != formatVersion {
		return Document{}, fmt.Errorf("%w: format version %d is not supported", ErrCorrupt, v)
	}
	aekID := string(sealed[7 : 7+idLen])
	salt := sealed[7+idLen : hlen]
	sealer, err := s.keys.ByID(ctx, aekID)
	if err != nil {
		return Document{}, fmt.Errorf("account key %s: %w", aekID, err)
	}
	aead, err := sealer.AEAD(salt, purpose)
	if err != nil {
		return Document{}, fmt.Errorf("derive document key: %w", err)
	}
	ct := sealed[hlen+4:]
	if len(ct) < aead.NonceSize()+aead.Overhead() {
		return Document{}, fmt.Errorf("%w: truncated document", ErrCorrupt)
	}
	plain, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad(formatVersion, aekID, workspace, collection, id))
	if err != nil || len(plain) < etagSize {
		return Document{}, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return Document{ID: id, ETag: hex.EncodeToString(plain[:etagSize]), Body: plain[etagSize:]}, nil
}

// Names: workspaces as in the log store; collections short identifiers;
// document IDs GUIDs, rule or watchlist names. None is secret: they are
// stored in plaintext. checkNames checks the names given, in
// that order.
func checkNames(names ...string) error {
	rules := []struct {
		what   string
		maxLen int
		punct  string
	}{{"workspace", 128, "-_"}, {"collection", 64, "-_"}, {"document ID", 256, "-_.~:"}}
	for i, n := range names {
		if r := rules[i]; !validName(n, r.maxLen, r.punct) {
			return fmt.Errorf("%w: %s %q", ErrInvalid, r.what, n)
		}
	}
	return nil
}

func validName(s string, maxLen int, punct string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || bytes.IndexByte([]byte(punct), c) >= 0) {
			return false
		}
	}
	return true
}
