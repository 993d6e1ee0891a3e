package docstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// errRevoked stands for the keyring's ErrKeyRevoked.
var errRevoked = errors.New("test keyring: key revoked")

// fakeKeys is an envelope.Keys that can be revoked, restored and rotated.
type fakeKeys struct {
	mu      sync.Mutex
	keys    map[string][]byte
	current string
	revoked atomic.Bool
}

func newFakeKeys() *fakeKeys {
	k := &fakeKeys{keys: make(map[string][]byte)}
	k.rotate()
	return k
}

func (k *fakeKeys) rotate() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := fmt.Sprintf("doc-aek-%d", len(k.keys)+1)
	key := make([]byte, 32)
	rand.Read(key)
	k.keys[id], k.current = key, id
	return id
}

func (k *fakeKeys) Current(ctx context.Context) (envelope.Sealer, error) {
	k.mu.Lock()
	id := k.current
	k.mu.Unlock()
	return k.ByID(ctx, id)
}

func (k *fakeKeys) ByID(_ context.Context, id string) (envelope.Sealer, error) {
	if k.revoked.Load() {
		return nil, fmt.Errorf("account key %s: %w", id, errRevoked)
	}
	k.mu.Lock()
	key, ok := k.keys[id]
	k.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("account key %s: unknown", id)
	}
	return fakeSealer{k, id, key}, nil
}

type fakeSealer struct {
	k   *fakeKeys
	id  string
	key []byte
}

func (s fakeSealer) KeyID() string { return s.id }

func (s fakeSealer) AEAD(salt []byte, purpose string) (cipher.AEAD, error) {
	if s.k.revoked.Load() {
		return nil, fmt.Errorf("account key %s: %w", s.id, errRevoked)
	}
	ok, err := hkdf.Key(sha256.New, s.key, salt, purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ok)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

const (
	ws   = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"
	coll = "incidents"
)

func newTestStore(t *testing.T, keys envelope.Keys) (*Store, *bbolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sealwatch.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := New(db, keys)
	if err != nil {
		t.Fatal(err)
	}
	return st, db, path
}

// raw reads and writes a sealed value as bbolt holds it.
func raw(t *testing.T, db *bbolt.DB, workspace, collection, id string) []byte {
	t.Helper()
	var v []byte
	db.View(func(tx *bbolt.Tx) error {
		if b := collectionBucket(tx, workspace, collection); b != nil {
			v = append([]byte(nil), b.Get([]byte(id))...)
		}
		return nil
	})
	if v == nil {
		t.Fatalf("no value at %s/%s/%s", workspace, collection, id)
	}
	return v
}

func setRaw(t *testing.T, db *bbolt.DB, workspace, collection, id string, v []byte) {
	t.Helper()
	err := db.Update(func(tx *bbolt.Tx) error {
		wb, err := tx.CreateBucketIfNotExists([]byte(bucketPrefix + workspace))
		if err != nil {
			return err
		}
		b, err := wb.CreateBucketIfNotExists([]byte(collection))
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}
