// Package clusterkeys keeps the keyrings of every cluster — one for the log
// store, unwrapped by the cluster's own identity, and one for the document
// store, unwrapped by the document-store principal — and the platform
// keyrings of workspaces without a customer-managed key. It is the key layer
// the workspace control plane and data plane use.
package clusterkeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Storage resources: each has its own account keys.
const (
	Logs      = "logs"
	Documents = "documents"
)

// platformCluster names the keyrings of workspaces without a CMK.
const platformCluster = "platform"

// KEKRequest is one of a cluster's keyrings asking for the customer's key.
type KEKRequest struct {
	ClusterID string
	Resource  string // Logs or Documents
	// Principal is who uses the key for this resource, where the key's
	// source signs in by principal (a Key Vault); a source that signs with
	// credentials of its own (an AWS access key) takes them from Key.
	Principal workspace.Principal
	Key       workspace.KeyVaultProperties
}

// KEKFactory opens the customer's key for one of a cluster's keyrings, in
// whichever key service Key.Source() names.
type KEKFactory func(r KEKRequest) (keyring.KEK, error)

// Config describes a Manager.
type Config struct {
	DB kv.DB // the key registry (keyring buckets)
	// NewKEK opens a customer key for a principal.
	NewKEK KEKFactory
	// DocumentStore is the built-in principal that unwraps document-store
	// account keys; customers grant it get, wrapKey and unwrapKey.
	DocumentStore workspace.Principal
	// Platform seals workspaces that have no customer-managed key.
	Platform keyring.KEK

	// RestoreAtStart says the caller reopens the stored cluster keys with
	// Restore once it serves (the vault may be its own), then calls
	// Restored. Until then SetClusterKey waits: a key change must rewrap the
	// account keys the stored key wraps, not start over without them.
	RestoreAtStart bool

	// StoredKeys lists every cluster's key as the control plane stores it.
	// With it the Manager follows the other nodes sharing the database: it
	// opens the keyrings of a cluster keyed elsewhere — at its first use, and
	// every KeyCheckInterval for all — closes those of a cluster deleted
	// elsewhere, and opens the key another node put in force. nil: only
	// this node's SetClusterKey and Restore open keyrings (one node).
	StoredKeys func(ctx context.Context) ([]StoredKey, error)

	// FirstCheckWait bounds how long, after a start, a request for a
	// cluster's keys waits for the check of the key that reopens them
	// (default keyring.DefaultProbeTimeout, what one check may take).
	FirstCheckWait time.Duration

	// SharedChecks, set on nodes sharing the database, shares the checks of
	// cluster keys among them (keyring.SharedChecks): one node probes each
	// keyring's key, the others read what it found. The platform's
	// keyrings, whose key is no service's, are checked by each node.
	SharedChecks *keyring.SharedChecks

	KeyCheckInterval time.Duration
	UnreachableGrace time.Duration // 0 fails closed
	Clock            keyring.Clock
	Logger           *slog.Logger
	Registerer       prometheus.Registerer
}

// Manager holds the open keyrings. It implements workspace.KeyManager.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // ends the probe loops
	cancel context.CancelFunc
	loops  sync.WaitGroup

	restored     chan struct{} // closed once the stored cluster keys are reopened
	restoredOnce sync.Once
	// firstCheckHook, set only by tests, is called when a request starts
	// waiting for a cluster's first key check.
	firstCheckHook func(clusterID string)

	mu    sync.Mutex
	rings map[string]*keyring.Keyring // cluster/resource → ring
	// ringsOpened is closed and replaced each time a keyring opens, for the
	// requests waiting for a cluster's first key check.
	ringsOpened chan struct{}
	// platformMu makes the first use of a platform keyring open it once.
	platformMu sync.Mutex
	// opening holds a *sync.Mutex per cluster: a cluster's missing keyrings
	// (the start-up restore, a first use, Reconcile) open once each, and
	// clusters open in parallel. An entry is a few bytes per cluster ever
	// opened, kept for the Manager's life.
	opening sync.Map
	// soon holds the clusters whose key a CheckSoon is checking: true
	// when another check was asked for meanwhile.
	soon map[string]bool
	// closed is set by Close: no keyring opens after it.
	closed bool
	// props are the key properties, secrets included, each cluster's
	// keyrings were opened or last set with: Reconcile compares them with
	// the stored ones to follow a credential changed on another node.
	props map[string]workspace.KeyVaultProperties
}

