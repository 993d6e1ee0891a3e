package kql

import (
	"context"
	"sync"
	"time"
)

// Memory accounting. Every operator that holds rows or state between batches — a join's build
// side and the output it has built, summarize's groups and what its aggregates collect, sort,
// top, mv-expand's output, materialize, the result — charges an estimate of what it holds to
// its memAccount before or as it keeps it, in batches, and releases the account when it lets
// go. The charges of one run add up against the query's limit (Options.MaxMemory) and are backed
// by reservations from the node's MemoryPool, which concurrent queries share.
//
// A new operator plugs in with three calls: acct := run.account("name") when it opens,
// acct.add(n) or acct.addRows(rows) as it keeps things (an error ends the operator), and
// acct.release() when it closes; one whose output batch may be many times its input (join,
// mv-expand) builds that batch through a batchAccount. Whatever an operator forgets, the run
// gives its whole reservation back to the pool when it ends. A charge is also a cancellation
// point: it fails once the run's context is done, so a loop that charges as it builds stops
// promptly.

// MemoryPool is the memory that the queries of one node share. A query reserves from it as
// its operators grow; when the pool is spent, the query waits up to the pool's wait for
// others to give memory back, then fails with a *LimitError wrapping ErrNodeMemory.
type MemoryPool struct {
	limit int64
	wait  time.Duration

	mu      sync.Mutex
	used    int64
	waiters int
	freed   chan struct{} // closed, and replaced, when memory comes back while someone waits
}

// NewMemoryPool returns a pool of limit bytes in which a query waits at most wait for memory
// that others hold.
func NewMemoryPool(limit int64, wait time.Duration) *MemoryPool {
	return &MemoryPool{limit: limit, wait: wait, freed: make(chan struct{})}
}

// Limit is the pool's size in bytes.
func (p *MemoryPool) Limit() int64 { return p.limit }

