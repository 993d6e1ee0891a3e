package logstore

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// mapDict is the dictionary of a string column as a map keyed by the values
// builds it: the reference dictBuilder must agree with.
func mapDict(cells []cell) (dict [][]byte, codes []uint32, ok bool) {
	entries := make(map[string]uint32)
	plain, size := 0, 0
	for _, c := range cells {
		if c.kind == TypeNull {
			continue
		}
		code, seen := entries[string(c.s)]
		if !seen {
			code = uint32(len(dict))
			entries[string(c.s)] = code
			dict = append(dict, c.s)
			size += uvarintLen(uint64(len(c.s))) + len(c.s)
		}
		codes = append(codes, code)
		plain += uvarintLen(uint64(len(c.s))) + len(c.s)
		size += uvarintLen(uint64(code))
		if 2*len(dict) > len(cells) {
			return nil, nil, false
		}
	}
	if len(dict) == 0 || 2*size > plain {
		return nil, nil, false
	}
	return dict, codes, true
}

// stringColumn is n cells of a string column drawn from distinct values
// (nulls where null is true): some empty, some differing only in case, some
// long, so that dictionaries win, lose on size and lose on count.
func stringColumn(r *mrand.Rand, n, distinct int, nulls bool) []cell {
	values := make([][]byte, distinct)
	for i := range values {
		switch i % 5 {
		case 0:
			values[i] = []byte{}
		case 1:
			values[i] = fmt.Appendf(nil, "Failed password for USER%d from 10.0.%d.%d port %d ssh2", i, i%256, i/256, 40000+i)
		case 2:
			values[i] = fmt.Appendf(nil, "failed password for user%d", i)
		case 3:
			values[i] = bytes.Repeat([]byte{'x', byte('a' + i%26)}, 40+i%90)
		default:
			values[i] = fmt.Appendf(nil, "Grüße %d", i)
		}
	}
	cells := make([]cell, n)
	for i := range cells {
		if nulls && r.IntN(4) == 0 {
			continue
		}
		v := values[r.IntN(distinct)]
		cells[i] = cell{kind: TypeString, s: bytes.Clone(v)} // equal values in distinct memory, as in payloads
	}
	return cells
}

// TestDictBuilderBuildsWhatAMapBuilds holds the flush's dictionary table to
// the dictionary a map keyed by the values builds: the same entries in the
// same order, the same codes, the same decision to keep it or not, for one
// builder reused over columns of every size, so that nothing of a column
// is left for the next.
func TestDictBuilderBuildsWhatAMapBuilds(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	var d dictBuilder
	for _, c := range []struct {
		n, distinct int
		nulls       bool
	}{
		{1, 1, false}, {8192, 8, false}, {8192, 8, true}, {7, 3, false}, {8192, 3000, false},
		{8192, 5000, false}, {100, 60, true}, {8192, 1, true}, {3, 3, false}, {8192, 4096, false},
		{1024, 2, false}, {16, 16, false}, {17, 9, false},
	} {
		t.Run(fmt.Sprintf("%d rows of %d values, nulls=%v", c.n, c.distinct, c.nulls), func(t *testing.T) {
			cells := stringColumn(r, c.n, c.distinct, c.nulls)
			wantDict, wantCodes, wantOK := mapDict(cells)
			dict, codes, ok := d.build(cells)
			if ok != wantOK {
				t.Fatalf("kept %v, a map keeps %v", ok, wantOK)
			}
			if !slices.EqualFunc(dict, wantDict, bytes.Equal) || !slices.Equal(codes, wantCodes) {
				t.Fatalf("dictionary of %d entries and %d codes, a map's %d and %d", len(dict), len(codes), len(wantDict), len(wantCodes))
			}
		})
	}
	t.Run("all nulls", func(t *testing.T) {
		if _, _, ok := d.build(make([]cell, 100)); ok {
			t.Fatal("a dictionary of no value")
		}
	})
}

