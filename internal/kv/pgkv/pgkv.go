// Package pgkv keeps kv databases in PostgreSQL, shared by every node that
// opens them: the storage of several nodes. The databases of one
// deployment (identity, vault, control, documents) are namespaces of one
// table in one PostgreSQL database.
//
// A row is one key of one bucket: the namespace, the bucket's path (the
// names from the top, each prefixed by its length, so that the paths of a
// bucket's subtree are exactly those that begin with its own), the key,
// and the value, NULL where the key names a nested bucket. PostgreSQL
// orders bytea bytewise, as bbolt orders keys. The primary key's index
// holds the path and the key, which PostgreSQL limits to about 2.6 KB
// together.
//
// PostgreSQL sees what a bbolt file holds: the namespaces' names, bucket
// names and keys as the domain packages give them, and their values,
// sealed by those packages where they must be.
package pgkv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// ErrClosed is returned for a transaction begun after Close.
var ErrClosed = errors.New("pgkv: database closed")

// table holds the keys of every namespace.
const table = "sealwatch_kv"

const schema = `CREATE TABLE IF NOT EXISTS ` + table + ` (
	ns    text  NOT NULL,
	path  bytea NOT NULL,
	key   bytea NOT NULL,
	value bytea,
	PRIMARY KEY (ns, path, key)
)`

// claimsTable holds the sets of keys of every namespace (kv.Claimer): a
// table of its own, so that no query of the keys' table meets them.
const claimsTable = "sealwatch_kv_claims"

const claimsSchema = `CREATE TABLE IF NOT EXISTS ` + claimsTable + ` (
	ns       text  NOT NULL,
	set_name bytea NOT NULL,
	key      bytea NOT NULL,
	PRIMARY KEY (ns, set_name, key)
)`

// rollbackTimeout bounds the rollback of a transaction whose context has
// ended.
const rollbackTimeout = 5 * time.Second

// idleTimeout is how long an Update may leave the server waiting between
// its statements before the server ends its session, and with it the
// writer's lock. A node that hangs or loses power inside an Update leaves
// its connection open as far as the server knows, until TCP keepalive
// gives up on it (two hours and more by default): meanwhile every node's
// writers would wait. An Update's fn works in memory between statements,
// for far less than this.
const idleTimeout = time.Minute

// DB is a kv.DB in one namespace of a PostgreSQL database.
type DB struct {
	pool   *pgxpool.Pool
	ns     string
	lockID int64 // the namespace's advisory lock, taken by every Update
	// idleTimeout is how long the server lets an Update's session idle in
	// its transaction (idleTimeout by default; shorter in tests).
	idleTimeout time.Duration
	// writer lets one Update of this node at a time take a connection to
	// wait for the advisory lock: the others wait here, leaving the pool
	// to readers, and to a View that a writer runs inside its Update.
	writer chan struct{}
	// large holds the paths of buckets whose head, read with their
	// lookup, was not the whole bucket (see headKeys), each with the
	// lookups of it since: a hint, that their lookups skip the head they
	// would read for nothing.
	large large

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
}

var (
	_ kv.DB      = (*DB)(nil)
	_ kv.Claimer = (*DB)(nil)
)

// Connect opens a pool on the PostgreSQL database at dbURL and checks that
// it answers. Its errors never hold dbURL, which may carry a password.
// Each transaction in flight holds one of the pool's connections:
// pool_max_conns in the URL sizes it (pgx's default is 4, or the number of
// CPUs if more).
func Connect(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	if _, err := url.Parse(dbURL); err != nil {
		// url.Error repeats the whole URL, and its reason quotes a piece
		// of it: with a '/' in the password, the password as the port.
		return nil, errors.New("the PostgreSQL URL does not parse: check its host, port and %-escapes (a '/', '@', '?' or '#' in the password must be %-escaped)")
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		// pgx's message quotes the URL, its password hidden only as far as
		// it can tell where the password is.
		return nil, errors.New("the PostgreSQL URL does not parse as a pgx connection string: check its parameters")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// Open returns the database named name in the PostgreSQL database that
// pool reaches, creating the table of every namespace if it is not there.
// The pool stays the caller's, shared by the namespaces it opens.
func Open(ctx context.Context, pool *pgxpool.Pool, name string) (*DB, error) {
	if name == "" {
		return nil, fmt.Errorf("pgkv: open: %w", kv.ErrKeyRequired)
	}
	// Nodes starting together would race CREATE TABLE IF NOT EXISTS into a
	// unique violation on the catalog: the first takes the lock, the rest
	// find the table.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("schema")); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, claimsSchema)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgkv: create the tables %s and %s: %w", table, claimsTable, err)
	}
	return &DB{pool: pool, ns: name, lockID: lockKey("writer " + name), idleTimeout: idleTimeout, writer: make(chan struct{}, 1)}, nil
}

// lockKey is the advisory lock key for what: PostgreSQL's advisory locks
// are one number per database, shared with any other application in it,
// so the number is drawn from a hash rather than chosen small.
func lockKey(what string) int64 {
	sum := sha256.Sum256([]byte("sealwatch kv " + what))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// Close waits for the transactions in flight and refuses new ones. The
// pool stays open.
func (d *DB) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.inFlight.Wait()
	return nil
}

// begin counts a transaction in, unless the database is closed.
func (d *DB) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.inFlight.Add(1)
	return nil
}

// The statements that begin a View and an Update. A View's snapshot is
// taken by its first read and kept to the end.
const (
	beginView   = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	beginUpdate = "BEGIN ISOLATION LEVEL READ COMMITTED"
)

