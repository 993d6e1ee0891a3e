package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// The decoders below read what a disk (or a body from the network) holds:
// none may panic, and a sealed file that is not byte for byte what was
// written must not open.

func FuzzParseRows(f *testing.F) {
	for _, s := range []string{`[{"A":1}]`, `[{"TimeGenerated":"2026-03-10T12:00:00Z","S":"x\u00e9","J":{"a":[1,{"b":null}]},"R":-1.5e3,"B":true}]`, `[1]`, `{}`, `[{"A":"\""}]`} {
		f.Add([]byte(s))
	}
	lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, refs, err := parseRows(body, lim)
		if err != nil {
			return
		}
		putIngestTime(rec, testNow.UnixNano())
		ingested, payload, again, err := decodeRecord(walVersion, rec)
		if err != nil || len(again) != len(refs) || ingested != testNow.UnixNano() {
			t.Fatalf("parsed body does not decode: %v", err)
		}
		bb := newBlockBuilder(nil)
		for _, r := range refs {
			if err := bb.add(payload, r, ingested); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range bb.columns() {
			typ, times := resolveType(c.cells)
			enc, _ := encodeColumn(nil, typ, c.cells, times)
			if _, err := decodeColumn(enc, c.name); err != nil {
				t.Fatalf("column %s does not round-trip: %v", c.name, err)
			}
		}
	})
}

// FuzzWALRecordPayload decodes any bytes as the record of a WAL of each
// version: records of version 3 on start with their ingestion time.
func FuzzWALRecordPayload(f *testing.F) {
	rec, _, _ := parseRows([]byte(`[{"A":1,"S":"x","R":1.5,"B":false,"J":[1]},{"TimeGenerated":"2026-03-10T12:00:00Z"}]`),
		ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow, maxRowBytes: 1 << 20})
	putIngestTime(rec, testNow.UnixNano())
	f.Add(rec)
	f.Add(rec[ingestTimeSize:]) // a version 2 record
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, version := range []uint16{walMarkVersion, walVersion} {
			ingested, payload, refs, err := decodeRecord(version, p)
			if err != nil {
				continue
			}
			if version < walStampVersion && ingested != unknownIngest || version >= walStampVersion && ingested == unknownIngest {
				t.Fatalf("version %d record: ingestion time %d", version, ingested)
			}
			bb := newBlockBuilder(nil)
			for _, r := range refs {
				if err := bb.add(payload, r, ingested); err != nil {
					t.Fatalf("validated payload fails: %v", err)
				}
			}
		}
	})
}

func FuzzDecodeColumn(f *testing.F) {
	for _, cells := range [][]cell{
		{{kind: TypeLong, i: 5}, {}, {kind: TypeLong, i: -9}},
		{{kind: TypeString, s: []byte("a")}, {kind: TypeString, s: []byte("bc")}},
		{{kind: TypeBool, i: 1}, {kind: TypeBool}},
		{{kind: TypeReal, i: 4611686018427387904}},
		{{kind: TypeString, s: []byte("host")}, {}, {kind: TypeString, s: []byte("host")}, {kind: TypeString, s: []byte("host")}, {kind: TypeString, s: []byte("db")}, {kind: TypeString, s: []byte("host")}}, // dictionary
	} {
		typ, times := resolveType(cells)
		enc, _ := encodeColumn(nil, typ, cells, times)
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeColumn(b, "c")
		decodeChunk(b, "c", []int{0, 2, 5})
		if c, _, err := decodeRaw(b, "c"); err == nil && c.raw != nil {
			sel := []bool{true, true, true}
			if len(c.Valid) == len(sel) {
				evaluate(&c, &pred{kind: TypeString, op: OpHas, needle: newFoldNeedle([]byte("a"))}, sel)
			}
			c.materialize(nil)
		}
	})
}

