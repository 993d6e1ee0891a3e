package logstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// pageTestColumns are columns of every stored type over n rows, each in the
// shapes that encode apart: no nulls, some nulls, a page of nulls only;
// dictionary-coded and plain strings.
func pageTestColumns(n int) map[string][]cell {
	cols := map[string][]cell{}
	str := func(s string) cell { return cell{kind: TypeString, s: []byte(s)} }
	for name, f := range map[string]func(i int) cell{
		"long": func(i int) cell { return cell{kind: TypeLong, i: int64(i*i) - 1000} },
		"datetime": func(i int) cell {
			return cell{kind: TypeDatetime, i: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC).UnixNano() + int64(i)*int64(time.Millisecond)}
		},
		"real":      func(i int) cell { return cell{kind: TypeReal, i: int64(math.Float64bits(float64(i) / 3))} },
		"bool":      func(i int) cell { return cell{kind: TypeBool, i: int64(i % 3 / 2)} },
		"dict":      func(i int) cell { return str(fmt.Sprintf("host-%03d", i%7)) },
		"plain":     func(i int) cell { return str(fmt.Sprintf("user %d ü", i)) },
		"dynamic":   func(i int) cell { return cell{kind: TypeDynamic, s: []byte(fmt.Sprintf(`{"n":%d}`, i))} },
		"dynamicmx": func(i int) cell { return []cell{str("x"), {kind: TypeLong, i: int64(i)}}[i%2] },
	} {
		for _, nulls := range []string{"", "some nulls", "a page of nulls"} {
			cells := make([]cell, n)
			for i := range cells {
				switch {
				case nulls == "some nulls" && i%5 == 3, nulls == "a page of nulls" && i >= 1024 && i < 2048:
				default:
					cells[i] = f(i)
				}
			}
			cols[name+" "+nulls] = cells
		}
	}
	return cols
}

