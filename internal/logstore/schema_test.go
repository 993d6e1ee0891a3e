package logstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// rows does not, nor does an ingest of rows of the columns and types the
// table's unflushed rows hold, so that it can be kept under steady ingest.
// Where Changes stays, what Tables and Schema answer is as it was.
func TestChangesMovesWithWhatTablesAndSchemaAnswer(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys)
	ctx := context.Background()
	rowOf := func(fields string) []byte {
		return []byte(`[{"TimeGenerated":"` + testNow.Add(-time.Hour).Format(time.RFC3339) + `",` + fields + `}]`)
	}
	row := func(extra string) []byte { return rowOf(`"` + extra + `":"v"`) }
	ingest := func(table string, body []byte) func() error {
		return func() error { _, err := st.Ingest(ctx, "ws", table, body); return err }
	}
	answers := func() string {
		t.Helper()
		tables, err := st.Tables(ctx, "ws")
		if err != nil {
			t.Fatal(err)
		}
		out := fmt.Sprint(tables)
		for _, table := range []string{"A", "B", "C"} {
			cols, err := st.Schema(ctx, "ws", table)
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprint(" ", table, cols)
		}
		return out
	}
	reads := func() {
		t.Helper()
		answers()
		if _, err := scanAll(st, ScanRequest{Workspace: "ws", Table: "A"}); err != nil {
			t.Fatal(err)
		}
	}
	const when = `"When":"2026-01-02T03:04:05Z"`
	steps := []struct {
		name   string
		change func() error
		moves  bool
	}{
		{"a table's first rows", ingest("A", row("One")), true},
		{"rows of the known column, in the WAL", ingest("A", row("One")), false},
		{"rows with a new column, in the WAL", ingest("A", row("Two")), true},
		{"rows of the known columns in another order", ingest("A", rowOf(`"Two":"w","One":"x"`)), false},
		{"rows without one of the known columns", ingest("A", row("Two")), false},
		{"another table", ingest("B", row("One")), true},
		{"a column of strings that read as datetimes", ingest("C", rowOf(when)), true},
		{"more of them", ingest("C", rowOf(when)), false},
		{"a string of that column that is no datetime", ingest("C", rowOf(`"When":"soon"`)), true},
		{"a number in a column of strings", ingest("B", rowOf(`"One":5`)), true},
		{"any rows while a column holds two types", ingest("B", row("Three")), true},
		{"a flush", func() error { return st.Flush(ctx) }, true},
		{"the first rows after a flush", ingest("A", row("One")), true},
		{"more rows of the known column after a flush", ingest("A", row("One")), false},
		{"more rows, flushed again", func() error {
			if _, err := st.Ingest(ctx, "ws", "A", row("Three")); err != nil {
				return err
			}
			return st.Flush(ctx)
		}, true},
		{"a merge of segments", func() error {
			n, err := st.Compact(ctx, "ws", "A")
			if err == nil && n == 0 {
				err = errors.New("nothing was merged")
			}
			return err
		}, true},
		{"a purge", func() error {
			n, err := st.PurgeExpired(ctx, testNow.Add(60*24*time.Hour))
			if err == nil && n == 0 {
				err = errors.New("nothing was purged")
			}
			return err
		}, true},
		{"the workspace deleted", func() error { return st.DeleteWorkspace(ctx, "ws") }, true},
	}
	for _, s := range steps {
		before, was := st.Changes(), ""
		if s.name != "a table's first rows" {
			was = answers()
		}
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		switch moved := st.Changes() != before; {
		case s.moves && !moved:
			t.Errorf("%s: Changes stayed at %d", s.name, before)
		case !s.moves && moved:
			t.Errorf("%s: Changes moved from %d to %d", s.name, before, st.Changes())
		case !moved:
			if now := answers(); now != was {
				t.Errorf("%s: Changes stayed at %d, but Tables and Schema answer\n%s\nwhere they answered\n%s", s.name, before, now, was)
			}
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

// TestChangesMovesWhenDamageIsFound: damage a read or a verification finds
// moves Store.Changes on, so that a catalog kept from before is built again
// and names it.
func TestChangesMovesWhenDamageIsFound(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		find func(t *testing.T, st *Store, dir string, segs []string)
	}{
		{"a scan finds a segment deleted", func(t *testing.T, st *Store, dir string, segs []string) {
			os.Remove(segs[0])
			if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("scan over a deleted segment: %v, want damage", err)
			}
		}},
		{"a verification finds the manifest deleted", func(t *testing.T, st *Store, dir string, segs []string) {
			os.Remove(filepath.Join(dir, ws, tbl, manifestFile))
			if rep, err := st.Verify(ctx, ws, nil); err != nil || len(rep.Damaged) != 1 {
				t.Fatalf("verify: %+v, %v; want the manifest damaged", rep, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st, _, segs := twoHourTable(t, dir, envelopetest.New("aek"))
			if _, err := st.Schema(ctx, ws, tbl); err != nil {
				t.Fatal(err)
			}
			before := st.Changes()
			c.find(t, st, dir, segs)
			if st.Changes() == before {
				t.Errorf("Changes stayed at %d", before)
			}
		})
	}
}
