package logstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestSchemaIsTheSameBeforeAndAfterFlushAndWidensTypes(t *testing.T) {
	st := newTestStore(t, t.TempDir(), newFakeKeys(), func(c *Config) { c.BlockRows = 2 })
	ctx := context.Background()
	at := testNow.Add(-time.Hour).Format(time.RFC3339)
	body, _ := json.Marshal([]map[string]any{
		{"TimeGenerated": at, "Computer": "dc01", "Count": 1, "Ok": true},
		{"TimeGenerated": at, "Computer": "dc02", "Count": 2.5, "Extra": nil},
		{"TimeGenerated": at, "Computer": 7, "Count": 3},
	})
	if _, err := st.Ingest(ctx, "ws", "T", body); err != nil {
		t.Fatal(err)
	}
	want := map[string]Type{"TimeGenerated": TypeDatetime, "Computer": TypeString, "Count": TypeReal, "Ok": TypeBool} // an all-null column is not stored
	check := func(when string) {
		got, err := st.Schema(ctx, "ws", "T")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || got[0].Name != "TimeGenerated" {
			t.Fatalf("%s: schema %v", when, got)
		}
		for _, c := range got {
			if want[c.Name] != c.Type {
				t.Errorf("%s: %s is %v, want %v", when, c.Name, c.Type, want[c.Name])
			}
		}
	}
	check("before flush")
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("after flush")
}
