package logstore

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Column is one column of a batch: Type says which slice holds the values,
// Valid which rows have one. Values where Valid is false are zero.
type Column struct {
	Name    string
	Type    Type
	Valid   []bool
	Ints    []int64   // TypeLong; TypeDatetime as Unix nanoseconds
	Reals   []float64 // TypeReal
	Bools   []bool    // TypeBool
	Strings []string  // TypeString; TypeDynamic as JSON text; nil with a dictionary
	// A string column stored with a dictionary (few distinct values) holds
	// it instead of Strings: row i is Dict[Codes[i]] where Valid[i] (Codes[i]
	// is 0 elsewhere), so a reader groups or compares by code and no row's
	// string is built unless asked for (Str).
	Dict  []string
	Codes []uint32

	// raw, inside a scan only, holds a predicate column's strings still in
	// the chunk (Strings nil): see rawStrings.
	raw *rawStrings
}

// rawStrings are the values of a plain string column in place in its
// decompressed chunk: a predicate reads them there, and only the rows that
// match are copied out into strings (materialize).
type rawStrings struct {
	data []byte // aliases the chunk buffer
	ends []int  // of each valid row's value in data
}

// materialize gives a column read raw its strings: all of them, or only the
// given rows, which the column then holds alone.
func (c *Column) materialize(rows []int) {
	r := c.raw
	c.raw = nil
	if rows != nil {
		*c = pickStrings(*c, r.data, r.ends, rows)
		return
	}
	all := string(r.data) // one allocation for all the strings of the chunk
	c.Strings = make([]string, len(c.Valid))
	off, j := 0, 0
	for i, ok := range c.Valid {
		if ok {
			c.Strings[i] = all[off:r.ends[j]]
			off = r.ends[j]
			j++
		}
	}
}

// own gives a column read raw slices of its own, where they are a
// buffer's (see pageBuffers.arena), before it leaves the scan.
func (c *Column) own() {
	c.Valid = slices.Clone(c.Valid)
	c.Ints = slices.Clone(c.Ints)
	c.Reals = slices.Clone(c.Reals)
	c.Bools = slices.Clone(c.Bools)
	c.Codes = slices.Clone(c.Codes)
}

// Len is the number of rows in the column.
func (c *Column) Len() int { return len(c.Valid) }

// Str is row i of a string or dynamic column: its value, or "" for a null.
func (c *Column) Str(i int) string {
	switch {
	case !c.Valid[i]:
		return ""
	case c.Dict != nil:
		return c.Dict[c.Codes[i]]
	}
	return c.Strings[i]
}

// maxBlockRows bounds a decoded block, whatever its (authenticated) index says.
const maxBlockRows = 1 << 20

// colCells collects one column's values for a block, as parsed.
type colCells struct {
	name  string
	cells []cell
}

// blockBuilder turns rows of payloads into the columns of one block. It is
// reused from block to block so that a flush allocates little.
type blockBuilder struct {
	want   map[string]bool // columns to build; nil: all
	cols   []*colCells
	byName map[string]*colCells
	// atField is the column of each field position of the last row:
	// shippers send the same fields in the same order, and a name compared
	// with the one at its position costs less than a lookup in byName.
	atField  []*colCells
	times    []int64
	ingested []int64 // unknownIngest where not known
	known    int     // rows with a known ingestion time
	ingCells []cell  // ingestCells' buffer
}

func newBlockBuilder(want map[string]bool) *blockBuilder {
	return &blockBuilder{want: want, byName: make(map[string]*colCells)}
}

func (bb *blockBuilder) reset() {
	for _, c := range bb.cols {
		c.cells = c.cells[:0]
	}
	bb.times = bb.times[:0]
	bb.ingested = bb.ingested[:0]
	bb.known = 0
}

func (bb *blockBuilder) rows() int { return len(bb.times) }

