package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// cases are texts on which Valid must give json.Valid's answer; the
// table names what each one tries.
var cases = []struct{ name, text string }{
	{"an empty text", ``},
	{"white space only", " \t\r\n"},
	{"a string", `"abc"`},
	{"a string with every escape", `"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`},
	{"a lone surrogate escape (valid JSON)", `"\ud800"`},
	{"bytes that are not UTF-8 in a string (valid JSON)", "\"\xff\xfe\""},
	{"a control character in a string", "\"a\x01b\""},
	{"a tab in a string", "\"a\tb\""},
	{"DEL in a string", "\"a\x7fb\""},
	{"an unknown escape", `"\x"`},
	{"a short \\u escape", `"\u12"`},
	{"a \\u escape that is not hex", `"\u12g4"`},
	{"an unclosed string", `"abc`},
	{"a string ending in a backslash", `"abc\`},
	{"integers", `[0, -0, 1, -12, 1234567890123456789012345]`},
	{"reals", `[0.5, -1.25, 1e10, 1E+3, 2e-3, -0.0e0]`},
	{"a leading zero", `01`},
	{"a plus sign", `+1`},
	{"a minus alone", `-`},
	{"a point without digits", `1.`},
	{"a point before digits", `.5`},
	{"an exponent without digits", `1e`},
	{"an exponent sign without digits", `1e+`},
	{"hex", `0x10`},
	{"infinity", `Infinity`},
	{"NaN", `NaN`},
	{"true false null", `[true,false,null]`},
	{"a cut literal", `tru`},
	{"a wrong literal", `nul1`},
	{"a capital literal", `True`},
	{"an empty object", `{}`},
	{"an empty array", `[ ]`},
	{"nested", `{"a":[1,{"b":{"c":[]}}],"d":"e"}`},
	{"a trailing comma in an array", `[1,]`},
	{"a trailing comma in an object", `{"a":1,}`},
	{"a leading comma", `[,1]`},
	{"two commas", `[1,,2]`},
	{"a key that is not a string", `{a:1}`},
	{"a number key", `{1:1}`},
	{"no colon", `{"a" 1}`},
	{"no value", `{"a":}`},
	{"a mismatched close", `[1}`},
	{"an object closed as an array", `{"a":1]`},
	{"an unclosed array", `[1,2`},
	{"an unclosed object", `{"a":1`},
	{"more after the value", `[1] 2`},
	{"two values", `{} {}`},
	{"space around", " \n[1]\t "},
	{"a form feed as space", "\f[1]"},
	{"a non-breaking space", "\u00a0[1]"},
	{"a byte-order mark", "\xef\xbb\xbf[1]"},
	{"a NUL after", "[1]\x00"},
	{"10000 deep", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
	{"10001 deep", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
	{"10001 deep objects", strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001)},
	{"10000 deep objects", strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)},
}

func TestValidAnswersAsEncodingJSON(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := Valid([]byte(tc.text)), json.Valid([]byte(tc.text)); got != want {
				t.Errorf("Valid(%.40q) = %v, encoding/json says %v", tc.text, got, want)
			}
		})
	}
}

func TestValueEndsAfterTheValueAndFlagsItsStrings(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		end        int
		flags      Flags
	}{
		{"a number before a comma", `12,3`, 2, 0},
		{"an object before more", `{"a":"b"} x`, 9, 0},
		{"an escape in a key", `{"\n":1}`, 8, Escaped},
		{"a byte above 0x7F in a nested value", "[[\"\xc3\xa9\"]]", 8, NonASCII},
		{"both", "{\"\xc3\xa9\":\"\\t\"}", 11, Escaped | NonASCII},
		{"white space between tokens", "{ \"a\" : [1 ,2] }", 16, Spaced},
		{"white space only in a string", `{"a b":"c d"}`, 13, 0},
		{"a surrogate pair", `"\ud83d\uDE00"`, 14, Escaped | Surrogate},
		{"a lone surrogate", `"\uDBFF"`, 8, Escaped | Surrogate},
		{"escapes next to the surrogates", `"\ud7ff\ue000\u00d8\u003c"`, 26, Escaped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, f, err := Value([]byte(tc.text), 0, 0)
			if err != nil || end != tc.end || f != tc.flags {
				t.Errorf("Value(%q) = %d, %b, %v; want %d, %b", tc.text, end, f, err, tc.end, tc.flags)
			}
		})
	}
}

func TestDepthCountsWhatEnclosesTheValue(t *testing.T) {
	v := []byte(strings.Repeat("[", 10) + strings.Repeat("]", 10))
	if _, _, err := Value(v, 0, MaxDepth-10); err != nil {
		t.Errorf("10 deep inside %d: %v", MaxDepth-10, err)
	}
	if _, _, err := Value(v, 0, MaxDepth-9); err == nil {
		t.Errorf("10 deep inside %d is accepted", MaxDepth-9)
	}
}

// TestATextCutShortIsWrongAtItsEnd: a reader that has read part of a value
// tells "read more" from "invalid" by the error's offset, so every prefix of
// a valid value must fail at its end (or, for a number, end there).
func TestATextCutShortIsWrongAtItsEnd(t *testing.T) {
	text := `{"a":[true,false,null,-1.5e+10,0,"x\u00e9\n\"y"],"b":{"c":{}},"d":[]}`
	for n := range len(text) {
		prefix := []byte(text[:n])
		end, _, err := Value(prefix, 0, 0)
		var se *SyntaxError
		switch {
		case err == nil && end != n:
			t.Errorf("Value(%q) ends at %d, before the text", prefix, end)
		case err != nil && (!errors.As(err, &se) || se.Offset != n):
			t.Errorf("Value(%q) = %v, want an error at byte %d", prefix, err, n)
		}
	}
}

func FuzzValidAnswersAsEncodingJSON(f *testing.F) {
	for _, tc := range cases {
		if len(tc.text) < 100 {
			f.Add([]byte(tc.text))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}
