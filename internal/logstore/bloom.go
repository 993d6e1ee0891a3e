package logstore

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

func bloomBuild(keys map[uint64]struct{}) []byte {
	nbits := max(64, (len(keys)*bloomBitsPerKey+7)/8*8)
	b := make([]byte, 1+nbits/8)
	b[0] = bloomK
	for h := range keys {
		bloomAdd(b, h)
	}
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

// bloomHash is FNV-1a, 64 bits, over a tag byte and s (lower-cased ASCII
// when fold is set), then mixed so that both halves used by double hashing
// are well spread.
func bloomHash(tag byte, s []byte, fold bool) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(tag)) * prime
	for _, c := range s {
		if fold {
			c = lowerASCII(c)
		}
		h = (h ^ uint64(c)) * prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
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
