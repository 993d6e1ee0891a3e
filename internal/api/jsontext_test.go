package api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONTextErrorNamesWhereTheTextIsNotUnicode(t *testing.T) {
	cases := []struct {
		name, body string
		want       string // "" = accepted; else a part of the message
	}{
		{"plain ASCII", `{"a":"b"}`, ""},
		{"multi-byte UTF-8", `{"titre":"café ☕ 𝄞"}`, ""},
		{"surrogate pair escape", `{"a":"\ud834\udd1e"}`, ""},
		{"escaped backslash before u", `{"a":"\\ud800"}`, ""},
		{"invalid byte in a value", "{\"properties\":{\"title\":\"caf\xe9\"}}", "field properties.title"},
		{"invalid byte in an array element", "[{\"a\":1},{\"Message\":\"\xff\"}]", "field [1].Message"},
		{"invalid byte in a field name", "{\"properties\":{\"t\xffitle\":\"x\"}}", "in a field name in properties"},
		{"invalid byte in a top-level field name", "{\"t\xff\":1}", "in a field name"},
		{"truncated sequence", "{\"a\":\"\xe2\x82\"}", "is not valid UTF-8 at byte 6"},
		{"overlong encoding", "{\"a\":\"\xc0\xaf\"}", "is not valid UTF-8"},
		{"encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", "is not valid UTF-8"},
		{"lone high surrogate escape", `{"a":"x\ud800y"}`, "half a UTF-16 surrogate pair at byte 7 (field a)"},
		{"lone low surrogate escape", `{"a":"\udc00"}`, "half a UTF-16 surrogate pair"},
		{"high surrogate then a non-surrogate", `{"a":"\ud800\u0041"}`, "half a UTF-16 surrogate pair"},
		{"high surrogate at the end", `{"a":"\ud800`, "half a UTF-16 surrogate pair"},
		{"invalid byte in malformed JSON", "{\"a\":\"\xff", "is not valid UTF-8 at byte 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := jsonTextError([]byte(tc.body))
			if tc.want == "" && got != "" {
				t.Fatalf("refused: %s", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want it to contain %q", got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("the message is not valid UTF-8: %q", got)
			}
		})
	}
}

func TestDecodeJSONNeverRepairsText(t *testing.T) {
	// encoding/json alone would decode this into "caf\uFFFD".
	var v struct{ Title string }
	r := httptest.NewRequest("POST", "/", strings.NewReader("{\"Title\":\"caf\xe9\"}"))
	err := decodeJSON(r, &v)
	e, ok := err.(*Error)
	if !ok || e.Status != 400 || !strings.Contains(e.Message, "field Title") || v.Title != "" {
		t.Fatalf("got %v, decoded %q", err, v.Title)
	}
	if strings.Contains(e.Message, "caf") {
		t.Fatalf("the message repeats the value: %s", e.Message)
	}
}

// FuzzJSONTextError checks that the field locator never fails on what the
// text check finds: every refusal is a valid UTF-8 message, and invalid
// UTF-8 is always refused.
func FuzzJSONTextError(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `{"a":{"b":["\udc00"]}}`, "{\"\xe2\":1}", "[{\"a\":1},{\"b\":\"\xff\"}]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := jsonTextError(body)
		if !utf8.ValidString(msg) {
			t.Fatalf("message not UTF-8: %q", msg)
		}
		if !utf8.Valid(body) && msg == "" {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
	})
}
