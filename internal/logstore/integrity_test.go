package logstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// twoHourTable writes rows into two hourly segments (an hour ago and now)
// and returns the store, the ledger it shares with reopened stores, and the
// two segment paths, older first.
func twoHourTable(t *testing.T, dir string, keys *envelopetest.Keys) (*Store, *MemLedger, []string) {
	t.Helper()
	ledger := &MemLedger{}
	st := newTestStore(t, dir, keys, func(c *Config) { c.Ledger = ledger })
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 50, testNow.Add(-time.Hour)))
	mustIngest(t, st, ws, tbl, eventsBody(t, 50, 50, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := files(t, dir, segExt)
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	slices.Sort(segs) // names start with the first row's time
	return st, ledger, segs
}

func reopen(t *testing.T, dir string, keys *envelopetest.Keys, ledger *MemLedger) *Store {
	t.Helper()
	return newTestStore(t, dir, keys, func(c *Config) { c.Ledger = ledger })
}

// lastHalfHour scans only the newer segment's time range.
var lastHalfHour = ScanRequest{Workspace: ws, Table: tbl, From: testNow.Add(-30 * time.Minute), To: testNow.Add(time.Minute)}

func wantDamage(t *testing.T, err error, object string, p Problem) *IntegrityError {
	t.Helper()
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Problem != p || (object != "" && ie.Object != object) {
		t.Fatalf("error %v; want %s of %s", err, p, object)
	}
	if !errors.Is(err, ErrCorrupt) || ie.Workspace != ws || ie.Table != tbl {
		t.Fatalf("integrity error %+v does not name the workspace and table", ie)
	}
	return ie
}

func TestDamagedSegmentIsNamedAndOnlyScansThatNeedItFail(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, old, recent string)
		problem Problem
	}{
		{"deleted", func(t *testing.T, old, _ string) { os.Remove(old) }, ProblemMissing},
		{"truncated", func(t *testing.T, old, _ string) {
			fi, _ := os.Stat(old)
			os.Truncate(old, fi.Size()/2)
		}, ProblemTruncated},
		{"header byte flipped", func(t *testing.T, old, _ string) {
			b, _ := os.ReadFile(old)
			b[9] ^= 0x40 // inside the salt
			os.WriteFile(old, b, 0o600)
		}, ProblemAuthentication},
		{"substituted by the other segment", func(t *testing.T, old, recent string) {
			b, _ := os.ReadFile(recent)
			os.WriteFile(old, b, 0o600)
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			keys := envelopetest.New("aek")
			st, ledger, segs := twoHourTable(t, dir, keys)
			st.Close()
			c.damage(t, segs[0], segs[1])
			st = reopen(t, dir, keys, ledger)
			_, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Object != filepath.Base(segs[0]) || (c.problem != "" && ie.Problem != c.problem) {
				t.Fatalf("whole-table scan: %v; want %q of %s", err, c.problem, filepath.Base(segs[0]))
			}
			got, err := scanAll(st, lastHalfHour)
			if err != nil || countRows(got) != 50 {
				t.Fatalf("scan of the undamaged hour: %d rows, %v; want 50", countRows(got), err)
			}
			if schema, err := st.Schema(context.Background(), ws, tbl); err != nil || len(schema) < 3 {
				t.Fatalf("schema: %v, %v", schema, err)
			}
			if d := st.Damage(); len(d) != 1 || d[0].Object != filepath.Base(segs[0]) {
				t.Fatalf("damage recorded: %+v", d)
			}
		})
	}
}

