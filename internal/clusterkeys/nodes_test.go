package clusterkeys

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// cluster is two nodes' view of one deployment: a PostgreSQL database both
// reach over their own connections, the control plane's stored cluster
// keys (what workspace.Service.ClustersWithKeys lists), and the customer's
// keys in one test key service.
type cluster struct {
	t     *testing.T
	url   string
	keks  map[string]*kektest.KEK
	plat  *kektest.KEK
	mu    sync.Mutex
	saved map[string]StoredKey
	// valid is the one client secret the key service accepts, when keys
	// are opened with one.
	valid string
	nodes int // started, to name the next
}

// checkSecret is the secret the nodes share their key checks under, as a
// node keeps it sealed under the cluster's master key.
var checkSecret = []byte("the deployment's key-check secret, 32+ bytes")

// credentialKEK signs in to the key service with a client secret, which
// the service refuses once the customer has replaced it.
type credentialKEK struct {
	keyring.KEK
	c      *cluster
	secret string
}

func (k credentialKEK) signIn() error {
	k.c.mu.Lock()
	defer k.c.mu.Unlock()
	if k.secret != k.c.valid {
		return fmt.Errorf("sign in: the client secret was replaced: %w", keyring.ErrKeyRevoked)
	}
	return nil
}

func (k credentialKEK) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	if err := k.signIn(); err != nil {
		return keyring.Wrapped{}, err
	}
	return k.KEK.Wrap(ctx, aek)
}

func (k credentialKEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	if err := k.signIn(); err != nil {
		return nil, err
	}
	return k.KEK.Unwrap(ctx, w)
}

func (k credentialKEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	if err := k.signIn(); err != nil {
		return keyring.KeyState{}, err
	}
	return k.KEK.Describe(ctx)
}

var identity = workspace.Principal{ObjectID: "cl", AppID: "cl-app", Secret: "s"}

func newCluster(t *testing.T, keys ...string) *cluster {
	c := &cluster{t: t, url: pgtest.New(t), keks: map[string]*kektest.KEK{}, plat: kektest.New("platform"), saved: map[string]StoredKey{}}
	for _, k := range keys {
		c.keks[k] = kektest.New(k)
	}
	return c
}

// node starts a Manager over its own connections to the shared database,
// sharing its key checks with the others as nodes on one database do. Its
// probes and reconciliation wait an hour: the tests run one probe (what
// each interval does) when they mean to.
func (c *cluster) node() *Manager { return c.nodeWith(nil, time.Hour) }

