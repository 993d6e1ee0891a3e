package pgkv

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// tx is a kv.Tx over one PostgreSQL transaction: every read and write is a
// round trip in it.
type tx struct {
	ctx  context.Context
	db   *DB
	conn *pgxpool.Conn
	// begin is the statement that begins the transaction, until it is
	// sent with the first statement, in one round trip.
	begin    string
	writable bool
	// err is the first statement that failed: PostgreSQL refuses every
	// later one in the transaction anyway, and run returns it in place of
	// fn's result.
	err error
	// writes counts the writes, so a cursor knows when the keys it fetched
	// may be stale.
	writes int
	// buckets caches the paths of buckets known to exist, emptied when one
	// is deleted: code reaches buckets from the top in every operation.
	buckets map[string]bool
	// heads holds, by bucket path, the first keys of the buckets looked up,
	// read in the lookup's statement.
	heads map[string]*head
}

// A bucket's lookup reads, in the same statement, its first headKeys keys
// up to the first whose value is over headValue bytes: a small bucket (a
// generation, a few settings, the lineages of a table, the collections of
// a workspace) is then read whole by the round trip that finds it, and its
// Gets and scans take none. A larger bucket costs its lookup those few
// rows more (8 KiB of values at most) until the DB knows it for large
// (see large).
const (
	headKeys  = 8
	headValue = 1 << 10
)

// What a DB remembers of its large buckets: the lookups of one skip its
// head until largeRecheck of them have, and then read it again, in case
// the bucket shrank; past largeBuckets of them, it forgets them all.
const (
	largeRecheck = 64
	largeBuckets = 4096
)

// large is the set of buckets whose head was not the whole bucket when
// last read. It is a hint on cost alone: a head is read in the
// transaction that serves from it, never kept across transactions.
type large struct {
	mu    sync.Mutex
	paths map[string]int // the lookups since the head was read
}

// skip reports whether the lookup of the bucket at path is to skip its
// head.
func (l *large) skip(path []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.paths[string(path)]
	if !ok || n+1 >= largeRecheck {
		return false
	}
	l.paths[string(path)] = n + 1
	return true
}

// note records whether the head read of the bucket at path was whole.
func (l *large) note(path []byte, whole bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if whole {
		delete(l.paths, string(path))
		return
	}
	if l.paths == nil || len(l.paths) >= largeBuckets {
		l.paths = map[string]int{}
	}
	l.paths[string(path)] = 0
}

// head is the first keys of a bucket, as the transaction saw them before
// its writes-th write.
type head struct {
	entries []entry // in order
	// whole is set when entries are every key of the bucket; otherwise
	// they are those up to the last of them.
	whole  bool
	writes int
}

// headOf returns the head read of the bucket at path, if the transaction
// has not written since, nor failed: after a failure every read is nil.
func (t *tx) headOf(path []byte) *head {
	h := t.heads[string(path)]
	if h == nil || h.writes != t.writes || t.err != nil {
		return nil
	}
	return h
}

// fromHead looks key up in the head of the bucket at path: its value,
// whether it is there, and whether the head can tell.
func (t *tx) fromHead(path, key []byte) (value []byte, found, known bool) {
	h := t.headOf(path)
	if h == nil {
		return nil, false, false
	}
	i, found := slices.BinarySearchFunc(h.entries, key, func(e entry, k []byte) int { return bytes.Compare(e.key, k) })
	if found {
		return h.entries[i].value, true, true
	}
	return nil, false, h.whole || i < len(h.entries)
}

// root is the top level, at the empty path: its keys are the top-level
// buckets. (A nil path would be NULL.)
func (t *tx) root() *bucket { return &bucket{tx: t, path: []byte{}} }

func (t *tx) Bucket(name []byte) kv.Bucket { return t.root().Bucket(name) }

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	return t.root().CreateBucketIfNotExists(name)
}

func (t *tx) DeleteBucket(name []byte) error { return t.root().DeleteBucket(name) }

// fail records err as the transaction's first failure and returns the
// failure: a later one is its consequence.
func (t *tx) fail(what string, err error) error {
	if t.err == nil {
		t.err = fmt.Errorf("%s: %w", what, err)
	}
	return t.err
}

