package keyring_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// TestANodeOpeningARingProvesTheKeyItself: a node that opens a ring whose
// check record another node wrote a moment ago does not take that record
// for its first proof: it probes the key itself, so it serves from its
// first request on a proof of its own, and a key revoked since the record
// was written is refused here at once.
func TestANodeOpeningARingProvesTheKeyItself(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(e *env)
		want  keyring.State
	}{
		{"key accessible", func(*env) {}, keyring.Accessible},
		{"key disabled since the record", func(e *env) { e.kek.SetEnabled("", false) }, keyring.Revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			sharedNodes(e, 1) // node-1 holds the lease, its record fresh
			tc.after(e)
			path := &pathKEK{KEK: e.kek}
			ring := e.open(func(c *keyring.Config) {
				c.KEK = path
				c.KeyCheckInterval = sharedInterval
				c.Shared = &keyring.SharedChecks{Key: checkSecret, Node: "node-2"}
			})
			if path.calls.Load() == 0 {
				t.Fatal("node-2 opened the ring without calling the key service")
			}
			if st := ring.State(); st != tc.want {
				t.Fatalf("node-2 opened the ring %s, want %s", st, tc.want)
			}
		})
	}
}

// TestAnEpochMadeElsewhereIsServedOnceItsCheckUnwrapsIt: node 2 starts a
// new account key epoch; node 1's next check reads the ring, now naming
// the new key current, and unwraps it. A request on node 1 while that
// unwrap is under way waits for it and seals under the new key, rather
// than be refused as locked because the key was named and not yet held.
func TestAnEpochMadeElsewhereIsServedOnceItsCheckUnwrapsIt(t *testing.T) {
	e := newEnv(t)
	nodes := sharedNodes(e, 2)
	step(e, nodes)
	id, err := nodes[1].ring.RotateAccountKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	nodes[0].path.slow = func() {
		once.Do(func() { close(entered) })
		<-release
	}
	e.clock.Advance(sharedInterval / 4)
	checked := make(chan error, 1)
	go func() { checked <- nodes[0].ring.Check(context.Background()) }()
	select {
	case <-entered: // node 1 holds the ring as node 2 left it, and is unwrapping the new key
	case err := <-checked:
		t.Fatalf("node 1's check followed the new epoch without the key service: %v", err)
	}

	// The unwrap ends a moment after the request came: until then, nothing
	// puts the new key in node 1's memory.
	ends := time.AfterFunc(50*time.Millisecond, func() { close(release) })
	defer ends.Stop()
	s, err := nodes[0].ring.Current(context.Background())
	if err != nil {
		t.Fatalf("node 1, asked for the current key while unwrapping the new epoch's: %v", err)
	}
	if s.KeyID() != id {
		t.Fatalf("node 1 seals under %s, not the new epoch's %s", s.KeyID(), id)
	}
	if err := <-checked; err != nil {
		t.Fatalf("node 1's check: %v", err)
	}
}
