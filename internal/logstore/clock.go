package logstore

import (
	"slices"
	"sync"
	"time"
)

// ingestClock gives each ingest call the instant its WAL record is written:
// never before the wall clock (Config.Now), and always after every instant
// it gave before, so that no two calls of one store share one and a
// watermark can promise that later calls come after it.
//
// It also knows which stamped calls are still in flight (written, but not
// yet visible to scans, or failed), which a watermark must stay below.
type ingestClock struct {
	now func() time.Time

	mu       sync.Mutex
	last     int64   // Unix ns: the latest instant given or promised
	inflight []int64 // stamps given and not yet done, ascending
}

// stamp returns the next instant and holds it in flight until done.
func (c *ingestClock) stamp() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := max(c.now().UnixNano(), c.last+1)
	c.last = t
	c.inflight = append(c.inflight, t) // t is the largest yet: the slice stays sorted
	return t
}

// done ends the flight of a stamp: its rows are visible, or will never be.
func (c *ingestClock) done(t int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := slices.BinarySearch(c.inflight, t); ok {
		c.inflight = slices.Delete(c.inflight, i, i+1)
	}
}

// observe moves the clock to t, an instant found on disk (a replayed WAL,
// a segment the manifest lists), so that a wall clock set back across a
// restart does not give new rows instants that stored rows have. Tables
// are opened when first used, so this holds for the instants of a table
// from its first use on; the watermark relies on the wall clock only
// before that.
func (c *ingestClock) observe(t int64) {
	c.mu.Lock()
	c.last = max(c.last, t)
	c.mu.Unlock()
}

// watermark returns W such that every stamp ≤ W is done and every later
// stamp is > W: just before the oldest in flight, or, with none, the clock's
// instant now, which later stamps then pass.
func (c *ingestClock) watermark() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.inflight) > 0 {
		return c.inflight[0] - 1
	}
	c.last = max(c.now().UnixNano(), c.last)
	return c.last
}
