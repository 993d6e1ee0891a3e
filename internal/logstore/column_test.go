package logstore

import (
	"fmt"
	"math"
	"reflect"
	"testing"
)

// Decoding some rows of a chunk gives what decoding all of them and then
// picking those rows gives, for every type, with and without nulls, with and
// without a dictionary; and a dictionary column carries no string per row.
// encodeColumn is the chunk of one column as a flush of segment version 2
// writes it, bloom filter included, appended to dst.
func encodeColumn(dst []byte, t Type, cells []cell, times []int64) ([]byte, colStats) {
	return appendColumn(dst, t, cells, times, true, nil)
}

func TestDecodingSomeRowsIsPickingFromAll(t *testing.T) {
	const n = 300
	cellsOf := func(kind Type, nulls bool, value func(i int) cell) []cell {
		cells := make([]cell, n)
		for i := range cells {
			if !nulls || i%7 != 3 {
				cells[i] = value(i)
				cells[i].kind = kind
			}
		}
		return cells
	}
	type chunk struct {
		kind  Type
		value func(i int) cell
	}
	chunks := map[string]chunk{
		"long":              {TypeLong, func(i int) cell { return cell{i: int64(i*i - 500)} }},
		"datetime":          {TypeDatetime, func(i int) cell { return cell{i: 1_700_000_000e9 + int64(i)*1e9} }},
		"real":              {TypeReal, func(i int) cell { return cell{i: int64(math.Float64bits(float64(i) / 4))} }},
		"bool":              {TypeBool, func(i int) cell { return cell{i: int64(i % 3 % 2)} }},
		"plain string":      {TypeString, func(i int) cell { return cell{s: []byte(fmt.Sprint("value ", i))} }},
		"dict string":       {TypeString, func(i int) cell { return cell{s: []byte([]string{"a", "", "ccc"}[i%3])} }},
		"dict of 200":       {TypeString, func(i int) cell { return cell{s: []byte(fmt.Sprint(i % 200))} }}, // entry numbers of two bytes
		"dynamic":           {TypeDynamic, func(i int) cell { return cell{s: []byte(fmt.Sprintf(`{"n":%d}`, i))} }},
		"empty strings":     {TypeString, func(i int) cell { return cell{} }},
		"long, one value":   {TypeLong, func(i int) cell { return cell{i: 7} }},
		"string, one value": {TypeString, func(i int) cell { return cell{s: []byte("x")} }},
	}
	picks := map[string][]int{
		"first": {0}, "last": {n - 1}, "every third": nil, "a run": {100, 101, 102, 103, 104},
		"the nulls and around": {2, 3, 4, 9, 10, 11},
	}
	for i := 0; i < n; i += 3 {
		picks["every third"] = append(picks["every third"], i)
	}
	for name, c := range chunks {
		for _, nulls := range []bool{false, true} {
			cells := cellsOf(c.kind, nulls, c.value)
			enc, _ := encodeColumn(nil, c.kind, cells, nil)
			all, err := decodeColumn(enc, "c")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if all.Dict != nil && all.Strings != nil {
				t.Errorf("%s: a string per row beside the dictionary", name)
			}
			for pname, rows := range picks {
				t.Run(fmt.Sprintf("%s/nulls=%v/%s", name, nulls, pname), func(t *testing.T) {
					got, rowCount, err := decodeChunk(enc, "c", rows)
					if err != nil || rowCount != n {
						t.Fatalf("%d rows, %v", rowCount, err)
					}
					want := gather(&all, rows)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("picked\n%+v\nwant\n%+v", got, want)
					}
					for k, i := range rows {
						if got.Valid[k] != (cells[i].kind != TypeNull) {
							t.Fatalf("row %d: valid %v", i, got.Valid[k])
						}
					}
				})
			}
		}
	}
}
