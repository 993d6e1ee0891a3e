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
		c.put(flowKey{rule: fmt.Sprint(i), stream: "Custom-S", version: "v1"}, route, tr)
		if n := c.len(); n > 4 {
			t.Fatalf("after %d flows the cache holds %d, over its bound of 4", i+1, n)
		}
	}
	key := flowKey{rule: "9", stream: "Custom-S", version: "v1"}
	if c.get(key, route) != tr {
		t.Fatal("the flow kept last is not found")
	}
	next := key
	next.version = "v2"
	c.put(next, route, tr)
	if c.get(key, route) != nil {
		t.Fatal("the flow for the table's old version is still kept")
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
