package logstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

const (
	ws  = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"
	tbl = "SecurityEvent"
)

func TestIngestedRowsReadBackTypedFromWALSegmentsAndAfterRestart(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 3 })
	body := []byte(`[
		{"TimeGenerated":"2026-03-10T12:00:00Z","Computer":"dc01","EventID":4624,"Score":1.5,"Ok":true,"Tags":{"a":[1,2]},"Seen":"2026-03-10T11:00:00.5Z"},
		{"TimeGenerated":"2026-03-10T12:00:01.1234567Z","Computer":"dc02","EventID":4625,"Score":2,"Ok":false,"Seen":"2026-03-10T11:00:01Z","Mixed":1},
		{"TimeGenerated":"2026-03-10T13:10:00+01:00","Computer":"d\"c\u00e903","EventID":null,"Mixed":"x","Only":"here"},
		{"Computer":"dc04","EventID":-9223372036854775808,"Big":1e400}
	]`)
	if n := mustIngest(t, st, ws, tbl, body); n != 4 {
		t.Fatalf("ingested %d rows, want 4", n)
	}
	want := []string{
		`TimeGenerated:datetime=2026-03-10T12:10:00Z;Computer:string=d"cé03;Mixed:dynamic="x";Only:string=here;`,
		`TimeGenerated:datetime=2026-03-10T12:00:00Z;Computer:string=dc01;EventID:long=4624;Score:real=1.5;Ok:bool=true;Tags:dynamic={"a":[1,2]};Seen:datetime=2026-03-10T11:00:00.5Z;`,
		`TimeGenerated:datetime=2026-03-10T12:00:01.1234567Z;Computer:string=dc02;EventID:long=4625;Score:real=2;Ok:bool=false;Seen:datetime=2026-03-10T11:00:01Z;Mixed:dynamic=1;`,
		`TimeGenerated:datetime=2026-03-10T12:30:00Z;Computer:string=dc04;EventID:long=-9223372036854775808;Big:dynamic=1e400;`,
	}
	// Columns are listed in a fixed order, so that the three readings compare.
	cols := []string{"TimeGenerated", "Computer", "EventID", "Score", "Ok", "Tags", "Seen", "Mixed", "Only", "Big"}
	read := func(stage string) {
		t.Helper()
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: cols})
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		// Types are per block; with rows in time order the WAL's blocks
		// and the segment's hold the same rows.
		equalRows(t, rowsOf(got), want)
	}
	read("wal")
	st.Close()
	st = newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 3 })
	read("replay")
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(files(t, dir, walExt)); n != 0 {
		t.Fatalf("%d WAL files after a flush", n)
	}
	read("segments")
	// In one block, segments type columns as the WAL does.
	st2 := newTestStore(t, t.TempDir(), keys)
	mustIngest(t, st2, ws, tbl, body)
	st2.Flush(context.Background())
	got, err := scanAll(st2, ScanRequest{Workspace: ws, Table: tbl, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, rowsOf(got), want)
}

func TestIngestRefusesBadInputWholeNamingTheRow(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.MaxRowBytes = 200 })
	ok := `{"TimeGenerated":"2026-03-10T12:00:00Z","A":1}`
	cases := []struct {
		name string
		body string
		row  int // -1: not about one row
	}{
		{"not JSON", `{`, -1},
		{"not an array", `{"A":1}`, -1},
		{"empty array", `[]`, -1},
		{"element is a number", `[` + ok + `,42]`, 1},
		{"element is a string", `["row"]`, 0},
		{"element is an array", `[` + ok + `,` + ok + `,[1]]`, 2},
		{"element is null", `[null]`, 0},
		{"syntax error in an element", `[` + ok + `,{"A":}]`, 1},
		{"TimeGenerated is a number", `[{"TimeGenerated":1710000000}]`, 0},
		{"TimeGenerated is not a date", `[` + ok + `,{"TimeGenerated":"yesterday"}]`, 1},
		{"TimeGenerated older than retention", `[{"TimeGenerated":"2026-01-01T00:00:00Z"}]`, 0},
		{"TimeGenerated in the future", `[` + ok + `,{"TimeGenerated":"2026-03-10T13:00:00Z"}]`, 1},
		{"oversized row", `[` + ok + `,{"A":"` + strings.Repeat("x", 300) + `"}]`, 1},
		{"empty column name", `[{"":1}]`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.Ingest(context.Background(), ws, tbl, []byte(c.body))
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error %v, want ErrInvalidInput", err)
			}
			var re *RowError
			if c.row >= 0 && (!errors.As(err, &re) || re.Index != c.row) {
				t.Fatalf("error %v, want one naming row %d", err, c.row)
			}
			if strings.Contains(err.Error(), "xxxx") || strings.Contains(err.Error(), "yesterday") {
				t.Fatalf("error %q quotes the row", err)
			}
		})
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != 0 {
		t.Fatalf("refused bodies left %d rows (err %v)", countRows(got), err)
	}
}

func TestRowWithoutTimeGeneratedGetsTheIngestionTime(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, []byte(`[{"A":1},{"TimeGenerated":null,"A":2}]`))
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{timeColumn}})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range got {
		for _, v := range b.Columns[0].Ints {
			if v != testNow.UnixNano() {
				t.Fatalf("TimeGenerated %v, want the ingestion time %v", time.Unix(0, v).UTC(), testNow)
			}
		}
	}
	if countRows(got) != 2 {
		t.Fatalf("%d rows", countRows(got))
	}
}

func TestInvalidNamesAreRefused(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	for _, c := range []struct{ ws, table string }{{"..", tbl}, {ws, "../x"}, {"a/b", tbl}, {ws, "a.b"}, {"", tbl}, {ws, "1Table"}} {
		if _, err := st.Ingest(context.Background(), c.ws, c.table, []byte(`[{}]`)); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q/%q: %v, want ErrInvalidName", c.ws, c.table, err)
		}
	}
}

