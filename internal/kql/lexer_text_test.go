package kql

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQueriesThatAreNotTextAreRefusedWhereTheyBreak(t *testing.T) {
	cases := []struct {
		name, q   string
		line, col int
		msg       string
	}{
		{"invalid byte in a string literal", "T\n| where Msg == \"caf\xe9\"", 2, 20, "not valid UTF-8"},
		{"invalid byte in an identifier position", "T | where \xff == 1", 1, 11, "not valid UTF-8"},
		{"truncated sequence at the end", "print 'a\xe2\x82", 1, 9, "not valid UTF-8"},
		{"lone high surrogate escape", `print "x\ud800y"`, 1, 9, "half a UTF-16 surrogate pair"},
		{"lone low surrogate escape", `print '\udc00'`, 1, 8, "half a UTF-16 surrogate pair"},
		{"high surrogate then a letter escape", `print "\ud800\u0041"`, 1, 8, "half a UTF-16 surrogate pair"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lex(tc.q)
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != tc.line || se.Col != tc.col || !strings.Contains(se.Msg, tc.msg) {
				t.Fatalf("got %v; want %d:%d %s", err, tc.line, tc.col, tc.msg)
			}
			if !utf8.ValidString(err.Error()) || strings.Contains(err.Error(), "caf") {
				t.Fatalf("the error repeats the query or is not text: %q", err)
			}
		})
	}
	toks, err := lex(`print "\ud834\udd1e é \u00e9"`)
	if err != nil || toks[1].text != "𝄞 é é" {
		t.Fatalf("escapes of text: %v %+v", err, toks)
	}
}

// FuzzLexKeepsLiteralsAsWritten: a query that lexes has string literals
// that are valid UTF-8 and hold no U+FFFD the query did not spell.
func FuzzLexKeepsLiteralsAsWritten(f *testing.F) {
	for _, q := range []string{`print "a"`, "print \"\xff\"", `print "\ud800"`, `print "\ud834\udd1e"`, `print @'\ud800'`, `print "\ufffd"`} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		toks, err := lex(q)
		if err != nil {
			return
		}
		sent := strings.Contains(strings.ToLower(q), `\ufffd`) || strings.ContainsRune(q, utf8.RuneError)
		for _, tk := range toks {
			if tk.kind != tString {
				continue
			}
			if !utf8.ValidString(tk.text) || !sent && strings.ContainsRune(tk.text, utf8.RuneError) {
				t.Fatalf("%q lexes to the literal %q", q, tk.text)
			}
		}
	})
}
