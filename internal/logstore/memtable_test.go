package logstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// unflushedRow is row i of the tables below: every type, nulls, a column
// whose type changes from block to block and within one, dynamic values,
// strings that read as datetimes, a column most rows lack.
func unflushedRow(i int, at time.Time) map[string]any {
	r := map[string]any{
		"TimeGenerated": at.Format(time.RFC3339Nano),
		"ID":            i,
		"R":             float64(i)/4 + 0.5,
		"S":             []string{"alpha", "beta", "gamma"}[i%3],
		"U":             fmt.Sprintf("user-%03d logged on from host-%d", i, i%4),
		"B":             i%2 == 0,
		"D":             at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
		"J":             map[string]any{"k": fmt.Sprintf("v%d", i), "n": []int{i, i + 1}},
	}
	if i%4 != 1 {
		r["N"] = i * 10 // null in a quarter of the rows
	}
	switch {
	case i < 10:
		r["M"] = i // long in the first two blocks
	case i%2 == 0:
		r["M"] = fmt.Sprint("m", i) // then long and string mixed: dynamic
	default:
		r["M"] = i
	}
	if i%7 == 0 {
		r["Sparse"] = "x"
	}
	return r
}

// TestUnflushedRowsScanExactlyAsFlushedOnes asks the same scans of rows in
// the WAL and of the same rows once flushed. The rows arrive in time order
// within one hour, so a flush blocks them as memory does, and every column
// resolves to the same type in both: the batches must hold the same rows
// with the same types (the order of the columns of a batch of all of them
// is a block's, which may differ).
func TestUnflushedRowsScanExactlyAsFlushedOnes(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 5 })
	base := testNow.Truncate(time.Hour)
	const rows = 23 // four full blocks and three rows more
	var stamps []time.Time
	for first := 0; first < rows; first += 4 {
		var body []map[string]any
		for i := first; i < min(first+4, rows); i++ {
			body = append(body, unflushedRow(i, base.Add(time.Duration(i)*time.Second)))
		}
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		mustIngest(t, st, ws, tbl, b)
		stamps = append(stamps, st.IngestionWatermark()) // the instant of this call's rows
	}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	cases := []struct {
		name string
		req  ScanRequest
		want int // rows
	}{
		{"all columns", ScanRequest{}, rows},
		{"some columns", ScanRequest{Columns: []string{"S", "N", "M"}}, rows},
		{"the ingestion time", ScanRequest{Columns: []string{IngestionTimeColumn, "ID"}}, rows},
		{"a column no row has", ScanRequest{Columns: []string{"Nope", "ID"}}, rows},
		{"a time range within blocks", ScanRequest{From: at(3), To: at(12)}, 9},
		{"a time range past every row", ScanRequest{From: at(rows)}, 0},
		{"long ==", ScanRequest{Predicates: []Predicate{{"N", OpEq, 120}}}, 1},
		{"long > real", ScanRequest{Predicates: []Predicate{{"N", OpGt, 150.5}}}, 5},
		{"long != on nulls", ScanRequest{Predicates: []Predicate{{"N", OpNe, 0}}}, 16},
		{"real <", ScanRequest{Predicates: []Predicate{{"R", OpLt, 2.0}}}, 6},
		{"string == in a dictionary", ScanRequest{Predicates: []Predicate{{"S", OpEq, "beta"}}}, 8},
		{"string has", ScanRequest{Predicates: []Predicate{{"U", OpHas, "HOST-2"}}}, 6},
		{"string contains", ScanRequest{Predicates: []Predicate{{"U", OpContains, "er-01"}}}, 10},
		{"string >=", ScanRequest{Predicates: []Predicate{{"U", OpGe, "user-020"}}}, 3},
		{"bool", ScanRequest{Predicates: []Predicate{{"B", OpEq, false}}}, 11},
		{"datetime from strings", ScanRequest{Predicates: []Predicate{{"D", OpLt, base.Add(5 * time.Minute)}}}, 5},
		{"dynamic has", ScanRequest{Predicates: []Predicate{{"J", OpHas, "v7"}}}, 1},
		{"mixed column, a long", ScanRequest{Predicates: []Predicate{{"M", OpEq, 3}}}, 1},
		{"mixed column, a string", ScanRequest{Predicates: []Predicate{{"M", OpContains, "m1"}}}, 15}, // its longs are kept for the engine
		{"a sparse column", ScanRequest{Predicates: []Predicate{{"Sparse", OpEq, "x"}}}, 4},
		{"TimeGenerated", ScanRequest{Predicates: []Predicate{{timeColumn, OpGe, at(20)}}}, 3},
		{"predicates and a time range", ScanRequest{From: at(2), To: at(20), Columns: []string{"ID"},
			Predicates: []Predicate{{"B", OpEq, true}, {"S", OpNe, "alpha"}}}, 6},
		{"ingested up to the second call", ScanRequest{IngestedUpTo: stamps[1]}, 8},
		{"ingested after the second call", ScanRequest{IngestedAfter: stamps[1]}, 15},
		{"ingested in the third call only", ScanRequest{IngestedAfter: stamps[1], IngestedUpTo: stamps[2], Columns: []string{"ID"}}, 4},
		{"ingestion bound and predicate", ScanRequest{IngestedAfter: stamps[4], Predicates: []Predicate{{"ID", OpLt, 22}}}, 2},
	}
	scan := func(t *testing.T, req ScanRequest) []string {
		t.Helper()
		req.Workspace, req.Table = ws, tbl
		batches, err := scanAll(st, req)
		if err != nil {
			t.Fatal(err)
		}
		return rowsByName(batches)
	}
	inWAL := make([][]string, len(cases))
	for i, c := range cases {
		inWAL[i] = scan(t, c.req)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(files(t, st.cfg.Dir, walExt)); n != 0 {
		t.Fatalf("%d WALs left after the flush", n)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(inWAL[i]) != c.want {
				t.Errorf("%d rows in the WAL, want %d", len(inWAL[i]), c.want)
			}
			equalRows(t, scan(t, c.req), inWAL[i])
		})
	}
}

