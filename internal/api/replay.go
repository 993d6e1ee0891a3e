package api

import (
	"container/heap"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// collectorReplayLimit is how many signatures of accepted Data
// Collector requests a node remembers at most: about 14 MB, and enough for
// 110 requests a second, sustained, under the 15-minute clock window.
const collectorReplayLimit = 100_000

// replayCache remembers the signature of every Data Collector request being
// stored or stored, until its x-ms-date leaves the clock window, so that a
// captured request is stored once however often it is sent. The signature
// does not cover the body, so it is the signature, not the body, that may
// not be seen twice.
//
// Memory is bounded by count. When the cache is full of signatures still
// inside the window it refuses new requests (429, Retry-After: until the
// oldest leaves the window) rather than forget one, which would let that
// request be replayed. It lives in memory, so it starts empty: it refuses
// requests signed before it was made, which a previous process may have
// stored. Each node has its own.
type replayCache struct {
	window time.Duration
	limit  int
	since  time.Time // when the cache was made, to the second
	now    func() time.Time

	mu      sync.Mutex
	latest  time.Time // the latest now seen, which evicted up to it
	entries map[[sha256.Size]byte]*replayEntry
	expiry  replayHeap // the entries, soonest to leave the window first
}

type replayEntry struct {
	mac     [sha256.Size]byte
	expires time.Time // x-ms-date + window
	index   int       // in replayHeap
}

func newReplayCache(limit int, window time.Duration, now func() time.Time) *replayCache {
	return &replayCache{
		window:  window,
		limit:   limit,
		since:   now().Truncate(time.Second), // x-ms-date has whole seconds
		now:     now,
		entries: map[[sha256.Size]byte]*replayEntry{},
	}
}

// checkDate refuses a request signed at date that is outside the clock
// window now.
func (c *replayCache) checkDate(date, now time.Time) error {
	if d := now.Sub(date); d > c.window || d < -c.window {
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization",
			Message: "x-ms-date is more than 15 minutes from the server's clock; sign the request with the current time"}
	}
	return nil
}

// reserve records the signature mac of a request signed at date, or refuses
// the request: its date is outside the window (403), its signature is
// already recorded (409), the cache is full (429), or it was signed before
// the cache was made (403). The caller calls forget if the request is then
// not stored, so that a retry of it is not a duplicate.
//
// The window is checked again here, under the lock and on the clock that
// evicts: a request whose body took long to arrive must not outlive the
// record of its twin.
func (c *replayCache) reserve(mac [sha256.Size]byte, date time.Time) (forget func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A wall clock stepped back must not readmit what was evicted.
	now := c.now()
	if now.Before(c.latest) {
		now = c.latest
	}
	c.latest = now
	if err := c.checkDate(date, now); err != nil {
		return nil, err
	}
	c.evict(now)
	if date.Before(c.since) {
		return nil, &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization",
			Message: fmt.Sprintf("x-ms-date is before this node started (%s), so the node cannot tell whether it already stored the request; sign it again with the current time",
				c.since.UTC().Format(http.TimeFormat))}
	}
	if _, ok := c.entries[mac]; ok {
		return nil, &Error{Status: http.StatusConflict, Code: "DuplicateRequest",
			Message: "a request with this signature was already accepted: the signature covers the date to the second and the body's length, not the body, so the node takes each signature once within the 15-minute clock window. " +
				"A retry of a request that was stored is a duplicate and is not stored again; to send new rows, sign each request with a fresh x-ms-date"}
	}
	if len(c.entries) >= c.limit {
		wait := c.expiry[0].expires.Sub(now)
		return nil, &Error{Status: http.StatusTooManyRequests, Code: "ThrottledError", RetryAfter: max(1, int((wait+time.Second-1)/time.Second)),
			Message: fmt.Sprintf("the node remembers the signatures of the last %d Data Collector requests for the 15-minute clock window, to refuse replays, and holds that many; retry after Retry-After seconds", c.limit)}
	}
	e := &replayEntry{mac: mac, expires: date.Add(c.window)}
	c.entries[mac] = e
	heap.Push(&c.expiry, e)
	return func() { c.forget(e) }, nil
}

// forget removes e, unless it already left the window.
func (c *replayCache) forget(e *replayEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.mac] == e {
		delete(c.entries, e.mac)
		heap.Remove(&c.expiry, e.index)
	}
}

// evict drops the signatures whose date has left the window: a request
// carrying one is refused as stale before it reaches the cache.
func (c *replayCache) evict(now time.Time) {
	for len(c.expiry) > 0 && c.expiry[0].expires.Before(now) {
		e := heap.Pop(&c.expiry).(*replayEntry)
		delete(c.entries, e.mac)
	}
}

// len is how many signatures the cache holds.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// replayHeap orders entries by expiry (container/heap).
type replayHeap []*replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h replayHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *replayHeap) Push(x any) {
	e := x.(*replayEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
