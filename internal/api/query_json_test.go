package api

import (
	"bytes"
	"fmt"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kql"
)

// richResult holds every column type, nulls, nested dynamic values, unicode, characters
// JSON escapes, and numbers at the edges of their types.
func richResult(rows int) *kql.Result {
	cols := []kql.Column{
		{Name: "s", Type: kql.TypeString}, {Name: "i", Type: kql.TypeInt}, {Name: "l", Type: kql.TypeLong},
		{Name: "r", Type: kql.TypeReal}, {Name: "b", Type: kql.TypeBool}, {Name: "t", Type: kql.TypeDatetime},
		{Name: "ts", Type: kql.TypeTimespan}, {Name: "d", Type: kql.TypeDynamic}, {Name: "g", Type: kql.TypeGUID},
	}
	strs := []string{"", "plain", "ünïcödé 日本語 🙂", "<script>&amp;</script>", "line\nbreak\t\"quoted\" \\", "\u2028\u2029", "bad utf-8 \xff\xfe", "\x00\x1f"}
	reals := []float64{0, -0.0, 1.5, 1e300, -1e-300, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 123456789012345680}
	longs := []int64{0, -1, math.MaxInt64, math.MinInt64, 1 << 53, 1<<53 + 1}
	dyns := []any{
		map[string]any{"a": []any{1.0, "x", nil, true, map[string]any{"<k>": "ü", "n": math.NaN()}}, "z": int64(math.MaxInt64)},
		[]any{}, map[string]any{}, "bare", 3.25, nil,
	}
	t0 := time.Date(2026, 12, 6, 13, 0, 0, 123456700, time.UTC)
	var out [][]any
	for n := range rows {
		row := []any{strs[n%len(strs)], int64(n) - 2, longs[n%len(longs)], reals[n%len(reals)], n%3 == 0,
			t0.Add(time.Duration(n) * time.Second), time.Duration(n) * 1234567 * time.Microsecond,
			dyns[n%len(dyns)], fmt.Sprintf("%08x-0000-4000-8000-000000000000", n)}
		if n%5 == 4 { // a row of nulls in every type
			for j := range row {
				row[j] = nil
			}
		}
		out = append(out, row)
	}
	return &kql.Result{Tables: []kql.Table{
		{Name: "PrimaryResult", Columns: cols, Rows: out},
		{Name: "Empty", Columns: cols},
		{Name: "NoColumns"},
	}, Visualization: &kql.Visualization{Visualization: "barchart", Properties: map[string]string{"title": "<ü>", "kind": "stacked"}}}
}

func TestQueryAnswerBytesAreWhatTheEncoderWrote(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *kql.Result
	}{
		{"every type, nulls, dynamic, unicode and big numbers", richResult(60)},
		{"no render hint", &kql.Result{Tables: richResult(7).Tables}},
		{"no tables", &kql.Result{}},
		{"no rows", &kql.Result{Tables: []kql.Table{{Name: "PrimaryResult", Columns: []kql.Column{{Name: "x", Type: kql.TypeLong}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeJSON(rec, 200, tc.res)
			got, _, err := answerJSON(tc.res, DefaultMaxQueryResultBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, rec.Body.Bytes()) {
				t.Fatalf("answer differs from json.Encoder's:\n got %s\nwant %s", got, rec.Body.Bytes())
			}
		})
	}
}

// BenchmarkQueryAnswerJSON writes an answer of 2,000 rows as the query API does: b/encoder is
// json.Encoder over the result (what the API did), b/once the tables' JSON written once.
func BenchmarkQueryAnswerJSON(b *testing.B) {
	res := richResult(2000)
	b.Run("encoder", func(b *testing.B) {
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, res)
		}
	})
	b.Run("once", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := answerJSON(res, DefaultMaxQueryResultBytes); err != nil {
				b.Fatal(err)
			}
		}
	})
}
