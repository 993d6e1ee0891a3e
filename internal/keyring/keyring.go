// Package keyring holds the account keys that seal a cluster's data, wrapped by the
// customer's key-encryption key, and decides from the key service's answers whether
// the data may be read.
//
// One Keyring serves one (cluster, storage resource): its account keys (AEKs)
// live in a key registry (a kv database) only wrapped by the KEK, in memory only while
// the health probe proves that the KEK still unwraps them. Stores reach it
// through envelope.Keys; object keys are HKDF-SHA256(AEK, salt, purpose) as
// AES-256-GCM, derived on demand and never stored.
package keyring

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/kv"
)

const (
	aekSize = 32 // AES-256
	// minSaltSize keeps callers from deriving every object key from one
	// (empty) salt; the stores use 32 random bytes.
	minSaltSize = 16
)

// Defaults, exported so that command-line flags can show them.
const (
	DefaultKeyCheckInterval     = 30 * time.Second
	DefaultFailingCheckInterval = 10 * time.Second
	DefaultUnreachableGrace     = 5 * time.Minute
	DefaultMaxAccountKeyAge     = 90 * 24 * time.Hour
	DefaultProbeTimeout         = 10 * time.Second
)

// Config describes one keyring.
type Config struct {
	DB       kv.DB // the key registry lives in buckets prefixed "keyring."
	Cluster  string
	Resource string // storage resource, such as "logs" or "documents"
	KEK      KEK

	// KeyCheckInterval is how often the probe unwraps every account key
	// while the key is accessible (default 30 s); FailingCheckInterval while
	// it is not (default 10 s).
	KeyCheckInterval     time.Duration
	FailingCheckInterval time.Duration
	// UnreachableGrace is how long work goes on from memory while the key
	// service cannot be reached. Zero fails closed at once, so a caller that
	// forgets to set it gets the safe behaviour; DefaultUnreachableGrace (5 min)
	// is the product's default.
	UnreachableGrace time.Duration
	// MaxAccountKeyAge starts a new account key epoch when the current one is
	// older (rule 6); zero means DefaultMaxAccountKeyAge, negative never.
	MaxAccountKeyAge time.Duration
	// ProbeTimeout bounds one probe run by Run (default 10 s).
	ProbeTimeout time.Duration
	// RequireRecoverable refuses a key without soft delete and purge
	// protection when the ring is created and on SetKEK.
	RequireRecoverable bool
	// Existing opens only a ring the registry holds, and fails with
	// ErrNoRing when it holds none, rather than make one: a caller reopening
	// a ring it knows of must not make again one another node removed with
	// its cluster.
	Existing bool

	// KEKRef names KEK as the caller configured it — for a cluster, a hash
	// of the key's source, name, pinned version and credential holder, never
	// a secret. The registry keeps the ref of the key in force, so that a
	// node sharing it learns when another node put another key in force.
	// "" when the caller does not tell versions or credentials apart; a
	// change of provider or key is seen without it.
	KEKRef string
	// ResolveKEK opens the KEK a ref names. A probe that finds in the
	// registry a key in force other than the one the keyring holds (another
	// node's SetKEK) switches to it; until it can, the keyring cannot check
	// the key in force and works from memory only within UnreachableGrace.
	// nil: such a keyring is locked at the end of the grace, until reopened.
	ResolveKEK func(ctx context.Context, ref string) (KEK, error)

	// Shared, when set, shares the key checks with the other nodes that
	// share the registry (see SharedChecks); nil probes as one node does.
	Shared *SharedChecks

	Clock      Clock                 // default: the system clock
	Logger     *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
}

// State is whether a keyring's data may be read.
type State int

// States. A keyring opens in one of them after its first probe.
const (
	// Accessible: the last probe unwrapped every account key.
	Accessible State = iota + 1
	// Unreachable: the key service cannot be reached; work goes on from
	// memory until the grace ends.
	Unreachable
	// Locked: unreachable past the grace (or at start); keys dropped.
	Locked
	// Revoked: the key service refused; keys dropped.
	Revoked
)

var stateNames = map[State]string{Accessible: "Accessible", Unreachable: "Unreachable", Locked: "Locked", Revoked: "Revoked"}