func TestManifestRolledBackOrDeletedDamagesTheTable(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, _ := twoHourTable(t, dir, keys)
	manifest := filepath.Join(dir, ws, tbl, manifestFile)
	old, _ := os.ReadFile(manifest)
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 10, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	current, _ := os.ReadFile(manifest)

	os.WriteFile(manifest, old, 0o600)
	st = reopen(t, dir, keys, ledger)
	_, err := scanAll(st, lastHalfHour)
	wantDamage(t, err, manifestFile, ProblemRolledBack)
	if _, err := st.Ingest(context.Background(), ws, tbl, eventsBody(t, 0, 1, testNow)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ingest into a table whose manifest was rolled back: %v", err)
	}
	st.Close()

	os.Remove(manifest)
	st = reopen(t, dir, keys, ledger)
	_, err = scanAll(st, lastHalfHour)
	wantDamage(t, err, manifestFile, ProblemMissing)
	st.Close()

	os.WriteFile(manifest, current, 0o600) // restored from a backup
	st = reopen(t, dir, keys, ledger)
	wantScanned(t, st, 110, "after the manifest came back")
}

func TestUnexpectedSegmentIsReportedAndNeverRead(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, segs := twoHourTable(t, dir, keys)
	st.Close()
	n, _ := parseSegName(filepath.Base(segs[1]))
	n.walSeq += 7 // from no WAL the manifest lists
	b, _ := os.ReadFile(segs[1])
	os.WriteFile(filepath.Join(filepath.Dir(segs[1]), n.String()), b, 0o600)
	st = reopen(t, dir, keys, ledger)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != 100 {
		t.Fatalf("%d rows, %v; want the 100 listed", countRows(got), err)
	}
	if d := st.Damage(); len(d) != 1 || d[0].Problem != ProblemUnexpected || d[0].Object != n.String() {
		t.Fatalf("damage recorded: %+v", d)
	}
}

func TestDeletedWALIsDamageNamingItsTimeRange(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := reopen(t, dir, keys, ledger)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 20, testNow.Add(-3*time.Hour)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, eventsBody(t, 20, 20, testNow))
	st.Close()
	wals := files(t, dir, walExt)
	if len(wals) != 1 {
		t.Fatalf("%d WALs", len(wals))
	}
	os.Remove(wals[0])
	st = reopen(t, dir, keys, ledger)
	_, err := scanAll(st, lastHalfHour)
	wantDamage(t, err, filepath.Base(wals[0]), ProblemMissing)
	old := ScanRequest{Workspace: ws, Table: tbl, From: testNow.Add(-4 * time.Hour), To: testNow.Add(-2 * time.Hour)}
	if got, err := scanAll(st, old); err != nil || countRows(got) != 20 {
		t.Fatalf("scan before the lost WAL's rows: %d rows, %v; want 20", countRows(got), err)
	}
	// Damage stays evident: new rows are taken, the loss stays listed.
	mustIngest(t, st, ws, tbl, eventsBody(t, 40, 5, testNow.Add(-3*time.Hour)))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = reopen(t, dir, keys, ledger)
	_, err = scanAll(st, lastHalfHour)
	wantDamage(t, err, filepath.Base(wals[0]), ProblemMissing)
}

