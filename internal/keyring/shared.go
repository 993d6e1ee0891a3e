package keyring

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Shared key checks. Nodes sharing a key registry would each probe every
// ring's key every interval: N times the key service's load of one node.
// With Config.Shared they share one probe instead. Each ring has a check
// record in the registry (checkrecord.go); the node that wrote the last
// one holds the ring's probe lease. With I the key-check interval:
//
//   - every node wakes every R = I/4 and reads the ring's meta and check
//     record (one kv View);
//   - the lessee probes every P = I/2, start to start (FailingCheckInterval,
//     if shorter, while the key is not accessible), and publishes each
//     result; it holds the lease until it reads another node's record;
//   - a record is fresh while its check started at most A = I − R = 3I/4
//     ago, at the ring's registry version: a follower adopts a fresh
//     record's "revoked" at once, and takes a fresh "accessible" as its
//     proof of access until its next read (unwrapping only account keys
//     new to it); it never adopts "unreachable", which may be the
//     lessee's own network, but checks itself every FailingCheckInterval
//     while the record says so; a node that cannot open the key in force
//     (another node's SetKEK) still adopts a fresh "revoked";
//   - a follower that finds no fresh record it trusts — none, one that
//     fails its MAC, one below the sequence number it has seen, one of
//     another registry version, or a lessee's that went stale — serves on
//     while its own newest proof of access (its probe, or the last record
//     it took) started at most A ago, and otherwise probes, publishes and
//     takes the lease;
//   - every node still probes itself every SelfCheckEvery × I, so that a
//     node that alone lost the key service finds out: its worse result
//     holds for it until its own next probe (every FailingCheckInterval),
//     and a revocation of the key it finds is published — a refusal of
//     its own credential is not (ownFinding);
//   - a key change made through a node (SetKEK, RotateAccountKey), or a
//     key event it learns of (ProbeNow), probes and publishes at once.
//
// The bound. A node is accessible at time τ only on a proof — a check,
// its own or a record's, that started at c — with τ − c ≤ A + R = I: it
// took the proof at a check r with r − c ≤ A and holds it until its next
// check, r + R. A check started after a revocation at t finds it (that is
// what a probe proves), so the proof that keeps a node accessible started
// at c ≤ t, and τ < c + I ≤ t + I: every node refuses within one interval
// of the revocation, plus its last registry read (ProbeTimeout/2 at most:
// a read that fails asks the key service about the key held, probe.go's
// syncFailed) and the duration of a probe where it probes itself, as a
// node on its own does. Checks are R apart start to start (scheduleNext). The lessee finds it within P plus a probe.
// Records stay fresh while a probe takes under A − P = I/4 (7.5 s of the
// default 30 s): the age a follower reads is at most P plus a probe.
// Slower, followers prove the key themselves, each at most once per A:
// more load, never a longer bound.
//
// A lessee that dies leaves a record that goes stale at most A after its
// last check started; the first follower to check then (within R more)
// probes and takes the lease. No node stays accessible past c + I on the
// dead lessee's last record, so the bound holds through the handover,
// which ends within I plus one probe of the lessee's last check.
//
// Load per interval for N nodes: the lessee's 2 probes, plus (N − 1)/K
// own probes (K = SelfCheckEvery), each unwrapping every account key and,
// when accessible, describing the key once — (2 + (N − 1)/K) × (E + 1)
// key-service calls per ring, where every node probing itself cost
// N × (E + 1); and 4N kv Views plus 2 kv Updates per ring. Times compare
// the clocks of nodes: they are assumed to agree to well under R (NTP); a
// record from more than R in the future is not trusted.

// DefaultSelfCheckEvery is how many key-check intervals apart a node that
// does not hold a ring's probe lease probes the key itself.
const DefaultSelfCheckEvery = 10

// SharedChecks makes the nodes sharing a key registry share its key
// checks (above): one node probes each ring's key, the others read what it
// found, so that the load on the key service does not grow with the nodes.
type SharedChecks struct {
	// Key is a secret every node holds and the database does not (the node
	// keeps it sealed under the cluster's master key); check records are
	// authenticated under a key derived from it. At least 32 bytes.
	Key []byte
	// Node names this node in the records it writes; a restarted node is a
	// new one.
	Node string
	// SelfCheckEvery is how many key-check intervals apart a node that
	// does not hold the probe lease probes the key itself (default
	// DefaultSelfCheckEvery).
	SelfCheckEvery int
}

