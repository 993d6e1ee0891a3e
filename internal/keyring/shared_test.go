package keyring_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Keyrings of one ring over one registry, sharing their checks, are nodes
// sharing a database. The tests drive them by hand: each step moves the
// clock by R (a quarter of the interval) and runs one Check on every node
// still up, as each node's Run would.

const sharedInterval = 40 * time.Second // R = 10 s, P = 20 s, A = 30 s

var checkSecret = []byte("the cluster's key-check secret, 32+ bytes long")

// pathKEK is one node's way to the key service: a test can cut it, or
// have the service refuse this node alone.
type pathKEK struct {
	keyring.KEK
	fail  atomic.Pointer[error]
	calls atomic.Int64
	// slow, when set, is called by every call: a test moves its clock.
	slow func()
}

func (p *pathKEK) err() error {
	p.calls.Add(1)
	if p.slow != nil {
		p.slow()
	}
	if e := p.fail.Load(); e != nil {
		return *e
	}
	return nil
}

func (p *pathKEK) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	if err := p.err(); err != nil {
		return keyring.Wrapped{}, err
	}
	return p.KEK.Wrap(ctx, aek)
}

func (p *pathKEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.KEK.Unwrap(ctx, w)
}

func (p *pathKEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	if err := p.err(); err != nil {
		return keyring.KeyState{}, err
	}
	return p.KEK.Describe(ctx)
}

type sharedNode struct {
	name string
	ring *keyring.Keyring
	path *pathKEK
	down bool
}

// sharedNodes opens n nodes sharing their checks; the first holds the
// lease.
func sharedNodes(e *env, n int) []*sharedNode {
	e.t.Helper()
	var nodes []*sharedNode
	for i := range n {
		sn := &sharedNode{name: fmt.Sprintf("node-%d", i+1), path: &pathKEK{KEK: e.kek}}
		sn.ring = e.open(func(c *keyring.Config) {
			c.KEK = sn.path
			c.KeyCheckInterval = sharedInterval
			c.Shared = &keyring.SharedChecks{Key: checkSecret, Node: sn.name}
		})
		nodes = append(nodes, sn)
	}
	// The first node made the ring, which proved the key without a
	// record; its check now takes the lease, as a key event would.
	if _, err := nodes[0].ring.ProbeNow(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return nodes
}

// step moves the clock by R and runs every live node's check.
// requireAllAfterAnInterval steps the nodes through one interval and
// requires every one of them in state want, when saying what happened.
func requireAllAfterAnInterval(t *testing.T, e *env, nodes []*sharedNode, want keyring.State, when string) {
	t.Helper()
	for range 4 {
		step(e, nodes)
	}
	for _, n := range nodes {
		if st := n.ring.State(); st != want {
			t.Fatalf("%s is %s %s", n.name, st, when)
		}
	}
}

func step(e *env, nodes []*sharedNode) {
	e.t.Helper()
	e.clock.Advance(sharedInterval / 4)
	for _, n := range nodes {
		if !n.down {
			if err := n.ring.Check(context.Background()); err != nil && !errors.Is(err, keyring.ErrKeyRevoked) &&
				!errors.Is(err, keyring.ErrKeyUnreachable) {
				e.t.Fatalf("%s: check: %v", n.name, err)
			}
		}
	}
}

func lessee(e *env) string {
	e.t.Helper()
	r, err := keyring.ReadCheckRecord(e.db, cluster, resource, checkSecret)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Node
}

// TestKeyServiceCallsDoNotGrowWithTheNodes counts the key service's calls
// over 2K intervals (K = DefaultSelfCheckEvery) for 1, 2 and 3 nodes
// sharing their checks: the lessee probes twice an interval, each other
// node once every K intervals, so each node past the first adds 1/(2K) of
// the first's calls, where checking alone each added all of them.
func TestKeyServiceCallsDoNotGrowWithTheNodes(t *testing.T) {
	const k = keyring.DefaultSelfCheckEvery
	const steps = 2 * k * 4
	var calls [4]int64
	for n := 1; n <= 3; n++ {
		e := newEnv(t)
		nodes := sharedNodes(e, n)
		e.kek.ResetCalls()
		for range steps {
			step(e, nodes)
		}
		calls[n] = e.kek.Calls().Total()
		// E = 1 account key: a probe is one unwrap and one describe.
		probes := int64(steps/2 + (n-1)*2)
		if want := 2 * probes; calls[n] != want {
			t.Fatalf("%d nodes over %d intervals: %d key-service calls, want %d (%+v)", n, 2*k, calls[n], want, e.kek.Calls())
		}
		for _, sn := range nodes {
			if st := sn.ring.State(); st != keyring.Accessible {
				t.Fatalf("%d nodes: %s is %s", n, sn.name, st)
			}
		}
	}
	t.Logf("key-service calls over %d intervals: 1 node %d, 2 nodes %d, 3 nodes %d (each checking alone: %d, %d, %d)",
		2*k, calls[1], calls[2], calls[3], 2*2*k, 2*2*2*k, 3*2*2*k)
	if calls[3] > calls[1]+calls[1]*2/(2*k) {
		t.Fatalf("3 nodes made %d calls, 1 node %d: more than the own-probe share", calls[3], calls[1])
	}
}

// TestARevocationReachesEveryNodeWithinOneInterval: the key is disabled
// just after the lessee's check started — the worst moment — and every
// node refuses within one interval, most of them without a probe.
func TestARevocationReachesEveryNodeWithinOneInterval(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 3)
	for range 2 {
		step(e, nodes) // the lessee probes at the second
	}
	e.kek.SetEnabled("", false)
	revoked := e.clock.Now()
	for steps := 1; ; steps++ {
		step(e, nodes)
		all := true
		for _, n := range nodes {
			all = all && n.ring.State() == keyring.Revoked
		}
		if all {
			t.Logf("every node revoked %s after the revocation (interval %s)", e.clock.Now().Sub(revoked), sharedInterval)
			break
		}
		if e.clock.Now().Sub(revoked) >= sharedInterval {
			t.Fatalf("a node still serves %s after the revocation", e.clock.Now().Sub(revoked))
		}
	}
	e.kek.SetEnabled("", true)
	requireAllAfterAnInterval(t, e, nodes, keyring.Accessible, "an interval after the key came back")
}