// TestDeletedFilesAreLoggedWithTheirCause: a listed segment or WAL that is
// gone is found when the table opens, before any read of it; that log line,
// like every other, says what failed, and so does a query's error.
func TestDeletedFilesAreLoggedWithTheirCause(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, segs := twoHourTable(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 5, testNow))
	st.Close()
	wals := files(t, dir, walExt)
	if len(wals) != 1 {
		t.Fatalf("%d WALs, want 1", len(wals))
	}
	os.Remove(segs[0])
	os.Remove(wals[0])
	var logs bytes.Buffer
	st = newTestStore(t, dir, keys, func(c *Config) {
		c.Ledger = ledger
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	_, err := scanAll(st, lastHalfHour)
	if ie := wantDamage(t, err, filepath.Base(wals[0]), ProblemMissing); ie.Detail != "the file is gone" {
		t.Errorf("the scan's error says %q, want that the file is gone", ie.Detail)
	}
	var found int
	for line := range strings.Lines(logs.String()) {
		if !strings.Contains(line, `msg="damaged data found"`) {
			continue
		}
		found++
		if !strings.Contains(line, `detail="the file is gone"`) {
			t.Errorf("a damage line without its cause: %s", line)
		}
	}
	if found < 2 {
		t.Fatalf("%d damage lines, want one for the segment and one for the WAL:\n%s", found, logs.String())
	}
}

func TestCrashLeftoversAreRepairedNotReportedAsDamage(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := reopen(t, dir, keys, ledger)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 30, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, eventsBody(t, 30, 30, testNow))
	st.Close()
	tdir := filepath.Join(dir, ws, tbl)
	wals := files(t, dir, walExt)
	seg := files(t, dir, segExt)[0]
	// A flush of the listed WAL that wrote its segment and crashed before
	// the manifest: the segment is partial work, the WAL is the truth.
	n, _ := parseSegName(filepath.Base(seg))
	w, _ := parseWALName(filepath.Base(wals[0]))
	n.walSeq = w
	b, _ := os.ReadFile(seg)
	os.WriteFile(filepath.Join(tdir, n.String()), b, 0o600)
	// A WAL created and never listed (the crash came before the manifest),
	// and a temporary file of a write cut short.
	created, err := createWAL(tdir, w+1, ws, tbl, "", keys.CurrentID())
	if err != nil {
		t.Fatal(err)
	}
	created.close()
	os.WriteFile(filepath.Join(tdir, "manifest-1.tmp"), []byte("partial"), 0o600)
	st = reopen(t, dir, keys, ledger)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != 60 {
		t.Fatalf("%d rows, %v; want 60", countRows(got), err)
	}
	if d := st.Damage(); len(d) != 0 {
		t.Fatalf("crash leftovers reported as damage: %+v", d)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{created.path, filepath.Join(tdir, "manifest-1.tmp")} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind", filepath.Base(f))
		}
	}
}

func TestTableWrittenBeforeManifestsIsAdoptedWhole(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, _, _ := twoHourTable(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 10, testNow))
	st.Close()
	os.Remove(filepath.Join(dir, ws, tbl, manifestFile))
	fresh := &MemLedger{} // a control plane that never heard of the table
	st = reopen(t, dir, keys, fresh)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != 110 {
		t.Fatalf("%d rows, %v; want 110", countRows(got), err)
	}
	if rec, _ := fresh.Table(context.Background(), ws, tbl); rec.Epoch == 0 {
		t.Fatal("no manifest epoch recorded for the adopted table")
	}
	if _, err := os.Stat(filepath.Join(dir, ws, tbl, manifestFile)); err != nil {
		t.Fatalf("no manifest written: %v", err)
	}
}

func TestRetentionHorizonKeepsPurgedSegmentsFromLookingLost(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, segs := twoHourTable(t, dir, keys)
	st.Close()
	// The older segment expires; the store purging it is not the one that
	// reads afterwards, and the reader keeps rows longer.
	purger := newTestStore(t, dir, keys, func(c *Config) { c.Ledger = ledger; c.Retention = 50 * time.Minute })
	if n, err := purger.PurgeExpired(context.Background(), testNow); err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	purger.Close()
	if _, err := os.Stat(segs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the expired segment is still there")
	}
	st = reopen(t, dir, keys, ledger)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != 50 || len(st.Damage()) != 0 {
		t.Fatalf("%d rows, %v, damage %v; want the 50 kept and no damage", countRows(got), err, st.Damage())
	}
}

func TestIntegrityErrorsNameTheObjectNeverRows(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, segs := twoHourTable(t, dir, keys)
	st.Close()
	b, _ := os.ReadFile(segs[0])
	_, hlen, err := decodeHeader(b, magicSegment)
	if err != nil {
		t.Fatal(err)
	}
	b[hlen+20] ^= 1 // in the first column chunk, which every scan reads
	os.WriteFile(segs[0], b, 0o600)
	st = reopen(t, dir, keys, ledger)
	_, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	ie := wantDamage(t, err, filepath.Base(segs[0]), ProblemAuthentication)
	if msg := ie.Error(); !strings.Contains(msg, filepath.Base(segs[0])) || strings.Contains(msg, "user") {
		t.Fatalf("message %q", msg)
	}
}