// FuzzDecodePaged: any bytes parse to a page directory or an error, and
// decode, whole, raw, row by row or leaving out pages by a page filter, to a
// column or an error; never a panic or an allocation beyond what the
// directory's sizes bound. The bytes are read as chunks of segment version
// 3 and of version 4 (with a page filter's size).
func FuzzDecodePaged(f *testing.F) {
	codec, err := NewCodec(1)
	if err != nil {
		f.Fatal(err)
	}
	defer codec.Close()
	text := func(s string) cell {
		return cell{kind: TypeString, s: []byte(s + strings.Repeat(" some long text", 4))}
	}
	for _, cells := range [][]cell{
		{{kind: TypeLong, i: 5}, {}, {kind: TypeLong, i: -9}, {kind: TypeLong, i: 7}},
		{{kind: TypeString, s: []byte("a")}, {kind: TypeString, s: []byte("bc")}, {}, {kind: TypeString, s: []byte("d")}},
		{{kind: TypeBool, i: 1}, {kind: TypeBool}, {kind: TypeBool, i: 1}},
		{{kind: TypeString, s: []byte("host")}, {}, {kind: TypeString, s: []byte("host")}, {kind: TypeString, s: []byte("host")}, {kind: TypeString, s: []byte("db")}, {kind: TypeString, s: []byte("host")}}, // dictionary
		{text("Failed password for u"), text("Accepted for v"), {}, text("session opened for w")},                                                                                                             // long text, with a page filter
	} {
		typ, times := resolveType(cells)
		for _, filters := range []bool{false, true} {
			w := pageWriter{enc: codec.enc, pageRows: 2, filters: filters}
			enc, _ := w.appendColumn(nil, typ, cells, times, nil)
			f.Add(enc)
		}
	}
	has, err := compile(Predicate{Column: "c", Op: OpHas, Value: "u"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, filtered := range []bool{false, true} {
			d, err := parsePageDir(b, filtered)
			if err == nil {
				for p := range d.pages {
					if lo, hi := d.pageRange(p); lo >= hi || hi > d.rows {
						t.Fatalf("page %d holds rows [%d, %d) of %d", p, lo, hi, d.rows)
					}
				}
			}
			var buf pageBuffers
			for _, rows := range [][]int{nil, {0, 2, 5}} {
				if c, n, err := decodePaged(b, pagedRead{name: "c", rows: rows, filtered: filtered, dec: codec.dec, buf: &buf}); err == nil && (c.Len() != len(rows) && rows != nil || rows == nil && c.Len() != n) {
					t.Fatalf("%d rows decoded for %v of %d", c.Len(), rows, n)
				}
			}
			for _, skip := range []*pageSkip{nil, {of: []*pred{&has}}} {
				if c, n, err := decodePaged(b, pagedRead{name: "c", raw: true, skip: skip, filtered: filtered, dec: codec.dec, buf: &buf}); err == nil {
					if c.Len() != n {
						t.Fatalf("%d rows decoded of %d", c.Len(), n)
					}
					if c.raw != nil {
						c.materialize(nil)
					}
				}
			}
			// matched by entry numbers, the rows evaluate selects on the chunk decoded
			if err == nil && d.dict != nil && d.rows <= 1<<16 {
				p, err := compile(Predicate{Column: "c", Op: OpEq, Value: "host"})
				if err != nil {
					t.Fatal(err)
				}
				got := make([]bool, d.rows)
				for i := range got {
					got[i] = true
				}
				if selectPaged(&d, &p, got, codec.dec, &buf) != nil {
					continue
				}
				if c, _, err := decodePaged(b, pagedRead{name: "c", raw: true, filtered: filtered, dec: codec.dec, buf: &buf}); err == nil {
					want := make([]bool, d.rows)
					for i := range want {
						want[i] = true
					}
					evaluate(&c, &p, want)
					if !slices.Equal(got, want) {
						t.Fatalf("%d rows selected by entry numbers, %d by evaluate", count(got), count(want))
					}
				}
			}
		}
	})
}