// rowsByName is rowsOf, with each row's columns by name.
func rowsByName(batches []*Batch) []string {
	for _, b := range batches {
		slices.SortFunc(b.Columns, func(x, y Column) int { return cmp.Compare(x.Name, y.Name) })
	}
	return rowsOf(batches)
}

// TestUnflushedRowsInAnyOrderScanAsFlushedOnes: rows arriving out of time
// order, over two hours, are blocked otherwise in memory than in segments;
// columns whose values keep one type read the same either way.
func TestUnflushedRowsInAnyOrderScanAsFlushedOnes(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 7 })
	r := rand.New(rand.NewPCG(1, 2))
	for call := range 9 {
		body := eventsBody(t, call*11, 11, testNow.Add(-time.Duration(r.IntN(60))*time.Minute))
		mustIngest(t, st, ws, tbl, body)
	}
	reqs := []ScanRequest{
		{},
		{Columns: []string{"Computer", "EventID"}},
		{Predicates: []Predicate{{"EventID", OpEq, 4625}}},
		{Predicates: []Predicate{{"CommandLine", OpHas, "cmd.exe"}}, Columns: []string{"Account"}},
		{From: testNow.Add(-70 * time.Minute), To: testNow.Add(-40 * time.Minute)},
	}
	var inWAL [][]string
	for _, req := range reqs {
		req.Workspace, req.Table = ws, tbl
		batches, err := scanAll(st, req)
		if err != nil {
			t.Fatal(err)
		}
		inWAL = append(inWAL, rowsByName(batches))
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		req.Workspace, req.Table = ws, tbl
		batches, err := scanAll(st, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(inWAL[i]) == 0 {
			t.Fatalf("request %d: no rows", i)
		}
		equalRows(t, rowsByName(batches), inWAL[i])
	}
}