func TestVerifyFindsDamageNoQueryReadAndClearsItOnceRestored(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, segs := twoHourTable(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 5, testNow)) // a WAL too
	total, err := st.VerifySize(context.Background(), ws)
	if err != nil || total == 0 {
		t.Fatalf("verify size %d, %v", total, err)
	}
	var read int64
	rep, err := st.Verify(context.Background(), ws, func(n int64) { read += n })
	if err != nil || len(rep.Damaged) != 0 || rep.Objects != 4 || rep.Tables != 1 || read != rep.Bytes || read == 0 {
		t.Fatalf("clean verify: %+v, read %d, %v; want 4 objects (manifest, 2 segments, WAL), no damage", rep, read, err)
	}
	st.Close()
	// The last column chunk of the newer segment: a scan of one column
	// never reads it.
	orig, _ := os.ReadFile(segs[1])
	b := slices.Clone(orig)
	last := chunk(t, newTestStore(t, t.TempDir(), keys), segs[1], tbl, 0, "Computer")
	b[last.off+last.size-1] ^= 1
	os.WriteFile(segs[1], b, 0o600)
	st = reopen(t, dir, keys, ledger)
	if got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}}); err != nil || countRows(got) != 105 {
		t.Fatalf("scan of an undamaged column: %d rows, %v", countRows(got), err)
	}
	rep, err = st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != filepath.Base(segs[1]) || rep.Damaged[0].Problem != ProblemAuthentication {
		t.Fatalf("verify: %+v, %v; want the newer segment", rep, err)
	}
	if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a scan needing the damaged segment: %v", err)
	}
	os.WriteFile(segs[1], orig, 0o600) // restored from a backup
	rep, err = st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 0 || len(st.Damage()) != 0 {
		t.Fatalf("verify after the restore: %+v, %v", rep, err)
	}
	wantScanned(t, st, 105, "after the restore")
}

func TestVerifyNeedsTheKey(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, _, _ := twoHourTable(t, dir, keys)
	keys.Revoke()
	if _, err := st.Verify(context.Background(), ws, nil); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify with the key revoked: %v; want the key's error, not damage", err)
	}
}

