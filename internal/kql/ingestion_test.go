package kql

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ingestT0 is when the first row of the ingestion fixture was ingested; row i (Id i) was
// ingested i minutes later, but for row 9, whose ingestion time is unknown.
var ingestT0 = time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)

func ingestAt(minutes int) string {
	return ingestT0.Add(time.Duration(minutes) * time.Minute).Format(time.RFC3339Nano)
}

// ingestionSource holds Logs, Ids 0-9 ingested as ingestT0 says, and Hosts, Ids 0-4 ingested
// at the same instants as the Logs of the same Id.
func ingestionSource(t testing.TB) *countingSource {
	logs := NewMemTable("Logs", Column{"TimeGenerated", TypeDatetime}, Column{"Id", TypeLong}, Column{"Host", TypeString})
	hosts := NewMemTable("Hosts", Column{"Host", TypeString}, Column{"Id", TypeLong})
	for i := range 10 {
		at := ingestT0.Add(time.Duration(i) * time.Minute)
		if i == 9 {
			at = time.Time{}
		}
		host := fmt.Sprintf("h%d", i%3)
		if err := logs.AppendIngested(at, fixtureNow.Add(-time.Duration(i)*time.Hour), i, host); err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			if err := hosts.AppendIngested(at, host, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	vips := NewMemTable(WatchlistTable("vips"), Column{"SearchKey", TypeString})
	if err := vips.Append("h2"); err != nil {
		t.Fatal(err)
	}
	return &countingSource{MemSource: NewMemSource(logs, hosts, vips), cells: map[string]int{}}
}

func runIngestion(t *testing.T, src *countingSource, q string, opts Options) (*Result, error) {
	t.Helper()
	cq, err := Compile(q, src.Catalog())
	if err != nil {
		return nil, err
	}
	opts.Now = fixtureNow
	return cq.Run(context.Background(), src, opts)
}

func rowsJSON(t *testing.T, res *Result) string {
	t.Helper()
	b, err := json.Marshal(res.Tables[0].Rows)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIngestionTimeIsEachRowsIngestionTime(t *testing.T) {
	cases := []struct {
		name, q, want string
		cols          string
		// the ingestion bounds the Logs scan must carry (RFC 3339; "" none)
		after, upTo string
	}{
		{name: "where >", q: `Logs | where ingestion_time() > datetime(` + ingestAt(6) + `) | project Id`, want: `[[7],[8]]`, after: ingestAt(6)},
		{name: "where >=", q: `Logs | where ingestion_time() >= datetime(` + ingestAt(7) + `) | project Id`, want: `[[7],[8]]`,
			after: ingestT0.Add(7*time.Minute - 1).Format(time.RFC3339Nano)},
		{name: "where <", q: `Logs | where ingestion_time() < datetime(` + ingestAt(2) + `) | project Id`, want: `[[0],[1]]`,
			upTo: ingestT0.Add(2*time.Minute - 1).Format(time.RFC3339Nano)},
		{name: "where <=, constant first", q: `Logs | where datetime(` + ingestAt(1) + `) >= ingestion_time() | project Id`, want: `[[0],[1]]`, upTo: ingestAt(1)},
		{name: "where between", q: `Logs | where ingestion_time() between (datetime(` + ingestAt(3) + `) .. datetime(` + ingestAt(4) + `)) | project Id`,
			want: `[[3],[4]]`, after: ingestT0.Add(3*time.Minute - 1).Format(time.RFC3339Nano), upTo: ingestAt(4)},
		{name: "where == ", q: `Logs | where ingestion_time() == datetime(` + ingestAt(5) + `) | project Id`, want: `[[5]]`,
			after: ingestT0.Add(5*time.Minute - 1).Format(time.RFC3339Nano), upTo: ingestAt(5)},
		{name: "where !between is not pushed", q: `Logs | where ingestion_time() !between (datetime(` + ingestAt(1) + `) .. datetime(` + ingestAt(7) + `)) | project Id`,
			want: `[[0],[8]]`},
		{name: "where with ago(), after another where", q: `Logs | where Id > 2 | where ingestion_time() > ago(1h) and Host == "h0" | project Id`,
			want: `[[3],[6]]`, after: fixtureNow.Add(-time.Hour).Format(time.RFC3339Nano)},
		{name: "extend, unknown is null", q: `Logs | where Id >= 8 | extend At = ingestion_time() | project Id, At`,
			want: `[[8,"` + ingestAt(8) + `"],[9,null]]`, cols: "Id:long,At:datetime"},
		{name: "project", q: `Logs | where Id == 2 | project At = ingestion_time(), Id`, want: `[["` + ingestAt(2) + `",2]]`},
		{name: "summarize aggregate", q: `Logs | summarize max(ingestion_time()), min(ingestion_time()), countif(isnull(ingestion_time()))`,
			want: `[["` + ingestAt(8) + `","` + ingestAt(0) + `",1]]`},
		{name: "summarize by", q: `Logs | where Id < 9 | summarize n = count() by bin(ingestion_time(), 5m) | order by n desc`,
			want: `[["` + ingestAt(0) + `",5],["` + ingestAt(5) + `",4]]`, cols: "Column1:datetime,n:long"},
		{name: "a where on it leaves the columns as they were", q: `Logs | where ingestion_time() > datetime(` + ingestAt(7) + `)`,
			want: `[["2026-11-26T04:00:00Z",8,"h2"]]`, cols: "TimeGenerated:datetime,Id:long,Host:string", after: ingestAt(7)},
		{name: "and no later operator sees it", q: `Logs | where ingestion_time() > datetime(` + ingestAt(6) + `) | take 1 | getschema | project ColumnName`,
			want: `[["TimeGenerated"],["Id"],["Host"]]`},
		{name: "sorted and joined after a where on it", q: `Logs | where ingestion_time() > datetime(` + ingestAt(2) + `) | join kind=inner (Hosts | where ingestion_time() < datetime(` + ingestAt(4) + `)) on Id | order by Id asc`,
			want: `[["2026-11-26T09:00:00Z",3,"h0","h0",3]]`, cols: "TimeGenerated:datetime,Id:long,Host:string,Host1:string,Id1:long", after: ingestAt(2)},
		{name: "in a union's legs", q: `union (Logs | where ingestion_time() > datetime(` + ingestAt(7) + `) | project Id), (Hosts | where ingestion_time() <= datetime(` + ingestAt(0) + `) | project Id) | order by Id asc`,
			want: `[[0],[8]]`, after: ingestAt(7)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := ingestionSource(t)
			res, err := runIngestion(t, src, c.q, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsJSON(t, res); got != c.want {
				t.Fatalf("rows %s, want %s", got, c.want)
			}
			if c.cols != "" {
				var cols []string
				for _, col := range res.Tables[0].Columns {
					cols = append(cols, col.Name+":"+col.Type.String())
				}
				if got := strings.Join(cols, ","); got != c.cols {
					t.Fatalf("columns %s, want %s", got, c.cols)
				}
			}
			for _, req := range src.reqs {
				if req.Table != "Logs" {
					continue
				}
				if got := fmtBound(req.IngestedAfter); got != c.after {
					t.Errorf("scan IngestedAfter %q, want %q", got, c.after)
				}
				if got := fmtBound(req.IngestedUpTo); got != c.upTo {
					t.Errorf("scan IngestedUpTo %q, want %q", got, c.upTo)
				}
			}
		})
	}
}

func fmtBound(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func TestIngestionTimeRefusedWhereNoTableRowIs(t *testing.T) {
	src := ingestionSource(t)
	for _, c := range []struct{ name, q, err string }{
		{"with an argument", `Logs | where ingestion_time(1) > ago(1h)`, "ingestion_time() takes no arguments, got 1"},
		{"in print", `print ingestion_time()`, "known only for the rows of a table"},
		{"in a scalar let", `let t = ingestion_time(); Logs`, "known only for the rows of a table"},
		{"after summarize", `Logs | summarize count() by Host | extend ingestion_time()`, "known only for the rows of a table"},
		{"after project", `Logs | project Id | where ingestion_time() > ago(1h)`, "known only for the rows of a table"},
		{"after extend", `Logs | extend x = 1 | where ingestion_time() > ago(1h)`, "known only for the rows of a table"},
		{"after take", `Logs | take 3 | extend ingestion_time()`, "known only for the rows of a table"},
		{"in sort", `Logs | sort by ingestion_time() desc`, "known only for the rows of a table"},
		{"in datatable", `datatable(a: long) [1] | extend ingestion_time()`, "known only for the rows of a table"},
		{"on a watchlist", `_GetWatchlist('vips') | where ingestion_time() > ago(1h)`, "known only for the rows of a table"},
		{"in a join condition", `Logs | join (Hosts) on $left.Id == $right.Id and ingestion_time()`, "expected a column name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runIngestion(t, src, c.q, Options{})
			if err == nil {
				t.Fatal("ran")
			}
			if _, ok := err.(*BindError); !ok {
				t.Fatalf("%T %v, want a bind error", err, err)
			}
			if !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %q, want %q", err, c.err)
			}
		})
	}
}

// TestIngestionBoundsOfOptionsReachEveryScan runs queries that scan in joins, unions,
// materialized and let tables and subqueries: every scan carries the run's bounds, and the
// answer holds only the rows inside them.
func TestIngestionBoundsOfOptionsReachEveryScan(t *testing.T) {
	opts := Options{IngestedAfter: ingestT0.Add(time.Minute), IngestedUpTo: ingestT0.Add(3 * time.Minute)} // Ids 2 and 3
	for _, c := range []struct{ name, q, want string }{
		{"plain", `Logs | project Id`, `[[2],[3]]`},
		{"join", `Logs | join kind=inner (Hosts) on Id | project Id, Id1`, `[[2,2],[3,3]]`},
		{"union", `union Logs, Hosts | project Id | order by Id asc`, `[[2],[2],[3],[3]]`},
		{"materialize", `let M = materialize(Logs | project Id); M | join kind=inner (M) on Id | project Id`, `[[2],[3]]`},
		{"subquery", `Hosts | where Id in ((Logs | project Id)) | project Id`, `[[2],[3]]`},
		{"toscalar", `print n = toscalar(Logs | count)`, `[[2]]`},
		{"tighter where wins", `Logs | where ingestion_time() > datetime(` + ingestAt(2) + `) | project Id`, `[[3]]`},
		{"looser where does not widen", `Logs | where ingestion_time() > ago(365d) | project Id`, `[[2],[3]]`},
		{"a watchlist is not bounded", `Logs | join kind=inner (_GetWatchlist('vips') | project Host = SearchKey) on Host | project Id`, `[[2]]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := ingestionSource(t)
			res, err := runIngestion(t, src, c.q, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsJSON(t, res); got != c.want {
				t.Fatalf("rows %s, want %s", got, c.want)
			}
			if len(src.reqs) == 0 {
				t.Fatal("no scan")
			}
			for _, req := range src.reqs {
				if _, wl := WatchlistAlias(req.Table); wl {
					if !req.IngestedAfter.IsZero() || !req.IngestedUpTo.IsZero() {
						t.Fatalf("watchlist scan with bounds (%v, %v]", req.IngestedAfter, req.IngestedUpTo)
					}
					continue
				}
				if req.IngestedAfter.Before(opts.IngestedAfter) || req.IngestedUpTo.IsZero() || req.IngestedUpTo.After(opts.IngestedUpTo) {
					t.Fatalf("scan of %s with bounds (%v, %v]", req.Table, req.IngestedAfter, req.IngestedUpTo)
				}
			}
		})
	}
	t.Run("rows of unknown ingestion time are before every bound", func(t *testing.T) {
		src := ingestionSource(t)
		res, err := runIngestion(t, src, `Logs | project Id`, Options{IngestedUpTo: ingestT0})
		if err != nil {
			t.Fatal(err)
		}
		if got := rowsJSON(t, res); got != `[[0],[9]]` {
			t.Fatalf("up to the first instant: %s", got)
		}
		res, err = runIngestion(t, src, `Logs | project Id`, Options{IngestedAfter: ingestT0.Add(7 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if got := rowsJSON(t, res); got != `[[8]]` {
			t.Fatalf("after the seventh minute: %s", got)
		}
	})
}

// TestIngestionTimeIsReadOnlyWhenUsed: a query that does not call ingestion_time() never asks
// for it.
func TestIngestionTimeIsReadOnlyWhenUsed(t *testing.T) {
	for q, want := range map[string]bool{
		`Logs | where Id > 3 | project Id`:                                   false,
		`Logs | where ingestion_time() > ago(1h) | project Id`:               true,
		`Logs | where Id > 3 | summarize max(ingestion_time())`:              true,
		`Logs | where ingestion_time() > ago(1h) | where Id > 3 | count`:     true,
		`Logs | where Id > 3 | where Host == "h1" | extend ingestion_time()`: true,
	} {
		src := ingestionSource(t)
		if _, err := runIngestion(t, src, q, Options{}); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		asked := false
		for _, req := range src.reqs {
			for _, c := range req.Columns {
				asked = asked || c == IngestionTimeColumn
			}
		}
		if asked != want {
			t.Errorf("%s: asked for the ingestion time: %v", q, asked)
		}
	}
}
