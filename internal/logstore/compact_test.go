package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

const compactTable = "Merge_CL"

// mixedBody is n rows of batch k, in the hour before at and the hour a day
// before that: every type, nulls (a column only some rows have), and a
// column whose type changes from batch to batch (long, string, a string
// that reads as a datetime, an object), so that merged segments hold blocks
// whose columns disagree.
func mixedBody(t testing.TB, k, n int, at time.Time) []byte {
	t.Helper()
	rows := make([]map[string]any, n)
	for i := range rows {
		when := at.Add(-time.Duration(1+(k*n+i)%3500) * time.Second)
		if i%3 == 0 {
			when = when.Add(-24 * time.Hour)
		}
		r := map[string]any{
			"TimeGenerated": when.Format(time.RFC3339Nano),
			"Host":          fmt.Sprintf("host-%d", i%7),
			"Message":       fmt.Sprintf("Failed password for user%d from 10.0.%d.%d", (k*n+i)%97, k, i),
			"Count":         k*1000 + i,
			"Ratio":         float64(i) / 8,
			"Ok":            i%2 == 0,
			"Seen":          when.Add(time.Minute).Format(time.RFC3339Nano),
			"Props":         map[string]any{"k": k, "tags": []any{"a", i}},
		}
		if i%5 == 0 {
			r["Sometimes"] = fmt.Sprintf("s%d", i)
		}
		switch k % 4 {
		case 0:
			r["Mixed"] = i
		case 1:
			r["Mixed"] = fmt.Sprintf("v%d", i)
		case 2:
			r["Mixed"] = when.Format(time.RFC3339)
		case 3:
			r["Mixed"] = map[string]any{"i": i}
		}
		rows[i] = r
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallSegments fills the table with batches rows each, flushed one by one:
// two segments a batch, one per hour.
func smallSegments(t testing.TB, st *Store, batchesN, rows int) {
	t.Helper()
	for k := range batchesN {
		mustIngest(t, st, ws, compactTable, mixedBody(t, k, rows, testNow))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// canonRows is rowsOf with each row's fields in name order, so that rows
// compare whatever order a block holds its columns in.
func canonRows(batches []*Batch) []string {
	rows := rowsOf(batches)
	for i, r := range rows {
		fields := strings.Split(strings.TrimSuffix(r, ";"), ";")
		slices.Sort(fields)
		rows[i] = strings.Join(fields, ";")
	}
	slices.Sort(rows)
	return rows
}

// answers are what a set of scans of the table return, to compare before
// and after a merge: all rows with their ingestion times, and scans with
// predicates, time and ingestion bounds, as the query engine asks.
func answers(t testing.TB, st *Store, watermark time.Time) map[string][]string {
	t.Helper()
	reqs := map[string]ScanRequest{
		"all":             {},
		"ingestion times": {Columns: []string{"TimeGenerated", IngestionTimeColumn, "Host"}},
		"host ==":         {Columns: []string{"Host", "Count"}, Predicates: []Predicate{{"Host", OpEq, "host-3"}}},
		"message has":     {Columns: []string{"Message"}, Predicates: []Predicate{{"Message", OpHas, "user42"}}},
		"any column has":  {Columns: []string{"Count"}, Predicates: []Predicate{{AnyColumn, OpHas, "v4"}}},
		"count >":         {Columns: []string{"Count", "Ratio"}, Predicates: []Predicate{{"Count", OpGt, 2500}}},
		"mixed == long":   {Columns: []string{"Mixed"}, Predicates: []Predicate{{"Mixed", OpEq, 4}}},
		"mixed == string": {Columns: []string{"Mixed"}, Predicates: []Predicate{{"Mixed", OpEq, "v4"}}},
		"last hour":       {From: testNow.Add(-time.Hour), To: testNow, Columns: []string{"TimeGenerated", "Ok"}},
		"ingested after":  {IngestedAfter: watermark, Columns: []string{"Count", IngestionTimeColumn}},
		"ingested up to":  {IngestedUpTo: watermark, Columns: []string{"Count"}},
	}
	out := make(map[string][]string, len(reqs))
	for name, req := range reqs {
		req.Workspace, req.Table = ws, compactTable
		got, err := scanAll(st, req)
		if err != nil {
			t.Fatalf("scan %s: %v", name, err)
		}
		out[name] = canonRows(got)
	}
	schema, err := st.Schema(context.Background(), ws, compactTable)
	if err != nil {
		t.Fatal(err)
	}
	out["schema"] = []string{fmt.Sprint(schema)}
	return out
}

func sameAnswers(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for name, w := range want {
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("%s: %d rows, want %d\nfirst got:  %.300v\nfirst want: %.300v", name, len(got[name]), len(w), first(got[name]), first(w))
		}
	}
}

func tableSegs(st *Store) []segFile {
	tb, _ := st.table(ws, compactTable)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.segs)
}

func TestCompactionKeepsEveryRowAndAnswer(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	cfg := func(c *Config) { c.BlockRows = 64; c.Ledger = ledger }
	st := newTestStore(t, dir, keys, cfg)
	smallSegments(t, st, 4, 150)
	watermark := st.IngestionWatermark()
	smallSegments(t, st, 4, 150)
	before := answers(t, st, watermark)
	if n := len(before["all"]); n != 8*150 {
		t.Fatalf("%d rows before the merge, want %d", n, 8*150)
	}
	segsBefore := tableSegs(st)

	merged, err := st.Compact(context.Background(), ws, compactTable)
	if err != nil {
		t.Fatal(err)
	}
	after := tableSegs(st)
	if merged != len(segsBefore) || len(after) != 2 {
		t.Fatalf("merged %d of %d segments into %d, want all into 2 (one an hour)", merged, len(segsBefore), len(after))
	}
	for _, s := range after {
		if floorDiv(s.name.minT, partitionNanos) != floorDiv(s.name.maxT, partitionNanos) {
			t.Errorf("merged segment %s spans two partitions", s.name)
		}
	}
	if got := files(t, dir, segExt); len(got) != 2 {
		t.Errorf("%d segment files after the merge, want the 2 merged ones: %v", len(got), got)
	}
	sameAnswers(t, answers(t, st, watermark), before)
	// Written as a flush writes: every block has its any-column filter.
	for _, s := range after {
		r, err := openSegmentAt(st, filepath.Join(dir, ws, compactTable, s.name.String()), ws, compactTable, s)
		if err != nil {
			t.Fatal(err)
		}
		for bi, b := range r.blocks {
			if b.anySize == 0 {
				t.Errorf("merged segment %s, block %d: no any-column filter", s.name, bi)
			}
		}
		r.close()
	}

	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) > 0 {
		t.Fatalf("verify after the merge: %v, damage %v", err, rep.Damaged)
	}
	st.Close()
	st = newTestStore(t, dir, keys, cfg)
	sameAnswers(t, answers(t, st, watermark), before)
	if d := st.Damage(); len(d) > 0 {
		t.Fatalf("damage after reopening: %v", d)
	}
	if n, err := st.Compact(context.Background(), ws, compactTable); err != nil || n != 0 {
		t.Fatalf("a second merge merged %d segments (%v), want none", n, err)
	}
}

// copyDir copies the regular files of src into a new directory: the disk as
// a crash at this instant would leave it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyLedger(t *testing.T, l *MemLedger) *MemLedger {
	t.Helper()
	rec, err := l.Table(context.Background(), ws, compactTable)
	if err != nil {
		t.Fatal(err)
	}
	c := &MemLedger{}
	c.SetEpoch(context.Background(), ws, compactTable, rec.Epoch)
	c.SetPurgedBefore(context.Background(), ws, compactTable, rec.PurgedBefore)
	return c
}

