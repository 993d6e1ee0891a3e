// Package pgwal keeps the log stores' shared write-ahead log
// (logstore.SharedWAL) in PostgreSQL: every node's WAL records of every
// table, so that each node reads the rows the others have not flushed yet,
// and a node that lost its disk loses no acknowledged row.
//
// The records are one table, sealwatch_wal, a row per record: workspace,
// table, lineage, WAL sequence number, ordinal and the record as the WAL
// file holds it, sealed under the workspace's key on the node (its AAD
// binds the workspace, table, lineage, WAL and ordinal, so a row moved or
// altered fails to open), and each WAL's plaintext header (the key's ID and
// the salt, as on disk). PostgreSQL sees names, sizes and the rate of
// ingestion, never a row.
//
// Appends go straight to that table, not through the control plane's
// serialized writer (pgkv's Update): one committer per node takes every
// append waiting and stores them in one COPY, one commit (group commit), so
// that a node makes one commit per round trip whatever its ingest rate.
package pgwal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/kv/pgkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// table holds the records; lockKey serializes its creation by nodes
// starting together.
const (
	table   = "sealwatch_wal"
	lockKey = 0x5357_5741_4c00 // "SWWAL"
)

const schema = `CREATE TABLE IF NOT EXISTS ` + table + ` (
	workspace text   NOT NULL,
	tbl       text   NOT NULL,
	lineage   text   NOT NULL,
	wal       bigint NOT NULL,
	ord       bigint NOT NULL,
	record    bytea  NOT NULL,
	PRIMARY KEY (workspace, tbl, lineage, wal, ord)
)`

// external keeps the records out of line uncompressed: they are sealed,
// so an attempt to compress one (PostgreSQL's default for a value over
// 2 kB) costs CPU and gains nothing.
const external = `DO $$ BEGIN
	IF (SELECT attstorage FROM pg_attribute WHERE attrelid = '` + table + `'::regclass AND attname = 'record') <> 'e' THEN
		ALTER TABLE ` + table + ` ALTER COLUMN record SET STORAGE EXTERNAL;
	END IF;
END $$`

// maxBatchBytes bounds the records one commit stores: the appends waiting
// past it wait for the next. commitTimeout bounds a commit.
const (
	maxBatchBytes = 64 << 20
	commitTimeout = 30 * time.Second
)

// ErrClosed is an append after Close.
var ErrClosed = errors.New("pgwal: closed")

// WAL is a logstore.SharedWAL in the PostgreSQL database a pool reaches.
type WAL struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	queue   []*appendCall
	running bool // a committer runs
	closed  bool
	wg      sync.WaitGroup
	commits atomic.Int64 // done, to show group commit at work
}

var _ logstore.SharedWAL = (*WAL)(nil)

type appendCall struct {
	ctx  context.Context
	recs []logstore.WALRecord
	size int
	done chan error
}

// Open returns the shared WAL in the database pool reaches, creating its
// table if it is not there. The pool stays the caller's.
func Open(ctx context.Context, pool *pgxpool.Pool) (*WAL, error) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, external)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgwal: create the table %s: %w", table, err)
	}
	return &WAL{pool: pool}, nil
}

// Close waits for the appends under way; later ones fail with ErrClosed.
func (w *WAL) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
	return nil
}

// Append stores recs and returns once they are committed. Appends that
// arrive while a commit runs are stored together by the next.
func (w *WAL) Append(ctx context.Context, recs []logstore.WALRecord) error {
	c := &appendCall{ctx: ctx, recs: recs, done: make(chan error, 1)}
	for _, r := range recs {
		c.size += len(r.Data)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.queue = append(w.queue, c)
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go w.commitLoop()
	}
	w.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		// The commit may still store the records: they are then records of
		// a call never acknowledged, as after a failed fsync.
		return ctx.Err()
	}
}

// commitLoop commits what the queue holds, batch by batch, until it is
// empty.
func (w *WAL) commitLoop() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		batch, size := w.queue, 0
		n := 0
		for n < len(batch) && (n == 0 || size+batch[n].size <= maxBatchBytes) {
			size += batch[n].size
			n++
		}
		batch, w.queue = batch[:n:n], w.queue[n:]
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		live := batch[:0:0]
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				c.done <- err // given up: its records are not stored, nor acknowledged
				continue
			}
			live = append(live, c)
		}
		if len(live) == 0 {
			continue
		}
		err := w.commit(live)
		for _, c := range live {
			c.done <- err
		}
	}
}