// TestTruncatedWALNamesTheRowsItsOwnMarkVouchesFor: a WAL's listing in the
// manifest may be older than its own mark (the WAL went on taking rows);
// when the WAL loses acknowledged records, the rows at risk are those its
// mark names too, so that a scan of them is refused, not answered short.
func TestTruncatedWALNamesTheRowsItsOwnMarkVouchesFor(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := reopen(t, dir, keys, ledger)
	earlier := testNow.Add(-3 * time.Hour)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 1, earlier))
	st.Close() // the manifest lists the WAL: 1 record, 3 hours ago
	wal := files(t, dir, walExt)[0]
	listed, _ := os.ReadFile(wal)

	// The WAL goes on: a record of rows of now, acknowledged and marked.
	data := slices.Clone(listed)
	hdr, hlen, err := decodeHeader(data, magicWAL)
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := parseWALName(filepath.Base(wal))
	sealer, _ := keys.ByID(context.Background(), hdr.aekID)
	aead, _ := sealer.AEAD(hdr.salt[:], purposeWAL)
	f, _ := os.OpenFile(wal, os.O_RDWR, 0)
	f.Seek(0, io.SeekEnd)
	w := &walWriter{seq: seq, hdr: hdr, hlen: int64(hlen), ws: ws, table: tbl, f: f, slot: 1, marked: 1}
	w.written = walMark{records: 1, minT: earlier.UnixNano(), maxT: earlier.UnixNano()}
	payload, refs, err := parseRows(eventsBody(t, 1, 1, testNow), ingestLimits{now: testNow, oldest: earlier.Add(-time.Hour), newest: testNow, maxRowBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := timeRange(refs)
	if _, _, err := w.append(aead, payload, lo, hi, false); err != nil {
		t.Fatal(err)
	}
	w.durable = w.written
	if _, err := w.writeMarkLocked(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// The new record is cut at its boundary (the mark stays).
	marked, _ := os.ReadFile(wal)
	os.WriteFile(wal, marked[:len(listed)], 0o600)
	st = reopen(t, dir, keys, ledger)
	got, err := scanAll(st, lastHalfHour)
	if err == nil {
		t.Fatalf("scan of the lost rows' hour: %d rows and no error; want the truncated WAL named", countRows(got))
	}
	wantDamage(t, err, filepath.Base(wal), ProblemTruncated)
}

// TestVerifyFindsTheManifestDeletedOrRolledBackWhileTheTableIsOpen: the
// scrub runs in a node whose tables are open; a manifest deleted or put
// back from an older copy meanwhile is damage it reports, and the damage
// clears once the manifest is whole again.
func TestVerifyFindsTheManifestDeletedOrRolledBackWhileTheTableIsOpen(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, _, _ := twoHourTable(t, dir, keys)
	manifest := filepath.Join(dir, ws, tbl, manifestFile)
	old, _ := os.ReadFile(manifest)
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 10, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	current, _ := os.ReadFile(manifest)
	for _, tc := range []struct {
		name    string
		damage  func()
		problem Problem
	}{
		{"deleted", func() { os.Remove(manifest) }, ProblemMissing},
		{"rolled back", func() { os.WriteFile(manifest, old, 0o600) }, ProblemRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage()
			rep, err := st.Verify(context.Background(), ws, nil)
			if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != manifestFile || rep.Damaged[0].Problem != tc.problem {
				t.Fatalf("verify: %+v, %v; want the manifest %s", rep, err, tc.problem)
			}
			os.WriteFile(manifest, current, 0o600) // restored from a backup
			rep, err = st.Verify(context.Background(), ws, nil)
			if err != nil || len(rep.Damaged) != 0 || len(st.Damage()) != 0 {
				t.Fatalf("verify after the restore: %+v, %v", rep, err)
			}
		})
	}
}

// TestReplayedRecordsPastTheMarkAreNotListedAsAcknowledged: records a
// crashed writer wrote past its mark may not be on stable storage (the
// page cache held them); the manifest written after the replay must not
// vouch for them, or a power loss before they reach the disk turns a
// healthy WAL into a truncated one.
func TestReplayedRecordsPastTheMarkAreNotListedAsAcknowledged(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	wal := walOnlyStore(t, dir, keys, `[{"A":"alpha"}]`, `[{"A":"beta"}]`)
	payload, _, err := parseRows([]byte(`[{"A":"never acknowledged"}]`), ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow, maxRowBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	appendUnacknowledged(t, keys, wal, payload, payload)
	st := newTestStore(t, dir, keys)
	tb, err := st.table(ws, tbl)
	if err != nil {
		t.Fatal(err)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.closed = true // no flush loop: the replayed WAL stays listed
	if err := tb.openLocked(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := tb.manifestLocked(nil)
	if len(m.wals) != 1 || m.wals[0].records != 2 {
		t.Fatalf("the next manifest lists %+v; want the WAL with its 2 acknowledged records", m.wals)
	}
	if n := tb.flushing[0].mem.mark().records; n != 4 {
		t.Fatalf("%d records replayed, want the 4 whole ones", n)
	}
}

// TestVerifyOfADeletedWorkspaceFindsNoDamage: a workspace deleted while the
// scrub reads it lost its files on purpose; the scrub stops, and reports no
// damage.
func TestVerifyOfADeletedWorkspaceFindsNoDamage(t *testing.T) {
	dir := t.TempDir()
	st, _, _ := twoHourTable(t, dir, envelopetest.New("aek"))
	deleted := false
	rep, err := st.Verify(context.Background(), ws, func(int64) {
		if !deleted {
			deleted = true
			if err := st.DeleteWorkspace(context.Background(), ws); err != nil {
				t.Error(err)
			}
		}
	})
	if !errors.Is(err, ErrClosed) || len(rep.Damaged) != 0 || len(st.Damage()) != 0 {
		t.Fatalf("verify during the deletion: %+v, %v, damage %+v; want it stopped with ErrClosed and no damage", rep, err, st.Damage())
	}
}

// TestDeletedTableDirectoryIsDamageNotAMissingTable: the ledger knows the
// tables that had a manifest, so a table whose whole directory is gone is
// still listed, and reported missing by scans and verify, not dropped from
// the workspace (where a query of every table would answer without it).
func TestDeletedTableDirectoryIsDamageNotAMissingTable(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, _ := twoHourTable(t, dir, keys)
	st.Close()
	os.RemoveAll(filepath.Join(dir, ws, tbl))
	st = reopen(t, dir, keys, ledger)
	if tables, err := st.Tables(context.Background(), ws); err != nil || !slices.Equal(tables, []string{tbl}) {
		t.Fatalf("tables %v, %v; want the deleted one listed", tables, err)
	}
	_, err := scanAll(st, lastHalfHour)
	wantDamage(t, err, manifestFile, ProblemMissing)
	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != manifestFile || rep.Damaged[0].Problem != ProblemMissing {
		t.Fatalf("verify: %+v, %v; want the manifest missing", rep, err)
	}
}

// TestVerifyFindsAnUnexpectedSegmentWhileTheTableIsOpen: a segment the
// manifest does not list, put in place while the node runs, is reported by
// the scrub as it would be by the next open, and forgotten once removed.
func TestVerifyFindsAnUnexpectedSegmentWhileTheTableIsOpen(t *testing.T) {
	dir := t.TempDir()
	st, _, segs := twoHourTable(t, dir, envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 5, testNow)) // a WAL too
	n, _ := parseSegName(filepath.Base(segs[1]))
	n.walSeq += 7 // from no WAL the manifest lists
	extra := filepath.Join(filepath.Dir(segs[1]), n.String())
	b, _ := os.ReadFile(segs[1])
	os.WriteFile(extra, b, 0o600)
	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != n.String() || rep.Damaged[0].Problem != ProblemUnexpected {
		t.Fatalf("verify: %+v, %v; want the unlisted segment", rep, err)
	}
	os.Remove(extra)
	rep, err = st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 0 || len(st.Damage()) != 0 {
		t.Fatalf("verify once it is gone: %+v, %v", rep, err)
	}
}

// markedWAL is the active WAL of ws/tbl in st, once its mark vouches for
// every record written.
func markedWAL(t *testing.T, st *Store) *walWriter {
	t.Helper()
	tb, _ := st.table(ws, tbl)
	tb.mu.Lock()
	w := tb.active.wal
	tb.mu.Unlock()
	awaitMark(t, w)
	return w
}

// awaitMark waits until w's mark vouches for every record written.
func awaitMark(t testing.TB, w *walWriter) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.markPending() {
		if time.Now().After(deadline) {
			t.Fatal("the WAL's mark never came up to date")
		}
		time.Sleep(markDelay / 20)
	}
}

// TestVerifyTakesNoMarkBeingRewrittenForDamage: the scrub reads a WAL that
// is being written, whose mark is rewritten in place; a read that ran into
// a slot being rewritten (simulated: the slot is garbage for the first
// read only) is read again while the writer waits, not reported.
func TestVerifyTakesNoMarkBeingRewrittenForDamage(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 5, testNow))
	w := markedWAL(t, st)
	f, _ := os.OpenFile(w.path, os.O_RDWR, 0)
	defer f.Close()
	slot := make([]byte, markSlotSize)
	f.ReadAt(slot, w.hlen)
	torn := bytes.Repeat([]byte{0x5a}, markSlotSize)
	f.WriteAt(torn, w.hlen)
	restored := false
	rep, err := st.Verify(context.Background(), ws, func(int64) {
		if !restored {
			restored = true
			f.WriteAt(slot, w.hlen) // the writer's rewrite completes
		}
	})
	if err != nil || !restored || len(rep.Damaged) != 0 || len(st.Damage()) != 0 {
		t.Fatalf("verify: %+v, %v; want no damage", rep, err)
	}
}

