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
//	uvarint page filter size (version 4, segPageFilterVersion, on; 0: none) |
//	per page: uvarint size | uvarint compressed size |
//	the page filter | the compressed dictionary | the compressed pages, in order
//
// A page is the column encoding (see validAll) of its rows alone, so that a
// read of a few rows decompresses and decodes only the pages they fall in.
// A dictionary-coded string column has its dictionary once per chunk (see
// appendDictEntries) and pages with the dictionary flag that hold only the
// entry numbers of their rows.
//
// A column of long text (a plain string column whose values average
// textMinBytes or more) has the terms of each part of textPartRows rows in
// the chunk's page filter (see pageFilter): a predicate with a term that a
// part lacks leaves it unsearched, and a page whose parts all lack it
// compressed. A term rare in the rows but in every block (a user name in
// the messages of a day) is in few of its parts.
const (
	// defaultPageRows is the rows of a page: against one zstd frame per
	// chunk it costs about 1% of disk and saves 7/8 of a chunk's
	// decompression when one row of a block is picked (docs/BENCHMARKS.md).
	defaultPageRows = 1024
	// textPartRows is the rows of a part of a page of long text, whose
	// terms the page filter holds: a term in one row of a thousand is in a
	// fifth of them. (Pages of as few rows would leave more compressed,
	// but decompress text at 1.6 times the cost: docs/BENCHMARKS.md.)
	textPartRows = 256
	// textMinBytes is the average length of the values of a column of long
	// text, whose pages get a filter: shorter values cost more filter per
	// byte of column.
	textMinBytes = 48
	// maxPageSize bounds what a page or a dictionary decompresses to,
	// whatever its (authenticated) directory says: a writer keeps them
	// smaller (see pageRowsFor).
	maxPageSize = 64 << 20
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
	filter         []byte // the page filter; nil: none
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

// parsePageDir parses a paged chunk's directory, with a page filter size
// when filtered (segment version 4 on), and locates its pages. The chunk is
// authenticated before it gets here, but the parser still checks every
// size: it must not panic or allocate beyond the input on any input.
func parsePageDir(b []byte, filtered bool) (pageDir, error) {
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
	var filterSize uint64
	if filtered {
		filterSize = r.uvarint(uint64(len(b)))
	}
	if r.err != nil || pageRows == 0 || pages != (rows+pageRows-1)/pageRows || (dictSize == 0) != (dictComp == 0) {
		return d, corruptf("bad page directory")
	}
	d.rows, d.pageRows, d.dictSize = int(rows), int(pageRows), int(dictSize)
	d.pages = make([]pageRef, pages)
	comp := dictComp + filterSize
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
	if filterSize > 0 {
		d.filter, body = body[:filterSize:filterSize], body[filterSize:]
	}
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
	// filters: chunks of long text get a page filter (segment version 4,
	// segPageFilterVersion, on), and every directory its size
	filters bool
	plain   []byte
	body    []byte
	dir     []byte
	json    []cell // a dynamic column's cells as JSON text
	dicts   dictBuilder
	parts   partTerms
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
	if t == TypeString && st.nulls < n {
		dict, codes, _ = w.dicts.build(cells)
	}
	if dict != nil {
		if w.plain = appendDictEntries(w.plain[:0], dict); len(w.plain) > maxPageSize {
			dict, codes = nil, nil // its values are paged plain instead, which pageRowsFor bounds
		}
	}
	pageRows := pageRowsFor(cells, w.pageRows)
	var parts *partTerms // of long text, for its page filter
	if w.filters && t == TypeString && dict == nil && st.nulls < n && valueBytes(cells) >= textMinBytes*(n-st.nulls) {
		parts = &w.parts
		parts.reset(min(pageRows, textPartRows))
	}
	switch {
	case dict != nil:
		// each distinct value once: most string columns repeat a few
		st.bloom = stringBloom(len(dict), func(i int) ([]byte, bool) { return dict[i], true }, true, all, nil)
	case (t == TypeString || t == TypeDynamic) && st.nulls < n:
		st.bloom = stringBloom(n, func(i int) ([]byte, bool) { return cells[i].s, cells[i].kind != TypeNull }, t == TypeString, all, parts)
	}
	if st.bloom == nil && t == TypeString && st.nulls < n {
		// too many keys for a filter: what characters it holds still rules
		// out the constants with others (a GUID's hex digits hold no "u")
		if dict != nil {
			st.chars = textChars(len(dict), func(i int) []byte { return dict[i] })
		} else {
			st.chars = textChars(n, func(i int) []byte { return cells[i].s })
		}
	}
	var filter []byte
	if parts != nil {
		filter = parts.filter()
	}
	w.body = w.body[:0]
	pages := (n + pageRows - 1) / pageRows
	w.dir = append(w.dir[:0], byte(t))
	w.dir = binary.AppendUvarint(w.dir, uint64(n))
	w.dir = binary.AppendUvarint(w.dir, uint64(pageRows))
	w.dir = binary.AppendUvarint(w.dir, uint64(pages))
	w.body = append(w.body, filter...)
	if dict != nil {
		w.body = w.enc.EncodeAll(w.plain, w.body)
		w.dir = binary.AppendUvarint(w.dir, uint64(len(w.plain)))
		w.dir = binary.AppendUvarint(w.dir, uint64(len(w.body)-len(filter)))
	} else {
		w.dir = append(w.dir, 0, 0)
	}
	if w.filters {
		w.dir = binary.AppendUvarint(w.dir, uint64(len(filter)))
	}
	coded := 0 // codes of the valid rows before the page
	for lo := 0; lo < n; lo += pageRows {
		hi := min(lo+pageRows, n)
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

// valueBytes is the length of the values of cells, together.
func valueBytes(cells []cell) int {
	n := 0
	for _, c := range cells {
		n += len(c.s)
	}
	return n
}

// pageRowsFor is the rows of each page of cells: rows, or fewer where the
// values of as many would encode to more than maxPageSize. (A value is a
// row's at most, and rows are far smaller, see Config.MaxRowBytes.)
func pageRowsFor(cells []cell, rows int) int {
	fits := func(rows int) bool {
		for lo := 0; lo < len(cells); lo += rows {
			// the page's header and validity bitmap, and each value with
			// its length (or a number in its widest encoding)
			size := 16 + rows/8
			for _, c := range cells[lo:min(lo+rows, len(cells))] {
				size += len(c.s) + binary.MaxVarintLen64
			}
			if size > maxPageSize {
				return false
			}
		}
		return true
	}
	for rows > 1 && !fits(rows) {
		rows /= 2
	}
	return rows
}

// A page filter is a bloom filter of the terms of each part of a chunk of
// long text, keyed by term and part (partKey), so that one filter per chunk
// serves all its parts: uvarint part rows | k byte | bits (a multiple of
// 64), bits as in the any-column filter (anyBloomBits). It holds terms
// alone, as has needs them: a value is found by == through the block's
// bloom filter.
const (
	pageFilterK          = 4
	pageFilterBitsPerKey = 6 // about 6% false positives: a part searched for nothing
	// pageFilterMaxKeys caps a chunk's filter at 48 KiB; text with more
	// distinct terms in its parts has none.
	pageFilterMaxKeys = 1 << 16
)

// partKey is the key of a term's key h in part p of a page filter.
func partKey(h uint64, p int) uint64 {
	return bloomMix(h ^ uint64(p+1)*0x9e3779b97f4a7c15)
}

// partTerms collects the term keys of each part of a column, for its page
// filter: stringBloom, which splits every value into terms for the
// column's bloom filter, hands it each row's.
type partTerms struct {
	rows int      // of a part
	part int      // the part being collected
	set  termSet  // its terms
	keys []uint64 // of the parts before, by partKey
	over bool     // more than pageFilterMaxKeys keys: no filter
}

// reset readies p for a column in parts of rows rows.
func (p *partTerms) reset(rows int) {
	*p = partTerms{rows: rows, part: -1, set: p.set, keys: p.keys[:0]}
	p.set.reset()
}

// row moves p on to row i (rows come in order) and reports whether it is
// the first row of its part that p sees.
func (p *partTerms) row(i int) bool {
	part := i / p.rows
	if part == p.part {
		return false
	}
	p.close()
	p.part = part
	return true
}

// close adds the keys of the part being collected.
func (p *partTerms) close() {
	if p.over = p.over || len(p.keys)+p.set.n > pageFilterMaxKeys; !p.over {
		p.set.each(func(h uint64) { p.keys = append(p.keys, partKey(h, p.part)) })
	}
	p.set.reset()
}

// filter is the page filter of the parts collected, or nil when they hold
// more than pageFilterMaxKeys terms.
func (p *partTerms) filter() []byte {
	p.close()
	if p.over {
		return nil
	}
	nbits := max(64, (len(p.keys)*pageFilterBitsPerKey+63)/64*64)
	f := binary.AppendUvarint(nil, uint64(p.rows))
	bits := len(f)
	f = append(f, make([]byte, 1+nbits/8)...)
	f[bits] = pageFilterK
	for _, h := range p.keys {
		anyBloomBits(f[bits:], h, func(bits []byte, bit uint64) bool {
			bits[bit/8] |= 1 << (bit % 8)
			return true
		})
	}
	return f
}

// partFilter is a parsed page filter.
type partFilter struct {
	partRows int
	bits     []byte // k byte and bits
}

// parsePartFilter parses a page filter.
func parsePartFilter(f []byte) (partFilter, error) {
	r := indexReader{b: f}
	partRows := r.uvarint(maxBlockRows)
	if r.err != nil || partRows == 0 || len(r.b) < 2 {
		return partFilter{}, corruptf("bad page filter")
	}
	return partFilter{partRows: int(partRows), bits: r.b}, nil
}

// partAdmits reports whether part p's terms in filter f leave predicate
// pr possible: has and == of a string need each of its terms in the value
// (see foldHas), has_any one of its strings'; any other predicate is left
// to the values.
func partAdmits(f []byte, part int, pr *pred) bool {
	switch {
	case pr.op == OpHasAny:
		for i := range pr.alts {
			if partAdmits(f, part, &pr.alts[i]) {
				return true
			}
		}
		return false
	case pr.op != OpHas && pr.op != OpEq:
		return true
	}
	for _, h := range pr.terms {
		if !anyBloomHas(f, partKey(h, part)) {
			return false
		}
	}
	return true
}

// pageSkip is what lets a read of a column leave rows out by its page
// filter. A part that one predicate on the column alone (of) rules out has
// no row that the scan keeps; a part that every AnyColumn predicate (anyOf)
// rules out has no row that matches them in this column, though the row
// may match in another: such a column is read again for the rows kept.
type pageSkip struct {
	of    []*pred
	anyOf []*pred // used only without of
}

// skips reports whether part p, whose terms are in filter f, is left out.
func (s *pageSkip) skips(f []byte, p int) bool {
	if len(s.of) > 0 {
		for _, pr := range s.of {
			if !partAdmits(f, p, pr) {
				return true
			}
		}
		return false
	}
	for _, pr := range s.anyOf {
		if partAdmits(f, p, pr) {
			return false
		}
	}
	return len(s.anyOf) > 0
}

// leftOut is the rows [lo, hi) that skip leaves out of a read of rows
// [from, to) by page filter f, flattened (lo, hi, lo, hi...) onto dst.
func (f *partFilter) leftOut(dst []int, skip *pageSkip, from, to int) []int {
	mark := len(dst)
	for part := from / f.partRows; part*f.partRows < to; part++ {
		lo, hi := max(part*f.partRows, from), min((part+1)*f.partRows, to)
		if !skip.skips(f.bits, part) {
			continue
		}
		if n := len(dst); n > mark && dst[n-1] == lo {
			dst[n-1] = hi // one range with the part before
		} else {
			dst = append(dst, lo, hi)
		}
	}
	return dst
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
	// skipped is the rows [lo, hi) the last read left out by the page
	// filter, flattened: lo, hi, lo, hi...
	skipped []int
	local   []int // the rows picked of one page, from its first
	// arena holds the slices of the last raw read's validity and values,
	// for the next raw read to reuse: a raw read's column lives until then
	// (see Column.own).
	arena Column
}

// keep makes col's slices those the next raw read reuses.
func (buf *pageBuffers) keep(col Column) {
	if col.Valid != nil {
		buf.arena.Valid = col.Valid
	}
	switch {
	case col.Ints != nil:
		buf.arena.Ints = col.Ints
	case col.Reals != nil:
		buf.arena.Reals = col.Reals
	case col.Bools != nil:
		buf.arena.Bools = col.Bools
	case col.Codes != nil:
		buf.arena.Codes = col.Codes
	}
}

// pagedRead is what decodePaged is asked to read of a paged chunk.
type pagedRead struct {
	name string // the column's
	rows []int  // ascending; nil: all
	raw  bool   // decodeRaw's (for all rows)
	// skip rules parts out by the chunk's page filter in a read of all
	// rows; nil: none.
	skip *pageSkip
	// filtered: the directory has a page filter's size (segment version 4
	// on).
	filtered bool
	dec      *zstd.Decoder
	buf      *pageBuffers
}

// decodePaged decodes the rows that r asks for of the paged chunk b,
// decompressing only the pages they fall in. A read of all rows leaves out
// the parts that r.skip rules out by the chunk's page filter, unsearched,
// and a page of such parts alone compressed: their rows read as nulls, and
// r.buf.skipped says which. It also returns the chunk's row count.
func decodePaged(b []byte, r pagedRead) (Column, int, error) {
	if r.raw {
		r.rows = nil // a raw read is of a whole chunk, as decodeRaw's
	}
	r.buf.skipped = r.buf.skipped[:0]
	pd := pagedDecode{pagedRead: r}
	var err error
	if pd.d, err = parsePageDir(b, r.filtered); err != nil {
		return Column{Name: r.name}, 0, err
	}
	if err := pd.prepare(); err != nil {
		return Column{Name: r.name}, pd.d.rows, err
	}
	for p := range pd.d.pages {
		if col, err := pd.page(p); err != nil {
			return col, pd.d.rows, err
		}
	}
	return pd.finish()
}

// pagedDecode is the state of one decodePaged: the chunk's directory and
// the column decoded so far.
type pagedDecode struct {
	pagedRead
	d      pageDir
	filter *partFilter // nil: no row is left out
	dict   []string
	want   int    // the rows the column ends with
	out    Column // decoded so far
	// gather: the pages' plain strings are read raw and gathered in
	// buf.strs, ends where each ends, then made strings at once unless
	// asked raw: one allocation.
	gather bool
	ends   []int
	k      int // the first of rows not in a page decoded yet
}

// prepare checks the rows asked for against the directory, parses the
// page filter if it is used and the dictionary if there is one, and makes
// room for the column.
func (pd *pagedDecode) prepare() error {
	if len(pd.rows) > 0 && pd.rows[len(pd.rows)-1] >= pd.d.rows {
		return corruptf("column does not match the index")
	}
	if pd.skip != nil && pd.d.filter != nil {
		f, err := parsePartFilter(pd.d.filter)
		if err != nil {
			return err
		}
		pd.filter = &f
	}
	if pd.d.dict != nil {
		plain, err := decompressPage(pd.dec, pd.d.dict, pd.d.dictSize, &pd.buf.plain)
		if err != nil {
			return err
		}
		var rest []byte
		if pd.dict, rest, err = readDict(plain, pd.d.rows); err != nil || len(rest) != 0 || len(pd.dict) == 0 {
			return corruptf("bad dictionary")
		}
	}
	pd.want = pd.d.rows
	if pd.rows != nil {
		pd.want = len(pd.rows)
	}
	pd.makeRoom()
	pd.gather = pd.raw || pd.rows == nil
	if pd.gathersStrings(pd.d.typ) {
		pd.ends = make([]int, 0, pd.want)
	}
	pd.buf.strs = pd.buf.strs[:0]
	return nil
}

// makeRoom makes the column's slices, with room for the rows wanted. A raw
// read's validity and values are the buffer's, reused from chunk to chunk
// (see pageBuffers.arena); any other read's are new.
func (pd *pagedDecode) makeRoom() {
	var room Column
	if pd.raw {
		room = pd.buf.arena
	}
	want := pd.want
	pd.out = Column{Name: pd.name, Type: pd.d.typ, Dict: pd.dict, Valid: slices.Grow(room.Valid[:0], want)}
	switch {
	case pd.d.typ == TypeLong || pd.d.typ == TypeDatetime:
		pd.out.Ints = slices.Grow(room.Ints[:0], want)
	case pd.d.typ == TypeReal:
		pd.out.Reals = slices.Grow(room.Reals[:0], want)
	case pd.d.typ == TypeBool:
		pd.out.Bools = slices.Grow(room.Bools[:0], want)
	case pd.dict != nil:
		pd.out.Codes = slices.Grow(room.Codes[:0], want)
	case pd.rows != nil:
		pd.out.Strings = make([]string, 0, want)
	}
}

// gathersStrings reports whether a column of type t has its strings
// gathered (see pagedDecode.gather): a whole plain string column.
func (pd *pagedDecode) gathersStrings(t Type) bool {
	return pd.gather && pd.dict == nil && (t == TypeString || t == TypeDynamic)
}

// page decodes page p into the column, unless no row asked for is in it or
// the page filter leaves it out whole; on an error it returns the column
// decodePaged returns.
func (pd *pagedDecode) page(p int) (Column, error) {
	lo, hi := pd.d.pageRange(p)
	local, ok := pd.pick(lo, hi)
	if !ok {
		return Column{}, nil // no row picked here: the page stays compressed
	}
	left, whole := pd.leftOut(lo, hi)
	if whole {
		appendNulls(&pd.out, hi-lo) // the whole page: it stays compressed
		return Column{}, nil
	}
	plain, err := decompressPage(pd.dec, pd.d.pages[p].comp, pd.d.pages[p].size, &pd.buf.plain)
	if err != nil {
		return pd.out, err
	}
	col, n, err := decodeAll(plain, pd.name, local, pd.gather, pd.dict, &pd.out)
	switch {
	case err != nil:
		return col, err
	case n != hi-lo || col.Type != pd.out.Type || (col.Dict == nil) != (pd.dict == nil):
		return col, corruptf("page does not match its chunk")
	}
	pd.collect(col, lo, hi, left)
	return Column{}, nil
}

// pick returns the rows asked for in the page of rows [lo, hi), from the
// page's first (nil when all are asked for), or false when there is none.
func (pd *pagedDecode) pick(lo, hi int) ([]int, bool) {
	if pd.rows == nil {
		return nil, true
	}
	e := pd.k
	for e < len(pd.rows) && pd.rows[e] < hi {
		e++
	}
	if e == pd.k {
		return nil, false
	}
	pd.buf.local = pd.buf.local[:0]
	for _, i := range pd.rows[pd.k:e] {
		pd.buf.local = append(pd.buf.local, i-lo)
	}
	pd.k = e
	return pd.buf.local, true
}

// leftOut appends to buf.skipped the rows of the page [lo, hi) that the
// page filter leaves out, and returns them (flattened), or whole when that
// is the whole page. Only a read of all rows leaves rows out.
func (pd *pagedDecode) leftOut(lo, hi int) (left []int, whole bool) {
	if pd.rows != nil || pd.filter == nil {
		return nil, false
	}
	mark := len(pd.buf.skipped)
	pd.buf.skipped = pd.filter.leftOut(pd.buf.skipped, pd.skip, lo, hi)
	left = pd.buf.skipped[mark:]
	return left, len(left) == 2 && left[0] == lo && left[1] == hi
}

// collect adds what a page decoded, col, to the column: its strings
// (decodeAll put the rest straight into out), gathered raw but for the
// rows left out.
func (pd *pagedDecode) collect(col Column, lo, hi int, left []int) {
	if col.raw == nil && col.Strings != nil {
		pd.out.Strings = append(pd.out.Strings, col.Strings...)
	}
	switch {
	case col.raw != nil && len(left) > 0:
		pd.ends = gatherKept(pd.buf, pd.ends, col.raw, pd.out.Valid[lo:hi], lo, left)
	case col.raw != nil:
		base := len(pd.buf.strs)
		pd.buf.strs = append(pd.buf.strs, col.raw.data...)
		for _, e := range col.raw.ends {
			pd.ends = append(pd.ends, base+e)
		}
	case len(left) > 0:
		pd.buf.skipped = pd.buf.skipped[:len(pd.buf.skipped)-len(left)] // read whole after all
	}
}

// finish makes the gathered strings the column's and checks that the pages
// held the rows the directory says.
func (pd *pagedDecode) finish() (Column, int, error) {
	out, buf := pd.out, pd.buf
	if pd.gathersStrings(out.Type) {
		out.raw = &rawStrings{data: buf.strs[:len(buf.strs):len(buf.strs)], ends: pd.ends}
		if !pd.raw {
			out.materialize(nil) // copies the strings out of buf
		}
	}
	if len(out.Valid) != pd.want {
		return out, pd.d.rows, corruptf("page does not match its chunk")
	}
	if pd.raw {
		buf.keep(out)
	}
	return out, pd.d.rows, nil
}

// gatherKept appends to buf.strs the raw strings r of one page, whose rows
// from first on are valid as valid says, but those of the rows the ranges
// leave out (flattened lo, hi pairs), which it makes nulls; it returns ends
// with the kept strings' ends.
func gatherKept(buf *pageBuffers, ends []int, r *rawStrings, valid []bool, first int, ranges []int) []int {
	start, j, k := 0, 0, 0
	for i, ok := range valid {
		if !ok {
			continue
		}
		row := first + i
		for k+1 < len(ranges) && ranges[k+1] <= row {
			k += 2
		}
		end := r.ends[j]
		j++
		if k+1 < len(ranges) && ranges[k] <= row {
			valid[i] = false
		} else {
			buf.strs = append(buf.strs, r.data[start:end]...)
			ends = append(ends, len(buf.strs))
		}
		start = end
	}
	return ends
}

// appendNulls appends n nulls to c, a column being decoded.
func appendNulls(c *Column, n int) {
	c.Valid = append(c.Valid, make([]bool, n)...)
	switch {
	case c.Ints != nil:
		c.Ints = append(c.Ints, make([]int64, n)...)
	case c.Reals != nil:
		c.Reals = append(c.Reals, make([]float64, n)...)
	case c.Bools != nil:
		c.Bools = append(c.Bools, make([]bool, n)...)
	case c.Codes != nil:
		c.Codes = append(c.Codes, make([]uint32, n)...)
	case c.Strings != nil:
		c.Strings = append(c.Strings, make([]string, n)...)
	}
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
		l, k := shortUvarint(b) // inline: uvarint is not
		if k == 0 {
			l, k = binary.Uvarint(b)
		}
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
		l, k := shortUvarint(lens) // checked in the loop above
		if k == 0 {
			l, k = binary.Uvarint(lens)
		}
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
		code, k := shortUvarint(b) // inline: uvarint is not
		if k == 0 {
			code, k = binary.Uvarint(b)
		}
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
