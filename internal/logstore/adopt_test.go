package logstore

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

// cloneLedger is the ledger as a crash at this instant leaves it.
func cloneLedger(l *MemLedger) *MemLedger {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &MemLedger{m: maps.Clone(l.m), lineages: make(map[[2]string]map[string]Pointer)}
	for k, v := range l.lineages {
		c.lineages[k] = maps.Clone(v)
	}
	return c
}

// distinctRows counts a table's rows through st, failing on a row read twice.
func distinctRows(t *testing.T, st *Store, when string) int {
	t.Helper()
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	rows := rowsOf(got)
	slices.Sort(rows)
	if d := len(slices.Compact(slices.Clone(rows))); d != len(rows) {
		t.Fatalf("%s: %d rows, %d distinct: a row is read twice", when, len(rows), d)
	}
	return len(rows)
}

func lineageObjects(t *testing.T, objects objstore.Store, lineage string) int {
	t.Helper()
	entries, err := objects.List(context.Background(), lineagePrefix(ws, tbl, lineage))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestADeadLineageIsAdoptedAndItsRowsCountedOnce: node b adopts node a's
// lineage, a crash injected at each step of the adoption. A reader counts
// every row exactly once before, during (at the step) and after, and so does
// a node started on what the crash left, before and after it adopts again.
// The old owner, waking up, can no longer publish; once the grace is over
// the dead lineage's objects and pointer go.
func TestADeadLineageIsAdoptedAndItsRowsCountedOnce(t *testing.T) {
	for _, step := range []compactStep{stepIntent, stepPartial, stepWritten, stepCommitted} {
		t.Run(string(step), func(t *testing.T) {
			shared := t.TempDir()
			objects, err := localfs.New(shared)
			if err != nil {
				t.Fatal(err)
			}
			c := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
			var now atomic.Int64
			now.Store(testNow.UnixNano())
			clock := func(cfg *Config) {
				cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
				cfg.BlockRows = 16
			}
			a, b, reader := c.node(t, "node-a", clock), c.node(t, "node-b", clock), c.node(t, "node-c", clock)
			for i := range 3 {
				mustIngest(t, a, ws, tbl, eventsBody(t, i*20, 20, testNow.Add(-time.Duration(i)*time.Hour)))
				if err := a.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			mustIngest(t, b, ws, tbl, eventsBody(t, 60, 20, testNow))
			if err := b.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			const total = 80
			if n := distinctRows(t, reader, "before the adoption"); n != total {
				t.Fatalf("before the adoption: %d rows, want %d", n, total)
			}

			var crashDir string
			var crashLedger *MemLedger
			b.compactHook = func(s compactStep) {
				if s != step || crashDir != "" {
					return
				}
				crashDir, crashLedger = copyDir(t, shared), cloneLedger(c.ledger)
				if n := distinctRows(t, reader, "during the adoption"); n != total {
					t.Errorf("during the adoption, at %s: %d rows, want %d", step, n, total)
				}
			}
			got, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a")
			if err != nil || got.Segments == 0 || got.Rows != 60 {
				t.Fatalf("adopt: %+v, %v; want a's 60 rows", got, err)
			}
			if crashDir == "" {
				t.Fatalf("the adoption never reached step %s", step)
			}
			b.compactHook = nil
			for _, st := range []*Store{reader, b} {
				if n := distinctRows(t, st, "after the adoption"); n != total {
					t.Fatalf("after the adoption: %d rows, want %d", n, total)
				}
			}
			if ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl); ptrs["node-a"].Retired == 0 {
				t.Fatal("a's pointer is not retired")
			}

			// The old owner wakes up: it can neither publish nor open again.
			_, err = a.Ingest(context.Background(), ws, tbl, eventsBody(t, 100, 5, testNow))
			if err == nil {
				err = a.Flush(context.Background())
			}
			if !errors.Is(err, ErrLineageAdopted) {
				t.Fatalf("the old owner's ingest and flush after the adoption: %v; want ErrLineageAdopted", err)
			}
			if _, err := scanAll(c.node(t, "node-a", clock), ScanRequest{Workspace: ws, Table: tbl}); !errors.Is(err, ErrLineageAdopted) {
				t.Fatalf("the old owner opened again: %v; want ErrLineageAdopted", err)
			}

			// What the crash left: every row once, and the adoption done again.
			crashObjects, err := localfs.New(crashDir)
			if err != nil {
				t.Fatal(err)
			}
			crashed := cluster{ledger: crashLedger, objects: crashObjects, keys: c.keys}
			again := crashed.node(t, "node-b", clock)
			if n := distinctRows(t, crashed.node(t, "node-c", clock), "after the crash"); n != total {
				t.Fatalf("after a crash at %s: %d rows, want %d", step, n, total)
			}
			if _, err := again.AdoptLineage(context.Background(), ws, tbl, "node-a"); err != nil {
				t.Fatalf("adopt again after a crash at %s: %v", step, err)
			}
			if n := distinctRows(t, crashed.node(t, "node-d", clock), "after adopting again"); n != total {
				t.Fatalf("after adopting again: %d rows, want %d", n, total)
			}
			if d := again.Damage(); len(d) > 0 {
				t.Fatalf("a crash at %s left damage: %v", step, d)
			}

			// The grace over, a's objects and pointer go; the rows stay.
			if n, err := b.SweepAdopted(context.Background(), ws, tbl); err != nil || n != 0 {
				t.Fatalf("sweep within the grace: %d, %v", n, err)
			}
			now.Add(int64(DefaultRetiredGrace))
			if n, err := b.SweepAdopted(context.Background(), ws, tbl); err != nil || n != 1 {
				t.Fatalf("sweep after the grace: %d, %v; want a's lineage", n, err)
			}
			if n := lineageObjects(t, objects, "node-a"); n != 0 {
				t.Fatalf("%d objects of a's lineage after the sweep", n)
			}
			if ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl); len(ptrs) != 1 {
				t.Fatalf("pointers after the sweep: %v; want b's alone", slices.Collect(maps.Keys(ptrs)))
			}
			if n := distinctRows(t, c.node(t, "node-e", clock), "after the sweep"); n != total {
				t.Fatalf("after the sweep: %d rows, want %d", n, total)
			}
		})
	}
}

