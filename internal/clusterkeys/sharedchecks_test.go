package clusterkeys

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// steppedNodes are nodes whose probe loops the test runs by hand, in step,
// on one test clock: each step moves it by a quarter interval and runs
// every live node's checks, as their loops would.
type steppedNodes struct {
	t     *testing.T
	c     *cluster
	clock *kektest.Clock
	nodes []*Manager
	down  map[int]bool
}

const steppedInterval = keyring.DefaultKeyCheckInterval

func newSteppedNodes(t *testing.T, c *cluster, n int) *steppedNodes {
	s := &steppedNodes{t: t, c: c, clock: kektest.NewClock(time.Now()), down: map[int]bool{}}
	for range n {
		m := c.nodeWith(s.clock, steppedInterval)
		m.StopProbes()
		s.nodes = append(s.nodes, m)
	}
	return s
}

func (s *steppedNodes) step() {
	s.clock.Advance(steppedInterval / 4)
	for i, m := range s.nodes {
		if !s.down[i] {
			check(m, "c1")
		}
	}
}

// check runs on a cluster's keyrings what their probe loops run each time
// they wake.
func check(m *Manager, clusterID string) {
	for _, res := range []string{Logs, Documents} {
		if ring := m.Keyring(clusterID, res); ring != nil {
			_ = ring.Check(context.Background())
		}
	}
}

// record reads, as the database's operator could, the check record of a
// keyring of c1: its raw bytes and the node named in its JSON.
func (s *steppedNodes) record(resource string) (raw []byte, node string) {
	s.t.Helper()
	err := s.nodes[0].cfg.DB.View(context.Background(), func(tx kv.Tx) error {
		if ring := tx.Bucket([]byte("keyring.rings")).Bucket([]byte("c1\x00" + resource)); ring != nil {
			raw = append([]byte(nil), ring.Get([]byte("check"))...)
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	var r struct{ Node string }
	if len(raw) > sha256.Size && json.Unmarshal(raw[sha256.Size:], &r) == nil {
		node = r.Node
	}
	return raw, node
}

func (s *steppedNodes) put(resource string, raw []byte) {
	s.t.Helper()
	err := s.nodes[0].cfg.DB.Update(context.Background(), func(tx kv.Tx) error {
		return tx.Bucket([]byte("keyring.rings")).Bucket([]byte("c1\x00"+resource)).Put([]byte("check"), raw)
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// forged is raw rewritten as someone who can write the database but holds
// no key could: the same MAC, in front of a record that says the key was
// found accessible now, with a higher sequence number.
func (s *steppedNodes) forged(raw []byte) []byte {
	s.t.Helper()
	var r map[string]any
	if err := json.Unmarshal(raw[sha256.Size:], &r); err != nil {
		s.t.Fatal(err)
	}
	r["state"], r["checkedAt"], r["seq"] = "accessible", s.clock.Now(), r["seq"].(float64)+10
	body, err := json.Marshal(r)
	if err != nil {
		s.t.Fatal(err)
	}
	return append(append([]byte(nil), raw[:sha256.Size]...), body...)
}

// TestARevocationHoldsThroughTheLesseesDeathAndATamperedRecord: three
// nodes on PostgreSQL. The lessee stops right after its check and the key
// is disabled; the database's operator writes, in each keyring's record,
// that the key was found accessible just now (without the key to MAC it),
// then puts back the accessible record from before the revocation. Each
// node left refuses within one interval of the revocation, and another
// holds the lease.
func TestARevocationHoldsThroughTheLesseesDeathAndATamperedRecord(t *testing.T) {
	c := newCluster(t, "first")
	s := newSteppedNodes(t, c, 3)
	c.setKey(s.nodes[0], "c1", key("first")) // node-1 probes and publishes: the lessee
	for _, m := range s.nodes[1:] {
		if err := m.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s.step()
	s.step() // node-1's probe
	dead := s.nodes[0].cfg.SharedChecks.Node
	before := map[string][]byte{}
	for _, res := range []string{Logs, Documents} {
		raw, node := s.record(res)
		if node != dead {
			t.Fatalf("the %s keyring's record is %q's, want the lessee %s's", res, node, dead)
		}
		before[res] = raw
	}

	s.down[0] = true
	first := c.keks["first"]
	first.SetEnabled(first.Latest(), false)
	revoked := s.clock.Now()
	s.step()
	s.step()
	for _, res := range []string{Logs, Documents} {
		s.put(res, s.forged(before[res])) // which would hold the nodes past the interval
	}
	s.step()
	for _, res := range []string{Logs, Documents} {
		s.put(res, before[res]) // a replay, as fresh as the lessee's last check
	}
	for s.clock.Now().Sub(revoked) < steppedInterval {
		s.step()
	}
	for i, m := range s.nodes[1:] {
		wantState(t, fmt.Sprint(i+2), m, "c1", keyring.Revoked)
	}
	for _, res := range []string{Logs, Documents} {
		if _, node := s.record(res); node == dead || node == "" {
			t.Fatalf("the %s keyring's record is %q's one interval after the lessee stopped", res, node)
		}
	}
}