// FuzzDecodeManifest: any bytes decode to an error or to a manifest that
// encodes to bytes that decode to the same manifest; never a panic or a huge
// allocation.
func FuzzDecodeManifest(f *testing.F) {
	seg := segFile{name: segName{minT: 1, maxT: 2, walSeq: 3}, size: 100, rows: 7}
	seg.tag[0] = 9
	old := seg
	seg.ingested = ingestRange{known: true, lo: 5, hi: 6}
	f.Add(encodeManifest(&manifest{nextSeq: 4, wals: []walEntry{{seq: 3, walMark: walMark{records: 2, minT: 1, maxT: 2}}},
		segs: []segFile{seg, old}, schema: map[string]Type{"A": TypeString, "TimeGenerated": TypeDatetime}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Either version's body: a manifest of version 1 lists no ingestion times.
		for _, version := range []uint16{1, manifestVersion} {
			m, err := decodeManifest(b, version)
			if err != nil {
				continue
			}
			again, err := decodeManifest(encodeManifest(m), manifestVersion)
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("decoded %+v, then %+v (%v)", m, again, err)
			}
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add(encodeIndex([]blockMeta{{minT: 1, maxT: 2, rows: 3, cols: []colMeta{
		{name: "a", typ: TypeLong, off: 100, size: 10, raw: 5, colStats: colStats{minI: 1, maxI: 2}},
		{name: "b", typ: TypeString, off: 110, size: 10, raw: 5, bloomOff: 120, bloomSize: 9},
		{name: "c", typ: TypeReal, off: 120, size: 10, raw: 5},
		{name: "d", typ: TypeString, off: 130, size: 10, raw: 5, colStats: colStats{chars: charsKnown | charBits['u']}},
	}, anyOff: 140, anySize: 40}}, segmentVersion))
	f.Fuzz(func(t *testing.T, b []byte) {
		for v := uint16(1); v <= segmentVersion; v++ {
			blocks, err := decodeIndex(b, v, 100, 1000)
			if err != nil || v != segmentVersion {
				continue
			}
			for _, bm := range blocks {
				if bm.anySize > 0 && (bm.anyOff < 100 || bm.anyOff+bm.anySize > 1000) {
					t.Fatalf("any-column filter at [%d, +%d) outside the data", bm.anyOff, bm.anySize)
				}
			}
			enc := encodeIndex(blocks, v)
			again, err := decodeIndex(enc, v, 100, 1000)
			if err != nil || !bytes.Equal(encodeIndex(again, v), enc) {
				t.Fatalf("decoded %+v, then %+v (%v)", blocks, again, err)
			}
		}
	})
}

func FuzzWALReplay(f *testing.F) {
	keys := envelopetest.New("aek")
	dir := f.TempDir()
	st, err := New(Config{Dir: dir, Keys: keys, Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range []string{`[{"A":"alpha"},{"A":"beta"}]`, `[{"N":7}]`} {
		if _, err := st.Ingest(context.Background(), ws, tbl, []byte(body)); err != nil {
			f.Fatal(err)
		}
	}
	st.Close()
	walPath := filepath.Join(dir, ws, tbl, walFileName(0))
	orig, err := os.ReadFile(walPath)
	if err != nil {
		f.Fatal(err)
	}
	probe, _ := New(Config{Dir: f.TempDir(), Keys: keys})
	defer probe.Close()
	r, err := probe.replayWAL(context.Background(), walPath, 0, ws, tbl, "", 0)
	want := r.payloads
	if err != nil || len(want) != 2 {
		f.Fatalf("replay: %v", err)
	}
	f.Add(orig)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), walFileName(0))
		os.WriteFile(p, data, 0o600)
		r, err := probe.replayWAL(context.Background(), p, 0, ws, tbl, "", 0)
		if err != nil {
			return
		}
		got := r.payloads
		// Accepted: only ever a prefix of what was written (a torn tail cut).
		if len(got) > len(want) {
			t.Fatalf("%d records from a WAL of %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("record %d differs from what was written", i)
			}
		}
	})
}

func FuzzSegmentOpen(f *testing.F) {
	keys := envelopetest.New("aek")
	dir := f.TempDir()
	st, err := New(Config{Dir: dir, Keys: keys, Now: func() time.Time { return testNow }, BlockRows: 2})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Ingest(context.Background(), ws, tbl, []byte(`[{"A":"alpha","N":1},{"A":"beta","B":true},{"R":2.5}]`)); err != nil {
		f.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		f.Fatal(err)
	}
	segs := files(f, dir, segExt)
	orig, _ := os.ReadFile(segs[0])
	name, _ := parseSegName(filepath.Base(segs[0]))
	f.Add(orig)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), name.String())
		os.WriteFile(p, data, 0o600)
		r, err := openSegmentAt(st, p, ws, tbl, segFile{name: name})
		if err == nil {
			defer r.close()
			for bi := range r.blocks {
				aead, err2 := r.blockAEAD(context.Background())
				if err2 != nil {
					t.Fatal(err2)
				}
				for ci := range r.blocks[bi].cols {
					cm := &r.blocks[bi].cols[ci]
					if _, err2 := r.readColumn(aead, bi, cm, &chunkBuffers{}, nil, false, nil); err2 != nil {
						err = err2
					}
					if cm.bloomSize > 0 {
						if _, err2 := r.readBloom(aead, bi, cm); err2 != nil {
							err = err2
						}
					}
				}
			}
		}
		if err == nil && !bytes.Equal(data, orig) {
			t.Fatal("a segment that is not what was written opened and read")
		}
	})
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`"a\\b\"c\/\n\t\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, `"plain"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want string
		if !utf8.ValidString(s) || json.Unmarshal([]byte(s), &want) != nil || len(s) < 2 || s[0] != '"' {
			return
		}
		sc := scanner{b: []byte(s), bad: -1}
		if got, err := sc.str(); err != nil || string(got) != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// FuzzParseRowsDeclared parses any body against a schema with a column of
