package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// engineText is a value as the query engine reads it as text (kql's
// toString): the store's AnyColumn predicate must never drop a row in which
// one of these has the constant.
func engineText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return strconv.FormatInt(i, 10)
		}
		f, _ := x.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Truncate(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999Z")
	case map[string]any, []any:
		return engineJSON(x)
	}
	return fmt.Sprint(v)
}

// engineJSON renders a dynamic value as the engine does: compact, keys
// sorted, strings as encoding/json writes them.
func engineJSON(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			b.WriteString(engineJSON(x[k]))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = engineJSON(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case string:
		q, _ := json.Marshal(x)
		return string(q)
	case nil:
		return "null"
	}
	return engineText(v)
}

// engineHas is the engine's has (whole terms, ASCII case ignored) or
// contains.
func engineHas(s, needle string, op Op) bool {
	n := newFoldNeedle(bytes.ToLower([]byte(needle)))
	if op == OpContains {
		return n.contains(s)
	}
	return n.has(s)
}

// anyRows ingests body into a fresh store (flushed, or left in the WAL) and
// returns the keys of the rows an AnyColumn predicate keeps.
func anyRows(t *testing.T, st *Store, table string, needle string, op Op) []string {
	t.Helper()
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: table, Columns: []string{"Key"},
		Predicates: []Predicate{{AnyColumn, op, needle}}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range got {
		c := b.Column("Key")
		for i := range b.Len {
			keys = append(keys, c.Strings[i])
		}
	}
	slices.Sort(keys)
	return keys
}

// engineRows are the keys of the rows of body (a JSON array of objects with
// a Key) in which the engine finds needle in some column.
func engineRows(t *testing.T, body string, needle string, op Op) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rows {
		for name, v := range r {
			if name == "TimeGenerated" {
				at, _ := time.Parse(time.RFC3339Nano, v.(string))
				v = at
			}
			if v != nil && engineHas(engineText(v), needle, op) {
				keys = append(keys, r["Key"].(string))
				break
			}
		}
	}
	slices.Sort(keys)
	return keys
}

func TestAnyColumnKeepsEveryRowTheEngineMatches(t *testing.T) {
	// Each row's Key is a word no needle holds, so that only the other
	// columns decide.
	body := `[
		{"Key":"k01","TimeGenerated":"2026-03-10T10:00:00Z","Msg":"Failed password for root","User":"alice"},
		{"Key":"k02","TimeGenerated":"2026-03-10T10:00:01Z","Msg":"Accepted publickey","User":"bob"},
		{"Key":"k03","TimeGenerated":"2026-03-10T10:00:02Z","Msg":"FAILED PASSWORD for u","User":null},
		{"Key":"k04","TimeGenerated":"2026-03-10T10:00:03Z","Msg":"passwordless login","User":"u"},
		{"Key":"k05","TimeGenerated":"2026-03-10T10:00:04Z","Msg":"u","N":4625},
		{"Key":"k06","TimeGenerated":"2026-03-10T10:00:05Z","N":-4625,"R":1.5},
		{"Key":"k07","TimeGenerated":"2026-03-10T10:00:06Z","R":1000000.0,"B":true},
		{"Key":"k08","TimeGenerated":"2026-03-10T10:00:07Z","B":false,"Props":{"user":"carol","tags":["admin","u"]}},
		{"Key":"k09","TimeGenerated":"2026-03-10T10:00:08Z","Props":{"note":"caf\u00e9 au lait","n":1e3}},
		{"Key":"k10","TimeGenerated":"2026-03-10T10:00:09Z","Props":{"path":"C:\\Windows\\system32","q":"say \"hi\""}},
		{"Key":"k11","TimeGenerated":"2026-03-10T10:00:10Z","Props":["a<b","x&y"],"Msg":"end-of-line."},
		{"Key":"k12","TimeGenerated":"2026-03-10T10:00:11Z","Msg":"10.0.0.1 connected","Mixed":"text"},
		{"Key":"k13","TimeGenerated":"2026-03-10T10:00:12Z","Msg":"élan vital ÉLAN","Mixed":17},
		{"Key":"k14","TimeGenerated":"2026-03-10T10:00:13Z","Msg":"","Mixed":true}
	]`
	needles := []string{"failed password", "Failed", "password", "u", "U", "root", "alice", "publickey", "4625", "-4625",
		"1.5", "1e+06", "true", "false", "e", "carol", "admin", "user", "café", "au", "lait", "1000", "Windows", "system32",
		"hi", "b", "x", "u003cb", "10.0.0.1", "0.0", "connected", "élan", "vital", "text", "17", "2026", "10:00:05", "00Z",
		"end", "line.", "-of-", "nothing", "of", "k", "ai", "ord", "vit"}
	for _, flushed := range []bool{false, true} {
		st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 4 })
		mustIngest(t, st, ws, tbl, []byte(body))
		if flushed {
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, op := range []Op{OpHas, OpContains} {
			for _, n := range needles {
				t.Run(fmt.Sprintf("flushed=%v/%s %q", flushed, op, n), func(t *testing.T) {
					got, want := anyRows(t, st, tbl, n, op), engineRows(t, body, n, op)
					for _, k := range want {
						if !slices.Contains(got, k) {
							t.Fatalf("row %s dropped: kept %v, the engine matches %v", k, got, want)
						}
					}
				})
			}
		}
	}
}

