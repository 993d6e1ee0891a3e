package wsdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/watchlist"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// cmkFixture is a data plane with one workspace under a customer-managed
// key whose vault the test controls.
type cmkFixture struct {
	d    *Data
	keys *clusterkeys.Manager
	kek  *kektest.KEK
	ws   *workspace.WorkspaceInfo
}

// cmkData opens a data plane over a workspace of cluster c1, whose key is
// kek, with a table of rows (SecEvents_CL, flushed), a declared custom
// table, a watchlist and a function.
func cmkData(tb testing.TB) *cmkFixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "control.db"), boltkv.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	kek := kektest.New("cmk")
	keys, err := clusterkeys.New(clusterkeys.Config{
		DB: db, Platform: kektest.New("platform"),
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc"},
		NewKEK:        func(clusterkeys.KEKRequest) (keyring.KEK, error) { return kek, nil },
		// probes only when told to (ProbeNow)
		KeyCheckInterval: time.Hour, UnreachableGrace: time.Hour,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { keys.Close() })
	kv := workspace.KeyVaultProperties{KeyVaultURI: "https://v.vault.localhost/", KeyName: "cmk"}
	if err := keys.SetClusterKey(ctx, "c1", workspace.Principal{ObjectID: "c1-id", AppID: "c1-app"}, kv); err != nil {
		tb.Fatal(err)
	}
	d, err := New(filepath.Join(dir, "logs"), db, keys, Options{ControlDB: db})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	ws := &workspace.WorkspaceInfo{ClusterID: "c1", CMK: true, Onboarded: true}
	ws.Workspace.ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"
	ws.Workspace.Properties.CustomerID = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"
	ws.Workspace.Properties.RetentionInDays = 30
	f := &cmkFixture{d: d, keys: keys, kek: kek, ws: ws}

	st, err := d.Logs(ctx, ws)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	var rows []map[string]any
	for i := range 2000 {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339Nano),
			"Computer": fmt.Sprintf("host-%d", i%8), "EventID": 4624 + i%3, "Account": fmt.Sprintf("u%d", i%50)})
	}
	body, _ := json.Marshal(rows)
	if _, err := st.Ingest(ctx, ws.Workspace.Properties.CustomerID, "SecEvents_CL", body); err != nil {
		tb.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	f.declare(tb, "Firewall_CL", "Zone")
	f.putWatchlist(tb, "badips", "IP,Campaign\n203.0.113.7,Storm\n")
	f.putFunction(tb, "hosts", "SecEvents_CL | distinct Computer")
	return f
}

// declare declares custom table name with TimeGenerated and string columns.
func (f *cmkFixture) declare(tb testing.TB, name string, columns ...string) {
	tb.Helper()
	tabs, err := f.d.Tables(context.Background(), f.ws)
	if err != nil {
		tb.Fatal(err)
	}
	cols := []map[string]string{{"name": "TimeGenerated", "type": "datetime"}}
	for _, c := range columns {
		cols = append(cols, map[string]string{"name": c, "type": "string"})
	}
	props, _ := json.Marshal(map[string]any{"schema": map[string]any{"columns": cols}})
	if _, _, err := tabs.Put(context.Background(), name, props, ""); err != nil {
		tb.Fatal(err)
	}
}

// putWatchlist creates or replaces watchlist alias with the CSV raw, its
// first column the search key.
func (f *cmkFixture) putWatchlist(tb testing.TB, alias, raw string) {
	tb.Helper()
	docs, err := f.d.Docs(context.Background(), f.ws)
	if err != nil {
		tb.Fatal(err)
	}
	key, _, _ := strings.Cut(raw, ",")
	props, _ := json.Marshal(map[string]any{"displayName": alias, "provider": "SOC", "itemsSearchKey": key, "contentType": "text/csv", "rawContent": raw})
	wl := watchlist.New(docs, f.ws.Workspace.Properties.CustomerID, f.ws.Workspace.ID, nil)
	if _, _, err := wl.Put(context.Background(), alias, props, ""); err != nil {
		tb.Fatal(err)
	}
}

