package api

import (
	"fmt"
	"testing"

	"github.com/sealwatch/sealwatch/internal/transform"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// TestFlowCacheIsBoundedAndKeepsOneVersionPerFlow: the cache never holds
// more than its bound, a flow kept for a table version gives way to the
// next version, and a rule whose stream or transformation changed finds
// nothing.
func TestFlowCacheIsBoundedAndKeepsOneVersionPerFlow(t *testing.T) {
	c := newFlowCache(4)
	route := &workspace.Route{Transform: "source", Columns: []workspace.DCRColumn{{Name: "TimeGenerated", Type: "datetime"}}}
	tr := &transform.Transform{}
	for i := range 10 {
		c.put(flowKey{flowSlot{rule: fmt.Sprint(i), stream: "Custom-S"}, "v1"}, route, tr)
		if n := c.len(); n > 4 {
			t.Fatalf("after %d flows the cache holds %d, over its bound of 4", i+1, n)
		}
	}
	key := flowKey{flowSlot{rule: "9", stream: "Custom-S"}, "v1"}
	if c.get(key, route) != tr {
		t.Fatal("the flow kept last is not found")
	}
	next := key
	next.version = "v2"
	c.put(next, route, tr)
	if c.get(key, route) != nil || c.len() != 4 {
		t.Fatalf("the flow for the table's old version is still kept (%d flows)", c.len())
	}
	changed := *route
	changed.Transform = "source | where true"
	if c.get(next, &changed) != nil {
		t.Fatal("a rule with another transformation found the flow compiled from the old one")
	}
	changed = *route
	changed.Columns = []workspace.DCRColumn{{Name: "TimeGenerated", Type: "datetime"}, {Name: "Added", Type: "string"}}
	c.put(next, route, tr)
	if c.get(next, &changed) != nil {
		t.Fatal("a rule whose stream gained a column found the flow compiled from the old one")
	}
}

// flowKeyOf is the key of flow i of a node: the stream of one rule into
// its workspace's table.
func flowKeyOf(i int, stream string) flowKey {
	var k flowKey
	k.rule, k.stream, k.workspace, k.table = fmt.Sprint("rule-", i), stream, fmt.Sprint("ws-", i), stream+"_CL"
	return k
}

// TestFlowCacheKeepsTheFlowsOfAThousandWorkspaces: a node of 1,000
// workspaces, each with a rule of two streams in use, finds every flow
// compiled once; with a bound under the flows in use, calls spread over
// the workspaces would compile their flow again, a cost per call that
// grows with the number of workspaces.
func TestFlowCacheKeepsTheFlowsOfAThousandWorkspaces(t *testing.T) {
	c := newFlowCache(maxCachedFlows)
	route := &workspace.Route{Transform: "source"}
	tr := &transform.Transform{}
	for i := range 1000 {
		for _, stream := range []string{"Custom-Events", "Custom-Load"} {
			c.put(flowKeyOf(i, stream), route, tr)
		}
	}
	for i := range 1000 {
		for _, stream := range []string{"Custom-Events", "Custom-Load"} {
			if c.get(flowKeyOf(i, stream), route) != tr {
				t.Fatalf("flow %s of workspace %d was compiled again", stream, i)
			}
		}
	}
}

// BenchmarkFlowCache is the flow cache's part of an ingestion call, calls
// spread over the flows of 10 and 1,000 workspaces (a rule of two streams
// each): a lookup, and on a miss the flow kept again.
//
//	go test -run '^$' -bench FlowCache -count 6 ./internal/api
func BenchmarkFlowCache(b *testing.B) {
	route := &workspace.Route{Transform: "source"}
	tr := &transform.Transform{}
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("workspaces=%d", n), func(b *testing.B) {
			c := newFlowCache(maxCachedFlows)
			keys := make([]flowKey, 0, 2*n)
			for i := range n {
				keys = append(keys, flowKeyOf(i, "Custom-Events"), flowKeyOf(i, "Custom-Load"))
			}
			misses := 0
			i := 0
			for b.Loop() {
				k := keys[i%len(keys)]
				i += 7919 // a prime: every key in turn, in scattered order
				if c.get(k, route) == nil {
					misses++
					c.put(k, route, tr)
				}
			}
			b.ReportMetric(float64(misses)/float64(b.N), "misses/call")
		})
	}
}
