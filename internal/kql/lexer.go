package kql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/textcheck"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tLong
	tReal
	tTimespan
	tOp    // punctuation and symbolic operators
	tTyped // datetime(...), dynamic(...), timespan(...), guid(...): text is the name, raw the contents
)

type token struct {
	kind      tokKind
	text      string // identifier name, operator text, or decoded string
	long      int64
	real      float64
	span      time.Duration
	raw       string
	pos       int // byte offset of the first character
	end       int // byte offset after the last character
	line, col int
}

// The limits below keep parsing linear and bounded for untrusted input (the parser fuzz target
// relies on them): a query longer than MaxQueryBytes or nested deeper than maxDepth is refused.
const (
	MaxQueryBytes = 1 << 20
	maxDepth      = 200
)

type lexer struct {
	src       string
	pos       int
	line, col int
	toks      []token
}

func lex(src string) ([]token, error) {
	if len(src) > MaxQueryBytes {
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: "query is longer than " + strconv.Itoa(MaxQueryBytes) + " bytes"}
	}
	l := &lexer{src: src, line: 1, col: 1}
	if off := textcheck.InvalidUTF8([]byte(src)); off >= 0 {
		// A query is text: a byte that is not UTF-8 is refused where it is,
		// not read as U+FFFD inside a literal.
		l.advance(off)
		return nil, l.errf(l.line, l.col, fmt.Sprintf("the query is not valid UTF-8 here (byte %d); send it as UTF-8 text", off))
	}
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		l.toks = append(l.toks, t)
		if t.kind == tEOF {
			return l.toks, nil
		}
	}
}

func (l *lexer) errf(line, col int, msg string) error {
	return &SyntaxError{Line: line, Col: col, Msg: msg}
}

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.pos < len(l.src); i++ {
		if l.src[l.pos] == '\n' {
			l.line++
			l.col = 1
		} else if l.src[l.pos] < 0x80 || l.src[l.pos] >= 0xC0 {
			l.col++ // count characters, not continuation bytes
		}
		l.pos++
	}
}

func (l *lexer) peekc(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '/' && l.peekc(1) == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.advance(1)
			}
		default:
			return
		}
	}
}

// timespan literal suffixes, longest first within each family so "ms" wins over "m".
var spanUnits = map[string]time.Duration{
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"tick": 100, "ticks": 100,
}

func (l *lexer) next() (token, error) {
	l.skipSpace()
	t := token{pos: l.pos, line: l.line, col: l.col}
	if l.pos >= len(l.src) {
		t.kind, t.end = tEOF, l.pos
		return t, nil
	}
	c := l.src[l.pos]
	switch {
	case (c == '@' || c == 'h' || c == 'H') && (l.peekc(1) == '\'' || l.peekc(1) == '"'):
		// @'verbatim' and h'hidden' strings; h'..' obfuscates in logs only, same value.
		verbatim := c == '@'
		l.advance(1)
		s, err := l.str(verbatim)
		if err != nil {
			return t, err
		}
		t.kind, t.text = tString, s
	case (c == 'h' || c == 'H') && l.peekc(1) == '@' && (l.peekc(2) == '\'' || l.peekc(2) == '"'):
		l.advance(2)
		s, err := l.str(true)
		if err != nil {
			return t, err
		}
		t.kind, t.text = tString, s
	case c == '\'' || c == '"':
		s, err := l.str(false)
		if err != nil {
			return t, err
		}
		t.kind, t.text = tString, s
	case c == '`' && strings.HasPrefix(l.src[l.pos:], "```"):
		end := strings.Index(l.src[l.pos+3:], "```")
		if end < 0 {
			return t, l.errf(t.line, t.col, "unterminated ``` string: expected closing ```")
		}
		t.kind, t.text = tString, l.src[l.pos+3:l.pos+3+end]
		l.advance(end + 6)
	case isDigit(c) || (c == '.' && isDigit(l.peekc(1))):
		if err := l.number(&t); err != nil {
			return t, err
		}
	case isIdentStart(c):
		start := l.pos
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.advance(1)
		}
		t.kind, t.text = tIdent, l.src[start:l.pos]
		if isRawLiteral(t.text) {
			if raw, ok := l.rawParens(); ok {
				t.kind, t.raw = tTyped, raw
				t.text = strings.ToLower(t.text)
			}
		}
		if (t.text == "in") && l.peekc(0) == '~' {
			l.advance(1)
			t.text = "in~"
		}
	case c == '!' && isIdentStart(l.peekc(1)):
		// !has, !contains, !in, !in~, !between … are one operator token each.
		l.advance(1)
		start := l.pos
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.advance(1)
		}
		t.kind, t.text = tIdent, "!"+l.src[start:l.pos]
		if t.text == "!in" && l.peekc(0) == '~' {
			l.advance(1)
			t.text = "!in~"
		}
	default:
		for _, op := range []string{"==", "!=", "<>", "<=", ">=", "=~", "!~", "=>", "..", "|", "(", ")", "[", "]", "{", "}", ",", ";", ":", "=", "<", ">", "+", "-", "*", "/", "%", ".", "~", "!", "?"} {
			if strings.HasPrefix(l.src[l.pos:], op) {
				t.kind, t.text = tOp, op
				l.advance(len(op))
				t.end = l.pos
				return t, nil
			}
		}
		r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
		return t, l.errf(t.line, t.col, "unexpected character "+strconv.QuoteRune(r))
	}
	t.end = l.pos
	return t, nil
}