func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Keyring holds the account keys of one (cluster, storage resource). It
// implements envelope.Keys. Its methods are safe for concurrent use.
type Keyring struct {
	cfg     Config
	log     *slog.Logger
	clock   Clock
	reg     *registry
	metrics *ringMetrics
	shared  *sharing      // nil: this node checks the key alone
	done    chan struct{} // closed by Close; ends Run
	// hook, set only by tests, is called at each step of a rewrap; an error
	// stops the rewrap there, as a crash would.
	hook func(step string) error

	// op serialises what calls the KEK and writes the registry: probes,
	// rewraps, new epochs. Reads of keys never take it.
	op sync.Mutex

	mu  sync.RWMutex
	kek *instrumentedKEK
	// held names the key kek is: the registry's key in force when the two
	// agree, else the probe resolves the registry's.
	held             kekID
	meta             meta
	records          map[string]*record
	mat              map[string]*material // AEKs in memory; empty unless Accessible or Unreachable
	state            State
	reason           string
	unreachableSince time.Time
	// checked is when the last probe ended (zero before the first), and
	// checkErr why it failed ("" when it succeeded): what an operator
	// looking at the state needs to know next.
	checked  time.Time
	checkErr string
	changed  chan struct{} // closed and replaced on every state change
	closed   bool

	usageMu sync.Mutex
	usage   map[string]usageRecord // as this node's calls left it
	// usageStored is what the registry holds, as far as this node knows:
	// flushUsage writes only what moved enough since.
	usageStored map[string]usageRecord
}

var _ envelope.Keys = (*Keyring)(nil)

