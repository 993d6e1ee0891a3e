package logstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// matchTestPredicates are predicates on a string column of pageTestColumns
// (values host-000 … host-006, "user N ü"): values present and absent, every
// operator a dictionary's entries answer.
func matchTestPredicates(col string) []Predicate {
	return []Predicate{
		{col, OpEq, "host-003"},
		{col, OpEq, "HOST-003"},
		{col, OpEq, "nobody"},
		{col, OpNe, "host-003"},
		{col, OpLt, "host-002"},
		{col, OpGe, "host-005"},
		{col, OpHas, "HOST"},
		{col, OpHas, "ü"},
		{col, OpHas, "006"},
		{col, OpContains, "st-00"},
		{col, OpContains, "1"},
		{col, OpHasAny, []string{"nobody", "host-004"}},
		{col, OpHasAny, []string{"nobody", "none"}},
		{col, OpEq, int64(3)}, // another type: never matches
	}
}

// TestPagesMatchedByEntryNumbersSelectTheRowsEvaluateDoes: selectPaged, which
// matches a paged dictionary-coded chunk by its entry numbers, leaves the
// same rows as evaluate on the chunk decoded, for every predicate and
// layout, starting from every row or from some.
func TestPagesMatchedByEntryNumbersSelectTheRowsEvaluateDoes(t *testing.T) {
	codec, err := NewCodec(1)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	const n = 2500
	starts := map[string]func(i int) bool{
		"every row":              func(int) bool { return true },
		"every third row":        func(i int) bool { return i%3 == 0 },
		"no row of the 2nd page": func(i int) bool { return i < 1024 || i >= 2048 },
		"no row":                 func(int) bool { return false },
	}
	dictChunks := 0
	for name, cells := range pageTestColumns(n) {
		typ, times := resolveType(cells)
		if typ != TypeString {
			continue
		}
		for _, pageRows := range []int{defaultPageRows, 7, n} {
			w := pageWriter{enc: codec.enc, pageRows: pageRows}
			paged, _ := w.appendColumn(nil, typ, cells, times, nil)
			d, err := parsePageDir(paged, false)
			if err != nil {
				t.Fatal(err)
			}
			if d.dict == nil {
				continue // a plain column is read and evaluated
			}
			dictChunks++
			var buf pageBuffers
			col, _, err := decodePaged(paged, pagedRead{name: name, raw: true, dec: codec.dec, buf: &buf})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range matchTestPredicates(name) {
				p, err := compile(q)
				if err != nil {
					t.Fatal(err)
				}
				if !dictMatchable(&p) {
					continue
				}
				for start, keep := range starts {
					t.Run(fmt.Sprintf("%s/pages of %d/%s %v/%s", name, pageRows, q.Op, q.Value, start), func(t *testing.T) {
						want, got := make([]bool, n), make([]bool, n)
						for i := range want {
							want[i], got[i] = keep(i), keep(i)
						}
						evaluate(&col, &p, want)
						if err := selectPaged(&d, &p, got, codec.dec, &buf); err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("%d rows selected, evaluate selects %d", count(got), count(want))
						}
					})
				}
			}
		}
	}
	if dictChunks < 6 {
		t.Fatalf("%d dictionary-coded chunks: the columns do not test selectPaged", dictChunks)
	}
}

func count(sel []bool) int {
	n := 0
	for _, ok := range sel {
		if ok {
			n++
		}
	}
	return n
}

