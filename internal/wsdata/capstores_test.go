package wsdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// capData is a data plane over platform-keyed workspaces that keeps at most
// maxOpen log stores open, on a clock that moves only when told to.
func capData(t *testing.T, maxOpen int) (*Data, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := nodeData(t, db, Options{MaxOpenStores: maxOpen, ControlDB: db})
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	d.now = func() time.Time { return time.Unix(0, clock.Load()) }
	return d, &clock
}

// nodeData is one node's data plane over platform-keyed workspaces, its
// keys and documents in db, its logs in a directory of its own.
func nodeData(t *testing.T, db kv.DB, opts Options) *Data {
	t.Helper()
	return nodeDataIn(t, filepath.Join(t.TempDir(), "logs"), db, opts)
}

// nodeDataIn is nodeData over the directory dir.
func nodeDataIn(t *testing.T, dir string, db kv.DB, opts Options) *Data {
	t.Helper()
	platform, err := keyring.NewPlatformKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := clusterkeys.New(clusterkeys.Config{
		DB: db, Platform: platform,
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc"},
		NewKEK: func(clusterkeys.KEKRequest) (keyring.KEK, error) {
			return nil, errors.New("this test serves no customer-managed key")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	d, err := New(dir, db, keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func capWorkspace(i int) *workspace.WorkspaceInfo {
	ws := &workspace.WorkspaceInfo{}
	ws.Workspace.Properties.CustomerID = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	ws.Workspace.Properties.RetentionInDays = 30
	return ws
}

// openStores are the workspaces whose log store is open.
func (d *Data) openStores() []string {
	var ids []string
	for id := range d.slots() {
		if d.openStoreOf(id) != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// ingestOne appends one row to ws's Events_CL through Logs.
func ingestOne(t *testing.T, d *Data, ws *workspace.WorkspaceInfo, msg string) {
	t.Helper()
	if err := ingestRow(d, ws, msg); err != nil {
		t.Fatal(err)
	}
}

func ingestRow(d *Data, ws *workspace.WorkspaceInfo, msg string) error {
	st, err := d.Logs(context.Background(), ws)
	if err != nil {
		return err
	}
	body := fmt.Sprintf(`[{"TimeGenerated":%q,"Message":%q}]`, time.Now().UTC().Format(time.RFC3339), msg)
	_, err = st.Ingest(context.Background(), ws.Workspace.Properties.CustomerID, "Events_CL", []byte(body))
	return err
}

// messages answers ws's Events_CL rows by message through Logs.
func messages(t *testing.T, d *Data, ws *workspace.WorkspaceInfo) string {
	t.Helper()
	st, err := d.Logs(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, NewSource(st, ws.Workspace.Properties.CustomerID), "Events_CL | summarize n=count() by Message | sort by Message asc")
	return fmt.Sprint(res.Rows)
}

// TestMaxOpenStoresClosesTheLeastRecentlyUsed: with a bound of two, using
// three workspaces in turn keeps two stores open; the one closed was
// flushed, and answers the same when used again.
func TestMaxOpenStoresClosesTheLeastRecentlyUsed(t *testing.T) {
	d, clock := capData(t, 2)
	var ws []*workspace.WorkspaceInfo
	for i := range 3 {
		ws = append(ws, capWorkspace(i))
	}
	for round, msg := range []string{"a", "b"} {
		for i, w := range ws {
			ingestOne(t, d, w, fmt.Sprint(msg, i))
			clock.Add(int64(handoutGrace) + 1)
			d.caps.Wait()
			if open := d.openStores(); len(open) > 2 {
				t.Fatalf("round %d, workspace %d: %d stores open, want at most 2", round, i, len(open))
			}
			// The third store's open closed the first, least recently
			// used, its rows sealed into segments before it was: none is
			// left to a closed WAL.
			if round == 0 && i == 2 {
				first := ws[0].Workspace.Properties.CustomerID
				if d.openStoreOf(first) != nil {
					t.Fatal("the least recently used store is still open")
				}
				if segmentFiles(t, filepath.Join(d.dir, first)) == 0 {
					t.Fatal("the store was closed with its rows left in the write-ahead log")
				}
			}
		}
	}
	for i, w := range ws {
		clock.Add(int64(handoutGrace) + 1)
		want := fmt.Sprintf("[[a%d 1] [b%d 1]]", i, i)
		if got := messages(t, d, w); got != want {
			t.Errorf("workspace %d answers %s, want %s", i, got, want)
		}
		d.caps.Wait()
	}
	if open := d.openStores(); len(open) != 2 {
		t.Fatalf("%d stores open after the queries, want 2", len(open))
	}
}

// segmentFiles counts the sealed segments under dir.
func segmentFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestMaxOpenStoresLeavesStoresInUse: a store with a scan open, or handed
// out a moment ago, is not closed to make room; the bound is exceeded
// until it is free, and the next open closes it then.
func TestMaxOpenStoresLeavesStoresInUse(t *testing.T) {
	d, clock := capData(t, 1)
	a, b, c := capWorkspace(1), capWorkspace(2), capWorkspace(3)
	ingestOne(t, d, a, "x")
	st, err := d.Logs(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := st.Scan(context.Background(), logstore.ScanRequest{Workspace: a.Workspace.Properties.CustomerID, Table: "Events_CL"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(time.Hour))
	ingestOne(t, d, b, "y")
	d.caps.Wait()
	if open := d.openStores(); len(open) != 2 {
		t.Fatalf("%d stores open, want both: one scanned, one just handed out", len(open))
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	// b was handed out within the grace: c's open closes a only.
	ingestOne(t, d, c, "z")
	d.caps.Wait()
	if d.openStoreOf(a.Workspace.Properties.CustomerID) != nil {
		t.Error("the store no longer in use was left open over the bound")
	}
	if d.openStoreOf(b.Workspace.Properties.CustomerID) == nil {
		t.Error("a store handed out within the grace was closed")
	}
	if got := messages(t, d, a); got != "[[x 1]]" {
		t.Errorf("reopened store answers %s", got)
	}
}

// TestMaxOpenStoresLeavesAHeldSourceOpen: a query holds its store between
// its scans, which may be further apart than the grace; the bound does not
// close the store under it, and does once the query released it.
func TestMaxOpenStoresLeavesAHeldSourceOpen(t *testing.T) {
	d, clock := capData(t, 1)
	a, b, c := capWorkspace(1), capWorkspace(2), capWorkspace(3)
	ingestOne(t, d, a, "x")
	src, err := d.Source(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(time.Hour))
	ingestOne(t, d, b, "y")
	d.caps.Wait()
	if d.openStoreOf(a.Workspace.Properties.CustomerID) == nil {
		t.Fatal("the store of a query under way was closed between its scans")
	}
	if got := fmt.Sprint(run(t, src, "Events_CL | summarize n=count() by Message").Rows); got != "[[x 1]]" {
		t.Fatalf("the held source answers %s after another store opened", got)
	}
	src.Release()
	clock.Add(int64(time.Hour))
	ingestOne(t, d, c, "z")
	d.caps.Wait()
	if d.openStoreOf(a.Workspace.Properties.CustomerID) != nil {
		t.Error("the store stayed open over the bound after its query released it")
	}
}

// TestMaxOpenStoresUnderConcurrentUse: workspaces ingested from several
// goroutines while the bound closes the stores of earlier rounds lose no
// row and fail no call; run with -race. The clock moves between rounds
// only: a store handed out is used within the grace, as in service.
func TestMaxOpenStoresUnderConcurrentUse(t *testing.T) {
	d, clock := capData(t, 2)
	const workers, rounds = 4, 20
	for r := range rounds {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ingestRow(d, capWorkspace((r+w)%6), fmt.Sprint("w", w)); err != nil {
					t.Errorf("worker %d, round %d: %v", w, r, err)
				}
				if w == 0 {
					if err := d.Flush(context.Background()); err != nil {
						t.Errorf("flush: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		clock.Add(int64(handoutGrace) + 1)
	}
	d.caps.Wait()
	total := 0
	for i := range 6 {
		st, err := d.Logs(context.Background(), capWorkspace(i))
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, NewSource(st, capWorkspace(i).Workspace.Properties.CustomerID), "Events_CL | count")
		total += int(res.Rows[0][0].(int64))
	}
	if total != workers*rounds {
		t.Fatalf("%d rows answered, want %d", total, workers*rounds)
	}
}

// TestAnIdleCloseNeverClosesTheStoreOfASourceHandedOut: stores closed as
// idle as fast as the closer can (an idle time of zero, on a clock that
// does not move) while queries take sources, build their catalogs and
// run: the store is held from the hand-out, so no query finds its store
// closed; once every source is released, the closer closes it. Run with
// -race.
func TestAnIdleCloseNeverClosesTheStoreOfASourceHandedOut(t *testing.T) {
	d, _ := capData(t, 0)
	ws := capWorkspace(1)
	ingestOne(t, d, ws, "x")
	ctx := context.Background()
	stop := make(chan struct{})
	closer := make(chan int)
	go func() {
		closed := 0
		for {
			select {
			case <-stop:
				closer <- closed
				return
			default:
				closed += d.CloseIdle(ctx, 0)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if err := queryOnce(ctx, d, ws); err != nil {
					t.Errorf("worker %d, query %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if closed := <-closer; closed == 0 {
		t.Fatal("the closer closed no store: it raced with nothing")
	}
	if d.CloseIdle(ctx, 0); d.openStoreOf(ws.Workspace.Properties.CustomerID) != nil {
		t.Fatal("the store stayed open once every source was released")
	}
}

// queryOnce runs a count as the query API does, and releases the source.
func queryOnce(ctx context.Context, d *Data, ws *workspace.WorkspaceInfo) error {
	src, err := d.Source(ctx, ws)
	if err != nil {
		return err
	}
	defer src.Release()
	cat, err := kql.CatalogOf(ctx, src)
	if err != nil {
		return err
	}
	q, err := kql.Compile("Events_CL | summarize count() by Message", cat)
	if err != nil {
		return err
	}
	res, err := q.Run(ctx, src, kql.Options{})
	if err != nil {
		return err
	}
	defer res.Release()
	if got := fmt.Sprint(res.Tables[0].Rows); got != "[[x 1]]" {
		return fmt.Errorf("answered %s", got)
	}
	return nil
}