var _ workspace.KeyManager = (*Manager)(nil)

// New returns a Manager; Close stops its probes and closes its keyrings.
func New(cfg Config) (*Manager, error) {
	if cfg.DB == nil || cfg.NewKEK == nil || cfg.Platform == nil || cfg.DocumentStore.AppID == "" {
		return nil, errors.New("clusterkeys: database, KEK factory, platform key and document-store principal are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FirstCheckWait <= 0 {
		cfg.FirstCheckWait = keyring.DefaultProbeTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, rings: map[string]*keyring.Keyring{}, soon: map[string]bool{},
		props:    map[string]workspace.KeyVaultProperties{},
		restored: make(chan struct{}), ringsOpened: make(chan struct{})}
	if !cfg.RestoreAtStart {
		m.Restored()
	}
	if cfg.StoredKeys != nil {
		m.loops.Go(func() { m.follow(m.ctx) })
	}
	return m, nil
}

// Restored says every stored cluster key has been through Restore (whether
// or not it opened): key changes may go ahead.
func (m *Manager) Restored() { m.restoredOnce.Do(func() { close(m.restored) }) }

// DocumentStorePrincipalID is the object ID customers grant key access to.
func (m *Manager) DocumentStorePrincipalID() string { return m.cfg.DocumentStore.ObjectID }

// CheckKey proves the key usable by the cluster identity and by the
// document-store principal, each with get, wrapKey and unwrapKey, and that
// the vault keeps it recoverable.
func (m *Manager) CheckKey(ctx context.Context, clusterID string, cluster workspace.Principal, kv workspace.KeyVaultProperties) error {
	for _, r := range m.resources(cluster) {
		kek, err := m.cfg.NewKEK(KEKRequest{ClusterID: clusterID, Resource: r.resource, Principal: r.p, Key: kv})
		if err != nil {
			return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest, Message: err.Error()}
		}
		if _, err := keyring.CheckKEK(ctx, kek, true); err != nil {
			return checkError(r.who, r.p.ObjectID, kv, err)
		}
	}
	return nil
}

// checkError words a failed key check for the principal who (object ID
// oid), in the terms of the key's source.
func checkError(who, oid string, kv workspace.KeyVaultProperties, err error) error {
	if errors.Is(err, keyring.ErrRegistryChanged) {
		return &fault.Error{Kind: fault.Conflict, Code: workspace.CodeConflict,
			Message: "the cluster's keys were changed through another node at the same time; read the cluster, then set the key again"}
	}
	switch kv.Source() {
	case workspace.KeySourceAWSKMS:
		return awsKMSCheckError(kv, err)
	case workspace.KeySourcePKCS11:
		return pkcs11CheckError(kv, err)
	}
	if kv.KeyVaultClientID != "" {
		return keyVaultAppCheckError(kv, err)
	}
	return keyVaultCheckError(who, oid, kv, err)
}

// keyVaultAppCheckError words a failed check of a Key Vault key used as an
// application of the vault's tenant: that application, not a principal of
// this node, is refused, and the grant is made in the vault's tenant.
func keyVaultAppCheckError(kv workspace.KeyVaultProperties, err error) error {
	app := fmt.Sprintf("application %s of tenant %s", kv.KeyVaultClientID, kv.KeyVaultTenantID)
	var ce *keyring.CheckError
	switch {
	case errors.As(err, &ce) && errors.Is(err, keyring.ErrAccessDenied):
		return &fault.Error{Kind: fault.Forbidden, Code: workspace.CodeForbidden,
			Message: fmt.Sprintf("%s lacks the %s permission on key '%s' in %s: grant the application get, wrapKey and unwrapKey on the key "+
				"(an access policy, or on a vault using roles the Key Vault Crypto Service Encryption User role), then set the key again", app, ce.Permission, kv.KeyName, kv.KeyVaultURI)}
	case errors.Is(err, keyring.ErrKeyRevoked):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("key '%s' in %s cannot be used as %s: %v; check the application's credential and tenant, and that the key exists and is enabled, then set it again",
				kv.KeyName, kv.KeyVaultURI, app, err)}
	}
	return keyVaultCheckError(app, kv.KeyVaultClientID, kv, err)
}