func TestAnyColumnOnTextIsExact(t *testing.T) {
	// Text columns alone (no scalar or dynamic value the store must keep
	// whenever it could match): the store answers exactly as the engine.
	body := `[
		{"Key":"k1","Msg":"Failed password for root","User":"alice"},
		{"Key":"k2","Msg":"Accepted publickey","User":"bob"},
		{"Key":"k3","Msg":"FAILED PASSWORD for u","Host":"h1"},
		{"Key":"k4","Msg":"passwordless login","User":"u"},
		{"Key":"k5","Host":"h2.corp","User":"root"}
	]`
	body = strings.ReplaceAll(body, `{"Key"`, `{"TimeGenerated":"2026-03-10T10:00:00Z","Key"`)
	for _, flushed := range []bool{false, true} {
		st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 2 })
		mustIngest(t, st, ws, tbl, []byte(body))
		if flushed {
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []string{"failed password", "password", "u", "root", "h2", "corp", "h2.corp", "nothing", "k", "ed pass"} {
			for _, op := range []Op{OpHas, OpContains} {
				got, want := anyRows(t, st, tbl, n, op), engineRows(t, body, n, op)
				// Key and TimeGenerated hold no needle but k, 2026 (none here).
				if !slices.Equal(got, want) {
					t.Errorf("flushed=%v %s %q: %v, want %v", flushed, op, n, got, want)
				}
				counted, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true, Predicates: []Predicate{{AnyColumn, op, n}}})
				if err != nil || countRows(counted) != len(want) {
					t.Errorf("flushed=%v %s %q: counted %d rows (%v), want %d", flushed, op, n, countRows(counted), err, len(want))
				}
			}
		}
	}
}

func TestAnyColumnFiltersHaveNoFalseNegatives(t *testing.T) {
	// Random words in random text columns over many small blocks, searched
	// for words present, absent and phrases: the filters skip blocks, and
	// must never skip one with a match.
	r := rand.New(rand.NewPCG(7, 11))
	vocab := make([]string, 400)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%x", r.Uint32())
	}
	text := func() string {
		words := make([]string, 1+r.IntN(4))
		for i := range words {
			words[i] = vocab[r.IntN(len(vocab))]
			if r.IntN(5) == 0 {
				words[i] = strings.ToUpper(words[i])
			}
		}
		return strings.Join(words, []string{" ", "-", ", ", "/"}[r.IntN(4)])
	}
	rows := make([]map[string]any, 2000)
	for i := range rows {
		rows[i] = map[string]any{"TimeGenerated": testNow.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "Key": fmt.Sprintf("key%d", i)}
		for _, c := range []string{"A", "B", "C"} {
			if r.IntN(4) > 0 {
				rows[i][c] = text()
			}
		}
	}
	body, _ := json.Marshal(rows)
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 20 })
	mustIngest(t, st, ws, tbl, body)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	needles := []string{"absent", "w0", "key"}
	for range 60 {
		needles = append(needles, vocab[r.IntN(len(vocab))])
	}
	for range 20 {
		row := rows[r.IntN(len(rows))]
		if s, ok := row["A"].(string); ok {
			needles = append(needles, s) // a phrase, as written
		}
	}
	pruned := false
	for _, n := range needles {
		keys.ResetOpens()
		got, want := anyRows(t, st, tbl, n, OpHas), engineRows(t, string(body), n, OpHas)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: %d rows, the engine %d", n, len(got), len(want))
		}
		// 100 blocks: a filter each, and all of a block's columns where it admits.
		pruned = pruned || keys.Opens() < 100*2
	}
	if !pruned {
		t.Fatal("no block was ever skipped: the filters are not read")
	}
}