// Open opens (or, the first time, creates) the keyring of cfg.Cluster and
// cfg.Resource. Creating wraps a new account key with cfg.KEK and fails if the
// key cannot be used. Opening probes at once: a revoked or unreachable key
// gives a keyring in state Revoked or Locked (the caller still needs it to
// report the state and delete the workspace), while a damaged registry or a
// KEK other than the one the registry names is an error.
func Open(ctx context.Context, cfg Config) (*Keyring, error) {
	if cfg.DB == nil || cfg.KEK == nil {
		return nil, errors.New("keyring: a database and a key-encryption key are required")
	}
	if cfg.Cluster == "" || cfg.Resource == "" || strings.ContainsRune(cfg.Cluster+cfg.Resource, 0) {
		return nil, errors.New("keyring: a cluster and a storage resource name are required")
	}
	if cfg.KeyCheckInterval <= 0 {
		cfg.KeyCheckInterval = DefaultKeyCheckInterval
	}
	if cfg.FailingCheckInterval <= 0 {
		cfg.FailingCheckInterval = DefaultFailingCheckInterval
	}
	if cfg.UnreachableGrace < 0 {
		cfg.UnreachableGrace = 0
	}
	if cfg.MaxAccountKeyAge == 0 {
		cfg.MaxAccountKeyAge = DefaultMaxAccountKeyAge
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("keyring: register metrics: %w", err)
	}
	k := &Keyring{
		cfg:     cfg,
		log:     cfg.Logger.With("cluster", cfg.Cluster, "resource", cfg.Resource),
		clock:   cfg.Clock,
		reg:     &registry{db: cfg.DB, cluster: cfg.Cluster, resource: cfg.Resource},
		metrics: m.with(cfg.Cluster, cfg.Resource),
		done:    make(chan struct{}),
		records: map[string]*record{},
		mat:     map[string]*material{},
		changed: make(chan struct{}),
		usage:   map[string]usageRecord{},

		usageStored: map[string]usageRecord{},
	}
	if cfg.Shared != nil {
		if k.shared, err = newSharing(cfg.Shared); err != nil {
			return nil, err
		}
	}
	k.kek = k.instrument(cfg.KEK)
	if err := k.open(ctx); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

func (k *Keyring) open(ctx context.Context) error {
	k.op.Lock()
	defer k.op.Unlock()
	for {
		s, err := k.reg.load(ctx)
		if err != nil {
			return fmt.Errorf("keyring %s/%s: %w", k.cfg.Cluster, k.cfg.Resource, err)
		}
		if s.meta == nil && k.cfg.Existing {
			return fmt.Errorf("keyring %s/%s: %w", k.cfg.Cluster, k.cfg.Resource, ErrNoRing)
		}
		if s.meta == nil {
			err := k.create(ctx)
			if errors.Is(err, ErrRegistryChanged) {
				// Another node created the ring first: its account key is
				// the ring's, and this one's, once loaded.
				continue
			}
			return err
		}
		k.mu.Lock()
		k.meta, k.records = *s.meta, s.records
		// The caller's KEK is taken for the registry's until the probe shows
		// otherwise; a registry that names another ref resolves it first.
		k.held = kekID{Provider: s.meta.Provider, Key: s.meta.Key, Ref: k.cfg.KEKRef}
		k.mu.Unlock()
		k.usageMu.Lock()
		k.usage, k.usageStored = maps.Clone(s.usage), s.usage
		k.usageMu.Unlock()
		var res probeResult
		if k.shared != nil {
			res, err = k.sharedCheckLocked(ctx, checkProbe)
		} else {
			res, err = k.probeLocked(ctx)
		}
		if res == probeError {
			return fmt.Errorf("keyring %s/%s: %w", k.cfg.Cluster, k.cfg.Resource, err)
		}
		return nil
	}
}

// create makes the ring's first account key, unless another node made the
// ring meanwhile: then it fails with ErrRegistryChanged, having stored
// nothing.
func (k *Keyring) create(ctx context.Context) error {
	st, err := k.kek.Describe(ctx)
	if err != nil {
		return fmt.Errorf("keyring %s/%s: describe the key-encryption key: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	if err := k.usable(st); err != nil {
		return err
	}
	rec, aek, err := k.mint(ctx, k.kek, 1)
	if err != nil {
		return err
	}
	m := meta{Format: registryFormat, Provider: st.Provider, Key: st.Key, KEKRef: k.cfg.KEKRef, Current: rec.ID}
	if err := k.reg.write(ctx, &m, true, []*record{rec}, nil); err != nil {
		clear(aek)
		return fmt.Errorf("keyring %s/%s: store the new account key: %w", k.cfg.Cluster, k.cfg.Resource, err)
	}
	k.mu.Lock()
	k.meta = m
	k.held = kekID{Provider: st.Provider, Key: st.Key, Ref: k.cfg.KEKRef}
	k.records[rec.ID] = rec
	k.mat[rec.ID] = newMaterial(aek)
	k.checked = k.clock.Now() // the wrap just done proved the key usable
	k.transitionLocked(Accessible, "account key created")
	k.mu.Unlock()
	k.flushUsage(ctx)
	k.log.Info("account key created", "aekId", rec.ID, "epoch", rec.Epoch, "keyUri", rec.Wrapped.KeyURI)
	return nil
}

// usable refuses a key version the ring must not wrap under.
func (k *Keyring) usable(st KeyState) error {
	if !st.Enabled {
		return fmt.Errorf("key-encryption key %s is disabled: %w", st.KeyURI, ErrKeyRevoked)
	}
	if k.cfg.RequireRecoverable && !st.Recoverable {
		return fmt.Errorf("key-encryption key %s has recovery level %q: %w", st.KeyURI, st.RecoveryLevel, ErrNotRecoverable)
	}
	return nil
}

// mint makes a new account key wrapped by kek, verified by unwrapping the
// wrapping, so that nothing is stored that cannot be opened again.
func (k *Keyring) mint(ctx context.Context, kek KEK, epoch uint64) (*record, []byte, error) {
	idb := make([]byte, 16)
	aek := make([]byte, aekSize)
	rand.Read(idb)
	rand.Read(aek)
	rec := &record{ID: "aek-" + hex.EncodeToString(idb), Cluster: k.cfg.Cluster, Resource: k.cfg.Resource,
		Epoch: epoch, Created: k.clock.Now().UTC()}
	rec.Check = checkValue(aek, rec)
	w, err := kek.Wrap(ctx, aek)
	if err == nil {
		err = validWrapped(w)
	}
	if err != nil {
		clear(aek)
		return nil, nil, fmt.Errorf("wrap new account key %s: %w", rec.ID, err)
	}
	rec.Wrapped = w
	back, err := kek.Unwrap(ctx, w)
	if err == nil {
		err = rec.verify(back)
	}
	clear(back)
	if err != nil {
		clear(aek)
		return nil, nil, fmt.Errorf("verify new account key %s with %s: %w", rec.ID, w.KeyURI, err)
	}
	return rec, aek, nil
}

func validWrapped(w Wrapped) error {
	if w.Provider == "" || w.KeyURI == "" || w.Algorithm == "" || len(w.Ciphertext) == 0 {
		return fmt.Errorf("key service returned an incomplete wrapping (provider %q, key %q, algorithm %q): %w", w.Provider, w.KeyURI, w.Algorithm, ErrIntegrity)
	}
	return nil
}

// Current is the account key new objects are sealed under. One another
// node made, which the check that read it is still unwrapping here, is
// waited for (awaitCheck) rather than refused.
func (k *Keyring) Current(ctx context.Context) (envelope.Sealer, error) {
	id := k.currentID()
	_, err := k.live(id)
	if errors.Is(err, errNotLoaded) {
		k.awaitCheck()
		id = k.currentID()
		_, err = k.live(id)
	}
	if err != nil {
		return nil, err
	}
	return &sealer{k: k, id: id}, nil
}

func (k *Keyring) currentID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.meta.Current
}

// ByID is the account key an existing object names, of any epoch. An ID
// the keyring does not know may be of an epoch another node started since
// the last probe: the keyring catches up with the registry once before it
// refuses. One it knows and is still unwrapping is waited for.
func (k *Keyring) ByID(ctx context.Context, keyID string) (envelope.Sealer, error) {
	_, err := k.live(keyID)
	switch {
	case errors.Is(err, ErrUnknownAccountKey):
		k.catchUp(ctx)
		_, err = k.live(keyID)
	case errors.Is(err, errNotLoaded):
		k.awaitCheck()
		_, err = k.live(keyID)
	}
	if err != nil {
		return nil, err
	}
	return &sealer{k: k, id: keyID}, nil
}

// errNotLoaded: the ring names an account key this node holds no bytes
// of. A check that reads a ring another node changed takes the ring first,
// then unwraps the account keys new to it; a request in between waits for
// that check (awaitCheck), and is refused only if it did not unwrap them.
var errNotLoaded = errors.New("account key not unwrapped on this node")

// awaitCheck returns once the check, rewrap or new epoch under way, if
// any, has ended. It calls nothing itself: a request costs the key service
// nothing, and a key that check could not unwrap is refused as before.
func (k *Keyring) awaitCheck() {
	// An empty critical section: waiting for the holder is the point.
	k.op.Lock()
	k.op.Unlock()
}

// live returns the in-memory account key id when the state allows its use.
// It ends the grace itself, so a lock does not wait for the next probe.
func (k *Keyring) live(id string) (*material, error) {
	k.mu.RLock()
	closed, st, reason, since := k.closed, k.state, k.reason, k.unreachableSince
	_, known := k.records[id]
	m := k.mat[id]
	k.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrClosed
	case !known:
		return nil, fmt.Errorf("account key %q is not one of %s/%s: %w", id, k.cfg.Cluster, k.cfg.Resource, ErrUnknownAccountKey)
	case st == Unreachable && !k.clock.Now().Before(since.Add(k.cfg.UnreachableGrace)):
		reason = fmt.Sprintf("key service unreachable since %s, past the grace of %s", since.UTC().Format(time.RFC3339), k.cfg.UnreachableGrace)
		k.mu.Lock()
		if k.state == Unreachable && k.unreachableSince.Equal(since) {
			k.transitionLocked(Locked, reason)
		}
		k.mu.Unlock()
		return nil, k.stateErr(id, Locked, reason)
	case st != Accessible && st != Unreachable:
		return nil, k.stateErr(id, st, reason)
	case m == nil:
		return nil, fmt.Errorf("account key %s of %s/%s: %w: %w", id, k.cfg.Cluster, k.cfg.Resource, errNotLoaded, ErrLocked)
	}
	return m, nil
}

