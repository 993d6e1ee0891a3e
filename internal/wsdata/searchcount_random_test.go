package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// searchAlphabet is what the random rows and terms are drawn from: letters
// of either case, digits, separators, and letters outside ASCII whose case
// folds into ASCII (K KELVIN SIGN to k, ſ LONG S to s, İ to i and a dot),
// which the engine folds only for a term outside ASCII, never pushed down.
var searchAlphabet = []string{"a", "b", "k", "s", "u", "A", "B", "K", "S", "U", "0", "1", "9",
	" ", "-", ".", "_", ":", "/", "é", "\u212a", "\u017f", "\u0130"}

// randomSearchStore ingests rows of random text into table T of a store
// whose blocks hold blockRows rows: batches flushed into segments of their
// own, among them one of rows past retention that a purge removes, and a
// last batch left in the WAL. Column M holds strings in some batches and
// longs in others, so segments differ in schema; a GUID column holds too
// many terms for a bloom filter when blocks are large. It returns the
// store and the values drawn, for terms found in them.
func randomSearchStore(t *testing.T, r *mrand.Rand, blockRows, rowsPerBatch int) (*logstore.Store, []string) {
	t.Helper()
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), BlockRows: blockRows,
		Retention: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	draw := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(searchAlphabet[r.IntN(len(searchAlphabet))])
		}
		return b.String()
	}
	var values []string
	str := func(n int) string {
		s := draw(r.IntN(n + 1))
		values = append(values, s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	now := time.Now().UTC()
	batch := func(at time.Time, mLong bool) []byte {
		var b strings.Builder
		b.WriteByte('[')
		for i := range rowsPerBatch {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"TimeGenerated":%q`, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
			if r.IntN(5) > 0 {
				fmt.Fprintf(&b, `,"S":%s`, str(12))
			}
			if r.IntN(3) == 0 {
				fmt.Fprintf(&b, `,"T":%s`, str(4))
			}
			if mLong {
				fmt.Fprintf(&b, `,"M":%d`, r.IntN(3))
			} else if r.IntN(2) == 0 {
				fmt.Fprintf(&b, `,"M":%s`, str(6))
			}
			fmt.Fprintf(&b, `,"G":"%08x-%04x-%04x-%04x-%012x-%s"`, r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff,
				r.Uint32()&0xffff, r.Uint64()&0xffffffffffff, []string{"ab", "k", "K", "U", "\u212a", "9"}[r.IntN(6)])
			b.WriteByte('}')
		}
		b.WriteByte(']')
		return []byte(b.String())
	}
	ingest := func(body []byte) {
		if _, err := st.Ingest(context.Background(), "ws", "T", body); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ingest(batch(now.Add(-6*24*time.Hour), false)) // purged below
	flush()
	ingest(batch(now.Add(-3*time.Hour), false))
	flush()
	ingest(batch(now.Add(-2*time.Hour), true))
	flush()
	ingest(batch(now.Add(-time.Hour), r.IntN(2) == 0)) // in the WAL
	if n, err := st.PurgeExpired(context.Background(), now.Add(2*24*time.Hour)); err != nil || n == 0 {
		t.Fatalf("purged %d segments: %v", n, err)
	}
	return st, values
}

// TestSearchCountsOfRandomTermsEqualTheEngines draws rows of random text
// and terms — pieces of the values, either case, random ones, ones longer
// than any value, separators alone, text outside ASCII — and counts each
// by search and by where * has twice: by the store, and by the engine
// alone with nothing pushed down. The rows are in blocks of 3 rows (many
// schemas across segments, a purged segment, rows in the WAL) and of
// 8,192 (a GUID column without a bloom filter, whose characters decide).
func TestSearchCountsOfRandomTermsEqualTheEngines(t *testing.T) {
	for _, c := range []struct {
		name             string
		blockRows, batch int
		terms            int
	}{
		{"small blocks", 3, 40, 150},
		{"a block without a bloom filter", 8192, 8200, 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mrand.New(mrand.NewPCG(14, uint64(c.blockRows)))
			st, values := randomSearchStore(t, r, c.blockRows, c.batch)
			src := &countingSource{Source: wsdata.NewSource(st, "ws")}
			terms := []string{"k", "K", "s", "S", "i", "\u212a", "\u017f", "9", "ab", "-", ".", " ", "a-b", strings.Repeat("ab", 20)}
			for range c.terms {
				v := values[r.IntN(len(values))]
				if v == "" {
					continue
				}
				i := r.IntN(len(v))
				j := i + 1 + r.IntN(len(v)-i)
				term := v[i:j]
				switch r.IntN(4) {
				case 0:
					term = strings.ToUpper(term)
				case 1:
					term = strings.ToLower(term)
				case 2:
					term = v
				}
				terms = append(terms, term)
			}
			counted, matched := 0, 0
			for _, term := range terms {
				if strings.TrimSpace(term) == "" || !utf8.ValidString(term) {
					continue
				}
				for _, form := range []string{`T | where * has %q | count`, `T | search %q | count`} {
					q := fmt.Sprintf(form, term)
					want := count(t, noPushdown{src.Source}, q)
					src.counted = nil
					if got := count(t, src, q); got != want {
						t.Fatalf("%s: counted %v, the engine alone %v", q, got, want)
					}
					if len(src.counted) > 0 {
						counted++
					}
					if want != int64(0) {
						matched++
					}
				}
			}
			if counted < len(terms)/2 || matched < len(terms)/2 {
				t.Fatalf("of %d searches the store counted %d and %d matched a row: the draws do not test it", 2*len(terms), counted, matched)
			}
		})
	}
}

// count runs q, a query whose answer is one count, against src.
func count(t *testing.T, src kql.Source, q string) any {
	t.Helper()
	return runOn(t, src, q, kql.Options{}).Tables[0].Rows[0][0]
}
