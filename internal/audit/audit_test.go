package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

var (
	testMACKey = bytes.Repeat([]byte{0x5a}, 32)
	baseTime   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func openDB(t testing.TB, path string) *boltkv.DB {
	t.Helper()
	db, err := boltkv.Open(path, boltkv.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openLog(t testing.TB, db kv.DB, opts Options) *Log {
	t.Helper()
	l, err := Open(db, testMACKey, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// record i has every field set, so that an edit to any of them can be tested,
// except that every third has no caller tenant, as records written before the
// field existed: those must verify too.
func record(i int) Record {
	tenant := "00000000-0000-0000-0000-00000000000c"
	if i%3 == 0 {
		tenant = ""
	}
	return Record{
		CallerTenantID: tenant,
		Time:           baseTime.Add(time.Duration(i) * time.Minute),
		Vault:          "kv1",
		CallerObjectID: "00000000-0000-0000-0000-00000000000a",
		CallerAppID:    "00000000-0000-0000-0000-00000000000b",
		ClientIP:       "127.0.0.1",
		Operation:      "KeyUnwrap",
		KeyName:        "cmk",
		KeyVersion:     "v1",
		Status:         200,
		ErrorCode:      "none",
		DurationMs:     1.25,
		RequestID:      "req-" + strconv.Itoa(i),
	}
}

// writeLog appends records 1..n to a fresh database file and closes it.
func writeLog(t *testing.T, path string, n int) {
	t.Helper()
	db := openDB(t, path)
	l := openLog(t, db, Options{})
	for i := 1; i <= n; i++ {
		l.Append(record(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func listAll(t testing.TB, l *Log) []Record {
	t.Helper()
	recs, err := l.List(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func storedCount(t testing.TB, db kv.DB) int {
	t.Helper()
	n := 0
	err := db.View(context.Background(), func(tx kv.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChainContinuesAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	writeLog(t, path, 3)

	db := openDB(t, path)
	defer db.Close()
	l := openLog(t, db, Options{})
	defer l.Close()
	for i := 4; i <= 6; i++ {
		l.Append(record(i))
	}
	recs := listAll(t, l)
	if len(recs) != 6 {
		t.Fatalf("got %d records, want 6", len(recs))
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.RequestID != record(i+1).RequestID {
			t.Errorf("record %d: seq %d request %s", i, r.Seq, r.RequestID)
		}
		if i > 0 && r.PrevMAC != recs[i-1].MAC {
			t.Errorf("record %d does not link to record %d", r.Seq, recs[i-1].Seq)
		}
	}
	if recs[0].PrevMAC != hex.EncodeToString(make([]byte, 32)) {
		t.Errorf("first record's prevMac = %s, want all zeros", recs[0].PrevMAC)
	}
	if err := l.Verify(context.Background()); err != nil {
		t.Errorf("Verify after reopen: %v", err)
	}
	if seq, mac, err := l.Head(context.Background()); err != nil || seq != 6 || mac != recs[5].MAC {
		t.Errorf("Head = %d %s %v, want 6 %s", seq, mac, err, recs[5].MAC)
	}
}

func TestVerifyPassesOnUntouchedLog(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	l := openLog(t, db, Options{})
	defer l.Close()
	if err := l.Verify(context.Background()); err != nil {
		t.Errorf("Verify on an empty log: %v", err)
	}
	for i := 1; i <= 20; i++ {
		l.Append(record(i))
	}
	if err := l.Verify(context.Background()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// tamper edits the stored records of a closed log file the way an attacker with file
// access but without the MAC key could.
type tamper func(t *testing.T, b kv.Bucket)

func getStored(t *testing.T, b kv.Bucket, seq uint64) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b.Get(seqKey(seq)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func putStored(t *testing.T, b kv.Bucket, seq uint64, m map[string]any) {
	t.Helper()
	v, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(seqKey(seq), v); err != nil {
		t.Fatal(err)
	}
}

func editField(field string, value any) tamper {
	return func(t *testing.T, b kv.Bucket) {
		m := getStored(t, b, 5)
		if _, ok := m[field]; !ok {
			t.Fatalf("record has no field %q", field)
		}
		m[field] = value
		putStored(t, b, 5, m)
	}
}

func swap(renumber bool) tamper {
	return func(t *testing.T, b kv.Bucket) {
		four, five := getStored(t, b, 4), getStored(t, b, 5)
		if renumber {
			four["seq"], five["seq"] = five["seq"], four["seq"]
		}
		putStored(t, b, 4, five)
		putStored(t, b, 5, four)
	}
}

func TestVerifyFindsTheFirstTamperedRecord(t *testing.T) {
	tests := []struct {
		name       string
		tamper     tamper
		wantSeq    uint64
		wantReason string
	}{
		{"edited time", editField("time", baseTime.Add(time.Hour).Format(time.RFC3339Nano)), 5, "MAC does not match"},
		{"edited vault", editField("vault", "kv2"), 5, "MAC does not match"},
		{"edited caller object ID", editField("callerObjectId", "someone-else"), 5, "MAC does not match"},
		{"edited caller app ID", editField("callerAppId", "someone-else"), 5, "MAC does not match"},
		{"edited caller tenant ID", editField("callerTenantId", "another-tenant"), 5, "MAC does not match"},
		{"caller tenant ID removed", func(t *testing.T, b kv.Bucket) {
			m := getStored(t, b, 5)
			delete(m, "callerTenantId")
			putStored(t, b, 5, m)
		}, 5, "MAC does not match"},
		{"caller tenant ID added where there was none", func(t *testing.T, b kv.Bucket) {
			m := getStored(t, b, 6)
			m["callerTenantId"] = "00000000-0000-0000-0000-00000000000c"
			putStored(t, b, 6, m)
		}, 6, "MAC does not match"},
		{"edited client IP", editField("clientIp", "10.0.0.1"), 5, "MAC does not match"},
		{"edited operation", editField("operation", "KeyGet"), 5, "MAC does not match"},
		{"edited key name", editField("keyName", "other"), 5, "MAC does not match"},
		{"edited key version", editField("keyVersion", "v2"), 5, "MAC does not match"},
		{"edited status", editField("httpStatus", 403), 5, "MAC does not match"},
		{"edited error code", editField("errorCode", "Forbidden"), 5, "MAC does not match"},
		{"edited duration", editField("durationMs", 9.5), 5, "MAC does not match"},
		{"edited request ID", editField("requestId", "req-x"), 5, "MAC does not match"},
		{"edited prevMac", editField("prevMac", hex.EncodeToString(bytes.Repeat([]byte{1}, 32))), 5, "prevMac does not match"},
		{"edited seq", editField("seq", 50), 5, "says seq 50"},
		{"middle record removed", func(t *testing.T, b kv.Bucket) {
			if err := b.Delete(seqKey(5)); err != nil {
				t.Fatal(err)
			}
		}, 5, "record 5 is missing"},
		{"records 4 and 5 swapped", swap(false), 4, "moved or reordered"},
		{"records 4 and 5 swapped and renumbered", swap(true), 4, "prevMac does not match"},
		{"MAC recomputed with another key", func(t *testing.T, b kv.Bucket) {
			var r Record
			if err := json.Unmarshal(b.Get(seqKey(5)), &r); err != nil {
				t.Fatal(err)
			}
			r.Operation = "KeyGet"
			prev, _ := hex.DecodeString(r.PrevMAC)
			r.MAC = hex.EncodeToString(computeMAC(bytes.Repeat([]byte{0x66}, 32), prev, &r))
			v, _ := json.Marshal(r)
			if err := b.Put(seqKey(5), v); err != nil {
				t.Fatal(err)
			}
		}, 5, "MAC does not match"},
		{"undecodable record", func(t *testing.T, b kv.Bucket) {
			if err := b.Put(seqKey(5), []byte("{not json")); err != nil {
				t.Fatal(err)
			}
		}, 5, "does not decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.db")
			writeLog(t, path, 10)

			raw := openDB(t, path)
			if err := raw.Update(context.Background(), func(tx kv.Tx) error {
				tc.tamper(t, tx.Bucket(bucketName))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := raw.Close(); err != nil {
				t.Fatal(err)
			}

			db := openDB(t, path)
			defer db.Close()
			l := openLog(t, db, Options{})
			defer l.Close()
			err := l.Verify(context.Background())
			var te *TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %v, want a *TamperError", err)
			}
			if te.Seq != tc.wantSeq || !strings.Contains(te.Reason, tc.wantReason) {
				t.Errorf("TamperError at seq %d (%s), want %d (%s)", te.Seq, te.Reason, tc.wantSeq, tc.wantReason)
			}
		})
	}
}

func TestOpenRefusesALogItCannotVerify(t *testing.T) {
	tests := []struct {
		name   string
		macKey []byte
		tamper tamper
	}{
		{"another MAC key", bytes.Repeat([]byte{0x66}, 32), nil},
		{"newest record edited", testMACKey, func(t *testing.T, b kv.Bucket) {
			m := getStored(t, b, 10)
			m["operation"] = "KeyGet"
			putStored(t, b, 10, m)
		}},
		{"newest record renumbered", testMACKey, func(t *testing.T, b kv.Bucket) {
			m := getStored(t, b, 10)
			m["seq"] = 11
			putStored(t, b, 11, m)
			if err := b.Delete(seqKey(10)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.db")
			writeLog(t, path, 10)
			db := openDB(t, path)
			defer db.Close()
			if tc.tamper != nil {
				if err := db.Update(context.Background(), func(tx kv.Tx) error { tc.tamper(t, tx.Bucket(bucketName)); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Open(db, tc.macKey, Options{})
			var te *TamperError
			if !errors.As(err, &te) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("Open = %v, want a *TamperError", err)
			}
		})
	}
}

func TestRemovedNewestRecordsAreCaughtWhileTheLogIsOpen(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	l := openLog(t, db, Options{})
	defer l.Close()
	for i := 1; i <= 10; i++ {
		l.Append(record(i))
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket(bucketName)
		for seq := uint64(9); seq <= 10; seq++ {
			if err := b.Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var te *TamperError
	if err := l.Verify(context.Background()); !errors.As(err, &te) || te.Seq != 9 {
		t.Errorf("Verify = %v, want a TamperError at 9", err)
	}
}

// This is the documented limit: without an anchor kept elsewhere, a log cut at its end
// after a restart is a valid shorter chain. The test keeps the documentation honest and
// shows how Head serves as the anchor.
func TestRemovedNewestRecordsNeedAnAnchorAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	db := openDB(t, path)
	l := openLog(t, db, Options{})
	for i := 1; i <= 10; i++ {
		l.Append(record(i))
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	anchorSeq, anchorMAC, err := l.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx kv.Tx) error { return tx.Bucket(bucketName).Delete(seqKey(10)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	l = openLog(t, db, Options{})
	defer l.Close()
	if err := l.Verify(context.Background()); err != nil {
		t.Errorf("Verify = %v; a cut at the end is not detectable from the file alone", err)
	}
	if seq, mac, err := l.Head(context.Background()); err != nil || seq == anchorSeq || mac == anchorMAC {
		t.Errorf("Head = %d %v, same as the anchor taken before the cut", seq, err)
	}
}

func TestConcurrentAppendsLoseNothing(t *testing.T) {
	for _, maxPending := range []int{4, 0} { // a tiny queue makes appenders block
		t.Run(fmt.Sprintf("maxPending=%d", maxPending), func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
			defer db.Close()
			l := openLog(t, db, Options{MaxPending: maxPending})
			defer l.Close()

			const goroutines, perGoroutine = 16, 200
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range perGoroutine {
						r := record(i)
						r.CallerObjectID = strconv.Itoa(g)
						r.RequestID = strconv.Itoa(i)
						l.Append(r)
					}
				})
			}
			wg.Wait()

			recs := listAll(t, l)
			if len(recs) != goroutines*perGoroutine {
				t.Fatalf("got %d records, want %d", len(recs), goroutines*perGoroutine)
			}
			next := make(map[string]int) // each goroutine's records keep their order
			for i, r := range recs {
				if r.Seq != uint64(i+1) {
					t.Fatalf("record %d has seq %d", i, r.Seq)
				}
				if want := strconv.Itoa(next[r.CallerObjectID]); r.RequestID != want {
					t.Fatalf("goroutine %s: got request %s, want %s", r.CallerObjectID, r.RequestID, want)
				}
				next[r.CallerObjectID]++
			}
			if err := l.Verify(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFlushMakesAppendedRecordsDurable(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	// With an hour's interval and room for many, only Flush can cause a write.
	l := openLog(t, db, Options{FlushInterval: time.Hour, MaxPending: 1000})
	defer l.Close()
	for i := 1; i <= 3; i++ {
		l.Append(record(i))
	}
	if n := storedCount(t, db); n != 0 {
		t.Fatalf("%d records stored before Flush; the test's premise is broken", n)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := storedCount(t, db); n != 3 {
		t.Errorf("%d records stored after Flush, want 3", n)
	}
}

func TestCloseWritesQueuedRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	db := openDB(t, path)
	defer db.Close()
	l := openLog(t, db, Options{FlushInterval: time.Hour, MaxPending: 1000})
	for i := 1; i <= 5; i++ {
		l.Append(record(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := storedCount(t, db); n != 5 {
		t.Errorf("%d records stored after Close, want 5", n)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	l.Append(record(6)) // dropped and logged, never a panic
	if n := storedCount(t, db); n != 5 {
		t.Errorf("%d records stored after Append on a closed log, want 5", n)
	}
}

func TestBatchIsWrittenWithoutFlush(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		n    int
	}{
		{"when MaxPending are queued", Options{FlushInterval: time.Hour, MaxPending: 4}, 4},
		{"when FlushInterval passes", Options{FlushInterval: time.Millisecond, MaxPending: 1000}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
			defer db.Close()
			committed := make(chan uint64, 100)
			l, err := open(db, testMACKey, tc.opts, func(head uint64) { committed <- head })
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i := 1; i <= tc.n; i++ {
				l.Append(record(i))
			}
			if head := <-committed; head != uint64(tc.n) {
				t.Errorf("first write ended at seq %d, want %d", head, tc.n)
			}
		})
	}
}

// refusingDB refuses every write while refuse is set, as a full disk or a lost
// database connection would.
type refusingDB struct {
	kv.DB
	refuse atomic.Bool
}

var errRefused = errors.New("store refuses writes")

func (d *refusingDB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if d.refuse.Load() {
		return errRefused
	}
	return d.DB.Update(ctx, fn)
}

func TestStoreFailureIsReportedNotSwallowed(t *testing.T) {
	inner := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer inner.Close()
	db := &refusingDB{DB: inner}
	l := openLog(t, db, Options{})
	db.refuse.Store(true)
	l.Append(record(1))
	if err := l.Flush(context.Background()); !errors.Is(err, errRefused) {
		t.Errorf("Flush = %v, want the store's error", err)
	}
	if err := l.Close(); !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "1 records lost") {
		t.Errorf("Close = %v, want an error saying records were lost", err)
	}
}

func TestFlushHonoursContext(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	l := openLog(t, db, Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Either the marker was already queued and written, or the cancelled context wins.
	if err := l.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Flush = %v, want nil or context.Canceled", err)
	}
}

func TestValuesJSONWouldAlterStillVerify(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	l := openLog(t, db, Options{})
	defer l.Close()

	tests := []struct {
		name   string
		change func(*Record)
	}{
		{"invalid UTF-8", func(r *Record) { r.KeyName = "cmk\xff\xfe" }},
		{"NaN duration", func(r *Record) { r.DurationMs = math.NaN() }},
		{"infinite duration", func(r *Record) { r.DurationMs = math.Inf(1) }},
		{"negative zero duration", func(r *Record) { r.DurationMs = math.Copysign(0, -1) }},
		{"local time with monotonic reading", func(r *Record) { r.Time = time.Now().In(time.FixedZone("X", 3600)) }},
		{"zero time", func(r *Record) { r.Time = time.Time{} }},
		{"year JSON cannot write", func(r *Record) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"caller-set chain fields", func(r *Record) { r.Seq, r.PrevMAC, r.MAC = 99, "zz", "zz" }},
		{"HTML and line separators", func(r *Record) { r.ErrorCode = "<a>&\u2028\u2029" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := record(1)
			tc.change(&r)
			l.Append(r)
			if err := l.Verify(context.Background()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	recs := listAll(t, l)
	if got := recs[0].KeyName; got != "cmk\uFFFD" {
		t.Errorf("invalid UTF-8 stored as %q, want it replaced", got)
	}
	if recs[5].Time.IsZero() {
		t.Error("zero time not replaced by the append time")
	}
}

func TestListFilters(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	l := openLog(t, db, Options{})
	defer l.Close()
	// Records 1..8 alternate vaults kv1/kv2 and keys a,a,b,b, one minute apart.
	for i := 1; i <= 8; i++ {
		r := record(i)
		r.Vault = []string{"kv2", "kv1"}[i%2]
		r.KeyName = []string{"a", "a", "b", "b"}[(i-1)%4]
		l.Append(r)
	}
	tests := []struct {
		name string
		f    Filter
		want []int
	}{
		{"everything, oldest first", Filter{}, []int{1, 2, 3, 4, 5, 6, 7, 8}},
		{"one vault", Filter{Vault: "kv1"}, []int{1, 3, 5, 7}},
		{"vault names ignore case", Filter{Vault: "KV2"}, []int{2, 4, 6, 8}},
		{"one key in one vault", Filter{Vault: "kv1", KeyName: "B"}, []int{3, 7}},
		{"since is inclusive", Filter{Since: record(6).Time}, []int{6, 7, 8}},
		{"limit keeps the newest", Filter{Limit: 3}, []int{6, 7, 8}},
		{"limit after filtering", Filter{KeyName: "a", Limit: 2}, []int{5, 6}},
		{"nothing matches", Filter{Vault: "kv3"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := l.List(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, r := range recs {
				got = append(got, int(r.Seq))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got seqs %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := l.List(context.Background(), Filter{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

func TestOpenRefusesBadArguments(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vault.db"))
	defer db.Close()
	tests := []struct {
		name   string
		db     kv.DB
		macKey []byte
		opts   Options
	}{
		{"nil database", nil, testMACKey, Options{}},
		{"short MAC key", db, make([]byte, 16), Options{}},
		{"negative interval", db, testMACKey, Options{FlushInterval: -1}},
		{"negative queue", db, testMACKey, Options{MaxPending: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := Open(tc.db, tc.macKey, tc.opts); err == nil {
				l.Close()
				t.Error("Open accepted it")
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	// maxPending=1 writes (and fsyncs) every record on its own: the cost batching avoids.
	for _, maxPending := range []int{1, defaultMaxPending} {
		b.Run(fmt.Sprintf("maxPending=%d", maxPending), func(b *testing.B) {
			db := openDB(b, filepath.Join(b.TempDir(), "vault.db"))
			defer db.Close()
			l := openLog(b, db, Options{MaxPending: maxPending})
			defer l.Close()
			r := record(1)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Append(r)
				}
			})
			// Records count once they are durable.
			if err := l.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
