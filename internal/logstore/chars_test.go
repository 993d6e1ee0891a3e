package logstore

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestCharsNeverRuleOutAConstantAValueMatches draws values of letters of
// either case, digits, punctuation and text outside ASCII, and constants
// from within them and at random: wherever ==, has or contains matches a
// value, the values' set of characters holds the constant.
func TestCharsNeverRuleOutAConstantAValueMatches(t *testing.T) {
	r := mrand.New(mrand.NewPCG(5, 5))
	alphabets := []string{"0123456789abcdef-", "abcXYZ019 .:/", "éÉKkKµ_-", "uU 1"}
	draw := func(alphabet string, n int) string {
		runes := []rune(alphabet)
		var b strings.Builder
		for range n {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		return b.String()
	}
	matched := 0
	for range 400 {
		alphabet := alphabets[r.IntN(len(alphabets))]
		values := make([][]byte, 1+r.IntN(5))
		for i := range values {
			values[i] = []byte(draw(alphabet, r.IntN(12)))
		}
		set := textChars(len(values), func(i int) []byte { return values[i] })
		var constants []string
		for _, v := range values {
			if len(v) > 0 {
				i := r.IntN(len(v))
				constants = append(constants, string(v), string(v[i:i+1+r.IntN(len(v)-i)]), strings.ToUpper(string(v)))
			}
		}
		constants = append(constants, draw(alphabets[r.IntN(len(alphabets))], 1+r.IntN(3)), "u", "U", "")
		for _, k := range constants {
			for _, op := range []Op{OpEq, OpHas, OpContains} {
				p, err := compile(Predicate{Column: "c", Op: op, Value: k})
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range values {
					if matchString(string(v), &p) {
						matched++
						if !charsHold(set, charsOf(&p)) {
							t.Fatalf("%s %q matches %q, but the characters of %q rule it out", op, k, v, values)
						}
					}
				}
			}
		}
	}
	if matched < 1000 {
		t.Fatalf("only %d matches: the draws do not test the rule", matched)
	}
	if charsHold(textChars(1, func(int) []byte { return []byte("0123abcdef-") }), []byte("u")) {
		t.Fatal("hex digits hold u")
	}
}

// charsStore writes rows whose id (a GUID: too many terms for a bloom
// filter in a block of 8,192 rows) and msg columns hold the terms the
// tests look for, into a segment of the given version.
func charsStore(t *testing.T, version uint16) (*Store, string) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	st.segVersion = version
	r := mrand.New(mrand.NewPCG(9, 9))
	body := []byte("[")
	for i := range 9000 {
		if i > 0 {
			body = append(body, ',')
		}
		msg := []string{"Failed password for u", "accepted", "session opened", "a7f3"}[r.IntN(4)]
		body = fmt.Appendf(body, `{"TimeGenerated":%q,"id":"%08x-%04x-%04x-%04x-%012x","msg":%q,"n":%d}`,
			testNow.Add(-time.Hour+time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano),
			r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff, msg, i)
	}
	mustIngest(t, st, ws, tbl, append(body, ']'))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// TestColumnsWithoutFiltersAnswerByTheirCharactersAsBefore reads the same
// rows from segments of version 4 and of version 5, whose index holds the
// characters of the GUID column (no bloom filter): every scan answers the
// same rows and counts, and the searches for a character no GUID holds
// read less of version 5. The index holding them is sealed: no window of
// its plain text is in the file.
func TestColumnsWithoutFiltersAnswerByTheirCharactersAsBefore(t *testing.T) {
	old, _ := charsStore(t, segPageFilterVersion)
	cur, dir := charsStore(t, segmentVersion)
	preds := [][]Predicate{
		{{AnyColumn, OpHas, "u"}}, {{AnyColumn, OpHas, "password"}}, {{AnyColumn, OpHas, "a7f3"}},
		{{AnyColumn, OpContains, "-4"}}, {{AnyColumn, OpHas, "zz"}},
		{{"id", OpHas, "u"}}, {{"id", OpContains, "ab"}}, {{"id", OpEq, "not-a-guid"}}, {{"id", OpHas, "a7f3"}},
		{{"msg", OpHas, "u"}, {"id", OpContains, "0"}},
	}
	for _, ps := range preds {
		t.Run(fmt.Sprint(ps), func(t *testing.T) {
			var bytes [2]int64
			var rows [2][]string
			var counts [2]int
			var errs [2]error
			for i, st := range []*Store{old, cur} {
				got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Predicates: ps})
				if err != nil {
					t.Fatal(err)
				}
				rows[i] = rowsOf(got)
				// a column none searches: the bytes read are the predicates'
				sc, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl, Predicates: ps, Columns: []string{"n"}})
				if err != nil {
					t.Fatal(err)
				}
				for sc.Next() {
				}
				if sc.Err() != nil {
					t.Fatal(sc.Err())
				}
				bytes[i] = sc.Stats().BytesRead
				sc.Close()
				counted, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Predicates: ps, RowsOnly: true})
				counts[i], errs[i] = countRows(counted), err
			}
			if errs[0] != nil || errs[1] != nil {
				if !errors.Is(errs[0], ErrCountNeedsRows) || !errors.Is(errs[1], ErrCountNeedsRows) {
					t.Fatalf("counts failed: %v in version 4, %v in version 5", errs[0], errs[1])
				}
				counts[0], counts[1] = len(rows[1]), len(rows[1]) // a number's text may hold the constant
			}
			equalRows(t, rows[1], rows[0])
			if counts[0] != counts[1] || counts[1] != len(rows[1]) {
				t.Fatalf("counted %d in version 4, %d in version 5, %d rows", counts[0], counts[1], len(rows[1]))
			}
			if len(ps) == 1 && (ps[0].Value == "u" || ps[0].Value == "zz") && bytes[1] >= bytes[0] {
				t.Fatalf("read %d bytes of version 5, %d of version 4: the GUIDs were searched", bytes[1], bytes[0])
			}
		})
	}
	segs := files(t, dir, segExt)
	name, _ := parseSegName(filepath.Base(segs[0]))
	sr, err := openSegmentAt(cur, segs[0], ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer sr.close()
	id := sr.blocks[0].col("id")
	if id == nil || id.bloomSize != 0 || id.chars == 0 || charsHold(id.chars, []byte("u")) {
		t.Fatalf("the GUID column of the first block: %+v", id)
	}
	plain := encodeIndex(sr.blocks, segmentVersion)
	var forms [][]byte
	for i := 0; i+16 <= len(plain); i += 8 {
		forms = append(forms, plain[i:i+16])
	}
	assertNoLeak(t, dir, forms)
}
