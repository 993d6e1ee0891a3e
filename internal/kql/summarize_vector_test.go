package kql

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// vectorSource holds one table as typed vectors, in batches built once: its scans hand
// them out as they are, so a query's allocations are the engine's own.
type vectorSource struct {
	schema  TableSchema
	batches []*Batch // every column of the schema, in its order
}

func (s *vectorSource) Tables(context.Context) ([]TableSchema, error) {
	return []TableSchema{s.schema}, nil
}

func (s *vectorSource) Scan(_ context.Context, req ScanRequest) (BatchIterator, error) {
	idx := make([]int, len(req.Columns))
	for i, name := range req.Columns {
		idx[i] = -1
		for j, c := range s.schema.Columns {
			if c.Name == name {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("no column %s", name)
		}
	}
	out := make([]*Batch, len(s.batches))
	for i, b := range s.batches {
		out[i] = &Batch{Len: b.Len, Columns: make([][]any, len(idx)), Vectors: make([]*Vector, len(idx))}
		for k, j := range idx {
			out[i].Vectors[k] = b.Vectors[j]
		}
	}
	return &sliceBatches{batches: out}, nil
}

type sliceBatches struct{ batches []*Batch }

func (it *sliceBatches) Next(context.Context) (*Batch, error) {
	if len(it.batches) == 0 {
		return nil, io.EOF
	}
	b := it.batches[0]
	it.batches = it.batches[1:]
	return b, nil
}

func (it *sliceBatches) Close() error { return nil }

// binTestTables are the same rows as a MemSource (boxed) and as a vectorSource: TimeGenerated
// every step back from fixtureNow (with odd, every 50th before 1970 instead: Kusto rounds
// those in ticks too), W a datetime with nulls, L a long with nulls and negatives, S a
// string.
func binTestTables(t testing.TB, rows, batch int, step time.Duration, odd bool) (*MemSource, *vectorSource) {
	cols := []Column{{"TimeGenerated", TypeDatetime}, {"W", TypeDatetime}, {"L", TypeLong}, {"S", TypeString}}
	tbl := NewMemTable("T", cols...)
	vs := &vectorSource{schema: TableSchema{Name: "T", Columns: cols}}
	for lo := 0; lo < rows; lo += batch {
		n := min(batch, rows-lo)
		b := &Batch{Len: n, Vectors: []*Vector{
			{Type: TypeDatetime, Ints: make([]int64, n)},
			{Type: TypeDatetime, Valid: make([]bool, n), Ints: make([]int64, n)},
			{Type: TypeLong, Valid: make([]bool, n), Ints: make([]int64, n)},
			{Type: TypeString, Strings: make([]string, n)},
		}}
		for r := range n {
			i := lo + r
			at := fixtureNow.Add(-time.Duration(i) * step)
			if odd && i%50 == 49 {
				at = time.Unix(0, -int64(i)*int64(time.Hour)-333).UTC()
			}
			var w, l any
			if i%6 != 0 {
				w = at.Add(time.Duration(i%5) * 24 * time.Hour)
				b.Vectors[1].Valid[r], b.Vectors[1].Ints[r] = true, w.(time.Time).UnixNano()
			}
			if i%7 != 0 {
				l = int64(i%23 - 11)
				b.Vectors[2].Valid[r], b.Vectors[2].Ints[r] = true, l.(int64)
			}
			s := fmt.Sprintf("v%d", i%3)
			b.Vectors[0].Ints[r], b.Vectors[3].Strings[r] = at.UnixNano(), s
			if err := tbl.Append(at, w, l, s); err != nil {
				t.Fatal(err)
			}
		}
		vs.batches = append(vs.batches, b)
	}
	boxed := NewMemSource(tbl)
	boxed.BatchSize = batch
	return boxed, vs
}

// Grouping by bin() of a column reads the vectors unboxed (vecInt) and gives the row path's
// groups, in its order, with nulls, several keys, other aggregates, and bin sizes the
// unboxed form leaves to the rows.
func TestGroupByBinOnVectorsEqualsTheRowPath(t *testing.T) {
	boxed, vectors := binTestTables(t, 3000, 256, 7*time.Minute+13*time.Second+17, true)
	typed := typedSource{boxed} // some batches boxed, some typed
	cat := boxed.Catalog()
	for _, q := range []string{
		`T | summarize count() by bin(TimeGenerated, 1h)`,
		`T | summarize count() by bin(TimeGenerated, 7d)`,
		`T | summarize count() by bin(TimeGenerated, 1tick)`,
		`T | summarize count() by floor(TimeGenerated, 90m)`,
		`T | summarize count() by bin(W, 1d)`,
		`T | summarize n = count(), sum(L), max(TimeGenerated) by bin(TimeGenerated, 6h)`,
		`T | summarize count() by bin(L, 4)`,
		`T | summarize count() by b = bin(L, 1)`,
		`T | summarize count() by bin(TimeGenerated, 1d), S`,
		`T | summarize count() by S, bin(W, 12h), bin(L, 5)`,
		`T | summarize count() by bin(TimeGenerated, 0s)`, // every key null, as binFn's
		`T | summarize count() by bin(TimeGenerated, 1tick / 2)`,
		`T | summarize count() by bin(L, 0)`,
		`T | summarize count() by bin(L, -2)`,
		`T | where S == "v1" | summarize count() by bin(TimeGenerated, 1h)`,
		`T | summarize dcount(S) by bin(TimeGenerated, 2h) | order by TimeGenerated asc`,
	} {
		// project leaves no columnar path: the reference is the row path
		rowPath := strings.Replace(q, "T |", "T | project TimeGenerated, W, L, S |", 1)
		want := fmt.Sprint(runOn(t, boxed, cat, rowPath, Options{}).Tables[0].Rows)
		for name, src := range map[string]Source{"vectors": vectors, "typed and boxed": typed, "boxed": boxed} {
			if got := fmt.Sprint(runOn(t, src, cat, q, Options{}).Tables[0].Rows); got != want {
				t.Errorf("%s:\n %s: %.400s\n by row: %.400s", q, name, got, want)
			}
		}
	}
}

// A count by bin(TimeGenerated, 1h) over typed vectors allocates per group and per batch,
// not per row.
func TestGroupByBinOnVectorsAllocatesNoValuePerRow(t *testing.T) {
	const rows, batch = 20_000, 4096
	vectors := &vectorSource{schema: TableSchema{Name: "T", Columns: []Column{{"TimeGenerated", TypeDatetime}}}}
	for lo := 0; lo < rows; lo += batch {
		v := &Vector{Type: TypeDatetime, Ints: make([]int64, min(batch, rows-lo))}
		for r := range v.Ints {
			v.Ints[r] = fixtureNow.Add(-time.Duration(lo+r) * 10 * time.Second).UnixNano() // 56 hours
		}
		vectors.batches = append(vectors.batches, &Batch{Len: len(v.Ints), Vectors: []*Vector{v}})
	}
	q, err := Compile(`T | summarize count() by bin(TimeGenerated, 1h)`, Catalog{Tables: []TableSchema{vectors.schema}})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		res, err := q.Run(context.Background(), vectors, Options{Now: fixtureNow})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Tables[0].Rows); n < 56 || n > 57 {
			t.Fatalf("%d groups, want the 56 or 57 hours the rows span", n)
		}
	}
	if allocs := testing.AllocsPerRun(5, run); allocs > rows/20 {
		t.Fatalf("%.0f allocations for %d rows: a value per row", allocs, rows)
	}
}

// BenchmarkGroupByBin counts 200,000 rows, a second apart, by bin(TimeGenerated, 1h) (56
// hours), by bin(L, 4) and by day and a string, from typed vectors (the unboxed form) and from
// boxed rows (the row form), in the same run.
func BenchmarkGroupByBin(b *testing.B) {
	boxed, vectors := binTestTables(b, 200_000, 8192, time.Second, false)
	for _, q := range []struct{ name, query string }{
		{"bin-time", `T | summarize count() by bin(TimeGenerated, 1h)`},
		{"bin-long", `T | summarize count() by bin(L, 4)`},
		{"bin-time-and-string", `T | summarize count() by bin(TimeGenerated, 1d), S`},
	} {
		for _, src := range []struct {
			name string
			src  Source
		}{{"vectors", vectors}, {"boxed", boxed}} {
			cq, err := Compile(q.query, boxed.Catalog())
			if err != nil {
				b.Fatal(err)
			}
			b.Run("query="+q.name+"/from="+src.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := cq.Run(context.Background(), src.src, Options{Now: fixtureNow}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
