package keyring

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"
)

// Steps of a rewrap, named for the hook tests use to stop it at each one.
const (
	stepDescribe  = "describe-new-key"
	stepUnwrapOld = "unwrap-with-old-key"
	stepWrapNew   = "wrap-with-new-key"
	stepVerifyNew = "verify-new-wrapping"
	stepNewEpoch  = "new-epoch"
	stepWrite     = "write-registry" // inside the transaction, before commit
	stepCommitted = "committed"      // after commit, before the switch in memory
)

func (k *Keyring) step(name string) error {
	if k.hook == nil {
		return nil
	}
	if err := k.hook(name); err != nil {
		return fmt.Errorf("rewrap stopped at %s: %w", name, err)
	}
	return nil
}

// SetKEK puts another key-encryption key in force: another version of the
// same key (a pinned version changed) or another key altogether, in the same
// or another key service (replacement). ref names kek as the caller
// configured it (see Config.KEKRef). Every account key is unwrapped with
// the old key, wrapped with the new one, verified by unwrapping the new
// wrapping, and then all are switched in one registry transaction — O(number
// of account keys), no data touched. A replacement also starts a new account
// key epoch (rule 6), wrapped by the new key; old epochs stay readable.
//
// On any error nothing changed: the old key stays in force. A crash at any
// point leaves the registry with the old or the new wrapping; InForce tells
// which. When another node changes the ring meanwhile, SetKEK reloads it and
// starts over, a few times.
func (k *Keyring) SetKEK(ctx context.Context, kek KEK, ref string) error {
	if kek == nil {
		return fmt.Errorf("keyring %s/%s: SetKEK needs a key", k.cfg.Cluster, k.cfg.Resource)
	}
	k.op.Lock()
	defer k.op.Unlock()
	defer k.flushUsage(ctx)
	err := k.retryChanged(ctx, func() error { return k.setKEKLocked(ctx, k.instrument(kek), ref) })
	if err == nil {
		k.changedHereLocked(ctx)
	}
	return err
}

// changedHereLocked follows a change of the ring made through this node:
// among nodes sharing their checks it probes the ring as changed and
// publishes, so that the others take the new version's record at their
// next read rather than each probe the key, which the new registry
// version would make them do. k.op must be held.
func (k *Keyring) changedHereLocked(ctx context.Context) {
	if k.shared != nil {
		// Its outcome is the ring's state, which the check sets; a record
		// not published is published by the next check.
		_, _ = k.sharedCheckLocked(ctx, checkPublish)
	}
}

// changeAttempts bounds how often an operation starts over after another
// node changed the ring under it; changeBackoff is the first wait between
// attempts, doubled each time and drawn at random below it, so that two
// nodes changing one ring at once do not keep colliding.
const (
	changeAttempts = 5
	changeBackoff  = 20 * time.Millisecond
)

// retryChanged runs op, and again after following the registry while it
// fails because another node changed the ring; k.op must be held.
func (k *Keyring) retryChanged(ctx context.Context, op func() error) error {
	for i := 1; ; i++ {
		err := op()
		if !errors.Is(err, ErrRegistryChanged) || i == changeAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(rand.N(changeBackoff << (i - 1))):
		}
		if err := k.syncLocked(ctx); err != nil {
			return fmt.Errorf("keyring %s/%s: another node changed the ring, and following it failed: %w", k.cfg.Cluster, k.cfg.Resource, err)
		}
		k.loadMissingLocked(ctx)
	}
}

