package wsdata_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// runOn compiles q against src's tables and runs it with opts.
func runOn(t *testing.T, src kql.Source, q string, opts kql.Options) *kql.Result {
	t.Helper()
	tables, err := src.Tables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cq, err := kql.Compile(q, kql.Catalog{Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cq.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func runQuery(t *testing.T, src *wsdata.Source, q string) *kql.Result {
	t.Helper()
	return runOn(t, src, q, kql.Options{})
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

// TestTypedColumnsAnswerAsBoxedRows runs queries whose scans stay by column
// (the adapter hands the store's typed columns over as they are) and the same
// queries made to take the row path, over sealed blocks and unflushed rows,
// with nulls and a column whose type differs from block to block.
func TestTypedColumnsAnswerAsBoxedRows(t *testing.T) {
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), BlockRows: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	ingest := func(table string, from, to int, row func(i int) map[string]any) {
		var rows []map[string]any
		for i := from; i < to; i++ {
			rows = append(rows, row(i))
		}
		body, _ := json.Marshal(rows)
		if _, err := st.Ingest(context.Background(), "ws", table, body); err != nil {
			t.Fatal(err)
		}
	}
	event := func(i int) map[string]any {
		r := map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339),
			"Computer": fmt.Sprintf("host-%d", i%7), "EventID": []int{4624, 4625, 4688}[i%3], "User": fmt.Sprintf("u%d", i%11),
			"Score": float64(i%5) / 2, "Ok": i%2 == 0}
		switch {
		case i%13 == 0: // nulls
			delete(r, "Computer")
			delete(r, "EventID")
			delete(r, "Score")
		case i >= 1200 && i < 1500: // a block where Mixed holds strings
			r["Mixed"] = fmt.Sprint("m", i%4)
		default:
			r["Mixed"] = i % 4
		}
		return r
	}
	ingest("Events", 0, 1800, event)
	ingest("Users", 0, 11, func(i int) map[string]any {
		return map[string]any{"TimeGenerated": now.Format(time.RFC3339), "User": fmt.Sprintf("u%d", i), "Dept": []string{"a", "b", "c"}[i%3], "EventID": 4624 + i%2}
	})
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ingest("Events", 1800, 2000, event) // unflushed rows
	src := wsdata.NewSource(st, "ws")
	for _, q := range []string{
		`Events | summarize count() by Computer | order by Computer asc`,
		`Events | summarize count(), sum(Score), dcount(User) by EventID | order by EventID asc`,
		`Events | summarize count() by Computer, EventID | order by Computer asc, EventID asc`,
		`Events | summarize count() by Mixed | order by Mixed asc`,
		`Events | where EventID == 4625 and Computer != "host-3" | summarize count() by User | order by User asc`,
		`Events | where EventID > 4624 and Ok | count`,
		`Events | where Computer has "host" and Mixed == "m1" | count`,
		`Events | where TimeGenerated > ago(10h) | summarize count() by Computer | order by Computer asc`,
		`Events | where EventID == 4625 | join kind=inner (Users) on User | summarize count() by Dept | order by Dept asc`,
		`Events | join kind=leftouter (Users) on EventID, User | summarize count() by Dept | order by Dept asc`,
		`Events | join kind=leftanti (Users | where Dept == "a") on User | count`,
	} {
		// project leaves no columnar path: the same query by rows
		byRow := strings.Replace(q, "Events |", "Events | project TimeGenerated, Computer, EventID, User, Score, Ok, Mixed |", 1)
		got, want := runQuery(t, src, q).Tables[0].Rows, runQuery(t, src, byRow).Tables[0].Rows
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
			t.Errorf("%s:\n by column %v\n by row    %v", q, got, want)
		}
	}
	// and the adapter's typed columns keep nulls: every 13th row has no EventID or Computer
	nulls := int64((2000 + 12) / 13)
	for q, want := range map[string]string{
		`Events | summarize count() by EventID | where isnull(EventID)`: fmt.Sprintf("[[<nil> %d]]", nulls),
		`Events | where isnull(Score) | summarize count() by Computer`:  fmt.Sprintf("[[ %d]]", nulls),
		`Events | where EventID < 4625 or EventID >= 4625 | count`:      fmt.Sprintf("[[%d]]", 2000-nulls),
	} {
		if got := fmt.Sprint(runQuery(t, src, q).Tables[0].Rows); got != want {
			t.Errorf("%s: %s, want %s", q, got, want)
		}
	}
}