// keyVaultCheckError words a failed check of a Key Vault key. A missing
// permission is an access-policy problem and says how to grant it,
// runnable as printed; a key the vault reports missing or disabled is not.
func keyVaultCheckError(who, oid string, kv workspace.KeyVaultProperties, err error) error {
	var ce *keyring.CheckError
	vault := vaultName(kv.KeyVaultURI)
	switch {
	case errors.Is(err, keyring.ErrNotRecoverable):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeKeyNotRecoverable,
			Message: fmt.Sprintf("key '%s' in %s is not recoverable: turn on soft delete and purge protection on the vault (sealwatch keyvault create --enable-purge-protection), then set the key again", kv.KeyName, kv.KeyVaultURI)}
	case errors.Is(err, keyring.ErrKeyUnreachable):
		return &fault.Error{Kind: fault.KeyUnreachable, Code: workspace.CodeKeyVaultUnreachable,
			Message: fmt.Sprintf("the key vault %s could not be reached to check key '%s'; try again when it is up (%v)", kv.KeyVaultURI, kv.KeyName, err)}
	case errors.As(err, &ce) && errors.Is(err, keyring.ErrAccessDenied):
		return &fault.Error{Kind: fault.Forbidden, Code: workspace.CodeForbidden,
			Message: fmt.Sprintf("%s (object ID %s) lacks the %s permission on key '%s' in key vault '%s' (%s): "+
				"the vault's access policy does not grant it, which is an access-policy problem, not a disabled or deleted key; "+
				"grant get, wrapKey and unwrapKey with `sealwatch keyvault set-policy --name %s --object-id %s --key-permissions get wrapKey unwrapKey`, then set the key again",
				who, oid, ce.Permission, kv.KeyName, vault, kv.KeyVaultURI, vault, oid)}
	case errors.As(err, &ce) && errors.Is(err, keyring.ErrKeyRevoked):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("%s (object ID %s) cannot use key '%s' in key vault '%s': the vault refused its %s call because the key or its version is missing, deleted or disabled, or the principal could not sign in (%v); "+
				"check the key with `sealwatch keyvault key show --vault-name %s --name %s`, then set it again",
				who, oid, kv.KeyName, vault, ce.Permission, err, vault, kv.KeyName)}
	case errors.Is(err, keyring.ErrKeyRevoked):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("key '%s' in %s cannot be used: %v; enable it and set it again", kv.KeyName, kv.KeyVaultURI, err)}
	default:
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("key '%s' in %s cannot be used: %v", kv.KeyName, kv.KeyVaultURI, err)}
	}
}

// kmsActions are the KMS permissions behind CheckKEK's calls.
var kmsActions = map[string]string{"get": "kms:DescribeKey", "wrapKey": "kms:Encrypt", "unwrapKey": "kms:Decrypt"}

// awsKMSCheckError words a failed check of an AWS KMS key. One access key
// serves both of the cluster's keyrings, so the refusal names it, not a
// principal.
func awsKMSCheckError(kv workspace.KeyVaultProperties, err error) error {
	var ce *keyring.CheckError
	key := fmt.Sprintf("AWS KMS key %s (region %s)", kv.KMSKeyARN, kv.AWSRegion)
	switch {
	case errors.Is(err, keyring.ErrNotRecoverable):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeKeyNotRecoverable,
			Message: fmt.Sprintf("%s has imported key material, which can be deleted at any moment: use a key whose material KMS made (origin AWS_KMS), then set the key again", key)}
	case errors.Is(err, keyring.ErrKeyUnreachable):
		return &fault.Error{Kind: fault.KeyUnreachable, Code: workspace.CodeKeyVaultUnreachable,
			Message: fmt.Sprintf("AWS KMS could not be reached to check %s; try again when it is up (%v)", key, err)}
	case errors.As(err, &ce) && errors.Is(err, keyring.ErrAccessDenied):
		return &fault.Error{Kind: fault.Forbidden, Code: workspace.CodeForbidden,
			Message: fmt.Sprintf("access key %s lacks %s on %s: the key policy or the principal's IAM policy does not grant it, which is a grant problem, not a disabled or deleted key; "+
				"grant kms:Encrypt, kms:Decrypt and kms:DescribeKey on the key to the principal of access key %s, then set the key again",
				kv.AWSAccessKeyID, kmsActions[ce.Permission], key, kv.AWSAccessKeyID)}
	case errors.As(err, &ce) && errors.Is(err, keyring.ErrKeyRevoked):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("access key %s cannot use %s: KMS refused its %s call because the key or alias is missing, disabled or pending deletion, or the access key was removed (%v); "+
				"check the key with `aws kms describe-key --key-id %s --region %s`, then set it again",
				kv.AWSAccessKeyID, key, kmsActions[ce.Permission], err, kv.KMSKeyARN, kv.AWSRegion)}
	case errors.Is(err, keyring.ErrKeyRevoked):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("%s cannot be used: %v; enable it (`aws kms enable-key`, or cancel its deletion) and set it again", key, err)}
	default:
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("%s cannot be used: %v", key, err)}
	}
}

