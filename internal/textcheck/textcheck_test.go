package textcheck

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONFindsTheFirstPlaceThatIsNotText(t *testing.T) {
	cases := []struct {
		name, text string
		off        int
	}{
		{"ASCII", `{"a":"b"}`, -1},
		{"multi-byte UTF-8", `{"a":"café ☕ 𝄞"}`, -1},
		{"surrogate pair escape", `["\ud834\udd1e"]`, -1},
		{"escaped backslash before u", `["\\ud800"]`, -1},
		{"escaped backslash, then a lone escape", `["\\\ud800"]`, 4},
		{"two escaped backslashes before u", `["\\\\ud800"]`, -1},
		{"BMP escape", `["\u00e9\uFFFD"]`, -1},
		{"invalid byte", "[\"caf\xe9\"]", 5},
		{"truncated sequence", "[\"\xe2\x82\"]", 2},
		{"overlong encoding", "[\"\xc0\xaf\"]", 2},
		{"UTF-8 encoded surrogate", "[\"\xed\xa0\x80\"]", 2},
		{"lone high surrogate", `["x\ud800y"]`, 3},
		{"lone low surrogate", `["\udc00"]`, 2},
		{"high then non-surrogate", `["\ud800\u0041"]`, 2},
		{"two highs", `["\ud800\ud800"]`, 2},
		{"high at the end", `["\ud800`, 2},
		{"upper-case hex", `["\uD800"]`, 2},
		{"invalid byte before a lone surrogate", "[\"\xff\\ud800\"]", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			off, what := JSON([]byte(tc.text))
			if off != tc.off || (off >= 0) != (what != "") {
				t.Fatalf("JSON(%q) = %d, %q; want %d", tc.text, off, what, tc.off)
			}
		})
	}
}

// FuzzJSON checks the finding against the standard library: text found
// clean decodes without a substitution the sender did not write, text
// refused decodes with one, and invalid UTF-8 is always found.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `["\\ud800"]`, `["\ud834\udd1e"]`, `["\ufffd"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		off, _ := JSON(b)
		if off >= len(b) {
			t.Fatalf("offset %d past the end", off)
		}
		if !utf8.Valid(b) && off < 0 {
			t.Fatalf("missed invalid UTF-8 in %q", b)
		}
		var v []string
		if json.Unmarshal(b, &v) != nil {
			return
		}
		substituted := false
		for _, s := range v {
			substituted = substituted || strings.ContainsRune(s, utf8.RuneError)
		}
		sent := strings.Contains(strings.ToLower(string(b)), `\ufffd`) || strings.ContainsRune(string(b), utf8.RuneError)
		switch {
		case off < 0 && substituted && !sent:
			t.Fatalf("clean %q decodes with a substitution", b)
		case off >= 0 && !substituted:
			t.Fatalf("refused %q at %d, which decodes without a substitution", b, off)
		}
	})
}