// do runs a statement in the transaction, unless an earlier one failed,
// passing its rows to read if read is not nil, and returns how many rows
// it affected. The first statement goes with the one that begins the
// transaction, in one round trip.
func (t *tx) do(what, sql string, args []any, read func(pgx.Rows) error) (int64, error) {
	if t.err != nil {
		return 0, t.err
	}
	var (
		rows pgx.Rows
		err  error
	)
	if t.begin != "" {
		var b pgx.Batch
		b.Queue(t.begin)
		b.Queue(sql, args...)
		t.begin = ""
		br := t.conn.SendBatch(t.ctx, &b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return 0, t.fail(what, err)
		}
		rows, err = br.Query()
	} else {
		rows, err = t.conn.Query(t.ctx, sql, args...)
	}
	if err != nil {
		return 0, t.fail(what, err)
	}
	defer rows.Close()
	if read != nil {
		err = read(rows)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return 0, t.fail(what, err)
	}
	return rows.CommandTag().RowsAffected(), nil
}

// exec runs a write.
func (t *tx) exec(what, sql string, args ...any) (int64, error) {
	t.writes++
	return t.do(what, sql, args, nil)
}

// queryRow runs a statement that returns one row and scans it into dest;
// found is false, and dest untouched, if it returns none.
func (t *tx) queryRow(what, sql string, args []any, dest ...any) (found bool) {
	t.do(what, sql, args, func(rows pgx.Rows) error {
		if !rows.Next() {
			return nil
		}
		found = true
		return rows.Scan(dest...)
	})
	return found && t.err == nil
}

// lookup reads the row of key in the bucket at path: whether it exists,
// and its value (nil for a nested bucket).
func (t *tx) lookup(path, key []byte) (value []byte, found bool) {
	found = t.queryRow("read a key", `SELECT value FROM `+table+` WHERE ns = $1 AND path = $2 AND key = $3`,
		[]any{t.db.ns, path, key}, &value)
	if !found {
		return nil, false
	}
	return value, true
}

// lookupBucket reads the row of name in the bucket at path, as lookup
// does, and in the same statement the head of the bucket it would name, at
// child, unless that bucket was large when its head was last read.
func (t *tx) lookupBucket(path, name, child []byte) (value []byte, found bool) {
	if t.db.large.skip(child) {
		return t.lookup(path, name)
	}
	type headRow struct {
		entry
		kept bool // the value is no larger than headValue
	}
	var rows []headRow
	// octet_length reads a value's stored size, not the value: a large
	// one left out costs nothing to read.
	t.do("read a bucket", `SELECT false, key, value, true FROM `+table+` WHERE ns = $1 AND path = $2 AND key = $3
		UNION ALL
		(SELECT true, key, CASE WHEN octet_length(value) <= $5 THEN value END, coalesce(octet_length(value), 0) <= $5
			FROM `+table+` WHERE ns = $1 AND path = $4 ORDER BY key LIMIT $6)`,
		[]any{t.db.ns, path, name, child, headValue, headKeys}, func(r pgx.Rows) error {
			for r.Next() {
				var (
					inHead bool
					row    headRow
				)
				if err := r.Scan(&inHead, &row.key, &row.value, &row.kept); err != nil {
					return err
				}
				if inHead {
					rows = append(rows, row)
				} else {
					value, found = row.value, true
				}
			}
			return nil
		})
	if t.err != nil || !found || value != nil {
		return value, found && t.err == nil
	}
	// The rows of a UNION ALL's part need not come in order.
	slices.SortFunc(rows, func(a, b headRow) int { return bytes.Compare(a.key, b.key) })
	h := &head{whole: len(rows) < headKeys, writes: t.writes}
	for _, r := range rows {
		if !r.kept {
			h.whole = false // the head ends before a value too large
			break
		}
		h.entries = append(h.entries, r.entry)
	}
	t.db.large.note(child, h.whole)
	if t.heads == nil {
		t.heads = map[string]*head{}
	}
	t.heads[string(child)] = h
	return nil, true
}

// bucket is a kv.Bucket: the keys at path.
type bucket struct {
	tx   *tx
	path []byte
}

// child returns the path of the nested bucket name: the bucket's path and
// the name, prefixed by its length.
func (b *bucket) child(name []byte) []byte {
	p := make([]byte, 0, len(b.path)+4+len(name))
	p = append(p, b.path...)
	p = binary.BigEndian.AppendUint32(p, uint32(len(name)))
	return append(p, name...)
}

func (b *bucket) Get(key []byte) []byte {
	if v, _, known := b.tx.fromHead(b.path, key); known {
		return v
	}
	v, _ := b.tx.lookup(b.path, key)
	return v
}

