package automation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/incident"
)

// BenchmarkOnIncident measures what an incident change pays for the rules:
// reading and opening every sealed rule, then testing its conditions, here
// none matching (most rules do not match most incidents), with and without
// a cache of decoded rules shared across changes. rules=0 is the baseline:
// the listing of an empty collection.
func BenchmarkOnIncident(b *testing.B) {
	for _, cached := range []bool{false, true} {
		for _, n := range []int{0, 10, 100} {
			b.Run(fmt.Sprintf("cache=%v/rules=%d", cached, n), func(b *testing.B) {
				e := newEnv(b)
				for i := range n {
					cond := map[string]any{"conditionType": "Boolean", "conditionProperties": map[string]any{"operator": "Or", "innerConditions": []any{
						prop("IncidentTitle", "Contains", "ransomware", "wiper"), prop("IncidentLabel", "Equals", "crown-jewel")}}}
					e.put(fmt.Sprintf("rule-%03d", i), rule(i%1000+1, []any{cond, prop("IncidentSeverity", "Equals", "High")},
						modify(1, map[string]any{"labels": []any{map[string]any{"labelName": "triaged"}}}), task(2, "look")))
				}
				var cache *Cache
				if cached {
					cache = NewCache()
				}
				ev := Event{When: Created, Incident: e.incident("i1", incident.Properties{Title: "Brute force", Severity: "Medium"})}
				b.ResetTimer()
				for b.Loop() {
					// A Rules per change, as the API and detection make them.
					rules := New(e.docs, "ws-1", wsResource, e.hooks, cache, func() time.Time { return testNow })
					if err := rules.OnIncident(context.Background(), e.incs, ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
