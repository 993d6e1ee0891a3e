package kql

import (
	"context"
	"testing"
)

// TestPeakMemoryIsTheMostTheRunHeld: a sort holds every row at once, a take
// of one row next to nothing; Stats.PeakMemory tells them apart, and stays
// within the query's limit.
func TestPeakMemoryIsTheMostTheRunHeld(t *testing.T) {
	src := bigSource(t, 2000)
	peak := func(q string) int64 {
		t.Helper()
		cq, err := Compile(q, src.Catalog())
		if err != nil {
			t.Fatal(err)
		}
		res, err := cq.Run(context.Background(), src, Options{Now: fixtureNow})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer res.Release()
		return res.Stats.PeakMemory
	}
	sorted, took := peak(`Big | sort by Msg | take 3`), peak(`Big | take 1`)
	if sorted < 2000*100 || sorted > DefaultMaxMemory {
		t.Errorf("sort's peak %d bytes, want at least the 2000 messages' 200,000 and at most the limit", sorted)
	}
	if took*100 > sorted {
		t.Errorf("take 1's peak %d bytes is not far below sort's %d", took, sorted)
	}
}