// TestQueryAfterRevocationFailsWithAWarmCache: the store keeps decrypted
// segment indexes between queries; once the key is revoked, a query (and the
// schema read that precedes it) fails all the same.
func TestQueryAfterRevocationFailsWithAWarmCache(t *testing.T) {
	keys := envelopetest.New("aek")
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys, BlockRows: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var rows []map[string]any
	for i := range 1000 {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "Computer": fmt.Sprintf("host-%d", i%5)})
	}
	body, _ := json.Marshal(rows)
	if _, err := st.Ingest(context.Background(), "ws", "SecurityEvent", body); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := `SecurityEvent | summarize count() by Computer`
	for range 2 { // the second query runs on cached indexes
		if res := runQuery(t, wsdata.NewSource(st, "ws"), q); len(res.Tables[0].Rows) != 5 {
			t.Fatalf("rows %v", res.Tables[0].Rows)
		}
	}
	cq, err := kql.Compile(q, kql.Catalog{Tables: []kql.TableSchema{{Name: "SecurityEvent", Columns: []kql.Column{{Name: "TimeGenerated", Type: kql.TypeDatetime}, {Name: "Computer", Type: kql.TypeString}}}}})
	if err != nil {
		t.Fatal(err)
	}
	keys.Revoke()
	if _, err := cq.Run(context.Background(), wsdata.NewSource(st, "ws"), kql.Options{}); !errors.Is(err, envelopetest.ErrRevoked) {
		t.Fatalf("query after revocation: %v, want the revoked error", err)
	}
	if _, err := wsdata.NewSource(st, "ws").Tables(context.Background()); !errors.Is(err, envelopetest.ErrRevoked) {
		t.Fatalf("tables after revocation: %v, want the revoked error", err)
	}
	keys.Restore()
	if res := runQuery(t, wsdata.NewSource(st, "ws"), q); len(res.Tables[0].Rows) != 5 {
		t.Fatalf("after restore: rows %v", res.Tables[0].Rows)
	}
}

// TestATableWithADamagedManifestDoesNotStopQueriesOfTheOthers: a table
// whose manifest is gone is listed, queries naming it are refused with the
// damage, and queries of the workspace's other tables answer.
func TestATableWithADamagedManifestDoesNotStopQueriesOfTheOthers(t *testing.T) {
	dir, keys, ledger := t.TempDir(), envelopetest.New("aek"), &logstore.MemLedger{}
	open := func() *logstore.Store {
		st, err := logstore.New(logstore.Config{Dir: dir, Keys: keys, Ledger: ledger})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	now := time.Now().UTC().Format(time.RFC3339)
	for _, table := range []string{"Healthy_CL", "Broken_CL"} {
		if _, err := st.Ingest(context.Background(), "ws", table, []byte(`[{"TimeGenerated":"`+now+`","Message":"m"}]`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Remove(filepath.Join(dir, "ws", "Broken_CL", "manifest")); err != nil {
		t.Fatal(err)
	}
	st = open()
	defer st.Close()
	src := wsdata.NewSource(st, "ws")
	if res := runQuery(t, src, "Healthy_CL | where Message == 'm' | count"); res.Tables[0].Rows[0][0] != int64(1) {
		t.Fatalf("query of the healthy table: %v", res.Tables[0].Rows)
	}
	const broken = "Broken_CL | where Message == 'm' | count"
	if err := src.DamagedTable(broken); !errors.Is(err, logstore.ErrCorrupt) {
		t.Fatalf("a query naming the damaged table: %v", err)
	}
	if err := src.DamagedTable("Healthy_CL | extend Broken_CLx = 1"); err != nil {
		t.Fatalf("a query not naming the damaged table: %v", err)
	}
	tables, _ := src.Tables(context.Background())
	cq, err := kql.Compile("Broken_CL | count", kql.Catalog{Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cq.Run(context.Background(), src, kql.Options{}); !errors.Is(err, logstore.ErrCorrupt) {
		t.Fatalf("counting the damaged table: %v", err)
	}
}
