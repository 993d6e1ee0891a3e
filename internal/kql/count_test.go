package kql

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

// rowCounter counts a table's rows within the time bounds and matching the
// predicates itself, as a store answering from its indexes does, and
// records what it was asked.
// readAndCounted runs query with opts on the fixture twice: on a source
// that can only read rows (want) and on one that also counts them (got,
// with src, which says what it was asked to count).
func readAndCounted(t *testing.T, query string, opts Options) (want, got *Result, src *rowCounter) {
	t.Helper()
	plain := fixtureSource(t)
	q, err := Compile(query, plain.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if want, err = q.Run(context.Background(), plain, opts); err != nil {
		t.Fatal(err)
	}
	src = &rowCounter{MemSource: fixtureSource(t)}
	if got, err = q.Run(context.Background(), src, opts); err != nil {
		t.Fatal(err)
	}
	return want, got, src
}

type rowCounter struct {
	*MemSource
	asked []ScanRequest
}

func (s *rowCounter) CountRows(_ context.Context, req ScanRequest) (RowCount, bool, error) {
	s.asked = append(s.asked, req)
	t := s.tables[req.Table]
	var rc RowCount
	for r, v := range t.Columns[0] { // TimeGenerated
		at := v.(time.Time)
		if (req.From.IsZero() || !at.Before(req.From)) && (req.To.IsZero() || !at.After(req.To)) && matchAll(t, r, req.Predicates) {
			rc.Rows++
			if rc.MinTime.IsZero() || at.Before(rc.MinTime) {
				rc.MinTime = at
			}
			if rc.MaxTime.IsZero() || at.After(rc.MaxTime) {
				rc.MaxTime = at
			}
		}
	}
	return rc, true, nil
}

// matchAll reports whether row r of t matches every predicate, as the
// counts' predicates are defined (see RowCounter): a null never matches.
func matchAll(t *MemTable, r int, preds []Predicate) bool {
	for _, p := range preds {
		if p.Column == AnyColumn {
			if !slices.ContainsFunc(t.Columns, func(col []any) bool { return hasTerm(toString(col[r]), p.Value.(string), false) }) {
				return false
			}
			continue
		}
		i := slices.IndexFunc(t.Schema.Columns, func(c Column) bool { return c.Name == p.Column })
		v := t.Columns[i][r]
		if v == nil {
			return false
		}
		var ok bool
		switch k := p.Value.(type) {
		case string:
			ok = p.Op == PredEq && v.(string) == k || p.Op == PredHas && hasTerm(v.(string), k, false)
		case int64:
			c := cmp.Compare(v.(int64), k)
			ok = map[PredOp]bool{PredEq: c == 0, PredLt: c < 0, PredLe: c <= 0, PredGt: c > 0, PredGe: c >= 0}[p.Op]
		}
		if !ok {
			return false
		}
	}
	return true
}

func TestCountsOfTimeBoundedScansComeFromTheSourceAndMatchReadingTheRows(t *testing.T) {
	cases := []struct {
		name, query string
		timespan    time.Duration
		counted     bool // answered by CountRows
	}{
		{"a bare count", `Events | count`, 0, true},
		{"a bare count within the run's timespan", `Events | count`, 3 * time.Hour, true},
		{"after an instant", `Events | where TimeGenerated > datetime(2026-11-26T09:00:00Z) | count`, 0, true},
		{"at or after, and before", `Events | where TimeGenerated >= datetime(2026-11-26T08:30:00Z) and TimeGenerated < datetime(2026-11-26T10:00:00Z) | count`, 0, true},
		{"the constant first", `Events | where datetime(2026-11-26T09:00:00Z) >= TimeGenerated | count`, 0, true},
		{"between", `Events | where TimeGenerated between (datetime(2026-11-26T08:30:00Z) .. datetime(2026-11-26T09:15:00Z)) | count`, 0, true},
		{"between and a timespan", `Events | where TimeGenerated between (datetime(2026-11-26T08:30:00Z) .. 1h) | count`, 0, true},
		{"equal to an instant", `Events | where TimeGenerated == datetime(2026-11-26T09:15:00Z) | count`, 0, true},
		{"equal, after a later bound", `Events | where TimeGenerated > datetime(2026-11-26T10:00:00Z) and TimeGenerated == datetime(2026-11-26T09:15:00Z) | count`, 0, true},
		{"two where clauses", `Events | where TimeGenerated > datetime(2026-11-26T08:00:00Z) | where TimeGenerated <= datetime(2026-11-26T10:00:00Z) | count`, 0, true},
		{"bounds that contradict", `Events | where TimeGenerated > datetime(2026-11-26T10:00:00Z) and TimeGenerated < datetime(2026-11-26T09:00:00Z) | count`, 0, true},
		{"a bound and a string", `Events | where TimeGenerated > datetime(2026-11-26T08:00:00Z) and Computer == "db01" | count`, 0, true},
		{"has of ASCII", `Events | where Computer has "WEB01" | count`, 0, true},
		{"a long", `Events | where Count >= 2 and Count < 6 | count`, 0, true},
		{"an int between", `Events | where EventID between (4625 .. 4688) | count`, 0, true},
		{"the long first", `Events | where 4625 == EventID | where Account == "bob" | count`, 0, true},
		{"search a term", `Logs | search "bob" | count`, 0, true},
		{"search two terms", `Logs | search "password" and "10.0.0.5" | count`, 0, true},
		{"search a term and a bound", `Logs | where TimeGenerated > datetime(2026-11-26T07:02:00Z) | search "password" | count`, 0, true},
		{"any column has", `Events | where * has "bob" | count`, 0, true},
		{"any column has, and a string", `Events | where * has "web01" and Account == "bob" | count`, 0, true},
		{"search a term prefix", `Logs | search "pass*" | count`, 0, false},
		{"search a substring", `Logs | search "*asswor*" | count`, 0, false},
		{"search, case-sensitive", `Logs | search kind=case_sensitive "bob" | count`, 0, false},
		{"search a term or another", `Logs | search "bob" or "carol" | count`, 0, false},
		{"search a term and a comparison", `Logs | search "bob" and Host == "db01" | count`, 0, false},
		{"search other letters", `Logs | search "bøb" | count`, 0, false},
		{"any column contains", `Events | where * contains "ob" | count`, 0, false},
		{"any column has_cs", `Events | where * has_cs "bob" | count`, 0, false},
		{"search after a projection", `Logs | project Msg | search "bob" | count`, 0, false},
		{"has of other letters", `Events | where Computer has "wéb01" | count`, 0, false},
		{"=~", `Events | where Computer =~ "web01" | count`, 0, false},
		{"has_cs", `Events | where Computer has_cs "web01" | count`, 0, false},
		{"contains", `Events | where Computer contains "eb" | count`, 0, false},
		{"unequal to a string", `Events | where Account != "bob" | count`, 0, false},
		{"the empty string", `Events | where Account == "" | count`, 0, false},
		{"has the empty string", `Events | where Account has "" | count`, 0, false},
		{"a long and a real", `Events | where Count > 2.5 | count`, 0, false},
		{"unequal to a long", `Events | where Count != 2 | count`, 0, false},
		{"a real column", `Events | where Score > 1 | count`, 0, false},
		{"in", `Events | where Account in ("bob", "carol") | count`, 0, false},
		{"an exact predicate and another", `Events | where Account == "bob" and Ok | count`, 0, false},
		{"an exact predicate or another", `Events | where Account == "bob" or Count == 1 | count`, 0, false},
		{"unequal to an instant", `Events | where TimeGenerated != datetime(2026-11-26T09:15:00Z) | count`, 0, false},
		{"either of two bounds", `Events | where TimeGenerated < datetime(2026-11-26T08:30:00Z) or TimeGenerated > datetime(2026-11-26T10:00:00Z) | count`, 0, false},
		{"a bound on a computed column", `Events | extend T = TimeGenerated | where T > datetime(2026-11-26T09:00:00Z) | count`, 0, false},
		{"after a projection", `Events | project Computer | count`, 0, false},
		{"after take", `Events | take 2 | count`, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{Now: ts("2026-11-26T12:00:00Z"), Timespan: c.timespan}
			want, got, src := readAndCounted(t, c.query, opts)
			if g, w := got.Tables[0].Rows[0][0], want.Tables[0].Rows[0][0]; g != w {
				t.Fatalf("counted %v, read %v", g, w)
			}
			if (len(src.asked) > 0) != c.counted {
				t.Fatalf("asked the source to count %d times, want counted=%v", len(src.asked), c.counted)
			}
			for _, r := range src.asked {
				if len(r.Columns) > 0 || slices.ContainsFunc(r.Predicates, func(p Predicate) bool { return p.Column == TimeColumn }) {
					t.Fatalf("asked to count with columns %v and predicates %v", r.Columns, r.Predicates)
				}
			}
		})
	}
}