// add appends the row at ref in payload p, ingested at ingested.
func (bb *blockBuilder) add(p []byte, ref rowRef, ingested int64) error {
	r := len(bb.times)
	k := -1 // the field's position in the row
	_, _, err := walkRow(p, int(ref.off), func(name []byte, c cell) {
		k++
		if string(name) == timeColumn || bb.want != nil && !bb.want[string(name)] {
			return
		}
		col := bb.column(k, name)
		for len(col.cells) < r {
			col.cells = append(col.cells, cell{})
		}
		if len(col.cells) == r+1 { // a name repeated within one object: the last wins
			col.cells[r] = c
		} else {
			col.cells = append(col.cells, c)
		}
	})
	if err != nil {
		return err
	}
	bb.times = append(bb.times, ref.time)
	bb.ingested = append(bb.ingested, ingested)
	if ingested != unknownIngest {
		bb.known++
	}
	return nil
}

// column is the column of name, the field at position k of its row,
// added if new.
func (bb *blockBuilder) column(k int, name []byte) *colCells {
	if k < len(bb.atField) && bb.atField[k] != nil && bb.atField[k].name == string(name) {
		return bb.atField[k]
	}
	col := bb.byName[string(name)]
	if col == nil {
		col = &colCells{name: string(name)}
		bb.byName[col.name] = col
		bb.cols = append(bb.cols, col)
	}
	if k < maxSeen {
		for len(bb.atField) <= k {
			bb.atField = append(bb.atField, nil)
		}
		bb.atField[k] = col
	}
	return col
}

// ingestCells is the hidden ingestion-time column of the block, as cells
// and times for appendColumn, or nil when no row's is known (a block of
// rows from an old WAL, stored as before ingestion times were).
func (bb *blockBuilder) ingestCells() ([]cell, []int64) {
	if bb.known == 0 {
		return nil, nil
	}
	cells := slices.Grow(bb.ingCells[:0], len(bb.ingested))[:len(bb.ingested)]
	for i, t := range bb.ingested {
		cells[i] = cell{}
		if t != unknownIngest {
			cells[i].kind = TypeLong
		}
	}
	bb.ingCells = cells
	return cells, bb.ingested
}

// columns returns the block's columns with values, TimeGenerated first,
// padded to the block's row count.
func (bb *blockBuilder) columns() []*colCells {
	n := len(bb.times)
	out := make([]*colCells, 0, len(bb.cols))
	for _, c := range bb.cols {
		if len(c.cells) == 0 {
			continue
		}
		for len(c.cells) < n {
			c.cells = append(c.cells, cell{})
		}
		out = append(out, c)
	}
	return out
}

// timeSpan is the range of the block's TimeGenerated.
func (bb *blockBuilder) timeSpan() (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for _, t := range bb.times {
		lo, hi = min(lo, t), max(hi, t)
	}
	return lo, hi
}

// eachColumn calls f with each column of the block as a block stores it:
// TimeGenerated first, the hidden ingestion time where some row's is known,
// then the others, each with the type its values resolve to (times: see
// resolveType).
func (bb *blockBuilder) eachColumn(f func(name string, t Type, cells []cell, times []int64)) {
	timeCells := make([]cell, len(bb.times))
	for i := range timeCells {
		timeCells[i].kind = TypeLong
	}
	f(timeColumn, TypeDatetime, timeCells, bb.times)
	if cells, ingested := bb.ingestCells(); cells != nil {
		f(IngestionTimeColumn, TypeDatetime, cells, ingested)
	}
	for _, c := range bb.columns() {
		t, times := resolveType(c.cells)
		f(c.name, t, c.cells, times)
	}
}

// colStats are the statistics of one column in one block, kept in the
// sealed segment index for pruning.
type colStats struct {
	nulls      int
	minI, maxI int64   // long, datetime, bool
	minF, maxF float64 // real
	bloom      []byte  // string, dynamic; nil when there are too many keys (sealed apart from the index)
	chars      uint64  // string without a bloom filter: the characters it holds (see textChars); 0: unknown
}

// resolveType picks one type for a column's values in a block: the type they
// share; real for longs and reals; datetime for strings that all parse as
// one, unless one is text (of a column declared string or guid), and for
// datetimes (of a column declared datetime) beside such strings; dynamic
// (JSON text) for anything else mixed. times holds the datetimes, where
// some were parsed from strings.
func resolveType(cells []cell) (Type, []int64) {
	var seen [typeEnd]bool
	text := false
	for _, c := range cells {
		seen[c.kind] = true
		text = text || c.text
	}
	seen[TypeNull] = false
	count := 0
	t := TypeNull
	for k, ok := range seen {
		if ok {
			count++
			t = Type(k)
		}
	}
	switch {
	case count == 2 && seen[TypeLong] && seen[TypeReal]:
		return TypeReal, nil
	case count == 2 && seen[TypeDatetime] && seen[TypeString] && !text:
		if times := parseTimes(cells); times != nil {
			return TypeDatetime, times
		}
		return TypeDynamic, nil
	case count > 1:
		return TypeDynamic, nil
	case t == TypeString && !text:
		if times := parseTimes(cells); times != nil {
			return TypeDatetime, times
		}
	}
	return t, nil
}