// TestPredicatesMatchedInPlaceSelectTheRowsOfTheColumnsRead: a predicate on
// a column the scan does not return is matched in place (by entry numbers,
// on a dictionary-coded column); the rows and counts are those of the same
// scan that returns the column, so reads it and evaluates the predicate on
// it. Over paged segments, segments of version 2 and unflushed rows, with
// nulls, dictionaries and plain strings, time bounds and several predicates.
func TestPredicatesMatchedInPlaceSelectTheRowsOfTheColumnsRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 6))
	start := testNow.Add(-8 * time.Hour)
	var bodies [][]byte
	for b := range 4 {
		rows := make([]map[string]any, 0, 900)
		for i := range 900 {
			r := map[string]any{"TimeGenerated": start.Add(time.Duration(b*900+i) * 7 * time.Second).Format(time.RFC3339Nano)}
			if rng.IntN(8) > 0 && !(b == 1 && i >= 300 && i < 500) { // missing: some rows, and a run of pages
				r["user"] = fmt.Sprintf("user%02d", rng.IntN(40))
				if rng.IntN(100) == 0 {
					r["user"] = "u"
				}
			}
			r["event_id"] = []int{4624, 4625, 4688}[rng.IntN(3)]
			r["msg"] = fmt.Sprintf("Failed password for %d from 10.0.0.%d", rng.Int(), rng.IntN(256)) // plain: too many values
			rows = append(rows, r)
		}
		body, err := json.Marshal(rows)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	cut := start.Add(2000 * 7 * time.Second)
	preds := [][]Predicate{
		{{"user", OpEq, "u"}},
		{{"user", OpEq, "user07"}},
		{{"user", OpEq, "nobody"}},
		{{"user", OpNe, "u"}},
		{{"user", OpHas, "U"}},
		{{"user", OpContains, "er1"}},
		{{"user", OpHasAny, []string{"u", "user03"}}},
		{{"user", OpGe, "user30"}},
		{{"user", OpEq, int64(1)}},
		{{"msg", OpHas, "password"}},
		{{"msg", OpContains, "10.0.0.25"}},
		{{"event_id", OpEq, int64(4625)}},
		{{"user", OpEq, "user07"}, {"event_id", OpEq, int64(4625)}},
		{{"event_id", OpEq, int64(4625)}, {"user", OpEq, "user07"}},
		{{"user", OpHas, "user07"}, {"user", OpNe, "u"}}, // one column twice: read once, not in place
		{{"user", OpEq, "user07"}, {AnyColumn, OpHas, "user07"}},
		{{"user", OpEq, "user07"}, {"msg", OpContains, "1"}},
	}
	for _, layout := range []struct {
		name    string
		version uint16
		flushed int // of the bodies
	}{
		{"paged segments", segmentVersion, 4},
		{"version 2 segments", segAnyBloomVersion, 4},
		{"paged segments and unflushed rows", segmentVersion, 2},
		{"unflushed rows", segmentVersion, 0},
	} {
		dir := t.TempDir()
		st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 1000 })
		st.segVersion, st.pageRows = layout.version, 64
		for i, body := range bodies {
			if i == layout.flushed {
				if err := st.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			mustIngest(t, st, ws, tbl, body)
		}
		if layout.flushed == len(bodies) {
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if layout.flushed > 0 && len(files(t, dir, segExt)) == 0 {
			t.Fatalf("%s: nothing flushed", layout.name)
		}
		for _, ps := range preds {
			for _, from := range []time.Time{{}, cut} {
				var read []string // the predicates' columns, returned: read and evaluated
				for _, p := range ps {
					if p.Column != AnyColumn && !slices.Contains(read, p.Column) {
						read = append(read, p.Column)
					}
				}
				t.Run(fmt.Sprintf("%s/%v/from %v", layout.name, ps, !from.IsZero()), func(t *testing.T) {
					req := ScanRequest{Workspace: ws, Table: tbl, From: from, Predicates: ps}
					want := req
					want.Columns = append([]string{"TimeGenerated"}, read...)
					wantRows, err := scanAll(st, want)
					if err != nil {
						t.Fatal(err)
					}
					got := req
					got.Columns = []string{"TimeGenerated"}
					gotRows, err := scanAll(st, got)
					if err != nil {
						t.Fatal(err)
					}
					counted := req
					counted.RowsOnly = true
					countBatches, err := scanAll(st, counted)
					if err != nil {
						t.Fatal(err)
					}
					var times []string
					for _, r := range rowsOf(wantRows) {
						times = append(times, r[:strings.Index(r, ";")+1])
					}
					slices.Sort(times)
					equalRows(t, rowsOf(gotRows), times)
					if n := countRows(countBatches); n != len(times) {
						t.Fatalf("counted %d rows, the scan that reads the columns %d", n, len(times))
					}
				})
			}
		}
	}
}
