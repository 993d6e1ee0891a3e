package pgkv_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// BenchmarkBackends runs each operation on the embedded bbolt file and on
// PostgreSQL (the test server, on 127.0.0.1) in the same run: a View
// reading one key, an Update writing one, and a View reading 100
// consecutive keys with a cursor, in a bucket of 1000 keys of 200 bytes.
func BenchmarkBackends(b *testing.B) {
	var trips roundTrips
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
			cfg, err := pgxpool.ParseConfig(pgtest.New(b))
			if err != nil {
				b.Fatal(err)
			}
			cfg.ConnConfig.Tracer = &trips
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			return open(b, pool, "control")
		}},
	}
	const keys = 1000
	key := func(i int) []byte { return fmt.Appendf(nil, "key%08d", i) }
	value := make([]byte, 200)
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
		b.Run("op=Get/backend="+be.name, func(b *testing.B) {
			i := 0
			trips.n.Store(0)
			for b.Loop() {
				err := db.View(ctx, func(tx kv.Tx) error {
					if tx.Bucket([]byte("bench")).Get(key(i%keys)) == nil {
						return fmt.Errorf("key %d missing", i%keys)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				i += 7
			}
			trips.report(b)
		})
		b.Run("op=Put/backend="+be.name, func(b *testing.B) {
			i := 0
			trips.n.Store(0)
			for b.Loop() {
				err := db.Update(ctx, func(tx kv.Tx) error {
					return tx.Bucket([]byte("bench")).Put(key(i%keys), value)
				})
				if err != nil {
					b.Fatal(err)
				}
				i += 7
			}
			trips.report(b)
		})
		b.Run("op=Scan100/backend="+be.name, func(b *testing.B) {
			i := 0
			trips.n.Store(0)
			for b.Loop() {
				err := db.View(ctx, func(tx kv.Tx) error {
					c := tx.Bucket([]byte("bench")).Cursor()
					n := 0
					for k, _ := c.Seek(key(i % (keys - 100))); k != nil && n < 100; k, _ = c.Next() {
						n++
					}
					if n != 100 {
						return fmt.Errorf("scanned %d keys", n)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				i += 7
			}
			trips.report(b)
		})
	}
}

// roundTrips counts what a pool sends PostgreSQL, each statement or batch
// one round trip: the cost of an operation that the machine's load does
// not blur.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) report(b *testing.B) {
	if n := r.n.Load(); n > 0 {
		b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
	}
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
