package kql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// watchlistSource is the fixture's tables and a watchlist 'vips' served as
// a source serves one.
func watchlistSource(t testing.TB, rows int) *MemSource {
	t.Helper()
	cols := append(append([]Column{}, WatchlistColumns...), Column{"Account", TypeString}, Column{"Dept", TypeString})
	vips := NewMemTable(WatchlistTable("vips"), cols...)
	add := func(id, account, dept string) {
		if err := vips.Append(id, ts("2026-11-20T00:00:00Z"), account, map[string]any{"Account": account, "Dept": dept}, account, dept); err != nil {
			t.Fatal(err)
		}
	}
	add("i-1", "alice", "Finance")
	add("i-2", "carol", "HR")
	for i := range rows {
		add(fmt.Sprintf("x-%d", i), fmt.Sprintf("user%06d", i), strings.Repeat("d", 100))
	}
	src := fixtureSource(t)
	return NewMemSource(append([]*MemTable{vips}, src.tables["Events"], src.tables["Users"], src.tables["Logs"])...)
}

func runWatchlistQuery(t *testing.T, src *MemSource, query string, opts Options) (*Result, error) {
	t.Helper()
	q, err := Compile(query, src.Catalog())
	if err != nil {
		return nil, err
	}
	opts.Now = fixtureNow
	return q.Run(context.Background(), src, opts)
}

func TestGetWatchlistJoinsFiltersAndLooksUp(t *testing.T) {
	src := watchlistSource(t, 0)
	for _, tc := range []struct {
		name, query, want string
	}{
		{"the items with their columns", "_GetWatchlist('vips') | project _DTItemId, SearchKey, Account, Dept | order by SearchKey asc",
			`[["i-1","alice","alice","Finance"],["i-2","carol","carol","HR"]]`},
		{"a join on the search key", "Events | join kind=inner (_GetWatchlist('vips') | project Account = SearchKey, Dept) on Account | project Computer, Account, Dept | order by Computer asc",
			`[["db01","carol","HR"],["web01","alice","Finance"]]`},
		{"in a subquery", "Events | where Account in (_GetWatchlist('vips') | project SearchKey) | project EventID",
			`[[4624],[4625]]`},
		{"in a let", "let vips = _GetWatchlist('vips') | project SearchKey; Events | where Account !in (vips) and Account != '' | count",
			`[[3]]`},
		{"a lookup", "Events | lookup (_GetWatchlist('vips') | project Account, Dept) on Account | where isnotempty(Dept) | project Account, Dept",
			`[["alice","Finance"],["carol","HR"]]`},
		{"the item as a bag", "_GetWatchlist('vips') | where SearchKey == 'carol' | project d = tostring(WatchlistItem.Dept)", `[["HR"]]`},
		{"not in a search of every table", "search 'carol' | distinct $table", `[["Events"],["Logs"]]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runWatchlistQuery(t, src, tc.query, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := jsonMarshal(res.Tables[0].Rows)
			if string(got) != tc.want {
				t.Fatalf("rows %s, want %s", got, tc.want)
			}
		})
	}
}

// TestATimespanDoesNotFilterAWatchlist: a watchlist has no TimeGenerated,
// so a query's timespan narrows its log tables and leaves the watchlist
// whole.
func TestATimespanDoesNotFilterAWatchlist(t *testing.T) {
	src := watchlistSource(t, 0)
	res, err := runWatchlistQuery(t, src, "union (_GetWatchlist('vips') | count), (Events | count)", Options{Timespan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := jsonMarshal(res.Tables[0].Rows)
	if string(got) != `[[2],[1]]` && string(got) != `[[1],[2]]` {
		t.Fatalf("counts %s, want the watchlist's 2 items and the last hour's 1 event", got)
	}
}

// TestAQueryListsNoWatchlistAmongItsTables: Tables names what a rule
// scheduler watches for late rows; a watchlist is never ingested.
func TestAQueryListsNoWatchlistAmongItsTables(t *testing.T) {
	src := watchlistSource(t, 0)
	q, err := Compile("Events | where Account in (_GetWatchlist('vips') | project SearchKey) | join (Users) on Account", src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Tables(); !slices.Equal(got, []string{"Events", "Users"}) {
		t.Fatalf("tables %q, want Events and Users", got)
	}
}

func TestGetWatchlistBindsAtCompile(t *testing.T) {
	src := watchlistSource(t, 0)
	for _, tc := range []struct{ name, query, want string }{
		{"an unknown alias", "Events | where Account in (_GetWatchlist('vip') | project SearchKey)", "unknown watchlist 'vip'; list the workspace's watchlists with `sealwatch watchlist list`"},
		{"no argument", "_GetWatchlist()", "expects one argument"},
		{"a column", "_GetWatchlist(Account)", "expects one argument"},
		{"a column the watchlist lacks", "_GetWatchlist('vips') | project Email", "Email"},
		{"as a scalar", "print _GetWatchlist('vips')", "_GetWatchlist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.query, src.Catalog())
			var be *BindError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a bind error saying %q", err, tc.want)
			}
		})
	}
}

func TestGetWatchlistRowsCountAgainstTheQueryMemory(t *testing.T) {
	src := watchlistSource(t, 20000)
	_, err := runWatchlistQuery(t, src, "_GetWatchlist('vips') | where Dept != '' | count", Options{MaxMemory: 1 << 20})
	var le *LimitError
	if !errors.As(err, &le) || le.Operator != "_GetWatchlist" {
		t.Fatalf("a 2.5 MB watchlist under a 1 MB limit: %v, want a limit error naming _GetWatchlist", err)
	}
	res, err := runWatchlistQuery(t, src, "_GetWatchlist('vips') | where Dept != '' | count", Options{MaxMemory: 64 << 20})
	if err != nil || res.Tables[0].Rows[0][0] != int64(20002) {
		t.Fatalf("under a 64 MB limit: %v %v", res, err)
	}
}

// holdingSource serves its tables through iterators that say they hold
// held bytes, as a source holding a watchlist whole does.
type holdingSource struct {
	*MemSource
	held int64
}

type holdingIter struct {
	BatchIterator
	held int64
}

func (it holdingIter) HeldBytes() int64 { return it.held }

func (s holdingSource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	it, err := s.MemSource.Scan(ctx, req)
	return holdingIter{it, s.held}, err
}

// TestAWatchlistHeldWholeIsChargedWhateverTheQueryReads: a source that
// holds a watchlist whole has it charged when the scan opens, even for a
// query that reads none of its columns.
func TestAWatchlistHeldWholeIsChargedWhateverTheQueryReads(t *testing.T) {
	mem := watchlistSource(t, 0)
	q, err := Compile("_GetWatchlist('vips') | count", mem.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	run := func(held, limit int64) error {
		_, err := q.Run(context.Background(), holdingSource{mem, held}, Options{Now: fixtureNow, MaxMemory: limit})
		return err
	}
	var le *LimitError
	if err := run(8<<20, 4<<20); !errors.As(err, &le) || le.Operator != "_GetWatchlist" {
		t.Fatalf("8 MB held under a 4 MB limit: %v, want a limit error naming _GetWatchlist", err)
	}
	if err := run(1<<20, 4<<20); err != nil {
		t.Fatalf("1 MB held under a 4 MB limit: %v", err)
	}
}
