package docstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

const (
	ws   = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"
	coll = "incidents"
)

func newTestStore(t *testing.T, keys envelope.Keys) (*Store, kv.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sealwatch.db")
	db, err := boltkv.Open(path, boltkv.Options{})
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

// raw reads and writes a sealed value as the database holds it.
func raw(t *testing.T, db kv.DB, workspace, collection, id string) []byte {
	t.Helper()
	var v []byte
	db.View(context.Background(), func(tx kv.Tx) error {
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

func setRaw(t *testing.T, db kv.DB, workspace, collection, id string, v []byte) {
	t.Helper()
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		b, err := createCollectionBucket(tx, workspace, collection)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}
