package kql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingSource records every scan request and counts the cells it hands out per column, to
// prove that columns a query does not touch are never read.
type countingSource struct {
	*MemSource
	mu    sync.Mutex
	reqs  []ScanRequest
	cells map[string]int
}

func newCountingSource(t testing.TB) *countingSource {
	return &countingSource{MemSource: fixtureSource(t), cells: map[string]int{}}
}

func (s *countingSource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	it, err := s.MemSource.Scan(ctx, req)
	if err != nil {
		return nil, err
	}
	cols := make([]string, len(req.Columns))
	for i, c := range req.Columns {
		cols[i] = req.Table + "." + c
	}
	return &countingIter{BatchIterator: it, s: s, cols: cols}, nil
}

type countingIter struct {
	BatchIterator
	s    *countingSource
	cols []string
}

func (it *countingIter) Next(ctx context.Context) (*Batch, error) {
	b, err := it.BatchIterator.Next(ctx)
	if err == nil {
		it.s.mu.Lock()
		for i, c := range it.cols {
			it.s.cells[c] += len(b.Columns[i])
		}
		it.s.mu.Unlock()
	}
	return b, err
}

func runOn(t *testing.T, src Source, cat Catalog, q string, opts Options) *Result {
	t.Helper()
	cq, err := Compile(q, cat)
	if err != nil {
		t.Fatalf("compile %q: %v", q, err)
	}
	if opts.Now.IsZero() {
		opts.Now = fixtureNow
	}
	res, err := cq.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatalf("run %q: %v", q, err)
	}
	return res
}

func TestUntouchedColumnsAreNeverRead(t *testing.T) {
	for _, tc := range []struct {
		q    string
		cols []string
	}{
		{`Events | summarize count() by Computer`, []string{"Computer"}},
		{`Events | where EventID == 4625 | project Account`, []string{"EventID", "Account"}},
		{`Events | count`, nil},
		{`Events | where Account has "bob" | summarize max(Score) by Computer`, []string{"Computer", "Account", "Score"}},
		{`let T = Events | where Ok; T | summarize dcount(Account)`, []string{"Account", "Ok"}},
		{`Events | extend x = Count * 2 | project x`, []string{"Count"}},
		{`Events | join kind=inner (Users | project Account, Dept) on Account | project Dept`, []string{"Account"}},
		// TimeGenerated is on both sides but used on neither after the join
		{`Events | join kind=inner (Logs | extend Computer = Host) on Computer | summarize count() by Msg`, []string{"Computer"}},
		// the right side's TimeGenerated1 is used: the left one is read so that the name clashes
		{`Events | join kind=inner (Logs | extend Computer = Host) on Computer | project TimeGenerated1`, []string{"Computer", "TimeGenerated"}},
	} {
		t.Run(tc.q, func(t *testing.T) {
			src := newCountingSource(t)
			runOn(t, src, src.Catalog(), tc.q, Options{})
			if tc.cols == nil && len(src.reqs) > 1 {
				return
			}
			req := src.reqs[0]
			for _, r := range src.reqs {
				if r.Table == "Events" {
					req = r
				}
			}
			got := append([]string(nil), req.Columns...)
			slices.Sort(got)
			want := append([]string(nil), tc.cols...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("scan read columns %v, want %v", got, want)
			}
			for c := range src.cells {
				if strings.HasPrefix(c, "Events.") && !slices.Contains(want, strings.TrimPrefix(c, "Events.")) {
					t.Fatalf("column %s was read", c)
				}
			}
		})
	}
}