// TestACheckRecordNotWrittenByANodeIsNotTrusted: the key is revoked, the
// lessee publishes it, and the database's operator then puts a record that
// says accessible in its place — one of its bytes flipped, one made under
// another secret, an older record replayed. No node serves past one
// interval after the revocation, and the untrusted record is counted.
func TestACheckRecordNotWrittenByANodeIsNotTrusted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wantLog string // why the lessee, which read every record since, does not trust it
		tamper  func(e *env, before []byte) error
	}{
		{"a byte flipped", "fails its MAC", func(e *env, _ []byte) error {
			raw := keyring.CheckRecordRaw(e.db, cluster, resource)
			raw[len(raw)-5] ^= 1
			return keyring.PutCheckRecordRaw(e.db, cluster, resource, raw)
		}},
		{"accessible under another secret", "fails its MAC", func(e *env, _ []byte) error {
			r, err := keyring.ReadCheckRecord(e.db, cluster, resource, checkSecret)
			if err != nil {
				return err
			}
			r.Seq, r.State, r.Since, r.Checked = r.Seq+100, "accessible", e.clock.Now(), e.clock.Now()
			return keyring.WriteCheckRecord(e.db, cluster, resource, []byte("a secret the operator made up, 32+ bytes"), r)
		}},
		{"an accessible record replayed", "older than one already read", func(e *env, before []byte) error {
			return keyring.PutCheckRecordRaw(e.db, cluster, resource, before)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			nodes := sharedNodes(e, 3)
			step(e, nodes)
			step(e, nodes) // the lessee's probe, accessible
			before := keyring.CheckRecordRaw(e.db, cluster, resource)
			e.kek.SetEnabled("", false)
			revoked := e.clock.Now()
			if err := nodes[0].ring.Check(context.Background()); err != nil && !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Fatal(err)
			}
			e.clock.Advance(sharedInterval / 2) // the lessee's next probe is due
			if st, _ := nodes[0].ring.ProbeNow(context.Background()); st != keyring.Revoked {
				t.Fatalf("the lessee is %s after the revocation", st)
			}
			if err := tc.tamper(e, before); err != nil {
				t.Fatal(err)
			}
			for e.clock.Now().Sub(revoked) < sharedInterval {
				step(e, nodes)
			}
			for _, n := range nodes {
				if st := n.ring.State(); st != keyring.Revoked {
					t.Fatalf("%s is %s one interval after the revocation", n.name, st)
				}
			}
			if r, err := keyring.ReadCheckRecord(e.db, cluster, resource, checkSecret); err != nil || r.State != "revoked" {
				t.Fatalf("the record after the nodes checked: %+v, %v; want a genuine revoked one", r, err)
			}
			if logs := e.logs.String(); !strings.Contains(logs, tc.wantLog) {
				t.Fatalf("no record logged as untrusted because it %s: %s", tc.wantLog, logs)
			}
		})
	}
	e := newEnv(t)
	nodes := sharedNodes(e, 2)
	raw := keyring.CheckRecordRaw(e.db, cluster, resource)
	raw[0] ^= 1
	if err := keyring.PutCheckRecordRaw(e.db, cluster, resource, raw); err != nil {
		t.Fatal(err)
	}
	step(e, nodes) // both read it; their proofs are fresh, so neither probes yet
	step(e, nodes) // the lessee's probe is due: it reads it once more and writes over it
	if got := metricValue(t, e.reg, "sealwatch_keyring_check_records_total", map[string]string{"outcome": "untrusted"}); got != 3 {
		t.Fatalf("untrusted records counted: %v, want 3", got)
	}
	if _, err := keyring.ReadCheckRecord(e.db, cluster, resource, checkSecret); err != nil {
		t.Fatalf("the lessee's probe did not replace the damaged record: %v", err)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "not trusted") || !strings.Contains(logs, "fails its MAC") {
		t.Fatalf("the untrusted record is not logged: %s", logs)
	}
}