// sharing is a keyring's part in shared checks. Its fields but next are
// guarded by the keyring's op lock.
type sharing struct {
	mac   []byte
	node  string
	every int
	// maxSeq is the highest sequence number read or written: a record
	// below it is a replay.
	maxSeq uint64
	// lastOwn is when this node's last probe started, ownWorse whether it
	// found the key not accessible: that result holds here until the next.
	lastOwn  time.Time
	ownWorse bool
	// evidence is when the newest check — own, or a record adopted —
	// that found the key accessible at the registry version held started.
	evidence time.Time
	// lessee: the last record this node read or wrote is its own.
	lessee bool
	next   atomic.Int64 // when Run checks next, Unix nanoseconds; 0: after R
}

func newSharing(c *SharedChecks) (*sharing, error) {
	if len(c.Key) < 32 || c.Node == "" {
		return nil, errors.New("keyring: shared checks need a secret of at least 32 bytes and the node's name")
	}
	mac, err := checkMACKey(c.Key)
	if err != nil {
		return nil, err
	}
	every := c.SelfCheckEvery
	if every <= 0 {
		every = DefaultSelfCheckEvery
	}
	return &sharing{mac: mac, node: c.Node, every: every}, nil
}

func (s *sharing) wait(now time.Time, readEvery time.Duration) time.Duration {
	next := s.next.Load()
	if next == 0 {
		return readEvery
	}
	return max(time.Unix(0, next).Sub(now), 0)
}

// readEvery (R), leaseProbeEvery (P) and maxRecordAge (A): see above.
func (k *Keyring) readEvery() time.Duration       { return k.cfg.KeyCheckInterval / 4 }
func (k *Keyring) leaseProbeEvery() time.Duration { return k.cfg.KeyCheckInterval / 2 }
func (k *Keyring) maxRecordAge() time.Duration    { return k.cfg.KeyCheckInterval - k.readEvery() }

// checkMode says what a shared check must do whatever the record says.
type checkMode int

const (
	checkRoutine checkMode = iota // what Run does: probe when due, else read
	checkProbe                    // probe (opening: the account keys must be unwrapped here)
	checkPublish                  // probe and publish (a key event, a key change)
)

// sharedCheckLocked is one check among nodes sharing them; k.op must be
// held. It returns the probe's result, or the adopted record's.
func (k *Keyring) sharedCheckLocked(ctx context.Context, mode checkMode) (probeResult, error) {
	if k.isClosed() {
		return probeError, ErrClosed
	}
	s := k.shared
	now := k.clock.Now()
	version := k.registryVersion()
	raw, syncErr := k.readAndSyncLocked(ctx)
	if k.registryVersion() != version {
		s.evidence = time.Time{} // a proof of the ring as it was, perhaps under another key
	}
	var rec *checkRecord
	if syncErr == nil || errors.Is(syncErr, errKEKElsewhere) {
		rec = k.trustCheck(raw, now)
	}
	defer func() { k.scheduleNext(now, rec) }()
	if syncErr != nil && rec != nil && rec.State == checkRevoked {
		// This node cannot open the key in force, but a node that can
		// found it revoked: that holds here too, rather than the grace
		// an unreachable key service would give.
		k.adoptLocked(ctx, rec)
		return probeRevoked, nil
	}
	if mode == checkRoutine && syncErr == nil && !k.ownProbeDue(now, rec) {
		if rec == nil {
			return probeSkipped, nil // this node's state stands on its own last probe
		}
		k.adoptLocked(ctx, rec)
		return resultOf(rec.State), nil
	}
	res, perr := k.probeSynced(ctx, time.Now(), syncErr)
	if res == probeCanceled || errors.Is(perr, ErrClosed) {
		return res, perr
	}
	state := k.ownFinding(res, perr)
	s.lastOwn, s.ownWorse = now, res != probeOK
	if res == probeOK {
		s.evidence = now
	}
	if syncErr == nil && k.shouldPublish(rec, state, mode == checkPublish) {
		k.publishLocked(ctx, now, state, rec, raw)
	}
	return res, perr
}

