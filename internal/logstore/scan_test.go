package logstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

func TestPredicatesMatchExactlyWithAndWithoutPruning(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 7 })
	base := testNow.Truncate(time.Hour)
	var rows []string
	for i := range 100 {
		sparse := ""
		if i%25 == 0 {
			sparse = `,"Sparse":"x"`
		}
		rows = append(rows, fmt.Sprintf(`{"TimeGenerated":"%s","ID":%d,"N":%d,"R":%g,"S":"Host-%d.Corp","B":%t,"D":"%s","J":{"k":"v%d"}%s}`,
			base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i, i, float64(i)/2+0.25, i, i%3 == 0,
			base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i, sparse))
	}
	mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
	cases := []struct {
		p    Predicate
		want func(i int) bool
	}{
		{Predicate{"N", OpEq, 5}, func(i int) bool { return i == 5 }},
		{Predicate{"N", OpNe, 5}, func(i int) bool { return i != 5 }},
		{Predicate{"N", OpLt, int64(5)}, func(i int) bool { return i < 5 }},
		{Predicate{"N", OpLe, 5}, func(i int) bool { return i <= 5 }},
		{Predicate{"N", OpGt, 95}, func(i int) bool { return i > 95 }},
		{Predicate{"N", OpGe, 95}, func(i int) bool { return i >= 95 }},
		{Predicate{"N", OpLt, 2.5}, func(i int) bool { return i < 3 }},
		{Predicate{"R", OpGt, 10.5}, func(i int) bool { return float64(i)/2+0.25 > 10.5 }},
		{Predicate{"R", OpEq, 3.25}, func(i int) bool { return i == 6 }},
		{Predicate{"R", OpLe, 1}, func(i int) bool { return i <= 1 }},
		{Predicate{"S", OpEq, "Host-7.Corp"}, func(i int) bool { return i == 7 }},
		{Predicate{"S", OpEq, "host-7.corp"}, func(i int) bool { return false }},
		{Predicate{"S", OpNe, "Host-7.Corp"}, func(i int) bool { return i != 7 }},
		{Predicate{"S", OpLt, "Host-2"}, func(i int) bool { return fmt.Sprintf("Host-%d.Corp", i) < "Host-2" }},
		{Predicate{"S", OpHas, "HOST"}, func(i int) bool { return true }},
		{Predicate{"S", OpHas, "ost"}, func(i int) bool { return false }},
		{Predicate{"S", OpHas, "host-42"}, func(i int) bool { return i == 42 }},
		{Predicate{"S", OpHas, "42.corp"}, func(i int) bool { return i == 42 }},
		{Predicate{"S", OpHas, "4"}, func(i int) bool { return i == 4 }},
		{Predicate{"S", OpContains, "ST-4"}, func(i int) bool { return i == 4 || i/10 == 4 }},
		{Predicate{"J", OpHas, "v12"}, func(i int) bool { return i == 12 }},
		{Predicate{"J", OpContains, `"k"`}, func(i int) bool { return true }},
		{Predicate{"B", OpEq, true}, func(i int) bool { return i%3 == 0 }},
		{Predicate{"B", OpNe, true}, func(i int) bool { return i%3 != 0 }},
		{Predicate{"D", OpGe, base.Add(90 * time.Minute)}, func(i int) bool { return i >= 90 }},
		{Predicate{timeColumn, OpLt, base.Add(10 * time.Second)}, func(i int) bool { return i < 10 }},
		{Predicate{"Sparse", OpEq, "x"}, func(i int) bool { return i%25 == 0 }},
		{Predicate{"Sparse", OpNe, "y"}, func(i int) bool { return i%25 == 0 }},
		{Predicate{"Missing", OpNe, "y"}, func(i int) bool { return false }},
		{Predicate{"N", OpEq, "5"}, func(i int) bool { return true }}, // kept: the engine reads the longs as text
		{Predicate{"S", OpEq, 5}, func(i int) bool { return false }},
		{Predicate{"D", OpEq, 5}, func(i int) bool { return false }},
	}
	check := func(stage string) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s %s %v", stage, c.p.Column, c.p.Op, c.p.Value), func(t *testing.T) {
				got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"ID"}, Predicates: []Predicate{c.p}})
				if err != nil {
					t.Fatal(err)
				}
				var ids, want []int64
				for _, b := range got {
					ids = append(ids, b.Columns[0].Ints...)
				}
				slices.Sort(ids)
				for i := range 100 {
					if c.want(i) {
						want = append(want, int64(i))
					}
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("rows %v, want %v", ids, want)
				}
			})
		}
	}
	check("wal")
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("segments")
	// Time range and predicates together, with all columns.
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, From: base.Add(20 * time.Second), To: base.Add(40 * time.Second),
		Predicates: []Predicate{{"B", OpEq, true}, {"N", OpGe, 25}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(got); n != 5 { // 27, 30, 33, 36, 39
		t.Fatalf("%d rows, want 5", n)
	}
	if b := got[0]; b.Column(timeColumn) == nil || b.Column("J") == nil || b.Column("J").Type != TypeDynamic {
		t.Fatalf("all columns asked for, got %v", b.Columns)
	}
}

