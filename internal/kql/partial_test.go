package kql

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// TestPartialResultsKeepTheFirstRowsWithinTheLimit holds the Logs query API's answer to a
// result over its rows: the first rows within the limit, over all the result's tables, and
// the limit named in Result.Partial, where a run without PartialResults fails.
func TestPartialResultsKeepTheFirstRowsWithinTheLimit(t *testing.T) {
	src := fixtureSource(t)
	whole := runOn(t, src, src.Catalog(), `Events; Events`, Options{})
	n := len(whole.Tables[0].Rows)
	for _, tc := range []struct {
		name     string
		query    string
		maxRows  int64
		want     []int // rows per table
		wantPart bool
	}{
		{"a table over the limit keeps its first rows", `Events`, 4, []int{4}, true},
		{"a table at the limit is whole", `Events`, int64(n), []int{n}, false},
		{"the limit counts the rows of every table", `Events; Events`, int64(n + 2), []int{n, 2}, true},
		{"the tables after the cut hold none", `Events; Events`, 3, []int{3, 0}, true},
		{"two tables within the limit are whole", `Events; Events`, int64(2 * n), []int{n, n}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runOn(t, &MemSource{tables: src.tables, order: src.order, BatchSize: 2}, src.Catalog(), tc.query,
				Options{MaxRows: tc.maxRows, PartialResults: true})
			var got []int
			for i, tb := range res.Tables {
				got = append(got, len(tb.Rows))
				if !reflect.DeepEqual(tb.Rows, whole.Tables[i].Rows[:len(tb.Rows)]) {
					t.Errorf("table %d holds rows other than the result's first: %v", i, tb.Rows)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows per table = %v, want %v", got, tc.want)
			}
			if (res.Partial != nil) != tc.wantPart {
				t.Fatalf("Partial = %v, want partial %v", res.Partial, tc.wantPart)
			}
			if tc.wantPart && (res.Partial.Limit != tc.maxRows || !errors.Is(res.Partial, ErrTooManyRows)) {
				t.Errorf("Partial = %+v, want ErrTooManyRows at %d", res.Partial, tc.maxRows)
			}
			q, _ := Compile(tc.query, src.Catalog())
			_, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxRows: tc.maxRows})
			if tc.wantPart != errors.Is(err, ErrTooManyRows) {
				t.Errorf("without PartialResults: err = %v, want the row limit refused: %v", err, tc.wantPart)
			}
		})
	}
}

// TestAResultCutAtTheLimitStopsReading: the rows past the limit are never read.
func TestAResultCutAtTheLimitStopsReading(t *testing.T) {
	src := fixtureSource(t)
	all := runOn(t, &MemSource{tables: src.tables, order: src.order, BatchSize: 1}, src.Catalog(), `Events`, Options{})
	cut := runOn(t, &MemSource{tables: src.tables, order: src.order, BatchSize: 1}, src.Catalog(), `Events`, Options{MaxRows: 2, PartialResults: true})
	if cut.Stats.RowsScanned >= all.Stats.RowsScanned {
		t.Fatalf("a result cut at 2 rows read %d rows, as many as the whole result's %d", cut.Stats.RowsScanned, all.Stats.RowsScanned)
	}
}

// TestTableJSONWithinABoundKeepsWholeRows: MarshalJSONWithin writes the first rows whose JSON
// fits the bound, each whole, and the same bytes as MarshalJSON of those rows.
func TestTableJSONWithinABoundKeepsWholeRows(t *testing.T) {
	src := fixtureSource(t)
	tb := runOn(t, src, src.Catalog(), `Events`, Options{}).Tables[0]
	full, rows, size, err := tb.MarshalJSONWithin(-1)
	if err != nil || rows != len(tb.Rows) {
		t.Fatalf("unbounded: %d rows, %v", rows, err)
	}
	if want, _ := tb.MarshalJSON(); string(full) != string(want) {
		t.Fatalf("unbounded differs from MarshalJSON:\n%s\n%s", full, want)
	}
	for bound := 0; bound <= size; bound++ {
		b, rows, used, err := tb.MarshalJSONWithin(bound)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Table{Name: tb.Name, Columns: tb.Columns, Rows: tb.Rows[:rows]}.MarshalJSON()
		if string(b) != string(want) || used > bound {
			t.Fatalf("bound %d: %d rows in %d bytes:\n%s\nwant\n%s", bound, rows, used, b, want)
		}
		if rows < len(tb.Rows) {
			next, _, _, _ := Table{Rows: tb.Rows[rows : rows+1]}.MarshalJSONWithin(-1)
			if rowLen := len(next) - len(`{"name":"","columns":[],"rows":[]}`); used+rowLen <= bound {
				t.Fatalf("bound %d: stopped at %d rows (%d bytes) though the next row's %d bytes fit", bound, rows, used, rowLen)
			}
		}
	}
}
