package jsonbody

import (
	"testing"
	"time"
)

func TestMessageSaysWhatIsWrongInJSONsTerms(t *testing.T) {
	type body struct {
		Name    string    `json:"name"`
		Enabled *bool     `json:"enabled"`
		Order   int       `json:"order"`
		Score   float64   `json:"score"`
		Tags    []string  `json:"tags"`
		Inner   struct{}  `json:"inner"`
		At      time.Time `json:"at"`
	}
	for in, want := range map[string]string{
		`{"name": 1}`:             "name must be a JSON string, not number",
		`{"enabled": "yes"}`:      "enabled must be a JSON boolean, not string",
		`{"order": 1.5}`:          "order must be a JSON integer, not number 1.5",
		`{"score": "high"}`:       "score must be a JSON number, not string",
		`{"tags": "a"}`:           "tags must be a JSON array, not string",
		`{"inner": []}`:           "inner must be a JSON object, not array",
		`[]`:                      "it must be a JSON object, not array",
		`{"nmae": "x"}`:           `unknown field "nmae"; see the docs`,
		`{"at": "yesterday"}`:     "a time is not in RFC 3339 form, such as 2026-12-31T23:59:59Z",
		`{"name": "x"} {}`:        "more than one JSON value",
		`{"name": "x"}  `:         "",
		`{"name": "x", "name":1}`: "name must be a JSON string, not number",
	} {
		var b body
		err := DecodeStrict([]byte(in), &b)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s was accepted", in)
			continue
		}
		if got := Message(err, "see the docs"); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