func TestAnyColumnReadsOneFilterPerBlockItSkips(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 100 })
	var rows []string
	for i := range 300 {
		rows = append(rows, fmt.Sprintf(`{"TimeGenerated":"%s","EventID":%d,"Computer":"host%d","Msg":"Failed password for user%d","Props":{"k":"v%d"}}`,
			testNow.Add(-time.Duration(i)*time.Second).Format(time.RFC3339), 4000+i, i, i, i))
	}
	mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		needle  string
		columns []string
		rows    int
		// cold: 1 for the index, 1 per block's any-column filter; in a
		// block it admits, 1 per string column's own filter (Computer,
		// Msg), then the 5 columns of a block with a match
		decrypted int64
	}{
		{"absent everywhere", "nothing", nil, 0, 1 + 3},
		{"in one block", "host150", nil, 1, 1 + 3 + 2 + 5},
		{"in every block", "failed password", nil, 300, 1 + 3 + 3*2 + 3*5},
		// Computer's filter rules it out: Msg and Props alone are read
		{"in one column of every block", "failed", []string{"Msg"}, 300, 1 + 3 + 3*2 + 3*2},
		// a number may be a long's text: no filter can rule it out, and
		// the store keeps every row with a long for the engine to filter
		{"digits", "4150", nil, 300, 1 + 3*5},
		// a dynamic value is matched on its terms when the constant is a word
		{"word in a dynamic value", "v7", nil, 1, 1 + 3 + 2 + 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st.indexes.drop()
			keys.ResetOpens()
			got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: c.columns, Predicates: []Predicate{{AnyColumn, OpHas, c.needle}}})
			if err != nil {
				t.Fatal(err)
			}
			if countRows(got) != c.rows || keys.Opens() != c.decrypted {
				t.Fatalf("%d rows, %d decryptions; want %d rows, %d decryptions", countRows(got), keys.Opens(), c.rows, c.decrypted)
			}
		})
	}
}

func TestAnyColumnInASegmentWithoutItsFilterUsesTheColumnFilters(t *testing.T) {
	// A segment of version 1 has no any-column filter: the blocks' text
	// columns' own filters rule a block out when none holds every term.
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 2 })
	mustIngest(t, st, ws, tbl, []byte(`[{"TimeGenerated":"2026-03-10T10:00:00Z","A":"alpha beta","B":"gamma"},
		{"TimeGenerated":"2026-03-10T10:00:01Z","A":"delta","B":"epsilon beta"},
		{"TimeGenerated":"2026-03-10T10:00:02Z","A":"zeta","B":"eta"}]`))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	seg := files(t, st.cfg.Dir, segExt)[0]
	name, _ := parseSegName(seg[strings.LastIndex(seg, "/")+1:])
	r, err := openSegmentAt(st, seg, ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	r.blocks = slices.Clone(r.blocks) // the cached index stays as it is
	for i := range r.blocks {
		if r.blocks[i].anySize == 0 {
			t.Fatalf("block %d has no any-column filter", i)
		}
		r.blocks[i].anySize = 0
	}
	aead, _ := r.blockAEAD(context.Background())
	for _, c := range []struct {
		needle string
		admits []bool // per block
	}{
		{"beta", []bool{true, false}},
		{"alpha beta", []bool{true, false}},
		{"gamma alpha", []bool{false, false}}, // both terms, but in two columns
		{"eta", []bool{false, true}},
		{"omega", []bool{false, false}},
	} {
		p, err := compile(Predicate{AnyColumn, OpHas, c.needle})
		if err != nil {
			t.Fatal(err)
		}
		for bi, want := range c.admits {
			if ok, _, err := anyAdmits(segBlock{r, aead, bi}, &r.blocks[bi], &p); err != nil || ok != want {
				t.Errorf("%q, block %d: admits %v (%v), want %v", c.needle, bi, ok, err, want)
			}
		}
	}
}