// parseTimes parses every string of cells as a datetime, or returns nil;
// datetime cells keep theirs.
func parseTimes(cells []cell) []int64 {
	times := make([]int64, len(cells))
	for i, c := range cells {
		switch c.kind {
		case TypeNull:
			continue
		case TypeDatetime:
			times[i] = c.i
			continue
		}
		t, ok := stringTime(c.s)
		if !ok {
			return nil
		}
		times[i] = t
	}
	return times
}

// stringTime is s read as a datetime (Unix ns), or false when it is none.
func stringTime(s []byte) (int64, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' {
		return 0, false
	}
	t, err := parseTime(s)
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

// Column chunk encoding, before compression:
//
//	type byte | uvarint rows | validity | values of the valid rows
//	validity: 0 (all valid) | 1 and a bitmap, bit set = valid | 2 (none valid)
//	long, datetime: zig-zag varint deltas; real: 8 bytes little-endian each;
//	bool: bitmap; string, dynamic: uvarint lengths, then the bytes.
//	A string column with few distinct values has the dictionary flag set in
//	its validity byte and holds instead: uvarint entries | uvarint lengths
//	of the entries, then their bytes | uvarint entry number of each valid
//	row.
const (
	validAll    = 0
	validBitmap = 1
	validNone   = 2
	dictFlag    = 0x80
)

// appendColumn appends the chunk of one column to dst and returns its
// statistics, with a bloom filter only if bloom is set; with one, the terms
// of a string or dynamic column also go into all, the block's any-column
// filter, unless it is nil.
func appendColumn(dst []byte, t Type, cells []cell, times []int64, bloom bool, all *anyTerms) ([]byte, colStats) {
	return appendColumnAs(dst, t, cells, times, bloom, all, true)
}

// appendColumnAs is appendColumn; a string column gets a dictionary only if
// dict is set (a page of a chunk whose dictionary, if any, is the chunk's).
func appendColumnAs(dst []byte, t Type, cells []cell, times []int64, bloom bool, all *anyTerms, dict bool) ([]byte, colStats) {
	n := len(cells)
	st := colStats{minI: math.MaxInt64, maxI: math.MinInt64, minF: math.Inf(1), maxF: math.Inf(-1)}
	dst = append(dst, byte(t))
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, c := range cells {
		if c.kind == TypeNull {
			st.nulls++
		}
	}
	vpos := len(dst) // of the validity byte
	switch st.nulls {
	case 0:
		dst = append(dst, validAll)
	case n:
		return append(dst, validNone), st
	default:
		dst = append(dst, validBitmap)
		dst = appendBitmap(dst, n, func(i int) bool { return cells[i].kind != TypeNull })
	}
	switch t {
	case TypeLong, TypeDatetime, TypeBool:
		var prev int64
		bits := t == TypeBool
		var bools []bool
		for i, c := range cells {
			if c.kind == TypeNull {
				continue
			}
			v := c.i
			if t == TypeDatetime && c.kind != TypeDatetime {
				v = times[i] // parsed from a string
			}
			st.minI, st.maxI = min(st.minI, v), max(st.maxI, v)
			if bits {
				bools = append(bools, v != 0)
				continue
			}
			dst = binary.AppendVarint(dst, v-prev)
			prev = v
		}
		if bits {
			dst = appendBitmap(dst, len(bools), func(i int) bool { return bools[i] })
		}
	case TypeReal:
		for _, c := range cells {
			if c.kind == TypeNull {
				continue
			}
			f := math.Float64frombits(uint64(c.i))
			if c.kind == TypeLong {
				f = float64(c.i)
			}
			st.minF, st.maxF = min(st.minF, f), max(st.maxF, f)
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
		}
	case TypeString, TypeDynamic:
		var texts [][]byte
		if t == TypeDynamic {
			texts = make([][]byte, n)
			for i, c := range cells {
				if c.kind != TypeNull {
					texts[i] = appendJSON(nil, c)
				}
			}
		}
		text := func(i int) []byte {
			if texts != nil {
				return texts[i]
			}
			return cells[i].s
		}
		if bloom {
			st.bloom = stringBloom(n, func(i int) ([]byte, bool) { return text(i), cells[i].kind != TypeNull }, t == TypeString, all, nil)
		}
		if t == TypeString && dict {
			if d, ok := appendDict(dst, cells); ok {
				d[vpos] |= dictFlag
				return d, st
			}
		}
		for i, c := range cells {
			if c.kind != TypeNull {
				dst = binary.AppendUvarint(dst, uint64(len(text(i))))
			}
		}
		for i, c := range cells {
			if c.kind != TypeNull {
				dst = append(dst, text(i)...)
			}
		}
	}
	return dst, st
}