func TestJoinReadsOnlyColumnsUsedAfterIt(t *testing.T) {
	for _, tc := range []struct {
		q    string
		logs string
	}{
		{`Events | join kind=inner (Logs | extend Computer = Host) on Computer | summarize count() by Msg | order by Msg asc`, "Host,Msg"},
		{`Events | join kind=inner (Logs | extend Computer = Host) on Computer | project TimeGenerated1, Msg | order by Msg asc`, "TimeGenerated,Host,Msg"},
		{`Events | join kind=inner (Logs | extend Computer = Host) on Computer | project TimeGenerated, Msg | order by Msg asc`, "Host,Msg"},
	} {
		src := newCountingSource(t)
		res := runOn(t, src, src.Catalog(), tc.q, Options{})
		for _, r := range src.reqs {
			if r.Table == "Logs" && strings.Join(r.Columns, ",") != tc.logs {
				t.Errorf("%s: Logs read %v, want %s", tc.q, r.Columns, tc.logs)
			}
		}
		// the same answer as when every column is read (pack_all uses them all)
		every := strings.NewReplacer("Events |", "Events | extend _a = pack_all() |", "(Logs |", "(Logs | extend _b = pack_all() |").Replace(tc.q)
		all := runOn(t, fixtureSource(t), src.Catalog(), every, Options{})
		got, want := fmt.Sprint(res.Tables[0].Rows), fmt.Sprint(all.Tables[0].Rows)
		if got != want || len(res.Tables[0].Rows) == 0 {
			t.Errorf("%s: %s, with every column read %s", tc.q, got, want)
		}
	}
}

func TestSimplePredicatesAndTimeRangeArePushedDown(t *testing.T) {
	src := newCountingSource(t)
	q := `Events | where TimeGenerated > ago(3h) and Computer == "db01" and Account has "carol" | where EventID in (4625, 4688) | project Account`
	runOn(t, src, src.Catalog(), q, Options{})
	req := src.reqs[0]
	if want := fixtureNow.Add(-3*time.Hour + time.Nanosecond); !req.From.Equal(want) {
		t.Fatalf("From = %v, want %v (just after, since > is strict)", req.From, want)
	}
	var got []string
	for _, p := range req.Predicates {
		got = append(got, p.String())
	}
	for _, want := range []string{"Computer == db01", "Account has carol", "EventID in [4625 4688]"} {
		if !slices.Contains(got, want) {
			t.Fatalf("predicates %v lack %q", got, want)
		}
	}
	// the source filtered: only the one db01 row after 09:00 reached the engine
	if n := src.cells["Events.Account"]; n != 1 {
		t.Fatalf("source returned %d Account cells, want 1", n)
	}
}

func TestPredicatesAfterRowPreservingOperatorsArePushedDown(t *testing.T) {
	for q, want := range map[string]string{
		`Events | extend Host = tolower(Computer) | where Account == "bob" | project Host`: "Account == bob",
		`Events | project-rename User = Account | where User == "bob" | count`:             "Account == bob",
		`Events | project A = Account, Computer | where A has "bob" | count`:               "Account has bob",
		`Events | project-away Props | where Computer =~ "WEB01" | count`:                  "Computer =~ WEB01",
	} {
		src := newCountingSource(t)
		runOn(t, src, src.Catalog(), q, Options{})
		var got []string
		for _, p := range src.reqs[0].Predicates {
			got = append(got, p.String())
		}
		if !slices.Contains(got, want) {
			t.Errorf("%s: predicates %v lack %q", q, got, want)
		}
	}
	// a filter after take or sort must not move before it
	src := newCountingSource(t)
	res := runOn(t, src, src.Catalog(), `Events | take 2 | where Account == "carol" | count`, Options{})
	if len(src.reqs[0].Predicates) != 0 || res.Tables[0].Rows[0][0] != int64(0) {
		t.Fatalf("predicate pushed past take: %v, result %v", src.reqs[0].Predicates, res.Tables[0].Rows)
	}
	// a where on a column that extend replaced is not the scanned column
	src = newCountingSource(t)
	runOn(t, src, src.Catalog(), `Events | extend Account = tolower(Account) | where Account == "alice" | count`, Options{})
	if len(src.reqs[0].Predicates) != 0 {
		t.Fatalf("predicate on a computed column was pushed: %v", src.reqs[0].Predicates)
	}
}