// stateErr is the error for using account key id in state st.
func (k *Keyring) stateErr(id string, st State, reason string) error {
	if st == Revoked {
		return fmt.Errorf("account key %s of %s/%s: %s: %w", id, k.cfg.Cluster, k.cfg.Resource, reason, ErrKeyRevoked)
	}
	return fmt.Errorf("account key %s of %s/%s: %s: %w", id, k.cfg.Cluster, k.cfg.Resource, reason, ErrLocked)
}

// dropErr is what a dropped key's holders get.
func dropErr(st State) error {
	if st == Revoked {
		return ErrKeyRevoked
	}
	if st == Locked {
		return ErrLocked
	}
	return ErrClosed
}

// transitionLocked changes the state; k.mu must be held for writing. Leaving
// for Revoked or Locked drops and zeroes every account key at once.
func (k *Keyring) transitionLocked(to State, reason string) {
	if k.closed {
		return // Close dropped everything and forgot the metrics
	}
	from := k.state
	if to == Revoked || to == Locked {
		for id, m := range k.mat {
			m.drop(dropErr(to))
			delete(k.mat, id)
		}
	}
	if to != Unreachable {
		k.unreachableSince = time.Time{}
	}
	if from == to {
		return
	}
	k.state, k.reason = to, reason
	close(k.changed)
	k.changed = make(chan struct{})
	k.metrics.setState(to)
	uri := ""
	if r := k.records[k.meta.Current]; r != nil {
		uri = r.Wrapped.KeyURI
	}
	k.log.Info("account key state changed", "keyUri", uri, "keyVersion", versionOf(uri),
		"from", from.String(), "to", to.String(), "reason", reason)
}

func versionOf(uri string) string {
	if i := strings.LastIndexByte(uri, '/'); i >= 0 {
		return uri[i+1:]
	}
	return ""
}

// State is the keyring's state now.
func (k *Keyring) State() State {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.state
}

