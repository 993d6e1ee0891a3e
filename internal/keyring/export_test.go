package keyring

import (
	"bytes"
	"context"
	"errors"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Test-only access to internals, for the external tests in keyring_test
// (which import kektest, which imports keyring).

// SetRewrapHook stops a rewrap at a step when f returns an error.
func SetRewrapHook(k *Keyring, f func(step string) error) { k.hook = f }

// AccountKeyBytes returns a copy of an account key held in memory, or nil.
func AccountKeyBytes(k *Keyring, id string) []byte {
	k.mu.RLock()
	m := k.mat[id]
	k.mu.RUnlock()
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.key)
}

// StoredRecord returns the raw registry value of an account key.
func StoredRecord(db kv.DB, cluster, resource, id string) (raw []byte) {
	g := &registry{db: db, cluster: cluster, resource: resource}
	db.View(context.Background(), func(tx kv.Tx) error {
		raw = bytes.Clone(g.ring(tx).Bucket(bucketAEKs).Get([]byte(id)))
		return nil
	})
	return raw
}

// RewriteWrapping changes an account key's stored wrapping and recomputes
// the record checksum, as a tamperer who knows the format would.
func RewriteWrapping(db kv.DB, cluster, resource, id string, f func(*Wrapped)) error {
	g := &registry{db: db, cluster: cluster, resource: resource}
	s, err := g.load(context.Background())
	if err != nil {
		return err
	}
	r := s.records[id]
	if r == nil {
		return errors.New("no such record")
	}
	f(&r.Wrapped)
	return g.write(context.Background(), s.meta, false, []*record{r}, nil)
}