// TestTheLeaseMovesWhenTheLesseeDies: the lessee stops right after its
// check started, and the key is revoked at once: another node takes the
// lease, and every node left refuses, within one interval.
func TestTheLeaseMovesWhenTheLesseeDies(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 3)
	step(e, nodes)
	step(e, nodes) // node-1's probe
	if l := lessee(e); l != "node-1" {
		t.Fatalf("lessee %s, want node-1", l)
	}
	nodes[0].down = true
	nodes[0].ring.Close()
	e.kek.SetEnabled("", false)
	revoked := e.clock.Now()
	for e.clock.Now().Sub(revoked) < sharedInterval {
		step(e, nodes)
	}
	if l := lessee(e); l == "node-1" {
		t.Fatalf("node-1 still holds the lease one interval after it stopped")
	}
	for _, n := range nodes[1:] {
		if st := n.ring.State(); st != keyring.Revoked {
			t.Fatalf("%s is %s one interval after the revocation and the lessee's death", n.name, st)
		}
	}
}

// TestANodeCutOffFromTheKeyServiceFindsOutItself: node 3 alone cannot
// reach the key service. Its own probe, every K intervals, finds it; it
// works on within the grace while the others stay accessible and the
// lessee keeps the lease. A node the key service answers alone that the
// key is refused (a key-state answer, not its own sign-in) publishes it,
// and every node refuses: the worse answer about the key wins.
func TestANodeCutOffFromTheKeyServiceFindsOutItself(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 3)
	unreachable := fmt.Errorf("dial: %w", keyring.ErrKeyUnreachable)
	nodes[2].path.fail.Store(&unreachable)
	for range keyring.DefaultSelfCheckEvery * 4 {
		step(e, nodes)
	}
	if st := nodes[2].ring.State(); st != keyring.Unreachable {
		t.Fatalf("node-3 is %s after %d intervals cut off", st, keyring.DefaultSelfCheckEvery)
	}
	for _, n := range nodes[:2] {
		if st := n.ring.State(); st != keyring.Accessible {
			t.Fatalf("%s is %s", n.name, st)
		}
	}
	if l := lessee(e); l != "node-1" {
		t.Fatalf("lessee %s, want node-1: a node's own network is not published", l)
	}

	refused := fmt.Errorf("HTTP 403: %w", keyring.ErrKeyRevoked)
	nodes[2].path.fail.Store(&refused)
	for range 4 { // node-3 probes every FailingCheckInterval now
		step(e, nodes)
	}
	for _, n := range nodes {
		if st := n.ring.State(); st != keyring.Revoked {
			t.Fatalf("%s is %s after node-3 found the key refused", n.name, st)
		}
	}
}