func (k *Keyring) setKEKLocked(ctx context.Context, to *instrumentedKEK, ref string) error {
	k.mu.RLock()
	closed, old, m, recs := k.closed, k.kek, k.meta, sortedRecords(k.records)
	k.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := k.step(stepDescribe); err != nil {
		return err
	}
	st, err := to.Describe(ctx)
	if err != nil {
		return fmt.Errorf("keyring %s/%s: describe the new key: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	if err := k.usable(st); err != nil {
		return fmt.Errorf("keyring %s/%s: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	replacement := st.Provider != m.Provider || st.Key != m.Key
	if !replacement {
		var stale []*record
		for _, r := range recs {
			if r.Wrapped.KeyURI != st.KeyURI {
				stale = append(stale, r)
			}
		}
		if len(stale) == 0 {
			return k.sameVersionLocked(ctx, to, ref, m, recs)
		}
		recs = stale
	}
	reason := "key-encryption key version set to " + st.KeyURI
	if replacement {
		reason = "key-encryption key replaced by " + st.KeyURI
	}
	return k.rewrapLocked(ctx, old, to, st, ref, recs, replacement, reason)
}

// sameVersionLocked takes a KEK for the version in force (say, with a new
// credential): it proves the new KEK object opens what is stored before
// trusting it, and records its ref, so that the other nodes follow.
func (k *Keyring) sameVersionLocked(ctx context.Context, to *instrumentedKEK, ref string, m meta, recs []*record) error {
	for _, r := range recs {
		pt, err := to.Unwrap(ctx, r.Wrapped)
		if err == nil {
			err = r.verify(pt)
		}
		clear(pt)
		if err != nil {
			return fmt.Errorf("keyring %s/%s: the new key does not unwrap account key %s: %w", k.cfg.Cluster, k.cfg.Resource, r.ID, err)
		}
	}
	if ref != m.KEKRef {
		m.KEKRef = ref
		if err := k.reg.write(ctx, &m, false, nil, nil); err != nil {
			return fmt.Errorf("keyring %s/%s: record the key in force: %w", k.cfg.Cluster, k.cfg.Resource, err)
		}
	}
	k.mu.Lock()
	k.kek = to
	k.held = kekID{Provider: m.Provider, Key: m.Key, Ref: ref}
	if m.Version > k.meta.Version {
		k.meta = m
	}
	k.mu.Unlock()
	return nil
}

// rewrapLocked moves recs from one KEK to another (which may be the same
// KEK, at another version); k.op must be held.
// ref names to (see Config.KEKRef). The write fails with
// ErrRegistryChanged when another node wrote the ring since it was read.
func (k *Keyring) rewrapLocked(ctx context.Context, from, to *instrumentedKEK, st KeyState, ref string, recs []*record, newEpoch bool, reason string) error {
	fail := func(err error) error {
		return fmt.Errorf("keyring %s/%s: rewrap under %s: %w", k.cfg.Cluster, k.cfg.Resource, st.KeyURI, err)
	}
	now := k.clock.Now().UTC()
	staged := make([]*record, 0, len(recs)+1)
	oldURIs := map[string]bool{}
	for _, r := range recs {
		if err := k.step(stepUnwrapOld); err != nil {
			return fail(err)
		}
		pt, err := from.Unwrap(ctx, r.Wrapped)
		if err == nil {
			if err = r.verify(pt); err != nil {
				clear(pt)
			}
		}
		if err != nil {
			return fail(fmt.Errorf("unwrap account key %s with %s: %w", r.ID, r.Wrapped.KeyURI, err))
		}
		w, err := func() (Wrapped, error) {
			defer clear(pt)
			if err := k.step(stepWrapNew); err != nil {
				return Wrapped{}, err
			}
			w, err := to.Wrap(ctx, pt)
			if err == nil {
				err = validWrapped(w)
			}
			if err != nil {
				return Wrapped{}, fmt.Errorf("wrap account key %s: %w", r.ID, err)
			}
			if err := k.step(stepVerifyNew); err != nil {
				return Wrapped{}, err
			}
			back, err := to.Unwrap(ctx, w)
			defer clear(back)
			if err != nil {
				return Wrapped{}, fmt.Errorf("verify new wrapping of account key %s with %s: %w", r.ID, w.KeyURI, err)
			}
			if subtle.ConstantTimeCompare(back, pt) != 1 {
				return Wrapped{}, fmt.Errorf("new wrapping of account key %s with %s unwraps to other bytes: %w", r.ID, w.KeyURI, ErrIntegrity)
			}
			return w, nil
		}()
		if err != nil {
			return fail(err)
		}
		oldURIs[r.Wrapped.KeyURI] = true
		nr := *r
		nr.Wrapped, nr.Rewrapped = w, now
		staged = append(staged, &nr)
	}

	k.mu.RLock()
	m := k.meta
	maxEpoch := uint64(0)
	for _, r := range k.records {
		maxEpoch = max(maxEpoch, r.Epoch)
	}
	k.mu.RUnlock()
	m.Provider, m.Key, m.KEKRef = st.Provider, st.Key, ref
	var fresh *record
	var freshKey []byte
	if newEpoch {
		if err := k.step(stepNewEpoch); err != nil {
			return fail(err)
		}
		var err error
		if fresh, freshKey, err = k.mint(ctx, to, maxEpoch+1); err != nil {
			return fail(err)
		}
		staged = append(staged, fresh)
		m.Current = fresh.ID
	}
	if err := k.reg.write(ctx, &m, false, staged, func() error { return k.step(stepWrite) }); err != nil {
		clear(freshKey)
		return fail(fmt.Errorf("write the registry: %w", err))
	}
	if err := k.step(stepCommitted); err != nil {
		clear(freshKey)
		return fail(err)
	}

	k.mu.Lock()
	records := maps.Clone(k.records)
	for _, r := range staged {
		records[r.ID] = r
	}
	k.records, k.meta, k.kek = records, m, to
	k.held = kekID{Provider: m.Provider, Key: m.Key, Ref: ref}
	if fresh != nil {
		if (k.state == Accessible || k.state == Unreachable) && !k.closed {
			k.mat[fresh.ID] = newMaterial(freshKey)
		} else {
			clear(freshKey) // loaded by the next successful probe
		}
	}
	k.mu.Unlock()
	fromURIs := make([]string, 0, len(oldURIs))
	for u := range oldURIs {
		fromURIs = append(fromURIs, u)
	}
	args := []any{"accountKeys", len(recs), "from", fromURIs, "keyUri", st.KeyURI, "keyVersion", versionOf(st.KeyURI), "reason", reason}
	if fresh != nil {
		args = append(args, "newEpoch", fresh.Epoch, "aekId", fresh.ID)
	}
	k.log.Info("account keys rewrapped", args...)
	return nil
}

// RotateAccountKey starts a new account key epoch under the KEK in force:
// new objects are sealed under it, old ones stay readable by ID. It returns
// the new account key's ID.
func (k *Keyring) RotateAccountKey(ctx context.Context) (string, error) {
	k.op.Lock()
	defer k.op.Unlock()
	defer k.flushUsage(ctx)
	var id string
	err := k.retryChanged(ctx, func() (err error) {
		id, err = k.newEpochLocked(ctx, "requested")
		return err
	})
	if err == nil {
		k.changedHereLocked(ctx)
	}
	return id, err
}

func (k *Keyring) newEpochLocked(ctx context.Context, reason string) (string, error) {
	k.mu.RLock()
	closed, kek, m := k.closed, k.kek, k.meta
	maxEpoch := uint64(0)
	for _, r := range k.records {
		maxEpoch = max(maxEpoch, r.Epoch)
	}
	k.mu.RUnlock()
	if closed {
		return "", ErrClosed
	}
	if _, err := k.live(m.Current); err != nil {
		return "", err
	}
	fresh, aek, err := k.mint(ctx, kek, maxEpoch+1)
	if err != nil {
		return "", fmt.Errorf("keyring %s/%s: new account key epoch: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	m.Current = fresh.ID
	if err := k.reg.write(ctx, &m, false, []*record{fresh}, nil); err != nil {
		clear(aek)
		return "", fmt.Errorf("keyring %s/%s: store new account key: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	k.mu.Lock()
	records := maps.Clone(k.records)
	records[fresh.ID] = fresh
	k.records, k.meta = records, m
	if k.closed || (k.state != Accessible && k.state != Unreachable) {
		clear(aek)
	} else {
		k.mat[fresh.ID] = newMaterial(aek)
	}
	k.mu.Unlock()
	k.log.Info("new account key epoch", "aekId", fresh.ID, "epoch", fresh.Epoch, "keyUri", fresh.Wrapped.KeyURI,
		"keyVersion", versionOf(fresh.Wrapped.KeyURI), "reason", reason)
	return fresh.ID, nil
}
