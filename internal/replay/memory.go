package replay

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// DefaultMemoryLimit is how many signatures a Memory guard holds at most: about 14 MB, and
// enough for 110 requests a second, sustained, under the 15-minute clock window.
const DefaultMemoryLimit = 100_000

// FullError is a Memory guard's refusal when it holds its limit of signatures still inside
// the window: it refuses new requests rather than forget one, which would let that request
// be replayed. RetryAfter is when the oldest leaves the window.
type FullError struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *FullError) Error() string {
	return fmt.Sprintf("replay: %d signatures inside the window are held, the limit; the oldest leaves in %v", e.Limit, e.RetryAfter)
}

// Memory is the record of taken signatures of a single node, held in its memory: a commit of
// the shared record per request is the price of several nodes, which a lone node need not
// pay. It starts empty, so it refuses requests signed before it was made (ErrBeforeRecord),
// which a previous process may have taken; memory is bounded by count (FullError). It is
// safe for concurrent use.
type Memory struct {
	window time.Duration
	limit  int
	since  time.Time // when the guard was made, to the second
	now    func() time.Time

	mu      sync.Mutex
	latest  time.Time // the latest now seen, which evicted up to it
	entries map[[sha256.Size]byte]*memoryEntry
	expiry  memoryHeap // the entries, soonest to leave the window first
}

type memoryEntry struct {
	mac     [sha256.Size]byte
	expires time.Time // signing date + window
	index   int       // in memoryHeap
}

// NewMemory makes a Memory guard holding at most limit signatures.
func NewMemory(limit int, opts Options) (*Memory, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("replay: limit %d, want a positive count", limit)
	}
	if opts.Window < 0 {
		return nil, fmt.Errorf("replay: negative window %v", opts.Window)
	}
	if opts.Window == 0 {
		opts.Window = defaultWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Memory{
		window:  opts.Window,
		limit:   limit,
		since:   opts.Now().Truncate(time.Second), // signing dates have whole seconds
		now:     opts.Now,
		entries: map[[sha256.Size]byte]*memoryEntry{},
	}, nil
}

// Since is when the guard was made: requests signed before it are refused.
func (m *Memory) Since() time.Time { return m.since }

// CheckDate returns ErrOutsideWindow if a request signed at date is outside the clock
// window now.
func (m *Memory) CheckDate(date time.Time) error {
	m.mu.Lock()
	now := m.clock()
	m.mu.Unlock()
	return m.checkDate(date, now)
}

func (m *Memory) checkDate(date, now time.Time) error {
	if d := now.Sub(date); d > m.window || d < -m.window {
		return ErrOutsideWindow
	}
	return nil
}

// clock reads now, never earlier than a previous reading: a wall clock stepped back must
// not readmit what was evicted. m.mu is held.
func (m *Memory) clock() time.Time {
	now := m.now()
	if now.Before(m.latest) {
		now = m.latest
	}
	m.latest = now
	return now
}

// Reserve records mac, the signature of a request signed at date, or refuses the request:
// ErrOutsideWindow, ErrBeforeRecord, ErrSeen, or *FullError. The caller calls release if
// the request is then not taken. The window is checked again here, under the lock and on
// the clock that evicts: a request whose body took long to arrive must not outlive the
// record of its twin.
func (m *Memory) Reserve(_ context.Context, mac []byte, date time.Time) (release func(context.Context) error, err error) {
	key := sha256.Sum256(mac)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if err := m.checkDate(date, now); err != nil {
		return nil, err
	}
	m.evict(now)
	if date.Before(m.since) {
		return nil, ErrBeforeRecord
	}
	if _, ok := m.entries[key]; ok {
		return nil, ErrSeen
	}
	if len(m.entries) >= m.limit {
		return nil, &FullError{Limit: m.limit, RetryAfter: m.expiry[0].expires.Sub(now)}
	}
	e := &memoryEntry{mac: key, expires: date.Add(m.window)}
	m.entries[key] = e
	heap.Push(&m.expiry, e)
	return func(context.Context) error { m.forget(e); return nil }, nil
}

// forget removes e, unless it already left the window.
func (m *Memory) forget(e *memoryEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[e.mac] == e {
		delete(m.entries, e.mac)
		heap.Remove(&m.expiry, e.index)
	}
}

// evict drops the signatures whose date has left the window: a request carrying one is
// refused as stale before it reaches the record. m.mu is held.
func (m *Memory) evict(now time.Time) {
	for len(m.expiry) > 0 && m.expiry[0].expires.Before(now) {
		e := heap.Pop(&m.expiry).(*memoryEntry)
		delete(m.entries, e.mac)
	}
}

// Len is how many signatures the guard holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// memoryHeap orders entries by expiry (container/heap).
type memoryHeap []*memoryEntry

func (h memoryHeap) Len() int           { return len(h) }
func (h memoryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h memoryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *memoryHeap) Push(x any) {
	e := x.(*memoryEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *memoryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