// nodeWith starts a node whose probes and reconciliation run every
// interval of clock (nil: the system's).
func (c *cluster) nodeWith(clock keyring.Clock, interval time.Duration) *Manager {
	t := c.t
	db := pgkvtest.Open(t, c.url, "control")
	c.mu.Lock()
	c.nodes++
	name := fmt.Sprintf("node-%d", c.nodes)
	c.mu.Unlock()
	m, err := New(Config{
		DB: db,
		NewKEK: func(r KEKRequest) (keyring.KEK, error) {
			var k keyring.KEK = c.keks[r.Key.KeyName]
			if r.Key.KeyVersion != "" {
				k = c.keks[r.Key.KeyName].Pin(r.Key.KeyVersion)
			}
			if r.Key.KeyVaultClientSecret != "" {
				k = credentialKEK{KEK: k, c: c, secret: r.Key.KeyVaultClientSecret}
			}
			return k, nil
		},
		DocumentStore:    workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
		Platform:         c.plat,
		StoredKeys:       c.stored,
		SharedChecks:     &keyring.SharedChecks{Key: checkSecret, Node: name},
		KeyCheckInterval: interval,
		Clock:            clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The database closes after the Manager: cleanups run last first.
	t.Cleanup(func() { db.Close() })
	t.Cleanup(func() { m.Close() })
	return m
}

func (c *cluster) stored(context.Context) ([]StoredKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []StoredKey
	for _, k := range c.saved {
		out = append(out, k)
	}
	return out, nil
}

// setKey is a cluster PATCH served by node m: the key is put in force, then
// the cluster's properties are saved, as workspace.Service does.
func (c *cluster) setKey(m *Manager, clusterID string, kv workspace.KeyVaultProperties) {
	c.t.Helper()
	if err := m.SetClusterKey(context.Background(), clusterID, identity, kv); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.saved[clusterID] = StoredKey{ClusterID: clusterID, Identity: identity, Key: kv}
	c.mu.Unlock()
}

// deleteCluster is a cluster DELETE served by node m.
func (c *cluster) deleteCluster(m *Manager, clusterID string) {
	c.t.Helper()
	c.mu.Lock()
	delete(c.saved, clusterID)
	c.mu.Unlock()
	if err := m.ForgetCluster(context.Background(), clusterID); err != nil {
		c.t.Fatal(err)
	}
}

func key(name string) workspace.KeyVaultProperties {
	return workspace.KeyVaultProperties{KeyVaultURI: "https://cmk.vault.localhost/", KeyName: name}
}

func cmk(clusterID string) *workspace.WorkspaceInfo {
	return &workspace.WorkspaceInfo{ClusterID: clusterID, CMK: true}
}

// sealed is an object sealed under a workspace's log keys on one node.
type sealed struct {
	keyID, plain, salt, nonce, ct []byte
}

func seal(t *testing.T, m *Manager, ws *workspace.WorkspaceInfo) sealed {
	t.Helper()
	ctx := context.Background()
	keys, err := m.Keys(ctx, ws, Logs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := sealed{keyID: []byte(s.KeyID()), plain: []byte("rows of " + ws.ClusterID), salt: make([]byte, 32), nonce: make([]byte, 12)}
	rand.Read(o.salt)
	rand.Read(o.nonce)
	a, err := s.AEAD(o.salt, "test")
	if err != nil {
		t.Fatal(err)
	}
	o.ct = a.Seal(nil, o.nonce, o.plain, nil)
	return o
}

// open opens o on node m, as a store reading an object another node wrote.
func open(m *Manager, ws *workspace.WorkspaceInfo, o sealed) error {
	ctx := context.Background()
	keys, err := m.Keys(ctx, ws, Logs)
	if err != nil {
		return err
	}
	s, err := keys.ByID(ctx, string(o.keyID))
	if err != nil {
		return err
	}
	a, err := s.AEAD(o.salt, "test")
	if err != nil {
		return err
	}
	got, err := a.Open(nil, o.nonce, o.ct, nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, o.plain) {
		return errors.New("opened to other bytes")
	}
	return nil
}

func wantState(t *testing.T, node string, m *Manager, clusterID string, want keyring.State) {
	t.Helper()
	if got := m.KeyState(clusterID); got != want.String() {
		t.Fatalf("node %s: cluster %s is %q, want %s", node, clusterID, got, want)
	}
}

// probe runs on m what each key-check interval runs.
func probe(m *Manager, clusterID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.ProbeNow(ctx, clusterID)
}

// TestRevocationOfTheKeyInForceReachesEveryNodeWithinOneProbe: node A puts
// another key in force — another key, or another pinned version of the same
// key — and the customer then disables it. Node B, which opened the cluster
// under the old key (still enabled), must be Revoked at its next probe, not
// go on unwrapping with the old key; and both nodes are Accessible again
// once the customer restores the key.
func TestRevocationOfTheKeyInForceReachesEveryNodeWithinOneProbe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *cluster) (workspace.KeyVaultProperties, func(enabled bool))
	}{
		{"key replaced", func(c *cluster) (workspace.KeyVaultProperties, func(bool)) {
			second := c.keks["second"]
			return key("second"), func(on bool) { second.SetEnabled(second.Latest(), on) }
		}},
		{"pinned version changed", func(c *cluster) (workspace.KeyVaultProperties, func(bool)) {
			first := c.keks["first"]
			v2 := first.Rotate()
			kv := key("first")
			kv.KeyVersion = v2
			return kv, func(on bool) { first.SetEnabled(v2, on) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, "first", "second")
			a, b := c.node(), c.node()
			ws := cmk("c1")
			c.setKey(a, "c1", key("first"))
			before := seal(t, a, ws)
			if err := open(b, ws, before); err != nil {
				t.Fatalf("node B reads what A sealed: %v", err)
			}

			kv, enable := tc.change(c)
			c.setKey(a, "c1", kv)
			probe(b, "c1")
			wantState(t, "B", b, "c1", keyring.Accessible) // following the new key, which is enabled

			enable(false)
			probe(a, "c1")
			probe(b, "c1")
			wantState(t, "A", a, "c1", keyring.Revoked)
			wantState(t, "B", b, "c1", keyring.Revoked)
			if err := open(b, ws, before); !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Fatalf("node B opens data under the revoked key: err = %v", err)
			}

			enable(true)
			probe(a, "c1")
			probe(b, "c1")
			wantState(t, "A", a, "c1", keyring.Accessible)
			wantState(t, "B", b, "c1", keyring.Accessible)
			if err := open(b, ws, before); err != nil {
				t.Fatalf("node B after the restore: %v", err)
			}
			if err := open(a, ws, seal(t, b, ws)); err != nil {
				t.Fatalf("node A reads what B sealed after the restore: %v", err)
			}
		})
	}
}

