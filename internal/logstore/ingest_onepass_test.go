package logstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/textcheck"
)

// twoPassRows is how parseRows checked a body before it checked it in one
// pass: encoding/json's Valid over the whole body, then the text of the
// whole body, then the walk. parseRows must refuse exactly the bodies it
// refuses, with the same words.
func twoPassRows(body []byte, lim ingestLimits) error {
	if len(body) > maxPayloadBytes {
		return fmt.Errorf("%w: a body of %d bytes is over %d", ErrInvalidInput, len(body), maxPayloadBytes)
	}
	if !json.Valid(body) {
		return invalidJSON(body)
	}
	bad, badWhat := textcheck.JSON(body)
	s := scanner{b: body, bad: bad, badWhat: badWhat, found: true, declared: lim.declared}
	_, _, err := s.rows(lim)
	return err
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// onePassCases are bodies whose faults the one pass must find where two
// passes found them.
var onePassCases = []struct{ name, body string }{
	{"a good body", `[{"A":1,"S":"x","J":{"k":[1,2.5,true,false,null]}}]`},
	{"white space everywhere", " [ { \"A\" : 1 , \"B\" : [ 1 , 2 ] } , {\"A\":2} ]\n"},
	{"more after the array", `[{"A":1}] x`},
	{"a second array", `[{"A":1}][{"A":2}]`},
	{"a NUL after the array", "[{\"A\":1}]\x00"},
	{"a trailing comma between rows", `[{"A":1},]`},
	{"a trailing comma in a row", `[{"A":1,}]`},
	{"a leading comma", `[,{"A":1}]`},
	{"two commas", `[{"A":1},,{"A":2}]`},
	{"no comma between rows", `[{"A":1} {"A":2}]`},
	{"no comma between fields", `[{"A":1 "B":2}]`},
	{"a key that is not a string", `[{A:1}]`},
	{"no colon", `[{"A" 1}]`},
	{"no value", `[{"A":}]`},
	{"an unclosed row", `[{"A":1]`},
	{"an unclosed array", `[{"A":1}`},
	{"an unclosed string", `[{"A":"x}]`},
	{"a control character in a value", "[{\"A\":\"a\x01b\"}]"},
	{"a control character in a name", "[{\"A\nB\":1}]"},
	{"an unknown escape", `[{"A":"\x41"}]`},
	{"a short \\u escape", `[{"A":"\u41"}]`},
	{"a leading zero", `[{"A":01}]`},
	{"a plus sign", `[{"A":+1}]`},
	{"a point without digits", `[{"A":1.}]`},
	{"an exponent without digits", `[{"A":1e}]`},
	{"NaN", `[{"A":NaN}]`},
	{"a cut literal", `[{"A":tru}]`},
	{"a capital literal", `[{"A":True}]`},
	{"a huge integer", `[{"A":123456789012345678901234567890}]`},
	{"a number out of float range", `[{"A":1e400}]`},
	{"a control character in a nested string", "[{\"J\":{\"k\":[\"\x1f\"]}}]"},
	{"a mismatched bracket in a value", `[{"J":[1}}]`},
	{"10000 deep with the body", `[{"J":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]`},
	{"10001 deep with the body", `[{"J":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}]`},
	{"a row that is a number", `[{"A":1},2]`},
	{"a row that is null", `[null]`},
	{"an empty array", `[]`},
	{"an object body", `{"A":1}`},
	{"a string body", `"x"`},
	{"an empty body", ``},
	{"bad UTF-8 in row 2, a syntax error in row 3", "[{\"A\":1},{\"A\":\"\xff\"},{\"A\":}]"},
	{"a lone surrogate in row 0, bad UTF-8 in row 1", "[{\"A\":\"\\ud800\"},{\"B\":\"\xff\"}]"},
	{"bad UTF-8 after a bad TimeGenerated in the same row", "[{\"TimeGenerated\":\"x\",\"A\":\"\xff\"}]"},
	{"a bad TimeGenerated after bad UTF-8 in the same row", "[{\"A\":\"\xff\",\"TimeGenerated\":\"x\"}]"},
	{"bad UTF-8 in a name and a value", "[{\"\xff\":\"\xfe\"}]"},
	{"a lone surrogate in a nested name", `[{"J":{"\udc00":1}}]`},
	{"a valid pair of escapes", `[{"A":"\ud834\udd1e"}]`},
	{"an escaped backslash before u", `[{"A":"\\ud800"}]`},
	{"escapes that are not surrogates, then a lone one", `[{"A":"\u003c\u00e9\ud7ff"},{"B":"\u003e\udfff"}]`},
	{"a row over the size limit", `[{"A":"` + strings.Repeat("x", 300) + `"}]`},
	{"an empty name", `[{"":1}]`},
	{"a row too big and not JSON further on", `[{"A":"` + strings.Repeat("x", 300) + `"},{]`},
}

func TestParseRowsRefusesWhatTwoPassesRefusedWithTheSameWords(t *testing.T) {
	d, err := newDeclared([]DeclaredColumn{{"A", DeclaredLong}, {"B", DeclaredString}, {"J", DeclaredDynamic}, {"S", DeclaredString}})
	if err != nil {
		t.Fatal(err)
	}
	for _, schema := range []declared{nil, d} {
		lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 200, declared: schema}
		for _, tc := range onePassCases {
			t.Run(fmt.Sprintf("%s/declared=%v", tc.name, schema != nil), func(t *testing.T) {
				_, _, got := parseRows([]byte(tc.body), lim)
				if want := twoPassRows([]byte(tc.body), lim); errText(got) != errText(want) {
					t.Errorf("one pass: %v\ntwo passes: %v", got, want)
				}
			})
		}
	}
}

