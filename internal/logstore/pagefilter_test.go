package logstore

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// filterTestText is n rows of long text: sshd-like lines with words drawn
// from a small vocabulary, each followed by a number under numbers, the
// term "u" in about one row of 400, a row in 50 null, and some words in
// upper case.
func filterTestText(n, numbers int) []cell {
	r := mrand.New(mrand.NewPCG(7, 7))
	words := []string{"failed", "password", "for", "from", "port", "ssh2", "accepted", "publickey", "session", "opened", "user0042", "x-y", "ü"}
	cells := make([]cell, n)
	for i := range cells {
		if r.IntN(50) == 0 {
			continue
		}
		var b strings.Builder
		for b.Len() < 70 {
			w := words[r.IntN(len(words))]
			if r.IntN(3000) == 0 {
				w = "u"
			}
			if r.IntN(20) == 0 {
				w = strings.ToUpper(w)
			}
			fmt.Fprintf(&b, "%s %d ", w, r.IntN(numbers))
		}
		cells[i] = cell{kind: TypeString, s: []byte(b.String())}
	}
	return cells
}

// TestPageFilterLeavesOutOnlyRowsWithoutTheTerm: a read that a has or ==
// predicate lets leave out parts by the page filter returns every row
// that matches as a whole read does, and nulls only for rows that do not;
// and it does leave rows out. The text has few distinct terms,
// or more than the block's bloom filter takes (which then has none).
func TestPageFilterLeavesOutOnlyRowsWithoutTheTerm(t *testing.T) {
	for _, numbers := range []int{1000, 1_000_000} {
		t.Run(fmt.Sprintf("numbers under %d", numbers), func(t *testing.T) {
			testPageFilterLeavesOut(t, numbers)
		})
	}
}

func testPageFilterLeavesOut(t *testing.T, numbers int) {
	codec, err := NewCodec(1)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	const n = 8000 // pages of 1,024 rows and one of 832; parts of 256
	cells := filterTestText(n, numbers)
	w := pageWriter{enc: codec.enc, pageRows: defaultPageRows, filters: true}
	chunk, st := w.appendColumn(nil, TypeString, cells, nil, nil)
	d, err := parsePageDir(chunk, true)
	if err != nil || d.filter == nil {
		t.Fatalf("no page filter in a chunk of long text: %v", err)
	}
	if (st.bloom == nil) != (numbers > n) {
		t.Fatalf("bloom filter %v for numbers under %d", st.bloom != nil, numbers)
	}
	var whole pageBuffers
	all, _, err := decodePaged(chunk, pagedRead{name: "c", filtered: true, dec: codec.dec, buf: &whole})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		pred      Predicate
		leaveSome bool // the predicate is rare enough to leave parts out
	}{
		{"a rare term", Predicate{Column: "c", Op: OpHas, Value: "u"}, true},
		{"a rare term in upper case", Predicate{Column: "c", Op: OpHas, Value: "U"}, true},
		{"a term absent", Predicate{Column: "c", Op: OpHas, Value: "mimikatz"}, true},
		{"a common term", Predicate{Column: "c", Op: OpHas, Value: "password"}, false},
		{"a phrase with a rare term", Predicate{Column: "c", Op: OpHas, Value: "port 7"}, true},
		{"a term of punctuation and letters", Predicate{Column: "c", Op: OpHas, Value: "-y"}, false},
		{"a term outside ASCII", Predicate{Column: "c", Op: OpHas, Value: "ü"}, false},
		{"has_any of a rare and an absent term", Predicate{Column: "c", Op: OpHasAny, Value: []string{"u", "mimikatz"}}, true},
		{"contains, which no filter serves", Predicate{Column: "c", Op: OpContains, Value: "u"}, false},
		{"the empty string", Predicate{Column: "c", Op: OpHas, Value: ""}, false},
		{"any column", Predicate{Column: AnyColumn, Op: OpHas, Value: "u"}, true},
		{"== a row's value", Predicate{Column: "c", Op: OpEq, Value: string(cells[4321].s)}, true},
		{"== a row's value in upper case", Predicate{Column: "c", Op: OpEq, Value: strings.ToUpper(string(cells[4321].s))}, true},
		{"== the empty string", Predicate{Column: "c", Op: OpEq, Value: ""}, false},
		{"!= a row's value", Predicate{Column: "c", Op: OpNe, Value: string(cells[4321].s)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := compile(c.pred)
			if err != nil {
				t.Fatal(err)
			}
			skip := &pageSkip{of: []*pred{&p}}
			if p.any != nil {
				skip = &pageSkip{anyOf: []*pred{&p}}
			}
			var buf pageBuffers
			got, rows, err := decodePaged(chunk, pagedRead{name: "c", raw: true, skip: skip, filtered: true, dec: codec.dec, buf: &buf})
			if err != nil || rows != n || got.Len() != n {
				t.Fatalf("%d rows of %d read, %v", got.Len(), rows, err)
			}
			got.materialize(nil)
			left := 0
			for i := range n {
				match := all.Valid[i] && matchString(all.Str(i), &p)
				switch {
				case got.Valid[i] && got.Str(i) != all.Str(i):
					t.Fatalf("row %d: %q, want %q", i, got.Str(i), all.Str(i))
				case !got.Valid[i] && match:
					t.Fatalf("row %d, which matches, left out: %q", i, all.Str(i))
				case !got.Valid[i] && all.Valid[i]:
					left++
					if !inRanges([]int{i}, 1, buf.skipped) {
						t.Fatalf("row %d left out but not in the ranges said skipped %v", i, buf.skipped)
					}
				}
			}
			if c.leaveSome != (left > 0) {
				t.Fatalf("%d rows left out; want some: %v", left, c.leaveSome)
			}
		})
	}
}