// TestAdoptedTableWithADamagedWALReportsItAndServesTheRest: a table without
// a manifest whose WAL fails to authenticate is adopted with that WAL
// listed as damaged, as any other table's: the damage is recorded and
// named, and scans that do not need it answer.
func TestAdoptedTableWithADamagedWALReportsItAndServesTheRest(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, _, _ := twoHourTable(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 100, 10, testNow))
	st.Close()
	os.Remove(filepath.Join(dir, ws, tbl, manifestFile))
	wal := files(t, dir, walExt)[0]
	b, _ := os.ReadFile(wal)
	b[len(b)-1] ^= 1
	os.WriteFile(wal, b, 0o600)
	st = reopen(t, dir, keys, &MemLedger{})
	older := ScanRequest{Workspace: ws, Table: tbl, From: testNow.Add(-2 * time.Hour), To: testNow.Add(-30 * time.Minute)}
	if got, err := scanAll(st, older); err != nil || countRows(got) != 50 {
		t.Fatalf("scan of the older hour: %d rows, %v; want its 50", countRows(got), err)
	}
	_, err := scanAll(st, lastHalfHour)
	wantDamage(t, err, filepath.Base(wal), ProblemAuthentication)
	if d := st.Damage(); len(d) != 1 || d[0].Object != filepath.Base(wal) {
		t.Fatalf("damage recorded: %+v", d)
	}
	if now, _ := os.ReadFile(wal); !bytes.Equal(now, b) {
		t.Fatal("the damaged WAL was changed")
	}
}

