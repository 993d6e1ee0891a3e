//go:build unix

package cputime

import (
	"testing"
	"time"
)

// TestProcessCountsWorkDone: a loop kept on a core shows as CPU time
// within seconds, however busy the machine, and the count never goes back.
func TestProcessCountsWorkDone(t *testing.T) {
	before := Process()
	last := before
	deadline := time.Now().Add(10 * time.Second)
	for x := 0; last-before < 20*time.Millisecond; x++ {
		if time.Now().After(deadline) {
			t.Fatalf("%v of CPU time after 10 s of work (%d rounds)", last-before, x)
		}
		now := Process()
		if now < last {
			t.Fatalf("CPU time went back from %v to %v", last, now)
		}
		last = now
	}
}