// appendDict appends the dictionary encoding of a string column's valid
// cells, if it is at most half the size of the plain one: repeated values
// are then stored once, and readers can group by entry number.
func appendDict(dst []byte, cells []cell) ([]byte, bool) {
	var d dictBuilder
	dict, codes, ok := d.build(cells)
	if !ok {
		return dst, false
	}
	dst = appendDictEntries(dst, dict)
	for _, code := range codes {
		dst = binary.AppendUvarint(dst, uint64(code))
	}
	return dst, true
}

// dictBuilder builds the dictionaries of string columns, reusing its
// buffers from column to column: a flush tries one for every string column
// of every block. Its table is open-addressed by the values' hashes and
// holds entry numbers, so that a value is neither copied nor allocated to be
// looked up or kept, as a map keyed by strings would.
type dictBuilder struct {
	seed   maphash.Seed
	slots  []uint32 // entry number + 1 of the value whose hash falls here; 0: empty
	hashes []uint64 // of each entry
	dict   [][]byte
	codes  []uint32
}

// build is the dictionary of a string column's valid cells and the entry
// number of each, if the dictionary encoding is at most half the size of
// the plain one. Entries are numbered in the order the values first come.
// dict and codes are the builder's until the next build.
func (d *dictBuilder) build(cells []cell) (dict [][]byte, codes []uint32, ok bool) {
	n := len(cells)
	// At most n/2 entries are kept (more cannot win): a table of n slots
	// or more stays at most half full.
	size := 16
	for size < n {
		size *= 2
	}
	if cap(d.slots) < size {
		d.slots = make([]uint32, size)
		d.seed = maphash.MakeSeed()
	} else {
		d.slots = d.slots[:size]
		clear(d.slots)
	}
	mask := uint64(size - 1)
	d.hashes, d.dict, d.codes = d.hashes[:0], d.dict[:0], slices.Grow(d.codes[:0], n)
	plain, encoded := 0, 0
	for _, c := range cells {
		if c.kind == TypeNull {
			continue
		}
		h := maphash.Bytes(d.seed, c.s)
		i := h & mask
		for {
			e := d.slots[i]
			if e == 0 {
				d.slots[i] = uint32(len(d.dict)) + 1
				d.dict = append(d.dict, c.s)
				d.hashes = append(d.hashes, h)
				encoded += uvarintLen(uint64(len(c.s))) + len(c.s)
				break
			}
			if d.hashes[e-1] == h && bytes.Equal(d.dict[e-1], c.s) {
				break
			}
			i = (i + 1) & mask
		}
		code := d.slots[i] - 1
		d.codes = append(d.codes, code)
		plain += uvarintLen(uint64(len(c.s))) + len(c.s)
		encoded += uvarintLen(uint64(code))
		if 2*len(d.dict) > n {
			return nil, nil, false // too many distinct values to win
		}
	}
	if len(d.dict) == 0 || 2*encoded > plain {
		return nil, nil, false
	}
	return d.dict, d.codes, true
}