// TestPageFiltersAnswerAsAFullRead writes the same rows as segments of
// version 3 (no page filters) and of the current version, and asks both
// the questions page filters serve: counts and full rows under has,
// has_any and AnyColumn, where the text column holds the term and where
// only another column does (a row kept whose text was left out is read
// again).
func TestPageFiltersAnswerAsAFullRead(t *testing.T) {
	cells := filterTestText(6000, 1000)
	var body strings.Builder
	body.WriteString("[")
	for i, c := range cells {
		if i > 0 {
			body.WriteString(",")
		}
		tag := "t"
		if i%97 == 0 {
			tag = "u" // "u" in another column than the text
		}
		msg := "null"
		if c.kind != TypeNull {
			msg = fmt.Sprintf("%q", c.s)
		}
		fmt.Fprintf(&body, `{"TimeGenerated":%q,"message":%s,"tag":%q,"n":%d}`,
			testNow.Add(-time.Duration(i)*time.Second).Format(time.RFC3339Nano), msg, tag, i)
	}
	body.WriteString("]")
	questions := []struct {
		name  string
		preds []Predicate
		cols  []string
	}{
		{"message has u", []Predicate{{Column: "message", Op: OpHas, Value: "u"}}, nil},
		{"message has U, two columns", []Predicate{{Column: "message", Op: OpHas, Value: "U"}}, []string{"n", "message"}},
		{"message has a phrase", []Predicate{{Column: "message", Op: OpHas, Value: "port 7"}}, nil},
		{"message has_any", []Predicate{{Column: "message", Op: OpHasAny, Value: []string{"u", "mimikatz"}}}, nil},
		{"message has u and tag is t", []Predicate{{Column: "message", Op: OpHas, Value: "u"}, {Column: "tag", Op: OpEq, Value: "t"}}, nil},
		{"message has u and is not x", []Predicate{{Column: "message", Op: OpHas, Value: "u"}, {Column: "message", Op: OpNe, Value: "x"}}, nil},
		{"message is a row's", []Predicate{{Column: "message", Op: OpEq, Value: string(cells[4321].s)}}, nil},
		{"any column has u", []Predicate{{Column: AnyColumn, Op: OpHas, Value: "u"}}, nil},
		{"any column has u, the message alone", []Predicate{{Column: AnyColumn, Op: OpHas, Value: "u"}}, []string{"message"}},
		{"any column has u and message has for", []Predicate{{Column: AnyColumn, Op: OpHas, Value: "u"}, {Column: "message", Op: OpHas, Value: "for"}}, nil},
		{"any column has u and has mimikatz", []Predicate{{Column: AnyColumn, Op: OpHas, Value: "u"}, {Column: AnyColumn, Op: OpHas, Value: "mimikatz"}}, nil},
	}
	answers := func(version uint16) map[string][]string {
		dir := t.TempDir()
		st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 4096 })
		st.segVersion = version
		mustIngest(t, st, ws, tbl, []byte(body.String()))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(files(t, dir, segExt)) == 0 {
			t.Fatalf("version %d: no segment flushed", version)
		}
		got := map[string][]string{}
		for _, q := range questions {
			b, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Predicates: q.preds, Columns: q.cols})
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			got[q.name] = rowsOf(b)
			c, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Predicates: q.preds, RowsOnly: true})
			if err != nil {
				t.Fatalf("%s, count: %v", q.name, err)
			}
			if countRows(c) != len(got[q.name]) {
				t.Fatalf("version %d, %s: counted %d, %d rows read", version, q.name, countRows(c), len(got[q.name]))
			}
		}
		return got
	}
	old, cur := answers(segPagedVersion), answers(segmentVersion)
	for _, q := range questions {
		t.Run(q.name, func(t *testing.T) {
			if len(old[q.name]) == 0 && !strings.Contains(q.name, "mimikatz") {
				t.Fatal("no row matches: the question proves nothing")
			}
			equalRows(t, cur[q.name], old[q.name])
		})
	}
}

