// Package jsonscan checks JSON text in one pass, exactly as strictly as
// encoding/json's Valid (the RFC 8259 grammar, nesting at most 10000 deep,
// any bytes in strings but control characters), and says where each value
// ends, so that a reader walking the values pays for one pass instead of a
// validation and then a walk.
//
// Like encoding/json, it does not check that strings are UTF-8: it reports
// which strings hold bytes above 0x7F or escapes (Flags), for a caller that
// refuses what is not text (see textcheck) to look only there.
package jsonscan

import "fmt"

// MaxDepth is how deeply arrays and objects may nest, as encoding/json
// allows.
const MaxDepth = 10000

// Flags say what the strings of a value hold.
type Flags uint8

const (
	// Escaped: a string holds a backslash escape.
	Escaped Flags = 1 << iota
	// NonASCII: a string holds a byte above 0x7F.
	NonASCII
	// Spaced: white space stands between two of the value's tokens, so
	// json.Compact would change it.
	Spaced
	// Surrogate: a string holds a \u escape of half a UTF-16 surrogate
	// pair (paired or not).
	Surrogate
)

// SyntaxError is where JSON text stops being valid, and why.
type SyntaxError struct {
	Offset int // of the byte that is wrong, or len(text) when it ends early
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

func syntaxErr(b []byte, i int, what string) *SyntaxError {
	if i >= len(b) {
		return &SyntaxError{Offset: len(b), Msg: "unexpected end of " + what}
	}
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf("unexpected %q in %s", b[i], what)}
}

// Space returns the offset of the first byte at or after i that is not
// JSON white space.
func Space(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// space is Space, flagging white space it moved past.
func space(b []byte, i int, f Flags) (int, Flags) {
	if j := Space(b, i); j != i {
		return j, f | Spaced
	}
	return i, f
}

// Valid reports whether b is one JSON value with nothing but white space
// around it: json.Valid's answer, in less time.
func Valid(b []byte) bool {
	end, _, err := Value(b, Space(b, 0), 0)
	return err == nil && Space(b, end) == len(b)
}

// Value checks the value starting at b[i] (no white space before it), which
// depth arrays and objects enclose, and returns the offset just after it
// and what its strings hold.
func Value(b []byte, i, depth int) (int, Flags, error) {
	var f Flags
	// open holds, for each array or object the walk is in, whether it is an
	// object; its length is the nesting within this value.
	var open []bool
	var stack [64]bool
	open = stack[:0]
	for {
		// A value at b[i].
		if i >= len(b) {
			return i, f, syntaxErr(b, i, "a value")
		}
		switch c := b[i]; {
		case c == '"':
			end, sf, err := String(b, i)
			if err != nil {
				return end, f, err
			}
			i, f = end, f|sf
		case c == '{' || c == '[':
			if depth+len(open)+1 > MaxDepth {
				return i, f, &SyntaxError{Offset: i, Msg: fmt.Sprintf("nested more than %d deep", MaxDepth)}
			}
			obj := c == '{'
			open = append(open, obj)
			i, f = space(b, i+1, f)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				open = open[:len(open)-1]
				i++
				break
			}
			if obj {
				end, kf, err := key(b, i)
				if err != nil {
					return end, f, err
				}
				i, f = end, f|kf
			}
			continue
		case c == 't':
			if err := literal(b, i, "true"); err != nil {
				return i, f, err
			}
			i += 4
		case c == 'f':
			if err := literal(b, i, "false"); err != nil {
				return i, f, err
			}
			i += 5
		case c == 'n':
			if err := literal(b, i, "null"); err != nil {
				return i, f, err
			}
			i += 4
		case c == '-' || c >= '0' && c <= '9':
			end, _, err := Number(b, i)
			if err != nil {
				return end, f, err
			}
			i = end
		default:
			return i, f, syntaxErr(b, i, "a value")
		}
		// After a value: a comma and the next, or the end of what encloses it.
		for {
			if len(open) == 0 {
				return i, f, nil
			}
			obj := open[len(open)-1]
			i, f = space(b, i, f)
			if i >= len(b) {
				return i, f, syntaxErr(b, i, "an array or object")
			}
			switch c := b[i]; {
			case c == ',':
				i, f = space(b, i+1, f)
				if obj {
					end, kf, err := key(b, i)
					if err != nil {
						return end, f, err
					}
					i, f = end, f|kf
				}
			case obj && c == '}' || !obj && c == ']':
				open = open[:len(open)-1]
				i++
				continue
			default:
				return i, f, syntaxErr(b, i, "an array or object")
			}
			break
		}
	}
}

// key checks an object's key at b[i] and the colon after it, and returns
// the offset of the value that follows.
func key(b []byte, i int) (int, Flags, error) {
	if i >= len(b) || b[i] != '"' {
		return i, 0, syntaxErr(b, i, "an object key")
	}
	end, f, err := String(b, i)
	if err != nil {
		return end, f, err
	}
	i, f = space(b, end, f)
	if i >= len(b) || b[i] != ':' {
		return i, f, syntaxErr(b, i, "an object, after a key")
	}
	i, f = space(b, i+1, f)
	return i, f, nil
}

// literal checks the literal lit at b[i]; a text that ends inside it is
// wrong at its end.
func literal(b []byte, i int, lit string) error {
	for k := range len(lit) {
		if i+k >= len(b) || b[i+k] != lit[k] {
			return syntaxErr(b, i+k, "a literal "+lit)
		}
	}
	return nil
}

// plain marks the bytes that stand for themselves in a JSON string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// String checks the string starting at the quote b[i] and returns the
// offset just after its closing quote and what it holds.
func String(b []byte, i int) (int, Flags, error) {
	var f Flags
	i++
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, f, syntaxErr(b, i, "a string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, f, nil
		case c >= 0x80:
			f |= NonASCII
			i++
		case c == '\\':
			f |= Escaped
			if i+1 >= len(b) {
				return len(b), f, syntaxErr(b, len(b), "a string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) || !isHex(b[k]) {
						return k, f, syntaxErr(b, k, "a \\u escape")
					}
				}
				if b[i+2]|0x20 == 'd' && (b[i+3] >= '8' && b[i+3] <= '9' || b[i+3] > '9') { // D800 to DFFF
					f |= Surrogate
				}
				i += 6
			default:
				return i + 1, f, syntaxErr(b, i+1, "a string escape")
			}
		default: // a control character
			return i, f, syntaxErr(b, i, "a string")
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Number checks the number starting at b[i] and returns the offset just
// after it, and whether it is integral (no fraction, no exponent).
func Number(b []byte, i int) (int, bool, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false, syntaxErr(b, i, "a number")
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false, syntaxErr(b, i, "a number")
	}
	integral := true
	if i < len(b) && b[i] == '.' {
		integral = false
		if i+1 >= len(b) || b[i+1] < '0' || b[i+1] > '9' {
			return i + 1, false, syntaxErr(b, i+1, "a number's fraction")
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integral = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false, syntaxErr(b, i, "a number's exponent")
		}
		i = digits(b, i)
	}
	return i, integral, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