// TestAKeyChangeThroughOneNodeIsPublished: a new account key epoch made
// through a follower is published with the new registry version, so the
// others take it without probing: each unwraps only the new account key.
func TestAKeyChangeThroughOneNodeIsPublished(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 3)
	step(e, nodes)
	if _, err := nodes[1].ring.RotateAccountKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := lessee(e); l != "node-2" {
		t.Fatalf("after the rotation through node-2 the record is %s's", l)
	}
	e.kek.ResetCalls()
	step(e, nodes)
	if got := e.kek.Calls(); got.Unwrap != 2 || got.Describe != 0 || got.Wrap != 0 {
		t.Fatalf("the other two nodes followed the rotation with %+v calls, want 2 unwraps", got)
	}
	for _, n := range nodes {
		o := seal(t, n.ring)
		for _, m := range nodes {
			if err := o.open(m.ring); err != nil {
				t.Fatalf("%s opens what %s sealed under the new epoch: %v", m.name, n.name, err)
			}
		}
	}
}

// TestASlowKeyServiceCostsCallsNotTime: each call to the key service takes
// I/4, so a probe (an unwrap and a describe) takes I/2, past the I/4 that
// keeps records fresh: the lessee's are often stale when the others read
// them. The others then
// prove the key themselves, each at most once per 3I/4 (the age a proof
// may have) — not at each read — and stay accessible.
func TestASlowKeyServiceCostsCallsNotTime(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 3)
	for _, n := range nodes {
		n.path.slow = func() { e.clock.Advance(sharedInterval / 4) }
		n.path.calls.Store(0)
	}
	start := e.clock.Now()
	for range 40 {
		step(e, nodes)
	}
	elapsed := e.clock.Now().Sub(start)
	maxProofAge := sharedInterval * 3 / 4
	for _, n := range nodes[1:] {
		probes := n.path.calls.Load() / 2
		if limit := int64(elapsed/maxProofAge) + 1; probes > limit {
			t.Errorf("%s probed %d times in %s, more than once per %s (%d)", n.name, probes, elapsed, maxProofAge, limit)
		}
		if st := n.ring.State(); st != keyring.Accessible {
			t.Errorf("%s is %s", n.name, st)
		}
	}
	t.Logf("in %s (%d intervals) the nodes probed %d, %d and %d times", elapsed, elapsed/sharedInterval,
		nodes[0].path.calls.Load()/2, nodes[1].path.calls.Load()/2, nodes[2].path.calls.Load()/2)
}

