package kql

import (
	"errors"
	"strings"
	"testing"
)

func TestCrossServiceQueriesAreRefusedSayingWhy(t *testing.T) {
	cat := fixtureSource(t).Catalog()
	for _, c := range []struct{ name, q, err string }{
		{"Azure Resource Graph", `arg("").Resources | where type == "microsoft.compute/virtualmachines" | count`, `1:1: arg() reads Azure Resource Graph, outside this workspace`},
		{"Azure Resource Graph alone", `arg("").Resources`, `1:1: arg() reads Azure Resource Graph`},
		{"in a let", `let VMs = arg("").Resources | project id; VMs | count`, `1:11: arg() reads Azure Resource Graph`},
		{"in a join", `Users | join (arg("").Resources | project Account = name) on Account`, `1:15: arg() reads`},
		{"in a union", `union Users, (arg("").ResourceContainers)`, `1:15: arg() reads`},
		{"another workspace", `workspace("other").SecurityEvent | count`, `1:1: workspace() reads another Log Analytics workspace`},
		{"Application Insights", `app("web").requests | take 1`, `1:1: app() reads an Application Insights resource`},
		{"Azure Data Explorer", `adx("https://help.kusto.windows.net/Samples").StormEvents | take 1`, `1:1: adx() reads an Azure Data Explorer cluster`},
		{"a resource's logs", `resource("/subscriptions/s/resourcegroups/rg").Heartbeat`, `1:1: resource() reads an Azure resource's logs`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.q, cat)
			var be *BindError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "answers from its own tables only") {
				t.Fatalf("Compile: %v, want a bind error containing %q and why", err, c.err)
			}
		})
	}
	// a function of the query's own named like one is the query's own
	if _, err := Compile(`let app = (n:long) { dynamic({"x": 1}) }; print v = app(1).x`, cat); err != nil {
		t.Fatalf("a let function named app: %v", err)
	}
}