// pkcs11CheckError words a failed check of a key on a PKCS#11 token. The
// node logs in to the token with one PIN for both of the cluster's
// keyrings, so the refusal names the token, not a principal.
func pkcs11CheckError(kv workspace.KeyVaultProperties, err error) error {
	key := fmt.Sprintf("key '%s' on PKCS#11 token '%s' (module %s)", kv.PKCS11KeyLabel, kv.PKCS11TokenLabel, kv.PKCS11ModulePath)
	switch {
	case errors.Is(err, keyring.ErrNotRecoverable):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeKeyNotRecoverable,
			Message: fmt.Sprintf("%s can be destroyed (CKA_DESTROYABLE is true), and a token has no soft delete: make the key with CKA_DESTROYABLE false "+
				"(`sealwatch pkcs11 key create` does), then set the key again", key)}
	case errors.Is(err, keyring.ErrKeyUnreachable):
		return &fault.Error{Kind: fault.KeyUnreachable, Code: workspace.CodeKeyVaultUnreachable,
			Message: fmt.Sprintf("%s could not be reached: check that the module's library is installed at that path and the token is present "+
				"(`softhsm2-util --show-slots` or `pkcs11-tool --module %s -L` lists tokens), then try again (%v)", key, kv.PKCS11ModulePath, err)}
	case errors.Is(err, keyring.ErrAccessDenied):
		return &fault.Error{Kind: fault.Forbidden, Code: workspace.CodeForbidden,
			Message: fmt.Sprintf("token '%s' refused the PIN given for %s, which is a PIN problem, not a missing or disabled key (%v); "+
				"set the token's user PIN again with `sealwatch cluster update --key-source pkcs11 … --pkcs11-pin-stdin`", kv.PKCS11TokenLabel, key, err)}
	case errors.Is(err, keyring.ErrKeyRevoked):
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("%s cannot be used: no AES key object has that label, or the newest may not wrap and unwrap (CKA_WRAP, CKA_UNWRAP) (%v); "+
				"make one with `sealwatch pkcs11 key create`, then set the key again", key, err)}
	default:
		return &fault.Error{Kind: fault.Invalid, Code: workspace.CodeBadRequest,
			Message: fmt.Sprintf("%s cannot be used: %v", key, err)}
	}
}

// vaultName is the vault a key vault URI's host names,
// https://{vault}.{suffix}: the name `sealwatch keyvault` commands take.
func vaultName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	return name
}

// ringResource is one of a cluster's keyrings: the storage resource, and
// the principal that unwraps its account keys, as refusals name it.
type ringResource struct {
	resource string
	p        workspace.Principal
	who      string
}

// resources are a cluster's keyrings: the log store's, unwrapped by the
// cluster's identity, and the document store's.
func (m *Manager) resources(cluster workspace.Principal) []ringResource {
	return []ringResource{
		{Logs, cluster, "the cluster's identity"},
		{Documents, m.cfg.DocumentStore, "the document-store principal"},
	}
}

// SetClusterKey opens the cluster's keyrings under kv on first use, or
// rewraps their account keys under it: O(account keys), no data touched.
func (m *Manager) SetClusterKey(ctx context.Context, clusterID string, cluster workspace.Principal, kv workspace.KeyVaultProperties) error {
	select {
	case <-m.restored:
	case <-ctx.Done():
		return fmt.Errorf("wait for the stored cluster keys to be reopened: %w", ctx.Err())
	}
	for _, r := range m.resources(cluster) {
		kek, err := m.cfg.NewKEK(KEKRequest{ClusterID: clusterID, Resource: r.resource, Principal: r.p, Key: kv})
		if err != nil {
			return err
		}
		m.mu.Lock()
		ring := m.rings[ringKey(clusterID, r.resource)]
		m.mu.Unlock()
		if ring == nil {
			// The cluster may have been keyed through another node, and its
			// ring then opens under the key in force there, not kek: SetKEK
			// below puts kek in force (for a ring this open created, it only
			// proves kek opens its account key).
			if ring, err = m.open(ctx, clusterID, r.resource, kek, kekRef(kv), setKey); err != nil {
				return checkError(r.who, r.p.ObjectID, kv, err)
			}
		}
		if err := ring.SetKEK(ctx, kek, kekRef(kv)); err != nil {
			return checkError(r.who, r.p.ObjectID, kv, err)
		}
	}
	m.setProps(clusterID, kv)
	return nil
}