// appendDictEntries appends a dictionary: uvarint entries | uvarint lengths
// of the entries, then their bytes.
func appendDictEntries(dst []byte, dict [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(dict)))
	for _, v := range dict {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
	}
	for _, v := range dict {
		dst = append(dst, v...)
	}
	return dst
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// stringBloom builds the filter of a string column's values (when exact) and
// terms, and adds the terms to all, the block's any-column filter, unless it
// is nil. The values are value(0) to value(n-1), where ok is false for a
// null; a filter holds a set of keys, so a column's distinct values (its
// dictionary) give the filter all of its values do. A run of one value is
// split once (once a part, for parts). The terms of each row also go into
// parts, unless it is nil.
func stringBloom(n int, value func(i int) (v []byte, ok bool), exact bool, all *anyTerms, parts *partTerms) []byte {
	var own termSet
	keys := &own
	if all != nil {
		keys = &all.column
		keys.reset()
	}
	add := func(h uint64) {
		if keys.n <= bloomMaxKeys {
			keys.add(h)
		}
	}
	var prev []byte
	first := true
	for i := range n {
		v, ok := value(i)
		if !ok {
			continue
		}
		fresh := parts != nil && parts.row(i)
		if !first && !fresh && bytes.Equal(v, prev) {
			continue
		}
		prev, first = v, false
		term := func(h uint64) {
			add(h)
			if all != nil {
				all.add(h)
			}
			if parts != nil {
				parts.set.add(h)
			}
		}
		if exact {
			add(forValueTermKeys(v, term))
		} else {
			if all != nil {
				all.loose = all.loose || !verbatimJSON(v)
			}
			forTermKeys(v, term)
		}
		if keys.n > bloomMaxKeys && all == nil && parts == nil {
			return nil
		}
	}
	if keys.n > bloomMaxKeys {
		return nil
	}
	return bloomBuild(keys)
}

// appendJSON appends a value as JSON text, for dynamic columns.
func appendJSON(dst []byte, c cell) []byte {
	switch c.kind {
	case TypeDynamic:
		return append(dst, c.s...)
	case TypeString:
		return appendJSONString(dst, c.s)
	case TypeLong:
		return strconv.AppendInt(dst, c.i, 10)
	case TypeReal:
		return strconv.AppendFloat(dst, math.Float64frombits(uint64(c.i)), 'g', -1, 64)
	case TypeBool:
		return strconv.AppendBool(dst, c.i != 0)
	case TypeDatetime:
		dst = append(dst, '"')
		dst = time.Unix(0, c.i).UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	}
	return append(dst, "null"...)
}

func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return append(dst, '"')
}

func appendBitmap(dst []byte, n int, set func(int) bool) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, (n+7)/8)...)
	for i := range n {
		if set(i) {
			dst[start+i/8] |= 1 << (i % 8)
		}
	}
	return dst
}

// decodeColumn parses a chunk. Chunks are authenticated before they get
// here, but the decoder still checks every length: it must not panic on any
// input.
func decodeColumn(b []byte, name string) (Column, error) {
	col, _, err := decodeChunk(b, name, nil)
	return col, err
}

// decodeChunk is decodeColumn for the given rows of the chunk (ascending;
// nil: all): only their values are kept, and the strings of the other rows
// are never copied out of it. It also returns the chunk's row count.
func decodeChunk(b []byte, name string, rows []int) (Column, int, error) {
	return decodeAll(b, name, rows, false, nil, nil)
}

// decodeRaw is decodeColumn, but a plain string column's values stay in b
// (see rawStrings).
func decodeRaw(b []byte, name string) (Column, int, error) {
	return decodeAll(b, name, nil, true, nil, nil)
}

// picker places the rows of a chunk, visited in ascending order, among the
// rows decoded: all of them, or the given ones.
type picker struct {
	rows []int // nil: all
	k    int   // the first of rows not passed yet
}

// at is row i's place among the rows decoded, or -1 if it is not one.
func (p *picker) at(i int) int {
	if p.rows == nil {
		return i
	}
	for p.k < len(p.rows) && p.rows[p.k] < i {
		p.k++
	}
	if p.k < len(p.rows) && p.rows[p.k] == i {
		return p.k
	}
	return -1
}

