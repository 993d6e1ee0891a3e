// Package heaptest measures the Go heap for the tests that bound what a
// query or an ingest may hold in memory: the heap's object bytes after a
// collection, and their peak while the work runs.
package heaptest

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

const heapObjects = "/memory/classes/heap/objects:bytes"

// Objects is the heap's object bytes after a collection.
func Objects() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Watch samples the heap's object bytes at once and then every interval
// until the returned function is called, which reports the highest
// sample; the test's cleanup calls it too, so that the sampler never
// outlives the test.
func Watch(t testing.TB, every time.Duration) func() uint64 {
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: heapObjects}}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	stopped := false
	finish := func() uint64 {
		if !stopped {
			stopped = true
			close(stop)
			<-done
		}
		return peak.Load()
	}
	t.Cleanup(func() { finish() })
	return finish
}
