package pgkv_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// BenchmarkBackends runs each operation on the embedded bbolt file and on
// PostgreSQL (the test server, on 127.0.0.1) in the same run: a View
// reading one key, an Update writing one, and a View reading 100
// consecutive keys with a cursor, in a bucket of 1000 keys of 200 bytes.
func BenchmarkBackends(b *testing.B) {
	var sent pgkvtest.Statements
	backends := []struct {
		name string
		open func(b *testing.B) kv.DB
	}{
		{"bbolt", func(b *testing.B) kv.DB {
			// Without fsync, as the test server runs: the engines, not the disk.
			db, err := boltkv.Open(filepath.Join(b.TempDir(), "kv.db"), boltkv.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}},
		{"postgres", func(b *testing.B) kv.DB {
			return pgkvtest.OpenAllCounted(b, pgtest.New(b), &sent, "control")[0]
		}},
	}
	const keys = 1000
	key := func(i int) []byte { return fmt.Appendf(nil, "key%08d", i) }
	value := make([]byte, 200)
	ops := []struct {
		name  string
		write bool
		fn    func(b kv.Bucket, i int) error
	}{
		{"Get", false, func(b kv.Bucket, i int) error {
			if b.Get(key(i%keys)) == nil {
				return fmt.Errorf("key %d missing", i%keys)
			}
			return nil
		}},
		{"Put", true, func(b kv.Bucket, i int) error { return b.Put(key(i%keys), value) }},
		{"Scan100", false, func(b kv.Bucket, i int) error {
			c := b.Cursor()
			n := 0
			for k, _ := c.Seek(key(i % (keys - 100))); k != nil && n < 100; k, _ = c.Next() {
				n++
			}
			if n != 100 {
				return fmt.Errorf("scanned %d keys", n)
			}
			return nil
		}},
	}
	ctx := context.Background()
	for _, be := range backends {
		db := be.open(b)
		err := db.Update(ctx, func(tx kv.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("bench"))
			if err != nil {
				return err
			}
			for i := range keys {
				if err := bk.Put(key(i), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		for _, op := range ops {
			b.Run("op="+op.name+"/backend="+be.name, func(b *testing.B) {
				run := db.View
				if op.write {
					run = db.Update
				}
				i := 0
				from := sent.Read()
				for b.Loop() {
					if err := run(ctx, func(tx kv.Tx) error { return op.fn(tx.Bucket([]byte("bench")), i) }); err != nil {
						b.Fatal(err)
					}
					i += 7
				}
				reportTrips(b, from, sent.Read())
			})
		}
	}
}

// reportTrips reports the round trips to PostgreSQL between from and to
// per operation: its cost as the machine's load does not blur it.
func reportTrips(b *testing.B, from, to pgkvtest.StatementCounts) {
	if n := to.Trips - from.Trips; n > 0 {
		b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
	}
}
