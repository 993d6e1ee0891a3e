package wsdata_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// searchCountStore holds a table of every type but dynamic (Typed: strings,
// longs, reals written as Go and Kusto write them in exponent form,
// bools, datetimes with and without a fraction, a column M of longs before
// its first string, nulls), and a table whose rows hold a term only in a
// hidden standard column (Hidden); in blocks of 4 rows, flushed and not.
func searchCountStore(t *testing.T) *logstore.Store {
	t.Helper()
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), BlockRows: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	row := func(i int, fields string) string {
		return fmt.Sprintf(`{"TimeGenerated":"%s",%s}`, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), fields)
	}
	typed := []string{
		row(0, `"S":"Failed password for u from 10.0.0.5","N":4625,"R":1.5,"B":true,"D":"2026-01-02T03:04:05.1234567Z","M":17`),
		row(1, `"S":"bob","N":-1,"R":1e20,"B":false,"D":"2026-01-02T03:04:05Z","M":-3`),
		row(2, `"S":"x-y.z","N":0,"R":1.5e-7,"D":"1999-12-31T23:59:59.9Z"`),
		row(3, `"S":"","N":1234567890123,"R":-0.25,"B":true`),
		row(4, `"N":7,"R":100000000000000000000000,"M":0`),
		row(5, `"S":"true love","R":3.25,"B":false,"D":"2026-06-30T12:00:00.000001Z"`),
		row(6, `"S":"nan or infinity","N":42,"B":true`),
		row(7, `"S":"U","M":5`),
	}
	later := []string{
		row(8, `"S":"bob","N":9,"R":2.5,"B":true,"D":"2026-01-02T03:04:05Z","M":"text 17"`),
		row(9, `"S":"Failed password for bob","N":4625,"M":"u"`),
		row(10, `"N":1,"R":1e-9,"M":"-3"`),
	}
	hidden := []string{
		row(0, `"S":"alice","_ResourceId":"/subscriptions/bob/u"`),
		row(1, `"S":"bob","_ResourceId":"/subscriptions/x"`),
	}
	ingest := func(table string, rows []string) {
		if _, err := st.Ingest(context.Background(), "ws", table, []byte("["+strings.Join(rows, ",")+"]")); err != nil {
			t.Fatal(err)
		}
	}
	ingest("Typed", typed)
	ingest("Hidden", hidden[:1])
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ingest("Typed", later) // unflushed, and M now strings
	ingest("Hidden", hidden[1:])
	return st
}

// TestSearchCountsFromTheStoreEqualTheEngines counts the rows in which any
// column has a term, by search and by where * has, twice: counted by the
// store, and read and matched by the engine with nothing pushed down. The
// terms are those of every type's text as the engine writes it (numbers in
// exponent form, datetimes, bools) and letters none holds: the store
// counts only where no number's or datetime's text may hold the term, and
// never where a hidden column, which search leaves out, is stored.
func TestSearchCountsFromTheStoreEqualTheEngines(t *testing.T) {
	st := searchCountStore(t)
	src := &countingSource{Source: wsdata.NewSource(st, "ws")}
	// by the store: no number's or datetime's text may hold these
	stored := []string{"u", "U", "bob", "failed password", "password for", "x-y", "y.z", "true", "false",
		"love", "or", "text", "nothing"}
	// by the engine: some number's or datetime's text may hold these
	read := []string{"4625", "-1", "1", "0", "17", "-3", "1e", "1e+20", "20", "e", "1.5e-07", "07", "0.25", "-0.25", "1.5",
		"1e+23", "23", "2026", "01", "02T03", "03", "t", "z", "05.1234567z", "1234567", "1999-12-31", "59.9Z", "000001Z",
		"1234567890123", "e-09", "inf", "nan", "infinity", "10.0.0.5"}
	matched := 0
	for _, c := range []struct {
		terms   []string
		counted bool
	}{{stored, true}, {read, false}} {
		for _, term := range c.terms {
			for _, form := range []string{`Typed | where * has %q | count`, `Typed | search %q | count`} {
				q := fmt.Sprintf(form, term)
				t.Run(q, func(t *testing.T) {
					want := count(t, noPushdown{src.Source}, q)
					src.counted = nil
					if got := count(t, src, q); got != want {
						t.Fatalf("counted %v, the engine alone %v", got, want)
					}
					if (len(src.counted) > 0) != c.counted {
						t.Fatalf("the store counted %d times, want counted=%v", len(src.counted), c.counted)
					}
					if want != int64(0) {
						matched++
					}
				})
			}
		}
	}
	if matched < len(stored)+len(read) {
		t.Fatalf("only %d of %d searches matched some row: the rows do not test them", matched, 2*(len(stored)+len(read)))
	}
	for _, term := range []string{"bob", "u", "subscriptions", "alice"} {
		q := fmt.Sprintf(`Hidden | search %q | count`, term)
		t.Run(q, func(t *testing.T) {
			want := count(t, noPushdown{src.Source}, q)
			src.counted = nil
			if got := count(t, src, q); got != want {
				t.Fatalf("counted %v, the engine alone %v", got, want)
			}
			if len(src.counted) > 0 {
				t.Fatal("the store counted a table holding a hidden column")
			}
		})
	}
}