// decodeAll decodes a chunk: the given rows (all if nil), whose values
// alone it keeps, though it reads and checks every row; a plain string
// column's strings stay in b if raw. A dictionary-coded page of a paged
// chunk holds entry numbers alone: dict is its chunk's dictionary. The
// validity and values of a page go at the end of arena's (see carve), unless
// it is nil.
func decodeAll(b []byte, name string, rows []int, raw bool, dict []string, arena *Column) (Column, int, error) {
	room := roomOf(arena)
	col := Column{Name: name}
	if len(b) < 1 || b[0] == byte(TypeNull) || b[0] >= byte(typeEnd) {
		return col, 0, corruptf("bad column type")
	}
	col.Type = Type(b[0])
	n64, k := binary.Uvarint(b[1:])
	if k <= 0 || n64 > maxBlockRows {
		return col, 0, corruptf("bad row count")
	}
	n := int(n64)
	if len(rows) > 0 && rows[len(rows)-1] >= n {
		return col, n, corruptf("column does not match the index")
	}
	b = b[1+k:]
	if len(b) < 1 {
		return col, n, corruptf("bad validity")
	}
	coded := b[0]&dictFlag != 0
	if coded && col.Type != TypeString || dict != nil && !coded {
		return col, n, corruptf("bad validity")
	}
	isValid, valid, b, err := decodeValidity(b, n, rows, room.valid)
	if err != nil {
		return col, n, err
	}
	out := n // rows decoded
	col.Valid = isValid
	if rows != nil {
		out = len(rows)
		col.Valid = carve(room.valid, out)
		for k, i := range rows {
			col.Valid[k] = isValid[i]
		}
	}
	pick := picker{rows: rows}
	switch col.Type {
	case TypeLong, TypeDatetime:
		col.Ints = carve(room.ints, out)
		if rows == nil {
			b, err = decodeDeltas(b, isValid, col.Ints)
		} else {
			b, err = decodeDeltasPicked(b, isValid, &pick, col.Ints)
		}
	case TypeBool:
		b, err = decodeBools(&col, b, isValid, valid, &pick, room.bools, out)
	case TypeReal:
		b, err = decodeReals(&col, b, isValid, valid, &pick, room.reals, out)
	case TypeString, TypeDynamic:
		if coded {
			b, err = decodeDict(&col, b, isValid, valid, &pick, dict, room.codes)
		} else {
			b, err = decodeStrings(&col, b, isValid, valid, rows, raw)
		}
	}
	if err != nil {
		return col, n, err
	}
	if len(b) != 0 {
		return col, n, corruptf("trailing bytes in column")
	}
	return col, n, nil
}

// chunkRoom is where decodeAll puts a chunk's validity and values: at the
// end of an arena's slices, or, nil, in new ones (see carve).
type chunkRoom struct {
	valid *[]bool
	ints  *[]int64
	reals *[]float64
	bools *[]bool
	codes *[]uint32
}

func roomOf(arena *Column) chunkRoom {
	if arena == nil {
		return chunkRoom{}
	}
	return chunkRoom{&arena.Valid, &arena.Ints, &arena.Reals, &arena.Bools, &arena.Codes}
}

// decodeValidity reads the validity of a chunk's n rows (the flag byte at
// b[0], then a bitmap if some rows are null): one per row of the chunk, in
// room unless only some rows are decoded (those are picked out of it). It
// returns how many rows are valid and what follows.
func decodeValidity(b []byte, n int, rows []int, room *[]bool) (isValid []bool, valid int, rest []byte, err error) {
	if rows == nil {
		isValid = carve(room, n)
	} else {
		isValid = make([]bool, n)
	}
	switch b[0] &^ dictFlag {
	case validAll:
		for i := range isValid {
			isValid[i] = true
		}
		return isValid, n, b[1:], nil
	case validBitmap:
		if len(b) < 1+(n+7)/8 {
			return nil, 0, b, corruptf("short validity bitmap")
		}
		for i := range n {
			if b[1+i/8]&(1<<(i%8)) != 0 {
				isValid[i] = true
				valid++
			}
		}
		return isValid, valid, b[1+(n+7)/8:], nil
	case validNone:
		return isValid, 0, b[1:], nil
	default:
		return nil, 0, b, corruptf("bad validity")
	}
}