func TestTimeSpansOfScansComeFromTheSourceAndMatchReadingTheRows(t *testing.T) {
	cases := []struct {
		name, query string
		counted     bool // answered by CountRows
	}{
		{"min and max", `Events | summarize min(TimeGenerated), max(TimeGenerated)`, true},
		{"named, with count", `Events | summarize First = min(TimeGenerated), n = count(), Last = max(TimeGenerated)`, true},
		{"within bounds", `Events | where TimeGenerated between (datetime(2026-11-26T08:15:00Z) .. datetime(2026-11-26T10:00:00Z)) | summarize max(TimeGenerated), min(TimeGenerated)`, true},
		{"count alone", `Events | summarize count()`, true},
		{"no row in the bounds", `Events | where TimeGenerated > datetime(2026-12-01T00:00:00Z) | summarize min(TimeGenerated), count()`, true},
		{"by a group", `Events | summarize min(TimeGenerated) by Computer`, false},
		{"of another column", `Events | summarize min(TimeGenerated), max(Score)`, false},
		{"another aggregate", `Events | summarize min(TimeGenerated), dcount(Computer)`, false},
		{"count(*)", `Events | summarize count(*), max(TimeGenerated)`, false},
		{"after a filter on another column", `Events | where Computer == "db01" | summarize min(TimeGenerated)`, false},
		{"count after a filter on another column", `Events | where Computer == "db01" | summarize count()`, true},
		{"count with a name after a filter on a long", `Events | where Count > 1 | summarize n = count()`, true},
		{"of a renamed time", `Events | extend T = TimeGenerated | summarize min(T)`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{Now: ts("2026-11-26T12:00:00Z")}
			want, got, src := readAndCounted(t, c.query, opts)
			if !reflect.DeepEqual(got.Tables[0].Rows, want.Tables[0].Rows) || !reflect.DeepEqual(got.Tables[0].Columns, want.Tables[0].Columns) {
				t.Fatalf("from the count %v %v, read %v %v", got.Tables[0].Columns, got.Tables[0].Rows, want.Tables[0].Columns, want.Tables[0].Rows)
			}
			if (len(src.asked) > 0) != c.counted {
				t.Fatalf("asked the source to count %d times, want counted=%v", len(src.asked), c.counted)
			}
		})
	}
}