// TestAnAdoptedLineagesExpiredRowsAreNotAdopted: retention reaches a dead
// node's rows through the adoption, which leaves out those past it.
func TestAnAdoptedLineagesExpiredRowsAreNotAdopted(t *testing.T) {
	c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	clock := func(cfg *Config) {
		cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
		cfg.Retention = 48 * time.Hour
	}
	a, b := c.node(t, "node-a", clock), c.node(t, "node-b", clock)
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow.Add(-47*time.Hour)))
	mustIngest(t, a, ws, tbl, eventsBody(t, 10, 10, testNow))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(2 * time.Hour)) // the older rows are past retention now
	got, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a")
	if err != nil || got.Rows != 10 {
		t.Fatalf("adopt: %+v, %v; want the 10 rows within retention", got, err)
	}
	all, err := scanAll(b, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(all) != 10 {
		t.Fatalf("after the adoption: %d rows, %v; want 10", countRows(all), err)
	}
}

// TestAnAdoptionWithASharedWALTakesTheRowsTheDeadNodeNeverFlushed: node a
// is gone with its disk, rows acknowledged and not flushed; b adopts its
// lineage, sealing them first from the shared WAL: every row is b's, once,
// and nothing is left unflushed.
func TestAnAdoptionWithASharedWALTakesTheRowsTheDeadNodeNeverFlushed(t *testing.T) {
	c, sh := sharedCluster(t)
	b := c.node(t, "node-b", withShared(sh))
	loseDiskWithUnflushedRows(t, c, sh)
	got, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a")
	if err != nil || got.Rows != 35 || got.Unflushed != 0 {
		t.Fatalf("adopt: %+v, %v; want a's 35 rows, none left unflushed", got, err)
	}
	wantRows(t, b, 35, "node b after it adopted node a's lineage")
	wantRows(t, c.node(t, "node-c", withShared(sh)), 35, "another node after the adoption")
	if ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl); ptrs["node-a"].Retired == 0 {
		t.Fatal("a's pointer is not retired")
	}
}

// TestAnAdoptionOfALineageThatKeepsPublishingGivesUp: node a is taken for
// gone and is not (a skewed clock, a pause that ended), and publishes during
// every try of b's adoption. b merges a's segments again a bounded number of
// times, then gives up for the round, retiring nothing and leaving no
// merged segment behind, rather than merging for as long as a lives.
func TestAnAdoptionOfALineageThatKeepsPublishingGivesUp(t *testing.T) {
	c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
	a, b := c.node(t, "node-a"), c.node(t, "node-b")
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	tries, total := 0, 10
	b.compactHook = func(s compactStep) {
		if s != stepWritten {
			return
		}
		tries++
		if tries > 2*maxAdoptTries {
			return // a stops publishing, so that an endless adoption ends
		}
		mustIngest(t, a, ws, tbl, eventsBody(t, total, 1, testNow))
		if err := a.Flush(context.Background()); err != nil {
			t.Errorf("a publishes during the adoption: %v", err)
		}
		total++
	}
	_, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a")
	if !errors.Is(err, ErrAdoptionRaced) || tries != maxAdoptTries {
		t.Fatalf("adopt a lineage that publishes at each try: %v after %d tries; want ErrAdoptionRaced after %d", err, tries, maxAdoptTries)
	}
	b.compactHook = nil
	if ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl); ptrs["node-a"].Retired != 0 {
		t.Fatal("a's pointer is retired by an adoption that gave up")
	}
	if n := lineageObjects(t, c.objects, "node-b"); n != 1 {
		t.Fatalf("%d objects of b's lineage after the adoption gave up; want its manifest alone", n)
	}
	if n := distinctRows(t, c.node(t, "node-c"), "after the adoption gave up"); n != total {
		t.Fatalf("after the adoption gave up: %d rows, want %d", n, total)
	}
}

// TestALineageOfAWorkspaceWhoseKeyIsRevokedIsNotAdopted: the adoption asks
// for the key before it writes anything, so with the customer's key
// revoked it is refused at once, with a key error, every try: no intent,
// no segment, a's pointer live; once the key is back, it adopts.
func TestALineageOfAWorkspaceWhoseKeyIsRevokedIsNotAdopted(t *testing.T) {
	c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
	a, b := c.node(t, "node-a"), c.node(t, "node-b")
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.keys.Revoke()
	for try := range 3 {
		if _, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a"); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Fatalf("try %d, key revoked: %v; want the key's refusal", try, err)
		}
	}
	if n := lineageObjects(t, c.objects, "node-b"); n != 0 {
		t.Fatalf("%d objects of b's lineage after adoptions refused for the key", n)
	}
	if ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl); ptrs["node-a"].Retired != 0 {
		t.Fatal("a's pointer is retired by an adoption refused for the key")
	}
	c.keys.Restore()
	if got, err := b.AdoptLineage(context.Background(), ws, tbl, "node-a"); err != nil || got.Rows != 10 {
		t.Fatalf("adopt once the key is back: %+v, %v; want a's 10 rows", got, err)
	}
}