func TestBetweenAndTimespanOptionBoundTheScan(t *testing.T) {
	src := newCountingSource(t)
	res := runOn(t, src, src.Catalog(), `Events | where TimeGenerated between (datetime(2026-11-26 08:00) .. datetime(2026-11-26 10:00)) | count`, Options{Timespan: 3 * time.Hour})
	req := src.reqs[0]
	if !req.From.Equal(fixtureNow.Add(-3*time.Hour)) || !req.To.Equal(ts("2026-11-26T10:00:00Z")) {
		t.Fatalf("scan range [%v, %v]", req.From, req.To)
	}
	// 09:00, 09:15, 10:00
	if n := res.Tables[0].Rows[0][0]; n != int64(3) {
		t.Fatalf("count = %v, want 3", n)
	}
	if len(req.Columns) != 1 || req.Columns[0] != TimeColumn {
		t.Fatalf("columns %v: the time filter needs only TimeGenerated", req.Columns)
	}
}

// TestBetweenEndingInATimespanBoundsTheScan: a datetime range may end with a
// timespan after its start; the scan's end is that instant, not the timespan.
func TestBetweenEndingInATimespanBoundsTheScan(t *testing.T) {
	src := newCountingSource(t)
	res := runOn(t, src, src.Catalog(), `Events | where TimeGenerated between (datetime(2026-11-26 08:00) .. 2h) | count`, Options{})
	req := src.reqs[0]
	if !req.From.Equal(ts("2026-11-26T08:00:00Z")) || !req.To.Equal(ts("2026-11-26T10:00:00Z")) {
		t.Fatalf("scan range [%v, %v], want [08:00, 10:00]", req.From, req.To)
	}
	// 08:00, 08:30, 09:00, 09:15, 10:00
	if n := res.Tables[0].Rows[0][0]; n != int64(5) {
		t.Fatalf("count = %v, want 5", n)
	}
}

// TestStrictTimeComparisonsBoundTheScanInsideTheirTime: From and To are
// inclusive, so `<` and `>` ask for the time range just inside their bound. A
// segment whose rows start exactly at the bound of `<` (hours start on the
// hour) is then not needed; were it damaged, the query would still answer.
func TestStrictTimeComparisonsBoundTheScanInsideTheirTime(t *testing.T) {
	at := ts("2026-11-26T09:00:00Z")
	for _, tc := range []struct {
		name, where string
		from, to    time.Time
	}{
		{"before is up to a nanosecond before", "TimeGenerated < datetime(2026-11-26 09:00)", time.Time{}, at.Add(-time.Nanosecond)},
		{"at or before includes it", "TimeGenerated <= datetime(2026-11-26 09:00)", time.Time{}, at},
		{"after is from a nanosecond after", "TimeGenerated > datetime(2026-11-26 09:00)", at.Add(time.Nanosecond), time.Time{}},
		{"at or after includes it", "TimeGenerated >= datetime(2026-11-26 09:00)", at, time.Time{}},
		{"the bound written first", "datetime(2026-11-26 09:00) > TimeGenerated", time.Time{}, at.Add(-time.Nanosecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newCountingSource(t)
			res := runOn(t, src, src.Catalog(), "Events | where "+tc.where+" | count", Options{})
			req := src.reqs[0]
			if !req.From.Equal(tc.from) || !req.To.Equal(tc.to) {
				t.Fatalf("scan range [%v, %v], want [%v, %v]", req.From, req.To, tc.from, tc.to)
			}
			all := runOn(t, sloppySource{fixtureSource(t)}, src.Catalog(), "Events | where "+tc.where+" | count", Options{})
			if got, want := fmt.Sprint(res.Tables[0].Rows), fmt.Sprint(all.Tables[0].Rows); got != want {
				t.Fatalf("count %s, with no range pushed %s", got, want)
			}
		})
	}
}

