package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

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
	for _, c := range cases {
		t.Run(c.count, func(t *testing.T) {
			got := runQuery(t, src, c.count).Tables[0].Rows[0][0]
			want := len(runQuery(t, src, c.rows).Tables[0].Rows)
			if got != int64(want) || want == 0 {
				t.Fatalf("count %v, rows %d", got, want)
			}
		})
	}
	keys.ResetOpens()
	runQuery(t, src, `T | count`)
	if n := keys.Opens(); n != 0 {
		t.Fatalf("a bare count decrypted %d chunks, want none", n)
	}
}
