package kql

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"testing"
	"time"
)

// typedSource hands a MemSource's columns over as typed Vectors where it can, as the log
// store's adapter does, in batches of a few rows; every other batch, and every column of a
// type or with values a Vector cannot hold, stays boxed, so that batches of one scan mix both.
// Some string vectors come with a dictionary, some as the dictionary alone.
type typedSource struct{ *MemSource }

func (s typedSource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	it, err := s.MemSource.Scan(ctx, req)
	if err != nil {
		return nil, err
	}
	t := s.tables[req.Table]
	types := make([]Type, len(req.Columns))
	for i, name := range req.Columns {
		for _, c := range t.Schema.Columns {
			if c.Name == name {
				types[i] = c.Type
			}
		}
	}
	return &typedIter{BatchIterator: it, types: types}, nil
}

type typedIter struct {
	BatchIterator
	types []Type
	n     int
}

func (it *typedIter) Next(ctx context.Context) (*Batch, error) {
	b, err := it.BatchIterator.Next(ctx)
	if err != nil {
		return nil, err
	}
	it.n++
	if it.n%3 == 0 {
		return b, nil // boxed, as a source may hand over some batches
	}
	out := &Batch{Len: b.Len, Columns: make([][]any, len(b.Columns)), Vectors: make([]*Vector, len(b.Columns))}
	for i, col := range b.Columns {
		if v := toVector(col, it.types[i]); v != nil {
			if v.Type == TypeString && it.n%2 == 1 {
				addDict(v)
				if it.n%4 == 1 {
					v.Strings = nil // the dictionary alone, as the log store hands it over
				}
			}
			out.Vectors[i] = v
		} else {
			out.Columns[i] = col
		}
	}
	return out, nil
}

// addDict gives a string vector a dictionary of its valid values, in reverse order of first
// appearance (so that entry numbers and first appearances differ).
func addDict(v *Vector) {
	v.Codes = make([]uint32, len(v.Strings))
	var seen []string
	for r, s := range v.Strings {
		if v.Valid[r] && !slices.Contains(seen, s) {
			seen = append(seen, s)
		}
	}
	slices.Reverse(seen)
	for r, s := range v.Strings {
		if v.Valid[r] {
			v.Codes[r] = uint32(slices.Index(seen, s))
		}
	}
	v.Dict = seen
}

// toVector is col as a Vector of type t, or nil if a value does not fit.
func toVector(col []any, t Type) *Vector {
	v := &Vector{Type: t, Valid: make([]bool, len(col))}
	for r, x := range col {
		v.Valid[r] = x != nil
		ok := x == nil
		switch t {
		case TypeString:
			s, is := x.(string)
			v.Strings, ok = append(v.Strings, s), ok || is
		case TypeLong:
			n, is := x.(int64)
			v.Ints, ok = append(v.Ints, n), ok || is
		case TypeDatetime:
			tm, is := x.(time.Time)
			ns := int64(0)
			if is {
				ns = tm.UnixNano()
			}
			v.Ints, ok = append(v.Ints, ns), ok || is
		case TypeReal:
			f, is := x.(float64)
			v.Reals, ok = append(v.Reals, f), ok || is
		case TypeBool:
			b, is := x.(bool)
			v.Bools, ok = append(v.Bools, b), ok || is
		}
		if !ok {
			return nil
		}
	}
	if t != TypeString && t != TypeLong && t != TypeDatetime && t != TypeReal && t != TypeBool {
		return nil
	}
	return v
}

// The columnar path over typed vectors gives every documented answer, as the row path does.
func TestTypedBatchesGiveTheSameResults(t *testing.T) {
	for group, cases := range allCases() {
		src := fixtureSource(t)
		src.BatchSize = 2
		typed := typedSource{src}
		for _, c := range cases {
			t.Run(group+"/"+c.name, func(t *testing.T) { runCase(t, typed, src.Catalog(), c) })
		}
	}
	src := detectionSource(t)
	src.BatchSize = 3
	for _, c := range detectionQueries {
		t.Run("detection/"+c.name, func(t *testing.T) { runCase(t, typedSource{src}, src.Catalog(), c) })
	}
}

