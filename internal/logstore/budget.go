package logstore

import (
	"container/heap"
	"sync"
)

// MemoryBudget bounds the rows a node holds in the write-ahead logs being
// filled, across every store and table that shares it: each such WAL keeps
// its rows in memory until it is flushed (FlushBytes and FlushInterval
// decide that per table), so without a budget memory grows with the number
// of tables written to, workspaces × tables × FlushBytes. When the rows of
// all of them exceed the budget, the largest is flushed at once.
//
// One MemoryBudget serves a node: pass it in Config.Budget of every store.
// Rows of WALs already being flushed are held until their segments are
// written, beyond the budget; a table's own backpressure (one WAL flushing
// while the next fills) bounds them. The zero budget (nil) bounds nothing.
type MemoryBudget struct {
	limit int64

	mu      sync.Mutex
	filling int64 // bytes of rows in the WALs being filled
	tables  budgetHeap
	byTable map[*table]*budgetEntry
}

// NewMemoryBudget returns a budget of limit bytes of unflushed rows; a limit
// of 0 or less bounds nothing.
func NewMemoryBudget(limit int64) *MemoryBudget {
	if limit <= 0 {
		return nil
	}
	return &MemoryBudget{limit: limit, byTable: make(map[*table]*budgetEntry)}
}

// Limit is the budget in bytes; 0 when b bounds nothing.
func (b *MemoryBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Unflushed is the bytes of rows in the WALs being filled now.
func (b *MemoryBudget) Unflushed() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.filling
}

// charge counts n more bytes in the WAL t is filling. The caller holds t.mu.
func (b *MemoryBudget) charge(t *table, n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.byTable[t]
	if e == nil {
		e = &budgetEntry{t: t}
		b.byTable[t] = e
		heap.Push(&b.tables, e)
	}
	e.bytes += n
	b.filling += n
	heap.Fix(&b.tables, e.index)
}

// rotated uncounts the WAL t was filling: it is being flushed, or the table
// closed. The caller holds t.mu.
func (b *MemoryBudget) rotated(t *table) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.byTable[t]; e != nil {
		b.drop(e)
	}
}

func (b *MemoryBudget) drop(e *budgetEntry) {
	b.filling -= e.bytes
	heap.Remove(&b.tables, e.index)
	delete(b.byTable, e.t)
}

// relieve flushes the largest WALs being filled while their rows exceed the
// budget. The caller holds no table's lock: it takes the victims'.
func (b *MemoryBudget) relieve() {
	if b == nil {
		return
	}
	for {
		b.mu.Lock()
		if b.filling <= b.limit || len(b.tables) == 0 {
			b.mu.Unlock()
			return
		}
		victim := b.tables[0]
		b.drop(victim)
		b.mu.Unlock()
		victim.t.rotateForBudget()
	}
}

// budgetEntry is a table's WAL being filled, in the heap of the largest.
type budgetEntry struct {
	t     *table
	bytes int64
	index int
}

// budgetHeap orders the WALs being filled, largest first.
type budgetHeap []*budgetEntry

func (h budgetHeap) Len() int           { return len(h) }
func (h budgetHeap) Less(i, j int) bool { return h[i].bytes > h[j].bytes }
func (h budgetHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *budgetHeap) Push(x any) {
	e := x.(*budgetEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *budgetHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
