// Package docstoretest opens sealed document stores for the tests of the
// packages that keep their documents in one: on a bbolt database of the
// test's own, as an embedded node keeps them.
package docstoretest

import (
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// Open is a document store sealed with keys on a new bbolt database in a
// temporary directory, closed when the test ends; path is the database's
// file, for the tests that read what it holds.
func Open(t testing.TB, keys envelope.Keys) (docs *docstore.Store, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "documents.db")
	db, err := boltkv.Open(path, boltkv.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	docs, err = docstore.New(db, keys)
	if err != nil {
		t.Fatal(err)
	}
	return docs, path
}