func TestCrashAtAnyStepOfAMergeNeitherLosesNorDuplicatesARow(t *testing.T) {
	for _, tc := range []struct {
		step compactStep
		// removed: of the old files, some were removed before the crash
		someRemoved bool
	}{
		{stepIntent, false}, {stepPartial, false}, {stepWritten, false},
		{stepCommitted, false}, {stepCommitted, true}, {stepRemoved, false},
	} {
		step := tc.step
		name := string(step)
		if tc.someRemoved {
			name += ", some old files removed"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			keys := envelopetest.New("aek")
			ledger := &MemLedger{}
			st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64; c.Ledger = ledger })
			smallSegments(t, st, 5, 100)
			watermark := st.IngestionWatermark()
			before := answers(t, st, watermark)

			var crashDir string
			var crashLedger *MemLedger
			st.compactHook = func(s compactStep) {
				if s == step && crashDir == "" {
					crashDir, crashLedger = copyDir(t, dir), copyLedger(t, ledger)
				}
			}
			if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
				t.Fatal(err)
			}
			if crashDir == "" {
				t.Fatalf("the merge never reached step %s", step)
			}
			st.Close()
			if tc.someRemoved {
				m, _ := manifestOf(t, st, crashDir)
				for _, n := range m.retired[:len(m.retired)/2] {
					if err := os.Remove(filepath.Join(crashDir, ws, compactTable, n.String())); err != nil {
						t.Fatal(err)
					}
				}
			}

			st = newTestStore(t, crashDir, keys, func(c *Config) { c.BlockRows = 64; c.Ledger = crashLedger })
			sameAnswers(t, answers(t, st, watermark), before)
			if d := st.Damage(); len(d) > 0 {
				t.Fatalf("a crash at %s left damage: %v", step, d)
			}
			listed := len(tableSegs(st))
			if got := files(t, crashDir, segExt); len(got) != listed {
				t.Errorf("a crash at %s left %d segment files for %d listed", step, len(got), listed)
			}
			if tmp := files(t, crashDir, tmpExt); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
			rep, err := st.Verify(context.Background(), ws, nil)
			if err != nil || len(rep.Damaged) > 0 {
				t.Fatalf("verify after a crash at %s: %v, damage %v", step, err, rep.Damaged)
			}
			// The merge cut short is done again.
			if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
				t.Fatal(err)
			}
			if n := len(tableSegs(st)); n != 2 {
				t.Errorf("%d segments after merging again, want 2", n)
			}
			sameAnswers(t, answers(t, st, watermark), before)
		})
	}
}

