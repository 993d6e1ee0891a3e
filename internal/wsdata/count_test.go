package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// runAt runs q with now() at now, so that queries with ago() compare.
func runAt(t *testing.T, src *wsdata.Source, now time.Time, q string) *kql.Result {
	t.Helper()
	return runOn(t, src, q, kql.Options{Now: now})
}

// TestCountsFromMetadataEqualCountsOfTheRows runs counts the store answers
// from its manifest and sealed indexes next to the same questions answered
// by reading a column's rows, over segments and rows still in the WAL.
func TestCountsFromMetadataEqualCountsOfTheRows(t *testing.T) {
	keys := envelopetest.New("aek")
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys, BlockRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	ingest := func(first, n int) {
		var rows []map[string]any
		for i := first; i < first+n; i++ {
			rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i*37) * time.Second).Format(time.RFC3339),
				"Computer": fmt.Sprintf("host-%d", i%13), "N": i})
		}
		body, _ := json.Marshal(rows)
		if _, err := st.Ingest(context.Background(), "ws", "T", body); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 4 {
		ingest(k*700, 700)
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ingest(2800, 300) // unflushed
	src := wsdata.NewSource(st, "ws")
	cases := []struct{ count, rows string }{
		{`T | count`, `T | project N`},
		{`T | summarize count()`, `T | project N`},
		{`T | where TimeGenerated > ago(7h) | count`, `T | where TimeGenerated > ago(7h) | project N`},
		{`T | where TimeGenerated between (ago(20h) .. ago(3h)) | count`, `T | where TimeGenerated between (ago(20h) .. ago(3h)) | project N`},
		{`T | where N >= 1234 | count`, `T | where N >= 1234 | project N`},
		{`T | where Computer == "host-3" | count`, `T | where Computer == "host-3" | project N`},
	}
	// The span of the times, from the manifest and indexes, is the one the
	// rows hold.
	for _, q := range []string{`T`, `T | where TimeGenerated > ago(7h)`, `T | where TimeGenerated between (ago(20h) .. ago(3h))`} {
		t.Run(q+" | summarize min, max", func(t *testing.T) {
			got := runAt(t, src, now, q+` | summarize min(TimeGenerated), max(TimeGenerated), count()`).Tables[0].Rows
			want := runAt(t, src, now, q+` | summarize min(TimeGenerated), max(TimeGenerated), count() by tostring(1) | project-away Column1`).Tables[0].Rows
			if len(got) != 1 || got[0][2] == int64(0) || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("from the indexes %v, from the rows %v", got, want)
			}
		})
	}
	for _, c := range cases {
		t.Run(c.count, func(t *testing.T) {
			got := runAt(t, src, now, c.count).Tables[0].Rows[0][0]
			want := len(runAt(t, src, now, c.rows).Tables[0].Rows)
			if got != int64(want) || want == 0 {
				t.Fatalf("count %v, rows %d", got, want)
			}
		})
	}
	keys.ResetOpens()
	runAt(t, src, now, `T | count`)
	if n := keys.Opens(); n != 0 {
		t.Fatalf("a bare count decrypted %d chunks, want none", n)
	}
	// A time-bounded count decrypts the time column of the blocks the
	// bound cuts, not of every block it keeps.
	keys.ResetOpens()
	runAt(t, src, now, `T | where TimeGenerated > ago(20h) | count`)
	counted := keys.Opens()
	keys.ResetOpens()
	runAt(t, src, now, `T | where TimeGenerated > ago(20h) | project TimeGenerated`)
	if read := keys.Opens(); counted*4 > read {
		t.Fatalf("a time-bounded count decrypted %d chunks, reading the times %d", counted, read)
	}
	// Bounds that contradict match no row; they are no bad request.
	for _, q := range []string{`T | where TimeGenerated > ago(1h) and TimeGenerated < ago(2h) | count`,
		`T | where TimeGenerated > ago(1h) and TimeGenerated < ago(2h) | summarize count()`} {
		if got := runAt(t, src, now, q).Tables[0].Rows[0][0]; got != int64(0) {
			t.Fatalf("%s: %v", q, got)
		}
	}
	if rows := runAt(t, src, now, `T | where TimeGenerated > ago(1h) and TimeGenerated < ago(2h)`).Tables[0].Rows; len(rows) != 0 {
		t.Fatalf("%d rows between contradicting bounds", len(rows))
	}
}
