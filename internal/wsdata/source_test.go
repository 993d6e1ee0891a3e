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

func runQuery(t *testing.T, src *wsdata.Source, q string) *kql.Result {
	t.Helper()
	tables, err := src.Tables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cq, err := kql.Compile(q, kql.Catalog(tables))
	if err != nil {
		t.Fatal(err)
	}
	res, err := cq.Run(context.Background(), src, kql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestQueriesDecryptOnlyTheColumnsAndBlocksTheyNeed runs queries over
// sealed segments and counts decryptions: a one-column filter opens a small
// fraction of what reading every column opens, a time range outside the data
// opens nothing but indexes, and results are the same either way.
func TestQueriesDecryptOnlyTheColumnsAndBlocksTheyNeed(t *testing.T) {
	keys := envelopetest.New("aek")
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys, BlockRows: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	var rows []map[string]any
	for i := range 5000 {
		rows = append(rows, map[string]any{
			"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339),
			"Computer":      fmt.Sprintf("host-%d", i%20), "EventID": []int{4624, 4625}[i%2],
			"Account": fmt.Sprintf("user%d", i%100), "IpAddress": fmt.Sprintf("10.0.%d.%d", i%7, i%250),
			"Activity": "logon event " + fmt.Sprint(i), "Process": "lsass.exe", "LogonType": i % 11,
		})
	}
	body, _ := json.Marshal(rows)
	if _, err := st.Ingest(context.Background(), "ws", "SecurityEvent", body); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := wsdata.NewSource(st, "ws")
	src.Tables(context.Background()) // schemas read once, as a query's compile does

	count := func(q string) (int64, *kql.Result) {
		keys.ResetOpens()
		res := runQuery(t, src, q)
		return keys.Opens(), res
	}
	wide, all := count(`SecurityEvent | project-away TimeGenerated | count`)
	_, allCols := count(`SecurityEvent | take 100000`)
	narrow, res := count(`SecurityEvent | where EventID == 4625 | count`)
	if got := res.Tables[0].Rows[0][0]; got != int64(2500) {
		t.Fatalf("count of 4625 = %v, want 2500", got)
	}
	if all.Tables[0].Rows[0][0] != int64(5000) || len(allCols.Tables[0].Rows) != 5000 {
		t.Fatalf("full reads: %v rows", all.Tables[0].Rows)
	}
	full, _ := count(`SecurityEvent | summarize by Computer, EventID, Account, IpAddress, Activity, Process, LogonType`)
	if narrow*3 > full {
		t.Fatalf("one-column filter decrypted %d chunks, all columns %d: columns were not pushed down", narrow, full)
	}
	outside, res := count(`SecurityEvent | where TimeGenerated < ago(30d) | count`)
	if res.Tables[0].Rows[0][0] != int64(0) || outside > narrow/2 {
		t.Fatalf("a time range outside the data decrypted %d chunks (one-column filter: %d)", outside, narrow)
	}
	t.Logf("decryptions: count %d, one-column filter %d, every column %d, outside the time range %d", wide, narrow, full, outside)
	if wide*3 > full {
		t.Fatalf("a bare count decrypted %d chunks of %d", wide, full)
	}
}