// manifestOf reads the table's manifest in a copy of the store's directory.
func manifestOf(t *testing.T, st *Store, dir string) (*manifest, header) {
	t.Helper()
	local, err := localfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	copied := &Store{keys: st.keys, objects: objects{store: local}}
	tb := &table{st: copied, ws: ws, name: compactTable, dir: filepath.Join(dir, ws, compactTable)}
	m, hdr, err := tb.readManifest(context.Background(), nil)
	if err != nil || m == nil {
		t.Fatalf("read the manifest: %v", err)
	}
	return m, hdr
}

// TestMergeAlongsideIngestAndFlushKeepsEveryRow: rows ingested and flushed
// while merges run are all there once, and nothing is damaged.
func TestMergeAlongsideIngestAndFlushKeepsEveryRow(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64 })
	smallSegments(t, st, 4, 60)
	done := make(chan error)
	go func() {
		for range 5 {
			if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for k := 4; k < 12; k++ {
		mustIngest(t, st, ws, compactTable, mixedBody(t, k, 60, testNow))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
		t.Fatal(err)
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable})
	if err != nil {
		t.Fatal(err)
	}
	ref := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 64 })
	smallSegments(t, ref, 12, 60) // flushed one by one, as st's
	want, err := scanAll(ref, ScanRequest{Workspace: ws, Table: compactTable})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, canonRows(got), canonRows(want))
	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) > 0 {
		t.Fatalf("verify: %v, damage %v", err, rep.Damaged)
	}
}

func TestRevokedKeyMergesNothingAndRestoredKeyMerges(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64 })
	smallSegments(t, st, 3, 50)
	segs := files(t, dir, segExt)

	keys.Revoke()
	if _, err := st.Compact(context.Background(), ws, compactTable); !errors.Is(err, envelopetest.ErrRevoked) {
		t.Fatalf("compact with the key revoked: %v, want the revoked error", err)
	}
	if got := files(t, dir, segExt); !reflect.DeepEqual(got, segs) {
		t.Fatalf("segments changed while the key was revoked: %v, want %v", got, segs)
	}
	keys.Restore()
	if n, err := st.Compact(context.Background(), ws, compactTable); err != nil || n != len(segs) {
		t.Fatalf("compact with the key restored: merged %d (%v), want %d", n, err, len(segs))
	}
}

// logLines is a slog handler that sends each record's text to a channel.
type logLines chan string

func (l logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logLines) WithGroup(string) slog.Handler            { return l }
func (l logLines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	select {
	case l <- b.String():
	default:
	}
	return nil
}