// TestParseRowsRefusesDepthAsEncodingJSONDoes pins the depth limit itself,
// not only its agreement with two passes.
func TestParseRowsRefusesDepthAsEncodingJSONDoes(t *testing.T) {
	lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20}
	nested := func(n int) []byte { // the body's array, the row, then n more
		return []byte(`[{"J":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}]`)
	}
	if _, _, err := parseRows(nested(9998), lim); err != nil {
		t.Errorf("10000 deep: %v", err)
	}
	_, _, err := parseRows(nested(9999), lim)
	var re *RowError
	// The row is named as encoding/json's Decoder finds it, which counts
	// depth from the element: past the row, at the array's end.
	if !errors.As(err, &re) || re.Reason != "not valid JSON" {
		t.Errorf("10001 deep: %v, want a row that is not valid JSON", err)
	}
}

func FuzzParseRowsRefusesWhatTwoPassesRefused(f *testing.F) {
	for _, tc := range onePassCases {
		if len(tc.body) < 400 {
			f.Add([]byte(tc.body))
		}
	}
	d, err := newDeclared([]DeclaredColumn{{"A", DeclaredLong}, {"B", DeclaredString}, {"J", DeclaredDynamic}, {"S", DeclaredString}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, schema := range []declared{nil, d} {
			lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 200, declared: schema}
			_, _, got := parseRows(body, lim)
			if want := twoPassRows(body, lim); errText(got) != errText(want) {
				t.Fatalf("%q, declared=%v\none pass: %v\ntwo passes: %v", body, schema != nil, got, want)
			}
		}
	})
}

// BenchmarkParseRows sets the one pass beside the two passes it replaced
// (json.Valid and textcheck over the body, then the walk), on 500
// SecurityEvent-like rows, inferred and declared.
//
//	go test -run '^$' -bench ParseRows -count 6 ./internal/logstore
func BenchmarkParseRows(b *testing.B) {
	body := eventsBody(b, 0, 500, testNow)
	d, err := newDeclared(securityEventColumns)
	if err != nil {
		b.Fatal(err)
	}
	for _, schema := range []declared{nil, d} {
		lim := ingestLimits{now: testNow, oldest: testNow.Add(-24 * time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20, declared: schema}
		for _, pass := range []struct {
			name  string
			parse func() error
		}{
			{"twopass", func() error { return twoPassRows(body, lim) }},
			{"onepass", func() error { _, _, err := parseRows(body, lim); return err }},
		} {
			b.Run(fmt.Sprintf("declared=%v/parse=%s", schema != nil, pass.name), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if err := pass.parse(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
