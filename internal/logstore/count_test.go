package logstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// countOnly is the rows a scan for row counts finds, checking that its
// batches carry no columns and that it is not split into a batch per block.
func countOnly(t *testing.T, st *Store, req ScanRequest) int {
	t.Helper()
	n, _, _, _ := countSpan(t, st, req)
	return n
}

// countSpan is countOnly with the span of the rows' times the scan found.
func countSpan(t *testing.T, st *Store, req ScanRequest) (n int, lo, hi int64, ok bool) {
	t.Helper()
	req.RowsOnly = true
	sc, err := st.Scan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for sc.Next() {
		b := sc.Batch()
		if len(b.Columns) != 0 || b.Len <= 0 || b.Len > maxCountBatch {
			t.Fatalf("a batch of %d rows with %d columns", b.Len, len(b.Columns))
		}
		n += b.Len
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	lo, hi, ok = sc.TimeSpan()
	return n, lo, hi, ok
}

func TestRowCountsFromMetadataEqualCountsFromDecoding(t *testing.T) {
	// Rows over three hours, ingested a minute apart, in many segments of
	// blocks of 50 rows, some still unflushed.
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) {
		c.BlockRows = 50
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	base := testNow.Truncate(time.Hour).Add(-3 * time.Hour)
	type row struct {
		at       time.Time
		n        int
		ingested int // which ingest
	}
	var all []row
	const ingests, perIngest = 8, 170
	for k := range ingests {
		var b strings.Builder
		b.WriteString("[")
		for i := range perIngest {
			r := row{at: base.Add(time.Duration((k*perIngest+i)*61) * time.Second % (3 * time.Hour)), n: k*perIngest + i, ingested: k}
			all = append(all, r)
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"TimeGenerated":%q,"N":%d,"S":"s%d"}`, r.at.Format(time.RFC3339Nano), r.n, r.n%7)
		}
		b.WriteString("]")
		mustIngest(t, st, ws, tbl, []byte(b.String()))
		now.Add(int64(time.Minute))
		if k < ingests-2 { // the last two stay in the WAL
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	ingestedAt := func(k int) time.Time { return testNow.Add(time.Duration(k) * time.Minute) }
	cases := []struct {
		name string
		req  ScanRequest
		want func(r row) bool
	}{
		{"every row", ScanRequest{}, func(row) bool { return true }},
		{"a range cutting segments and blocks", ScanRequest{From: base.Add(37 * time.Minute), To: base.Add(2*time.Hour + 3*time.Second)},
			func(r row) bool {
				return !r.at.Before(base.Add(37*time.Minute)) && r.at.Before(base.Add(2*time.Hour+3*time.Second))
			}},
		{"a range of whole hours", ScanRequest{From: base.Add(time.Hour), To: base.Add(2 * time.Hour)},
			func(r row) bool { return !r.at.Before(base.Add(time.Hour)) && r.at.Before(base.Add(2*time.Hour)) }},
		{"a range outside the rows", ScanRequest{From: base.Add(-time.Hour), To: base}, func(row) bool { return false }},
		{"TimeGenerated above a constant", ScanRequest{Predicates: []Predicate{{timeColumn, OpGt, base.Add(100 * time.Minute)}}},
			func(r row) bool { return r.at.After(base.Add(100 * time.Minute)) }},
		{"TimeGenerated at most a constant, within a range", ScanRequest{From: base.Add(10 * time.Minute),
			Predicates: []Predicate{{timeColumn, OpLe, base.Add(50 * time.Minute)}}},
			func(r row) bool {
				return !r.at.Before(base.Add(10*time.Minute)) && !r.at.After(base.Add(50*time.Minute))
			}},
		{"TimeGenerated equal to a row's", ScanRequest{Predicates: []Predicate{{timeColumn, OpEq, all[3].at}}},
			func(r row) bool { return r.at.Equal(all[3].at) }},
		{"TimeGenerated bounds that contradict", ScanRequest{Predicates: []Predicate{{timeColumn, OpGt, base.Add(time.Hour)}, {timeColumn, OpLt, base}}},
			func(row) bool { return false }},
		{"TimeGenerated unequal to a row's", ScanRequest{Predicates: []Predicate{{timeColumn, OpNe, all[3].at}}},
			func(r row) bool { return !r.at.Equal(all[3].at) }},
		{"a predicate", ScanRequest{Predicates: []Predicate{{"N", OpGe, 600}}}, func(r row) bool { return r.n >= 600 }},
		{"a string predicate in a range", ScanRequest{From: base.Add(20 * time.Minute), Predicates: []Predicate{{"S", OpEq, "s3"}}},
			func(r row) bool { return r.n%7 == 3 && !r.at.Before(base.Add(20*time.Minute)) }},
		{"a predicate no row meets", ScanRequest{Predicates: []Predicate{{"N", OpLt, 0}}}, func(row) bool { return false }},
		{"ingested after a flushed ingest", ScanRequest{IngestedAfter: ingestedAt(2)}, func(r row) bool { return r.ingested > 2 }},
		{"ingested up to a flushed ingest", ScanRequest{IngestedUpTo: ingestedAt(4)}, func(r row) bool { return r.ingested <= 4 }},
		{"ingested after the flushed ones", ScanRequest{IngestedAfter: ingestedAt(ingests - 3)}, func(r row) bool { return r.ingested > ingests-3 }},
		{"ingestion bounds, a range and a predicate", ScanRequest{IngestedAfter: ingestedAt(1), IngestedUpTo: ingestedAt(6),
			From: base.Add(30 * time.Minute), Predicates: []Predicate{{"N", OpLt, 1000}}},
			func(r row) bool {
				return r.ingested > 1 && r.ingested <= 6 && !r.at.Before(base.Add(30*time.Minute)) && r.n < 1000
			}},
	}
	// Merged segments hold the same rows, named by the same first and last times.
	for _, stage := range []string{"flushed", "merged"} {
		if stage == "merged" {
			if n, err := st.Compact(context.Background(), ws, tbl); err != nil || n == 0 {
				t.Fatalf("merged %d segments: %v", n, err)
			}
		}
		for _, c := range cases {
			t.Run(stage+"/"+c.name, func(t *testing.T) {
				c.req.Workspace, c.req.Table = ws, tbl
				want := 0
				wantLo, wantHi := int64(math.MaxInt64), int64(math.MinInt64)
				for _, r := range all {
					if c.want(r) {
						want++
						wantLo, wantHi = min(wantLo, r.at.UnixNano()), max(wantHi, r.at.UnixNano())
					}
				}
				decoding := c.req
				decoding.Columns = []string{timeColumn}
				decoded, err := scanAll(st, decoding)
				if err != nil {
					t.Fatal(err)
				}
				got, lo, hi, spanned := countSpan(t, st, c.req)
				if got != want || countRows(decoded) != want {
					t.Fatalf("%d rows counted, %d decoded; want %d", got, countRows(decoded), want)
				}
				// The span of the times is known where every predicate is one on
				// TimeGenerated, which the time range holds.
				timeOnly := !slices.ContainsFunc(c.req.Predicates, func(p Predicate) bool { return p.Column != timeColumn || p.Op == OpNe })
				switch {
				case !timeOnly || want == 0:
					if spanned {
						t.Fatalf("a span [%d, %d] of no rows or with predicates", lo, hi)
					}
				case !spanned || lo != wantLo || hi != wantHi:
					t.Fatalf("times span [%d, %d] (%v); want [%d, %d]", lo, hi, spanned, wantLo, wantHi)
				}
			})
		}
	}
}

func TestRowCountsDecryptOnlyWhatTheBoundsCut(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 100 })
	// 300 rows over 300 seconds of one hour: three blocks of 100 s each.
	var rows []string
	base := testNow.Truncate(time.Hour)
	for i := range 300 {
		rows = append(rows, fmt.Sprintf(`{"TimeGenerated":"%s","EventID":%d,"Computer":"host%d"}`,
			base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 4000+i, i))
	}
	mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		req       ScanRequest
		rows      int
		decrypted int64 // AEAD opens, cold: 1 for the index + one per column per block read
	}{
		{"the whole segment, from the manifest", ScanRequest{}, 300, 0},
		{"a range holding the segment", ScanRequest{From: base, To: base.Add(time.Hour)}, 300, 0},
		{"whole blocks, from the index", ScanRequest{From: base.Add(100 * time.Second)}, 200, 1},
		{"a range cutting two blocks", ScanRequest{From: base.Add(50 * time.Second), To: base.Add(250 * time.Second)}, 200, 1 + 2},
		{"a predicate reads its column only", ScanRequest{Predicates: []Predicate{{"EventID", OpGe, 4150}}}, 150, 1 + 2},
		{"a predicate and a cut block", ScanRequest{From: base.Add(50 * time.Second), Predicates: []Predicate{{"EventID", OpLt, 4120}}}, 70, 1 + 2 + 1},
		{"a predicate on TimeGenerated is a range", ScanRequest{Predicates: []Predicate{{timeColumn, OpGe, base.Add(200 * time.Second)}}}, 100, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Workspace, c.req.Table = ws, tbl
			st.indexes.drop()
			keys.ResetOpens()
			if got := countOnly(t, st, c.req); got != c.rows || keys.Opens() != c.decrypted {
				t.Fatalf("%d rows, %d decryptions; want %d rows, %d decryptions", got, keys.Opens(), c.rows, c.decrypted)
			}
		})
	}
}

func TestRowCountsAskForNoColumns(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, []byte(`[{"A":1}]`))
	_, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true, Columns: []string{"A"}})
	if !errors.Is(err, ErrInvalidScan) {
		t.Fatalf("got %v, want ErrInvalidScan", err)
	}
}

func TestRowCountsFindDamageTyped(t *testing.T) {
	base := testNow.Truncate(time.Hour)
	setup := func(t *testing.T) (*Store, string) {
		dir := t.TempDir()
		st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 10 })
		var rows []string
		for i := range 100 {
			rows = append(rows, fmt.Sprintf(`{"TimeGenerated":"%s","N":%d}`, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i))
		}
		mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		segs := files(t, dir, segExt)
		if len(segs) != 1 {
			t.Fatalf("%d segments", len(segs))
		}
		return st, segs[0]
	}
	cases := []struct {
		name    string
		damage  func(t *testing.T, seg string)
		req     ScanRequest
		problem Problem
	}{
		// The index is read where the bounds cut the segment.
		{"a tampered index", flipIndexByte, ScanRequest{From: base.Add(5 * time.Second)}, ProblemAuthentication},
		// A count from the manifest still finds a lost or cut segment.
		{"a deleted segment", func(t *testing.T, seg string) {
			if err := os.Remove(seg); err != nil {
				t.Fatal(err)
			}
		}, ScanRequest{}, ProblemMissing},
		{"a truncated segment", func(t *testing.T, seg string) {
			if err := os.Truncate(seg, 100); err != nil {
				t.Fatal(err)
			}
		}, ScanRequest{}, ProblemTruncated},
		{"a segment grown past its listed size", func(t *testing.T, seg string) {
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte{0}); err != nil {
				t.Fatal(err)
			}
		}, ScanRequest{}, ProblemAuthentication},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, seg := setup(t)
			c.damage(t, seg)
			st.indexes.drop()
			c.req.Workspace, c.req.Table, c.req.RowsOnly = ws, tbl, true
			_, err := scanAll(st, c.req)
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Problem != c.problem || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want an integrity error (%s)", err, c.problem)
			}
		})
	}
}

// flipIndexByte flips a bit inside a segment's sealed index.
func flipIndexByte(t *testing.T, seg string) {
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	ioff := binary.BigEndian.Uint64(b[len(b)-footerSize:])
	b[ioff+20] ^= 1
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSegmentNamesReadBackAsWritten(t *testing.T) {
	for _, n := range []segName{
		{minT: 0, maxT: 0, walSeq: 0, part: 0},
		{minT: 1773145800000000000, maxT: 1773149399999999999, walSeq: 0x2a, part: 3},
		{minT: -5, maxT: 7, walSeq: math.MaxUint64, part: 12},
		{minT: math.MinInt64, maxT: math.MaxInt64, walSeq: 1 << 60, part: math.MaxInt32},
	} {
		s := n.String()
		if want := fmt.Sprintf("%d_%d_%016x_%d%s", n.minT, n.maxT, n.walSeq, n.part, segExt); s != want {
			t.Fatalf("%+v is named %q, want %q", n, s, want)
		}
		if got, ok := parseSegName(s); !ok || got != n {
			t.Fatalf("%q parses as %+v, %v", s, got, ok)
		}
	}
}

func TestScansOfContradictingTimeBoundsHoldNoSegments(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, idRows(0, 10, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, rowsOnly := range []bool{false, true} {
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, RowsOnly: rowsOnly, Predicates: []Predicate{
			{timeColumn, OpGt, testNow}, {timeColumn, OpLt, testNow.Add(-time.Hour)}}})
		if err != nil || countRows(got) != 0 {
			t.Fatalf("rowsOnly=%v: %d rows, %v", rowsOnly, countRows(got), err)
		}
	}
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.merge.holds) != 0 {
		t.Fatalf("closed scans still hold segments: %v", tb.merge.holds)
	}
}

// TestRowCountsOfAStringConstantOverOtherValuesNeedTheRows checks that a
// count whose string constant meets a block of longs (a column that turned
// to strings later) fails typed rather than counting none of its rows,
// which the engine reads as text and may match; over strings alone it
// counts what the scan of the rows finds.
func TestRowCountsOfAStringConstantOverOtherValuesNeedTheRows(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 10 })
	at := testNow.Add(-time.Hour).Format(time.RFC3339)
	mustIngest(t, st, "ws", "T", []byte(`[{"TimeGenerated":"`+at+`","M":5,"S":"a"},{"TimeGenerated":"`+at+`","M":7,"S":"b"}]`))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, "ws", "T", []byte(`[{"TimeGenerated":"`+at+`","M":"5","S":"a"}]`))
	req := ScanRequest{Workspace: "ws", Table: "T", RowsOnly: true, Predicates: []Predicate{{"M", OpEq, "5"}}}
	sc, err := st.Scan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for sc.Next() {
	}
	if err := sc.Err(); !errors.Is(err, ErrCountNeedsRows) {
		t.Fatalf("a count of M == \"5\" over a block of longs: %v, want ErrCountNeedsRows", err)
	}
	sc.Close()
	for _, p := range []Predicate{{"S", OpEq, "a"}, {"S", OpHas, "B"}, {"M", OpEq, 5}} {
		scan := ScanRequest{Workspace: "ws", Table: "T", Predicates: []Predicate{p}}
		batches, err := scanAll(st, scan)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := countOnly(t, st, scan), countRows(batches); got != want {
			t.Errorf("%v: counted %d, the scan of the rows found %d", p, got, want)
		}
	}
}