// ownFinding is what this node's probe says of the key for the others. A
// refusal of this node's own credential (ErrSignInRefused) says nothing of
// the key: published as a revocation, one node's stale secret would make
// every node refuse until it was fixed. It is published as a check that
// proved nothing, which no node adopts and which makes each check the key
// itself, so a credential refused to every node (the identity removed)
// still makes each refuse, on its own probe, within the bound.
func (k *Keyring) ownFinding(res probeResult, err error) checkState {
	if res != probeRevoked || !errors.Is(err, ErrSignInRefused) {
		return stateOf(res)
	}
	if !k.shared.ownWorse {
		k.log.Warn("the key service refused this node's own credential, not the key: this node refuses the keyring's data until its credential is accepted again; the other nodes check the key themselves",
			"node", k.shared.node, "err", err)
	}
	return checkUnreachable
}

// readAndSyncLocked reads the ring's meta and check record in one read,
// within registryReadTimeout, and follows the registry to that meta.
func (k *Keyring) readAndSyncLocked(ctx context.Context) ([]byte, error) {
	rctx, cancel := k.registryReadTimeout(ctx)
	defer cancel()
	head, raw, err := k.reg.readHeadAndCheck(rctx)
	if err != nil {
		return nil, fmt.Errorf("read the key registry: %w", err)
	}
	return raw, k.syncToLocked(rctx, head)
}

// trustCheck decodes the stored record and returns it when it may stand
// for a probe here: authentic, not a replay, fresh, of the registry
// version this keyring holds. Else nil, counted and, when not merely
// stale, logged — without the record's bytes.
func (k *Keyring) trustCheck(raw []byte, now time.Time) *checkRecord {
	s := k.shared
	if raw == nil {
		return nil
	}
	r, err := decodeCheck(s.mac, k.cfg.Cluster, k.cfg.Resource, raw)
	switch {
	case err != nil:
	case r.Seq < s.maxSeq:
		err = fmt.Errorf("sequence number %d, below %d: %w", r.Seq, s.maxSeq, errCheckReplayed)
	case r.CheckedAt.After(now.Add(k.readEvery())):
		err = fmt.Errorf("checked at %s, in the future: %w", r.CheckedAt.UTC().Format(time.RFC3339), errCheckInvalid)
	}
	if err != nil {
		k.metrics.checkRecord("untrusted")
		k.log.Warn("the key check record in the registry is not trusted; checking the key here", "err", err)
		return nil
	}
	s.maxSeq = r.Seq
	s.lessee = r.Node == s.node
	if now.Sub(r.CheckedAt) > k.maxRecordAge() || r.Registry != k.registryVersion() {
		k.metrics.checkRecord("stale")
		return nil
	}
	return r
}

// ownProbeDue says whether this node probes now rather than take rec
// (nil: no fresh record it trusts).
func (k *Keyring) ownProbeDue(now time.Time, rec *checkRecord) bool {
	s := k.shared
	st := k.State()
	switch {
	case s.lessee:
		return now.Sub(s.lastOwn) >= k.leasePeriod()
	case rec == nil && st == Accessible:
		return now.Sub(s.evidence) > k.maxRecordAge() // else its own proof holds until the next check
	case rec == nil:
		return now.Sub(s.lastOwn) >= k.failingEvery()
	case rec.State == checkRevoked:
		return false // nothing this node could find would let it serve
	case rec.State == checkAccessible && st != Accessible && !s.ownWorse:
		return true // restored: unwrap the account keys again
	case rec.State == checkUnreachable && st == Accessible && now.Sub(s.evidence) > k.maxRecordAge():
		return true // nothing fresh proves the key: prove it here
	}
	return now.Sub(s.lastOwn) >= k.ownProbeEvery(rec)
}

// leasePeriod is how often the lessee probes, start to start.
func (k *Keyring) leasePeriod() time.Duration {
	if k.State() != Accessible {
		return min(k.leaseProbeEvery(), k.failingEvery())
	}
	return k.leaseProbeEvery()
}

// ownProbeEvery is how often a node that does not hold the lease probes.
func (k *Keyring) ownProbeEvery(rec *checkRecord) time.Duration {
	s := k.shared
	every := time.Duration(s.every) * k.cfg.KeyCheckInterval
	if s.ownWorse || rec.State == checkUnreachable {
		every = min(every, k.failingEvery())
	}
	return every
}

