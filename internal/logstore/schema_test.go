package logstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

func TestSchemaIsTheSameBeforeAndAfterFlushAndWidensTypes(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 2 })
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

func TestShardsSplitAScanIntoDisjointParts(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 5 })
	ctx := context.Background()
	for h := range 6 { // rows in 6 different hours: several segments
		mustIngest(t, st, ws, tbl, eventsBody(t, h*10, 10, testNow.Add(-time.Duration(h+1)*time.Hour)))
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 7, testNow)) // unflushed rows
	whole, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}})
	if err != nil {
		t.Fatal(err)
	}
	shards, err := st.ScanShards(ctx, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, sc := range shards {
		for sc.Next() {
			total += sc.Batch().Len
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		sc.Close()
	}
	if total != countRows(whole) || total != 67 {
		t.Fatalf("shards read %d rows, the whole scan %d, want 67", total, countRows(whole))
	}
	if _, err := st.ScanShards(ctx, ScanRequest{Workspace: ws, Table: tbl}, 0); err == nil {
		t.Fatal("a scan in 0 shards accepted")
	}
}