// TestUnflushedBlocksAreBuiltOnceAndTheLastAgainOnlyForNewRows: scans share
// the blocks built from a WAL's rows; rows that arrive fill the last one,
// which is built anew, and complete blocks stay as they were.
func TestUnflushedBlocksAreBuiltOnceAndTheLastAgainOnlyForNewRows(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 4 })
	blocks := func() []*memBlock {
		t.Helper()
		tb, err := st.table(ws, tbl)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := tb.snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range snap.mems {
			if err := b.build(); err != nil {
				t.Fatal(err)
			}
		}
		return snap.mems
	}
	shape := func(bs []*memBlock) [][2]int {
		var out [][2]int
		for _, b := range bs {
			out = append(out, [2]int{b.first, b.meta.rows})
		}
		return out
	}
	mustIngest(t, st, ws, tbl, idRows(0, 6, testNow))
	first := blocks()
	if got := shape(first); !slices.Equal(got, [][2]int{{0, 4}, {4, 2}}) {
		t.Fatalf("blocks %v, want rows 0-3 and 4-5", got)
	}
	if again := blocks(); again[0] != first[0] || again[1] != first[1] {
		t.Fatal("a second scan without new rows built the blocks again")
	}
	mustIngest(t, st, ws, tbl, idRows(6, 3, testNow))
	later := blocks()
	if got := shape(later); !slices.Equal(got, [][2]int{{0, 4}, {4, 4}, {8, 1}}) {
		t.Fatalf("blocks %v, want rows 0-3, 4-7 and 8", got)
	}
	if later[0] != first[0] {
		t.Fatal("a complete block was built again")
	}
	if later[1] == first[1] {
		t.Fatal("the last block was not built again with the new rows")
	}
	mustIngest(t, st, ws, tbl, idRows(9, 1, testNow))
	last := blocks()
	if got := shape(last); !slices.Equal(got, [][2]int{{0, 4}, {4, 4}, {8, 2}}) {
		t.Fatalf("blocks %v, want rows 0-3, 4-7 and 8-9", got)
	}
	if last[1] != later[1] || last[2] == later[2] {
		t.Fatal("a row more built other blocks than the last one")
	}
	if got := countIDs(t, st); got != 10 {
		t.Fatalf("%d rows, want 10", got)
	}
}

// TestUnflushedTailBuildsOnlyTheRowsThatArrived: rows that arrive after
// the complete blocks make a block of their own, built by the next read,
// which takes in the block before it when as big, so that a read after a
// few new rows builds about as many, and the tail stays a few blocks.
func TestUnflushedTailBuildsOnlyTheRowsThatArrived(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 100 })
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	var prev []*memBlock
	next := 0
	for _, step := range []struct {
		rows  int
		shape [][2]int // first row and rows of each block
		kept  int      // blocks of the last view still there, unbuilt again
	}{
		{30, [][2]int{{0, 30}}, 0},
		{10, [][2]int{{0, 30}, {30, 10}}, 1},
		{10, [][2]int{{0, 30}, {30, 20}}, 1},           // as big as the one before: one block of both
		{15, [][2]int{{0, 30}, {30, 20}, {50, 15}}, 2}, // smaller: a block of its own
		{20, [][2]int{{0, 85}}, 0},                     // as big as 15, then 35 as big as 20, 55 as 30
		{40, [][2]int{{0, 100}, {100, 25}}, 0},         // a complete block, and the rows after it
	} {
		mustIngest(t, st, ws, tbl, idRows(next, step.rows, testNow))
		next += step.rows
		snap, err := tb.snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var shape [][2]int
		kept := 0
		for _, b := range snap.mems {
			shape = append(shape, [2]int{b.first, b.rows})
			if slices.Contains(prev, b) {
				kept++
			}
		}
		if !slices.Equal(shape, step.shape) || kept != step.kept {
			t.Fatalf("after %d rows: blocks %v, %d kept; want %v, %d kept", next, shape, kept, step.shape, step.kept)
		}
		prev = snap.mems
		if got := countIDs(t, st); got != next {
			t.Fatalf("after %d rows: %d read", next, got)
		}
	}
}

func countIDs(t *testing.T, st *Store) int {
	t.Helper()
	batches, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"ID"}})
	if err != nil {
		t.Fatal(err)
	}
	return countRows(batches)
}

