package wsdata_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// noPushdown is a source that drops every predicate and counts no rows
// itself: the engine alone decides.
type noPushdown struct{ *wsdata.Source }

func (s noPushdown) Scan(ctx context.Context, req kql.ScanRequest) (kql.BatchIterator, error) {
	req.Predicates = nil
	return s.Source.Scan(ctx, req)
}

func (noPushdown) CountRows(context.Context, kql.ScanRequest) (kql.RowCount, bool, error) {
	return kql.RowCount{}, false, nil
}

// searchStore holds two tables of rows of every type, with nulls, dynamic
// values with escapes, text outside ASCII and numbers written two ways, and a
// column whose type changes from block to block; half flushed into small
// blocks, half still in the WAL.
func searchStore(t *testing.T, keys *envelopetest.Keys) *logstore.Store {
	t.Helper()
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys, BlockRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	row := func(i int, fields string) string {
		return fmt.Sprintf(`{"TimeGenerated":"%s",%s}`, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), fields)
	}
	syslog := []string{
		row(0, `"Msg":"Failed password for root from 10.0.0.5 port 22 ssh2","Host":"web01","N":4625,"Ok":true`),
		row(1, `"Msg":"Accepted password for alice","Host":"web01","N":-1,"R":1.5,"Ok":false`),
		row(2, `"Msg":"FAILED PASSWORD for U","Host":"db01","R":1000000.0,"Props":{"user":"carol","tags":["admin","u"]}`),
		row(3, `"Msg":"passwordless login for u","Host":null,"Props":{"note":"caf\u00e9 au lait","n":1e3}`),
		row(4, `"Msg":"élan vital ÉLAN","Props":{"path":"C:\\Windows\\system32","q":"a<b & c"},"Mixed":"text"`),
		row(5, `"Msg":"end-of-line.","Props":["x","y",{"deep":"needle"}],"Mixed":17`),
		row(6, `"Host":"dc01","Props":{"spaced": "out  here"},"Mixed":true`),
		row(7, `"Msg":"u","Host":"DB01","N":4624`),
		row(8, `"Msg":"ÉLAN only","Host":"web02"`),
	}
	other := []string{
		row(0, `"Account":"carol","Dept":"sec"`),
		row(1, `"Account":"bob","Dept":"ops","Level":3`),
		row(2, `"Account":"U","Dept":"password reset"`),
	}
	ingest := func(table string, rows []string) {
		if _, err := st.Ingest(context.Background(), "ws", table, []byte("["+strings.Join(rows, ",")+"]")); err != nil {
			t.Fatal(err)
		}
	}
	ingest("Syslog", syslog)
	ingest("Other", other[:2])
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ingest("Syslog", syslog) // the same rows, unflushed
	ingest("Other", other[2:])
	return st
}

func TestSearchAndStarHasAnswerAsWithoutPushdown(t *testing.T) {
	st := searchStore(t, envelopetest.New("aek"))
	src := wsdata.NewSource(st, "ws")
	terms := []string{"failed password", "Failed", "password", "u", "U", "root", "alice", "carol", "admin", "user", "tags",
		"4625", "-1", "1.5", "1e+06", "1000", "true", "false", "café", "au", "lait", "Windows", "system32", "u003cb", "b", "c",
		"text", "17", "needle", "deep", "out", "here", "out here", "10.0.0.5", "0.0", "web01", "db01", "DB01", "dc01", "end",
		"line.", "-of-", "élan", "vital", "sec", "ops", "reset", "2026", "T", "Z", "nothing", "ai", "ord", "*ass*", "*0.0*", "e"}
	for _, term := range terms {
		for _, form := range []string{
			`Syslog | where * has %q`,
			`Syslog | where * contains %q`,
			`Syslog | where * has_cs %q`,
			`search in (Syslog, Other) %q`,
			`search %q`,
			`search kind=case_sensitive in (Syslog) %q`,
			`search in (Syslog) %q and Host == "web01"`,
			`Syslog | project Msg, Props | where * has %q`,
			`Syslog | where * has %q | count`,
			`Syslog | search %q | count`,
			`Other | where * has %q | count`,
			`Syslog | where Msg has %q`,
			`Syslog | where Msg contains %q`,
			`Syslog | where Msg has_any (%q, "root")`,
			`Syslog | where Msg has_all (%q, "for")`,
		} {
			q := fmt.Sprintf(form, term)
			t.Run(q, func(t *testing.T) {
				got, want := rowsAsText(t, src, q), rowsAsText(t, noPushdown{src}, q)
				if got != want {
					t.Fatalf("with pushdown:\n%s\nengine alone:\n%s", got, want)
				}
			})
		}
	}
}

// rowsAsText runs q and renders its rows sorted, so that results compare whatever the order.
func rowsAsText(t *testing.T, src kql.Source, q string) string {
	t.Helper()
	tables, err := src.Tables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cq, err := kql.Compile(q+` | extend row__ = tostring(pack_all()) | order by row__ asc | project row__`, kql.Catalog{Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cq.Run(context.Background(), src, kql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(res.Tables[0].Rows)
}

func TestSearchForAnAbsentTermDecryptsOneFilterPerBlock(t *testing.T) {
	keys := envelopetest.New("aek")
	st := searchStore(t, keys)
	// Mostly rows of plain text, as logs are: blocks the filters can rule out.
	var rows []string
	for i := range 60 {
		rows = append(rows, fmt.Sprintf(`{"TimeGenerated":"%s","Msg":"plain row %d","Host":"h%d","N":%d}`,
			time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), i, i, i))
	}
	if _, err := st.Ingest(context.Background(), "ws", "Syslog", []byte("["+strings.Join(rows, ",")+"]")); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := wsdata.NewSource(st, "ws")
	src.Tables(context.Background())
	opens := func(s kql.Source, q string) int64 {
		keys.ResetOpens()
		rowsAsText(t, s, q)
		return keys.Opens()
	}
	for _, q := range []string{`search in (Syslog) "nothing"`, `Syslog | where * has "nothing" | count`} {
		with, without := opens(src, q), opens(noPushdown{src}, q)
		t.Logf("%s: %d decryptions, %d without pushdown", q, with, without)
		if 2*with > without {
			t.Errorf("%s: %d decryptions, %d without pushdown: the any-column filters did not skip blocks", q, with, without)
		}
	}
}