// Used is the memory that running queries have reserved, in bytes.
func (p *MemoryPool) Used() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// acquire reserves n bytes for operator op, waiting up to the pool's wait for them.
func (p *MemoryPool) acquire(ctx context.Context, op string, n int64) error {
	var deadline <-chan time.Time
	for {
		p.mu.Lock()
		if p.used+n <= p.limit {
			p.used += n
			p.mu.Unlock()
			return nil
		}
		if n > p.limit {
			p.mu.Unlock()
			return &LimitError{Limit: p.limit, Operator: op, Err: ErrNodeMemory}
		}
		p.waiters++
		freed := p.freed
		p.mu.Unlock()
		if deadline == nil {
			t := time.NewTimer(p.wait)
			defer t.Stop()
			deadline = t.C
		}
		var err error
		select {
		case <-freed:
		case <-deadline:
			err = &LimitError{Limit: p.limit, Operator: op, Err: ErrNodeMemory}
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		p.waiters--
		p.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// release gives n bytes back and wakes the queries waiting for memory.
func (p *MemoryPool) release(n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used -= n
	if p.waiters > 0 {
		close(p.freed)
		p.freed = make(chan struct{})
	}
}

// reserveChunk is how much a query reserves from the pool at a time, so that the pool's lock
// is taken once per chunk, not once per batch.
const reserveChunk = 4 << 20

// queryMemory is the memory of one run: what its operators hold, within the query's limit,
// and what it has reserved from the node's pool (nil: no pool).
type queryMemory struct {
	ctx      context.Context
	limit    int64
	pool     *MemoryPool
	used     int64
	reserved int64
	peak     int64 // the most used at once
}

// off reports whether the run accounts for nothing (a negative limit).
func (m *queryMemory) off() bool { return m.limit < 0 }

// grow charges n more bytes to operator op.
func (m *queryMemory) grow(op string, n int64) error {
	select {
	case <-m.ctx.Done():
		return m.ctx.Err()
	default:
	}
	if m.used+n > m.limit {
		return &LimitError{Limit: m.limit, Operator: op, Err: ErrMemoryLimit}
	}
	if need := m.used + n - m.reserved; m.pool != nil && need > 0 {
		want := max(need, min((need+reserveChunk-1)/reserveChunk*reserveChunk, m.limit-m.reserved))
		if err := m.pool.acquire(m.ctx, op, want); err != nil {
			return err
		}
		m.reserved += want
	}
	m.used += n
	m.peak = max(m.peak, m.used)
	return nil
}

// shrink gives n bytes back; spare reservation beyond a couple of chunks goes back to the pool.
func (m *queryMemory) shrink(n int64) {
	m.used -= n
	if spare := m.reserved - m.used; m.pool != nil && spare > 2*reserveChunk {
		m.pool.release(spare - reserveChunk)
		m.reserved -= spare - reserveChunk
	}
}

// close gives the run's whole reservation back to the pool.
func (m *queryMemory) close() {
	if m.pool != nil {
		m.pool.release(m.reserved)
	}
	m.reserved, m.used = 0, 0
}

// memAccount is what one operator holds.
type memAccount struct {
	mem  *queryMemory
	op   string
	used int64
}

func (r *runState) account(op string) *memAccount { return &memAccount{mem: &r.mem, op: op} }

// add charges n bytes; on error nothing is charged and the operator should stop.
func (a *memAccount) add(n int64) error {
	if a.mem.off() {
		return nil
	}
	if err := a.mem.grow(a.op, n); err != nil {
		return err
	}
	a.used += n
	return nil
}

// addRows charges rows the operator keeps.
func (a *memAccount) addRows(rows []Row) error {
	if a.mem.off() {
		return nil
	}
	return a.add(rowsBytes(rows))
}

// setRows makes the account hold exactly rows (an operator that trims what it keeps).
func (a *memAccount) setRows(rows []Row) error {
	if a.mem.off() {
		return nil
	}
	n := rowsBytes(rows)
	if n <= a.used {
		a.mem.shrink(a.used - n)
		a.used = n
		return nil
	}
	return a.add(n - a.used)
}

// release gives back everything the account holds.
func (a *memAccount) release() {
	a.mem.shrink(a.used)
	a.used = 0
}

// batchAccount charges the batch an operator is building (a join's or mv-expand's output,
// which may be many times its input), in steps of batchChargeBytes before the rows are made,
// and gives it back when the consumer asks for the next batch: a consumer that keeps rows
// charges them itself.
type batchAccount struct {
	acct    *memAccount
	pending int64 // bytes about to be built, not yet charged
}

// batchChargeBytes is how much output is built before it is charged: a charge is cheap, but
// not free per row.
const batchChargeBytes = 256 << 10

// charge accounts for n bytes about to be built.
func (b *batchAccount) charge(n int64) error {
	b.pending += n
	if b.pending < batchChargeBytes {
		return nil
	}
	n, b.pending = b.pending, 0
	return b.acct.add(n)
}

// grow makes room in out for n more rows of rowBytes each (their cells; the values are
// the input's), charging the rows and, when out must grow, the whole new array: the old one is
// garbage until the next collection, so it stays charged until the batch is given back.
func (b *batchAccount) grow(out []Row, n int, rowBytes int64) ([]Row, error) {
	if err := b.charge(int64(n) * rowBytes); err != nil {
		return nil, err
	}
	if len(out)+n <= cap(out) {
		return out, nil
	}
	c := max(2*cap(out), len(out)+n, 256)
	if err := b.charge(int64(c) * rowHeaderBytes); err != nil {
		return nil, err
	}
	grown := make([]Row, len(out), c)
	copy(grown, out)
	return grown, nil
}

// next gives the previous batch back.
func (b *batchAccount) next() {
	b.acct.release()
	b.pending = 0
}

// Size estimates, in bytes, of what the engine keeps: slice and interface headers, boxed
// scalars, string bytes, and the containers of dynamic values. They err on the large side.
const (
	rowHeaderBytes = 24 // a Row in a []Row
	cellBytes      = 16 // an interface value
	mapEntryBytes  = 48 // a map entry's share of buckets and overhead, keys and values apart
)

func rowsBytes(rows []Row) int64 {
	var n int64
	for _, r := range rows {
		n += rowBytes(r)
	}
	return n
}

// rowBytes estimates a row's memory: its header, its cells and what they point to. The usual
// scalars are sized here, without a call per cell; dynamic values are walked.
func rowBytes(r Row) int64 {
	n := int64(rowHeaderBytes + cellBytes*len(r))
	for _, v := range r {
		switch x := v.(type) {
		case string:
			n += 16 + int64(len(x))
		case time.Time:
			n += 24
		case nil, bool:
		case []any, map[string]any:
			n += valueBytes(x)
		default:
			n += 8
		}
	}
	return n
}

// valueBytes estimates the memory a boxed value points to, beyond its interface header.
func valueBytes(v any) int64 {
	switch x := v.(type) {
	case nil, bool:
		return 0
	case string:
		return 16 + int64(len(x))
	case time.Time:
		return 24
	case []any:
		n := int64(24 + cellBytes*len(x))
		for _, e := range x {
			n += valueBytes(e)
		}
		return n
	case map[string]any:
		n := int64(48)
		for k, e := range x {
			n += mapEntryBytes + int64(len(k)) + cellBytes + valueBytes(e)
		}
		return n
	}
	return 8 // int64, float64, time.Duration and other scalars
}