func TestBackgroundMergeWaitsForTheKeyAndLogsWithoutSecrets(t *testing.T) {
	keys := envelopetest.New("aek")
	lines := make(logLines, 100)
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) {
		c.BlockRows = 64
		c.FlushInterval = time.Hour // no merge until the segments are there
		c.Logger = slog.New(lines)
	})
	smallSegments(t, st, 2, 40) // 2 segments an hour: not due
	tb, _ := st.table(ws, compactTable)
	st.compactInBackground([]*table{tb})
	st.compacting <- struct{}{} // once the background merge is over
	<-st.compacting
	if n := len(tableSegs(st)); n != 4 {
		t.Fatalf("%d segments, want the 4 not yet due", n)
	}
	smallSegments(t, st, 2, 40)
	keys.Revoke()
	st.compactInBackground([]*table{tb})
	var line string
	for deadline := time.After(20 * time.Second); !strings.Contains(line, "compaction failed"); {
		select {
		case line = <-lines:
		case <-deadline:
			t.Fatal("no log line for the failed merge")
		}
	}
	if !strings.Contains(line, compactTable) || !strings.Contains(line, envelopetest.ErrRevoked.Error()) {
		t.Errorf("log line %q does not name the table and the cause", line)
	}
	for _, m := range keys.Material() {
		if strings.Contains(line, string(m)) || strings.Contains(line, fmt.Sprintf("%x", m)) {
			t.Errorf("log line %q holds key material", line)
		}
	}
	keys.Restore()
	st.compacting <- struct{}{} // once the failed merge is over
	<-st.compacting
	st.compactInBackground([]*table{tb})
	waitTable(t, st, ws, compactTable, func(tb *table) bool { return len(tb.segs) == 2 && !tb.merge.running })
}

func TestScanDuringAMergeSeesEveryRowOnce(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64 })
	smallSegments(t, st, 4, 100)
	before := answers(t, st, time.Time{})["all"]
	oldFiles := files(t, dir, segExt)

	scs, err := st.ScanShards(context.Background(), ScanRequest{Workspace: ws, Table: compactTable}, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []*Batch
	if !scs[0].Next() {
		t.Fatalf("no first batch: %v", scs[0].Err())
	}
	got = append(got, scs[0].Batch())
	if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
		t.Fatal(err)
	}
	for _, f := range oldFiles {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("a segment an open scan may read was removed: %v", err)
		}
	}
	// A scan begun after the merge reads the merged segments, while the
	// first still reads the old ones.
	merged, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, canonRows(merged), before)
	for _, sc := range scs {
		for sc.Next() {
			got = append(got, sc.Batch())
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	equalRows(t, canonRows(got), before)
	scs[0].Close()
	if n := len(files(t, dir, segExt)); n == 2 {
		t.Fatal("old segments removed while a scan of them is still open")
	}
	scs[1].Close()
	if got := files(t, dir, segExt); len(got) != 2 {
		t.Fatalf("%d segment files once the scans closed, want the 2 merged", len(got))
	}
}

func TestRetentionPurgesMergedSegmentsByTheirHour(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := newTestStore(t, dir, keys, func(c *Config) {
		c.BlockRows = 64
		c.Ledger = ledger
		c.Retention = 2 * 24 * time.Hour
	})
	smallSegments(t, st, 4, 90)
	recent, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable, From: testNow.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
		t.Fatal(err)
	}
	// A day and a half on, the rows of the day before are past the
	// retention, those of the last hour not.
	purged, err := st.PurgeExpired(context.Background(), testNow.Add(36*time.Hour))
	if err != nil || purged != 1 {
		t.Fatalf("purged %d segments (%v), want the merged one of the older hour", purged, err)
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, canonRows(got), canonRows(recent))
	st.Close()
	st = newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64; c.Ledger = ledger; c.Retention = 2 * 24 * time.Hour })
	got, err = scanAll(st, ScanRequest{Workspace: ws, Table: compactTable})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, canonRows(got), canonRows(recent))
	if d := st.Damage(); len(d) > 0 {
		t.Fatalf("damage after the purge: %v", d)
	}
}