func TestAnyColumnFilterIsSealedAndBoundToItsBlock(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 1 })
	canary := "canary" + strings.ToLower(strings.ReplaceAll(fmt.Sprint(rand.Uint64()), "-", ""))
	mustIngest(t, st, ws, tbl, []byte(fmt.Sprintf(`[{"TimeGenerated":"2026-03-10T10:00:00Z","C1":"same %[1]s"},
		{"TimeGenerated":"2026-03-10T10:00:01Z","C1":"same %[1]s"}]`, canary)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	seg := files(t, dir, segExt)[0]
	name, _ := parseSegName(seg[strings.LastIndex(seg, "/")+1:])
	r, err := openSegmentAt(st, seg, ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := r.blockAEAD(context.Background())
	f, err := r.readAnyBloom(aead, 0)
	blocks := r.blocks
	r.close()
	if err != nil {
		t.Fatal(err)
	}
	if !anyBloomHas(f[1:], bloomHash(bloomTerm, []byte(canary), true)) {
		t.Fatal("the filter lacks the canary's term")
	}
	data, _ := os.ReadFile(seg)
	// the filter as written: its bits would be there, were it not sealed
	if bytes.Contains(data, f[1:]) || bytes.Contains(data, []byte(canary)) {
		t.Fatal("the any-column filter is on disk unsealed")
	}
	// moved to the other block's place: it no longer opens
	a, b := blocks[0], blocks[1]
	if a.anySize != b.anySize {
		t.Fatalf("filters of %d and %d bytes", a.anySize, b.anySize)
	}
	moved := slices.Clone(data)
	copy(moved[a.anyOff:a.anyOff+a.anySize], data[b.anyOff:b.anyOff+b.anySize])
	copy(moved[b.anyOff:b.anyOff+b.anySize], data[a.anyOff:a.anyOff+a.anySize])
	os.WriteFile(seg, moved, 0o600)
	_, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Predicates: []Predicate{{AnyColumn, OpHas, "absent"}}})
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Problem != ProblemAuthentication {
		t.Fatalf("error %v, want an integrity error", err)
	}
}

func TestAnyColumnPredicateNeedsHasOrContainsAndAString(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, []byte(`[{"A":"x"}]`))
	for _, p := range []Predicate{{AnyColumn, OpEq, "x"}, {AnyColumn, OpHas, 1}, {AnyColumn, OpLt, "x"}} {
		t.Run(fmt.Sprintf("%s %v", p.Op, p.Value), func(t *testing.T) {
			if _, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl, Predicates: []Predicate{p}}); !errors.Is(err, ErrInvalidScan) {
				t.Fatalf("error %v, want ErrInvalidScan", err)
			}
		})
	}
}

// FuzzAnyTermsKeepEveryTermOfText builds the any-column filter of random
// text and finds in it every term of every value.
func FuzzAnyTermsKeepEveryTermOfText(f *testing.F) {
	f.Add("Failed password for root from 10.0.0.1", `{"a":"b c"}`)
	f.Add("ÉLAN vital", `["caf\u00e9"]`)
	f.Fuzz(func(t *testing.T, s, dyn string) {
		var terms anyTerms
		appendColumn(nil, TypeString, []cell{{kind: TypeString, s: []byte(s)}}, nil, true, &terms)
		appendColumn(nil, TypeDynamic, []cell{{kind: TypeDynamic, s: []byte(dyn)}}, nil, true, &terms)
		fl := terms.filter()
		if fl == nil {
			return
		}
		for _, v := range []string{s, dyn} {
			forTerms([]byte(v), func(term []byte) {
				if !anyBloomHas(fl[1:], bloomHash(bloomTerm, term, true)) {
					t.Fatalf("term %q of %q not in the filter", term, v)
				}
			})
		}
		if fl[0]&anyLoose != 0 == verbatimJSON(dyn) {
			t.Fatalf("loose flag %v for %q", fl[0]&anyLoose != 0, dyn)
		}
	})
}