// View runs fn in a read-only transaction on one snapshot.
func (d *DB) View(ctx context.Context, fn func(kv.Tx) error) error {
	return d.run(ctx, beginView, false, fn)
}

// Update runs fn in a read-write transaction that first takes the
// namespace's advisory lock, held to commit or rollback: writers run one
// at a time across every node, as bbolt's single writer does. The
// transaction is READ COMMITTED, so each statement sees every write
// committed before it, the previous holder's included; as nothing writes
// the namespace without the lock, no write of another can come between a
// read and the write that follows it, and PostgreSQL has no conflict to
// report: no serialization failure to retry. (REPEATABLE READ would take
// its snapshot when asking for the lock, before waiting for it, and miss
// the previous writer's commit.)
func (d *DB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	select {
	case d.writer <- struct{}{}:
		defer func() { <-d.writer }()
	case <-ctx.Done():
		return ctx.Err()
	}
	return d.run(ctx, beginUpdate, true, fn)
}

// run runs fn in one PostgreSQL transaction, committed if fn returns nil
// and no statement failed, rolled back otherwise, and rolled back before
// fn's panic goes on.
func (d *DB) run(ctx context.Context, begin string, writable bool, fn func(kv.Tx) error) error {
	if err := d.begin(ctx); err != nil {
		return err
	}
	defer d.inFlight.Done()
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgkv %s: %w", d.ns, Unavailable(ctx, err))
	}
	// The pool closes a connection released in a transaction, one whose
	// rollback failed.
	defer conn.Release()
	t := &tx{ctx: ctx, db: d, conn: conn, begin: begin, writable: writable, buckets: map[string]bool{}}
	committed := false
	defer func() {
		if !committed && t.begin == "" {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			conn.Exec(rctx, "ROLLBACK")
		}
	}()
	if writable {
		// set_config(..., true) is SET LOCAL: for this transaction alone.
		if _, err := t.do("wait for the writer's lock", `SELECT pg_advisory_xact_lock($1),
			set_config('idle_in_transaction_session_timeout', $2, true)`,
			[]any{d.lockID, strconv.FormatInt(d.idleTimeout.Milliseconds(), 10)}, nil); err != nil {
			return fmt.Errorf("pgkv %s: %w", d.ns, Unavailable(ctx, err))
		}
	}
	ferr := fn(t)
	if t.err != nil {
		// A failed read returned nil: fn's result may rest on it.
		return fmt.Errorf("pgkv %s: %w", d.ns, Unavailable(ctx, t.err))
	}
	if ferr != nil {
		return ferr
	}
	if t.begin != "" {
		return nil // fn ran no statement: no transaction to end
	}
	committed = true
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("pgkv %s: commit: %w", d.ns, err)
	}
	return nil
}

// Unavailable marks err as kv.ErrUnavailable when the database could not
// be reached or dropped the connection (a server down, shutting down or
// refusing connections), unless ctx ended: the other users of the same
// database (package pgwal) give the API the same error to answer 503 for.
func Unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil || !connectionLost(err) {
		return err
	}
	return fmt.Errorf("%w: %w", kv.ErrUnavailable, err)
}

func connectionLost(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true // whatever the server said: it took no connection
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exceptions; 57P01-57P03: the server shuts
		// down, crashed, or cannot take connections now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return pgconn.SafeToRetry(err)
}

// Claim implements kv.Claimer: one statement, committed on its own, that
// takes no writer's lock. The table's primary key decides between claims
// of one key: an insert that meets another's row, committed or not, waits
// for it and then inserts nothing.
func (d *DB) Claim(ctx context.Context, set []byte, keys [][]byte) ([]bool, error) {
	if len(set) == 0 {
		return nil, fmt.Errorf("pgkv %s: claim: %w", d.ns, kv.ErrKeyRequired)
	}
	if err := d.begin(ctx); err != nil {
		return nil, err
	}
	defer d.inFlight.Done()
	rows, err := d.pool.Query(ctx, `INSERT INTO `+claimsTable+` (ns, set_name, key)
		SELECT $1, $2, k FROM unnest($3::bytea[]) AS k ON CONFLICT DO NOTHING RETURNING key`, d.ns, set, keys)
	if err != nil {
		return nil, fmt.Errorf("pgkv %s: claim: %w", d.ns, Unavailable(ctx, err))
	}
	added := map[string]bool{}
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgkv %s: claim: %w", d.ns, err)
		}
		added[string(k)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgkv %s: claim: %w", d.ns, err)
	}
	claimed := make([]bool, len(keys))
	for i, k := range keys {
		// The first of equal keys is the one added.
		claimed[i] = added[string(k)]
		delete(added, string(k))
	}
	return claimed, nil
}

// Unclaim implements kv.Claimer, in one statement that takes no writer's
// lock.
func (d *DB) Unclaim(ctx context.Context, set []byte, keys [][]byte, before []byte) error {
	if len(set) == 0 {
		return fmt.Errorf("pgkv %s: unclaim: %w", d.ns, kv.ErrKeyRequired)
	}
	if err := d.begin(ctx); err != nil {
		return err
	}
	defer d.inFlight.Done()
	// key < NULL is never true: a nil before deletes by keys alone.
	_, err := d.pool.Exec(ctx, `DELETE FROM `+claimsTable+` WHERE ns = $1 AND set_name = $2
		AND (key = ANY($3::bytea[]) OR key < $4)`, d.ns, set, keys, before)
	if err != nil {
		return fmt.Errorf("pgkv %s: unclaim: %w", d.ns, err)
	}
	return nil
}
