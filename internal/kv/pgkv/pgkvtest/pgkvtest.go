// Package pgkvtest opens kv databases on a test's PostgreSQL (see pgtest)
// the way nodes do: each through a connection pool of its own, so that two
// of them on one database are two nodes as far as PostgreSQL can tell.
package pgkvtest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	pool, err := pgkv.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return openAll(t, pool, namespaces)
}

// OpenAllCounted is OpenAll through a pool that counts in s every
// statement it sends: what a benchmark reads as round trips to PostgreSQL.
func OpenAllCounted(t testing.TB, url string, s *Statements, namespaces ...string) []*pgkv.DB {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = s
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return openAll(t, pool, namespaces)
}

func openAll(t testing.TB, pool *pgxpool.Pool, namespaces []string) []*pgkv.DB {
	t.Helper()
	t.Cleanup(pool.Close)
	dbs := make([]*pgkv.DB, len(namespaces))
	for i, ns := range namespaces {
		db, err := pgkv.Open(context.Background(), pool, ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}

// Statements counts what pools opened by OpenAllCounted send: round trips
// (a statement alone, or a batch: pgkv sends a transaction's BEGIN with its
// first statement), statements, and among these the transactions begun,
// read-only and writable.
type Statements struct {
	trips, all, views, updates atomic.Int64
}

// StatementCounts is a reading of Statements.
type StatementCounts struct {
	Trips, All, Views, Updates int64
}

// Read returns the counts so far.
func (s *Statements) Read() StatementCounts {
	return StatementCounts{Trips: s.trips.Load(), All: s.all.Load(), Views: s.views.Load(), Updates: s.updates.Load()}
}

func (s *Statements) count(sql string) {
	s.all.Add(1)
	sql = strings.ToUpper(strings.TrimSpace(sql))
	switch {
	case strings.HasPrefix(sql, "BEGIN") && strings.Contains(sql, "READ ONLY"):
		s.views.Add(1)
	case strings.HasPrefix(sql, "BEGIN"):
		s.updates.Add(1)
	}
}

// TraceQueryStart counts a statement sent alone (pgx.QueryTracer).
func (s *Statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.trips.Add(1)
	s.count(data.SQL)
	return ctx
}

// TraceQueryEnd is pgx.QueryTracer's other half; nothing to count.
func (s *Statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch's round trip (pgx.BatchTracer).
func (s *Statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	s.trips.Add(1)
	return ctx
}

// TraceBatchQuery counts a statement of a batch.
func (s *Statements) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	s.count(data.SQL)
}

// TraceBatchEnd is pgx.BatchTracer's last part; nothing to count.
func (s *Statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
