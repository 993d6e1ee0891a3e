package logstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/textcheck"
)

func TestIngestRefusesWhatIsNotTextNamingRowAndColumn(t *testing.T) {
	lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20}
	cases := []struct {
		name, body string
		row        int
		want       string
	}{
		{"invalid byte in a value", "[{\"A\":\"ok\"},{\"Msg\":\"caf\xe9\"}]", 1, `the value of column "Msg" is not valid UTF-8`},
		{"invalid byte in a column name", "[{\"M\xffsg\":\"x\"}]", 0, "a column name is not valid UTF-8"},
		{"invalid byte inside a nested value", "[{\"J\":{\"k\":[\"\xc0\xaf\"]}}]", 0, `the value of column "J" is not valid UTF-8`},
		{"unpaired surrogate escape in a value", `[{"A":1},{"A":2},{"Msg":"x\ud800"}]`, 2, `the value of column "Msg" holds a \u escape of half a UTF-16 surrogate pair`},
		{"unpaired surrogate escape in a column name", `[{"\udc00":1}]`, 0, "a column name holds"},
		{"unpaired surrogate escape nested", `[{"J":{"k":"\udc00"}}]`, 0, `the value of column "J" holds`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseRows([]byte(tc.body), lim)
			var re *RowError
			if !errors.As(err, &re) || re.Index != tc.row || !strings.Contains(re.Reason, tc.want) {
				t.Fatalf("got %v; want row %d: %s", err, tc.row, tc.want)
			}
			if !utf8.ValidString(err.Error()) || strings.Contains(err.Error(), "caf") {
				t.Fatalf("the error repeats the value or is not text: %q", err)
			}
		})
	}
	for _, ok := range []string{`[{"S":"café ☕","E":"\u00e9\ud834\udd1e","B":"\\ud800"}]`, `[{"Ü":"\ufffd"}]`} {
		if _, _, err := parseRows([]byte(ok), lim); err != nil {
			t.Errorf("refused text %s: %v", ok, err)
		}
	}
}

// FuzzParseRowsStoresOnlyWhatWasSent checks that a body accepted stores
// names and strings that are valid UTF-8, with no U+FFFD the body did not
// hold: nothing is repaired on the way in.
func FuzzParseRowsStoresOnlyWhatWasSent(f *testing.F) {
	for _, s := range []string{`[{"A":"x"}]`, "[{\"A\":\"\xff\"}]", `[{"A":"\ud800"}]`, `[{"A":{"b":"\udc00"}}]`, `[{"\u00e9":"\ud834\udd1e"}]`} {
		f.Add([]byte(s))
	}
	lim := ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		payload, refs, err := parseRows(body, lim)
		if err != nil {
			return
		}
		sent := bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) || bytes.ContainsRune(body, utf8.RuneError)
		for _, r := range refs {
			_, _, err := walkRow(payload, int(r.off), func(name []byte, c cell) {
				if !utf8.Valid(name) || !utf8.Valid(c.s) {
					t.Fatalf("stored bytes that are not UTF-8 from %q", body)
				}
				if !sent && (bytes.ContainsRune(name, utf8.RuneError) || bytes.ContainsRune(c.s, utf8.RuneError)) {
					t.Fatalf("stored a U+FFFD that %q did not hold", body)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkIngestTextCheck sets the text check of an ingest body beside the
// parse it is part of, on 500 SecurityEvent-like rows: the ratio of the two
// is what refusing invalid UTF-8 costs parsing.
//
//	go test -run '^$' -bench IngestTextCheck -count 6 ./internal/logstore
func BenchmarkIngestTextCheck(b *testing.B) {
	body := eventsBody(b, 0, 500, testNow)
	lim := ingestLimits{now: testNow, oldest: testNow.Add(-24 * time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20}
	b.Run("step=textcheck", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if off, _ := textcheck.JSON(body); off >= 0 {
				b.Fatal("the body is not text")
			}
		}
	})
	b.Run("step=parseRows", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, _, err := parseRows(body, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
}
