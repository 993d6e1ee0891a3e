package logstore

import mathbits "math/bits"

// A bloom filter over the values and the terms of a string column in one
// block lets a scan skip blocks for == and has without decrypting their
// columns. It is sealed in a chunk of its own next to its column's, not in
// the segment index, so that only == and has predicates read it.
//
// Encoding: k byte | bits (a multiple of 8, little-endian bit order).
const (
	bloomK          = 7
	bloomBitsPerKey = 10
	// bloomMaxKeys caps a filter at about 40 KiB (1% false positives at
	// any size). High-cardinality columns — user names, hosts, IPs — are
	// exactly the ones a hunt looks up a rare value in, so they need one;
	// the filter is a sealed chunk of its own, read only for == and has,
	// and costs a few percent of the compressed column.
	bloomMaxKeys = 32768
)

func bloomBuild(keys *termSet) []byte {
	nbits := max(64, (keys.n*bloomBitsPerKey+7)/8*8)
	b := make([]byte, 1+nbits/8)
	b[0] = bloomK
	keys.each(func(h uint64) { bloomAdd(b, h) })
	return b
}

func bloomAdd(b []byte, h uint64) {
	nbits := uint64(len(b)-1) * 8
	h1, h2 := h, h>>32|h<<32
	for i := uint64(0); i < uint64(b[0]); i++ {
		bit := (h1 + i*h2) % nbits
		b[1+bit/8] |= 1 << (bit % 8)
	}
}

// bloomHas reports whether h may be in the filter; a malformed filter says
// yes, which only costs pruning.
func bloomHas(b []byte, h uint64) bool {
	if len(b) < 2 || b[0] == 0 || b[0] > 32 {
		return true
	}
	nbits := uint64(len(b)-1) * 8
	h1, h2 := h, h>>32|h<<32
	for i := uint64(0); i < uint64(b[0]); i++ {
		bit := (h1 + i*h2) % nbits
		if b[1+bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}

// Keys of a filter: a whole value (for ==) or one lower-cased term (for has).
const (
	bloomValue = 'v'
	bloomTerm  = 't'
)

// FNV-1a, 64 bits: the hash of bloom filter keys.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// bloomHash is FNV-1a, 64 bits, over a tag byte and s (lower-cased ASCII
// when fold is set), then mixed so that both halves used by double hashing
// are well spread.
func bloomHash(tag byte, s []byte, fold bool) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ uint64(tag)) * fnvPrime
	for _, c := range s {
		if fold {
			c = lowerASCII(c)
		}
		h = (h ^ uint64(c)) * fnvPrime
	}
	return bloomMix(h)
}

func bloomMix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// termFold maps a byte of a term (see isTermByte) to itself lower-cased,
// and any other byte to 0.
var termFold = func() (fold [256]byte) {
	for c := range 256 {
		if isTermByte(byte(c)) {
			fold[c] = lowerASCII(byte(c))
		}
	}
	return fold
}()

// forTermKeys calls fn with the key of each term of s, as
// bloomHash(bloomTerm, term, true) gives it: in one pass that splits,
// lower-cases and hashes, as a flush keys every term of every text value.
func forTermKeys(s []byte, fn func(h uint64)) {
	start := uint64(fnvOffset)
	start = (start ^ bloomTerm) * fnvPrime
	h, in := start, false
	for _, c := range s {
		if l := termFold[c]; l != 0 {
			h = (h ^ uint64(l)) * fnvPrime
			in = true
		} else if in {
			fn(bloomMix(h))
			h, in = start, false
		}
	}
	if in {
		fn(bloomMix(h))
	}
}

// forValueTermKeys is forTermKeys, and returns the key of s as a whole
// value, bloomHash(bloomValue, s, false), from the same pass: a flush keys
// both for every value of a string column.
func forValueTermKeys(s []byte, fn func(h uint64)) uint64 {
	start, v := uint64(fnvOffset), uint64(fnvOffset)
	start = (start ^ bloomTerm) * fnvPrime
	v = (v ^ bloomValue) * fnvPrime
	h, in := start, false
	for _, c := range s {
		v = (v ^ uint64(c)) * fnvPrime
		if l := termFold[c]; l != 0 {
			h = (h ^ uint64(l)) * fnvPrime
			in = true
		} else if in {
			fn(bloomMix(h))
			h, in = start, false
		}
	}
	if in {
		fn(bloomMix(h))
	}
	return bloomMix(v)
}