// Nulls in typed and boxed columns, and longs compared with longs, agree with the row path
// in filters, group keys and join keys.
func TestTypedBatchesNullsAndMixedTypes(t *testing.T) {
	tbl := NewMemTable("T", Column{"TimeGenerated", TypeDatetime}, Column{"S", TypeString}, Column{"L", TypeLong}, Column{"R", TypeReal}, Column{"D", TypeDynamic})
	for i := range 40 {
		var l, r any = int64(i % 4), float64(i%3) / 2
		if i%5 == 0 {
			l, r = nil, nil
		}
		s := fmt.Sprintf("v%d", i%3)
		if i%7 == 0 {
			s = ""
		}
		var d any = int64(i % 2)
		if i%2 == 1 {
			d = "one" // a dynamic column mixing kinds stays boxed
		}
		if err := tbl.Append(fixtureNow.Add(-time.Duration(i)*time.Hour), s, l, r, d); err != nil {
			t.Fatal(err)
		}
	}
	keys := NewMemTable("K", Column{"L", TypeLong}, Column{"S", TypeString}, Column{"Name", TypeString})
	for i, r := range [][]any{{1, "v1", "one"}, {2, "v2", "two"}, {nil, "", "none"}, {2, "v0", "two again"}} {
		if err := keys.Append(r[0], r[1], fmt.Sprint(r[2], i)); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{
		`T | summarize count() by S | order by S asc`,
		`T | summarize count() by S`, // groups in order of first appearance, as by row
		`T | summarize n = count() by S, L`,
		`T | summarize count(), sum(L), max(R) by L | order by L asc`,
		`T | summarize count() by S, L | order by S asc, L asc`,
		`T | summarize count() by D | order by tostring(D) asc`,
		`T | where L == 1 | count`,
		`T | where L != 1 | count`,
		`T | where L > 1 and S == "v2" | count`,
		`T | where L <= 2 and S != "" | summarize count() by S | order by S asc`,
		`T | where S has "v1" or L < 1 | count`,
		`T | where TimeGenerated > ago(10h) | summarize count() by L | order by L asc`,
		`T | where S == "" | summarize count() by L | order by L asc`,
		`T | join kind=inner (K) on L | summarize count() by Name | order by Name asc`,
		`T | join kind=leftouter (K) on L | summarize count() by Name | order by Name asc`,
		`T | join kind=leftanti (K) on L | count`,
		`T | join kind=rightanti (K) on L | project Name | order by Name asc`,
		`T | join kind=innerunique (K) on S | summarize count() by Name | order by Name asc`,
		`T | join kind=inner (K) on S, L | summarize count() by Name | order by Name asc`,
		`T | join kind=fullouter (K) on $left.L == $right.L | summarize count() by Name | order by Name asc`,
	}
	boxed := NewMemSource(tbl, keys)
	boxed.BatchSize = 3
	typed := typedSource{boxed}
	for _, q := range queries {
		// project leaves no columnar path: the reference is the row path
		rowPath := strings.Replace(q, "T |", "T | project TimeGenerated, S, L, R, D |", 1)
		want := fmt.Sprint(runOn(t, boxed, boxed.Catalog(), rowPath, Options{}).Tables[0].Rows)
		for name, src := range map[string]Source{"typed": typed, "boxed": boxed} {
			if got := fmt.Sprint(runOn(t, src, boxed.Catalog(), q, Options{}).Tables[0].Rows); got != want {
				t.Errorf("%s:\n %s by column %s\n by row %s", q, name, got, want)
			}
		}
	}
}

// The join table's filter never hides a key it holds, and keeps most others from the map.
func TestJoinTableFilter(t *testing.T) {
	tb := newJoinTable()
	for i := range 5000 {
		tb.add(fmt.Sprint("k", i), i)
	}
	tb.seal()
	for i := range 5000 {
		if got := tb.get([]byte(fmt.Sprint("k", i))); len(got) != 1 || got[0] != i {
			t.Fatalf("key k%d: %v", i, got)
		}
	}
	passed := 0
	for i := range 10000 {
		if h := maphash.String(tb.seed, fmt.Sprint("other", i)) & tb.mask; tb.filter[h/64]&(1<<(h%64)) != 0 {
			passed++
		}
		if tb.get([]byte(fmt.Sprint("other", i))) != nil {
			t.Fatalf("absent key other%d found", i)
		}
	}
	if passed > 1500 {
		t.Fatalf("the filter let %d of 10000 absent keys through", passed)
	}
}