func TestConcurrentIngestsShareSyncsAndAllLand(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	const writers, calls, rows = 8, 20, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for c := range calls {
				mustIngest(t, st, ws, tbl, eventsBody(t, (w*calls+c)*rows, rows, testNow))
			}
		})
	}
	wg.Wait()
	tb, _ := st.table(ws, tbl)
	syncs := tb.active.wal.syncs.Load()
	if syncs >= writers*calls {
		t.Errorf("%d syncs for %d appends: no group commit", syncs, writers*calls)
	}
	t.Logf("%d appends, %d syncs", writers*calls, syncs)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}})
	if err != nil || countRows(got) != writers*calls*rows {
		t.Fatalf("%d rows (err %v), want %d", countRows(got), err, writers*calls*rows)
	}
}

func TestFlushRotatesWALsAndScansSeeEveryRowOnce(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.FlushBytes = 20 << 10; c.BlockRows = 50 })
	const calls, rows = 30, 20
	for c := range calls {
		mustIngest(t, st, ws, tbl, eventsBody(t, c*rows, rows, testNow))
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"SourceComputerId"}})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, b := range got {
			for i := range b.Len {
				v := b.Columns[0].Str(i)
				if seen[v] {
					t.Fatalf("row %s seen twice", v)
				}
				seen[v] = true
			}
		}
		if len(seen) != (c+1)*rows {
			t.Fatalf("after %d calls: %d rows, want %d", c+1, len(seen), (c+1)*rows)
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(files(t, dir, segExt)) < 3 {
		t.Fatalf("only %d segments: the WAL did not rotate", len(files(t, dir, segExt)))
	}
}

func TestWorkspacesAndTablesAreListableAndDeletionNeedsNoKey(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	for _, w := range []string{"ws-b", "ws-a"} {
		for _, tb := range []string{"SigninLogs", "SecurityEvent", "Custom_CL"} {
			mustIngest(t, st, w, tb, eventsBody(t, 0, 3, testNow))
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, "ws-a", "SigninLogs", eventsBody(t, 3, 3, testNow)) // and a WAL
	wss, _ := st.Workspaces(context.Background())
	tables, _ := st.Tables(context.Background(), "ws-a")
	if fmt.Sprint(wss) != "[ws-a ws-b]" || fmt.Sprint(tables) != "[Custom_CL SecurityEvent SigninLogs]" {
		t.Fatalf("workspaces %v, tables %v", wss, tables)
	}
	keys.Revoke()
	if err := st.DeleteWorkspace(context.Background(), "ws-a"); err != nil {
		t.Fatalf("delete while revoked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ws-a")); !os.IsNotExist(err) {
		t.Fatalf("workspace directory still there: %v", err)
	}
	wss, _ = st.Workspaces(context.Background())
	if fmt.Sprint(wss) != "[ws-b]" {
		t.Fatalf("workspaces %v after delete", wss)
	}
	keys.Restore()
	got, err := scanAll(st, ScanRequest{Workspace: "ws-a", Table: "SigninLogs"})
	if err != nil || len(got) != 0 {
		t.Fatalf("deleted workspace still reads: %d batches, %v", len(got), err)
	}
	got, err = scanAll(st, ScanRequest{Workspace: "ws-b", Table: "SigninLogs"})
	if err != nil || countRows(got) != 3 {
		t.Fatalf("other workspace: %d rows, %v", countRows(got), err)
	}
}

func TestNewAccountKeyStartsNewObjectsAndOldOnesStillRead(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 10, testNow))
	old := keys.CurrentID()
	keys.Rotate()
	mustIngest(t, st, ws, tbl, eventsBody(t, 10, 10, testNow))
	// The rows after the rotation are in a WAL under the new AEK. (The old
	// WAL may already be flushed by then, so count only what must exist.)
	newWAL := false
	for _, p := range files(t, dir, walExt) {
		if h, err := fileHeader(p); err == nil && h.aekID == keys.CurrentID() {
			newWAL = true
		}
	}
	if !newWAL {
		t.Fatalf("no WAL is sealed under the new account key %s", keys.CurrentID())
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, eventsBody(t, 20, 10, testNow))
	ids := map[string]bool{}
	for _, p := range sealedFiles(t, dir) {
		h, err := fileHeader(p)
		if err != nil {
			t.Fatal(err)
		}
		ids[h.aekID] = true
	}
	if ids[old] || !ids[keys.CurrentID()] {
		t.Fatalf("objects name AEKs %v; a flush after rotation must seal under %s", ids, keys.CurrentID())
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}})
	if err != nil || countRows(got) != 30 {
		t.Fatalf("%d rows, %v", countRows(got), err)
	}
}

func TestAQuietWALIsFlushedOnceOld(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.FlushInterval = 20 * time.Millisecond })
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 5, testNow))
	tb, _ := st.table(ws, tbl)
	tb.mu.Lock()
	for len(tb.segs) == 0 {
		ch := tb.changed
		tb.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("the WAL was not flushed")
		}
		tb.mu.Lock()
	}
	tb.mu.Unlock()
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}})
	if err != nil || countRows(got) != 5 {
		t.Fatalf("%d rows, %v", countRows(got), err)
	}
}

// Flush returns with the flushed WALs gone from disk, not only from memory.
func TestFlushReturnsWithTheWALsRemoved(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	for i := range 30 {
		mustIngest(t, st, ws, tbl, eventsBody(t, i*10, 10, testNow))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(files(t, dir, walExt)); n != 0 {
			t.Fatalf("flush %d: %d WAL files left when Flush returned", i, n)
		}
	}
}