// sloppySource ignores predicates and time ranges: results must not change, since pushdown
// is only a hint.
type sloppySource struct{ *MemSource }

func (s sloppySource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	req.Predicates, req.From, req.To = nil, time.Time{}, time.Time{}
	return s.MemSource.Scan(ctx, req)
}

func TestPushdownIsOnlyAHint(t *testing.T) {
	src := fixtureSource(t)
	for _, c := range operatorCases[:40] {
		if c.err != "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			runCase(t, &MemSource{tables: src.tables, order: src.order, BatchSize: 2}, src.Catalog(), c)
		})
	}
	sl := sloppySource{src}
	res := runOn(t, sl, src.Catalog(), `Events | where TimeGenerated > ago(3h) and Computer =~ "DB01" | count`, Options{})
	if n := res.Tables[0].Rows[0][0]; n != int64(1) {
		t.Fatalf("count = %v, want 1", n)
	}
}

func TestRowLimitIsAClearError(t *testing.T) {
	src := fixtureSource(t)
	q, _ := Compile(`Events`, src.Catalog())
	_, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxRows: 5})
	var le *LimitError
	if !errors.Is(err, ErrTooManyRows) || !errors.As(err, &le) || le.Limit != 5 {
		t.Fatalf("err = %v, want ErrTooManyRows with limit 5", err)
	}
	if _, err := q.Run(context.Background(), src, Options{Now: fixtureNow, MaxRows: 6}); err != nil {
		t.Fatalf("6 rows within a limit of 6: %v", err)
	}
}

// blockingSource never returns a batch until its context ends.
type blockingSource struct{ *MemSource }

type blockingIter struct{}

func (blockingIter) Next(ctx context.Context) (*Batch, error) { <-ctx.Done(); return nil, ctx.Err() }
func (blockingIter) Close() error                             { return nil }

func (blockingSource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	return blockingIter{}, nil
}

func TestTimeoutAndCancellationStopTheQuery(t *testing.T) {
	src := blockingSource{fixtureSource(t)}
	q, _ := Compile(`Events | count`, src.Catalog())
	_, err := q.Run(context.Background(), src, Options{Timeout: 20 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := q.Run(ctx, src, Options{}); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestResultJSONMatchesTheQueryAPI(t *testing.T) {
	src := fixtureSource(t)
	res := runOn(t, src, src.Catalog(), `Events | take 1 | project TimeGenerated, Computer, EventID, Score, Ok, d = 90m, Props | render timechart with (title="x")`, Options{})
	b, err := jsonMarshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Computer","type":"string"},{"name":"EventID","type":"int"},{"name":"Score","type":"real"},{"name":"Ok","type":"bool"},{"name":"d","type":"timespan"},{"name":"Props","type":"dynamic"}],"rows":[["2026-11-26T08:00:00Z","web01",4624,1.5,true,"01:30:00",{"ip":"10.0.0.1","tags":["a","b"]}]]}],"render":{"visualization":"timechart","properties":{"title":"x"}}}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
}

func TestOneQueryRunsConcurrently(t *testing.T) {
	src := fixtureSource(t)
	q, err := Compile(`search "bob" | union (Events | summarize make_set(Account) by Computer) | join kind=leftouter (Users) on Account | count`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.Run(context.Background(), src, Options{Now: fixtureNow}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestEachStatementIsATable(t *testing.T) {
	src := fixtureSource(t)
	res := runOn(t, src, src.Catalog(), `Users | where Level > 2 | as Senior; Senior | count; print 1`, Options{})
	if len(res.Tables) != 3 || res.Tables[0].Name != "PrimaryResult" || res.Tables[1].Name != "Table_1" {
		t.Fatalf("tables %+v", res.Tables)
	}
	if n := res.Tables[1].Rows[0][0]; n != int64(2) {
		t.Fatalf("second statement counted %v, want 2", n)
	}
}
