package logstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// ingestedByID scans the table's ID and ingestion-time columns: ID → the
// row's ingestion time (unknownIngest where null).
func ingestedByID(t testing.TB, st *Store, req ScanRequest) map[int64]int64 {
	t.Helper()
	req.Workspace, req.Table = ws, tbl
	req.Columns = []string{"ID", IngestionTimeColumn}
	batches, err := scanAll(st, req)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	out := make(map[int64]int64)
	for _, b := range batches {
		id, ing := b.Column("ID"), b.Column(IngestionTimeColumn)
		for i := range b.Len {
			if !id.Valid[i] || id.Type != TypeLong {
				t.Fatalf("row without an ID: %+v", id)
			}
			v := int64(unknownIngest)
			if ing.Valid[i] {
				if ing.Type != TypeDatetime {
					t.Fatalf("ingestion time of type %s", ing.Type)
				}
				v = ing.Ints[i]
			}
			if _, dup := out[id.Ints[i]]; dup {
				t.Fatalf("row %d returned twice", id.Ints[i])
			}
			out[id.Ints[i]] = v
		}
	}
	return out
}

// idRows is a body of n rows with IDs from first, at TimeGenerated at.
func idRows(first, n int, at time.Time) []byte {
	b := []byte("[")
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"TimeGenerated":%q,"ID":%d}`, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), first+i)
	}
	return append(b, ']')
}

func TestRowsOfOneIngestShareOneInstantAndLaterIngestsComeAfter(t *testing.T) {
	// The wall clock stands still, then goes back: instants still increase
	// and never fall below the wall clock.
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) {
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	mustIngest(t, st, ws, tbl, idRows(0, 3, testNow))
	mustIngest(t, st, ws, tbl, idRows(3, 3, testNow))
	now.Store(testNow.Add(-time.Second).UnixNano())
	mustIngest(t, st, ws, tbl, idRows(6, 3, testNow.Add(-time.Hour)))
	now.Store(testNow.Add(time.Hour).UnixNano())
	mustIngest(t, st, ws, tbl, idRows(9, 3, testNow))

	check := func(t *testing.T, got map[int64]int64) {
		want := []int64{testNow.UnixNano(), testNow.UnixNano() + 1, testNow.UnixNano() + 2, testNow.Add(time.Hour).UnixNano()}
		if len(got) != 12 {
			t.Fatalf("%d rows", len(got))
		}
		for id, ing := range got {
			if ing != want[id/3] {
				t.Errorf("row %d ingested at %d, want %d", id, ing, want[id/3])
			}
		}
	}
	t.Run("unflushed", func(t *testing.T) { check(t, ingestedByID(t, st, ScanRequest{})) })
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Run("flushed", func(t *testing.T) { check(t, ingestedByID(t, st, ScanRequest{})) })
}

func TestIngestionTimeIsInNoSchemaAndNotAmongAllColumns(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, []byte(`[{"A":"x","N":1}]`))
	hidden := func(t *testing.T) {
		cols, err := st.Schema(context.Background(), ws, tbl)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cols {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, []string{"TimeGenerated", "A", "N"}) {
			t.Errorf("schema %q", names)
		}
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
		if err != nil || len(got) != 1 {
			t.Fatalf("%d batches, %v", len(got), err)
		}
		for _, c := range got[0].Columns {
			if c.Name == IngestionTimeColumn {
				t.Error("a scan of all columns returned the ingestion time")
			}
		}
		got, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"A", IngestionTimeColumn}})
		if err != nil || len(got) != 1 {
			t.Fatalf("%d batches, %v", len(got), err)
		}
		if c := got[0].Column(IngestionTimeColumn); c == nil || c.Type != TypeDatetime || !c.Valid[0] || c.Ints[0] != testNow.UnixNano() {
			t.Errorf("ingestion time asked for by name: %+v", c)
		}
	}
	t.Run("unflushed", hidden)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Run("flushed", hidden)
}

func TestNoIngestedColumnCanTakeTheIngestionTimesName(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	body := []byte(`[{"` + IngestionTimeColumn + `":"2026-03-10T12:00:00Z"}]`)
	var re *RowError
	if _, err := st.Ingest(context.Background(), ws, tbl, body); !errors.As(err, &re) {
		t.Fatalf("a row naming the hidden column: %v, want a RowError", err)
	}
	// The nearest a JSON escape comes is another name, an ordinary column.
	mustIngest(t, st, ws, tbl, []byte(`[{"\u00ffIngestionTime":"2026-03-10T12:00:00Z"}]`))
	cols, _ := st.Schema(context.Background(), ws, tbl)
	if len(cols) != 2 || cols[1].Name != "\u00ffIngestionTime" || cols[1].Type != TypeDatetime {
		t.Fatalf("schema %+v", cols)
	}
}

// threeIngests ingests rows 0-2, 3-5 and 6-8 in three calls, one instant
// apart from testNow, and returns the instants.
func threeIngests(t *testing.T, st *Store) []time.Time {
	var at []time.Time
	for i := range 3 {
		mustIngest(t, st, ws, tbl, idRows(3*i, 3, testNow.Add(-time.Minute)))
		at = append(at, testNow.Add(time.Duration(i)))
	}
	return at
}

func TestIngestionBoundsAreExactInMemoryAndOnDisk(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 2 })
	at := threeIngests(t, st)
	ids := func(from, to int) []int64 {
		var out []int64
		for i := from; i < to; i++ {
			out = append(out, int64(i))
		}
		return out
	}
	cases := []struct {
		name          string
		after, upTo   time.Time
		want          []int64
		from, toRange time.Time
	}{
		{name: "no bounds", want: ids(0, 9)},
		{name: "up to the first instant", upTo: at[0], want: ids(0, 3)},
		{name: "up to just before the first", upTo: at[0].Add(-1), want: nil},
		{name: "after the first", after: at[0], want: ids(3, 9)},
		{name: "after the first, up to the second", after: at[0], upTo: at[1], want: ids(3, 6)},
		{name: "after the last", after: at[2], want: nil},
		{name: "after equals up to", after: at[1], upTo: at[1], want: nil},
		{name: "after later than up to", after: at[2], upTo: at[0], want: nil},
		{name: "far past and future", after: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), upTo: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), want: ids(0, 9)},
		{name: "with a TimeGenerated range", after: at[0], from: testNow.Add(-time.Minute), toRange: testNow.Add(-time.Minute + time.Millisecond), want: []int64{3, 6}},
	}
	run := func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := ingestedByID(t, st, ScanRequest{IngestedAfter: c.after, IngestedUpTo: c.upTo, From: c.from, To: c.toRange})
				gotIDs := slices.Sorted(func(yield func(int64) bool) {
					for id := range got {
						if !yield(id) {
							return
						}
					}
				})
				if !slices.Equal(gotIDs, c.want) {
					t.Fatalf("rows %v, want %v", gotIDs, c.want)
				}
			})
		}
	}
	t.Run("unflushed", run)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Run("flushed", run)
}

// TestIngestionBoundSkipsBlocksWithoutDecryptingThem: rows of an earlier
// ingest sit in blocks of their own; a scan bounded past them opens none of
// their chunks, so damage in them goes unseen, while an unbounded scan
// finds it.
func TestIngestionBoundSkipsBlocksWithoutDecryptingThem(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 3 })
	mustIngest(t, st, ws, tbl, idRows(0, 3, testNow.Add(-29*time.Minute)))
	mustIngest(t, st, ws, tbl, idRows(3, 3, testNow.Add(-20*time.Minute)))
	mustIngest(t, st, ws, tbl, idRows(6, 3, testNow.Add(-10*time.Minute)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := ScanRequest{IngestedAfter: testNow.Add(1)} // the last ingest only
	if got := ingestedByID(t, st, after); len(got) != 3 {
		t.Fatalf("%d rows", len(got))
	}
	keys.ResetOpens()
	ingestedByID(t, st, ScanRequest{IngestedAfter: testNow.Add(2)})
	if n := keys.Opens(); n != 0 {
		t.Fatalf("a scan past every row decrypted %d chunks", n)
	}
	keys.ResetOpens()
	ingestedByID(t, st, after)
	if n := keys.Opens(); n != 2 {
		t.Fatalf("a scan of one block decrypted %d chunks, want its ID and ingestion time", n)
	}

	// Damage the chunks of the first two blocks.
	seg := files(t, dir, segExt)[0]
	name, _ := parseSegName(filepath.Base(seg))
	r, err := openSegmentAt(st, seg, ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	end := r.blocks[2].cols[0].off
	start := r.blocks[0].cols[0].off
	r.close()
	data, _ := os.ReadFile(seg)
	for i := start; i < end; i++ {
		data[i] ^= 0x55
	}
	os.WriteFile(seg, data, 0o600)
	if got := ingestedByID(t, st, after); len(got) != 3 {
		t.Fatalf("%d rows past the damaged blocks", len(got))
	}
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unbounded scan: %v, want the damage", err)
	}
}

// TestIngestionWatermarkNeverMissesNorLeaksARow ingests from several
// goroutines, through WAL rotations and flushes, while taking watermarks
// and scanning up to each: a scan up to W holds every row ingested at or
// before W and none after, and every ingest begun after W returned is
// ingested after W.
func TestIngestionWatermarkNeverMissesNorLeaksARow(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) {
		c.Now = time.Now
		c.FlushBytes = 4 << 10
		c.BlockRows = 16
	})
	const writers, calls, rows = 4, 60, 5
	type snapshot struct {
		w    int64
		seen map[int64]int64
	}
	var (
		mu          sync.Mutex
		marks       []int64 // the watermarks taken so far
		mustBeAfter sync.Map
	)
	var wg sync.WaitGroup
	var done atomic.Int32
	for w := range writers {
		wg.Go(func() {
			defer done.Add(1)
			for c := range calls {
				first := (w*calls + c) * rows
				mu.Lock()
				var last int64 = math.MinInt64
				if len(marks) > 0 {
					last = marks[len(marks)-1]
				}
				mu.Unlock()
				if _, err := st.Ingest(context.Background(), ws, tbl, idRows(first, rows, time.Now().Add(-time.Minute))); err != nil {
					t.Error(err)
					return
				}
				mustBeAfter.Store(int64(first), last)
			}
		})
	}
	var snaps []snapshot
	for done.Load() < writers {
		w := unixNano(st.IngestionWatermark())
		mu.Lock()
		if len(marks) > 0 && w < marks[len(marks)-1] {
			t.Errorf("watermark went back from %d to %d", marks[len(marks)-1], w)
		}
		marks = append(marks, w)
		mu.Unlock()
		seen := ingestedByID(t, st, ScanRequest{IngestedUpTo: time.Unix(0, w)})
		for id, ing := range seen {
			if ing > w {
				t.Fatalf("row %d ingested at %d, after the watermark %d", id, ing, w)
			}
		}
		snaps = append(snaps, snapshot{w, seen})
	}
	wg.Wait()
	all := ingestedByID(t, st, ScanRequest{})
	if len(all) != writers*calls*rows {
		t.Fatalf("%d rows, want %d", len(all), writers*calls*rows)
	}
	excluded := 0
	for _, s := range snaps {
		for id, ing := range all {
			if _, ok := s.seen[id]; ok != (ing <= s.w) {
				t.Fatalf("row %d ingested at %d: seen %v by the scan up to %d", id, ing, ok, s.w)
			}
			if ing > s.w {
				excluded++
			}
		}
	}
	mustBeAfter.Range(func(k, v any) bool {
		if ing := all[k.(int64)]; ing <= v.(int64) {
			t.Errorf("row %d ingested at %d, not after the watermark %d taken before its ingest began", k, ing, v)
		}
		return true
	})
	if len(snaps) < 2 || excluded == 0 {
		t.Fatalf("%d watermarks, %d rows after them: the test proved nothing", len(snaps), excluded)
	}
	t.Logf("%d watermarks", len(snaps))
}

func TestIngestionTimesSurviveReplayAndFlush(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	threeIngests(t, st)
	want := ingestedByID(t, st, ScanRequest{})
	st.Close()

	st = newTestStore(t, dir, keys, func(c *Config) { c.Now = func() time.Time { return testNow.Add(-time.Hour) } })
	if got := ingestedByID(t, st, ScanRequest{}); !mapsEqual(got, want) {
		t.Fatalf("after replay: %v, want %v", got, want)
	}
	// The clock set back an hour still stamps after what the WAL holds.
	mustIngest(t, st, ws, tbl, idRows(100, 1, testNow.Add(-2*time.Hour)))
	if got := ingestedByID(t, st, ScanRequest{IngestedAfter: testNow.Add(2)}); len(got) != 1 || got[100] != testNow.Add(3).UnixNano() {
		t.Fatalf("ingested after a replay: %v", got)
	}
	want[100] = testNow.Add(3).UnixNano()
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = newTestStore(t, dir, keys, func(c *Config) { c.Now = func() time.Time { return testNow.Add(-time.Hour) } })
	if got := ingestedByID(t, st, ScanRequest{}); !mapsEqual(got, want) {
		t.Fatalf("flushed and reopened: %v, want %v", got, want)
	}
	// The segments' instants, from the manifest, hold the clock back too.
	mustIngest(t, st, ws, tbl, idRows(101, 1, testNow.Add(-2*time.Hour)))
	if got := ingestedByID(t, st, ScanRequest{IngestedAfter: testNow.Add(3)}); len(got) != 1 || got[101] != testNow.Add(4).UnixNano() {
		t.Fatalf("ingested after a reopen: %v", got)
	}
}

func mapsEqual(a, b map[int64]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// rewriteWAL replaces a closed WAL with one of the given version holding
// the given records, as that version's writer wrote them (no mark: the
// manifest's count vouches for them).
func rewriteWAL(t *testing.T, st *Store, path string, seq uint64, version uint16, records [][]byte) {
	t.Helper()
	ctx := context.Background()
	r, err := st.readWAL(ctx, path, seq, ws, tbl, "", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	hdr := r.hdr
	hdr.version = version
	aead, err := st.aead(ctx, hdr, purposeWAL)
	if err != nil {
		t.Fatal(err)
	}
	b := hdr.encode()
	b = append(b, make([]byte, markSlots*markSlotSize)...)
	for ord, p := range records {
		n := uint32(aead.NonceSize() + len(p) + aead.Overhead())
		rec := binary.BigEndian.AppendUint32(nil, n)
		rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
		b = append(b, seal(rec, aead, p, recordAAD(hdr, ws, tbl, "", seq, uint64(ord), n))...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// walRecords reads the records of a closed WAL.
func walRecords(t *testing.T, st *Store, path string, seq uint64) [][]byte {
	t.Helper()
	r, err := st.readWAL(context.Background(), path, seq, ws, tbl, "", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	return r.payloads
}

// TestWALOfVersion2ReplaysWithUnknownIngestionTimes: rows written before
// ingestion times were read as null, count as ingested before every bound,
// and keep doing so once flushed into a segment without the hidden column.
func TestWALOfVersion2ReplaysWithUnknownIngestionTimes(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	mustIngest(t, st, ws, tbl, idRows(0, 2, testNow.Add(-time.Minute)))
	mustIngest(t, st, ws, tbl, idRows(2, 2, testNow.Add(-time.Minute)))
	st.Close()
	path := filepath.Join(dir, ws, tbl, walFileName(0))
	var old [][]byte
	for _, rec := range walRecords(t, st, path, 0) {
		old = append(old, rec[ingestTimeSize:])
	}
	rewriteWAL(t, st, path, 0, walMarkVersion, old)

	st = newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 2 })
	mustIngest(t, st, ws, tbl, idRows(10, 2, testNow.Add(-time.Minute))) // a new WAL, of this version
	check := func(t *testing.T) {
		all := ingestedByID(t, st, ScanRequest{})
		want := map[int64]int64{0: unknownIngest, 1: unknownIngest, 2: unknownIngest, 3: unknownIngest, 10: testNow.UnixNano(), 11: testNow.UnixNano()}
		if !mapsEqual(all, want) {
			t.Fatalf("ingestion times %v, want %v", all, want)
		}
		if got := ingestedByID(t, st, ScanRequest{IngestedUpTo: testNow.Add(-time.Hour)}); len(got) != 4 {
			t.Fatalf("up to an hour ago: %v, want the old rows", got)
		}
		if got := ingestedByID(t, st, ScanRequest{IngestedAfter: time.Unix(0, 0)}); len(got) != 2 || got[10] == 0 {
			t.Fatalf("after 1970: %v, want the new rows", got)
		}
	}
	t.Run("replayed", check)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Run("flushed", check)
	// The old rows' segment is as segments were before ingestion times.
	for _, seg := range files(t, dir, segExt) {
		name, _ := parseSegName(filepath.Base(seg))
		if name.walSeq != 0 {
			continue
		}
		r, err := openSegmentAt(st, seg, ws, tbl, segFile{name: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range r.blocks {
			if b.col(IngestionTimeColumn) != nil {
				t.Fatal("a segment of unknown ingestion times has the column")
			}
		}
		r.close()
	}
	cols, _ := st.Schema(context.Background(), ws, tbl)
	if len(cols) != 2 {
		t.Fatalf("schema %+v", cols)
	}
}

func TestDamagedIngestionTimeIsAnIntegrityError(t *testing.T) {
	good := idRows(0, 1, testNow)
	rec, _, err := parseRows(good, ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow, maxRowBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	putIngestTime(rec, testNow.UnixNano())
	unknown := slices.Clone(rec)
	putIngestTime(unknown, unknownIngest)
	for _, c := range []struct {
		name string
		rec  []byte
	}{
		{"empty record", nil},
		{"cut inside the ingestion time", rec[:5]},
		{"the reserved unknown instant", unknown},
		{"rows cut short", rec[:len(rec)-1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, _, err := decodeRecord(walVersion, c.rec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decoded: %v", err)
			}
			dir := t.TempDir()
			keys := envelopetest.New("aek")
			st := newTestStore(t, dir, keys)
			mustIngest(t, st, ws, tbl, good)
			st.Close()
			path := filepath.Join(dir, ws, tbl, walFileName(0))
			rewriteWAL(t, st, path, 0, walVersion, [][]byte{c.rec})
			st = newTestStore(t, dir, keys)
			var ie *IntegrityError
			if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); !errors.As(err, &ie) || ie.Object != walFileName(0) {
				t.Fatalf("scan: %v, want the WAL's damage", err)
			}
		})
	}
	t.Run("a version 2 record is its payload whole", func(t *testing.T) {
		ing, p, refs, err := decodeRecord(walMarkVersion, rec[ingestTimeSize:])
		if err != nil || ing != unknownIngest || len(refs) != 1 || len(p) != len(rec)-ingestTimeSize {
			t.Fatalf("%d, %d rows, %v", ing, len(refs), err)
		}
	})
}

func TestIndexWithAnIngestionTimeOfAnotherTypeDoesNotDecode(t *testing.T) {
	for _, typ := range []Type{TypeLong, TypeString, TypeReal, TypeBool, TypeDynamic} {
		t.Run(typ.String(), func(t *testing.T) {
			idx := encodeIndex([]blockMeta{{minT: 1, maxT: 2, rows: 1, cols: []colMeta{
				{name: timeColumn, typ: TypeDatetime, off: 100, size: 10, raw: 5},
				{name: IngestionTimeColumn, typ: typ, off: 110, size: 10, raw: 5},
			}}}, segmentVersion)
			if _, err := decodeIndex(idx, segmentVersion, 100, 1000); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decoded: %v", err)
			}
		})
	}
	idx := encodeIndex([]blockMeta{{minT: 1, maxT: 2, rows: 1, cols: []colMeta{
		{name: IngestionTimeColumn, typ: TypeDatetime, off: 110, size: 10, raw: 5, colStats: colStats{minI: 7, maxI: 7}},
	}}}, segmentVersion)
	if b, err := decodeIndex(idx, segmentVersion, 100, 1000); err != nil || b[0].cols[0].maxI != 7 {
		t.Fatalf("a datetime ingestion time: %v", err)
	}
}

// TestVerifyAuthenticatesTheIngestionTimes flips a bit in each block's
// ingestion-time chunk: Verify reports the segment damaged.
func TestVerifyAuthenticatesTheIngestionTimes(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 2 })
	mustIngest(t, st, ws, tbl, idRows(0, 4, testNow.Add(-time.Minute)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	seg := files(t, dir, segExt)[0]
	name, _ := parseSegName(filepath.Base(seg))
	r, err := openSegmentAt(st, seg, ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, b := range r.blocks {
		c := b.col(IngestionTimeColumn)
		if c == nil {
			t.Fatal("a block without ingestion times")
		}
		offs = append(offs, c.off+c.size/2)
	}
	r.close()
	orig, _ := os.ReadFile(seg)
	for i, off := range offs {
		t.Run("block "+strconv.Itoa(i), func(t *testing.T) {
			data := slices.Clone(orig)
			data[off] ^= 1
			os.WriteFile(seg, data, 0o600)
			defer os.WriteFile(seg, orig, 0o600)
			rep, err := st.Verify(context.Background(), ws, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Damaged) != 1 || rep.Damaged[0].Object != name.String() {
				t.Fatalf("damage %+v", rep.Damaged)
			}
		})
	}
	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 0 {
		t.Fatalf("restored: %+v, %v", rep.Damaged, err)
	}
}

// TestIngestionBoundSkipsSegmentsWithoutOpeningThem: the manifest lists
// each segment's ingestion times, so a scan bounded past a segment's never
// opens its file — here gone, which a scan that needs it reports.
func TestIngestionBoundSkipsSegmentsWithoutOpeningThem(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, idRows(0, 3, testNow.Add(-time.Minute)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := files(t, dir, segExt)
	mustIngest(t, st, ws, tbl, idRows(3, 3, testNow.Add(-time.Minute)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(files(t, dir, segExt)) != 2 {
		t.Fatalf("segments %v", files(t, dir, segExt))
	}
	os.Remove(first[0])
	if got := ingestedByID(t, st, ScanRequest{IngestedAfter: testNow}); len(got) != 3 || got[3] != testNow.UnixNano()+1 {
		t.Fatalf("rows after the first ingest: %v", got)
	}
	var ie *IntegrityError
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, IngestedUpTo: testNow}); !errors.As(err, &ie) || ie.Problem != ProblemMissing {
		t.Fatalf("a scan that needs the lost segment: %v", err)
	}
}

// encodeManifestV1 is a manifest's body as version 1 wrote it: segments
// without ingestion times.
func encodeManifestV1(m *manifest) []byte {
	b := encodeManifest(&manifest{nextSeq: m.nextSeq, wals: m.wals})
	b = b[:len(b)-4] // no segments, columns, merges under way or retired segments
	b = binary.AppendUvarint(b, uint64(len(m.segs)))
	for _, s := range m.segs {
		name := s.name.String()
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(s.size))
		b = binary.AppendUvarint(b, uint64(s.rows))
		b = append(b, s.tag[:]...)
	}
	names := slices.Sorted(maps.Keys(m.schema))
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		b = append(b, byte(m.schema[n]))
	}
	return b
}

// rewriteManifestV1 seals the table's manifest again as version 1 wrote it.
func rewriteManifestV1(t *testing.T, st *Store) {
	t.Helper()
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := tb.readManifest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := st.keys.Current(context.Background())
	hdr, _ := newHeader(magicManifest, sealer.KeyID())
	hdr.version = 1
	aead, _ := sealer.AEAD(hdr.salt[:], purposeManifest)
	out := binary.BigEndian.AppendUint64(hdr.encode(), m.epoch)
	out = seal(out, aead, encodeManifestV1(m), manifestAAD(hdr, ws, tbl, "", m.epoch))
	if err := os.WriteFile(filepath.Join(tb.dir, manifestFile), out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestManifestOfVersion1IsReadAndItsSegmentsOpened: a manifest written
// before ingestion times were listed is read; its segments' ranges are
// unknown, so scans open them and the blocks' own times bound the rows.
func TestManifestOfVersion1IsReadAndItsSegmentsOpened(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	at := threeIngests(t, st)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := ingestedByID(t, st, ScanRequest{})
	rewriteManifestV1(t, st)
	st.Close()
	st = newTestStore(t, dir, keys, func(c *Config) { c.Now = func() time.Time { return testNow.Add(time.Second) } })
	tb, _ := st.table(ws, tbl)
	if got := ingestedByID(t, st, ScanRequest{}); !mapsEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	tb.mu.Lock()
	for _, s := range tb.segs {
		if s.ingested.known {
			t.Errorf("segment %s: ingestion times known from a version 1 manifest", s.name)
		}
	}
	tb.mu.Unlock()
	if got := ingestedByID(t, st, ScanRequest{IngestedAfter: at[1]}); len(got) != 3 {
		t.Fatalf("rows after the second ingest: %v", got)
	}
	// The next manifest is of this version, and keeps what it does not know
	// unknown.
	mustIngest(t, st, ws, tbl, idRows(9, 1, testNow.Add(-time.Minute)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	h, err := fileHeader(filepath.Join(dir, ws, tbl, manifestFile))
	if err != nil || h.version != manifestVersion {
		t.Fatalf("manifest header %+v, %v", h, err)
	}
	if got := ingestedByID(t, st, ScanRequest{IngestedUpTo: at[2]}); len(got) != 9 {
		t.Fatalf("rows up to the third ingest: %d", len(got))
	}
}

func TestSegmentWhoseIngestionTimesAreNotTheManifestsIsDamage(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, idRows(0, 3, testNow.Add(-time.Minute)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	tb, _ := st.table(ws, tbl)
	tb.mu.Lock()
	listed := tb.segs[0]
	tb.mu.Unlock()
	if listed.ingested != (ingestRange{known: true, lo: testNow.UnixNano(), hi: testNow.UnixNano()}) {
		t.Fatalf("listed ingestion times %+v", listed.ingested)
	}
	for _, c := range []struct {
		name string
		r    ingestRange
	}{
		{"later", ingestRange{known: true, lo: testNow.UnixNano() + 1, hi: testNow.UnixNano() + 1}},
		{"wider", ingestRange{known: true, lo: testNow.UnixNano() - 1, hi: testNow.UnixNano()}},
		{"unknown rows", ingestRange{known: true, lo: unknownIngest, hi: unknownIngest}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := listed
			want.ingested = c.r
			var ie *IntegrityError
			r, err := openSegmentAt(st, filepath.Join(tb.dir, listed.name.String()), ws, tbl, want)
			if err == nil {
				r.close()
			}
			if !errors.As(err, &ie) || ie.Problem != ProblemAuthentication {
				t.Fatalf("opened: %v", err)
			}
		})
	}
	t.Run("not recorded", func(t *testing.T) {
		want := listed
		want.ingested = ingestRange{}
		r, err := openSegmentAt(st, filepath.Join(tb.dir, listed.name.String()), ws, tbl, want)
		if err != nil {
			t.Fatal(err)
		}
		r.close()
	})
}

func TestManifestWithBadIngestionTimesDoesNotDecode(t *testing.T) {
	seg := segFile{name: segName{minT: 1, maxT: 2, walSeq: 3}, size: 100, rows: 7, ingested: ingestRange{known: true, lo: 5, hi: 6}}
	good := encodeManifest(&manifest{segs: []segFile{seg}})
	if m, err := decodeManifest(good, manifestVersion); err != nil || m.segs[0].ingested != seg.ingested {
		t.Fatalf("good manifest: %v", err)
	}
	seg.ingested.lo, seg.ingested.hi = 6, 5
	reversed := encodeManifest(&manifest{segs: []segFile{seg}})
	flag := slices.Clone(good)
	flag[len(flag)-4] = 2 // the known flag: before min, max (one byte each) and the column count
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"min after max", reversed},
		{"known flag of 2", flag},
		{"cut inside the range", good[:len(good)-2]},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := decodeManifest(c.b, manifestVersion); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decoded: %v", err)
			}
		})
	}
}

// TestCutIngestionTimeChunkNeverDecodes: the hidden column's chunk, cut at
// any length, is an error, never a column of other times.
func TestCutIngestionTimeChunkNeverDecodes(t *testing.T) {
	bb := newBlockBuilder(nil)
	rec, refs, err := parseRows(idRows(0, 5, testNow), ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		ing := testNow.UnixNano() + int64(i%2)
		if i == 2 {
			ing = unknownIngest // one row of an old WAL among them
		}
		if err := bb.add(rec[ingestTimeSize:], r, ing); err != nil {
			t.Fatal(err)
		}
	}
	cells, ingested := bb.ingestCells()
	chunk, st := encodeColumn(nil, TypeDatetime, cells, ingested)
	if st.nulls != 1 || st.minI != testNow.UnixNano() || st.maxI != testNow.UnixNano()+1 {
		t.Fatalf("statistics %+v", st)
	}
	whole, err := decodeColumn(chunk, IngestionTimeColumn)
	if err != nil || whole.Valid[2] || whole.Ints[3] != testNow.UnixNano()+1 {
		t.Fatalf("decoded %+v, %v", whole, err)
	}
	for n := range len(chunk) {
		t.Run(fmt.Sprintf("cut at %d of %d bytes", n, len(chunk)), func(t *testing.T) {
			if c, err := decodeColumn(chunk[:n], IngestionTimeColumn); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decoded %+v, %v", c, err)
			}
		})
	}
}
