package logstore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

// TestTheLogsOfAnAdoptedLineageAreTakenOnceOrKept: a acknowledges 20 rows
// it never flushes, after 40 it flushed, and stops; b adopts its lineage
// (the 40). A store under a's new lineage takes the 20 from a's logs, or,
// when which logs were flushed can no longer be told or a log is damaged,
// keeps them where they are and takes nothing; it refuses a lineage that
// was not adopted. The rows it takes are ingested anew, an hour after a
// took them: late rows for the rules.
func TestTheLogsOfAnAdoptedLineageAreTakenOnceOrKept(t *testing.T) {
	for _, c := range []struct {
		name    string
		adopt   bool
		before  func(t *testing.T, cl cluster, aDir string, next *Store)
		kept    bool
		refused bool
	}{
		{name: "taken", adopt: true},
		{name: "a reseal a crash cut short", adopt: true, before: func(t *testing.T, _ cluster, aDir string, _ *Store) {
			dir := filepath.Join(aDir, ws, tbl, resealDir)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, walFileName(1)), []byte("torn"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the adopted lineage swept", adopt: true, kept: true, before: func(t *testing.T, cl cluster, _ string, _ *Store) {
			if err := cl.ledger.ForgetLineage(context.Background(), ws, tbl, "node-a"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the table written under the new lineage", adopt: true, kept: true, before: func(t *testing.T, _ cluster, _ string, next *Store) {
			mustIngest(t, next, ws, tbl, eventsBody(t, 100, 1, testNow))
			if err := next.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a damaged log", adopt: true, kept: true, before: func(t *testing.T, _ cluster, aDir string, _ *Store) {
			for _, p := range fencedLogs(t, aDir) {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)-1] ^= 1
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "a lineage not adopted", refused: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
			var now atomic.Int64
			now.Store(testNow.UnixNano())
			clock := func(cfg *Config) { cfg.Now = func() time.Time { return time.Unix(0, now.Load()) } }
			a, b := cl.node(t, "node-a", clock), cl.node(t, "node-b", clock)
			aDir := a.cfg.Dir
			mustIngest(t, a, ws, tbl, eventsBody(t, 0, 40, testNow))
			if err := a.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustIngest(t, a, ws, tbl, eventsBody(t, 40, 20, testNow))
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if c.adopt {
				if got, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a"); err != nil || got.Rows != 40 || got.Unflushed != 1 {
					t.Fatalf("adopt: %+v, %v; want a's 40 flushed rows, and its one record unflushed", got, err)
				}
			}
			next := cl.node(t, "node-a2", clock)
			if c.before != nil {
				c.before(t, cl, aDir, next)
				next = cl.node(t, "node-a2", clock, func(cfg *Config) { cfg.Dir = next.cfg.Dir })
			}
			logs := fencedLogs(t, aDir)
			now.Add(int64(time.Hour)) // a was down
			takenAt := now.Load()
			f, err := next.TakeFenced(context.Background(), ws, aDir, "node-a")
			switch {
			case c.refused:
				if err == nil {
					t.Fatalf("took the logs of a lineage not adopted: %+v", f)
				}
				return
			case err != nil:
				t.Fatal(err)
			case c.kept:
				if f.WALs != 0 || !slices.Equal(f.Kept, []string{tbl}) || !slices.Equal(fencedLogs(t, aDir), logs) {
					t.Fatalf("took %+v, left %v of %v; want table %s kept as it was", f, fencedLogs(t, aDir), logs, tbl)
				}
				return
			}
			if f.WALs != 1 || f.Records != 1 || len(f.Kept) != 0 {
				t.Fatalf("took %+v; want a's one log of one record", f)
			}
			if _, err := os.Stat(filepath.Join(aDir, ws, tbl)); !os.IsNotExist(err) {
				t.Fatalf("a's logs are still there once taken: %v", err)
			}
			if n := distinctRows(t, next, "under the new lineage"); n != 60 {
				t.Fatalf("under the new lineage: %d rows, want a's 60", n)
			}
			late, err := scanAll(next, ScanRequest{Workspace: ws, Table: tbl, IngestedAfter: time.Unix(0, takenAt-1)})
			if err != nil || len(rowsOf(late)) != 20 {
				t.Fatalf("%d rows ingested since they were taken again (%v); want the 20 taken, as late rows", len(rowsOf(late)), err)
			}
		})
	}
}

// fencedLogs are the logs of table tbl of ws in a store's directory.
func fencedLogs(t *testing.T, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, ws, tbl, "*"+walExt))
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// TestACrashWhileTheLogsOfAnAdoptedLineageAreTakenTakesThemOnce: the node
// crashes once a's log is sealed again under the new lineage, before the
// old one is removed; started again on what the crash left, it takes the
// log no second time, and every row is read once, through it and, once it
// flushed them, through another node.
func TestACrashWhileTheLogsOfAnAdoptedLineageAreTakenTakesThemOnce(t *testing.T) {
	objDir := t.TempDir()
	objects, err := localfs.New(objDir)
	if err != nil {
		t.Fatal(err)
	}
	cl := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
	a, b := cl.node(t, "node-a"), cl.node(t, "node-b")
	aDir := a.cfg.Dir
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 40, testNow))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, ws, tbl, eventsBody(t, 40, 20, testNow))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a"); err != nil {
		t.Fatal(err)
	}
	next := cl.node(t, "node-a2")
	var crashA, crashNext, crashObjects string
	var crashLedger *MemLedger
	next.compactHook = func(s compactStep) {
		if s == stepTaken && crashA == "" {
			crashA, crashNext, crashObjects, crashLedger = copyDir(t, aDir), copyDir(t, next.cfg.Dir), copyDir(t, objDir), cloneLedger(cl.ledger)
		}
	}
	if f, err := next.TakeFenced(context.Background(), ws, aDir, "node-a"); err != nil || f.WALs != 1 {
		t.Fatalf("took %+v, %v; want a's one log", f, err)
	}
	if crashA == "" {
		t.Fatal("the take never reached the step of the crash")
	}
	if len(fencedLogs(t, crashA)) == 0 {
		t.Fatal("the crash left no log of a's: it came too late to test anything")
	}

	objects, err = localfs.New(crashObjects)
	if err != nil {
		t.Fatal(err)
	}
	cl = cluster{ledger: crashLedger, objects: objects, keys: cl.keys}
	again := cl.node(t, "node-a2", func(cfg *Config) { cfg.Dir = crashNext })
	if f, err := again.TakeFenced(context.Background(), ws, crashA, "node-a"); err != nil || f.WALs != 0 || len(f.Kept) != 0 {
		t.Fatalf("after the crash, took %+v, %v; want nothing more taken, nothing kept", f, err)
	}
	if logs := fencedLogs(t, crashA); len(logs) != 0 {
		t.Fatalf("a's logs are still there once taken: %v", logs)
	}
	if n := distinctRows(t, again, "the node started again"); n != 60 {
		t.Fatalf("the node started again: %d rows, want 60", n)
	}
	if err := again.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	reader := cl.node(t, "node-c")
	for name, st := range map[string]*Store{"the node started again, flushed": again, "another node": reader} {
		if n := distinctRows(t, st, name); n != 60 {
			t.Fatalf("%s: %d rows, want 60", name, n)
		}
	}
}
