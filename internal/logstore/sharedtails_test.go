package logstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAQueryRacingAnotherThatFindsAWALFlushedReadsItsRows: a query read
// another node's records and then a manifest that lists their WAL; before
// it takes their rows, that node flushes the WAL and a second query on the
// same node finds it flushed. The first query, whose manifest lists the
// WAL and not its segments, still reads the WAL's rows, once.
func TestAQueryRacingAnotherThatFindsAWALFlushedReadsItsRows(t *testing.T) {
	c, sh := sharedCluster(t)
	a, b := c.node(t, "node-a", withShared(sh)), c.node(t, "node-b", withShared(sh))
	ctx := context.Background()
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	tb, err := b.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	views, err := tb.readTails(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := tb.otherLineages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantRows(t, b, 10, "the second query, after node a flushed")
	mems, _, err := tb.tailBlocks(ctx, f, views)
	if err != nil {
		t.Fatal(err)
	}
	if err := buildBlocks(mems); err != nil {
		t.Fatalf("the first query builds the blocks of node a's WAL: %v", err)
	}
	rows := 0
	for _, m := range mems {
		rows += m.rows
	}
	if rows != 10 {
		t.Fatalf("the first query reads %d rows of node a's WAL its manifest lists; want 10", rows)
	}
}

// TestAnotherNodesRowsDecryptedAreDroppedWhenTheKeyIsRevoked: the rows a
// node read from another's WALs in the shared WAL, decrypted, go once the
// key is revoked, as the segments' decrypted indexes do: at the next read,
// or at the next tick of the background loop when no read comes.
func TestAnotherNodesRowsDecryptedAreDroppedWhenTheKeyIsRevoked(t *testing.T) {
	for _, read := range []bool{true, false} {
		name := map[bool]string{true: "at the next read", false: "with no read, at the next tick"}[read]
		t.Run(name, func(t *testing.T) {
			c, sh := sharedCluster(t)
			a := c.node(t, "node-a", withShared(sh))
			b := c.node(t, "node-b", withShared(sh), func(cfg *Config) { cfg.FlushInterval = 40 * time.Millisecond })
			mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
			wantRows(t, b, 10, "node b with the key")
			tb, err := b.table(ws, tbl)
			if err != nil {
				t.Fatal(err)
			}
			if !tb.tails.holdsRows() {
				t.Fatal("node b holds none of node a's rows after reading them")
			}
			c.keys.Revoke()
			defer c.keys.Restore()
			if read {
				if _, err := scanAll(b, ScanRequest{Workspace: ws, Table: tbl}); err == nil {
					t.Fatal("node b read with the key revoked")
				}
				if tb.tails.holdsRows() {
					t.Fatal("node b still holds node a's decrypted rows after a read failed for the revoked key")
				}
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for tb.tails.holdsRows() {
				if time.Now().After(deadline) {
					t.Fatal("node b still holds node a's decrypted rows 5s after the key was revoked")
				}
				time.Sleep(10 * time.Millisecond) // the background loop's tick: nothing to wait on
			}
		})
	}
}

// TestAReadOfTheSharedWALThatHangsDoesNotStopTheBackgroundLoop: while a
// query waits for the shared WAL, which holds the table's other lineages'
// rows, the background loop goes on sealing the node's aged rows (the
// check of the keys of those rows is left to a later tick).
func TestAReadOfTheSharedWALThatHangsDoesNotStopTheBackgroundLoop(t *testing.T) {
	c, sh := sharedCluster(t)
	a := c.node(t, "node-a", withShared(sh))
	b := c.node(t, "node-b", withShared(sh), func(cfg *Config) { cfg.FlushInterval = 40 * time.Millisecond })
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	wantRows(t, b, 10, "node b")
	hang := make(chan struct{})
	sh.mu.Lock()
	sh.hang = hang
	sh.mu.Unlock()
	scanned := make(chan error, 1)
	go func() {
		_, err := scanAll(b, ScanRequest{Workspace: ws, Table: tbl})
		scanned <- err
	}()
	defer func() {
		close(hang)
		if err := <-scanned; err != nil {
			t.Error(err)
		}
	}()
	mustIngest(t, b, ws, "Other_CL", eventsBody(t, 0, 10, testNow))
	deadline := time.Now().Add(5 * time.Second)
	for sh.records("node-b") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("node b's aged rows are not sealed 5s on, while a query waits for the shared WAL")
		}
		time.Sleep(10 * time.Millisecond) // the background loop's tick: nothing to wait on
	}
}