func TestBadScanRequestsAreRefused(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	for name, req := range map[string]ScanRequest{
		"From after To":     {From: testNow, To: testNow.Add(-time.Hour)},
		"has on a number":   {Predicates: []Predicate{{"A", OpHas, 1}}},
		"ordered bools":     {Predicates: []Predicate{{"A", OpLt, true}}},
		"unknown operator":  {Predicates: []Predicate{{"A", "=~", "x"}}},
		"unknown constant":  {Predicates: []Predicate{{"A", OpEq, []int{1}}}},
		"empty column":      {Columns: []string{""}},
		"predicate no name": {Predicates: []Predicate{{"", OpEq, 1}}},
	} {
		req.Workspace, req.Table = ws, tbl
		if _, err := st.Scan(context.Background(), req); !errors.Is(err, ErrInvalidScan) {
			t.Errorf("%s: %v, want ErrInvalidScan", name, err)
		}
	}
}

// String columns with few distinct values are stored with a dictionary; they
// read back as the plain encoding does, through Str, as the dictionary's
// codes with no string per row, and keep it through a predicate's filtering.
func TestStringDictionaryRoundTrips(t *testing.T) {
	var few, many []cell
	for i := range 1000 {
		c := cell{kind: TypeString, s: []byte(fmt.Sprintf("host-%d", i%7))}
		if i%10 == 3 {
			c = cell{} // null
		}
		few = append(few, c)
		many = append(many, cell{kind: TypeString, s: []byte(fmt.Sprintf("user-%d", i))})
	}
	for name, tc := range map[string]struct {
		cells []cell
		dict  bool
	}{"few distinct": {few, true}, "all distinct": {many, false}} {
		enc, _ := encodeColumn(nil, TypeString, tc.cells, nil)
		col, err := decodeColumn(enc, "c")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if (col.Dict != nil) != tc.dict {
			t.Fatalf("%s: dictionary %v, want %v", name, col.Dict != nil, tc.dict)
		}
		if tc.dict && col.Strings != nil {
			t.Fatalf("%s: a string per row beside the dictionary", name)
		}
		for i, c := range tc.cells {
			if col.Valid[i] != (c.kind != TypeNull) || col.Str(i) != string(c.s) {
				t.Fatalf("%s: row %d is %q (valid %v), want %q", name, i, col.Str(i), col.Valid[i], c.s)
			}
			if tc.dict && col.Valid[i] && col.Dict[col.Codes[i]] != string(c.s) {
				t.Fatalf("%s: row %d: code %d is %q, not %q", name, i, col.Codes[i], col.Dict[col.Codes[i]], c.s)
			}
		}
		var rows []int
		for i := 0; i < len(tc.cells); i += 3 {
			rows = append(rows, i)
		}
		g := gather(&col, rows)
		for j, i := range rows {
			if g.Str(j) != col.Str(i) || g.Valid[j] != col.Valid[i] || tc.dict && (g.Strings != nil || g.Valid[j] && g.Codes[j] != col.Codes[i]) {
				t.Fatalf("%s: gathered row %d differs", name, j)
			}
		}
	}
	// a dictionary flag on a column of another type is corrupt
	enc, _ := encodeColumn(nil, TypeLong, []cell{{kind: TypeLong, i: 1}}, nil)
	enc[2] |= dictFlag
	if _, err := decodeColumn(enc, "c"); err == nil {
		t.Fatal("a long column with the dictionary flag decoded")
	}
}