// putFunction saves a search with function alias name.
func (f *cmkFixture) putFunction(tb testing.TB, name, query string) {
	tb.Helper()
	ss, err := f.d.SavedSearches(context.Background(), f.ws)
	if err != nil {
		tb.Fatal(err)
	}
	props, _ := json.Marshal(map[string]any{"category": "test", "displayName": name, "functionAlias": name, "query": query})
	if _, _, err := ss.Put(context.Background(), name, props, ""); err != nil {
		tb.Fatal(err)
	}
}

// query runs q as the query API does: a source, its catalog, the query.
func (f *cmkFixture) query(ctx context.Context, q string) (*kql.Result, error) {
	src, err := f.d.Source(ctx, f.ws)
	if err != nil {
		return nil, err
	}
	defer src.Release()
	cat, err := kql.CatalogOf(ctx, src)
	if err != nil {
		return nil, err
	}
	cq, err := kql.Compile(q, cat)
	if err != nil {
		return nil, err
	}
	return cq.Run(ctx, src, kql.Options{})
}

// catalogOf is the catalog the query API would compile the next query
// against.
func (f *cmkFixture) catalogOf(t *testing.T) kql.Catalog {
	t.Helper()
	ctx := context.Background()
	src, err := f.d.Source(ctx, f.ws)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := kql.CatalogOf(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// cached is the workspace's catalog cache.
func (f *cmkFixture) cached(t *testing.T) *catalogCache {
	t.Helper()
	o := f.d.openStoreOf(f.ws.Workspace.Properties.CustomerID)
	if o == nil {
		t.Fatal("the workspace's log store is not open")
	}
	return o.catalog
}

func columnsOfTable(cat kql.Catalog, table string) string {
	for _, ts := range cat.Tables {
		if ts.Name == table {
			var cols []string
			for _, c := range ts.Columns {
				cols = append(cols, c.Name+":"+c.Type.String())
			}
			return fmt.Sprintf("%v empty=%v", cols, ts.Empty)
		}
	}
	return "absent"
}

func functionQuery(cat kql.Catalog, name string) string {
	for _, fn := range cat.Functions {
		if fn.Name == name {
			return fn.Body
		}
	}
	return "absent"
}

// TestTheNextQuerySeesEveryChangeOfWhatItsCatalogIsBuiltFrom: with the
// catalog kept between queries, each change of a table's rows, a
// declaration, a watchlist or a function is in the next query's catalog,
// exactly as a catalog built afresh has it; while nothing changes, the
// kept one is served, and so it is after rows of the columns and types a
// table holds.
func TestTheNextQuerySeesEveryChangeOfWhatItsCatalogIsBuiltFrom(t *testing.T) {
	f := cmkData(t)
	ctx := context.Background()
	ingest := func(table, row string) func(t *testing.T) {
		return func(t *testing.T) {
			st, err := f.d.Logs(ctx, f.ws)
			if err != nil {
				t.Fatal(err)
			}
			body := `[{"TimeGenerated":"` + time.Now().UTC().Format(time.RFC3339) + `",` + row + `}]`
			if _, err := st.Ingest(ctx, f.ws.Workspace.Properties.CustomerID, table, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name   string
		change func(t *testing.T)
		table  string // whose columns the step changes
		want   string
		kept   bool // the step changes nothing the catalog holds: it is served on
	}{
		{"rows of a new table", ingest("Dns_CL", `"Query":"example.com"`), "Dns_CL", "[TimeGenerated:datetime Query:string] empty=false", false},
		{"a new column in the WAL", ingest("Dns_CL", `"Query":"example.org","Answer":"192.0.2.1"`), "Dns_CL", "[TimeGenerated:datetime Answer:string Query:string] empty=false", false},
		{"rows of the known columns in the WAL", ingest("Dns_CL", `"Query":"example.net","Answer":"192.0.2.2"`), "Dns_CL", "[TimeGenerated:datetime Answer:string Query:string] empty=false", true},
		{"the WAL flushed", func(t *testing.T) {
			if err := f.d.FlushLogs(ctx, f.ws, ""); err != nil {
				t.Fatal(err)
			}
		}, "Dns_CL", "[TimeGenerated:datetime Answer:string Query:string] empty=false", false},
		{"a table declared", func(t *testing.T) { f.declare(t, "Proxy_CL", "Url") }, "Proxy_CL", "[TimeGenerated:datetime Url:string] empty=true", false},
		{"a declaration changed", func(t *testing.T) { f.declare(t, "Proxy_CL", "Url", "Host") }, "Proxy_CL", "[TimeGenerated:datetime Url:string Host:string] empty=true", false},
		{"rows of a declared table", ingest("Proxy_CL", `"Host":"h","Port":"8080"`), "Proxy_CL", "[TimeGenerated:datetime Url:string Host:string Port:string] empty=false", false},
		{"a declaration deleted", func(t *testing.T) {
			tabs, err := f.d.Tables(ctx, f.ws)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tabs.Delete(ctx, "Firewall_CL", ""); err != nil {
				t.Fatal(err)
			}
		}, "Firewall_CL", "absent", false},
		{"a watchlist added", func(t *testing.T) { f.putWatchlist(t, "vips", "User,Dept\nalice,Finance\n") }, kql.WatchlistTable("vips"), "[_DTItemId:string LastUpdatedTimeUTC:datetime SearchKey:string WatchlistItem:dynamic User:string Dept:string] empty=false", false},
		{"a watchlist's columns changed", func(t *testing.T) { f.putWatchlist(t, "vips", "User,Team\nalice,Red\n") }, kql.WatchlistTable("vips"), "[_DTItemId:string LastUpdatedTimeUTC:datetime SearchKey:string WatchlistItem:dynamic User:string Team:string] empty=false", false},
	}
	f.catalogOf(t) // built
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			kept := f.cached(t).tables
			if kept == nil {
				t.Fatal("no catalog kept before the change")
			}
			s.change(t)
			got := columnsOfTable(f.catalogOf(t), s.table)
			if got != s.want {
				t.Fatalf("%s after the change: %s, want %s", s.table, got, s.want)
			}
			switch {
			case s.kept && f.cached(t).tables != kept:
				t.Fatal("the catalog kept before rows of known columns was built again after them")
			case !s.kept && f.cached(t).tables == kept:
				t.Fatal("the catalog kept before the change was served after it")
			}
			afresh, err := f.d.Source(ctx, f.ws)
			if err != nil {
				t.Fatal(err)
			}
			afresh.catalog = nil
			built, err := afresh.Tables(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cached := f.catalogOf(t).Tables; fmt.Sprint(cached) != fmt.Sprint(built) {
				t.Fatalf("the kept catalog differs from one built afresh:\n%v\n%v", cached, built)
			}
			again := f.cached(t).tables
			f.catalogOf(t)
			if f.cached(t).tables != again {
				t.Fatal("with nothing changed, the next query built its catalog again")
			}
		})
	}

	fnSteps := []struct {
		name   string
		change func(t *testing.T)
		want   string
	}{
		{"a function changed", func(t *testing.T) { f.putFunction(t, "hosts", "SecEvents_CL | distinct Account") }, "SecEvents_CL | distinct Account"},
		{"a function added", func(t *testing.T) { f.putFunction(t, "accounts", "SecEvents_CL | distinct Account") }, "SecEvents_CL | distinct Account"},
		{"a function deleted", func(t *testing.T) {
			ss, err := f.d.SavedSearches(ctx, f.ws)
			if err != nil {
				t.Fatal(err)
			}
			if err := ss.Delete(ctx, "accounts", ""); err != nil {
				t.Fatal(err)
			}
		}, "absent"},
	}
	for _, s := range fnSteps {
		t.Run(s.name, func(t *testing.T) {
			kept := f.cached(t).functions
			if kept == nil {
				t.Fatal("no functions kept before the change")
			}
			s.change(t)
			name := "hosts"
			if s.name != "a function changed" {
				name = "accounts"
			}
			if got := functionQuery(f.catalogOf(t), name); got != s.want {
				t.Fatalf("function %s after the change: %q, want %q", name, got, s.want)
			}
			again := f.cached(t).functions
			f.catalogOf(t)
			if again == kept || f.cached(t).functions != again {
				t.Fatal("the functions kept were not replaced once, then served")
			}
		})
	}
}

// TestAKeptCatalogNeverAnswersPastAChangeOfTheKey: once the key is
// revoked, the next query — one that reads rows, and one that reads none
// but compiles against the catalog — fails with the revocation as it did
// without the cache, and the kept catalog is dropped; while the vault is
// unreachable within the grace, queries answer from catalogs built afresh
// and none is kept; once the key is back, one is kept again.
func TestAKeptCatalogNeverAnswersPastAChangeOfTheKey(t *testing.T) {
	f := cmkData(t)
	ctx := context.Background()
	count := func() (string, error) {
		res, err := f.query(ctx, "SecEvents_CL | count")
		if err != nil {
			return "", err
		}
		defer res.Release()
		return fmt.Sprint(res.Tables[0].Rows), nil
	}
	if got, err := count(); err != nil || got != "[[2000]]" {
		t.Fatalf("count before revocation: %s, %v", got, err)
	}
	if f.cached(t).tables == nil || f.cached(t).functions == nil {
		t.Fatal("no catalog kept while the key is Accessible")
	}

	f.kek.SetEnabled(f.kek.Latest(), false)
	f.keys.ProbeNow(ctx, "c1")
	for _, q := range []string{"SecEvents_CL | count", "print 1", "hosts | count"} {
		if _, err := f.query(ctx, q); !errors.Is(err, keyring.ErrKeyRevoked) {
			t.Fatalf("%s after revocation: %v, want the revocation", q, err)
		}
	}
	src, err := f.d.Source(ctx, f.ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kql.CatalogOf(ctx, src); !errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("the catalog after revocation: %v, want the revocation", err)
	}
	if c := f.cached(t); c.tables != nil || c.functions != nil {
		t.Fatal("the catalog decrypted before the revocation is still kept")
	}

	f.kek.SetEnabled(f.kek.Latest(), true)
	f.keys.ProbeNow(ctx, "c1")
	if got, err := count(); err != nil || got != "[[2000]]" {
		t.Fatalf("count after restore: %s, %v", got, err)
	}
	if f.cached(t).tables == nil {
		t.Fatal("no catalog kept once the key is back")
	}

	f.kek.SetUnreachable(true)
	f.keys.ProbeNow(ctx, "c1")
	if st := f.keys.KeyState("c1"); st != keyring.Unreachable.String() {
		t.Fatalf("key state with the vault down: %s", st)
	}
	for range 2 {
		if got, err := count(); err != nil || got != "[[2000]]" {
			t.Fatalf("count within the grace: %s, %v", got, err)
		}
		if c := f.cached(t); c.tables != nil || c.functions != nil {
			t.Fatal("a catalog was kept while the key is not Accessible")
		}
	}
}

// TestQueriesShareAKeptCatalogWhileItChanges: queries run at once over a
// kept catalog while rows with new columns arrive and tables are declared;
// run with -race, it proves that what the catalog shares is never written.
func TestQueriesShareAKeptCatalogWhileItChanges(t *testing.T) {
	f := cmkData(t)
	ctx := context.Background()
	st, err := f.d.Logs(ctx, f.ws)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			var err error
			for i := 0; err == nil; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				q := []string{"SecEvents_CL | count", "union * | count", "Firewall_CL | count", "hosts | count"}[(g+i)%4]
				var res *kql.Result
				if res, err = f.query(ctx, q); err == nil {
					res.Release()
				}
			}
			errs <- err
		}()
	}
	for i := range 20 {
		body := fmt.Sprintf(`[{"TimeGenerated":%q,"Col%d":"v"}]`, time.Now().UTC().Format(time.RFC3339), i)
		if _, err := st.Ingest(ctx, f.ws.Workspace.Properties.CustomerID, "SecEvents_CL", []byte(body)); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			f.declare(t, fmt.Sprintf("New%d_CL", i), "A")
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
