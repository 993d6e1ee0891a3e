package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// onTwoNodes runs fn with two handles on one vault database, as two nodes sharing it hold:
// one bbolt file opened once (two Logs in one process; bbolt serializes their Updates), and
// one PostgreSQL database reached through two connection pools (the advisory lock does).
func onTwoNodes(t *testing.T, fn func(t *testing.T, a, b kv.DB)) {
	t.Run("bbolt", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
		defer db.Close()
		fn(t, db, db)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.New(t)
		fn(t, pgkvtest.Open(t, url, "vault"), pgkvtest.Open(t, url, "vault"))
	})
}

func appendAndFlush(t *testing.T, l *Log, node string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		r := record(i)
		r.CallerObjectID = node
		r.RequestID = node + "-" + strconv.Itoa(i)
		l.Append(r)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTwoNodesOnOneDatabaseKeepOneChain(t *testing.T) {
	onTwoNodes(t, testTwoNodesKeepOneChain)
}

func testTwoNodesKeepOneChain(t *testing.T, dbA, dbB kv.DB) {
	a := openLog(t, dbA, Options{MaxPending: 8})
	defer a.Close()
	b := openLog(t, dbB, Options{MaxPending: 8})
	defer b.Close()

	// Turns first: each node's batch starts where the other's ended.
	appendAndFlush(t, a, "a", 0, 2)
	appendAndFlush(t, b, "b", 2, 1)
	appendAndFlush(t, a, "a", 3, 1)
	// Then both at once, with batches small enough to interleave.
	const perNode = 300
	var wg sync.WaitGroup
	for _, n := range []struct {
		l    *Log
		name string
	}{{a, "a"}, {b, "b"}} {
		wg.Go(func() {
			for i := range perNode {
				r := record(i)
				r.CallerObjectID = n.name
				r.RequestID = n.name + "-late-" + strconv.Itoa(i)
				n.l.Append(r)
			}
		})
	}
	wg.Wait()
	for _, l := range []*Log{a, b} {
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	recs := listAll(t, b)
	if want := 4 + 2*perNode; len(recs) != want {
		t.Fatalf("got %d records, want %d: a node overwrote the other's", len(recs), want)
	}
	next := map[string]int{}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d, want contiguous sequence numbers", i, r.Seq)
		}
		if i < 4 {
			if want := []string{"a-0", "a-1", "b-2", "a-3"}[i]; r.RequestID != want {
				t.Fatalf("record %d is %s, want %s", r.Seq, r.RequestID, want)
			}
			continue
		}
		if want := r.CallerObjectID + "-late-" + strconv.Itoa(next[r.CallerObjectID]); r.RequestID != want {
			t.Fatalf("record %d is %s, want %s: a node's records are out of order", r.Seq, r.RequestID, want)
		}
		next[r.CallerObjectID]++
	}
	for name, l := range map[string]*Log{"a": a, "b": b} {
		if err := l.Verify(context.Background()); err != nil {
			t.Errorf("Verify on node %s: %v", name, err)
		}
		seq, mac, err := l.Head(context.Background())
		if last := recs[len(recs)-1]; err != nil || seq != last.Seq || mac != last.MAC {
			t.Errorf("Head on node %s = %d %v, want the newest record %d, whichever node wrote it", name, seq, err, last.Seq)
		}
	}
}

func TestTamperedNewestRecordStopsEveryNode(t *testing.T) {
	tests := []struct {
		name    string
		tamper  tamper
		wantSeq uint64
		reason  string
	}{
		{"newest record edited", func(t *testing.T, b kv.Bucket) {
			m := getStored(t, b, 6)
			m["operation"] = "KeyGet"
			putStored(t, b, 6, m)
		}, 6, "does not verify"},
		{"newest record's MAC recomputed without the key", func(t *testing.T, b kv.Bucket) {
			m := getStored(t, b, 6)
			m["mac"] = strings.Repeat("00", macSize)
			putStored(t, b, 6, m)
		}, 6, "does not verify"},
		{"newest records removed", func(t *testing.T, b kv.Bucket) {
			for seq := uint64(5); seq <= 6; seq++ {
				if err := b.Delete(seqKey(seq)); err != nil {
					t.Fatal(err)
				}
			}
		}, 5, "newest records were removed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			onTwoNodes(t, func(t *testing.T, dbA, dbB kv.DB) {
				testTamperedNewestRecord(t, dbA, dbB, tc.tamper, tc.wantSeq, tc.reason)
			})
		})
	}
}

func testTamperedNewestRecord(t *testing.T, dbA, dbB kv.DB, tamper tamper, wantSeq uint64, reason string) {
	a := openLog(t, dbA, Options{})
	defer a.Close()
	b := openLog(t, dbB, Options{})
	defer b.Close()
	// A node knows the chain up to its own last write, so a reaches 6 and b 5:
	// each has seen a record that "removed" takes away.
	appendAndFlush(t, a, "a", 0, 3)
	appendAndFlush(t, b, "b", 3, 2)
	appendAndFlush(t, a, "a", 5, 1)

	if err := dbA.Update(context.Background(), func(tx kv.Tx) error {
		tamper(t, tx.Bucket(bucketName))
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	for _, n := range []struct {
		name string
		l    *Log
	}{{"a", a}, {"b", b}} {
		n.l.Append(record(7))
		err := n.l.Flush(context.Background())
		var te *TamperError
		if !errors.As(err, &te) || te.Seq != wantSeq || !strings.Contains(te.Reason, reason) {
			t.Errorf("node %s: write after tampering = %v, want a TamperError at %d (%s)", n.name, err, wantSeq, reason)
		}
		if err := n.l.Verify(context.Background()); !errors.As(err, &te) {
			t.Errorf("node %s: Verify = %v, want a TamperError", n.name, err)
		}
		if _, _, err := n.l.Head(context.Background()); !errors.As(err, &te) {
			t.Errorf("node %s: Head = %v, want a TamperError", n.name, err)
		}
	}
	if n := storedCount(t, dbA); n > 6 {
		t.Errorf("%d records stored: a node chained onto a head it could not verify", n)
	}
}