func TestMergedSegmentsAreSealedAndAuthenticated(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64 })
	const canary = "canary-7f3a9c1e"
	for k := range 4 {
		mustIngest(t, st, ws, compactTable, []byte(fmt.Sprintf(`[{"TimeGenerated":%q,"Note":"%s %d"}]`,
			testNow.Add(-time.Duration(k)*time.Minute).Format(time.RFC3339), canary, k)))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	keyID := keys.CurrentID()
	keys.Rotate()
	if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
		t.Fatal(err)
	}
	segs := files(t, dir, segExt)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1 merged", len(segs))
	}
	for _, p := range sealedFiles(t, dir) {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("%s holds a row in the clear", p)
		}
	}
	if h, err := fileHeader(segs[0]); err != nil || h.aekID == keyID || h.aekID != keys.CurrentID() {
		t.Errorf("merged segment sealed under %q (%v), want the current key %q", h.aekID, err, keys.CurrentID())
	}
	b, _ := os.ReadFile(segs[0])
	b[len(b)/2] ^= 1
	os.WriteFile(segs[0], b, 0o600)
	st.indexes.drop()
	_, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable})
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Object != filepath.Base(segs[0]) {
		t.Fatalf("scan of a tampered merged segment: %v, want an IntegrityError naming it", err)
	}
}

func TestMergePolicyTakesSmallSegmentsOfOnePartition(t *testing.T) {
	hour := partitionNanos
	seg := func(h int64, rows int64) segFile {
		return segFile{name: segName{minT: h * hour, maxT: h*hour + 10, walSeq: uint64(rows), part: int(h)}, rows: rows, size: rows * 100,
			ingested: ingestRange{known: true, lo: 100, hi: 200}}
	}
	cold := func(s segFile) segFile {
		s.ingested.hi = 50
		return s
	}
	damaged := seg(1, 5)
	damaged.damage = &IntegrityError{}
	spanning := segFile{name: segName{minT: hour - 1, maxT: hour + 1}, rows: 1, size: 100}
	tiered := mergePolicy{minSegs: 4, rows: 1000, bytes: 1 << 20, coldBefore: 100}
	full := mergePolicy{minSegs: 2, rows: 1000, bytes: 1 << 20, full: true}
	for _, tc := range []struct {
		name   string
		policy mergePolicy
		segs   []segFile
		want   []int64 // rows of the segments taken
	}{
		{"too few small segments", tiered, []segFile{seg(1, 5), seg(1, 5), seg(1, 5)}, nil},
		{"segments of about one size, all", tiered, []segFile{seg(1, 5), seg(1, 6), seg(1, 9), seg(1, 7)}, []int64{5, 6, 7, 9}},
		{"each partition apart", tiered, []segFile{seg(1, 5), seg(2, 5), seg(1, 5), seg(2, 5), seg(1, 5), seg(2, 5)}, nil},
		{"a segment of a bigger tier waits", tiered, []segFile{seg(1, 5), seg(1, 5), seg(1, 5), seg(1, 5), seg(1, 20)}, []int64{5, 5, 5, 5}},
		{"segments of a bigger tier wait for enough of theirs", tiered, []segFile{seg(1, 5), seg(1, 20), seg(1, 20), seg(1, 40)}, nil},
		{"a full merge takes every tier", full, []segFile{seg(1, 5), seg(1, 20), seg(1, 400)}, []int64{5, 20, 400}},
		{"up to the target rows", tiered, []segFile{seg(1, 250), seg(1, 250), seg(1, 250), seg(1, 250), seg(1, 250)}, []int64{250, 250, 250, 250}},
		{"up to the target bytes", mergePolicy{minSegs: 2, rows: 1000, bytes: 1000, full: true}, []segFile{seg(1, 4), seg(1, 4), seg(1, 4)}, []int64{4, 4}},
		{"segments at the target are left", tiered, []segFile{seg(1, 1000), seg(1, 1000), seg(1, 1000), seg(1, 1000)}, nil},
		{"damaged segments are left", tiered, []segFile{seg(1, 5), seg(1, 5), seg(1, 5), damaged}, nil},
		{"a segment across two hours is left", tiered, []segFile{seg(1, 5), seg(1, 5), seg(1, 5), spanning}, nil},
		{"a cold partition in full from two segments", tiered, []segFile{cold(seg(1, 5)), cold(seg(1, 40))}, []int64{5, 40}},
		{"a partition with a segment ingested lately is not cold", tiered, []segFile{cold(seg(1, 5)), seg(1, 40)}, nil},
		{"a segment of unknown ingestion times is cold", tiered, []segFile{{name: seg(1, 5).name, rows: 5, size: 500}, cold(seg(1, 40))}, []int64{5, 40}},
		{"the oldest partition first", tiered, []segFile{seg(3, 5), seg(3, 5), seg(3, 5), seg(3, 5), seg(2, 7), seg(2, 7), seg(2, 7), seg(2, 7)}, []int64{7, 7, 7, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			for _, s := range tc.policy.plan(tc.segs) {
				got = append(got, s.rows)
			}
			slices.Sort(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("took %v, want %v", got, tc.want)
			}
		})
	}
}

