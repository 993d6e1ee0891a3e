package keyring

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

type probeResult string

const (
	probeOK          probeResult = "ok"
	probeRevoked     probeResult = "revoked"
	probeUnreachable probeResult = "unreachable"
	probeError       probeResult = "error" // damaged record, wrong KEK, unexpected answer
	probeCanceled    probeResult = "canceled"
	// probeSkipped: a shared check that found no probe due and no record
	// to take (shared.go).
	probeSkipped probeResult = "skipped"
)

// classify sorts a KEK error. Anything not known to be a revocation counts
// against the grace rather than as revoked: a wrong "revoked" would drop keys
// the customer still grants, a wrong "unreachable" only waits for the grace.
func classify(err error) probeResult {
	switch {
	case err == nil:
		return probeOK
	case errors.Is(err, ErrKeyRevoked):
		return probeRevoked
	case errors.Is(err, context.Canceled):
		return probeCanceled
	case errors.Is(err, ErrKeyUnreachable), errors.Is(err, context.DeadlineExceeded):
		return probeUnreachable
	}
	return probeError
}

// Run checks the key every KeyCheckInterval (FailingCheckInterval while it
// is not accessible) until ctx ends or the keyring is closed. Among nodes
// sharing their checks (Config.Shared) it checks as shared.go says.
func (k *Keyring) Run(ctx context.Context) error {
	for {
		k.mu.RLock()
		changed := k.changed
		k.mu.RUnlock()
		select {
		case <-ctx.Done():
			return nil
		case <-k.done:
			return nil
		case <-changed:
			// The state changed under another probe (ProbeNow after a key
			// change): pace the next probe by the new state.
			continue
		case <-k.clock.After(k.interval()):
		}
		pctx, cancel := context.WithTimeout(ctx, k.cfg.ProbeTimeout)
		err := k.Check(pctx)
		cancel()
		if errors.Is(err, ErrClosed) {
			return nil
		}
	}
}

func (k *Keyring) interval() time.Duration {
	if k.shared != nil {
		return k.shared.wait(k.clock.Now(), k.readEvery())
	}
	if k.State() == Accessible {
		return k.cfg.KeyCheckInterval
	}
	// While failing, probe more often — never less often than when healthy.
	return k.failingEvery()
}

func (k *Keyring) failingEvery() time.Duration {
	return min(k.cfg.FailingCheckInterval, k.cfg.KeyCheckInterval)
}

// Check is what Run does each time it wakes: on a node of its own, a probe
// of the key; among nodes sharing their checks, a probe when this node
// holds the probe lease or its own probe is due, else a read of the ring's
// check record (shared.go). It returns the probe's error, if any.
func (k *Keyring) Check(ctx context.Context) error {
	k.op.Lock()
	defer k.op.Unlock()
	var err error
	if k.shared != nil {
		_, err = k.sharedCheckLocked(ctx, checkRoutine)
	} else {
		_, err = k.probeLocked(ctx)
	}
	return err
}

// ProbeNow unwraps every account key with the KEK, as the proof of access,
// and sets the state from the answers: Accessible on success (loading the
// keys again after a revocation or lock), Revoked on a refusal, and on an
// unreachable key service Unreachable within the grace, Locked after it. When
// accessible it also asks the KEK for its current version and rewraps
// account keys under a new one (versionless rotation), and starts a new
// account key epoch when the current one is too old. It returns the state
// and the probe's error, if any. Among nodes sharing their checks it
// publishes what it found, taking the probe lease: it is what a node runs
// when it learns of a key event.
func (k *Keyring) ProbeNow(ctx context.Context) (State, error) {
	k.op.Lock()
	defer k.op.Unlock()
	var err error
	if k.shared != nil {
		_, err = k.sharedCheckLocked(ctx, checkPublish)
	} else {
		_, err = k.probeLocked(ctx)
	}
	return k.State(), err
}

func (k *Keyring) probeLocked(ctx context.Context) (probeResult, error) {
	if k.isClosed() {
		return probeError, ErrClosed
	}
	start := time.Now() // the key service's real latency, whatever k.cfg.Clock says
	rctx, cancel := k.registryReadTimeout(ctx)
	defer cancel()
	return k.probeSynced(ctx, start, k.syncLocked(rctx))
}