// TestWALLostAfterACrashPutsTheWholeTableAtRisk: a WAL listed before a crash
// (kill -9: no final listing) and then deleted may have held rows of any
// time, not only those of its listing, so every scan of the table is
// refused.
func TestWALLostAfterACrashPutsTheWholeTableAtRisk(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := reopen(t, dir, keys, ledger)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 20, testNow))
	// A manifest written while the WAL takes rows (as another WAL's flush
	// writes one) lists it with the rows of the last half hour so far.
	tb, _ := st.table(ws, tbl)
	tb.mu.Lock()
	err := tb.saveManifestLocked(context.Background(), tb.manifestLocked(nil))
	tb.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, eventsBody(t, 20, 20, testNow.Add(-3*time.Hour)))
	// The files as a kill -9 leaves them: the store is still open.
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	rec, _ := ledger.Table(context.Background(), ws, tbl)
	st.Close()
	wals := files(t, crashed, walExt)
	if len(wals) != 1 {
		t.Fatalf("%d WALs", len(wals))
	}
	os.Remove(wals[0])
	after := &MemLedger{}
	after.SetEpoch(context.Background(), ws, tbl, rec.Epoch)
	st = reopen(t, crashed, keys, after)
	old := ScanRequest{Workspace: ws, Table: tbl, From: testNow.Add(-4 * time.Hour), To: testNow.Add(-2 * time.Hour)}
	got, err := scanAll(st, old)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("rows of the lost WAL outside its listing: %d rows, %v; want the loss refused", countRows(got), err)
	}
	ie := wantDamage(t, err, filepath.Base(wals[0]), ProblemMissing)
	if ie.MinT != 0 || ie.MaxT != 0 {
		t.Fatalf("a WAL lost after a crash names rows from %d to %d; want the whole table at risk", ie.MinT, ie.MaxT)
	}
}