// naiveIndexFold and naiveHas are the plain byte-by-byte searches the
// anchored foldNeedle replaced; both must agree on any input.
func naiveIndexFold(s string, needle []byte, from int) int {
	if len(needle) == 0 {
		return from
	}
	for i := from; i+len(needle) <= len(s); i++ {
		j := 0
		for j < len(needle) && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

func naiveHas(s string, needle []byte) bool {
	if len(needle) == 0 {
		return true
	}
	for i := naiveIndexFold(s, needle, 0); i >= 0; i = naiveIndexFold(s, needle, i+1) {
		end := i + len(needle)
		if (i == 0 || !isTermByte(s[i-1]) || !isTermByte(needle[0])) && (end == len(s) || !isTermByte(s[end]) || !isTermByte(needle[len(needle)-1])) {
			return true
		}
	}
	return false
}

func TestFoldNeedleAgreesWithANaiveSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	alphabet := []string{"a", "A", "b", "B", "z", "Z", "1", " ", ".", "-", "é", "\xff", "ab", "Ab"}
	str := func(max int) string {
		var b strings.Builder
		for range r.IntN(max + 1) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 200000 {
		s, k := str(24), []byte(strings.ToLower(str(4)))
		n := newFoldNeedle(k)
		from := r.IntN(len(s) + 2)
		if got, want := n.index(s, from), naiveIndexFold(s, k, from); got != want {
			t.Fatalf("index(%q, %q, %d) = %d, want %d", s, k, from, got, want)
		}
		if got, want := n.has(s), naiveHas(s, k); got != want {
			t.Fatalf("has(%q, %q) = %v, want %v", s, k, got, want)
		}
	}
}

// Predicates give the same rows over a dictionary column, and over a plain
// column read in place, as a row-by-row check of the values, for every
// operator, nulls included.
func TestPredicatesOverDictionaryColumns(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 200 })
	hosts := []string{"Web-01.corp", "web-02.corp", "db-01", "DB-01", "mail"}
	var rows []string
	var vals []string // "" for a missing Host
	for i := range 1000 {
		if i%9 == 0 {
			rows = append(rows, fmt.Sprintf(`{"N":%d}`, i))
			vals = append(vals, "")
			continue
		}
		h := hosts[i%len(hosts)]
		// Msg: a distinct value per row, so stored plain
		rows = append(rows, fmt.Sprintf(`{"N":%d,"Host":%q,"Msg":"%s #%d"}`, i, h, h, i))
		vals = append(vals, h)
	}
	mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Predicate{
		{"Host", OpEq, "db-01"}, {"Host", OpNe, "db-01"}, {"Host", OpLt, "db-01"}, {"Host", OpGe, "mail"},
		{"Host", OpHas, "web"}, {"Host", OpHas, "01"}, {"Host", OpContains, "B-0"}, {"Host", OpHas, "corp"},
	} {
		want := 0
		for _, v := range vals {
			if v == "" {
				continue // nulls never match
			}
			c := compileOrFail(t, p)
			if matchString(v, &c) {
				want++
			}
		}
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"N"}, Predicates: []Predicate{p}})
		if err != nil {
			t.Fatal(err)
		}
		if countRows(got) != want || want == 0 {
			t.Errorf("%v: %d rows, want %d", p, countRows(got), want)
		}
		// the same over Msg, "<host> #<n>", with the values returned too
		p.Column = "Msg"
		if p.Op == OpEq || p.Op == OpNe {
			p.Value = p.Value.(string) + " #1"
		}
		want = 0
		var wantMsgs []string
		for i, v := range vals {
			c := compileOrFail(t, p)
			if v != "" && matchString(fmt.Sprintf("%s #%d", v, i), &c) {
				want++
				wantMsgs = append(wantMsgs, fmt.Sprintf("%s #%d", v, i))
			}
		}
		got, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Msg"}, Predicates: []Predicate{p}})
		if err != nil {
			t.Fatal(err)
		}
		var gotMsgs []string
		for _, b := range got {
			for i := range b.Len {
				gotMsgs = append(gotMsgs, b.Columns[0].Str(i))
			}
		}
		if fmt.Sprint(gotMsgs) != fmt.Sprint(wantMsgs) {
			t.Errorf("%v: %d rows, want %d", p, len(gotMsgs), len(wantMsgs))
		}
	}
	// a constant of another type matches no string
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"N"}, Predicates: []Predicate{{"Msg", OpEq, 5}}})
	if err != nil || countRows(got) != 0 {
		t.Fatalf("Msg == 5: %d rows, %v", countRows(got), err)
	}
}