// decodeDeltasPicked is decodeDeltas for the rows pick picks: it reads
// every valid row's delta, as each depends on those before, and keeps the
// values picked.
func decodeDeltasPicked(b []byte, isValid []bool, pick *picker, ints []int64) ([]byte, error) {
	var prev int64
	for i, ok := range isValid {
		if !ok {
			continue
		}
		ux, k := shortUvarint(b) // inline: uvarint is not
		if k == 0 {
			ux, k = binary.Uvarint(b)
		}
		if k <= 0 {
			return b, corruptf("bad integer")
		}
		prev += int64(ux>>1) ^ -int64(ux&1)
		if j := pick.at(i); j >= 0 {
			ints[j] = prev
		}
		b = b[k:]
	}
	return b, nil
}

// decodeBools reads a bool column's bitmap of its valid rows into col.Bools
// (out of them, in room), keeping the rows pick picks.
func decodeBools(col *Column, b []byte, isValid []bool, valid int, pick *picker, room *[]bool, out int) ([]byte, error) {
	if len(b) < (valid+7)/8 {
		return b, corruptf("short bool bitmap")
	}
	col.Bools = carve(room, out)
	j := 0
	for i, ok := range isValid {
		if ok {
			if at := pick.at(i); at >= 0 {
				col.Bools[at] = b[j/8]&(1<<(j%8)) != 0
			}
			j++
		}
	}
	return b[(valid+7)/8:], nil
}

// decodeReals reads a real column's little-endian float64s, one per valid
// row, into col.Reals (out of them, in room), keeping the rows pick picks.
func decodeReals(col *Column, b []byte, isValid []bool, valid int, pick *picker, room *[]float64, out int) ([]byte, error) {
	if len(b) < 8*valid {
		return b, corruptf("short reals")
	}
	col.Reals = carve(room, out)
	for i, ok := range isValid {
		if ok {
			if j := pick.at(i); j >= 0 {
				col.Reals[j] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
			b = b[8:]
		}
	}
	return b, nil
}

// decodeStrings reads a plain string column: the lengths of its valid
// rows' strings, then the strings. They stay in b, col.raw's, if raw; else
// the rows given (all if nil) are copied out. col.Valid becomes that of
// every row: materialize picks.
func decodeStrings(col *Column, b []byte, isValid []bool, valid int, rows []int, raw bool) ([]byte, error) {
	ends := make([]int, valid) // of each valid row's string in the bytes
	total := 0
	for j := range ends {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)) {
			return b, corruptf("bad string length")
		}
		total += int(l)
		ends[j] = total
		b = b[k:]
	}
	if total > len(b) {
		return b, corruptf("short strings")
	}
	col.Valid = isValid // of every row, until materialize picks
	col.raw = &rawStrings{data: b[:total:total], ends: ends}
	if !raw {
		col.materialize(rows)
	}
	return b[total:], nil
}

// decodeDeltas reads the zig-zag varint deltas of a long or datetime
// column's valid rows (isValid) into ints, one per row, and returns what
// follows them.
func decodeDeltas(b []byte, isValid []bool, ints []int64) ([]byte, error) {
	var prev int64
	for i, ok := range isValid {
		if !ok {
			continue
		}
		ux, k := shortUvarint(b) // inline: uvarint is not
		if k == 0 {
			ux, k = binary.Uvarint(b)
		}
		if k <= 0 {
			return b, corruptf("bad integer")
		}
		prev += int64(ux>>1) ^ -int64(ux&1) // zig-zag, as binary.Varint
		ints[i] = prev
		b = b[k:]
	}
	return b, nil
}

// uvarint is binary.Uvarint, with shortUvarint's path first for the values
// of one and two bytes: most lengths, deltas and entry numbers. The loops
// over a page's values call the two themselves, as uvarint is too big to be
// inlined.
func uvarint(b []byte) (uint64, int) {
	if x, k := shortUvarint(b); k > 0 {
		return x, k
	}
	return binary.Uvarint(b)
}

// shortUvarint is a uvarint of one or two bytes at the start of b, or
// 0, 0 for any other (the last byte of b, or three bytes and more): small
// enough to be inlined in the loops over a page's values.
func shortUvarint(b []byte) (uint64, int) {
	if len(b) > 1 {
		b0, b1 := b[0], b[1]
		if b0 < 0x80 {
			return uint64(b0), 1
		}
		if b1 < 0x80 {
			return uint64(b0&0x7f) | uint64(b1)<<7, 2
		}
	}
	return 0, 0
}

