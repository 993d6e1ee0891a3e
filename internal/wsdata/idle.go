package wsdata

import (
	"context"
	"slices"
	"time"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// idleFlushTimeout bounds the flush of a store being closed as idle; a
// flush that does not finish leaves its rows in the WAL, replayed when the
// store opens again.
const idleFlushTimeout = time.Minute

// CloseIdleLoop closes the log stores left unused for Options.IdleClose,
// checking every quarter of it, until ctx ends. Without an idle time it
// returns at once.
func (d *Data) CloseIdleLoop(ctx context.Context) {
	if d.opts.IdleClose <= 0 {
		return
	}
	tick := time.NewTicker(max(d.opts.IdleClose/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.CloseIdle(ctx, d.opts.IdleClose)
	}
}

// CloseIdle closes the log stores that Logs has not handed out for idle and
// that have no ingest, scan or verification under way, and returns how many
// it closed. Each is flushed first, so that its rows do not wait in a
// closed WAL; its keys are asked for again when it opens next. A closed
// store holds no file, goroutine or row in memory.
func (d *Data) CloseIdle(ctx context.Context, idle time.Duration) int {
	cutoff := d.now().Add(-idle).UnixNano()
	closed := 0
	for id, s := range d.slots() {
		if s.used.Load() > cutoff {
			continue
		}
		o := d.openStoreOf(id)
		if o == nil || o.store.InUse() {
			continue
		}
		// Flushed without the slot's lock, so that a caller that wants the
		// store meanwhile gets it (and keeps it open).
		fctx, cancel := context.WithTimeout(ctx, idleFlushTimeout)
		if err := o.store.Flush(fctx); err != nil {
			d.log.Debug("closing an idle log store with rows left in its WAL", "workspace", id, "err", err)
		}
		cancel()
		if s.closeIfIdle(o, cutoff, id, d) {
			closed++
		}
	}
	return closed
}

// closeIfIdle closes o if it is still s's store and still idle.
func (s *storeSlot) closeIfIdle(o *openStore, cutoff int64, id string, d *Data) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open != o || s.used.Load() > cutoff || o.store.InUse() {
		return false
	}
	s.damage = mergeDamage(s.damage, workspaceDamage(o.store, id))
	if err := o.store.Close(); err != nil {
		d.log.Warn("close idle log store", "workspace", id, "err", err)
	}
	s.open = nil
	d.open.Add(-1)
	d.log.Debug("closed an idle log store", "workspace", id)
	return true
}

// workspaceDamage is what st has found damaged in workspace id.
func workspaceDamage(st *logstore.Store, id string) []logstore.IntegrityError {
	var out []logstore.IntegrityError
	for _, e := range st.Damage() {
		if e.Workspace == id {
			out = append(out, e)
		}
	}
	return out
}

// mergeDamage adds to a the damage of b not in it, by object.
func mergeDamage(a, b []logstore.IntegrityError) []logstore.IntegrityError {
	for _, e := range b {
		if !slices.ContainsFunc(a, func(x logstore.IntegrityError) bool { return x.Table == e.Table && x.Object == e.Object }) {
			a = append(a, e)
		}
	}
	return a
}

// verified drops the damage a workspace's store carried across an idle
// close: a verification has reported afresh.
func (d *Data) verified(id string) {
	d.mu.Lock()
	s := d.logs[id]
	d.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.damage = nil
		s.mu.Unlock()
	}
}