func compileOrFail(t *testing.T, p Predicate) pred {
	t.Helper()
	c, err := compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Decoding only some rows of a chunk gives what decoding all and keeping
// those gives, for every type and encoding.
func TestDecodeChunkRowsIsDecodeThenGather(t *testing.T) {
	var long, plain, full, dict, dyn, real, boolean []cell
	for i := range 300 {
		null := i%7 == 0
		add := func(cs *[]cell, c cell) {
			if null {
				c = cell{}
			}
			*cs = append(*cs, c)
		}
		add(&long, cell{kind: TypeLong, i: int64(i * 3)})
		add(&plain, cell{kind: TypeString, s: []byte(fmt.Sprintf("value %d", i))})
		full = append(full, cell{kind: TypeString, s: []byte(fmt.Sprintf("value %d", i))}) // no nulls
		add(&dict, cell{kind: TypeString, s: []byte(fmt.Sprintf("v%d", i%4))})
		add(&dyn, cell{kind: TypeDynamic, s: []byte(fmt.Sprintf(`{"a":%d}`, i))})
		add(&real, cell{kind: TypeReal, i: int64(math.Float64bits(float64(i) / 3))})
		add(&boolean, cell{kind: TypeBool, i: int64(i % 2)})
	}
	for name, cells := range map[string][]cell{"long": long, "plain": plain, "plain without nulls": full, "dict": dict, "dynamic": dyn, "real": real, "bool": boolean} {
		typ, times := resolveType(cells)
		enc, _ := encodeColumn(nil, typ, cells, times)
		all, err := decodeColumn(enc, "c")
		if err != nil {
			t.Fatal(err)
		}
		for _, rows := range [][]int{{0}, {299}, {1, 2, 3}, {0, 7, 14, 100, 299}, {5, 150, 151, 298}} {
			got, n, err := decodeChunk(enc, "c", rows)
			if err != nil || n != 300 {
				t.Fatalf("%s %v: %v, %d rows", name, rows, err, n)
			}
			if want := gather(&all, rows); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s %v:\n got %v\nwant %v", name, rows, got, want)
			}
		}
		if _, _, err := decodeChunk(enc, "c", []int{3, 300}); err == nil {
			t.Fatalf("%s: a row past the chunk decoded", name)
		}
	}
}

// A scan hands a dictionary-coded column over as its dictionary and codes,
// with no string per row: every row, the rows a predicate on another column
// leaves, and unflushed rows alike; Str reads each row's value, "" for a null.
func TestScanHandsDictionaryColumnsOverAsCodes(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 200 })
	hosts := []string{"web", "", "db", "mail"}
	body := func(from, to int) []byte {
		var rows []string
		for i := from; i < to; i++ {
			if i%9 == 0 {
				rows = append(rows, fmt.Sprintf(`{"N":%d}`, i))
				continue
			}
			rows = append(rows, fmt.Sprintf(`{"N":%d,"Host":%q}`, i, hosts[i%len(hosts)]))
		}
		return []byte("[" + strings.Join(rows, ",") + "]")
	}
	mustIngest(t, st, ws, tbl, body(0, 600))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, body(600, 800))
	for name, preds := range map[string][]Predicate{
		"every row":             nil,
		"rows left by N":        {{"N", OpGe, 100}, {"N", OpNe, 650}},
		"rows left by the host": {{"Host", OpNe, "db"}},
	} {
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"N", "Host"}, Predicates: preds})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for _, b := range got {
			n, h := b.Column("N"), b.Column("Host")
			if h.Dict == nil || h.Strings != nil {
				t.Fatalf("%s: Host has dictionary %v and %d strings, want codes alone", name, h.Dict, len(h.Strings))
			}
			for r := range b.Len {
				i := int(n.Ints[r])
				want := hosts[i%len(hosts)]
				if i%9 == 0 {
					want = ""
				}
				if h.Str(r) != want || h.Valid[r] != (i%9 != 0) {
					t.Fatalf("%s: row N=%d has host %q (valid %v), want %q", name, i, h.Str(r), h.Valid[r], want)
				}
			}
			rows += b.Len
		}
		if rows == 0 {
			t.Fatalf("%s: no rows", name)
		}
	}
}