// commit stores the records of a batch in one COPY, which is one
// transaction. It runs under the context of none of the calls, as one
// ending must not fail the others, but for commitTimeout at most.
func (w *WAL) commit(batch []*appendCall) error {
	var rows [][]any
	for _, c := range batch {
		for _, r := range c.recs {
			rows = append(rows, []any{r.Workspace, r.Table, r.Lineage, int64(r.WAL), r.Ord, r.Data})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	_, err := w.pool.CopyFrom(ctx, pgx.Identifier{table},
		[]string{"workspace", "tbl", "lineage", "wal", "ord", "record"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("pgwal: store %d records: %w", len(rows), pgkv.Unavailable(ctx, err))
	}
	w.commits.Add(1)
	return nil
}

// Read returns the records q selects, ordered by lineage, WAL and ordinal.
func (w *WAL) Read(ctx context.Context, q logstore.WALQuery) ([]logstore.WALRecord, error) {
	lineages := make([]string, len(q.From))
	wals := make([]int64, len(q.From))
	next := make([]int64, len(q.From))
	for i, c := range q.From {
		lineages[i], wals[i], next[i] = c.Lineage, int64(c.WAL), c.Next
	}
	rows, err := w.pool.Query(ctx, `
		WITH cursor (lineage, wal, next) AS (SELECT * FROM unnest($5::text[], $6::bigint[], $7::bigint[]))
		SELECT w.lineage, w.wal, w.ord, w.record FROM `+table+` w
		LEFT JOIN cursor c ON c.lineage = w.lineage AND c.wal = w.wal
		WHERE w.workspace = $1 AND w.tbl = $2
		  AND ($3 = '' OR w.lineage = $3) AND w.lineage <> $4
		  AND w.ord >= coalesce(c.next, -1)
		ORDER BY w.lineage, w.wal, w.ord`,
		q.Workspace, q.Table, q.Lineage, q.Except, lineages, wals, next)
	if err != nil {
		return nil, fmt.Errorf("pgwal: read %s/%s: %w", q.Workspace, q.Table, pgkv.Unavailable(ctx, err))
	}
	var out []logstore.WALRecord
	var wal int64
	r := logstore.WALRecord{Workspace: q.Workspace, Table: q.Table}
	_, err = pgx.ForEachRow(rows, []any{&r.Lineage, &wal, &r.Ord, &r.Data}, func() error {
		r.WAL = uint64(wal)
		out = append(out, r)
		r.Data = nil // Scan fills a new one
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgwal: read %s/%s: %w", q.Workspace, q.Table, pgkv.Unavailable(ctx, err))
	}
	return out, nil
}

// Prune removes the records of a lineage's WALs below below, but those in
// keep.
func (w *WAL) Prune(ctx context.Context, workspace, tbl, lineage string, below uint64, keep []uint64) error {
	kept := make([]int64, len(keep))
	for i, k := range keep {
		kept[i] = int64(k)
	}
	_, err := w.pool.Exec(ctx, `DELETE FROM `+table+` WHERE workspace = $1 AND tbl = $2 AND lineage = $3
		AND wal < $4 AND NOT wal = ANY($5::bigint[])`, workspace, tbl, lineage, int64(below), kept)
	if err != nil {
		return fmt.Errorf("pgwal: prune the WALs of %s/%s/%s: %w", workspace, tbl, lineage, pgkv.Unavailable(ctx, err))
	}
	return nil
}

// DeleteWorkspace removes every record of a workspace.
func (w *WAL) DeleteWorkspace(ctx context.Context, workspace string) error {
	if _, err := w.pool.Exec(ctx, `DELETE FROM `+table+` WHERE workspace = $1`, workspace); err != nil {
		return fmt.Errorf("pgwal: delete workspace %s: %w", workspace, pgkv.Unavailable(ctx, err))
	}
	return nil
}
