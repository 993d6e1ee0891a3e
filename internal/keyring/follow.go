package keyring

import (
	"context"
	"errors"
	"fmt"
)

// Nodes sharing a key registry each hold the same rings in memory. A node
// writes a ring only over the version it read (registry.write), and follows
// the others' writes: each probe first reads the ring's meta (one point
// read) and reloads the ring when its version moved — new epochs, rewraps,
// another key put in force — so a probe always unwraps what is stored, with
// the key in force. ByID of an unknown account key catches up at once.

// errKEKElsewhere: the registry names a key in force other than the one
// this keyring holds, and the keyring could not open it. The keyring cannot
// check the key in force then, as when its service is unreachable.
var errKEKElsewhere = errors.New("another node put a key in force that this node has not opened")

// kekID names a key-encryption key as the registry records the one in
// force: its provider, versionless key and the caller's ref.
type kekID struct{ Provider, Key, Ref string }

// is reports whether id is the key in force that m names. A ring written
// before refs were kept names none, and any ref matches it.
func (id kekID) is(m meta) bool {
	return id.Provider == m.Provider && id.Key == m.Key && (m.KEKRef == "" || m.KEKRef == id.Ref)
}

// syncLocked brings the keyring up to the registry: it reloads the ring if
// another node wrote it, and switches to the key in force if another node
// changed it. k.op must be held. It fails with errRingRemoved when the ring
// is gone, errKEKElsewhere when the key in force cannot be opened here, and
// the database's error when the registry cannot be read.
func (k *Keyring) syncLocked(ctx context.Context) error {
	head, err := k.reg.readHead(ctx)
	if err != nil {
		return fmt.Errorf("read the key registry: %w", err)
	}
	return k.syncToLocked(ctx, head)
}

// syncToLocked is syncLocked with the ring's meta as just read.
func (k *Keyring) syncToLocked(ctx context.Context, head *meta) error {
	if head == nil {
		return errRingRemoved
	}
	k.mu.RLock()
	have := k.meta.Version
	k.mu.RUnlock()
	if head.Version != have {
		s, err := k.reg.load(ctx)
		if err != nil {
			return fmt.Errorf("read the key registry: %w", err)
		}
		if s.meta == nil {
			return errRingRemoved
		}
		k.mu.Lock()
		k.installLocked(s)
		k.mu.Unlock()
	}
	return k.followKEKLocked(ctx)
}

// installLocked takes the ring as stored, unless the keyring holds as new a
// version already; k.mu must be held for writing. Account keys stay in
// memory: a rewrap elsewhere changes their wrapping, never their bytes, and
// the probe that follows proves the wrapping.
func (k *Keyring) installLocked(s *stored) {
	if s.meta.Version <= k.meta.Version {
		return
	}
	k.meta, k.records = *s.meta, s.records
	for id, m := range k.mat {
		if k.records[id] == nil {
			m.drop(ErrUnknownAccountKey)
			delete(k.mat, id)
		}
	}
}

// followKEKLocked switches to the key in force the registry names when it
// is not the one the keyring holds; k.op must be held.
func (k *Keyring) followKEKLocked(ctx context.Context) error {
	k.mu.RLock()
	m, held := k.meta, k.held
	k.mu.RUnlock()
	if held.is(m) {
		return nil
	}
	if k.cfg.ResolveKEK == nil {
		return fmt.Errorf("the registry names key %s of %s in force, this keyring holds %s of %s: %w", m.Key, m.Provider, held.Key, held.Provider, errKEKElsewhere)
	}
	kek, err := k.cfg.ResolveKEK(ctx, m.KEKRef)
	if err != nil {
		return fmt.Errorf("open key %s of %s, which the registry names in force: %v: %w", m.Key, m.Provider, err, errKEKElsewhere)
	}
	k.mu.Lock()
	k.kek = k.instrument(kek)
	k.held = kekID{Provider: m.Provider, Key: m.Key, Ref: m.KEKRef}
	k.mu.Unlock()
	k.log.Info("key in force changed by another node; following it", "key", m.Key, "provider", m.Provider)
	return nil
}

// catchUp follows the registry at once and unwraps the account keys it
// holds no material for — an epoch another node started. A failure leaves
// the state to the next probe.
func (k *Keyring) catchUp(ctx context.Context) {
	k.op.Lock()
	defer k.op.Unlock()
	if err := k.syncLocked(ctx); err != nil {
		k.log.Debug("catch up with the key registry", "err", err)
		return
	}
	k.loadMissingLocked(ctx)
}

// loadMissingLocked unwraps the account keys the keyring holds no material
// for, while the state allows their use; k.op must be held. It changes no
// state: the probe, which unwraps them all, decides that.
func (k *Keyring) loadMissingLocked(ctx context.Context) {
	k.mu.RLock()
	kek, st := k.kek, k.state
	var missing []*record
	for _, r := range sortedRecords(k.records) {
		if k.mat[r.ID] == nil {
			missing = append(missing, r)
		}
	}
	k.mu.RUnlock()
	if st != Accessible && st != Unreachable {
		return
	}
	for _, r := range missing {
		pt, err := kek.Unwrap(ctx, r.Wrapped)
		if err == nil {
			err = r.verify(pt)
		}
		if err != nil {
			clear(pt)
			k.log.Debug("unwrap an account key made by another node", "aekId", r.ID, "err", err)
			continue
		}
		k.mu.Lock()
		if k.mat[r.ID] == nil && !k.closed && (k.state == Accessible || k.state == Unreachable) && k.records[r.ID] != nil {
			k.mat[r.ID] = newMaterial(pt)
		} else {
			clear(pt)
		}
		k.mu.Unlock()
	}
}

// UseKEK swaps the keyring's KEK for another object of the key in force —
// the same key, version and ref, with another credential (say, a client
// secret changed through another node) — once it has proved that it
// unwraps every stored account key. It writes nothing and changes no state;
// a KEK that is not of the key in force is refused.
func (k *Keyring) UseKEK(ctx context.Context, kek KEK, ref string) error {
	k.op.Lock()
	defer k.op.Unlock()
	if err := k.syncLocked(ctx); err != nil {
		return fmt.Errorf("keyring %s/%s: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	k.mu.RLock()
	m, held, closed, recs := k.meta, k.held, k.closed, sortedRecords(k.records)
	k.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case ref != held.Ref || !held.is(m):
		return fmt.Errorf("keyring %s/%s: %q is not the key in force: %w", k.cfg.Cluster, k.cfg.Resource, ref, ErrWrongKEK)
	}
	to := k.instrument(kek)
	for _, r := range recs {
		pt, err := to.Unwrap(ctx, r.Wrapped)
		if err == nil {
			err = r.verify(pt)
		}
		clear(pt)
		if err != nil {
			return fmt.Errorf("keyring %s/%s: the key does not unwrap account key %s: %w", k.cfg.Cluster, k.cfg.Resource, r.ID, err)
		}
	}
	k.mu.Lock()
	k.kek = to
	k.mu.Unlock()
	return nil
}
