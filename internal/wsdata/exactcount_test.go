package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// countingSource is a Source that records which counts it answered itself.
type countingSource struct {
	*wsdata.Source
	counted []kql.ScanRequest
}

func (s *countingSource) CountRows(ctx context.Context, req kql.ScanRequest) (kql.RowCount, bool, error) {
	rc, ok, err := s.Source.CountRows(ctx, req)
	if ok {
		s.counted = append(s.counted, req)
	}
	return rc, ok, err
}

// exactCountStore holds generated rows with strings of either case, empty
// and missing, text outside ASCII, longs, and a column M that held longs
// before its first string; in blocks of 50 rows, flushed and unflushed.
func exactCountStore(t *testing.T) (*logstore.Store, time.Time) {
	t.Helper()
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), BlockRows: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(14, 14))
	users := []string{"u", "U", "u1", "alice", "Alice", "alice smith", "jörg", "JÖRG", "", "x-y.z", "10.0.0.5"}
	words := []string{"Failed", "password", "for", "u", "u1", "from", "10.0.0.5", "port", "22", "ssh2", "jörg", "Ünïcode", "FAILED", "x-y.z", "-", "é", "alice"}
	ingest := func(first, n int, m func(i int) any) {
		rows := make([]map[string]any, 0, n)
		for i := first; i < first+n; i++ {
			r := map[string]any{"TimeGenerated": now.Add(-time.Duration(i*17) * time.Second).Format(time.RFC3339)}
			if rng.IntN(10) > 0 {
				r["user"] = users[rng.IntN(len(users))]
			}
			if rng.IntN(10) > 0 {
				r["event_id"] = []int{4624, 4625, 4688, 0, -1}[rng.IntN(5)]
			}
			msg := ""
			for range rng.IntN(6) {
				msg += words[rng.IntN(len(words))] + []string{" ", "", ":", "=", " "}[rng.IntN(5)]
			}
			r["msg"] = msg
			if v := m(i); v != nil {
				r["M"] = v
			}
			rows = append(rows, r)
		}
		body, err := json.Marshal(rows)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(context.Background(), "ws", "T", body); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 4 {
		ingest(k*1000, 1000, func(i int) any { return i % 7 })
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ingest(4000, 700, func(i int) any { return fmt.Sprint(i % 7) }) // unflushed, and M now strings
	return st, now
}

// TestCountsWithPredicatesFromTheStoreEqualTheEngines counts generated
// rows under many predicates twice: handed to the store with the count,
// and filtered by the engine with nothing pushed down (after take);
// the answers must be equal, the exact ones answered by the store, the
// others not.
func TestCountsWithPredicatesFromTheStoreEqualTheEngines(t *testing.T) {
	st, now := exactCountStore(t)
	src := &countingSource{Source: wsdata.NewSource(st, "ws")}
	var exact []string
	for _, u := range []string{"u", "U", "u1", "alice", "Alice", "alice smith", "x-y.z", "10.0.0.5", "nobody"} {
		exact = append(exact, fmt.Sprintf(`user == %q`, u))
	}
	for _, w := range []string{"u", "U1", "failed", "FAILED password", "10.0.0.5", "0.0", "x-y", "y.z", "-", "ssh2:22", "password=for", "alice", "nobody"} {
		exact = append(exact, fmt.Sprintf(`msg has %q`, w), fmt.Sprintf(`user has %q`, w))
	}
	for _, c := range []string{"== 4625", "== 0", "< 0", "<= 4625", "> 4624", ">= 4688", "== 1"} {
		exact = append(exact, "event_id "+c)
	}
	exact = append(exact,
		`event_id between (4624 .. 4625)`,
		`user == "u" and event_id == 4625`,
		`msg has "failed" and msg has "password" and event_id >= 0`,
		`TimeGenerated > ago(10h) and user == "alice"`,
	)
	inexact := []string{
		`user =~ "u"`, `user != "u"`, `user == ""`, `msg has "jörg"`, `msg has "é"`, `msg has_cs "Failed"`,
		`msg contains "ail"`, `user in ("u", "U")`, `event_id != 4625`, `event_id > 4624.5`,
		`user == "u" or event_id == 4625`, `isempty(user)`,
		`M == "3"`, `M has "3"`, `M == 3`, // strings now, longs in the blocks flushed before
	}
	run := func(t *testing.T, q string) (any, int, *kql.Result) {
		t.Helper()
		src.counted = nil
		res := runOn(t, src, q, kql.Options{Now: now})
		return res.Tables[0].Rows[0][0], len(src.counted), res
	}
	matched := 0
	for _, c := range []struct {
		preds   []string
		counted bool
	}{{exact, true}, {inexact, false}} {
		for _, p := range c.preds {
			t.Run(p, func(t *testing.T) {
				want, _, res := run(t, `T | take 100000000 | where `+p+` | count`)
				for _, sr := range res.Stats.Scans {
					if len(sr.Predicates) > 0 {
						t.Fatalf("the engine's count pushed %v down", sr.Predicates)
					}
				}
				if want != int64(0) {
					matched++
				}
				for _, q := range []string{`T | where ` + p + ` | count`, `T | where ` + p + ` | summarize count()`} {
					got, n, _ := run(t, q)
					if got != want {
						t.Errorf("%s: %v, the engine counts %v", q, got, want)
					}
					if (n > 0) != c.counted {
						t.Errorf("%s: the store counted %d times, want counted=%v", q, n, c.counted)
					}
				}
			})
		}
	}
	if matched < len(exact) {
		t.Fatalf("%d of %d predicates matched some row: the rows do not test them", matched, len(exact)+len(inexact))
	}
}