func (b *bucket) Bucket(name []byte) kv.Bucket {
	if len(name) == 0 {
		return nil
	}
	p := b.child(name)
	if b.tx.buckets[string(p)] {
		return &bucket{tx: b.tx, path: p}
	}
	v, found, known := b.tx.fromHead(b.path, name)
	if !known {
		v, found = b.tx.lookupBucket(b.path, name, p)
	}
	if b.tx.err != nil {
		// The lookup failed, and View or Update returns why in place of
		// fn's result. A bucket whose reads answer nil and whose writes
		// fail keeps code that relies on a bucket made at start (bbolt's
		// lookups cannot fail) from dereferencing nil meanwhile.
		return &bucket{tx: b.tx, path: p}
	}
	if !found || v != nil {
		return nil
	}
	b.tx.buckets[string(p)] = true
	return &bucket{tx: b.tx, path: p}
}

// check refuses a write in View and an empty key.
func (b *bucket) check(key []byte) error {
	if !b.tx.writable {
		return kv.ErrTxNotWritable
	}
	if len(key) == 0 {
		return kv.ErrKeyRequired
	}
	return nil
}

func (b *bucket) Put(key, value []byte) error {
	if err := b.check(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // empty, not NULL, which marks a bucket
	}
	// The update skips a nested bucket's row, which then counts no row.
	n, err := b.tx.exec("write a key", `INSERT INTO `+table+` AS t (ns, path, key, value) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ns, path, key) DO UPDATE SET value = excluded.value WHERE t.value IS NOT NULL`,
		b.tx.db.ns, b.path, key, value)
	if err != nil {
		return err
	}
	if n == 0 {
		return kv.ErrIncompatibleValue
	}
	return nil
}

func (b *bucket) Delete(key []byte) error {
	if err := b.check(key); err != nil {
		return err
	}
	// The statement sees the row as it was before the deletion, so it
	// tells a nested bucket's key, which it leaves, in one round trip.
	b.tx.writes++
	var isBucket bool
	b.tx.queryRow("delete a key", `WITH gone AS (
			DELETE FROM `+table+` WHERE ns = $1 AND path = $2 AND key = $3 AND value IS NOT NULL)
		SELECT EXISTS (SELECT FROM `+table+` WHERE ns = $1 AND path = $2 AND key = $3 AND value IS NULL)`,
		[]any{b.tx.db.ns, b.path, key}, &isBucket)
	if b.tx.err != nil {
		return b.tx.err
	}
	if isBucket {
		return kv.ErrIncompatibleValue
	}
	return nil
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	if err := b.check(name); err != nil {
		return nil, err
	}
	if nb := b.Bucket(name); nb != nil {
		return nb, nil
	}
	if b.tx.err != nil {
		return nil, b.tx.err
	}
	// Bucket found no bucket: the name is free or holds a value, and
	// inserting nothing on conflict tells which.
	n, err := b.tx.exec("create a bucket", `INSERT INTO `+table+` (ns, path, key, value) VALUES ($1, $2, $3, NULL)
		ON CONFLICT (ns, path, key) DO NOTHING`, b.tx.db.ns, b.path, name)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, kv.ErrIncompatibleValue
	}
	p := b.child(name)
	b.tx.buckets[string(p)] = true
	return &bucket{tx: b.tx, path: p}, nil
}

func (b *bucket) DeleteBucket(name []byte) error {
	if err := b.check(name); err != nil {
		return err
	}
	v, found := b.tx.lookup(b.path, name)
	switch {
	case b.tx.err != nil:
		return b.tx.err
	case !found:
		return kv.ErrBucketNotFound
	case v != nil:
		return kv.ErrIncompatibleValue
	}
	p := b.child(name)
	// Its own row, and every row whose path begins with its path: its
	// keys and its nested buckets', to any depth.
	_, err := b.tx.exec("delete a bucket", `DELETE FROM `+table+` WHERE ns = $1
		AND ((path = $2 AND key = $3) OR (path >= $4 AND ($5::bytea IS NULL OR path < $5)))`,
		b.tx.db.ns, b.path, name, p, successor(p))
	clear(b.tx.buckets)
	return err
}

// successor returns the least byte string greater than every string that
// begins with p, or nil if there is none (p is all 0xff).
func successor(p []byte) []byte {
	s := append([]byte(nil), p...)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

func (b *bucket) Cursor() kv.Cursor { return &cursor{b: b} }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.tx.err
}

func (b *bucket) ForEachBucket(fn func(name []byte) error) error {
	c := &cursor{b: b, bucketsOnly: true}
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if err := fn(k); err != nil {
			return err
		}
	}
	return b.tx.err
}

func (b *bucket) KeyN() int {
	var n int
	b.tx.queryRow("count keys", `SELECT count(*) FROM `+table+` WHERE ns = $1 AND path = $2`,
		[]any{b.tx.db.ns, b.path}, &n)
	return n
}