// columnText is a decoded column as text, row by row, whatever its layout
// (dictionary or strings, raw or not).
func columnText(c Column) string {
	if c.raw != nil {
		c.materialize(nil)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %d:", c.Name, c.Type, c.Len())
	for i := range c.Len() {
		switch {
		case !c.Valid[i]:
			b.WriteString(" null")
		case c.Type == TypeLong || c.Type == TypeDatetime:
			fmt.Fprintf(&b, " %d", c.Ints[i])
		case c.Type == TypeReal:
			fmt.Fprintf(&b, " %v", c.Reals[i])
		case c.Type == TypeBool:
			fmt.Fprintf(&b, " %v", c.Bools[i])
		default:
			fmt.Fprintf(&b, " %q", c.Str(i))
		}
	}
	return b.String()
}

func TestPagedChunkReadsTheRowsTheWholeChunkDoes(t *testing.T) {
	codec, err := NewCodec(1)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	const n = 2500 // pages of 1,024, 1,024 and 452 rows
	picks := []struct {
		name string
		rows []int
	}{
		{"all rows", nil},
		{"the first row", []int{0}},
		{"the last row", []int{n - 1}},
		{"the last row of a page", []int{1023}},
		{"the first row of a page", []int{1024}},
		{"both sides of a page boundary", []int{1023, 1024}},
		{"all rows of one page", seq(1024, 2048)},
		{"rows across pages", []int{5, 1500, 2047, 2048, 2499}},
		{"every seventh row", every(n, 7)},
		{"no row", []int{}},
	}
	for name, cells := range pageTestColumns(n) {
		typ, times := resolveType(cells)
		whole, wantSt := appendColumn(nil, typ, cells, times, true, nil)
		for _, pageRows := range []int{defaultPageRows, 7, n} {
			w := pageWriter{enc: codec.enc, pageRows: pageRows}
			paged, st := w.appendColumn(nil, typ, cells, times, nil)
			t.Run(fmt.Sprintf("%s/pages of %d/stats", name, pageRows), func(t *testing.T) {
				if !reflect.DeepEqual(st, wantSt) {
					t.Fatalf("statistics %+v, want %+v", st, wantSt)
				}
			})
			for _, pick := range picks {
				t.Run(fmt.Sprintf("%s/pages of %d/%s", name, pageRows, pick.name), func(t *testing.T) {
					want, _, err := decodeChunk(whole, name, pick.rows)
					if err != nil {
						t.Fatal(err)
					}
					var buf pageBuffers
					got, rows, err := decodePaged(paged, pagedRead{name: name, rows: pick.rows, dec: codec.dec, buf: &buf})
					if err != nil || rows != n {
						t.Fatalf("%d rows, %v", rows, err)
					}
					if g, w := columnText(got), columnText(want); g != w {
						t.Fatalf("paged read\n%.300s\nwant\n%.300s", g, w)
					}
					if (got.Dict == nil) != (want.Dict == nil) {
						t.Fatalf("dictionary %v, whole chunk's %v", got.Dict != nil, want.Dict != nil)
					}
				})
			}
			t.Run(fmt.Sprintf("%s/pages of %d/raw", name, pageRows), func(t *testing.T) {
				want, _, _ := decodeRaw(whole, name)
				var buf pageBuffers
				got, _, err := decodePaged(paged, pagedRead{name: name, raw: true, dec: codec.dec, buf: &buf})
				if err != nil {
					t.Fatal(err)
				}
				if (got.raw == nil) != (want.raw == nil) {
					t.Fatalf("raw %v, whole chunk's %v", got.raw != nil, want.raw != nil)
				}
				if g, w := columnText(got), columnText(want); g != w {
					t.Fatalf("paged raw read\n%.300s\nwant\n%.300s", g, w)
				}
			})
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func every(n, k int) []int {
	var s []int
	for i := 0; i < n; i += k {
		s = append(s, i)
	}
	return s
}

func TestBadPageDirectoriesAreCorrupt(t *testing.T) {
	codec, err := NewCodec(1)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	cells := pageTestColumns(30)["dict "]
	w := pageWriter{enc: codec.enc, pageRows: 8}
	good, _ := w.appendColumn(nil, TypeString, cells, nil, nil)
	if _, err := parsePageDir(good, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"no type", []byte{0, 30, 8, 4, 0, 0}},
		{"no page rows", []byte{1, 30, 0, 4, 0, 0}},
		{"pages not those of the rows", []byte{1, 30, 8, 3, 0, 0}},
		{"a dictionary size without bytes", append([]byte{1, 30, 8, 4, 5, 0}, good[6:]...)},
		{"another type than its pages'", append([]byte{byte(TypeLong)}, good[1:]...)},
		{"a page past the end", good[:len(good)-1]},
		{"bytes after the last page", append(bytes.Clone(good), 0)},
		{"a page of no bytes", []byte{1, 1, 8, 1, 0, 0, 3, 0}},
		{"rows past a block's", []byte{1, 0x80, 0x80, 0x80, 0x01, 1, 1, 0, 0}},
		{"a dictionary past the largest", append(binary.AppendUvarint([]byte{1, 1, 8, 1}, maxPageSize+1), 3, 1, 3, 1, 2, 3, 4, 5, 6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf pageBuffers
			if _, _, err := decodePaged(tc.b, pagedRead{name: "c", dec: codec.dec, buf: &buf}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("a page decoding to other rows", func(t *testing.T) {
		short := pageWriter{enc: codec.enc, pageRows: 8}
		other, _ := short.appendColumn(nil, TypeString, cells[:29], nil, nil)
		d, _ := parsePageDir(other, false)
		// the directory of 30 rows over the pages of 29
		b := append([]byte{other[0], 30}, other[2:]...)
		var buf pageBuffers
		if _, _, err := decodePaged(b, pagedRead{name: "c", dec: codec.dec, buf: &buf}); !errors.Is(err, ErrCorrupt) || len(d.pages) != 4 {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("a page past the largest, of a frame that decompresses to it", func(t *testing.T) {
		frame := codec.enc.EncodeAll(make([]byte, maxPageSize+1), nil)
		b := binary.AppendUvarint([]byte{byte(TypeString), 1, 8, 1, 0, 0}, maxPageSize+1)
		b = append(binary.AppendUvarint(b, uint64(len(frame))), frame...)
		var buf pageBuffers
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := decodePaged(b, pagedRead{name: "c", dec: codec.dec, buf: &buf})
		runtime.ReadMemStats(&after)
		if grown := after.TotalAlloc - before.TotalAlloc; !errors.Is(err, ErrCorrupt) || grown >= maxPageSize/2 {
			t.Fatalf("err = %v after %d bytes allocated, want ErrCorrupt before the page is decompressed", err, grown)
		}
	})
	t.Run("a frame without its size under a page of 60 MiB", func(t *testing.T) {
		frame := codec.enc.EncodeAll([]byte("a few bytes"), nil) // too small to state its size
		const claimed = 60 << 20
		var buf []byte
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := decompressPage(codec.dec, frame, claimed, &buf)
		runtime.ReadMemStats(&after)
		if grown := after.TotalAlloc - before.TotalAlloc; !errors.Is(err, ErrCorrupt) || grown >= claimed/2 {
			t.Fatalf("err = %v after %d bytes allocated, want ErrCorrupt before the page's buffer is made", err, grown)
		}
	})
}

// TestPagesOfHugeValuesHoldFewerRows: a writer gives a chunk fewer rows a
// page where as many would decode to more than a reader takes, so that a
// page of 1,024 rows of the largest rows is still read; and a store does
// not take rows larger than a page.
func TestPagesOfHugeValuesHoldFewerRows(t *testing.T) {
	big := make([]byte, 1<<20)
	for _, c := range []struct {
		name  string
		value []byte
		rows  int
		want  int
	}{
		{"small values", []byte("host-001"), 8192, defaultPageRows},
		{"values of 1 MiB", big, 200, 32},
		{"values of 32 MiB, one a page", bytes.Repeat(big, 32), 3, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cells := make([]cell, c.rows)
			for i := range cells {
				cells[i] = cell{kind: TypeString, s: c.value}
			}
			if got := pageRowsFor(cells, defaultPageRows); got != c.want {
				t.Fatalf("%d rows a page, want %d", got, c.want)
			}
		})
	}
	if _, err := New(Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), MaxRowBytes: maxRowBytesLimit + 1}); err == nil {
		t.Fatal("a store took rows larger than a page holds")
	}
}

// TestSegmentsOfEveryVersionReadAlike writes the same rows as segments of
// version 2 (one zstd frame per chunk), 3 (pages), 4 (page filters) and
// the current version, and reads them whole and row by row, as the scan of
// a few matching rows does.
func TestSegmentsOfEveryVersionReadAlike(t *testing.T) {
	body := eventsBody(t, 0, 3000, testNow)
	read := func(version uint16) (all, picked []string, size int64) {
		dir := t.TempDir()
		st := newTestStore(t, dir, envelopetest.New("aek"))
		st.segVersion = version
		mustIngest(t, st, ws, tbl, body)
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		segs := files(t, dir, segExt)
		if len(segs) == 0 {
			t.Fatalf("version %d: no segment flushed, the reads below would be of the WAL", version)
		}
		for _, p := range segs {
			if h, err := fileHeader(p); err != nil || h.version != version {
				t.Fatalf("%s: version %d, %v; want %d", p, h.version, err, version)
			}
			fi, _ := os.Stat(p)
			size += fi.Size()
		}
		b, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
		if err != nil {
			t.Fatal(err)
		}
		// few rows of each block: those of one process
		p, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl,
			Predicates: []Predicate{{Column: "CommandLine", Op: OpHas, Value: "cmd.exe"}, {Column: "LogonType", Op: OpEq, Value: int64(10)}, {Column: "AccountType", Op: OpEq, Value: "User"}}})
		if err != nil {
			t.Fatal(err)
		}
		return rowsOf(b), rowsOf(p), size
	}
	oldAll, oldPicked, oldSize := read(segAnyBloomVersion)
	if len(oldAll) != 3000 || len(oldPicked) == 0 {
		t.Fatalf("%d rows, %d picked", len(oldAll), len(oldPicked))
	}
	for _, version := range []uint16{segPagedVersion, segPageFilterVersion, segmentVersion} {
		newAll, newPicked, newSize := read(version)
		equalRows(t, newAll, oldAll)
		equalRows(t, newPicked, oldPicked)
		t.Logf("segment bytes: version 2 %d, version %d %d", oldSize, version, newSize)
	}
}

// TestTamperedPageDirectoryFailsAuthentication: the page directory is inside
// the sealed chunk, so a changed byte of it fails authentication with a typed
// error naming the segment, never a wrong page.
func TestTamperedPageDirectoryFailsAuthentication(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 2000, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := files(t, dir, segExt)
	name, _ := parseSegName(filepath.Base(segs[0]))
	r, err := openSegmentAt(st, segs[0], ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	cm := r.blocks[0].col("Computer")
	r.close()
	raw, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	// the directory opens the chunk's ciphertext, after the nonce
	raw[cm.off+12] ^= 1
	if err := os.WriteFile(segs[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Computer"}})
	var ie *IntegrityError
	// The detail names the failed authentication: the directory's own
	// checks, which would refuse this byte too, must not be what caught it.
	if !errors.As(err, &ie) || ie.Problem != ProblemAuthentication || !strings.Contains(ie.Detail, "authentication failed") {
		t.Fatalf("err = %v, want an authentication IntegrityError", err)
	}
}

// BenchmarkPageSize weighs page sizes: the bytes of 65,536 sealed rows, and
// the time to read every column of the few rows of each block that one
// host matches (the "where user == u", full rows), and of a whole
// column. version2 is one zstd frame per chunk.
func BenchmarkPageSize(b *testing.B) {
	const rows = 65_536
	bodies := benchBodies(b, 32, rows/32)
	for _, pageRows := range []int{0, 256, 512, 1024, 2048} {
		name := fmt.Sprintf("pages=%d", pageRows)
		if pageRows == 0 {
			name = "version2"
		}
		dir := b.TempDir()
		st := newTestStore(b, dir, benchKeys(true))
		st.pageRows = pageRows
		if pageRows == 0 {
			st.segVersion = segAnyBloomVersion
		}
		for _, body := range bodies {
			if _, err := st.Ingest(context.Background(), ws, tbl, body); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		var size int64
		for _, p := range files(b, dir, segExt) {
			fi, err := os.Stat(p)
			if err != nil {
				b.Fatal(err)
			}
			size += fi.Size()
		}
		for _, q := range []struct {
			name string
			req  ScanRequest
		}{
			{"few-full-rows", ScanRequest{Workspace: ws, Table: tbl, Predicates: []Predicate{
				{Column: "Computer", Op: OpEq, Value: "WKS-0042.corp.contoso.com"}}}},
			{"one-column", ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Computer"}}},
		} {
			b.Run(name+"/"+q.name, func(b *testing.B) {
				n := 0
				for b.Loop() {
					got, err := scanAll(st, q.req)
					if err != nil {
						b.Fatal(err)
					}
					n = countRows(got)
				}
				b.ReportMetric(float64(size), "disk-bytes")
				b.ReportMetric(float64(n), "rows")
			})
		}
	}
}

// BenchmarkPagedDecode reads a whole 8,192-row chunk of each type, paged
// and as one zstd frame (version 2), as a full scan does.
func BenchmarkPagedDecode(b *testing.B) {
	codec, err := NewCodec(1)
	if err != nil {
		b.Fatal(err)
	}
	defer codec.Close()
	const n = 8192
	cols := pageTestColumns(n)
	for _, name := range []string{"long ", "dict ", "plain ", "long some nulls"} {
		cells := cols[name]
		typ, times := resolveType(cells)
		whole, _ := appendColumn(nil, typ, cells, times, true, nil)
		comp := codec.enc.EncodeAll(whole, nil)
		w := pageWriter{enc: codec.enc, pageRows: defaultPageRows}
		paged, _ := w.appendColumn(nil, typ, cells, times, nil)
		b.Run(name+"/version2", func(b *testing.B) {
			var plain []byte
			for b.Loop() {
				plain, _ = codec.dec.DecodeAll(comp, slices.Grow(plain[:0], len(whole)))
				if _, _, err := decodeChunk(plain, name, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/paged", func(b *testing.B) {
			var buf pageBuffers
			for b.Loop() {
				if _, _, err := decodePaged(paged, pagedRead{name: name, dec: codec.dec, buf: &buf}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