// TestAHeaderLeftByACrashBeforeItsWALWasListedDoesNotRefuseTheNextIngest:
// a node that stored the header of its next WAL in the shared WAL and
// crashed before its manifest listed the WAL starts again at the same WAL
// number; its open removes that header, so that the next ingest is not
// refused for a record stored already (nor its batch-mates with it).
func TestAHeaderLeftByACrashBeforeItsWALWasListedDoesNotRefuseTheNextIngest(t *testing.T) {
	c, sh := sharedCluster(t)
	dir := t.TempDir()
	open := func() *Store {
		return sharedNodeIn(t, c, sh, dir, "node-a")
	}
	a := open()
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(8) { // the next WAL's number among them
		hdr := WALRecord{Workspace: ws, Table: tbl, Lineage: "node-a", WAL: seq, Ord: WALHeader, Data: []byte("left by a crash")}
		_ = sh.Append(context.Background(), []WALRecord{hdr}) // a number taken already is refused: no matter
	}
	again := open()
	if _, err := again.Ingest(context.Background(), ws, tbl, eventsBody(t, 10, 5, testNow)); err != nil {
		t.Fatalf("the first ingest after the restart: %v", err)
	}
	wantRows(t, again, 15, "node a after its restart")
}

// TestAnIngestWhoseClientLeftDuringTheSharedCommitIsCanceled: a request
// whose client went away while the shared WAL committed fails with its
// context's error, which the API answers as a client gone, not as
// ErrSharedWALUnavailable, a 503 counted against the database.
func TestAnIngestWhoseClientLeftDuringTheSharedCommitIsCanceled(t *testing.T) {
	c, sh := sharedCluster(t)
	a := c.node(t, "node-a", withShared(sh))
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	appended := make(chan WALRecord)
	sh.mu.Lock()
	sh.appended = appended
	sh.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Ingest(ctx, ws, tbl, eventsBody(t, 10, 5, testNow))
		done <- err
	}()
	<-appended // the record is in the commit
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrSharedWALUnavailable) {
		t.Fatalf("an ingest whose client left during the shared commit: %v; want context.Canceled alone", err)
	}
}

// holdsRows reports whether any decrypted row is held.
func (f *foreignTails) holdsRows() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.wals {
		if w.mem != nil && w.mem.mark().records > 0 {
			return true
		}
	}
	return false
}

// TestTheRowsOfALineageAdoptedMeanwhileAreDropped: a node holding another
// lineage's rows not yet flushed drops them once that lineage is adopted
// (its rows then in its adopter's segments), rather than keep them, never
// served, for as long as the table is open.
func TestTheRowsOfALineageAdoptedMeanwhileAreDropped(t *testing.T) {
	c, sh := sharedCluster(t)
	a, b, adopter := c.node(t, "node-a", withShared(sh)), c.node(t, "node-b", withShared(sh)), c.node(t, "node-c", withShared(sh))
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	wantRows(t, b, 10, "node b before the adoption")
	tb, err := b.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	if !tb.tails.holdsRows() {
		t.Fatal("node b holds none of node a's rows after reading them")
	}
	if _, err := adopter.AdoptLineage(context.Background(), ws, tbl, "node-a"); err != nil {
		t.Fatal(err)
	}
	wantRows(t, b, 10, "node b after the adoption")
	if tb.tails.holdsRows() {
		t.Fatal("node b still holds the rows of node a, adopted, which its adopter's segments hold")
	}
}

// TestASharedWALMovedWholeIsRefused: a WAL moved whole, its header with its
// records, to the same number in another lineage's or another workspace's
// table opens under the same key and salt: only the AAD, which binds the
// lineage and the workspace, refuses it.
func TestASharedWALMovedWholeIsRefused(t *testing.T) {
	const ws2 = "5d0c8a7e-1b2f-4c3d-8e9f-0a1b2c3d4e5f"
	for _, to := range []struct {
		name, ws, lineage string
	}{
		{"to another lineage", ws, "node-c"},
		{"to another workspace", ws2, "node-a"},
	} {
		t.Run(to.name, func(t *testing.T) {
			cl, sh := sharedCluster(t)
			a, b := cl.node(t, "node-a", withShared(sh)), cl.node(t, "node-b", withShared(sh))
			other := cl.node(t, "node-c", withShared(sh))
			mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
			mustIngest(t, other, ws, tbl, eventsBody(t, 100, 1, testNow))
			mustIngest(t, a, ws2, tbl, eventsBody(t, 200, 1, testNow))
			sh.mu.Lock()
			moved := 0
			for p := range sh.recs {
				if p.ws == to.ws && p.lineage == to.lineage && p.table == tbl {
					delete(sh.recs, p) // the destination WAL's own records go
				}
			}
			for p, data := range sh.recs {
				if p.ws == ws && p.lineage == "node-a" && p.table == tbl {
					q := p
					q.ws, q.lineage = to.ws, to.lineage
					delete(sh.recs, p)
					sh.recs[q] = data
					moved++
				}
			}
			sh.mu.Unlock()
			if moved < 2 {
				t.Fatalf("moved %d records; want a header and records", moved)
			}
			_, err := scanAll(b, ScanRequest{Workspace: to.ws, Table: tbl})
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Problem != ProblemAuthentication {
				t.Fatalf("scan through node b: %v; want an authentication IntegrityError", err)
			}
		})
	}
}