// TestAKeyringOnItsOwnChecksAsBefore: without shared checks — one node, as
// `sealwatch up` runs — each check is a probe of the key, every interval,
// and no check record is written.
func TestAKeyringOnItsOwnChecksAsBefore(t *testing.T) {
	e := newEnv(t)
	k := e.open(func(c *keyring.Config) { c.KeyCheckInterval = sharedInterval })
	e.kek.ResetCalls()
	for range 3 {
		e.clock.Advance(sharedInterval)
		if err := k.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.kek.Calls(); got.Unwrap != 3 || got.Describe != 3 {
		t.Fatalf("three checks on a node of its own made %+v calls, want three probes", got)
	}
	if raw := keyring.CheckRecordRaw(e.db, cluster, resource); raw != nil {
		t.Fatalf("a node of its own wrote a check record: %d bytes", len(raw))
	}
}

// slowViews is a registry whose reads take a while, as PostgreSQL's do
// under load: each View moves the clock by took.
type slowViews struct {
	kv.DB
	clock *kektest.Clock
	took  atomic.Int64
	// fail, when set, is what each View does instead of reading.
	fail atomic.Pointer[func(context.Context) error]
}

func (s *slowViews) View(ctx context.Context, fn func(kv.Tx) error) error {
	s.clock.Advance(time.Duration(s.took.Load()))
	if f := s.fail.Load(); f != nil {
		return (*f)(ctx)
	}
	return s.DB.View(ctx, fn)
}

// TestAFollowerReadsEveryQuarterIntervalStartToStart: the bound counts a
// proof held until the next check, R after this one started; a follower
// whose registry read is slow must not push its next check to R after the
// read ended, which held the proof past one interval by the read's time.
func TestAFollowerReadsEveryQuarterIntervalStartToStart(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 1)
	slow := &slowViews{DB: e.db, clock: e.clock}
	follower := e.open(func(c *keyring.Config) {
		c.DB = slow
		c.KeyCheckInterval = sharedInterval
		c.Shared = &keyring.SharedChecks{Key: checkSecret, Node: "node-2"}
	})
	step(e, nodes)
	const took = 3 * time.Second
	slow.took.Store(int64(took))
	if err := follower.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := keyring.NextCheckIn(follower), sharedInterval/4-took; got != want {
		t.Fatalf("after a check whose read took %s, the next one is in %s, want %s (R after the last one started)", took, got, want)
	}
}

// TestARevocationIsFoundWhileTheRegistryCannotBeRead: a node that cannot
// read the key registry — PostgreSQL down, or its operator locking the
// table or damaging the ring's meta — still asks the key service about
// the key it holds, and refuses at once when it is revoked. Before, it
// counted the registry's silence as an unreachable key service and served
// from memory for the whole grace (5 min), past the one-interval bound.
func TestARevocationIsFoundWhileTheRegistryCannotBeRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(context.Context) error
	}{
		{"the database refuses the read", func(context.Context) error { return errors.New("connection refused") }},
		{"the read hangs until the check's deadline", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"the ring's meta is damaged", func(context.Context) error { return fmt.Errorf("meta: %w", keyring.ErrIntegrity) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			db := &slowViews{DB: e.db, clock: e.clock}
			path := &pathKEK{KEK: e.kek}
			const timeout = 200 * time.Millisecond
			k := e.open(func(c *keyring.Config) {
				c.DB, c.KEK = db, path
				c.KeyCheckInterval, c.ProbeTimeout = sharedInterval, timeout
				c.Shared = &keyring.SharedChecks{Key: checkSecret, Node: "node-1"}
			})
			db.fail.Store(&tc.read)
			refused := fmt.Errorf("HTTP 403: %w", keyring.ErrKeyRevoked)
			path.fail.Store(&refused)
			e.clock.Advance(sharedInterval / 2)
			ctx, cancel := context.WithTimeout(context.Background(), timeout) // as Run bounds a check
			defer cancel()
			k.Check(ctx)
			if st := k.State(); st != keyring.Revoked {
				t.Fatalf("state %s after the key service refused the key, want Revoked", st)
			}
		})
	}
}

