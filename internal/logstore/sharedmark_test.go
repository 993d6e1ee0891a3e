package logstore

import (
	"context"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestASharedWatermarkStaysBelowRowsOtherNodesCannotSee: node b's rows,
// in its WAL and not yet in a published segment, are visible to b alone;
// b's shared watermark stays below them while a scan of node a up to it
// misses none, and passes them once they are flushed.
func TestASharedWatermarkStaysBelowRowsOtherNodesCannotSee(t *testing.T) {
	c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
	a, b := c.node(t, "node-a"), c.node(t, "node-b")
	mustIngest(t, b, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	flushed := b.SharedWatermark(ws)
	if own := b.IngestionWatermark(); flushed.Before(own.Add(-time.Second)) {
		t.Fatalf("with every row flushed the shared watermark %v lags the node's own %v", flushed, own)
	}
	mustIngest(t, b, ws, tbl, eventsBody(t, 10, 5, testNow))
	unflushed := b.IngestionWatermark() // covers the 5 rows
	mark := b.SharedWatermark(ws)
	if !mark.Before(unflushed) || mark.Before(flushed) {
		t.Fatalf("with 5 rows unflushed the shared watermark is %v; want in [%v, %v)", mark, flushed, unflushed)
	}
	// The 5 rows are in b's scans up to its own watermark, in none of a's
	// up to the shared one: a misses nothing there.
	if got, err := scanAll(b, ScanRequest{Workspace: ws, Table: tbl, IngestedAfter: mark, IngestedUpTo: unflushed}); err != nil || countRows(got) != 5 {
		t.Fatalf("node b's scan past the shared watermark: %d rows, %v; want the 5 unflushed", countRows(got), err)
	}
	if got, err := scanAll(a, ScanRequest{Workspace: ws, Table: tbl, IngestedUpTo: mark}); err != nil || countRows(got) != 10 {
		t.Fatalf("node a's scan up to b's shared watermark: %d rows, %v; want the 10 flushed", countRows(got), err)
	}
	if other := b.SharedWatermark("another-workspace"); other.Before(unflushed) {
		t.Fatalf("another workspace's shared watermark %v is held by this one's rows (before %v)", other, unflushed)
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := b.SharedWatermark(ws)
	if after.Before(unflushed) {
		t.Fatalf("after the flush the shared watermark is %v; want past the 5 rows' %v", after, unflushed)
	}
	if got, err := scanAll(a, ScanRequest{Workspace: ws, Table: tbl, IngestedAfter: mark, IngestedUpTo: after}); err != nil || countRows(got) != 5 {
		t.Fatalf("node a's scan from the old shared watermark to the new: %d rows, %v; want the 5 flushed since", countRows(got), err)
	}
}