func (m *Manager) setProps(clusterID string, kv workspace.KeyVaultProperties) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.props[clusterID] = kv
}

// Restore reopens a cluster's keyrings at start-up. A key that is revoked or
// unreachable now still opens, in that state: the data stays, unreadable.
// A keyring already open (a request opened it first) is kept.
func (m *Manager) Restore(ctx context.Context, clusterID string, cluster workspace.Principal, kv workspace.KeyVaultProperties) error {
	return m.openMissing(ctx, StoredKey{ClusterID: clusterID, Identity: cluster, Key: kv})
}

// opening says what open is for, and so how it treats the registry.
type opening int

const (
	// setKey: a cluster's key set through this node. The ring is made if
	// the registry has none, under a key that must be recoverable.
	setKey opening = iota
	// reopen: a cluster's stored key, set through this node or another.
	// Only a ring the registry holds opens: one that is gone went with its
	// cluster, and making it again would leave it there.
	reopen
	// platformRing: the platform's ring, made if the registry has none.
	platformRing
)

// open opens a keyring under kek, which ref names (see kekRef).
func (m *Manager) open(ctx context.Context, cluster, resource string, kek keyring.KEK, ref string, o opening) (*keyring.Keyring, error) {
	cfg := keyring.Config{
		DB: m.cfg.DB, Cluster: cluster, Resource: resource, KEK: kek, KEKRef: ref,
		KeyCheckInterval: m.cfg.KeyCheckInterval, UnreachableGrace: m.cfg.UnreachableGrace,
		RequireRecoverable: o == setKey, Existing: o == reopen, Clock: m.cfg.Clock,
		Logger: m.log, Registerer: m.cfg.Registerer, // the keyring names its cluster and resource
	}
	if cluster != platformCluster && m.cfg.StoredKeys != nil {
		cfg.ResolveKEK = func(ctx context.Context, ref string) (keyring.KEK, error) {
			return m.storedKEK(ctx, cluster, resource, ref)
		}
	}
	if cluster != platformCluster {
		cfg.Shared = m.cfg.SharedChecks
	}
	ring, err := keyring.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		// Closed meanwhile (a reconciliation or a request was opening it):
		// nothing would close this keyring.
		ring.Close()
		return nil, fmt.Errorf("open the %s keyring of cluster %s: %w", resource, cluster, keyring.ErrClosed)
	}
	if old := m.rings[ringKey(cluster, resource)]; old != nil {
		old.Close()
	}
	m.rings[ringKey(cluster, resource)] = ring
	close(m.ringsOpened)
	m.ringsOpened = make(chan struct{})
	if m.ctx.Err() == nil { // after StopProbes, Close may be waiting for the loops
		m.loops.Go(func() { _ = ring.Run(m.ctx) })
	}
	return ring, nil
}

// awaitFirstCheck waits, after a start, until the cluster's keyrings are
// reopened — each opens with a check of the key, which sets its state — so
// that a request sent before the check is answered by its outcome instead
// of being refused as locked: the first query after a restart should not
// fail because it came early. It returns at once when every stored key has
// been through Restore, and gives up after FirstCheckWait, leaving the
// state as it stands (no keyring, or one of two: Locked) to answer. It
// makes no key usable that was not: the caller still checks the state.
func (m *Manager) awaitFirstCheck(ctx context.Context, clusterID string) error {
	select {
	case <-m.restored:
		return nil
	default:
	}
	timeout := time.NewTimer(m.cfg.FirstCheckWait)
	defer timeout.Stop()
	for hooked := false; ; hooked = true {
		m.mu.Lock()
		open := m.bothOpenLocked(clusterID)
		opened := m.ringsOpened
		m.mu.Unlock()
		if open {
			return nil
		}
		if m.firstCheckHook != nil && !hooked {
			m.firstCheckHook(clusterID)
		}
		select {
		case <-opened:
		case <-m.restored:
			return nil
		case <-timeout.C:
			return nil
		case <-m.ctx.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wait for the first check of cluster %s's key: %w", clusterID, ctx.Err())
		}
	}
}

