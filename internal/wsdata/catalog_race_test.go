package wsdata

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// keyPhase is where a test's revocation cycle is: stable phases are those
// in which every probe of the key has been answered.
type keyPhase int32

const (
	phaseAccessible keyPhase = iota // restored, its probe done
	phaseRevoking                   // disabled in the vault, probe under way
	phaseRevoked                    // the revocation seen by every keyring
	phaseRestoring                  // enabled again, probe under way
)

// TestNoQueryStartedAfterARevocationIsAnsweredFromAKeptCatalog: queries
// run at once while the key is revoked and restored again and again; each
// that starts once the revocation has been seen by the workspace's
// keyrings, and ends before the key is restored, fails with the revocation
// — a query that reads no rows (print 1) as much as a count — however the
// kept catalog's check and the keys' change interleave; each that runs
// wholly while the key is Accessible is answered. Run with -race, it also
// holds the catalog, the keyrings' state and the probes free of races.
func TestNoQueryStartedAfterARevocationIsAnsweredFromAKeptCatalog(t *testing.T) {
	f := cmkData(t)
	ctx := context.Background()
	var state atomic.Uint64 // generation<<2 | phase: a query compares it before and after
	setPhase := func(p keyPhase) { state.Store((state.Load()>>2+1)<<2 | uint64(p)) }
	checked := make(chan struct{}, 64) // a query run wholly in a stable phase
	done := make(chan struct{})
	errs := make(chan error, 2)
	for g := range 2 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				q := []string{"print 1", "SecEvents_CL | count", "hosts | count"}[(g+i)%3]
				before := state.Load()
				res, err := f.query(ctx, q)
				if res != nil {
					res.Release()
				}
				if state.Load() != before {
					continue // the key changed while it ran: either answer is right
				}
				switch keyPhase(before & 3) {
				case phaseRevoked:
					if !errors.Is(err, keyring.ErrKeyRevoked) {
						errs <- fmt.Errorf("%s, started after the revocation was seen: %v, want the revocation", q, err)
						return
					}
				case phaseAccessible:
					if err != nil {
						errs <- fmt.Errorf("%s with the key Accessible: %v", q, err)
						return
					}
				default:
					continue
				}
				select {
				case checked <- struct{}{}:
				default:
				}
			}
		}()
	}
	// waitChecked returns once n queries ran wholly in the phase just set.
	waitChecked := func(n int) {
		for range len(checked) {
			<-checked // of the phase before
		}
		for range n {
			select {
			case <-checked:
			case err := <-errs:
				close(done)
				t.Fatal(err)
			}
		}
	}
	waitChecked(4)
	for range 5 {
		setPhase(phaseRevoking)
		f.kek.SetEnabled(f.kek.Latest(), false)
		f.keys.ProbeNow(ctx, "c1")
		setPhase(phaseRevoked)
		waitChecked(6)
		setPhase(phaseRestoring)
		f.kek.SetEnabled(f.kek.Latest(), true)
		f.keys.ProbeNow(ctx, "c1")
		setPhase(phaseAccessible)
		waitChecked(6)
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