// A block whose sealed parts authenticate but do not parse was written
// wrong by a holder of the key, not tampered with: it is reported as
// corrupt, by scans and by verify, while a flipped sealed byte is an
// authentication failure (see TestIntegrityErrorsNameTheObjectNeverRows).
func TestAuthenticatedButUnparsableBlockIsCorruptNotUnauthenticated(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st, ledger, segs := twoHourTable(t, dir, keys)
	st.Close()
	reseal(t, keys, segs[0], 0, timeColumn, func(plain []byte) { plain[0] = byte(TypeNull) }) // no column has that type
	st = reopen(t, dir, keys, ledger)
	_, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if ie := wantDamage(t, err, filepath.Base(segs[0]), ProblemCorrupt); !strings.Contains(ie.Detail, "bad column type") {
		t.Fatalf("detail %q; want the parse failure", ie.Detail)
	}
	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != filepath.Base(segs[0]) || rep.Damaged[0].Problem != ProblemCorrupt {
		t.Fatalf("verify: %+v, %v; want the older segment corrupt", rep, err)
	}
}

// reseal opens column col's chunk of block bi of segment path, lets change
// alter its plaintext in place, and seals it again under the same key and
// place: it still authenticates.
func reseal(t *testing.T, keys *envelopetest.Keys, path string, bi int, col string, change func(plain []byte)) {
	t.Helper()
	name, _ := parseSegName(filepath.Base(path))
	r, err := openSegmentAt(newTestStore(t, t.TempDir(), keys), path, ws, tbl, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	aead, err := r.blockAEAD(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cm := r.blocks[bi].col(col)
	data, _ := os.ReadFile(path)
	aad := r.hdr.aad("segment.column", ws, tbl, strconv.Itoa(bi), col)
	plain, err := open(nil, aead, data[cm.off:cm.off+cm.size], aad)
	if err != nil {
		t.Fatal(err)
	}
	change(plain)
	copy(data[cm.off:cm.off+cm.size], seal(nil, aead, plain, aad))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestQuietWALMarkCostsNoSyncAndFindsACutAfterAKill: a WAL that goes quiet
// gets its mark brought up to date by a write, not by a sync of its own, so
// that calls far apart (one table of a thousand) cost one fsync each, not
// two; as a kill -9 leaves the file, the mark vouches for every
// acknowledged record, so that a cut at the last one's boundary is found.
func TestQuietWALMarkCostsNoSyncAndFindsACutAfterAKill(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	ledger := &MemLedger{}
	st := reopen(t, dir, keys, ledger)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 5, testNow))
	mustIngest(t, st, ws, tbl, eventsBody(t, 5, 5, testNow))
	w := markedWAL(t, st)
	if n := w.syncs.Load(); n != 2 {
		t.Fatalf("%d fsyncs for 2 calls and a quiet mark; want one a call", n)
	}

	// The files as a kill -9 leaves them: the store is still open.
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	rec, _ := ledger.Table(context.Background(), ws, tbl)
	st.Close()
	wal := files(t, crashed, walExt)[0]
	data, _ := os.ReadFile(wal)
	hdr, hlen, err := decodeHeader(data, magicWAL)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.ByID(context.Background(), hdr.aekID)
	aead, _ := sealer.AEAD(hdr.salt[:], purposeWAL)
	seq, _ := parseWALName(filepath.Base(wal))
	mark, err := readMark(data[hlen:], aead, hdr, ws, tbl, "", seq)
	if err != nil || mark.records != 2 {
		t.Fatalf("the mark a kill leaves vouches for %d records (%v); want both calls'", mark.records, err)
	}

	// The second record is cut at its boundary.
	first := hlen + markSlots*markSlotSize
	first += recHeaderSize + int(binary.BigEndian.Uint32(data[first:]))
	os.WriteFile(wal, data[:first], 0o600)
	after := &MemLedger{}
	after.SetEpoch(context.Background(), ws, tbl, rec.Epoch)
	st = reopen(t, crashed, keys, after)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err == nil {
		t.Fatalf("scan after the cut: %d rows and no error; want the truncated WAL named", countRows(got))
	}
	wantDamage(t, err, filepath.Base(wal), ProblemTruncated)
}