// scheduleNext sets when Run checks next: R after this check started at
// start, or sooner when this node's probe falls due before. Start to
// start, not end to start: the bound counts a proof as held until the
// next check, R after it was taken, however long the registry read took.
func (k *Keyring) scheduleNext(start time.Time, rec *checkRecord) {
	s := k.shared
	now := k.clock.Now()
	next := start.Add(k.readEvery())
	switch {
	case s.lessee:
		next = earliest(next, s.lastOwn.Add(k.leasePeriod()))
	case rec != nil && rec.State != checkRevoked:
		next = earliest(next, s.lastOwn.Add(k.ownProbeEvery(rec)))
	}
	s.next.Store(max(next.UnixNano(), now.UnixNano()))
}

func (k *Keyring) registryVersion() uint64 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.meta.Version
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// adoptLocked takes a fresh record of another node's check for this
// node's: a revocation drops the account keys; an access proved keeps
// them, and unwraps those new to this node (an epoch made elsewhere).
func (k *Keyring) adoptLocked(ctx context.Context, rec *checkRecord) {
	switch rec.State {
	case checkAccessible:
		if k.State() != Accessible {
			return // this node's own worse result holds until its own next probe
		}
		k.loadMissingLocked(ctx)
		k.shared.evidence = later(k.shared.evidence, rec.CheckedAt)
		k.mu.Lock()
		k.checked, k.checkErr = rec.CheckedAt, ""
		k.mu.Unlock()
	case checkRevoked:
		why := fmt.Sprintf("node %s's key check at %s found the key revoked", rec.Node, rec.CheckedAt.UTC().Format(time.RFC3339))
		k.mu.Lock()
		k.checked, k.checkErr = rec.CheckedAt, why
		k.transitionLocked(Revoked, why)
		k.mu.Unlock()
	case checkUnreachable:
		return // the lessee's path to the key service, not this node's
	}
	k.metrics.checkRecord("adopted")
}

// shouldPublish says whether this node's probe, which found state, is
// written over rec: always when rec is not fresh, this node holds the
// lease, or when asked; else only a revocation the record does not show,
// or an access proved where the lessee cannot reach the key service (which
// takes the lease from it). A node alone unable to reach the key service
// keeps that to itself: it is its own network's state, not the key's.
func (k *Keyring) shouldPublish(rec *checkRecord, state checkState, asked bool) bool {
	switch {
	case asked, rec == nil, k.shared.lessee:
		return true
	case state == checkRevoked:
		return rec.State != checkRevoked
	case state == checkAccessible:
		return rec.State == checkUnreachable
	}
	return false
}

// publishLocked writes this node's check, started at start, over the
// record read as prev (rec decoded, when trusted): of two nodes writing
// over one record, the first wins and the other reads it next time.
func (k *Keyring) publishLocked(ctx context.Context, start time.Time, state checkState, rec *checkRecord, prev []byte) {
	s := k.shared
	since := start
	if rec != nil && rec.State == state {
		since = rec.Since
	}
	k.mu.RLock()
	r := &checkRecord{Cluster: k.cfg.Cluster, Resource: k.cfg.Resource, Seq: s.maxSeq + 1, Node: s.node,
		State: state, Since: since, CheckedAt: start, Registry: k.meta.Version}
	if cur := k.records[k.meta.Current]; cur != nil {
		r.KeyURI = cur.Wrapped.KeyURI
	}
	k.mu.RUnlock()
	raw, err := encodeCheck(s.mac, r)
	if err == nil {
		err = k.reg.writeCheck(ctx, prev, raw)
	}
	was := s.lessee
	s.lessee = err == nil
	switch {
	case err == nil:
		s.maxSeq = r.Seq
		k.metrics.checkRecord("published")
		if state == checkRevoked && (rec == nil || rec.State != checkRevoked) {
			// The operator must learn which node's answer made every node refuse.
			k.log.Warn("this node's key check found the key revoked and published it: every node sharing the checks refuses", "node", s.node)
		} else if !was {
			k.log.Info("key check published; this node holds the probe lease", "node", s.node, "state", string(state))
		}
	case errors.Is(err, errCheckChanged), errors.Is(err, errRingRemoved):
		k.log.Debug("key check not published", "err", err)
	default:
		k.log.Warn("key check not published; the other nodes check the key themselves once the record is stale", "err", err)
	}
}

func stateOf(r probeResult) checkState {
	switch r {
	case probeOK:
		return checkAccessible
	case probeRevoked:
		return checkRevoked
	}
	return checkUnreachable
}

func resultOf(s checkState) probeResult {
	switch s {
	case checkAccessible:
		return probeOK
	case checkRevoked:
		return probeRevoked
	}
	return probeUnreachable
}
