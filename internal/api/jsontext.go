package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sealwatch/sealwatch/internal/textcheck"
)

// jsonTextError reports the first place where a JSON text is not Unicode
// text: a byte that is not valid UTF-8, or a \u escape of half a UTF-16
// surrogate pair. encoding/json would turn either into U+FFFD without a
// word; Sealwatch refuses instead of storing something other than what was
// sent. The message names the byte offset and, when the text parses that
// far, the field; it never repeats the value.
func jsonTextError(body []byte) string {
	off, what := textcheck.JSON(body)
	if off < 0 {
		return ""
	}
	msg := fmt.Sprintf("%s at byte %d", what, off)
	if where := jsonPathAt(body, off); where != "" {
		msg += " (" + where + ")"
	}
	return msg
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
