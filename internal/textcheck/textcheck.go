// Package textcheck finds where bytes stop being Unicode text — a byte that
// is not valid UTF-8, or a JSON \u escape of half a UTF-16 surrogate pair —
// so that callers refuse such input instead of letting a decoder replace it
// with U+FFFD, as encoding/json and strings.Builder.WriteRune do silently.
package textcheck

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// InvalidUTF8 is the offset of the first byte of b that is not part of valid
// UTF-8, or -1.
func InvalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// LoneSurrogateEscape is the offset of the first \u escape in the JSON text b
// that encodes half of a UTF-16 surrogate pair without its other half, or -1.
// Backslashes occur only in escape pairs inside JSON strings, so a \u
// preceded by an even number of backslashes is an escape; in text that is
// not JSON the answer means nothing.
func LoneSurrogateEscape(b []byte) int {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u`))
		if j < 0 {
			return -1
		}
		i += j
		if !escapes(b, i) {
			i += 2 // the backslash is itself escaped: "\\u..." is text
			continue
		}
		r, ok := hexRune(b, i+2)
		if !ok || !utf16.IsSurrogate(r) {
			i += 2
			continue
		}
		if r >= 0xDC00 { // a low half with no high half before it
			return i
		}
		low, ok := rune(0), false
		if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			low, ok = hexRune(b, i+8)
		}
		if !ok || low < 0xDC00 || low > 0xDFFF {
			return i
		}
		i += 12
	}
}

// escapes reports whether the backslash at b[i] starts an escape: the
// backslashes right before it pair up among themselves.
func escapes(b []byte, i int) bool {
	n := 0
	for i > 0 && b[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 0
}

// JSON returns the offset of the first place the JSON text b is not Unicode
// text, and what is wrong there; -1 and "" when there is none.
func JSON(b []byte) (int, string) {
	if off := InvalidUTF8(b); off >= 0 {
		return off, "is not valid UTF-8"
	}
	if off := LoneSurrogateEscape(b); off >= 0 {
		return off, `holds a \u escape of half a UTF-16 surrogate pair`
	}
	return -1, ""
}

// hexRune reads four hex digits at b[i:].
func hexRune(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