// pickStrings is the given rows of a plain string column whose valid rows'
// strings end at ends in data: one allocation for their strings, and when
// every row is valid, no work for the rows not picked.
func pickStrings(col Column, data []byte, ends []int, rows []int) Column {
	out := Column{Name: col.Name, Type: col.Type, Valid: make([]bool, len(rows)), Strings: make([]string, len(rows))}
	// the valid-row number of each picked row, -1 for a null
	js := make([]int, len(rows))
	if len(ends) == len(col.Valid) {
		copy(js, rows)
	} else {
		j, k := 0, 0
		for i := 0; k < len(rows); i++ {
			if i == rows[k] {
				js[k] = -1
				if col.Valid[i] {
					js[k] = j
				}
				k++
			}
			if col.Valid[i] {
				j++
			}
		}
	}
	span := func(j int) (int, int) {
		if j < 0 {
			return 0, 0
		}
		if j == 0 {
			return 0, ends[0]
		}
		return ends[j-1], ends[j]
	}
	size := 0
	for _, j := range js {
		from, to := span(j)
		size += to - from
	}
	var b strings.Builder
	b.Grow(size)
	for _, j := range js {
		from, to := span(j)
		b.Write(data[from:to])
	}
	all := b.String()
	at := 0
	for k, j := range js {
		from, to := span(j)
		out.Valid[k] = j >= 0
		out.Strings[k] = all[at : at+to-from]
		at += to - from
	}
	return out
}

// decodeDict reads the dictionary encoding of a string column whose rows
// isValid has values, into col: its Dict, and the Codes of the rows pick
// places (no string per row). It returns what follows the encoding.
func decodeDict(col *Column, b []byte, isValid []bool, valid int, pick *picker, dict []string, room *[]uint32) ([]byte, error) {
	if dict == nil {
		var err error
		if dict, b, err = readDict(b, valid); err != nil {
			return b, err
		}
	}
	col.Dict = dict
	d := uint64(len(dict))
	col.Codes = carve(room, len(col.Valid))
	// With every row valid, the rows picked are met in order, one entry
	// number each: the next one is the only one to look for.
	rows, next := pick.rows, 0
	every := rows != nil && valid == len(isValid)
	for i, ok := range isValid {
		if !ok {
			continue
		}
		code, k := shortUvarint(b) // inline: uvarint is not
		if k == 0 {
			code, k = binary.Uvarint(b)
		}
		if k <= 0 || code >= d {
			return b, corruptf("bad dictionary entry")
		}
		switch {
		case every:
			if next < len(rows) && rows[next] == i {
				col.Codes[next] = uint32(code)
				next++
			}
		default:
			if j := pick.at(i); j >= 0 {
				col.Codes[j] = uint32(code)
			}
		}
		b = b[k:]
	}
	return b, nil
}

// readDict reads a dictionary (see appendDictEntries) of a column with valid
// values and returns what follows it.
func readDict(b []byte, valid int) ([]string, []byte, error) {
	d, k := binary.Uvarint(b)
	if k <= 0 || d > uint64(valid) || d == 0 && valid > 0 {
		return nil, b, corruptf("bad dictionary")
	}
	b = b[k:]
	lens, total := b, 0 // the entries' lengths, read twice: to find their bytes, then to split them
	for range d {
		l, k := uvarint(b)
		if k <= 0 || l > uint64(len(b)) {
			return nil, b, corruptf("bad string length")
		}
		total += int(l)
		b = b[k:]
	}
	if total > len(b) {
		return nil, b, corruptf("short strings")
	}
	all := string(b[:total]) // one allocation for the dictionary
	dict := make([]string, d)
	off := 0
	for i := range dict {
		l, k := uvarint(lens)
		lens = lens[k:]
		dict[i] = all[off : off+int(l)]
		off += int(l)
	}
	return dict, b[total:], nil
}

// carve is n zero elements: the next n of room's capacity, which room's
// length then takes in (a page decoded straight into its chunk's column),
// or a new slice where room is nil.
func carve[T any](room *[]T, n int) []T {
	if room == nil {
		return make([]T, n)
	}
	*room = slices.Grow(*room, n)
	l := len(*room)
	*room = (*room)[:l+n]
	s := (*room)[l : l+n : l+n]
	clear(s) // a region carved once is zero already, but a grown one need not be
	return s
}
