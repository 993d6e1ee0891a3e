package logstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestFlushOnFourWorkersWritesEveryRowOnceInOrder flushes a WAL of many
// small blocks over several time partitions with four block workers,
// whatever GOMAXPROCS is, so that the writing in order of blocks that
// several goroutines built is exercised on one core too: the segments
// answer as the WAL's rows did, each holds one partition, and its blocks
// follow each other in time. That the workers gain time on several cores
// is for BenchmarkIngest to show, not a test.
func TestFlushOnFourWorkersWritesEveryRowOnceInOrder(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 7 })
	st.flushWorkers = 4
	const n = 900
	for first := 0; first < n; first += 100 {
		// Rows spread over three hours, so that the flush has three partitions.
		mustIngest(t, st, ws, tbl, eventsBody(t, first, 100, testNow.Add(-time.Duration(first%3)*time.Hour)))
	}
	req := ScanRequest{Workspace: ws, Table: tbl}
	before, err := scanAll(st, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := scanAll(st, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := countRows(after); got != n {
		t.Fatalf("%d rows after the flush, want %d", got, n)
	}
	if !slices.Equal(rowsOf(before), rowsOf(after)) {
		t.Fatal("the segments answer otherwise than the WAL's rows")
	}
	segs := files(t, dir, segExt)
	hours := make(map[int64]bool)
	for _, p := range segs {
		name, _ := parseSegName(filepath.Base(p))
		hour := floorDiv(name.minT, partitionNanos)
		if floorDiv(name.maxT, partitionNanos) != hour {
			t.Errorf("segment %s spans two partitions", name)
		}
		hours[hour] = true
		r, err := openSegmentAt(st, p, ws, tbl, segFile{name: name})
		if err != nil {
			t.Fatal(err)
		}
		prev := name.minT
		for i, b := range r.blocks {
			if b.minT < prev || b.rows > 7 {
				t.Errorf("segment %s block %d: %d rows from %d, after a block up to %d", name, i, b.rows, b.minT, prev)
			}
			prev = b.maxT
		}
		if prev != name.maxT {
			t.Errorf("segment %s ends at %d, its name says %d", name, prev, name.maxT)
		}
		r.close()
	}
	if len(hours) < 3 {
		t.Fatalf("segments in %d partitions, want at least 3", len(hours))
	}
}

// TestTermKeysAreTheQueriesKeys holds the flush's one-pass term keys to
// what a query looks up: bloomHash of each term forTerms finds.
func TestTermKeysAreTheQueriesKeys(t *testing.T) {
	for _, s := range []string{
		"", " ", "word", "Failed password for USER01 from 10.1.2.3 port 22",
		`C:\Windows\System32\svchost.exe -k netsvcs`, "trailing term", "--lead-and-trail--",
		"Grüße aus Köln", "日本語 テキスト", "a", "A1b2_C3", "\x00\xff\x7f", `{"k":"V","n":[1,2]}`,
	} {
		t.Run(s, func(t *testing.T) {
			var want, got []uint64
			forTerms([]byte(s), func(term []byte) { want = append(want, bloomHash(bloomTerm, term, true)) })
			forTermKeys([]byte(s), func(h uint64) { got = append(got, h) })
			if !slices.Equal(got, want) {
				t.Fatalf("keys %x, want %x", got, want)
			}
		})
	}
}

// TestFlushBlocksStopAtTheFirstFailure fails the writing of one block of a
// flush while the workers have more built and waiting: encodeBlocks
// returns that failure, writes nothing after it, and leaves no worker
// behind.
func TestFlushBlocksStopAtTheFirstFailure(t *testing.T) {
	st, blocks := oneRowBlocks(t)
	failAt := 3
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			errWrite := errors.New("disk full")
			written := 0
			done := make(chan error, 1)
			go func() {
				done <- st.encodeBlocks(context.Background(), blocks, workers, func(fb *flushBlock, eb *encodedBlock) error {
					if fb != &blocks[written] || eb.meta.rows != 1 {
						t.Errorf("block %d written in place of block %d", fb.rows[0].ref.off, written)
					}
					if written == failAt {
						return errWrite
					}
					written++
					return nil
				})
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("encodeBlocks did not return after a failed write: its workers wait")
			}
			if !errors.Is(err, errWrite) {
				t.Fatalf("encodeBlocks: %v, want the write's failure", err)
			}
			if written != failAt {
				t.Fatalf("%d blocks written, want %d", written, failAt)
			}
		})
	}
}

// oneRowBlocks is a store holding 200 rows in its WAL, and a flush's blocks
// of one of them each.
func oneRowBlocks(t *testing.T) (*Store, []flushBlock) {
	t.Helper()
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 200, testNow))
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	tb.mu.Lock()
	batches := tb.active.mem.snapshot()
	tb.mu.Unlock()
	var blocks []flushBlock
	for i := range batches {
		for _, r := range batches[i].refs {
			blocks = append(blocks, flushBlock{rows: []memRow{{&batches[i], r}}})
		}
	}
	return st, blocks
}

// TestCancelledFlushBlocksStop cancels a flush's context while it writes a
// block, with more built and waiting (a flush stopped at shutdown):
// encodeBlocks returns the cancellation, writes no block after it, and
// leaves no worker behind.
func TestCancelledFlushBlocksStop(t *testing.T) {
	st, blocks := oneRowBlocks(t)
	const cancelAt = 3
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			written := 0
			done := make(chan error, 1)
			go func() {
				done <- st.encodeBlocks(ctx, blocks, workers, func(*flushBlock, *encodedBlock) error {
					if written == cancelAt {
						cancel()
					}
					written++
					return nil
				})
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("encodeBlocks did not return after its context was cancelled: its workers wait")
			}
			if !errors.Is(err, context.Canceled) || written != cancelAt+1 {
				t.Fatalf("encodeBlocks: %v after %d blocks written, want context.Canceled after %d", err, written, cancelAt+1)
			}
		})
	}
}
