package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// jsonTextError reports the first place where a JSON text is not Unicode
// text: a byte that is not valid UTF-8, or a \u escape of half a UTF-16
// surrogate pair. encoding/json would turn either into U+FFFD without a
// word; Sealwatch refuses instead of storing something other than what was
// sent. The message names the byte offset and, when the text parses that
// far, the field; it never repeats the value.
func jsonTextError(body []byte) string {
	off, what := invalidUTF8At(body), "is not valid UTF-8"
	if off < 0 {
		off, what = loneSurrogateAt(body), "holds a \\u escape of half a UTF-16 surrogate pair"
	}
	if off < 0 {
		return ""
	}
	msg := fmt.Sprintf("%s at byte %d", what, off)
	if where := jsonPathAt(body, off); where != "" {
		msg += " (" + where + ")"
	}
	return msg
}

// loneSurrogateAt is the offset of the first \u escape in body that encodes
// an unpaired UTF-16 surrogate, or -1. Backslashes occur only inside strings
// in JSON, so a linear walk over escape pairs finds every escape.
func loneSurrogateAt(body []byte) int {
	if !bytes.Contains(body, []byte(`\u`)) {
		return -1
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		if body[i+1] != 'u' {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		r, ok := hexRune(body, i+2)
		if !ok || !utf16.IsSurrogate(r) {
			i += 5
			continue
		}
		if r >= 0xDC00 { // a low half with no high half before it
			return i
		}
		low, ok := rune(0), false
		if i+11 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
			low, ok = hexRune(body, i+8)
		}
		if !ok || low < 0xDC00 || low > 0xDFFF {
			return i
		}
		i += 11
	}
	return -1
}

// hexRune reads four hex digits at b[i:].
func hexRune(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// jsonPathAt names the field of body that holds byte off, such as
// "field properties.title" or "a field name in [3]", or "" when the text
// does not parse that far.
func jsonPathAt(body []byte, off int) string {
	type frame struct {
		array   bool
		index   int
		key     string
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
			} else {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(echo(f.key, 64))
			}
		}
		return b.String()
	}
	// valueDone moves the enclosing container past the value just read.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		isKey := len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].wantKey
		if int64(off) >= start && int64(off) < dec.InputOffset() {
			switch {
			case isKey && len(stack) == 1:
				return "in a field name"
			case isKey:
				stack = stack[:len(stack)-1]
				return "in a field name in " + path()
			case len(stack) == 0:
				return ""
			}
			return "field " + path()
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{wantKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if isKey {
				stack[len(stack)-1].key, stack[len(stack)-1].wantKey = t, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}