// TestANodeWhoseSignInAloneIsRefusedRefusesAlone: the key service refusing
// one node's own credential (a secret changed elsewhere, a token it cannot
// get) says nothing of the key. That node refuses, and says why, naming
// itself; the others, whose checks still prove the key, serve on and do
// not take a revocation from it. Refused to every node (the identity
// removed), the sign-in refusal still makes every node refuse within one
// interval, each on its own probe.
func TestANodeWhoseSignInAloneIsRefusedRefusesAlone(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 3)
	refused := fmt.Errorf("sign-in as the cluster's identity refused (HTTP 401 invalid_client): %w", keyring.ErrSignInRefused)
	for _, broken := range []int{2, 0} { // a follower, then the lessee
		nodes[broken].path.fail.Store(&refused)
		for range keyring.DefaultSelfCheckEvery * 4 * 2 {
			step(e, nodes)
		}
		for i, n := range nodes {
			want := keyring.Accessible
			if i == broken {
				want = keyring.Revoked
			}
			if st := n.ring.State(); st != want {
				t.Fatalf("%s is %s with %s's sign-in refused, want %s", n.name, st, nodes[broken].name, want)
			}
		}
		if !strings.Contains(e.logs.String(), `"node":"`+nodes[broken].name+`"`) {
			t.Fatalf("no log line names %s, whose sign-in was refused:\n%s", nodes[broken].name, e.logs.String())
		}
		nodes[broken].path.fail.Store(nil)
		for range 4 {
			step(e, nodes)
		}
		if st := nodes[broken].ring.State(); st != keyring.Accessible {
			t.Fatalf("%s is %s once its sign-in works again", nodes[broken].name, st)
		}
	}

	for _, n := range nodes {
		n.path.fail.Store(&refused)
	}
	requireAllAfterAnInterval(t, e, nodes, keyring.Revoked, "one interval after every node's sign-in was refused")
}

// TestAnOldRecordReplayedToARestartedNodeEndsWithinTheBound: a restarted
// node remembers no sequence number, so an old "accessible" record put
// back may be taken by it; but only while that record's check is fresh,
// which is what the bound counts: every node, restarted or not, refuses
// within one interval of the revocation, and a node started after it
// refuses at once, on its own probe at start.
func TestAnOldRecordReplayedToARestartedNodeEndsWithinTheBound(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 2)
	step(e, nodes)
	old := keyring.CheckRecordRaw(e.db, cluster, resource)
	nodes[1].ring.Close()
	restarted := &sharedNode{name: "node-2-restarted", path: &pathKEK{KEK: e.kek}}
	restarted.ring = e.open(func(c *keyring.Config) {
		c.KEK, c.KeyCheckInterval = restarted.path, sharedInterval
		c.Shared = &keyring.SharedChecks{Key: checkSecret, Node: restarted.name}
	})
	nodes[1] = restarted
	e.kek.SetEnabled("", false)
	revoked := e.clock.Now()
	if st, _ := nodes[0].ring.ProbeNow(context.Background()); st != keyring.Revoked {
		t.Fatalf("the lessee is %s after the revocation", st)
	}
	if err := keyring.PutCheckRecordRaw(e.db, cluster, resource, old); err != nil {
		t.Fatal(err)
	}
	late := e.open(func(c *keyring.Config) {
		c.KeyCheckInterval = sharedInterval
		c.Shared = &keyring.SharedChecks{Key: checkSecret, Node: "node-3"}
	})
	if st := late.State(); st != keyring.Revoked {
		t.Fatalf("a node started after the revocation, the old record put back, is %s", st)
	}
	for e.clock.Now().Sub(revoked) < sharedInterval {
		e.clock.Advance(sharedInterval / 4)
		for _, n := range nodes {
			// Put back before each read: the restarted node never reads
			// the lessee's revocation, only the old record.
			if err := keyring.PutCheckRecordRaw(e.db, cluster, resource, old); err != nil {
				t.Fatal(err)
			}
			if err := n.ring.Check(context.Background()); err != nil && !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Fatalf("%s: check: %v", n.name, err)
			}
		}
	}
	for _, n := range nodes {
		if st := n.ring.State(); st != keyring.Revoked {
			t.Fatalf("%s is %s one interval after the revocation, the old record put back all along", n.name, st)
		}
	}
}