// TestPageFiltersAreSealed: the page filter is inside the sealed column
// chunk, so none of its bytes are in the segment file as written, and a
// byte of it changed fails authentication with a typed error, never
// another count.
func TestPageFiltersAreSealed(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	body := []byte("[")
	r := mrand.New(mrand.NewPCG(3, 3))
	for i := range 3000 {
		if i > 0 {
			body = append(body, ',')
		}
		body = sshEvent(body, r, testNow.Add(-time.Duration(i)*time.Second))
	}
	mustIngest(t, st, ws, tbl, append(body, ']'))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := files(t, dir, segExt)
	name, _ := parseSegName(filepath.Base(segs[0]))
	sr, err := openSegmentAt(st, segs[0], ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	aead, err := sr.blockAEAD(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cm := sr.blocks[0].col("message")
	sealed := make([]byte, cm.size)
	if _, err := sr.f.ReadAt(sealed, cm.off); err != nil {
		t.Fatal(err)
	}
	plain, err := open(nil, aead, sealed, sr.hdr.aad("segment.column", ws, tbl, "0", "message"))
	sr.close()
	if err != nil {
		t.Fatal(err)
	}
	d, err := parsePageDir(plain, true)
	if err != nil || len(d.filter) < 64 {
		t.Fatalf("no page filter in the message chunk: %d bytes, %v", len(d.filter), err)
	}
	var forms [][]byte
	for i := 8; i+16 <= len(d.filter); i += 8 {
		forms = append(forms, d.filter[i:i+16])
	}
	assertNoLeak(t, dir, forms)

	count := func() (int, error) {
		b, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true,
			Predicates: []Predicate{{Column: "message", Op: OpHas, Value: "u"}}})
		return countRows(b), err
	}
	if _, err := count(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	// AES-GCM keeps places: the filter's first byte of bits is at its
	// place in the chunk, after the nonce
	at := cm.off + int64(aead.NonceSize()+filterOffset(plain, d)+8)
	if at >= cm.off+cm.size-int64(len(d.filter)) {
		t.Fatalf("byte %d is not in the filter of the chunk at %d", at, cm.off)
	}
	raw[at] ^= 0x10
	if err := os.WriteFile(segs[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := count()
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Problem != ProblemAuthentication {
		t.Fatalf("count %d, err = %v; want an authentication IntegrityError", n, err)
	}
}

// filterOffset is where page filter d.filter starts in chunk b.
func filterOffset(b []byte, d pageDir) int {
	return len(b) - len(d.filter) - len(d.dict) - pagesBytes(d)
}

func pagesBytes(d pageDir) int {
	n := 0
	for _, p := range d.pages {
		n += len(p.comp)
	}
	return n
}
