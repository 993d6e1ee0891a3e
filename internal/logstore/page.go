package logstore

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// Paged column chunk (segment version 3, segPagedVersion, on), sealed whole
// like any chunk but compressed in pages:
//
//	type byte | uvarint rows | uvarint page rows | uvarint pages |
//	uvarint dictionary size | uvarint its compressed size (0 0: none) |
//	per page: uvarint size | uvarint compressed size |
//	the compressed dictionary | the compressed pages, in order
//
// A page is the column encoding (see validAll) of its rows alone, so that a
// read of a few rows decompresses and decodes only the pages they fall in.
// A dictionary-coded string column has its dictionary once per chunk (see
// appendDictEntries) and pages with the dictionary flag that hold only the
// entry numbers of their rows.
const (
	// defaultPageRows is the rows of a page: against one zstd frame per
	// chunk it costs about 1% of disk and saves 7/8 of a chunk's
	// decompression when one row of a block is picked (docs/BENCHMARKS.md).
	defaultPageRows = 1024
	// maxPageSize bounds what a page or a dictionary decompresses to,
	// whatever its (authenticated) directory says.
	maxPageSize = 1 << 30
	// maxUnsizedFrame bounds the content of a zstd frame that does not
	// state its size: the encoder leaves the size out below 256 bytes only.
	maxUnsizedFrame = 256
)

// pageDir is the parsed directory of a paged chunk; its slices alias it.
type pageDir struct {
	typ            Type
	rows, pageRows int
	dictSize       int
	dict           []byte // compressed; nil: no dictionary
	pages          []pageRef
}

type pageRef struct {
	size int    // decompressed
	comp []byte // compressed
}

// pageRange is the first row of page p and the row after its last.
func (d *pageDir) pageRange(p int) (lo, hi int) {
	lo = p * d.pageRows
	return lo, min(lo+d.pageRows, d.rows)
}

// parsePageDir parses a paged chunk's directory and locates its pages. The
// chunk is authenticated before it gets here, but the parser still checks
// every size: it must not panic or allocate beyond the input on any input.
func parsePageDir(b []byte) (pageDir, error) {
	var d pageDir
	if len(b) < 1 || b[0] == byte(TypeNull) || b[0] >= byte(typeEnd) {
		return d, corruptf("bad column type")
	}
	d.typ = Type(b[0])
	r := indexReader{b: b[1:]}
	rows := r.uvarint(maxBlockRows)
	pageRows := r.uvarint(maxBlockRows)
	pages := r.uvarint(uint64(len(b) / 2)) // each takes two sizes at least: make below is bounded by the input
	dictSize := r.uvarint(maxPageSize)
	dictComp := r.uvarint(uint64(len(b)))
	if r.err != nil || pageRows == 0 || pages != (rows+pageRows-1)/pageRows || (dictSize == 0) != (dictComp == 0) {
		return d, corruptf("bad page directory")
	}
	d.rows, d.pageRows, d.dictSize = int(rows), int(pageRows), int(dictSize)
	d.pages = make([]pageRef, pages)
	comp := dictComp
	for i := range d.pages {
		d.pages[i].size = int(r.uvarint(maxPageSize))
		c := r.uvarint(uint64(len(b)))
		if r.err != nil || d.pages[i].size == 0 || c == 0 {
			return d, corruptf("bad page directory")
		}
		d.pages[i].comp = b[:c] // placed below, once the directory's end is known
		comp += c
	}
	if r.err != nil || comp != uint64(len(r.b)) {
		return d, corruptf("bad page directory")
	}
	body := r.b
	if dictComp > 0 {
		d.dict, body = body[:dictComp:dictComp], body[dictComp:]
	}
	for i := range d.pages {
		c := len(d.pages[i].comp)
		d.pages[i].comp, body = body[:c:c], body[c:]
	}
	return d, nil
}

// pageWriter encodes paged chunks, reusing its buffers from chunk to chunk.
type pageWriter struct {
	enc      *zstd.Encoder
	pageRows int
	plain    []byte
	body     []byte
	dir      []byte
	json     []cell // a dynamic column's cells as JSON text
	dicts    dictBuilder
}

