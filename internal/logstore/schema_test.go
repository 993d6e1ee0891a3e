package logstore

import (
	"context"
	"encoding/json"
	"errors"
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

// TestChangesMovesWithWhatTablesAndSchemaAnswer: every change that can
// alter the tables listed or a table's columns moves Store.Changes on, so
// that a catalog kept under it is rebuilt; reading the tables, a schema or
// rows does not, so that it can be kept while nothing changes.
func TestChangesMovesWithWhatTablesAndSchemaAnswer(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys)
	ctx := context.Background()
	row := func(extra string) []byte {
		return []byte(`[{"TimeGenerated":"` + testNow.Add(-time.Hour).Format(time.RFC3339) + `","` + extra + `":"v"}]`)
	}
	reads := func() {
		t.Helper()
		if _, err := st.Tables(ctx, "ws"); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"A", "B"} {
			if _, err := st.Schema(ctx, "ws", table); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := scanAll(st, ScanRequest{Workspace: "ws", Table: "A"}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name   string
		change func() error
	}{
		{"a table's first rows", func() error { _, err := st.Ingest(ctx, "ws", "A", row("One")); return err }},
		{"rows with a new column, in the WAL", func() error { _, err := st.Ingest(ctx, "ws", "A", row("Two")); return err }},
		{"another table", func() error { _, err := st.Ingest(ctx, "ws", "B", row("One")); return err }},
		{"a flush", func() error { return st.Flush(ctx) }},
		{"more rows, flushed again", func() error {
			if _, err := st.Ingest(ctx, "ws", "A", row("Three")); err != nil {
				return err
			}
			return st.Flush(ctx)
		}},
		{"a merge of segments", func() error {
			n, err := st.Compact(ctx, "ws", "A")
			if err == nil && n == 0 {
				err = errors.New("nothing was merged")
			}
			return err
		}},
		{"a purge", func() error {
			n, err := st.PurgeExpired(ctx, testNow.Add(60*24*time.Hour))
			if err == nil && n == 0 {
				err = errors.New("nothing was purged")
			}
			return err
		}},
		{"the workspace deleted", func() error { return st.DeleteWorkspace(ctx, "ws") }},
	}
	for _, s := range steps {
		before := st.Changes()
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if st.Changes() == before {
			t.Errorf("%s: Changes stayed at %d", s.name, before)
		}
		if s.name == "the workspace deleted" {
			break
		}
		reads()
		still := st.Changes()
		reads()
		if st.Changes() != still {
			t.Errorf("after %s: reading the tables, their schemas and rows moved Changes from %d to %d", s.name, still, st.Changes())
		}
	}

	// A store opened again over rows it held opens the table when first
	// asked for its schema: that is a change too, once.
	again := t.TempDir()
	first := newTestStore(t, again, keys)
	if _, err := first.Ingest(ctx, "ws", "A", row("One")); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := newTestStore(t, again, keys)
	before := reopened.Changes()
	if _, err := reopened.Schema(ctx, "ws", "A"); err != nil {
		t.Fatal(err)
	}
	if opened := reopened.Changes(); opened == before {
		t.Errorf("opening a table on its first read left Changes at %d", before)
	} else if _, err := reopened.Schema(ctx, "ws", "A"); err != nil || reopened.Changes() != opened {
		t.Errorf("a second read of an open table moved Changes from %d to %d (%v)", opened, reopened.Changes(), err)
	}
}
