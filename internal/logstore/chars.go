package logstore

// This file is the set of characters a string column holds, which the
// index of a segment (version 5 on, segCharsVersion) keeps for a column of
// a block whose values have too many terms for a bloom filter (a GUID, a
// hash): a has, contains or == whose constant holds a character the column
// lacks cannot match it, whatever the row (a GUID's hex digits hold no "u").
// It is in the sealed index, like the statistics beside it.

// charsKnown marks a set of characters as computed: a column whose values
// are all empty holds none, which 0, unknown, would not say.
const charsKnown = 1 << 63

// charsAll is the largest set a valid index holds: every class and known.
const charsAll = charsKnown | 1<<charClasses - 1

// charClasses is the number of classes of bytes a set tells apart: each
// ASCII letter, either case (26), each digit (10), and every other byte
// (1), since constants are matched ignoring ASCII case alone.
const charClasses = 37

// charBits is each byte's class, as a bit.
var charBits = func() (t [256]uint64) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z':
			t[c] = 1 << (c - 'a')
		case c >= 'A' && c <= 'Z':
			t[c] = 1 << (c - 'A')
		case c >= '0' && c <= '9':
			t[c] = 1 << (26 + c - '0')
		default:
			t[c] = 1 << 36
		}
	}
	return t
}()

// textChars is the set of characters of value(0) to value(n-1).
func textChars(n int, value func(i int) []byte) uint64 {
	var set uint64 = charsKnown
	for i := range n {
		for _, c := range value(i) {
			set |= charBits[c]
		}
	}
	return set
}

// charsOf is the text whose characters a value must hold for p, a
// predicate with a string constant, to match it: the constant of ==, has
// and contains (case aside), none for the others.
func charsOf(p *pred) []byte {
	switch p.op {
	case OpEq:
		return p.sb
	case OpHas, OpContains:
		return p.lower
	}
	return nil
}

// charsHold reports whether a column whose characters are set (0: unknown)
// may hold constant s: whether it holds every character of s.
func charsHold(set uint64, s []byte) bool {
	if set == 0 {
		return true
	}
	for _, c := range s {
		if set&charBits[c] == 0 {
			return false
		}
	}
	return true
}