// appendColumn appends the paged chunk of one column to dst and returns its
// statistics as appendColumn computes them, with the bloom filter; the
// terms of a string or dynamic column also go into all, unless it is nil.
func (w *pageWriter) appendColumn(dst []byte, t Type, cells []cell, times []int64, all *anyTerms) ([]byte, colStats) {
	n := len(cells)
	st := colStats{minI: math.MaxInt64, maxI: math.MinInt64, minF: math.Inf(1), maxF: math.Inf(-1)}
	for _, c := range cells {
		if c.kind == TypeNull {
			st.nulls++
		}
	}
	if t == TypeDynamic {
		// the JSON text of each value once, for the bloom filter and the pages
		w.json = slices.Grow(w.json[:0], n)[:n]
		for i, c := range cells {
			w.json[i] = cell{}
			if c.kind != TypeNull {
				w.json[i] = cell{kind: TypeDynamic, s: appendJSON(nil, c)}
			}
		}
		cells = w.json
	}
	var dict [][]byte
	var codes []uint32
	if (t == TypeString || t == TypeDynamic) && st.nulls < n {
		if t == TypeString {
			dict, codes, _ = w.dicts.build(cells)
		}
		if dict != nil {
			// each distinct value once: most string columns repeat a few
			st.bloom = stringBloom(len(dict), func(i int) ([]byte, bool) { return dict[i], true }, true, all)
		} else {
			st.bloom = stringBloom(n, func(i int) ([]byte, bool) { return cells[i].s, cells[i].kind != TypeNull }, t == TypeString, all)
		}
	}
	pages := (n + w.pageRows - 1) / w.pageRows
	w.body, w.dir = w.body[:0], append(w.dir[:0], byte(t))
	w.dir = binary.AppendUvarint(w.dir, uint64(n))
	w.dir = binary.AppendUvarint(w.dir, uint64(w.pageRows))
	w.dir = binary.AppendUvarint(w.dir, uint64(pages))
	if dict != nil {
		w.plain = appendDictEntries(w.plain[:0], dict)
		w.body = w.enc.EncodeAll(w.plain, w.body)
		w.dir = binary.AppendUvarint(w.dir, uint64(len(w.plain)))
		w.dir = binary.AppendUvarint(w.dir, uint64(len(w.body)))
	} else {
		w.dir = append(w.dir, 0, 0)
	}
	coded := 0 // codes of the valid rows before the page
	for lo := 0; lo < n; lo += w.pageRows {
		hi := min(lo+w.pageRows, n)
		var ps colStats
		if dict != nil {
			w.plain, coded = appendCodesPage(w.plain[:0], cells[lo:hi], codes, coded)
		} else {
			var pt []int64
			if times != nil {
				pt = times[lo:hi]
			}
			w.plain, ps = appendColumnAs(w.plain[:0], t, cells[lo:hi], pt, false, nil, false)
			st.minI, st.maxI = min(st.minI, ps.minI), max(st.maxI, ps.maxI)
			st.minF, st.maxF = min(st.minF, ps.minF), max(st.maxF, ps.maxF)
		}
		start := len(w.body)
		w.body = w.enc.EncodeAll(w.plain, w.body)
		w.dir = binary.AppendUvarint(w.dir, uint64(len(w.plain)))
		w.dir = binary.AppendUvarint(w.dir, uint64(len(w.body)-start))
	}
	return append(append(dst, w.dir...), w.body...), st
}

// appendCodesPage appends the page of a dictionary-coded column holding
// cells, whose valid rows have the entry numbers codes[from:]; it returns
// the number of codes used up after the page.
func appendCodesPage(dst []byte, cells []cell, codes []uint32, from int) ([]byte, int) {
	n := len(cells)
	dst = append(dst, byte(TypeString))
	dst = binary.AppendUvarint(dst, uint64(n))
	nulls := 0
	for _, c := range cells {
		if c.kind == TypeNull {
			nulls++
		}
	}
	switch nulls {
	case 0:
		dst = append(dst, validAll|dictFlag)
	case n:
		return append(dst, validNone|dictFlag), from
	default:
		dst = append(dst, validBitmap|dictFlag)
		dst = appendBitmap(dst, n, func(i int) bool { return cells[i].kind != TypeNull })
	}
	for _, code := range codes[from : from+n-nulls] {
		dst = binary.AppendUvarint(dst, uint64(code))
	}
	return dst, from + n - nulls
}

// pageBuffers are a read's scratch space for the pages of one chunk.
type pageBuffers struct {
	plain []byte // one page, decompressed
	strs  []byte // a raw read's strings, gathered from its pages
	hit   []bool // selectPaged's: which dictionary entries match
}