// TestDictBloomIsTheBloomOfEveryValue holds the filters of a dictionary
// column, built from its entries, to those built from every value: the same
// column filter and the same keys for the block's any-column filter, also
// past the column filter's bound on keys (no filter) and the any-column
// filter's.
func TestDictBloomIsTheBloomOfEveryValue(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	var d dictBuilder
	for _, c := range []struct {
		n, distinct int
		nulls       bool
	}{
		{8192, 8, false}, {8192, 40, true}, {100, 30, true}, {8192, 4000, false}, {64, 2, false},
	} {
		t.Run(fmt.Sprintf("%d rows of %d values, nulls=%v", c.n, c.distinct, c.nulls), func(t *testing.T) {
			cells := stringColumn(r, c.n, c.distinct, c.nulls)
			dict, _, ok := d.build(cells)
			if !ok {
				t.Fatal("no dictionary: the case tests nothing")
			}
			var allCells, allDict anyTerms
			want := stringBloom(len(cells), func(i int) ([]byte, bool) { return cells[i].s, cells[i].kind != TypeNull }, true, &allCells, nil)
			got := stringBloom(len(dict), func(i int) ([]byte, bool) { return dict[i], true }, true, &allDict, nil)
			if want == nil || !bytes.Equal(got, want) {
				t.Fatalf("filter of %d bytes from the entries, of %d from every value", len(got), len(want))
			}
			if !bytes.Equal(allDict.filter(), allCells.filter()) {
				t.Fatal("the any-column filter differs")
			}
		})
	}
	t.Run("past the bounds", func(t *testing.T) {
		// More distinct terms than either filter holds: neither is built,
		// from the entries as from every value.
		n := anyBloomMaxKeys + 10
		cells := make([]cell, 2*n)
		for i := range cells {
			cells[i] = cell{kind: TypeString, s: fmt.Appendf(nil, "t%d", i%n)}
		}
		var allCells, allDict anyTerms
		dict := make([][]byte, n)
		for i := range dict {
			dict[i] = cells[i].s
		}
		want := stringBloom(len(cells), func(i int) ([]byte, bool) { return cells[i].s, true }, true, &allCells, nil)
		got := stringBloom(len(dict), func(i int) ([]byte, bool) { return dict[i], true }, true, &allDict, nil)
		if want != nil || got != nil || allCells.filter() != nil || allDict.filter() != nil {
			t.Fatal("a filter past its bound on keys")
		}
	})
}

// TestValueAndTermKeysInOnePass holds forValueTermKeys to bloomHash of the
// whole value and forTermKeys' keys of its terms.
func TestValueAndTermKeysInOnePass(t *testing.T) {
	for _, s := range []string{
		"", " ", "word", "Failed password for USER01 from 10.1.2.3 port 22", `C:\Windows\System32\svchost.exe`,
		"--lead-and-trail--", "Grüße aus Köln", "日本語 テキスト", "\x00\xff\x7f", `{"k":"V"}`,
	} {
		t.Run(s, func(t *testing.T) {
			var want, got []uint64
			forTermKeys([]byte(s), func(h uint64) { want = append(want, h) })
			v := forValueTermKeys([]byte(s), func(h uint64) { got = append(got, h) })
			if !slices.Equal(got, want) {
				t.Fatalf("term keys %x, want %x", got, want)
			}
			if w := bloomHash(bloomValue, []byte(s), false); v != w {
				t.Fatalf("value key %x, want %x", v, w)
			}
		})
	}
}

// TestTermSetReusedHoldsItsKeysOnly fills a term set past several growths,
// resets it and fills it with a few keys: it holds those alone, once each,
// the key 0 included.
func TestTermSetReusedHoldsItsKeysOnly(t *testing.T) {
	var s termSet
	for i := range uint64(50000) {
		s.add(i*0x9e3779b97f4a7c15 + 1)
	}
	if s.n != 50000 {
		t.Fatalf("%d keys, want 50000", s.n)
	}
	s.reset()
	want := []uint64{0, 7, 1 << 40, 7, 0, 99}
	for _, h := range want {
		s.add(h)
	}
	var got []uint64
	s.each(func(h uint64) { got = append(got, h) })
	slices.Sort(got)
	if !slices.Equal(got, []uint64{0, 7, 99, 1 << 40}) || s.n != 4 {
		t.Fatalf("keys %v (n=%d) after a reset, want 0 7 99 2^40", got, s.n)
	}
}

