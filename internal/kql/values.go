package kql

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// valuesEqual is == on run-time values: numbers compare across int/real, dynamic values by
// content, null equals nothing.
func valuesEqual(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case time.Duration:
		y, ok := b.(time.Duration)
		return ok && x == y
	case []any, map[string]any:
		switch b.(type) {
		case []any, map[string]any:
			return dynamicJSON(a) == dynamicJSON(b)
		}
	}
	return false
}

// compareValues orders two values of comparable kinds; ok is false for null or mixed kinds.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), true
		case float64:
			return cmpFloat(float64(x), y), true
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmpFloat(x, float64(y)), true
		case float64:
			return cmpFloat(x, y), true
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return cmp3(x, y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			bx, by := 0, 0
			if x {
				bx = 1
			}
			if y {
				by = 1
			}
			return cmp3(bx, by), true
		}
	}
	return 0, false
}

func cmp3[T int | int64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	case math.IsNaN(a) && !math.IsNaN(b):
		return -1
	case !math.IsNaN(a) && math.IsNaN(b):
		return 1
	}
	return 0
}

// sortCompare orders values for sort/top: nulls are handled by the caller; values of
// different kinds order by kind so that sorting a dynamic column is total.
func sortCompare(a, b any) int {
	if c, ok := compareValues(a, b); ok {
		return c
	}
	return strings.Compare(toString(a), toString(b))
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// byteRank orders ASCII bytes from rare to common in log text, so indexFold anchors its search
// on the needle's rarest byte and lets the vectorised strings.IndexByte skip most of the text.
var byteRank = func() [256]uint8 {
	var r [256]uint8
	for i := range r {
		r[i] = 100 // digits, punctuation, upper bytes: fairly rare
	}
	common := " etaoinsrhldcumfpgwybvkxjqz" // most common first
	for i := 0; i < len(common); i++ {
		r[common[i]] = uint8(200 - i)
		if c := common[i]; c >= 'a' && c <= 'z' {
			r[c-32] = uint8(200 - i)
		}
	}
	return r
}()

// indexFold is a case-insensitive strings.Index; an ASCII needle is matched without
// allocating, which matters for contains/has over millions of messages.
func indexFold(h, n string) int {
	if n == "" {
		return 0
	}
	if !isASCII(n) {
		return strings.Index(strings.ToLower(h), strings.ToLower(n))
	}
	ri := 0
	for i := 1; i < len(n); i++ {
		if byteRank[n[i]] < byteRank[n[ri]] {
			ri = i
		}
	}
	lc := lowerASCII(n[ri])
	uc := lc
	if lc >= 'a' && lc <= 'z' {
		uc = lc - 32
	}
	nextL, nextU := -2, -2 // -2: not searched yet; -1: none left
	i := ri
	for i < len(h) {
		if nextL != -1 && nextL < i {
			if j := strings.IndexByte(h[i:], lc); j >= 0 {
				nextL = i + j
			} else {
				nextL = -1
			}
		}
		if uc != lc && nextU != -1 && nextU < i {
			if j := strings.IndexByte(h[i:], uc); j >= 0 {
				nextU = i + j
			} else {
				nextU = -1
			}
		}
		pos := nextL
		if uc != lc && nextU >= 0 && (pos < 0 || nextU < pos) {
			pos = nextU
		}
		if pos < 0 {
			return -1
		}
		start := pos - ri
		if start+len(n) > len(h) {
			return -1
		}
		if equalFoldASCII(h[start:start+len(n)], n) {
			return start
		}
		i = pos + 1
	}
	return -1
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// isTermChar: KQL indexes terms as maximal runs of ASCII letters and digits; everything else
// separates terms.
func isTermChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= utf8.RuneSelf
}

// hasTerm implements has: the needle must occur starting and ending at term boundaries (a
// needle with separators in it, like an IP address, matches as a phrase of terms).
func hasTerm(h, n string, cs bool) bool { return termMatch(h, n, cs, true, true) }

// hasPrefixTerm / hasSuffixTerm: some term of h starts (ends) with n.
func hasPrefixTerm(h, n string, cs bool) bool { return termMatch(h, n, cs, true, false) }
func hasSuffixTerm(h, n string, cs bool) bool { return termMatch(h, n, cs, false, true) }

// termMatch reports whether n occurs in h starting at a term boundary (atStart) and ending
// at one (atEnd). A boundary is only needed where n itself begins (ends) with a term
// character.
func termMatch(h, n string, cs, atStart, atEnd bool) bool {
	if n == "" {
		return true
	}
	if !cs && !isASCII(n) {
		// Lower-casing may change the length of text outside ASCII (and turns a byte
		// that is not UTF-8 into three): offsets are those of the lowered text.
		h, n, cs = strings.ToLower(h), strings.ToLower(n), true
	}
	off := 0
	for off <= len(h)-len(n) {
		i := indexCase(h[off:], n, cs)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(n)
		okStart := !atStart || !isTermChar(n[0]) || i == 0 || !isTermChar(h[i-1])
		okEnd := !atEnd || !isTermChar(n[len(n)-1]) || end == len(h) || !isTermChar(h[end])
		if okStart && okEnd {
			return true
		}
		off = i + 1
	}
	return false
}

func indexCase(h, n string, cs bool) int {
	if cs {
		return strings.Index(h, n)
	}
	return indexFold(h, n)
}

// keyAppend encodes a value for hashing group and join keys: equal values (under ==) encode
// equally, and distinct kinds never collide.
func keyAppend(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case string:
		b = append(b, 1)
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...)
	case int64:
		b = append(b, 2)
		return strconv.AppendInt(b, x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e18 {
			b = append(b, 2) // 1.0 groups with 1
			return strconv.AppendInt(b, int64(x), 10)
		}
		b = append(b, 3)
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		if x {
			return append(b, 4, 1)
		}
		return append(b, 4, 0)
	case time.Time:
		b = append(b, 5)
		return strconv.AppendInt(b, x.UnixNano(), 10)
	case time.Duration:
		b = append(b, 6)
		return strconv.AppendInt(b, int64(x), 10)
	default:
		b = append(b, 7)
		return append(b, dynamicJSON(v)...)
	}
}

// scalarKey returns v itself when it can be a map key with == semantics, else an encoding.
func scalarKey(v any) any {
	switch x := v.(type) {
	case nil, string, int64, bool, time.Duration:
		return v
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e18 {
			return int64(x)
		}
		return v
	case time.Time:
		return x.UnixNano()<<3 | 5 // distinct from plain int64 keys only statistically; typed columns never mix
	}
	return string(keyAppend(nil, v))
}