// decodePaged decodes the given rows (ascending; nil: all) of the paged
// chunk b, decompressing only the pages they fall in; raw is decodeRaw's
// (for all rows). It also returns the chunk's row count.
func decodePaged(b []byte, name string, rows []int, raw bool, dec *zstd.Decoder, buf *pageBuffers) (Column, int, error) {
	if raw {
		rows = nil // a raw read is of a whole chunk, as decodeRaw's
	}
	d, err := parsePageDir(b)
	if err != nil {
		return Column{Name: name}, 0, err
	}
	if len(rows) > 0 && rows[len(rows)-1] >= d.rows {
		return Column{Name: name}, d.rows, corruptf("column does not match the index")
	}
	var dict []string
	if d.dict != nil {
		plain, err := decompressPage(dec, d.dict, d.dictSize, &buf.plain)
		if err != nil {
			return Column{Name: name}, d.rows, err
		}
		var rest []byte
		if dict, rest, err = readDict(plain, d.rows); err != nil || len(rest) != 0 || len(dict) == 0 {
			return Column{Name: name}, d.rows, corruptf("bad dictionary")
		}
	}
	want := d.rows
	if rows != nil {
		want = len(rows)
	}
	out := Column{Name: name, Type: d.typ, Dict: dict, Valid: make([]bool, 0, want)}
	switch {
	case d.typ == TypeLong || d.typ == TypeDatetime:
		out.Ints = make([]int64, 0, want)
	case d.typ == TypeReal:
		out.Reals = make([]float64, 0, want)
	case d.typ == TypeBool:
		out.Bools = make([]bool, 0, want)
	case dict != nil:
		out.Codes = make([]uint32, 0, want)
	case rows != nil:
		out.Strings = make([]string, 0, want)
	}
	var ends []int // of a gathered column's strings, in buf.strs
	// A whole plain string column is read raw, page by page, and its strings
	// gathered, then made strings at once unless asked raw: one allocation.
	gather := raw || rows == nil
	if gather && dict == nil && (d.typ == TypeString || d.typ == TypeDynamic) {
		ends = make([]int, 0, want)
	}
	buf.strs = buf.strs[:0]
	k := 0 // the first of rows not in a page decoded yet
	for p := range d.pages {
		lo, hi := d.pageRange(p)
		var local []int
		if rows != nil {
			e := k
			for e < len(rows) && rows[e] < hi {
				e++
			}
			if e == k {
				continue // no row picked here: the page stays compressed
			}
			local = make([]int, e-k)
			for j, i := range rows[k:e] {
				local[j] = i - lo
			}
			k = e
		}
		plain, err := decompressPage(dec, d.pages[p].comp, d.pages[p].size, &buf.plain)
		if err != nil {
			return out, d.rows, err
		}
		col, n, err := decodeAll(plain, name, local, gather, dict, &out)
		switch {
		case err != nil:
			return col, d.rows, err
		case n != hi-lo || col.Type != out.Type || (col.Dict == nil) != (dict == nil):
			return col, d.rows, corruptf("page does not match its chunk")
		}
		if col.raw == nil && col.Strings != nil {
			out.Strings = append(out.Strings, col.Strings...) // the rest went straight into out
		}
		if col.raw != nil {
			base := len(buf.strs)
			buf.strs = append(buf.strs, col.raw.data...)
			for _, e := range col.raw.ends {
				ends = append(ends, base+e)
			}
		}
	}
	if gather && dict == nil && (out.Type == TypeString || out.Type == TypeDynamic) {
		out.raw = &rawStrings{data: buf.strs[:len(buf.strs):len(buf.strs)], ends: ends}
		if !raw {
			out.materialize(nil) // copies the strings out of buf
		}
	}
	if len(out.Valid) != want {
		return out, d.rows, corruptf("page does not match its chunk")
	}
	return out, d.rows, nil
}

// decompressPage decompresses one page or dictionary of size bytes into buf.
func decompressPage(dec *zstd.Decoder, comp []byte, size int, buf *[]byte) ([]byte, error) {
	// a frame that states its size must state the directory's, and one that
	// does not is of fewer than maxUnsizedFrame bytes (the encoder states
	// every larger size): a directory that says otherwise allocates nothing
	var h zstd.Header
	if h.Decode(comp) != nil || h.HasFCS && h.FrameContentSize != uint64(size) || !h.HasFCS && size >= maxUnsizedFrame {
		return nil, corruptf("page does not decompress")
	}
	plain, err := dec.DecodeAll(comp, slices.Grow((*buf)[:0], size))
	if err != nil || len(plain) != size {
		return nil, corruptf("page does not decompress")
	}
	*buf = plain
	return plain, nil
}

// dictMatchable reports whether p is matched on a dictionary-coded column
// entry by entry (see evaluate): a predicate on one column with a string
// constant.
func dictMatchable(p *pred) bool { return p.any == nil && p.kind == TypeString }