// TestBlockBuilderColumnsWhateverTheFieldOrder builds a block of rows whose
// fields come in changing orders, with fields missing, added and repeated:
// each column holds each row's value (the last of a repeated name), in the
// order the columns first came.
func TestBlockBuilderColumnsWhateverTheFieldOrder(t *testing.T) {
	body := `[{"a":1,"b":"x","c":true},{"a":2,"b":"y","c":false},{"b":"z","a":3},{"c":true,"d":"new","a":4},` +
		`{"a":5,"a":6,"b":"w"},{},{"d":"last","c":false,"b":"v","a":7}]`
	rec, refs, err := parseRows([]byte(body), ingestLimits{now: testNow, oldest: testNow.Add(-1e12), newest: testNow.Add(1e12), maxRowBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	bb := newBlockBuilder(nil)
	for _, ref := range refs {
		if err := bb.add(rec[ingestTimeSize:], ref, unknownIngest); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"a": "1 2 3 4 6 - 7",
		"b": "x y z - w - v",
		"c": "1 0 - 1 - - 0",
		"d": "- - - new - - last",
	}
	var names []string
	for _, c := range bb.columns() {
		names = append(names, c.name)
		var vals []string
		for _, v := range c.cells {
			switch v.kind {
			case TypeNull:
				vals = append(vals, "-")
			case TypeString:
				vals = append(vals, string(v.s))
			default:
				vals = append(vals, fmt.Sprint(v.i))
			}
		}
		if got := fmt.Sprint(vals); got != "["+want[c.name]+"]" {
			t.Errorf("column %s: %s, want [%s]", c.name, got, want[c.name])
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c", "d"}) {
		t.Fatalf("columns %v, want a b c d", names)
	}
}

// TestReleasedBlockWorkerHoldsNoValues builds a block and releases its
// worker: neither the builder's cells, nor the page writer's JSON text, nor
// its last dictionary keeps a reference to the rows' payloads, which the
// pool of workers would otherwise keep from being freed.
func TestReleasedBlockWorkerHoldsNoValues(t *testing.T) {
	st := newTestStore(t, t.TempDir(), benchKeys(false))
	rec, refs, err := parseRows([]byte(`[{"s":"a","d":{"k":1}},{"s":"a","d":[2]},{"s":"b","d":3}]`),
		ingestLimits{now: testNow, oldest: testNow.Add(-1e12), newest: testNow.Add(1e12), maxRowBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	batch := &memBatch{payload: rec[ingestTimeSize:], refs: refs, ingested: testNow.UnixNano()}
	rows := make([]memRow, len(refs))
	for i, r := range refs {
		rows[i] = memRow{batch, r}
	}
	bw := &blockWorker{bb: newBlockBuilder(nil), enc: st.blockEncoder()}
	var eb encodedBlock
	if err := bw.build(t.Context(), rows, &eb); err != nil {
		t.Fatal(err)
	}
	if len(bw.enc.pages.dicts.dict) == 0 {
		t.Fatal("no dictionary built: the test tests nothing")
	}
	bw.release()
	for _, c := range bw.bb.byName {
		for _, v := range c.cells[:cap(c.cells)] {
			if v.s != nil {
				t.Fatalf("column %s keeps a value", c.name)
			}
		}
	}
	for _, v := range bw.enc.pages.json[:cap(bw.enc.pages.json)] {
		if v.s != nil {
			t.Fatal("the page writer keeps a dynamic value's text")
		}
	}
	for _, v := range bw.enc.pages.dicts.dict[:cap(bw.enc.pages.dicts.dict)] {
		if v != nil {
			t.Fatal("the page writer keeps a dictionary entry")
		}
	}
}
