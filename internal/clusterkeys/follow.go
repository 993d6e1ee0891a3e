package clusterkeys

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Several nodes share the key registry and the control plane's records.
// A cluster's key is put in force by the node that served the PATCH; the
// others follow (with Config.StoredKeys):
//
//   - each keyring re-reads its ring's version at every probe, reloads it
//     when it moved, and opens the key in force the registry names — by its
//     ref, from the cluster's stored properties (storedKEK) — so that a
//     revocation of the new key is seen at the next probe on every node;
//   - the Manager reconciles its keyrings with the stored keys every
//     KeyCheckInterval (Follow), and opens a cluster's missing keyrings at
//     their first use (Keys), so a cluster keyed elsewhere is served here.

// kekRef names a cluster's key as configured, without its secrets: the
// registry records it, so that every node can tell the key in force from
// the one it holds. It covers the source, the key, a pinned version and the
// credential holder; a changed secret alone is not a change of key.
func kekRef(kv workspace.KeyVaultProperties) string {
	js, err := json.Marshal(kv.WithoutSecrets())
	if err != nil { // a struct of strings always marshals
		panic(err)
	}
	sum := sha256.Sum256(js)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// errNotStored: the control plane does not (yet) hold what the registry
// says is in force.
var errNotStored = errors.New("the control plane does not hold this key")

// storedKey is a cluster's key as the control plane stores it now.
func (m *Manager) storedKey(ctx context.Context, clusterID string) (StoredKey, error) {
	// A listing may fail for some clusters (a secret that does not open)
	// and still hold the others.
	keys, err := m.cfg.StoredKeys(ctx)
	for _, k := range keys {
		if k.ClusterID == clusterID {
			return k, nil
		}
	}
	if err != nil {
		return StoredKey{}, fmt.Errorf("list the stored cluster keys: %w", err)
	}
	return StoredKey{}, fmt.Errorf("cluster %s has no key: %w", clusterID, errNotStored)
}

// storedKEK opens the key ref names for one of a cluster's keyrings, from
// the cluster's stored properties. Between another node's key change in
// the registry and its saving the cluster's properties the two disagree
// for a moment: then it fails, and the keyring tries again at its next
// probe.
func (m *Manager) storedKEK(ctx context.Context, clusterID, resource, ref string) (keyring.KEK, error) {
	k, err := m.storedKey(ctx, clusterID)
	if err != nil {
		return nil, err
	}
	if got := kekRef(k.Key); got != ref {
		return nil, fmt.Errorf("cluster %s's stored key is %s, the registry names %s: %w", clusterID, got, ref, errNotStored)
	}
	p := k.Identity
	if resource == Documents {
		p = m.cfg.DocumentStore
	}
	kek, err := m.cfg.NewKEK(KEKRequest{ClusterID: clusterID, Resource: resource, Principal: p, Key: k.Key})
	if err == nil {
		m.setProps(clusterID, k.Key)
	}
	return kek, err
}

// openMissing opens those of a cluster's keyrings this node has not open,
// once each however many ask at once (the start-up restore, a request,
// the reconciliation).
func (m *Manager) openMissing(ctx context.Context, k StoredKey) error {
	mu, _ := m.opening.LoadOrStore(k.ClusterID, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	for _, r := range m.resources(k.Identity) {
		if m.ring(k.ClusterID, r.resource) != nil {
			continue
		}
		kek, err := m.cfg.NewKEK(KEKRequest{ClusterID: k.ClusterID, Resource: r.resource, Principal: r.p, Key: k.Key})
		if err != nil {
			return err
		}
		if _, err := m.open(ctx, k.ClusterID, r.resource, kek, kekRef(k.Key), reopen); err != nil {
			return fmt.Errorf("reopen the %s keyring of cluster %s: %w", r.resource, k.ClusterID, err)
		}
		m.setProps(k.ClusterID, k.Key)
	}
	return nil
}

// followCredential takes a cluster's stored key when only its secret
// changed (another node served the PATCH): the key in force is the same,
// so the registry does not tell; each keyring proves the new credential
// before using it. A key change itself is followed through the registry
// (storedKEK), never from here: the stored properties may be ahead of it.
func (m *Manager) followCredential(ctx context.Context, k StoredKey) error {
	m.mu.Lock()
	held, ok := m.props[k.ClusterID]
	m.mu.Unlock()
	if !ok || held == k.Key || kekRef(held) != kekRef(k.Key) {
		return nil
	}
	for _, r := range m.resources(k.Identity) {
		ring := m.ring(k.ClusterID, r.resource)
		if ring == nil {
			return nil
		}
		kek, err := m.cfg.NewKEK(KEKRequest{ClusterID: k.ClusterID, Resource: r.resource, Principal: r.p, Key: k.Key})
		if err == nil {
			err = ring.UseKEK(ctx, kek, kekRef(k.Key))
		}
		if err != nil {
			return fmt.Errorf("take the changed credential of cluster %s's key for its %s keyring: %w", k.ClusterID, r.resource, err)
		}
	}
	m.setProps(k.ClusterID, k.Key)
	m.log.Info("credential of the cluster's key changed on another node; following it", "cluster", k.ClusterID)
	return nil
}

// openStored opens the keyrings of a cluster keyed on another node at
// their first use here, or waits for their opening under way (openMissing
// opens each once), and returns once both are open: each opens with a
// check of the key, one after the other, and a request that found the
// first open and the second not would be refused as locked (KeyState)
// while the key was being proved. Without stored keys (one node) it leaves
// the state as it stands to answer.
func (m *Manager) openStored(ctx context.Context, clusterID string) error {
	if m.cfg.StoredKeys == nil || m.bothOpen(clusterID) {
		return nil
	}
	k, err := m.storedKey(ctx, clusterID)
	if err == nil {
		err = m.openMissing(ctx, k)
	}
	if err != nil {
		return fmt.Errorf("open the keyrings of cluster %s: %v: %w", clusterID, err, keyring.ErrLocked)
	}
	return nil
}

func (m *Manager) bothOpen(clusterID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bothOpenLocked(clusterID)
}

// bothOpenLocked says whether both of a cluster's keyrings are open; m.mu
// must be held.
func (m *Manager) bothOpenLocked(clusterID string) bool {
	return m.rings[ringKey(clusterID, Logs)] != nil && m.rings[ringKey(clusterID, Documents)] != nil
}

// Reconcile opens the keyrings of every stored cluster key not open here
// (a cluster keyed on another node), takes a credential changed on another
// node (followCredential), and closes those of clusters whose
// ring is gone from the registry (deleted on another node). A keyring open
// for a cluster not listed, whose ring the registry holds, stays: its key
// is being set on this node, and listed once that is saved.
func (m *Manager) Reconcile(ctx context.Context) error {
	keys, err := m.cfg.StoredKeys(ctx)
	var errs []error
	if err != nil {
		// What was listed is still reconciled; a cluster left out is not
		// closed, its ring being still in the registry.
		errs = append(errs, fmt.Errorf("list the stored cluster keys: %w", err))
	}
	listed := map[string]bool{}
	for _, k := range keys {
		listed[k.ClusterID] = true
		errs = append(errs, m.openMissing(ctx, k), m.followCredential(ctx, k))
	}
	for _, key := range m.openRings() {
		cluster, res, _ := strings.Cut(key, "/")
		if cluster == platformCluster || listed[cluster] {
			continue
		}
		ref, err := keyring.InForce(ctx, m.cfg.DB, cluster, res)
		if err != nil || ref.Provider != "" {
			errs = append(errs, err)
			continue
		}
		m.closeRing(cluster, res)
	}
	return errors.Join(errs...)
}

// follow reconciles the keyrings with the stored keys every
// KeyCheckInterval, from the end of the start-up restore until the probes
// stop. New starts it when Config.StoredKeys is set.
func (m *Manager) follow(ctx context.Context) {
	select {
	case <-m.restored:
	case <-ctx.Done():
		return
	}
	interval := m.cfg.KeyCheckInterval
	if interval <= 0 {
		interval = keyring.DefaultKeyCheckInterval
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.clock().After(interval):
		}
		rctx, cancel := context.WithTimeout(ctx, interval)
		if err := m.Reconcile(rctx); err != nil {
			m.log.Warn("reconcile the cluster keyrings with the stored keys; retrying next interval", "err", err)
		}
		cancel()
	}
}

func (m *Manager) clock() keyring.Clock {
	if m.cfg.Clock != nil {
		return m.cfg.Clock
	}
	return realClock{}
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (m *Manager) openRings() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.rings))
	for k := range m.rings {
		keys = append(keys, k)
	}
	return keys
}

// closeRing closes a keyring of a cluster deleted on another node.
func (m *Manager) closeRing(cluster, resource string) {
	m.mu.Lock()
	ring := m.rings[ringKey(cluster, resource)]
	delete(m.rings, ringKey(cluster, resource))
	m.mu.Unlock()
	if ring != nil {
		ring.Close()
		m.log.Info("keyring closed: its cluster was deleted on another node", "cluster", cluster, "resource", resource)
	}
	m.mu.Lock()
	if m.rings[ringKey(cluster, Logs)] == nil && m.rings[ringKey(cluster, Documents)] == nil {
		delete(m.props, cluster)
	}
	m.mu.Unlock()
}
