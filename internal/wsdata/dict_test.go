package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// TestDictionaryColumnsAnswerAsTheRowPath runs filters, groupings and full
// rows over string columns the store keeps with a dictionary (handed to the
// engine as codes, with no string per row) and the same queries made to take
// the row path: over sealed blocks and unflushed rows, with nulls, empty
// strings, a column with too many values for a dictionary, and a block where
// the grouped column holds numbers.
func TestDictionaryColumnsAnswerAsTheRowPath(t *testing.T) {
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), BlockRows: 250})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	ingest := func(from, to int) {
		var rows []map[string]any
		for i := from; i < to; i++ {
			r := map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339),
				"Host": []string{"alpha-1", "Alpha-2", "beta", "", "gamma web"}[i%5], // few values, one empty
				"User": fmt.Sprintf("user%04d", i),                                   // one value per row: no dictionary
				"Kind": fmt.Sprint("k", i%3), "N": i % 4}
			switch {
			case i%7 == 0:
				delete(r, "Host") // a null among the dictionary's rows
				delete(r, "Kind")
			case i >= 500 && i < 750:
				r["Kind"] = i % 3 // a block where Kind holds numbers
			}
			rows = append(rows, r)
		}
		body, _ := json.Marshal(rows)
		if _, err := st.Ingest(context.Background(), "ws", "Events", body); err != nil {
			t.Fatal(err)
		}
	}
	ingest(0, 1500)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ingest(1500, 1700) // unflushed rows
	src := wsdata.NewSource(st, "ws")
	for _, q := range []string{
		`Events | summarize count() by Host | order by Host asc`,
		`Events | summarize n=count() by Host | top 2 by n`,
		`Events | summarize count(), dcount(User) by Host, Kind | order by Host asc, Kind asc`,
		`Events | summarize count() by Kind | order by Kind asc`,
		`Events | summarize count(), dcount(Host) by N | order by N asc`,
		`Events | summarize count(), max(User) by Host, N | order by Host asc, N asc`,
		`Events | summarize count() by N, TimeGenerated, Host | count`,
		`Events | where Host == "beta" | count`,
		`Events | where Host == "" | count`,
		`Events | where Host != "beta" | count`,
		`Events | where Host in ("beta", "alpha-1", "") | count`,
		`Events | where Host !in ("beta", "alpha-1") | count`,
		`Events | where Host in~ ("ALPHA-2") | count`,
		`Events | where Host has "web" | count`,
		`Events | where Host has_any ("web", "beta") | count`,
		`Events | where Host has_all ("gamma", "web") | count`,
		`Events | where Host startswith "alpha" | summarize count() by Host | order by Host asc`,
		`Events | where Host endswith "A" | count`,
		`Events | where Host contains "ph" and N == 2 | count`,
		`Events | where Host =~ "ALPHA-1" | count`,
		`Events | where Host == "beta" and User == "user0002" | count`,
		`Events | where Host == "alpha-1" | order by User asc | take 40`,
		`Events | where Host startswith "gamma" | project User, Host, Kind | order by User asc | take 40`,
		`Events | where Kind == "k1" | summarize count() by Host | order by Host asc`,
		`Events | where isempty(Host) | summarize count() by Kind | order by Kind asc`,
		`Events | summarize s=make_set(Host) by N | extend s=array_sort_asc(s) | order by N asc`, // batches come in any order
	} {
		// project leaves no columnar path: the same query by rows
		byRow := strings.Replace(q, "Events |", "Events | project TimeGenerated, Host, Kind, N, User |", 1)
		got, want := runQuery(t, src, q).Tables[0].Rows, runQuery(t, src, byRow).Tables[0].Rows
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
			t.Errorf("%s:\n by column %v\n by row    %v", q, got, want)
		}
	}
	// and the answers are the data's, not only the same both ways
	for q, want := range map[string]string{
		`Events | where Host == "beta" | count`:                    "[[291]]", // i%5 == 2 and i%7 != 0, of 1,700
		`Events | where Host startswith "alpha" | count`:           "[[583]]",
		`Events | where Kind in ("k1") and Host has "web" | count`: "[[84]]",
	} {
		if got := fmt.Sprint(runQuery(t, src, q).Tables[0].Rows); got != want {
			t.Errorf("%s: %s, want %s", q, got, want)
		}
	}
}
