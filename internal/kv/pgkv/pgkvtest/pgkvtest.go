// Package pgkvtest opens kv databases on a test's PostgreSQL (see pgtest)
// the way nodes do: each through a connection pool of its own, so that two
// of them on one database are two nodes as far as PostgreSQL can tell.
package pgkvtest

import (
	"context"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv/pgkv"
)

// Open opens the namespace of the PostgreSQL database at url through a new
// pool, both closed when the test ends.
func Open(t testing.TB, url, namespace string) *pgkv.DB {
	t.Helper()
	return OpenAll(t, url, namespace)[0]
}

// OpenAll opens several namespaces of the database at url through one new
// pool, as one node holds its databases, in the order given.
func OpenAll(t testing.TB, url string, namespaces ...string) []*pgkv.DB {
	t.Helper()
	ctx := context.Background()
	pool, err := pgkv.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	dbs := make([]*pgkv.DB, len(namespaces))
	for i, ns := range namespaces {
		db, err := pgkv.Open(ctx, pool, ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}