// blockOfEvents is the columns of a block of n security events, as a flush
// builds them.
func blockOfEvents(b testing.TB, n int) *blockBuilder {
	rec, refs, err := parseRows(eventsBody(b, 0, n, testNow), ingestLimits{now: testNow, oldest: testNow.Add(-2 * time.Hour),
		newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	putIngestTime(rec, testNow.UnixNano())
	_, payload, _, err := decodeRecord(walVersion, rec)
	if err != nil {
		b.Fatal(err)
	}
	bb := newBlockBuilder(nil)
	for _, r := range refs {
		if err := bb.add(payload, r, testNow.UnixNano()); err != nil {
			b.Fatal(err)
		}
	}
	return bb
}

// BenchmarkAnyFilter measures what the any-column filter adds to a flush's
// encoding of a block of 8,192 security events: the columns with their own
// filters, then the same with the terms also gathered into the block's
// filter and its bits set.
func BenchmarkAnyFilter(b *testing.B) {
	bb := blockOfEvents(b, 8192)
	for _, any := range []bool{false, true} {
		b.Run(fmt.Sprintf("any-filter=%v", any), func(b *testing.B) {
			var plain []byte
			var terms anyTerms
			size := 0
			cpu := cputime.Process()
			for b.Loop() {
				terms.reset()
				all := &terms
				if !any {
					all = nil
				}
				bb.eachColumn(func(_ string, t Type, cells []cell, times []int64) {
					plain, _ = appendColumn(plain[:0], t, cells, times, true, all)
				})
				if any {
					size = len(terms.filter())
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N*bb.rows()), "cpu-ns/row")
			b.ReportMetric(float64(size)/float64(bb.rows()), "filter-B/row")
		})
	}
}

// TestAnyFilterFalsePositiveRate checks the any-column filter's rate of
// false positives at the size it is built with: about 1%, as a standard
// filter of 10 bits a key with 7 hashes.
func TestAnyFilterFalsePositiveRate(t *testing.T) {
	for _, n := range []int{100, 5000, 100000} {
		var terms anyTerms
		for i := range n {
			terms.keys.add(bloomHash(bloomTerm, []byte(fmt.Sprintf("present%d", i)), true))
		}
		f := terms.filter()
		for i := range n {
			if !anyBloomHas(f[1:], bloomHash(bloomTerm, []byte(fmt.Sprintf("present%d", i)), true)) {
				t.Fatalf("%d keys: key %d missing", n, i)
			}
		}
		fp := 0
		const probes = 200000
		for i := range probes {
			if anyBloomHas(f[1:], bloomHash(bloomTerm, []byte(fmt.Sprintf("absent%d", i)), true)) {
				fp++
			}
		}
		rate := float64(fp) / probes
		t.Logf("%d keys: %d bytes (%.1f bits a key), %.2f%% false positives", n, len(f), float64(8*(len(f)-2))/float64(n), 100*rate)
		if rate > 0.015 {
			t.Fatalf("%d keys: %.2f%% false positives", n, 100*rate)
		}
	}
}

// FuzzRawFindAsEachValue checks the search of a column's text whole
// against the match of each value on its own: values split at random, with
// needles that cross from one value to the next, at their edges and
// empty.
func FuzzRawFindAsEachValue(f *testing.F) {
	f.Add("Failed password for rootFailed password", "password", uint64(7), false)
	f.Add("uuu u-u uu", "u", uint64(3), false)
	f.Add("abcabc", "ca", uint64(1), true)
	f.Add("x.yx.y", "x.", uint64(5), false)
	f.Fuzz(func(t *testing.T, text, needle string, cuts uint64, contains bool) {
		r := rand.New(rand.NewPCG(cuts, 1))
		var ends []int
		for i := 0; i < len(text); {
			i = min(len(text), i+r.IntN(6))
			ends = append(ends, i)
		}
		op := OpHas
		if contains {
			op = OpContains
		}
		p, err := compile(Predicate{"A", op, needle})
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		rawFind(&rawStrings{data: []byte(text), ends: ends}, &p, func(j int) { got = append(got, j) })
		var want []int
		start := 0
		for j, end := range ends {
			if matchBytes([]byte(text[start:end]), &p) {
				want = append(want, j)
			}
			start = end
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s %q in %q cut at %v: values %v, each on its own %v", op, needle, text, ends, got, want)
		}
	})
}

func TestHasAnyKeepsTheRowsOfEachTermAndSkipsBlocksWithNone(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 2 })
	body := `[{"TimeGenerated":"2026-03-10T10:00:00Z","Msg":"Failed password for root"},
		{"TimeGenerated":"2026-03-10T10:00:01Z","Msg":"accepted key"},
		{"TimeGenerated":"2026-03-10T10:00:02Z","Msg":"session opened"},
		{"TimeGenerated":"2026-03-10T10:00:03Z","Msg":"session closed"},
		{"TimeGenerated":"2026-03-10T10:00:04Z","Msg":"ROOT login"},
		{"TimeGenerated":"2026-03-10T10:00:05Z"}]`
	for _, flushed := range []bool{false, true} {
		if flushed {
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		} else {
			mustIngest(t, st, ws, tbl, []byte(body))
		}
		for _, c := range []struct {
			terms []string
			rows  int
			cold  int64 // decryptions of a flushed scan: index, filters, Msg of the blocks they admit
		}{
			{[]string{"root", "closed"}, 3, 1 + 3 + 3},
			{[]string{"nothing", "absent"}, 0, 1 + 3},
			{[]string{"password for", "key"}, 2, 1 + 3 + 1},
		} {
			st.indexes.drop()
			keys.ResetOpens()
			got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Msg"}, Predicates: []Predicate{{"Msg", OpHasAny, c.terms}}})
			if err != nil || countRows(got) != c.rows {
				t.Fatalf("flushed=%v %v: %d rows (%v), want %d", flushed, c.terms, countRows(got), err, c.rows)
			}
			if flushed && keys.Opens() != c.cold {
				t.Errorf("%v: %d decryptions, want %d", c.terms, keys.Opens(), c.cold)
			}
		}
	}
	for _, v := range []any{[]string{}, "root", []any{"root"}} {
		if _, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl, Predicates: []Predicate{{"Msg", OpHasAny, v}}}); !errors.Is(err, ErrInvalidScan) {
			t.Fatalf("has_any %v: error %v, want ErrInvalidScan", v, err)
		}
	}
}