func (l *lexer) str(verbatim bool) (string, error) {
	line, col := l.line, l.col
	q := l.src[l.pos]
	l.advance(1)
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return "", l.errf(line, col, "unterminated string literal: expected closing "+string(q))
		}
		c := l.src[l.pos]
		if c == '\n' && !verbatim {
			return "", l.errf(line, col, "unterminated string literal: expected closing "+string(q)+" before end of line")
		}
		if c == q {
			if verbatim && l.peekc(1) == q { // '' inside a verbatim string is one quote
				b.WriteByte(q)
				l.advance(2)
				continue
			}
			l.advance(1)
			return b.String(), nil
		}
		if c == '\\' && !verbatim {
			e := l.peekc(1)
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			case '0':
				b.WriteByte(0)
			case 'u':
				r, n, err := l.unicodeEscape()
				if err != nil {
					return "", err
				}
				b.WriteRune(r)
				l.advance(n)
				continue
			default:
				return "", l.errf(l.line, l.col, "unknown escape sequence \\"+string(e))
			}
			l.advance(2)
			continue
		}
		b.WriteByte(c)
		l.advance(1)
	}
}

// unicodeEscape reads the \uXXXX escape at l.pos, or a pair of them that
// encodes a character beyond U+FFFF, and returns the character and the
// length of the escapes. Half a surrogate pair is refused: written out it
// would become U+FFFD, which is not what the query says.
func (l *lexer) unicodeEscape() (rune, int, error) {
	hex4 := func(at int) (rune, bool) {
		if at+4 > len(l.src) {
			return 0, false
		}
		n, err := strconv.ParseUint(l.src[at:at+4], 16, 32)
		return rune(n), err == nil
	}
	r, ok := hex4(l.pos + 2)
	if !ok {
		return 0, 0, l.errf(l.line, l.col, `bad \u escape: expected four hex digits`)
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if strings.HasPrefix(l.src[l.pos+6:], `\u`) {
		if low, ok := hex4(l.pos + 8); ok {
			if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
				return pair, 12, nil
			}
		}
	}
	return 0, 0, l.errf(l.line, l.col, `bad \u escape: half a UTF-16 surrogate pair; write the character itself, or both halves`)
}

func (l *lexer) number(t *token) error {
	start := l.pos
	if l.peekc(0) == '0' && (l.peekc(1) == 'x' || l.peekc(1) == 'X') {
		l.advance(2)
		for l.pos < len(l.src) && strings.IndexByte("0123456789abcdefABCDEF", l.src[l.pos]) >= 0 {
			l.advance(1)
		}
		v, err := strconv.ParseInt(l.src[start+2:l.pos], 16, 64)
		if err != nil {
			return l.errf(t.line, t.col, "bad hexadecimal literal")
		}
		t.kind, t.long = tLong, v
		return nil
	}
	isReal := false
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.advance(1)
	}
	if l.peekc(0) == '.' && l.peekc(1) != '.' {
		isReal = true
		l.advance(1)
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.advance(1)
		}
	}
	if (l.peekc(0) == 'e' || l.peekc(0) == 'E') && (isDigit(l.peekc(1)) || ((l.peekc(1) == '-' || l.peekc(1) == '+') && isDigit(l.peekc(2)))) {
		isReal = true
		l.advance(2)
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.advance(1)
		}
	}
	num := l.src[start:l.pos]
	if isIdentStart(l.peekc(0)) {
		us := l.pos
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.advance(1)
		}
		unit, ok := spanUnits[strings.ToLower(l.src[us:l.pos])]
		if !ok {
			return l.errf(t.line, t.col, "bad number "+strconv.Quote(l.src[start:l.pos])+": expected a timespan unit (d, h, m, s, ms, microsecond, tick)")
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return l.errf(t.line, t.col, "bad number "+strconv.Quote(num))
		}
		t.kind, t.span = tTimespan, time.Duration(f*float64(unit))
		return nil
	}
	if isReal {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return l.errf(t.line, t.col, "bad real literal "+strconv.Quote(num))
		}
		t.kind, t.real = tReal, f
		return nil
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(num, 64)
		if ferr != nil {
			return l.errf(t.line, t.col, "bad number "+strconv.Quote(num))
		}
		t.kind, t.real = tReal, f
		return nil
	}
	t.kind, t.long = tLong, v
	return nil
}

// isRawLiteral names the literal forms whose parenthesised contents are not KQL tokens
// (datetime(2024-01-01T10:00Z) would not lex), so the lexer captures them raw.
func isRawLiteral(s string) bool {
	switch s {
	case "datetime", "date", "dynamic", "timespan", "time", "guid", "int", "long", "real", "double", "bool", "boolean", "decimal":
		return true
	}
	return false
}

// rawParens captures the text between a '(' that follows (after optional spaces) and its
// matching ')', honouring quotes; it reports false, consuming nothing, when no '(' follows.
func (l *lexer) rawParens() (string, bool) {
	i := l.pos
	for i < len(l.src) && (l.src[i] == ' ' || l.src[i] == '\t') {
		i++
	}
	if i >= len(l.src) || l.src[i] != '(' {
		return "", false
	}
	depth := 0
	var quote byte
	verbatim := false // in an @"..." string, \ escapes nothing and a doubled quote is one
	for j := i; j < len(l.src); j++ {
		c := l.src[j]
		switch {
		case quote != 0:
			if c == '\\' && !verbatim {
				j++
			} else if c == quote && verbatim && j+1 < len(l.src) && l.src[j+1] == quote {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			verbatim = j > 0 && l.src[j-1] == '@'
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
			if depth == 0 {
				if c != ')' {
					return "", false
				}
				raw := l.src[i+1 : j]
				l.advance(j + 1 - l.pos)
				return raw, true
			}
		}
	}
	return "", false
}