// TestScansDuringIngestSeeEveryAcknowledgedRow runs scans, in shards, and
// schema reads while rows arrive: each scan sees at least every row
// acknowledged before it began, each row once, while blocks are built and
// rebuilt under it.
func TestScansDuringIngestSeeEveryAcknowledgedRow(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 16 })
	const calls, perCall = 40, 7
	var acked sync.Map // call → done
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range calls {
			if _, err := st.Ingest(context.Background(), ws, tbl, idRows(i*perCall, perCall, testNow)); err != nil {
				t.Error(err)
				return
			}
			acked.Store(i, true)
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				ackedBefore := 0
				acked.Range(func(any, any) bool { ackedBefore++; return true })
				if cols, err := st.Schema(context.Background(), ws, tbl); ackedBefore > 0 && (err != nil || len(cols) != 2 || cols[1] != (ColumnSchema{"ID", TypeLong})) {
					t.Errorf("schema %v, %v", cols, err)
				}
				scs, err := st.ScanShards(context.Background(), ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"ID"}}, 3)
				if err != nil {
					t.Error(err)
					return
				}
				seen := make(map[int64]bool)
				for _, sc := range scs {
					for sc.Next() {
						for _, id := range sc.Batch().Columns[0].Ints {
							if seen[id] {
								t.Errorf("row %d read twice", id)
							}
							seen[id] = true
						}
					}
					if err := sc.Err(); err != nil {
						t.Error(err)
					}
					sc.Close()
				}
				if len(seen) < ackedBefore*perCall {
					t.Errorf("a scan saw %d rows, %d were acknowledged before it", len(seen), ackedBefore*perCall)
				}
			}
		})
	}
	wg.Wait()
	if got := countIDs(t, st); got != calls*perCall {
		t.Fatalf("%d rows, want %d", got, calls*perCall)
	}
}

// TestFlushWorkspaceSealsOneTableOrAllNow: a flush of one table leaves the
// others' WALs; a flush of all, after a restart, replays and seals the
// tables not used since; every row reads back the same.
func TestFlushWorkspaceSealsOneTableOrAllNow(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ctx := context.Background()
	st := newTestStore(t, dir, keys)
	for _, table := range []string{"A", "B", "C"} {
		mustIngest(t, st, ws, table, idRows(0, 5, testNow))
	}
	walsOf := func(table string) int { return len(files(t, filepath.Join(dir, ws, table), walExt)) }
	if err := st.FlushWorkspace(ctx, ws, "A"); err != nil {
		t.Fatal(err)
	}
	if walsOf("A") != 0 || walsOf("B") != 1 || len(files(t, filepath.Join(dir, ws, "A"), segExt)) == 0 {
		t.Fatalf("after flushing A: WALs A %d, B %d", walsOf("A"), walsOf("B"))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = newTestStore(t, dir, keys)
	if err := st.FlushWorkspace(ctx, ws, ""); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"A", "B", "C"} {
		if walsOf(table) != 0 {
			t.Fatalf("table %s keeps %d WALs", table, walsOf(table))
		}
		batches, err := scanAll(st, ScanRequest{Workspace: ws, Table: table, Columns: []string{"ID"}})
		if err != nil || countRows(batches) != 5 {
			t.Fatalf("table %s: %d rows, %v", table, countRows(batches), err)
		}
	}
	if err := st.FlushWorkspace(ctx, ws, "NoRows"); err != nil {
		t.Fatalf("a table without rows: %v", err)
	}
}

func TestFlushWorkspaceRefusesBadNamesAndARevokedKey(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys)
	ctx := context.Background()
	mustIngest(t, st, ws, tbl, idRows(0, 3, testNow))
	for name, c := range map[string]struct{ ws, table string }{
		"workspace with a dot": {"ws.1", ""},
		"empty workspace":      {"", tbl},
		"table with a slash":   {ws, "a/b"},
	} {
		if err := st.FlushWorkspace(ctx, c.ws, c.table); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%s: %v, want ErrInvalidName", name, err)
		}
	}
	keys.Revoke()
	if err := st.FlushWorkspace(ctx, ws, ""); !errors.Is(err, envelopetest.ErrRevoked) {
		t.Fatalf("flush with the key revoked: %v", err)
	}
	keys.Restore()
	if n := len(files(t, st.cfg.Dir, walExt)); n != 1 {
		t.Fatalf("%d WALs after a refused flush, want the one", n)
	}
}