// KeyState is the worse of the cluster's two keyrings' states: data is only
// as available as the less available of its keys. A cluster with one ring
// open and the other not (yet: a restart reopens them one after the other)
// is Locked.
func (m *Manager) KeyState(clusterID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	worst, open := keyring.State(0), 0
	for _, res := range []string{Logs, Documents} {
		ring := m.rings[ringKey(clusterID, res)]
		if ring == nil {
			continue
		}
		open++
		if st := ring.State(); rank(st) > rank(worst) {
			worst = st
		}
	}
	if open == 1 && rank(keyring.Locked) > rank(worst) {
		worst = keyring.Locked
	}
	if worst == 0 {
		return ""
	}
	return worst.String()
}

// LastKeyCheck is when the cluster's key was last checked — the older of
// its two keyrings' last probes, zero until both have been probed — and the
// errors of those of the two whose last probe failed, each after its
// storage resource ("logs: ...", "documents: ...").
func (m *Manager) LastKeyCheck(clusterID string) (time.Time, string) {
	var (
		oldest time.Time
		errs   []string
	)
	for _, res := range []string{Logs, Documents} {
		ring := m.ring(clusterID, res)
		if ring == nil {
			return time.Time{}, ""
		}
		at, why := ring.LastCheck()
		if at.IsZero() {
			return time.Time{}, ""
		}
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
		if why != "" {
			errs = append(errs, res+": "+why)
		}
	}
	return oldest, strings.Join(errs, "; ")
}

func rank(s keyring.State) int {
	switch s {
	case keyring.Accessible:
		return 1
	case keyring.Unreachable:
		return 2
	case keyring.Locked:
		return 3
	case keyring.Revoked:
		return 4
	}
	return 0
}

// ProbeNow probes a cluster's keyrings at once (tests, and after a PATCH);
// among nodes sharing their checks it publishes what it found.
func (m *Manager) ProbeNow(ctx context.Context, clusterID string) {
	for _, res := range []string{Logs, Documents} {
		if ring := m.ring(clusterID, res); ring != nil {
			_, _ = ring.ProbeNow(ctx)
		}
	}
}

// CheckSoon checks a cluster's key at once, in the background: a key event
// said it may have changed. The check, not the event, sets the key's
// state, so an event forged, replayed or lost changes nothing the next
// periodic check would not. Asked again while a check runs, it checks once
// more after it — never more — so that a change made during a check is
// seen, and a flood of events costs at most two checks per cluster.
func (m *Manager) CheckSoon(clusterID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	if _, running := m.soon[clusterID]; running {
		m.soon[clusterID] = true
		return
	}
	m.soon[clusterID] = false
	m.loops.Go(func() {
		for {
			ctx, cancel := context.WithTimeout(m.ctx, keyring.DefaultProbeTimeout)
			m.ProbeNow(ctx, clusterID)
			cancel()
			m.mu.Lock()
			again := m.soon[clusterID] && m.ctx.Err() == nil
			if !again {
				delete(m.soon, clusterID)
			} else {
				m.soon[clusterID] = false
			}
			m.mu.Unlock()
			if !again {
				return
			}
		}
	})
}

// Ring returns a cluster's keyring for resource, or nil.
func (m *Manager) ring(clusterID, resource string) *keyring.Keyring {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rings[ringKey(clusterID, resource)]
}

// Keyring returns an open keyring of a cluster (for key usage and tests).
func (m *Manager) Keyring(clusterID, resource string) *keyring.Keyring {
	return m.ring(clusterID, resource)
}

// Keys returns the account keys that seal a workspace's resource: its
// cluster's when it is under a customer-managed key, else the platform's.
func (m *Manager) Keys(ctx context.Context, ws *workspace.WorkspaceInfo, resource string) (envelope.Keys, error) {
	if ws.CMK {
		if err := m.awaitFirstCheck(ctx, ws.ClusterID); err != nil {
			return nil, err
		}
		if err := m.openStored(ctx, ws.ClusterID); err != nil {
			return nil, err
		}
		ring := m.ring(ws.ClusterID, resource)
		if ring == nil {
			return nil, fmt.Errorf("cluster %s has no open %s keyring: %w", ws.ClusterID, resource, keyring.ErrLocked)
		}
		return &clusterGated{m: m, cluster: ws.ClusterID, ring: ring}, nil
	}
	m.platformMu.Lock()
	defer m.platformMu.Unlock()
	if ring := m.ring(platformCluster, resource); ring != nil {
		return ring, nil
	}
	return m.open(ctx, platformCluster, resource, m.cfg.Platform, "", platformRing)
}