func (k *Keyring) isClosed() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.closed
}

// probeSynced is the probe once the keyring has followed the registry,
// syncErr saying how following it failed.
func (k *Keyring) probeSynced(ctx context.Context, start time.Time, syncErr error) (probeResult, error) {
	if syncErr != nil {
		return k.syncFailed(ctx, start, syncErr)
	}
	res, firstErr, got := k.unwrapAll(ctx)
	defer clearAll(got)
	return k.settle(ctx, start, res, firstErr, got)
}

// unwrapAll unwraps every account key the keyring holds with the KEK it
// holds: the proof of access. The worst answer decides: revoked over
// damaged over unreachable. got holds the keys unwrapped, for the caller
// to take or clear.
func (k *Keyring) unwrapAll(ctx context.Context) (res probeResult, firstErr error, got map[string][]byte) {
	k.mu.RLock()
	kek, recs := k.kek, sortedRecords(k.records)
	k.mu.RUnlock()
	got = make(map[string][]byte, len(recs))
	res = probeOK
	for _, r := range recs {
		pt, err := kek.Unwrap(ctx, r.Wrapped)
		if err == nil {
			if err = r.verify(pt); err != nil {
				clear(pt)
			}
		}
		if err != nil {
			err = fmt.Errorf("unwrap account key %s with %s: %w", r.ID, r.Wrapped.KeyURI, err)
			c := classify(err)
			if res == probeOK || rank(c) > rank(res) {
				res, firstErr = c, err
			}
			if c == probeRevoked || c == probeCanceled {
				break
			}
			continue
		}
		got[r.ID] = pt
	}
	return res, firstErr, got
}

func clearAll(keys map[string][]byte) {
	for _, b := range keys {
		clear(b)
	}
}

// registryReadTimeout bounds a check's read of the registry to half the
// probe's time, so that a read that hangs (a table locked, PostgreSQL
// overloaded) leaves the key service time to answer.
func (k *Keyring) registryReadTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, k.cfg.ProbeTimeout/2)
}

// syncFailed settles a probe that could not follow the registry. A removed
// ring locks at once; a key in force this node cannot open, or a registry
// it cannot read, counts as an unreachable key service: the account keys
// in memory are still the ring's, but nothing proves the key in force.
// Unless the registry names another key in force, the key service is
// still asked about the key this node holds: its revocation is one
// whatever the database does, and taking the database's
// silence alone would let whoever can lock or damage the registry keep a
// node serving for the whole grace after a revocation.
func (k *Keyring) syncFailed(ctx context.Context, start time.Time, err error) (probeResult, error) {
	switch {
	case errors.Is(err, errRingRemoved):
		k.mu.Lock()
		k.checked, k.checkErr = k.clock.Now(), err.Error()
		k.transitionLocked(Locked, err.Error())
		k.mu.Unlock()
		return probeError, err
	case errors.Is(err, context.Canceled):
		return probeCanceled, err
	case errors.Is(err, errKEKElsewhere):
		// The registry was read: the key this node holds is no longer the
		// one in force, and is not called again (the customer may retire it).
		return k.settle(ctx, start, probeUnreachable, err, nil)
	}
	held, heldErr, got := k.unwrapAll(ctx)
	clearAll(got)
	switch {
	case held == probeRevoked:
		return k.settle(ctx, start, probeRevoked, fmt.Errorf("%w (and the key registry could not be read: %v)", heldErr, err), nil)
	case errors.Is(err, ErrIntegrity):
		return k.settle(ctx, start, probeError, err, nil)
	}
	return k.settle(ctx, start, probeUnreachable, err, nil)
}