// each declared type: a body it takes must decode, each value with the kind
// its column's type stores, and its columns must round-trip.
func FuzzParseRowsDeclared(f *testing.F) {
	for _, s := range []string{
		`[{"S":1.50,"I":"42","L":1e3,"R":"2.5","B":"TRUE","D":"2026-03-10 12:00","G":"{74BE27DE1E4E49D9B579FE0B331D3642}","Y":"x"}]`,
		`[{"S":{"a":[1]},"I":2147483648,"B":0,"D":"notadate"}]`, `[{"X":1}]`, `[{"Y":null,"D":"2026-02-29"}]`,
	} {
		f.Add([]byte(s))
	}
	d, err := newDeclared(declaredCols)
	if err != nil {
		f.Fatal(err)
	}
	stores := map[DeclaredType]Type{
		DeclaredString: TypeString, DeclaredGUID: TypeString, DeclaredInt: TypeLong, DeclaredLong: TypeLong,
		DeclaredReal: TypeReal, DeclaredBool: TypeBool, DeclaredDatetime: TypeDatetime, DeclaredDynamic: TypeDynamic,
	}
	lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20, declared: d}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, refs, err := parseRows(body, lim)
		if err != nil {
			return
		}
		putIngestTime(rec, testNow.UnixNano())
		ingested, payload, _, err := decodeRecord(walVersion, rec)
		if err != nil {
			t.Fatalf("parsed body does not decode: %v", err)
		}
		bb := newBlockBuilder(nil)
		for _, r := range refs {
			if _, _, err := walkRow(payload, int(r.off), func(name []byte, c cell) {
				if want := stores[d[string(name)]]; c.kind != want || c.text != (want == TypeString) {
					t.Fatalf("column %s declared %s holds a %s (text %v)", name, d[string(name)], c.kind, c.text)
				}
			}); err != nil {
				t.Fatal(err)
			}
			if err := bb.add(payload, r, ingested); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range bb.columns() {
			typ, times := resolveType(c.cells)
			if want := stores[d[c.name]]; typ != want {
				t.Fatalf("column %s declared %s resolves to %s", c.name, d[c.name], typ)
			}
			enc, _ := encodeColumn(nil, typ, c.cells, times)
			if _, err := decodeColumn(enc, c.name); err != nil {
				t.Fatalf("column %s does not round-trip: %v", c.name, err)
			}
		}
	})
}

// FuzzParseTime reads any text as a datetime: where the text is RFC 3339
// (the standard library's reading is laxer: it takes a one-digit hour) in
// the years the store holds, parseTime must read the instant the standard
// library reads; whatever parseTime takes must be an instant in those years.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-03-10T12:00:00Z", "2026-03-10 12:00:00.5+01:00", "2026-03-10", "2026-03-10T12:00", "1677-12-31T23:59:59Z", "2024-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime([]byte(s))
		if err == nil {
			if y := got.UTC().Year(); y < 1678 || y > 2261 {
				t.Fatalf("%q: took year %d", s, y)
			}
		}
		want, werr := time.Parse(time.RFC3339Nano, s)
		if werr != nil || want.UTC().Year() < 1678 || want.UTC().Year() > 2261 || !rfc3339.MatchString(s) {
			return
		}
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: got %v (%v), the standard library reads %v", s, got, err, want)
		}
	})
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)