// clusterGated hands out a ring's keys only while every keyring of the
// cluster is usable: the customer's key governs the whole workspace, so
// removing the document-store principal's access stops ingestion and queries
// too, not only incidents — and the other way round.
type clusterGated struct {
	m       *Manager
	cluster string
	ring    *keyring.Keyring
}

func (g *clusterGated) Current(ctx context.Context) (envelope.Sealer, error) {
	if err := g.m.usable(ctx, g.cluster); err != nil {
		return nil, err
	}
	return g.ring.Current(ctx)
}

func (g *clusterGated) ByID(ctx context.Context, id string) (envelope.Sealer, error) {
	if err := g.m.usable(ctx, g.cluster); err != nil {
		return nil, err
	}
	return g.ring.ByID(ctx, id)
}

// usable is nil while the cluster's keys may be used, else the typed error
// of the worst keyring: revoked, or locked (unreachable past the grace).
// After a start it first waits for the cluster's first key check, and for
// a cluster keyed on another node, for both of its keyrings to open here.
func (m *Manager) usable(ctx context.Context, clusterID string) error {
	if err := m.awaitFirstCheck(ctx, clusterID); err != nil {
		return err
	}
	if err := m.openStored(ctx, clusterID); err != nil {
		return err
	}
	switch m.KeyState(clusterID) {
	case keyring.Revoked.String():
		return fmt.Errorf("cluster %s: %w", clusterID, keyring.ErrKeyRevoked)
	case keyring.Locked.String():
		return fmt.Errorf("cluster %s: %w", clusterID, keyring.ErrLocked)
	}
	return nil
}

// ForgetCluster closes and removes a deleted cluster's keyrings.
func (m *Manager) ForgetCluster(ctx context.Context, clusterID string) error {
	var errs []error
	for _, res := range []string{Logs, Documents} {
		m.mu.Lock()
		ring := m.rings[ringKey(clusterID, res)]
		delete(m.rings, ringKey(clusterID, res))
		m.mu.Unlock()
		if ring != nil {
			errs = append(errs, ring.Close())
		}
		errs = append(errs, keyring.Remove(ctx, m.cfg.DB, clusterID, res))
	}
	m.mu.Lock()
	delete(m.props, clusterID)
	m.mu.Unlock()
	return errors.Join(errs...)
}

// StopProbes ends the probe loops and waits for them; a node calls it before
// it stops serving, so that a probe never mistakes its own vault's shutdown
// for an unreachable key vault.
func (m *Manager) StopProbes() {
	m.cancel()
	m.loops.Wait()
}

// Close stops the probes and closes every keyring.
func (m *Manager) Close() error {
	m.cancel()
	m.mu.Lock()
	m.closed = true
	var errs []error
	for k, ring := range m.rings {
		errs = append(errs, ring.Close())
		delete(m.rings, k)
	}
	m.mu.Unlock()
	m.loops.Wait()
	return errors.Join(errs...)
}

func ringKey(cluster, resource string) string { return cluster + "/" + resource }

// StoredKey is a cluster's key as the control plane holds it: what Restore
// reopens the cluster's keyrings with.
type StoredKey struct {
	ClusterID string
	Identity  workspace.Principal
	Key       workspace.KeyVaultProperties
}

// restoreParallel bounds the clusters RestoreAll reopens at once: each
// reopening waits on the key service (a check of each keyring), which may
// be this very node's vault, serving the node's requests too.
const restoreParallel = 8

// RestoreAll reopens the keyrings of every stored cluster key (see
// Restore), up to restoreParallel clusters at once, so that after a start
// each cluster's data is served once its own key is checked, not after the
// key of every cluster listed before it. It returns when each has been
// through Restore, with the failures joined; the caller then calls
// Restored.
func (m *Manager) RestoreAll(ctx context.Context, keys []StoredKey) error {
	slots := make(chan struct{}, restoreParallel)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		slots <- struct{}{} // a slot frees once a restore ends; ctx ends them
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = m.Restore(ctx, k.ClusterID, k.Identity, k.Key)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
