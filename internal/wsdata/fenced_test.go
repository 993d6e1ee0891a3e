package wsdata

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// TestAnAcknowledgedRowSurvivesItsNodeComingBackAfterItsLineageWasAdopted:
// a acknowledges rows it never flushes and is killed; its lease runs out
// and b adopts its lineage (its segments only: the rows in a's logs are on
// a's disk). a starts again on its disk, finds its lineage adopted, goes on
// under a new one and re-ingests the rows of its logs the adopted manifest
// listed — not those of a log it had flushed before the crash and not yet
// removed (logstore's TestACrashWhileTheLogsOfAnAdoptedLineageAreTakenTakesThemOnce
// crashes it part way). Every row is read exactly once through a and
// through b.
func TestAnAcknowledgedRowSurvivesItsNodeComingBackAfterItsLineageWasAdopted(t *testing.T) {
	db, objects, clock := leasedStorage(t)
	ctx := context.Background()
	aDir := filepath.Join(t.TempDir(), "logs")
	a, b := leasedNodeIn(t, aDir, db, objects, "node-a", clock), leasedNode(t, db, objects, "node-b", clock)
	ws := capWorkspace(1)
	all := []workspace.WorkspaceInfo{*ws}
	id := ws.Workspace.Properties.CustomerID
	renew(t, a, b)
	if err := ingestAndFlush(t, a, ws, 0, 30); err != nil {
		t.Fatal(err)
	}
	// A log flushed whose file a crash left: its rows are in a segment.
	tableDir := filepath.Join(aDir, id, id, "Nodes_CL")
	ingest(t, a, ws, 30, 10)
	flushed := walFiles(t, tableDir)
	kept := readFiles(t, tableDir, flushed)
	if err := a.FlushLogs(ctx, ws, "Nodes_CL"); err != nil {
		t.Fatal(err)
	}
	ingest(t, a, ws, 40, 20) // acknowledged, never flushed

	// kill -9: the disk as it is now is what a finds when it starts again.
	image := filepath.Join(t.TempDir(), "logs")
	if err := os.CopyFS(image, os.DirFS(aDir)); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, filepath.Join(image, id, id, "Nodes_CL"), kept)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 0 { // b sees a's lease
		t.Fatalf("b adopted %d tables within a's lease (%v)", n, err)
	}
	clock.Add(int64(2 * time.Minute)) // a's lease runs out
	if err := b.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.AdoptLineages(ctx, all); err != nil || n != 1 {
		t.Fatalf("b adopted %d tables (%v); want a's one table", n, err)
	}
	onceEach(t, numbersThrough(t, b, ws), 40, "b after the adoption, its segments only")

	a = leasedNodeIn(t, image, db, objects, "node-a", clock)
	if err := a.RenewLineage(ctx); !errors.Is(err, logstore.ErrLineageAdopted) {
		t.Fatalf("the renewal of a started again: %v; want ErrLineageAdopted", err)
	}
	if err := a.ChangeLineage(ctx, "node-a2", all); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(image, fencedPrefix+"node-a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the logs kept aside are still there once taken: %v", err)
	}
	// Started again under its new lineage: nothing is left to take.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = leasedNodeIn(t, image, db, objects, "node-a2", clock)
	if err := a.RenewLineage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.TakeFenced(ctx, all); err != nil {
		t.Fatal(err)
	}
	onceEach(t, numbersThrough(t, a, ws), 60, "a under its new lineage, before it flushed")
	if err := a.FlushLogs(ctx, ws, "Nodes_CL"); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*Data{"a": a, "b": b} {
		onceEach(t, numbersThrough(t, d, ws), 60, "node "+name+" after a flushed the rows it took")
	}
}

// ingest acknowledges rows first..first+n-1 in ws's Nodes_CL, unflushed.
func ingest(t *testing.T, d *Data, ws *workspace.WorkspaceInfo, first, n int) {
	t.Helper()
	st, err := d.Logs(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(context.Background(), ws.Workspace.Properties.CustomerID, "Nodes_CL", numberedAt(first, n, time.Now())); err != nil {
		t.Fatal(err)
	}
}

// walFiles are the names of the write-ahead logs in dir.
func walFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no write-ahead log in %s (%v)", dir, err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return slices.Sorted(slices.Values(names))
}

func readFiles(t *testing.T, dir string, names []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestANodeWithASharedWALAcknowledgesOnlyWhileItsLeaseHolds: the rows a
// node stored are acknowledged only while less than three quarters of its
// lease ran since its last renewal began; without a shared WAL, its own
// logs keep them, and the lease is not asked.
func TestANodeWithASharedWALAcknowledgesOnlyWhileItsLeaseHolds(t *testing.T) {
	db, objects, _ := leasedStorage(t)
	const lease = time.Minute
	for i, c := range []struct {
		name      string
		shared    bool
		renew     bool
		renewedAt time.Duration // before now
		lapsed    bool
	}{
		{name: "never renewed", shared: true, lapsed: true},
		{name: "renewed now", shared: true, renew: true},
		{name: "renewed a fifth of a lease ago", shared: true, renew: true, renewedAt: lease / 5},
		{name: "renewed just under three quarters of a lease ago", shared: true, renew: true, renewedAt: lease*3/4 - time.Second},
		{name: "renewed just over three quarters of a lease ago", shared: true, renew: true, renewedAt: lease*3/4 + time.Second, lapsed: true},
		{name: "renewed a lease ago", shared: true, renew: true, renewedAt: lease, lapsed: true},
		{name: "no shared WAL, never renewed"},
		{name: "no shared WAL, renewed a lease ago", renew: true, renewedAt: lease},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{ControlDB: db, Objects: objects, Lineage: fmt.Sprintf("node-%d", i), LineageLease: lease}
			if c.shared {
				opts.SharedWAL = unusedSharedWAL{}
			}
			d := nodeData(t, db, opts)
			if c.renew {
				if err := d.RenewLineage(context.Background()); err != nil {
					t.Fatal(err)
				}
				at := d.renewed.Load().Add(-c.renewedAt)
				d.renewed.Store(&at)
			}
			if err := d.CheckLease(); errors.Is(err, ErrLeaseLapsed) != c.lapsed {
				t.Fatalf("CheckLease: %v; want lapsed %v", err, c.lapsed)
			}
		})
	}
}

// unusedSharedWAL is a shared WAL a test never writes to.
type unusedSharedWAL struct{ logstore.SharedWAL }