// TestSharedRunLoopsEndOnCloseWhileKeyChangesRace: two nodes run their
// check loops while key events, reads of the state and a revocation come
// from other goroutines (run with -race); both loops end when their
// keyrings close, and both refuse once the lessee found the revocation.
func TestSharedRunLoopsEndOnCloseWhileKeyChangesRace(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 2)
	var stops []func()
	for _, n := range nodes {
		_, stop := runProbeLoop(t, e, n.ring)
		stops = append(stops, stop)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			nodes[1].ring.ProbeNow(ctx)
			_ = nodes[0].ring.State()
		}
	}()
	for range 8 {
		e.clock.Advance(sharedInterval / 4)
	}
	<-done
	e.kek.SetEnabled("", false)
	if _, err := nodes[0].ring.ProbeNow(ctx); !errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("the lessee's probe after the revocation: %v", err)
	}
	waitTimers(t, ctx, e, 2) // both loops wait for their next check
	e.clock.Advance(sharedInterval / 4)
	waitState(t, ctx, nodes[1].ring, keyring.Revoked)
	for _, stop := range stops {
		stop()
	}
}

// TestACheckThatEndsAfterCloseLeavesNoSeries: Close forgets the ring's
// metric series (its cluster may be deleted for good); a check still
// running then, which counts its probe and the record it read as it ends,
// must not bring them back for a ring that no longer exists.
func TestACheckThatEndsAfterCloseLeavesNoSeries(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 2)
	follower := nodes[1]
	e.clock.Advance(sharedInterval) // the follower's own proof is too old: it probes
	nodes[0].ring.Close()
	follower.path.slow = func() { follower.ring.Close() }
	if err := follower.ring.Check(context.Background()); !errors.Is(err, keyring.ErrClosed) {
		t.Fatalf("a check closed under it: %v", err)
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) > 0 {
			t.Errorf("%s has %d series after every keyring closed", mf.GetName(), len(mf.GetMetric()))
		}
	}
}

// TestANodeThatCannotOpenTheKeyInForceTakesItsRevocation: node-1 puts a
// new key in force that node-2 cannot open. Node-2 works on from memory
// within the grace, as a node on its own would; but once node-1 finds the
// new key revoked and publishes it, node-2 refuses within one interval
// too, rather than serve for the rest of the grace.
func TestANodeThatCannotOpenTheKeyInForceTakesItsRevocation(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 2)
	second := kektest.New("second")
	if err := nodes[0].ring.SetKEK(context.Background(), second, "second"); err != nil {
		t.Fatal(err)
	}
	stepAnyway(e, nodes)
	if st := nodes[1].ring.State(); st != keyring.Unreachable {
		t.Fatalf("node-2, which cannot open the key in force, is %s", st)
	}
	second.SetEnabled(second.Latest(), false)
	revoked := e.clock.Now()
	if st, _ := nodes[0].ring.ProbeNow(context.Background()); st != keyring.Revoked {
		t.Fatalf("node-1 is %s once the key in force is disabled", st)
	}
	for e.clock.Now().Sub(revoked) < sharedInterval {
		stepAnyway(e, nodes)
	}
	if st := nodes[1].ring.State(); st != keyring.Revoked {
		t.Fatalf("node-2 is %s one interval after node-1 published the revocation", st)
	}
}

// stepAnyway is step for nodes whose checks fail in ways step refuses
// (a key in force they cannot open): the test looks at their states.
func stepAnyway(e *env, nodes []*sharedNode) {
	e.clock.Advance(sharedInterval / 4)
	for _, n := range nodes {
		_ = n.ring.Check(context.Background())
	}
}