// isTermByte says which bytes make up terms for has: ASCII letters and
// digits, and every byte of a multi-byte UTF-8 sequence, so that words in
// any script stay whole.
func isTermByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// forTerms calls fn for each term of s.
func forTerms(s []byte, fn func(term []byte)) {
	start := -1
	for i, c := range s {
		if isTermByte(c) {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			fn(s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		fn(s[start:])
	}
}

// The any-column filter of a block holds the terms of every value of its
// string and dynamic columns, so that a search over every column (search "x",
// where * has "x") skips a block after one read instead of decrypting all of
// its text. It is sealed in a chunk of its own after the block's columns.
//
// Encoding: flags byte | k byte | bits (a multiple of 64, little-endian bit
// order). Bit i of key h is the high 64 bits of (h1 + i*h2) * bits, h1 and h2
// as in bloomAdd: a multiplication, not a division, per bit, as a flush sets
// some 13 bits a row.
const (
	anyBloomK = 7
	// anyBloomBitsPerKey gives about 1% false positives (see
	// TestAnyFilterFalsePositiveRate); a false positive costs a block's
	// every text column.
	anyBloomBitsPerKey = 10
	// anyBloomMaxKeys caps the filter at about 320 KiB: a block of 8,192
	// rows of security events has up to some 110,000 distinct terms.
	anyBloomMaxKeys = 1 << 18
	// anyLoose marks a block with a dynamic value whose JSON text holds an
	// escape or a byte outside ASCII: the query engine reads such a value
	// decoded and renders it again, so its terms may not be the stored
	// text's, and the filter cannot rule the block out.
	anyLoose = 1
)

// anyTerms collects the term keys of a block's text values for its
// any-column filter. A segment writer keeps one for all its blocks.
type anyTerms struct {
	keys  termSet
	loose bool
	// column is the set of one column's keys for its own filter, kept
	// here so that its slots are reused from column to column.
	column termSet
}

// reset empties t for the next block.
func (t *anyTerms) reset() {
	t.keys.reset()
	t.loose = false
}

// add adds a term's key (see stringBloom, which splits the text).
func (t *anyTerms) add(h uint64) {
	if t.keys.n <= anyBloomMaxKeys {
		t.keys.add(h)
	}
}

// filter is the any-column filter's encoding, or nil when there are too
// many terms.
func (t *anyTerms) filter() []byte {
	if t.keys.n > anyBloomMaxKeys {
		return nil
	}
	nbits := max(64, (t.keys.n*anyBloomBitsPerKey+63)/64*64)
	f := make([]byte, 2+nbits/8)
	if t.loose {
		f[0] |= anyLoose
	}
	f[1] = anyBloomK
	t.keys.each(func(h uint64) {
		anyBloomBits(f[1:], h, func(bits []byte, bit uint64) bool {
			bits[bit/8] |= 1 << (bit % 8)
			return true
		})
	})
	return f
}

// anyBloomHas reports whether h may be in filter f (k byte and bits); a
// malformed filter says yes, which only costs pruning.
func anyBloomHas(f []byte, h uint64) bool {
	if len(f) < 2 || f[0] == 0 || f[0] > 32 {
		return true
	}
	return anyBloomBits(f, h, func(bits []byte, bit uint64) bool { return bits[bit/8]&(1<<(bit%8)) != 0 })
}

// anyBloomBits calls fn with each bit of key h in filter f (k byte and
// bits) while it returns true, and reports whether it always did.
func anyBloomBits(f []byte, h uint64, fn func(bits []byte, bit uint64) bool) bool {
	bits := f[1:]
	nbits := uint64(len(bits)) * 8
	h1, h2 := h, h>>32|h<<32
	for i := uint64(0); i < uint64(f[0]); i++ {
		bit, _ := mathbits.Mul64(h1+i*h2, nbits)
		if !fn(bits, bit) {
			return false
		}
	}
	return true
}

// termSet is a set of term keys, open-addressed: a flush adds every term of
// every text value of a block, and a map costs several times as much. It
// lists the slots it filled, so that each and reset cost what it holds, not
// its capacity: one set serves every column of a flush, and grows to the
// column with the most terms.
type termSet struct {
	slots []uint64 // 0: empty
	used  []uint32 // the filled slots, in the order they were filled
	n     int
	zero  bool // the key 0, which has no slot
}

func (s *termSet) add(h uint64) {
	if h == 0 {
		if !s.zero {
			s.zero = true
			s.n++
		}
		return
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.used = append(s.used, uint32(i))
			s.n++
			return
		case h:
			return
		}
	}
}

func (s *termSet) grow() {
	old, oldUsed := s.slots, s.used
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.used = make([]uint32, 0, cap(oldUsed))
	s.n = 0
	if s.zero {
		s.n = 1
	}
	for _, i := range oldUsed {
		s.add(old[i])
	}
}

func (s *termSet) each(fn func(uint64)) {
	if s.zero {
		fn(0)
	}
	for _, i := range s.used {
		fn(s.slots[i])
	}
}

func (s *termSet) reset() {
	for _, i := range s.used {
		s.slots[i] = 0
	}
	s.used = s.used[:0]
	s.n = 0
	s.zero = false
}

// verbatimJSON reports whether JSON text holds neither an escape nor a byte
// outside ASCII: then the terms made of letters alone that the query engine
// finds in the value it decodes and renders again are the text's own.
func verbatimJSON[S text](b S) bool {
	for i := range len(b) {
		if c := b[i]; c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}