// TestRevocationReachesAnotherNodeWithinOneKeyCheckInterval: what the
// probe loop does, not a probe a test runs. Node A replaces the key and the
// customer disables the new one; node B's keyrings, waiting out their
// interval, are Revoked once it has passed.
func TestRevocationReachesAnotherNodeWithinOneKeyCheckInterval(t *testing.T) {
	c := newCluster(t, "first", "second")
	clock := kektest.NewClock(time.Now())
	a, b := c.node(), c.nodeWith(clock, keyring.DefaultKeyCheckInterval)
	c.setKey(a, "c1", key("first"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	c.setKey(a, "c1", key("second"))
	second := c.keks["second"]
	second.SetEnabled(second.Latest(), false)
	// Both keyrings' probe loops and the reconciliation wait on the clock.
	if err := clock.WaitForTimers(ctx, 3); err != nil {
		t.Fatal(err)
	}
	wantState(t, "B", b, "c1", keyring.Accessible) // not checked since
	clock.Advance(keyring.DefaultKeyCheckInterval)
	for _, res := range []string{Logs, Documents} {
		if err := b.Keyring("c1", res).WaitState(ctx, keyring.Revoked); err != nil {
			t.Fatalf("node B's %s keyring one interval after the revocation: %v", res, err)
		}
	}
}

// TestAccountKeyRotatedOnOneNodeIsReadOnTheOther: an account key epoch
// started on node A is unknown to B until B reads the registry again; data
// A seals under it must open on B at once, and B seals under it after its
// next probe.
func TestAccountKeyRotatedOnOneNodeIsReadOnTheOther(t *testing.T) {
	c := newCluster(t, "first")
	a, b := c.node(), c.node()
	ws := cmk("c1")
	c.setKey(a, "c1", key("first"))
	if _, err := b.Keys(context.Background(), ws, Logs); err != nil {
		t.Fatal(err)
	}
	id, err := a.Keyring("c1", Logs).RotateAccountKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := seal(t, a, ws)
	if string(o.keyID) != id {
		t.Fatalf("node A seals under %s, not the new account key %s", o.keyID, id)
	}
	if err := open(b, ws, o); err != nil {
		t.Fatalf("node B reads data sealed under an account key node A made: %v", err)
	}
	probe(b, "c1")
	if got := seal(t, b, ws); string(got.keyID) != id {
		t.Fatalf("node B seals under %s after its probe, want the current account key %s", got.keyID, id)
	}
}

// TestClusterKeyedOnOneNodeIsServedOnTheOther: a cluster keyed on node A
// after node B started is served by B at its first request, and shows its
// key's state on B within one reconciliation without any; once deleted on
// A, B closes its keyrings.
func TestClusterKeyedOnOneNodeIsServedOnTheOther(t *testing.T) {
	c := newCluster(t, "first", "second")
	a, b := c.node(), c.node()
	c.setKey(a, "c1", key("first"))
	ws := cmk("c1")
	if err := open(a, ws, seal(t, b, ws)); err != nil {
		t.Fatalf("node A reads what B sealed for a cluster keyed on A: %v", err)
	}

	c.setKey(a, "c2", key("second"))
	if st := b.KeyState("c2"); st != "" {
		t.Fatalf("node B shows c2 as %q before reconciling", st)
	}
	if err := b.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantState(t, "B", b, "c2", keyring.Accessible)

	c.deleteCluster(a, "c2")
	if err := b.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.Keyring("c2", Logs) != nil || b.Keyring("c2", Documents) != nil {
		t.Fatal("node B keeps the keyrings of a cluster deleted on A")
	}
	wantState(t, "B", b, "c1", keyring.Accessible)
}

// TestConcurrentKeyChangesOnTwoNodesKeepEveryEpoch: two nodes start account
// key epochs at once, and one rewraps after a key rotation from what it
// read before the other's last epoch. No epoch is lost or numbered twice,
// both nodes agree on the current account key, and it is the newest.
func TestConcurrentKeyChangesOnTwoNodesKeepEveryEpoch(t *testing.T) {
	c := newCluster(t, "first")
	a, b := c.node(), c.node()
	ws := cmk("c1")
	c.setKey(a, "c1", key("first"))
	if _, err := b.Keys(context.Background(), ws, Logs); err != nil {
		t.Fatal(err)
	}
	rings := []*keyring.Keyring{a.Keyring("c1", Logs), b.Keyring("c1", Logs)}
	const rounds = 4
	var made sync.Map
	var wg sync.WaitGroup
	for _, r := range rings {
		wg.Go(func() {
			for range rounds {
				id, err := r.RotateAccountKey(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				made.Store(id, true)
			}
		})
	}
	wg.Wait()

	// A versionless rotation of the customer's key: node B rewraps at its
	// next probe, after node A made one more epoch.
	c.keks["first"].Rotate()
	last, err := rings[0].RotateAccountKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	made.Store(last, true)
	probe(b, "c1")
	probe(a, "c1")

	aKeys, bKeys := rings[0].AccountKeys(), rings[1].AccountKeys()
	if len(aKeys) != 2*rounds+2 {
		t.Fatalf("node A holds %d account keys, want %d: %+v", len(aKeys), 2*rounds+2, aKeys)
	}
	for i, k := range aKeys {
		if k.Epoch != uint64(i+1) {
			t.Fatalf("epochs are %v, want 1..%d each once", epochs(aKeys), len(aKeys))
		}
		if _, ok := made.Load(k.ID); !ok && i > 0 {
			t.Fatalf("account key %s was made by no rotation", k.ID)
		}
		if k.Current != (k.ID == last) {
			t.Fatalf("node A: current is %v, want the newest epoch %s", current(aKeys), last)
		}
	}
	if !slices.EqualFunc(aKeys, bKeys, func(x, y keyring.AccountKey) bool {
		return x.ID == y.ID && x.Current == y.Current && x.KeyURI == y.KeyURI
	}) {
		t.Fatalf("the nodes disagree:\nA %+v\nB %+v", aKeys, bKeys)
	}
	if latest := c.keks["first"].KeyURI(c.keks["first"].Latest()); aKeys[0].KeyURI != latest {
		t.Fatalf("account keys wrapped by %s after the rotation, want %s", aKeys[0].KeyURI, latest)
	}
}

func epochs(ks []keyring.AccountKey) []uint64 {
	var out []uint64
	for _, k := range ks {
		out = append(out, k.Epoch)
	}
	return out
}

func current(ks []keyring.AccountKey) []string {
	var out []string
	for _, k := range ks {
		if k.Current {
			out = append(out, k.ID)
		}
	}
	return out
}

// TestTwoNodesCreatingThePlatformRingShareOneAccountKey: two nodes seal
// their first platform data at once; the ring is created once, and each
// node reads what the other sealed.
func TestTwoNodesCreatingThePlatformRingShareOneAccountKey(t *testing.T) {
	c := newCluster(t)
	a, b := c.node(), c.node()
	ws := &workspace.WorkspaceInfo{}
	var keys [2]envelope.Keys
	var wg sync.WaitGroup
	for i, m := range []*Manager{a, b} {
		wg.Go(func() {
			k, err := m.Keys(context.Background(), ws, Logs)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := open(b, ws, seal(t, a, ws)); err != nil {
		t.Fatalf("node B reads node A's platform data: %v", err)
	}
	if err := open(a, ws, seal(t, b, ws)); err != nil {
		t.Fatalf("node A reads node B's platform data: %v", err)
	}
	if ak, bk := a.Keyring(platformCluster, Logs).AccountKeys(), b.Keyring(platformCluster, Logs).AccountKeys(); len(ak) != 1 || len(bk) != 1 || ak[0].ID != bk[0].ID {
		t.Fatalf("the platform ring was created twice: A %+v, B %+v", ak, bk)
	}
}

// TestKeyServiceLoadDoesNotGrowWithTheNodes counts the key service's calls
// with 1, 2 and 3 nodes on one PostgreSQL database over 2K key-check
// intervals (K = keyring.DefaultSelfCheckEvery), each node checking every
// quarter interval as its probe loops do. One node holds each keyring's
// probe lease and probes twice an interval; every other node reads its
// record, and probes itself once every K intervals. A cluster's check
// unwraps each account key of its two keyrings and describes the key once
// per keyring, 2 × (E + 1) calls, E being a keyring's account keys (here 2
// for logs, after a rotation, and 1 for documents: 5 calls). So each
// interval costs (2 + (N − 1)/K) × 5 calls, where every node checking
// alone cost N × 5: with three nodes 220 calls over 20 intervals, not 300.
func TestKeyServiceLoadDoesNotGrowWithTheNodes(t *testing.T) {
	const k = keyring.DefaultSelfCheckEvery
	const steps = 2 * k * 4
	var got [4]int64
	for n := 1; n <= 3; n++ {
		c := newCluster(t, "first")
		s := newSteppedNodes(t, c, n)
		c.setKey(s.nodes[0], "c1", key("first"))
		if _, err := s.nodes[0].Keyring("c1", Logs).RotateAccountKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, m := range s.nodes[1:] {
			if err := m.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		kek := c.keks["first"]
		kek.ResetCalls()
		for range steps {
			s.step()
		}
		got[n] = kek.Calls().Total()
		lesseeProbes, ownProbes := int64(steps/2), int64(2*(n-1))
		if want := calls((lesseeProbes+ownProbes)*(2+1), (lesseeProbes+ownProbes)*2); kek.Calls() != want {
			t.Fatalf("%d nodes over %d intervals: %+v calls, want %+v", n, 2*k, kek.Calls(), want)
		}
		for i, m := range s.nodes {
			wantState(t, fmt.Sprint(i+1), m, "c1", keyring.Accessible)
		}
	}
	t.Logf("key-service calls over %d intervals of one cluster: 1 node %d, 2 nodes %d, 3 nodes %d (each node checking alone: %d, %d, %d)",
		2*k, got[1], got[2], got[3], 2*k*5, 2*2*k*5, 3*2*k*5)
	if got[3]-got[1] > got[1]*2/k {
		t.Fatalf("3 nodes cost %d calls, 1 node %d: the 2 more nodes add more than their own probes every %d intervals", got[3], got[1], k)
	}
}

// calls is the key service's count of n unwraps and d describes.
func calls(unwraps, describes int64) kektest.Calls {
	return kektest.Calls{Unwrap: unwraps, Describe: describes}
}

// TestCredentialChangedOnOneNodeIsTakenByTheOther: the customer replaces
// the client secret the key is used with, through node A (the same key:
// the registry does not change), then retires the old secret. Node B takes
// the new secret at its next reconciliation, before it would be refused.
func TestCredentialChangedOnOneNodeIsTakenByTheOther(t *testing.T) {
	c := newCluster(t, "first")
	a, b := c.node(), c.node()
	ws := cmk("c1")
	withSecret := func(s string) workspace.KeyVaultProperties {
		kv := key("first")
		kv.KeyVaultClientID, kv.KeyVaultTenantID, kv.KeyVaultClientSecret = "app", "tenant", s
		return kv
	}
	c.valid = "old"
	c.setKey(a, "c1", withSecret("old"))
	o := seal(t, a, ws)
	if err := open(b, ws, o); err != nil {
		t.Fatal(err)
	}

	c.mu.Lock()
	c.valid = "new"
	c.mu.Unlock()
	c.setKey(a, "c1", withSecret("new"))
	if err := b.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	probe(b, "c1")
	wantState(t, "B", b, "c1", keyring.Accessible)
	if err := open(b, ws, o); err != nil {
		t.Fatalf("node B with the new secret: %v", err)
	}
}

// TestKeyChangeStillCollidingIsAConflictToRetry: a key change that kept
// colliding with another node's change of the same ring is a 409 to retry,
// not the key being unusable.
func TestKeyChangeStillCollidingIsAConflictToRetry(t *testing.T) {
	err := checkError("the cluster's identity", "cl", key("first"), fmt.Errorf("rewrap: %w", keyring.ErrRegistryChanged))
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Conflict || fe.Code != workspace.CodeConflict || !strings.Contains(fe.Message, "set the key again") {
		t.Fatalf("err = %#v, want a Conflict saying to set the key again", err)
	}
}

// TestKeyChangedOnANodeThatHadNotOpenedTheClusterIsPutInForce: a cluster
// keyed on node B gets another key through node A before A opened its
// keyrings (no request for it, no reconciliation yet). The new key must be
// put in force — its revocation revokes the cluster on every node — not
// merely recorded while the account keys stay wrapped by the old one.
func TestKeyChangedOnANodeThatHadNotOpenedTheClusterIsPutInForce(t *testing.T) {
	c := newCluster(t, "first", "second")
	a, b := c.node(), c.node()
	ws := cmk("c1")
	c.setKey(b, "c1", key("first"))
	before := seal(t, b, ws)

	c.setKey(a, "c1", key("second"))
	for _, res := range []string{Logs, Documents} {
		ref, err := keyring.InForce(context.Background(), a.cfg.DB, "c1", res)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Key != c.keks["second"].Key() {
			t.Fatalf("%s keyring: the registry has %s in force after the key was set to second", res, ref.Key)
		}
	}

	second := c.keks["second"]
	second.SetEnabled(second.Latest(), false)
	probe(a, "c1")
	probe(b, "c1")
	wantState(t, "A", a, "c1", keyring.Revoked)
	wantState(t, "B", b, "c1", keyring.Revoked)
	if err := open(b, ws, before); !errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("node B opens data after the key in force was disabled: err = %v", err)
	}
}

// TestClusterDeletedWhileAnotherNodeOpensItLeavesNoRing: node B reconciles
// from a listing of the stored keys taken just before node A deleted the
// cluster and removed its rings. B must not make the rings again: they
// would stay in the registry, and open on B, probing the customer's key
// for a cluster that is gone.
func TestClusterDeletedWhileAnotherNodeOpensItLeavesNoRing(t *testing.T) {
	c := newCluster(t, "first")
	a, b := c.node(), c.node()
	c.setKey(a, "c2", key("first"))

	// A's delete removes the rings; B's listing still names the cluster.
	if err := a.ForgetCluster(context.Background(), "c2"); err != nil {
		t.Fatal(err)
	}
	_ = b.Reconcile(context.Background()) // c2's rings are gone: an error is expected
	c.mu.Lock()
	delete(c.saved, "c2")
	c.mu.Unlock()
	if err := b.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{Logs, Documents} {
		if b.Keyring("c2", res) != nil {
			t.Errorf("node B keeps a %s keyring of the deleted cluster open", res)
		}
		if ref, err := keyring.InForce(context.Background(), b.cfg.DB, "c2", res); err != nil || ref.Provider != "" {
			t.Errorf("the registry holds a %s ring of the deleted cluster: %+v, %v", res, ref, err)
		}
	}
}