// BenchmarkRawFind compares has on a column read in place searched value by
// value with the column's text searched whole, on 8,192 sshd-like messages
// (about 70 bytes) where the term is in 0.1% of them (the "u") or in
// a quarter ("Failed password").
func BenchmarkRawFind(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var data []byte
	var ends []int
	for i := range 8192 {
		user := fmt.Sprintf("user%04d", r.IntN(2000))
		if i%1000 == 7 {
			user = "u"
		}
		switch r.IntN(4) {
		case 0:
			data = fmt.Appendf(data, "Failed password for %s from 10.%d.%d.%d port %d ssh2", user, r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(65536))
		case 1:
			data = fmt.Appendf(data, "Accepted publickey for %s from 10.%d.%d.%d port %d ssh2", user, r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(65536))
		case 2:
			data = fmt.Appendf(data, "pam_unix(sudo:session): session opened for user root by %s(uid=%d)", user, 1000+r.IntN(5000))
		default:
			data = fmt.Appendf(data, "An account failed to log on. Subject: %s Logon ID: 0x%x", user, r.Uint32())
		}
		ends = append(ends, len(data))
	}
	raw := &rawStrings{data: data, ends: ends}
	for _, needle := range []string{"u", "Failed password"} {
		p, err := compile(Predicate{"message", OpHas, needle})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("term=%s/search=each-value", needle), func(b *testing.B) {
			for b.Loop() {
				start := 0
				for _, end := range ends {
					matchBytes(data[start:end], &p)
					start = end
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
		})
		b.Run(fmt.Sprintf("term=%s/search=whole-text", needle), func(b *testing.B) {
			for b.Loop() {
				rawFind(raw, &p, func(int) {})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
		})
	}
}

// TestAnyColumnSkipsOnlyTypesWhoseTextCannotHoldTheConstant renders values
// of each type as the query engine does (kql's tostring, and the text the
// engine gives a column of strings whose blocks hold other types), takes
// every substring of each text as a constant, and checks that whenever the
// engine's has or contains finds it in the text, the store does not leave
// a column of that type out of the search (anyPred.mayMatch).
func TestAnyColumnSkipsOnlyTypesWhoseTextCannotHoldTheConstant(t *testing.T) {
	reals := []float64{0, 1.5, -0.25, 1e20, 1.5e-7, 1e-9, 5e-324, math.MaxFloat64, -math.MaxFloat64, math.Copysign(0, -1),
		float64(math.MaxInt64), float64(math.MinInt64), 123456789012345678, math.NaN(), math.Inf(1), math.Inf(-1)}
	realText := func(f float64) []string {
		kusto := strconv.FormatFloat(f, 'g', -1, 64) // kql's formatReal
		switch {
		case math.IsNaN(f):
			kusto = "NaN"
		case math.IsInf(f, 1):
			kusto = "Infinity"
		case math.IsInf(f, -1):
			kusto = "-Infinity"
		}
		return []string{kusto, strconv.FormatFloat(f, 'g', -1, 64)} // and as a string column's: +Inf
	}
	times := []time.Time{time.Unix(0, 0), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 3, 10, 10, 0, 5, 123456700, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, math.MaxInt64).UTC(), time.Unix(0, math.MinInt64).UTC()}
	cases := []struct {
		typ   Type
		texts []string
	}{
		{TypeLong, nil},
		{TypeReal, nil},
		{TypeDatetime, nil},
	}
	for _, v := range []int64{0, -1, 4625, math.MaxInt64, math.MinInt64} {
		cases[0].texts = append(cases[0].texts, strconv.FormatInt(v, 10))
	}
	for _, f := range reals {
		cases[1].texts = append(cases[1].texts, realText(f)...)
	}
	for _, at := range times {
		// as kql's formatDatetime writes it, and a column of strings' datetime block
		cases[2].texts = append(cases[2].texts,
			at.UTC().Truncate(100*time.Nanosecond).Format("2006-01-02T15:04:05.9999999Z"), at.UTC().Format(time.RFC3339Nano))
	}
	for _, c := range cases {
		t.Run(c.typ.String(), func(t *testing.T) {
			tested := 0
			for _, text := range c.texts {
				for i := range len(text) {
					for j := i + 1; j <= len(text); j++ {
						for _, op := range []Op{OpHas, OpContains} {
							k := text[i:j]
							if !engineHas(text, k, op) {
								continue
							}
							p, err := compile(Predicate{Column: AnyColumn, Op: op, Value: k})
							if err != nil {
								t.Fatal(err)
							}
							tested++
							if !p.any.mayMatch(c.typ, 0, 1) {
								t.Errorf("%s %q is in %q, but a %s column is left out of the search", op, k, text, c.typ)
							}
						}
					}
				}
			}
			if tested == 0 {
				t.Fatal("no constant tested")
			}
		})
	}
	t.Run("bool", func(t *testing.T) {
		for _, k := range []string{"true", "TRUE", "false", "fals", "rue", "u", "e", "t", "nothing"} {
			for _, op := range []Op{OpHas, OpContains} {
				p, err := compile(Predicate{Column: AnyColumn, Op: op, Value: k})
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range []bool{true, false} {
					text := strconv.FormatBool(v)
					var lo, hi int64 // a block of v alone
					if v {
						lo, hi = 1, 1
					}
					if got := p.any.mayMatch(TypeBool, lo, hi); got != engineHas(text, k, op) {
						t.Errorf("%s %q of a block of %v: searched %v", op, k, v, got)
					}
				}
			}
		}
	})
}

// TestAnyColumnCountIsExactOrNeedsRows counts rows of every type under an
// AnyColumn predicate with a scan for row counts: the count is the
// engine's, or the scan fails with ErrCountNeedsRows, which it does where
// a number's, a datetime's or a dynamic value's text may hold the constant,
// and only there.
func TestAnyColumnCountIsExactOrNeedsRows(t *testing.T) {
	body := `[
		{"Key":"k01","TimeGenerated":"2026-03-10T10:00:00Z","Msg":"Failed password for root","User":"alice","B":true},
		{"Key":"k02","TimeGenerated":"2026-03-10T10:00:01Z","Msg":"Accepted publickey","User":"bob","N":4625},
		{"Key":"k03","TimeGenerated":"2026-03-10T10:00:02Z","Msg":"FAILED PASSWORD for u","User":null,"R":1e20},
		{"Key":"k04","TimeGenerated":"2026-03-10T10:00:03Z","Msg":"passwordless login","User":"u","B":false},
		{"Key":"k05","TimeGenerated":"2026-03-10T10:00:04Z","Msg":"true u","N":-1,"At":"2026-01-02T03:04:05Z"},
		{"Key":"k06","TimeGenerated":"2026-03-10T10:00:05Z","Msg":"10.0.0.1 e","R":1.5},
		{"Key":"k07","TimeGenerated":"2026-03-10T10:00:07Z","Msg":"alice carol"}
	]`
	dynamic := `[{"Key":"k08","TimeGenerated":"2026-03-10T10:00:06Z","Props":{"user":"carol","tags":["admin","u"]}}]`
	decided := []string{"u", "failed password", "alice", "true", "false", "publickey", "carol", "nothing"}
	undecided := []string{"4625", "-1", "1e", "1e+20", "e", "1.5", "2026", "03", "10.0.0.1", "t", "z", "0"}
	for _, flushed := range []bool{false, true} {
		st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 3 })
		mustIngest(t, st, ws, tbl, []byte(body))
		mustIngest(t, st, ws, "Dynamic", []byte(dynamic))
		if flushed {
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			needles []string
			exact   bool
		}{{decided, true}, {undecided, false}} {
			for _, n := range c.needles {
				t.Run(fmt.Sprintf("flushed=%v/%q", flushed, n), func(t *testing.T) {
					want := engineRows(t, body, n, OpHas)
					req := ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true, Predicates: []Predicate{{AnyColumn, OpHas, n}}}
					counted, err := scanAll(st, req)
					switch {
					case errors.Is(err, ErrCountNeedsRows):
						if c.exact {
							t.Fatalf("needs the rows for %q, which no number or datetime holds", n)
						}
					case err != nil:
						t.Fatal(err)
					case countRows(counted) != len(want):
						t.Fatalf("counted %d, the engine matches %v", countRows(counted), want)
					case !c.exact:
						t.Fatalf("counted %q, which a number or datetime may hold, without the rows", n)
					}
				})
			}
		}
		// a dynamic value's text is the engine's to match
		props := ScanRequest{Workspace: ws, Table: "Dynamic", RowsOnly: true, Predicates: []Predicate{{AnyColumn, OpHas, "admin"}}}
		if _, err := scanAll(st, props); !errors.Is(err, ErrCountNeedsRows) {
			t.Fatalf("flushed=%v: counted rows of a dynamic column: %v", flushed, err)
		}
	}
}

