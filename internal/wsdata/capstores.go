package wsdata

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// handoutGrace is how long after Logs handed a store out the cap leaves it
// open though nothing uses it yet: an ingest marks it in use only once it
// starts. (A source from Data.Source holds its store from the hand-out.)
const handoutGrace = 2 * time.Second

// startCap closes stores beyond Options.MaxOpenStores in the background,
// so that the request that opened one more waits for no other workspace's
// flush. One run at a time; a run asked for during one runs after it.
func (d *Data) startCap() {
	d.capWanted.Store(true)
	if !d.capping.CompareAndSwap(false, true) {
		return
	}
	d.caps.Add(1)
	go func() {
		defer d.caps.Done()
		for {
			d.capWanted.Store(false)
			d.capOpenStores(d.stop)
			d.capping.Store(false)
			if !d.capWanted.Load() || !d.capping.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// capOpenStores closes, least recently handed out first, open stores that
// nothing uses until no more than Options.MaxOpenStores are open, and
// returns how many it closed. Each is flushed first, as CloseIdle does. A
// store in use, handed out within handoutGrace, or whose slot is busy
// (opening, closing) stays open: then the bound is exceeded until a later
// open finds one to close.
func (d *Data) capOpenStores(ctx context.Context) int {
	limit := int64(d.opts.MaxOpenStores)
	if limit <= 0 || d.open.Load() <= limit {
		return 0
	}
	type candidate struct {
		id   string
		s    *storeSlot
		used int64
	}
	grace := d.now().Add(-handoutGrace).UnixNano()
	var cands []candidate
	for id, s := range d.slots() {
		if used := s.used.Load(); used <= grace {
			cands = append(cands, candidate{id, s, used})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(a.used, b.used) })
	closed := 0
	for _, c := range cands {
		if d.open.Load() <= limit || ctx.Err() != nil {
			break
		}
		if !c.s.mu.TryLock() {
			continue
		}
		o := c.s.open
		c.s.mu.Unlock()
		if o == nil || o.store.InUse() {
			continue
		}
		// Flushed without the slot's lock, so that a caller that wants the
		// store meanwhile gets it (and keeps it open).
		fctx, cancel := context.WithTimeout(ctx, idleFlushTimeout)
		if err := o.store.Flush(fctx); err != nil {
			d.log.Debug("closing a log store over the open-store bound with rows left in its WAL", "workspace", c.id, "err", err)
		}
		cancel()
		if c.s.closeIfIdle(o, c.used, c.id, d) {
			closed++
		}
	}
	return closed
}
