package wsdata

import "sync"

// A lease's Expires is written by its owner's clock and read by the
// claimer's: judged by that alone, a claimer whose clock runs ahead of the
// owner's by more than what is left of a lease would take a live node's
// lineage. So a claimer also watches each lease: it claims one only once it
// has seen it unchanged (no renewal) for a whole lease term by its own
// clock, which needs the clocks to run at the same rate, not to agree. A
// node that starts sees every lease anew, and claims nothing for a term.

// leaseWatch is what a node has seen of the other lineages' leases.
type leaseWatch struct {
	mu   sync.Mutex
	seen map[string]seenLease
}

// seenLease is a lease as last seen, and since when it is so (Unix ns, by
// this node's clock).
type seenLease struct {
	expires  int64
	renewals uint64
	since    int64
}

// note records the leases read at now, and forgets the lineages gone.
func (w *leaseWatch) note(leases map[string]lineageLease, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = make(map[string]seenLease, len(leases))
	}
	for l, lease := range leases {
		s, ok := w.seen[l]
		if !ok || s.expires != lease.Expires || s.renewals != lease.Renewals {
			w.seen[l] = seenLease{expires: lease.Expires, renewals: lease.Renewals, since: now}
		}
	}
	for l := range w.seen {
		if _, ok := leases[l]; !ok {
			delete(w.seen, l)
		}
	}
}

// saw records lineage l's lease as this node made it, at now.
func (w *leaseWatch) saw(l string, lease lineageLease, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = make(map[string]seenLease)
	}
	w.seen[l] = seenLease{expires: lease.Expires, renewals: lease.Renewals, since: now}
}

// stale reports whether lineage l's lease, as read now, ran out by this
// node's clock and has been seen unchanged for term: its owner is gone.
func (w *leaseWatch) stale(l string, lease lineageLease, now, term int64) bool {
	if !lease.expired(now) {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.seen[l]
	return ok && s.expires == lease.Expires && s.renewals == lease.Renewals && now-s.since >= term
}