// selectPaged clears sel (one per row of the chunk d) where the row's value
// of d, a paged chunk with a dictionary, does not match p (dictMatchable),
// as evaluate would on the column decoded: each entry of the dictionary is
// matched once, in place, and the pages are read for their entry numbers
// alone. No string is made, and no page is decompressed when no entry
// matches or no row of it is left in sel.
func selectPaged(d *pageDir, p *pred, sel []bool, dec *zstd.Decoder, buf *pageBuffers) error {
	plain, err := decompressPage(dec, d.dict, d.dictSize, &buf.plain)
	if err != nil {
		return err
	}
	hit, some, err := dictHits(plain, d.rows, p, &buf.hit)
	if err != nil {
		return err
	}
	if !some {
		clear(sel)
		return nil
	}
	for pg := range d.pages {
		lo, hi := d.pageRange(pg)
		if !slices.Contains(sel[lo:hi], true) {
			continue // no row left to match here: the page stays compressed
		}
		page, err := decompressPage(dec, d.pages[pg].comp, d.pages[pg].size, &buf.plain)
		if err != nil {
			return err
		}
		if err := selectCodes(page, d.typ, hit, sel[lo:hi]); err != nil {
			return err
		}
	}
	return nil
}

// dictHits reads a dictionary (see appendDictEntries) of a column with
// valid values, in place, and returns which of its entries match p, in
// *hits, and whether any does. The dictionary must be all of b.
func dictHits(b []byte, valid int, p *pred, hits *[]bool) ([]bool, bool, error) {
	d, k := binary.Uvarint(b)
	if k <= 0 || d > uint64(valid) || d == 0 {
		return nil, false, corruptf("bad dictionary")
	}
	b = b[k:]
	lens, total := b, 0 // the entries' lengths, read twice: to find their bytes, then to split them
	for range d {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)) {
			return nil, false, corruptf("bad string length")
		}
		total += int(l)
		b = b[k:]
	}
	if total != len(b) {
		return nil, false, corruptf("bad dictionary")
	}
	hit := slices.Grow((*hits)[:0], int(d))[:d]
	*hits = hit
	some := false
	for i := range hit {
		l, k := binary.Uvarint(lens)
		lens = lens[k:]
		v := b[:l]
		b = b[l:]
		hit[i] = matchEntry(v, p)
		some = some || hit[i]
	}
	return hit, some, nil
}

// matchEntry reports whether a dictionary entry matches p, as evaluate
// matches a string: has_any by any of its strings.
func matchEntry(v []byte, p *pred) bool {
	switch {
	case p.op == OpEq:
		return string(v) == p.s // no string made: lengths first, then bytes
	case p.alts == nil:
		return matchBytes(v, p)
	}
	for i := range p.alts {
		if matchBytes(v, &p.alts[i]) {
			return true
		}
	}
	return false
}

// selectCodes clears sel where a row of the dictionary-coded page b (of a
// chunk of type typ; sel has one per row) is null or its entry number is
// not one hit holds set.
func selectCodes(b []byte, typ Type, hit []bool, sel []bool) error {
	if len(b) < 1 || Type(b[0]) != typ {
		return corruptf("page does not match its chunk")
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n != uint64(len(sel)) {
		return corruptf("page does not match its chunk")
	}
	b = b[1+k:]
	if len(b) < 1 || b[0]&dictFlag == 0 {
		return corruptf("bad validity")
	}
	var bitmap []byte // nil: every row valid
	switch b[0] &^ dictFlag {
	case validAll:
		b = b[1:]
	case validBitmap:
		if len(b) < 1+(len(sel)+7)/8 {
			return corruptf("short validity bitmap")
		}
		bitmap, b = b[1:1+(len(sel)+7)/8], b[1+(len(sel)+7)/8:]
	case validNone:
		clear(sel)
		b = b[1:]
		if len(b) != 0 {
			return corruptf("trailing bytes in column")
		}
		return nil
	default:
		return corruptf("bad validity")
	}
	d := uint64(len(hit))
	for i := range sel {
		if bitmap != nil && bitmap[i/8]&(1<<(i%8)) == 0 {
			sel[i] = false // a null matches nothing
			continue
		}
		code, k := uvarint(b)
		if k <= 0 || code >= d {
			return corruptf("bad dictionary entry")
		}
		sel[i] = sel[i] && hit[code]
		b = b[k:]
	}
	if len(b) != 0 {
		return corruptf("trailing bytes in column")
	}
	return nil
}