// TestAnyColumnCountsInPlaceAsTheRowsScan counts rows of sshEvent (a
// dictionary-coded user column, long text with page filters, numbers) under
// AnyColumn predicates with a scan for row counts, which matches each
// string column in place, and with a scan for the rows, which reads the
// columns and matches them row by row (evaluateAny): in segments of 1,000-
// and 8,192-row blocks, and in the WAL, the counts must be equal.
func TestAnyColumnCountsInPlaceAsTheRowsScan(t *testing.T) {
	needles := []string{"u", "U", "user0007", "failed password", "password for u", "root", "sudo", "0xc000006d", "ssh2",
		"publickey", "lsass.exe", "wks", "security", "nothing", "rsa", "pam_unix", "uid", "10.1"}
	for _, c := range []struct {
		name      string
		blockRows int
		flushed   bool
	}{{"blocks of 8192", 8192, true}, {"blocks of 1000", 1000, true}, {"unflushed", 8192, false}} {
		t.Run(c.name, func(t *testing.T) {
			st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(cfg *Config) { cfg.BlockRows = c.blockRows })
			r := rand.New(rand.NewPCG(7, 7))
			body := []byte("[")
			for i := range 12_000 {
				if i > 0 {
					body = append(body, ',')
				}
				body = sshEvent(body, r, testNow.Add(-time.Hour+time.Duration(i)*time.Millisecond))
			}
			mustIngest(t, st, ws, tbl, append(body, ']'))
			if c.flushed {
				if err := st.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			compared := 0
			for _, n := range needles {
				for _, op := range []Op{OpHas, OpContains} {
					pred := []Predicate{{AnyColumn, op, n}}
					rows, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"user"}, Predicates: pred})
					if err != nil {
						t.Fatal(err)
					}
					counted, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, RowsOnly: true, Predicates: pred})
					if errors.Is(err, ErrCountNeedsRows) {
						continue // a number's text may hold n
					}
					if err != nil {
						t.Fatal(err)
					}
					if countRows(counted) != countRows(rows) {
						t.Errorf("%s %q: counted %d, the rows scan kept %d", op, n, countRows(counted), countRows(rows))
					}
					if countRows(rows) > 0 {
						compared++
					}
				}
			}
			if compared < 2*len(needles)-8 {
				t.Fatalf("only %d counts compared with rows matched", compared)
			}
		})
	}
}
