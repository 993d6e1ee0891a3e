package kql

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// firstRows picks the rows a stable sort puts first, ties in their order, whatever the
// count asked for, the keys' directions and where their nulls go.
func TestFirstRowsAreTheSortsFirstRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 14))
	rows := make([]Row, 2000)
	for i := range rows {
		var a any = int64(rng.IntN(7)) // many ties
		if rng.IntN(10) == 0 {
			a = nil
		}
		rows[i] = Row{a, fmt.Sprint("s", rng.IntN(3)), int64(i)} // the last column tells rows apart
	}
	col := func(c int) func(Row) any { return func(r Row) any { return r[c] } }
	for _, keys := range [][]sortKey{
		{{fn: col(0)}},
		{{fn: col(0), asc: true}},
		{{fn: col(0), nullsFirst: true}},
		{{fn: col(0), asc: true, nullsFirst: true}},
		{{fn: col(1)}, {fn: col(0), asc: true}},
	} {
		for _, n := range []int{0, 1, 5, 64, 65, 499, 500, 1999} {
			t.Run(fmt.Sprintf("%+v/first %d", keys, n), func(t *testing.T) {
				want := slices.Clone(rows)
				sortRows(want, keys)
				got := firstRows(slices.Clone(rows), keys, n)
				if fmt.Sprint(got) != fmt.Sprint(want[:n]) {
					t.Fatalf("first %d rows\n%.300v\nwant\n%.300v", n, got, want[:n])
				}
			})
		}
	}
}