// settle sets the state from a probe's result; got holds the account keys
// the probe unwrapped, which a successful probe takes into memory.
func (k *Keyring) settle(ctx context.Context, start time.Time, res probeResult, firstErr error, got map[string][]byte) (probeResult, error) {
	if res == probeCanceled {
		return res, firstErr
	}
	k.metrics.probe(res, time.Since(start))

	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return probeError, ErrClosed
	}
	k.checked, k.checkErr = k.clock.Now(), ""
	if firstErr != nil {
		k.checkErr = firstErr.Error()
	}
	switch res {
	case probeOK:
		for id, pt := range got {
			if m := k.mat[id]; m != nil {
				m.mu.RLock()
				same := subtle.ConstantTimeCompare(m.key, pt) == 1
				m.mu.RUnlock()
				if same {
					continue
				}
				m.drop(ErrIntegrity) // cannot happen once verify passed; never keep two keys for one ID
			}
			k.mat[id] = newMaterial(pt)
			delete(got, id) // now owned by the material
		}
		k.transitionLocked(Accessible, "account keys unwrapped")
	case probeRevoked:
		k.transitionLocked(Revoked, firstErr.Error())
	default:
		now := k.clock.Now()
		switch k.state {
		case Accessible:
			k.unreachableSince = now
			if k.cfg.UnreachableGrace <= 0 {
				k.transitionLocked(Locked, firstErr.Error()+" (no grace: failing closed)")
			} else {
				k.transitionLocked(Unreachable, firstErr.Error())
			}
		case Unreachable:
			if !now.Before(k.unreachableSince.Add(k.cfg.UnreachableGrace)) {
				k.transitionLocked(Locked, fmt.Sprintf("%v; past the grace of %s", firstErr, k.cfg.UnreachableGrace))
			}
		case Revoked, Locked:
			// Keys are already dropped; stay until a probe succeeds.
		default: // opening: nothing in memory to work from
			k.transitionLocked(Locked, firstErr.Error())
		}
		if res == probeError {
			k.log.Error("account key probe failed", "err", firstErr)
		}
	}
	state := k.state
	k.mu.Unlock()

	if state == Accessible {
		k.maintainLocked(ctx)
	}
	k.flushUsage(ctx)
	if res != probeOK {
		return res, firstErr
	}
	return res, nil
}

func rank(r probeResult) int {
	switch r {
	case probeRevoked:
		return 3
	case probeError:
		return 2
	case probeUnreachable:
		return 1
	}
	return 0
}

// maintainLocked follows the KEK's current version (when Describe names a
// new one) and the account key's age. Its failures do not change the state:
// the unwrap just done is the proof of access; they are retried next probe.
func (k *Keyring) maintainLocked(ctx context.Context) {
	k.mu.RLock()
	kek, m := k.kek, k.meta
	cur := k.records[m.Current]
	var stale []*record
	k.mu.RUnlock()

	st, err := kek.Describe(ctx)
	if err != nil {
		k.log.Debug("describe key-encryption key", "err", err)
	} else if st.Enabled && st.Provider == m.Provider && st.Key == m.Key {
		k.mu.RLock()
		for _, r := range sortedRecords(k.records) {
			if r.Wrapped.KeyURI != st.KeyURI {
				stale = append(stale, r)
			}
		}
		k.mu.RUnlock()
		if len(stale) > 0 {
			err := k.rewrapLocked(ctx, kek, kek, st, m.KEKRef, stale, false, "key-encryption key rotated to "+st.KeyURI)
			k.maintenanceFailed("rewrap after key rotation", err)
		}
	}
	if k.cfg.MaxAccountKeyAge > 0 && cur != nil && !k.clock.Now().Before(cur.Created.Add(k.cfg.MaxAccountKeyAge)) {
		_, err := k.newEpochLocked(ctx, fmt.Sprintf("account key %s is older than %s", cur.ID, k.cfg.MaxAccountKeyAge))
		k.maintenanceFailed("new account key epoch", err)
	}
}

// maintenanceFailed logs a failed rewrap or new epoch, which the next probe
// retries. Another node having changed the ring first is the normal race
// between nodes that probe alike, not a failure: the next probe reloads
// the ring, and most often finds the work done.
func (k *Keyring) maintenanceFailed(what string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrRegistryChanged):
		k.log.Info(what+": another node changed the ring first; the next probe reloads it", "err", err)
	default:
		k.log.Warn(what+" failed; retrying at the next probe", "err", err)
	}
}