func TestManifestListsMergesAndRetiredSegmentsRoundTrip(t *testing.T) {
	m := &manifest{nextSeq: 9, schema: map[string]Type{"A": TypeLong},
		merging: []uint64{7, 8}, retired: []segName{{minT: 1, maxT: 2, walSeq: 3}, {minT: 4, maxT: 5, walSeq: 6, part: 1}}}
	got, err := decodeManifest(encodeManifest(m), manifestVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.merging, m.merging) || !reflect.DeepEqual(got.retired, m.retired) {
		t.Fatalf("decoded merges %v and retired %v, want %v and %v", got.merging, got.retired, m.merging, m.retired)
	}
	// A version 2 manifest ends at the schema.
	v2 := encodeManifest(&manifest{nextSeq: 9, schema: m.schema})
	v2 = v2[:len(v2)-2] // the two empty lists
	if _, err := decodeManifest(v2, 2); err != nil {
		t.Fatalf("a version 2 manifest: %v", err)
	}
}

// TestMergeOfSegmentsPurgedMeanwhileIsDropped: retention deleting a segment
// before a merge of it reads it, or while the merge is written, drops the
// merge, leaving nothing behind and reporting no damage.
func TestMergeOfSegmentsPurgedMeanwhileIsDropped(t *testing.T) {
	for _, step := range []compactStep{stepIntent, stepWritten} {
		t.Run("purged at "+string(step), func(t *testing.T) {
			dir := t.TempDir()
			keys := envelopetest.New("aek")
			st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64; c.Retention = 2 * 24 * time.Hour })
			smallSegments(t, st, 4, 90)
			recent, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable, From: testNow.Add(-2 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			st.compactHook = func(s compactStep) {
				if s == step {
					if _, err := st.PurgeExpired(context.Background(), testNow.Add(36*time.Hour)); err != nil {
						t.Error(err)
					}
				}
			}
			// The older hour is merged first, and purged meanwhile; the last
			// hour's merge is not disturbed.
			merged, err := st.Compact(context.Background(), ws, compactTable)
			if err != nil || merged != 4 {
				t.Fatalf("merged %d segments (%v), want the 4 of the last hour", merged, err)
			}
			if got := files(t, dir, segExt); len(got) != 1 {
				t.Fatalf("segment files %v, want the one merged of the last hour", got)
			}
			got, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable})
			if err != nil {
				t.Fatal(err)
			}
			equalRows(t, canonRows(got), canonRows(recent))
			if d := st.Damage(); len(d) > 0 {
				t.Fatalf("damage: %v", d)
			}
		})
	}
}

// TestStoresSharingMergeSlotsMergeOneAtATime: a merge of one store waits
// for the merge of another that shares its slots.
func TestStoresSharingMergeSlotsMergeOneAtATime(t *testing.T) {
	keys := envelopetest.New("aek")
	slots := NewMergeSlots(1)
	stores := make([]*Store, 2)
	for i := range stores {
		stores[i] = newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 64; c.Merges = slots })
		smallSegments(t, stores[i], 2, 30)
	}
	inFirst := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // a failed check below must not leave the first merge parked
	stores[0].compactHook = func(s compactStep) {
		if s == stepWritten {
			close(inFirst)
			<-release
		}
	}
	first := make(chan error, 1)
	go func() {
		_, err := stores[0].Compact(context.Background(), ws, compactTable)
		first <- err
	}()
	select {
	case <-inFirst:
	case err := <-first:
		t.Fatalf("the first store's merge ended (%v) before it wrote its segment", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the first store's merge did not write its segment within 20s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := stores[1].Compact(ctx, ws, compactTable); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second store merged while the first held the only slot: %v", err)
	}
	stores[0].compactHook = nil
	free()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n, err := stores[1].Compact(context.Background(), ws, compactTable); err != nil || n != 4 {
		t.Fatalf("merged %d segments (%v) once the slot was free, want 4", n, err)
	}
}

