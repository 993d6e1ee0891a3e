package api

import (
	"testing"
	"time"
)

// TestAChangedTableOrRuleIsSeenByTheNextCall sends rows through a rule
// (its flow compiled and kept), then changes the table and the rule and
// sends again at once, each time: the rows stored are those of the rule
// as it is now, never of a flow kept from before the change.
func TestAChangedTableOrRuleIsSeenByTheNextCall(t *testing.T) {
	f := newFullEnv(t)
	const stream = `{"name":"TimeGenerated","type":"datetime"},{"name":"Message","type":"string"}`
	f.putTable("Flow_CL", stream)
	put := func(transform string) string {
		t.Helper()
		status, id, er := f.putDCR("flow-dcr", "Custom-Flow", stream, transform, "Custom-Flow_CL")
		if status != 200 && status != 201 {
			t.Fatalf("put the rule with %q: %d %+v", transform, status, er)
		}
		return id
	}
	id := put("source")
	send := func(msg string) {
		t.Helper()
		rows := `[{"TimeGenerated":"` + time.Now().UTC().Add(-time.Minute).Format(time.RFC3339) + `","Message":"` + msg + `"}]`
		if status, er := f.send(id, "Custom-Flow", rows); status != 204 {
			t.Fatalf("send %s: %d %+v", msg, status, er)
		}
	}
	send("before")
	f.putTable("Flow_CL", stream+`,{"name":"Other","type":"long"}`)
	send("table changed")
	put("source | extend Other = 7")
	send("rule changed")
	put("source | extend Other = 8")
	send("rule changed again")
	put("source")
	send("rule back")
	_, got := f.queryRows("Flow_CL | order by Message asc | project Message, Other")
	want := [][]any{{"before", nil}, {"rule back", nil}, {"rule changed", float64(7)}, {"rule changed again", float64(8)}, {"table changed", nil}}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i := range want {
		if got[i][0] != want[i][0] || got[i][1] != want[i][1] {
			t.Fatalf("rows %v, want %v", got, want)
		}
	}
}