// LastCheck is when the last probe of the key ended, zero before the first,
// and that probe's error, "" when it proved the key usable.
func (k *Keyring) LastCheck() (time.Time, string) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.checked, k.checkErr
}

// Watch returns the state now and a channel closed at its next change: a
// cache of what was decrypted under the ring's keys serves only while the
// state it was filled in holds.
func (k *Keyring) Watch() (State, <-chan struct{}) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.state, k.changed
}

// WaitState returns once the keyring is in state want, or when ctx ends.
func (k *Keyring) WaitState(ctx context.Context, want State) error {
	for {
		k.mu.RLock()
		st, ch := k.state, k.changed
		k.mu.RUnlock()
		if st == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for state %s (now %s): %w", want, st, ctx.Err())
		case <-ch:
		}
	}
}

// Close drops and zeroes every account key, ends Run, and removes the
// keyring's metric series. It does not close the database.
func (k *Keyring) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	for id, m := range k.mat {
		m.drop(ErrClosed)
		delete(k.mat, id)
	}
	close(k.done)
	k.metrics.forget()
	return nil
}

// AccountKey describes one account key without its bytes.
type AccountKey struct {
	ID        string
	Epoch     uint64
	Created   time.Time
	Rewrapped time.Time // zero: never rewrapped
	Current   bool
	KeyURI    string // the KEK version that wraps it now
}

// AccountKeys lists the ring's account keys, oldest epoch first.
func (k *Keyring) AccountKeys() []AccountKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []AccountKey
	for _, r := range sortedRecords(k.records) {
		out = append(out, AccountKey{ID: r.ID, Epoch: r.Epoch, Created: r.Created, Rewrapped: r.Rewrapped,
			Current: r.ID == k.meta.Current, KeyURI: r.Wrapped.KeyURI})
	}
	return out
}

func sortedRecords(m map[string]*record) []*record {
	out := make([]*record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *record) int {
		return cmp.Or(cmp.Compare(a.Epoch, b.Epoch), strings.Compare(a.ID, b.ID))
	})
	return out
}

// material is one account key in memory. Dropping it zeroes the key and
// makes every AEAD derived from it refuse to open.
type material struct {
	mu      sync.RWMutex
	key     []byte
	dropped atomic.Pointer[error]
}

func newMaterial(aek []byte) *material { return &material{key: aek} }

func (m *material) drop(reason error) {
	m.dropped.Store(&reason)
	m.mu.Lock()
	clear(m.key)
	m.key = nil
	m.mu.Unlock()
}

// derive returns HKDF-SHA256(AEK, salt, purpose) as AES-256-GCM. The derived
// bytes are zeroed once the cipher holds them; the cipher's own key schedule
// cannot be zeroed in Go, so the returned AEAD checks on every Open that its
// account key is still held.
func (m *material) derive(salt []byte, purpose string) (cipher.AEAD, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.dropped.Load(); e != nil {
		return nil, *e
	}
	okey, err := hkdf.Key(sha256.New, m.key, salt, purpose, aekSize)
	if err != nil {
		return nil, fmt.Errorf("derive object key: %w", err)
	}
	defer clear(okey)
	block, err := aes.NewCipher(okey)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &guardedAEAD{AEAD: gcm, m: m}, nil
}

// guardedAEAD is an object key that stops opening when its account key is
// dropped. Seal cannot report an error (cipher.AEAD has none), so it goes on
// sealing — which reveals nothing — and stores learn of a revocation from
// Current, ByID and AEAD, which they call per sealing unit.
type guardedAEAD struct {
	cipher.AEAD
	m *material
}

func (g *guardedAEAD) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if e := g.m.dropped.Load(); e != nil {
		return nil, fmt.Errorf("open with a dropped account key: %w", *e)
	}
	return g.AEAD.Open(dst, nonce, ciphertext, additionalData)
}

// sealer is envelope.Sealer for one account key. It holds no key bytes: each
// AEAD call asks the keyring, so a revocation reaches sealers already handed
// out, and a restore brings them back.
type sealer struct {
	k  *Keyring
	id string
}

func (s *sealer) KeyID() string { return s.id }

func (s *sealer) AEAD(salt []byte, purpose string) (cipher.AEAD, error) {
	if len(salt) < minSaltSize || purpose == "" {
		return nil, fmt.Errorf("derive object key of %s: need a salt of at least %d bytes and a purpose", s.id, minSaltSize)
	}
	m, err := s.k.live(s.id)
	if err != nil {
		return nil, err
	}
	a, err := m.derive(salt, purpose)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", s.id, err)
	}
	return a, nil
}