// TestVerifyOfASegmentMergedMeanwhileFindsNoDamage: a segment Verify
// listed and a merge then replaced and removed is not reported missing.
func TestVerifyOfASegmentMergedMeanwhileFindsNoDamage(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 64 })
	smallSegments(t, st, 2, 30)
	old := tableSegs(st)
	if _, err := st.Compact(context.Background(), ws, compactTable); err != nil {
		t.Fatal(err)
	}
	tb, _ := st.table(ws, compactTable)
	for _, s := range old {
		if _, err := tb.verifySegment(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if d := st.Damage(); len(d) > 0 {
		t.Fatalf("damage reported for segments merged away: %v", d)
	}
}

// TestPacerKeepsAMergeToItsShareOfACore: after a block, a merge paced to
// half a core waits as long as it worked; a full share never waits; a
// cancelled merge stops waiting.
func TestPacerKeepsAMergeToItsShareOfACore(t *testing.T) {
	const worked = 30 * time.Millisecond
	half := pacer{share: 0.5, since: time.Now().Add(-worked)}
	start := time.Now()
	if err := half.pause(context.Background()); err != nil || time.Since(start) < worked {
		t.Fatalf("paused %v (%v), want at least the %v worked", time.Since(start), err, worked)
	}
	whole := pacer{share: 1, since: time.Now().Add(-time.Hour)}
	ctx, cancel := context.WithCancel(context.Background())
	if err := whole.pause(ctx); err != nil {
		t.Fatalf("a full share paused: %v", err)
	}
	cancel()
	long := pacer{share: 0.5, since: time.Now().Add(-time.Hour)}
	if err := long.pause(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled merge paused on: %v", err)
	}
}

// TestMergeLeftoverAnOpenCannotRemoveStaysListed: a segment a merge retired
// that an open fails to remove stays listed as retired in the manifests
// written after, so that a later open does not report it as unexpected.
func TestMergeLeftoverAnOpenCannotRemoveStaysListed(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 64; c.Ledger = ledger })
	smallSegments(t, st, 4, 50)
	var crashDir string
	var crashLedger *MemLedger
	st.compactHook = func(s compactStep) {
		if s == stepCommitted && crashDir == "" {
			crashDir, crashLedger = copyDir(t, dir), copyLedger(t, ledger)
		}
	}
	if _, err := st.Compact(context.Background(), ws, compactTable); err != nil || crashDir == "" {
		t.Fatalf("compact: %v (crash copy taken: %v)", err, crashDir != "")
	}
	st.Close()
	m, _ := manifestOf(t, st, crashDir)
	if len(m.retired) == 0 {
		t.Fatal("the committed merge lists no retired segment")
	}
	// A store that fails to delete one retired segment.
	stuck := segmentKey(ws, compactTable, "", m.retired[0])
	cfg := func(c *Config) { c.BlockRows = 64; c.Ledger = crashLedger }
	st = newTestStore(t, crashDir, keys, cfg)
	st.objects.store = failingDelete{Store: st.objects.store, key: stuck}
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable}); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, compactTable, mixedBody(t, 9, 10, testNow)) // a manifest write after the open
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if later, _ := manifestOf(t, st, crashDir); !slices.Contains(later.retired, m.retired[0]) {
		t.Fatalf("the manifest no longer lists the retired segment left on disk: %v", later.retired)
	}
	st = newTestStore(t, crashDir, keys, cfg)
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: compactTable}); err != nil {
		t.Fatal(err)
	}
	if d := st.Damage(); len(d) > 0 {
		t.Fatalf("a retired segment an open could not remove is reported: %v", d)
	}
}

// failingDelete is a store that fails to delete one key.
type failingDelete struct {
	objstore.Store
	key string
}

func (s failingDelete) Delete(ctx context.Context, key string) error {
	if key == s.key {
		return fmt.Errorf("delete %s: %w", key, objstore.ErrDenied)
	}
	return s.Store.Delete(ctx, key)
}
