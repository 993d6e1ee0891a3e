package logstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/klauspost/compress/zstd"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// canaryRows is a body whose rows carry canary in a value, inside a longer
// value, inside JSON, and as a column name.
func canaryRows(t testing.TB, canary string, n int) []byte {
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{
			"TimeGenerated": testNow.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339),
			"Secret":        canary,
			"CommandLine":   fmt.Sprintf("powershell -enc %s --row %d", canary, i),
			"Details":       map[string]any{"token": canary, "n": i},
			canary:          i,
		}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leakForms are the ways a canary could be written without sealing: plain,
// hex, UTF-16, base64 at each alignment, and zstd-compressed, as rows and as
// the column encoding this package compresses.
func leakForms(t testing.TB, canary string, body []byte) [][]byte {
	forms := [][]byte{[]byte(canary), []byte(hex.EncodeToString([]byte(canary)))}
	u16 := utf16.Encode([]rune(canary))
	var le []byte
	for _, r := range u16 {
		le = append(le, byte(r), byte(r>>8))
	}
	forms = append(forms, le)
	for pad := range 3 {
		src := append(bytes.Repeat([]byte{'x'}, pad), canary...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			s := enc.EncodeToString(src)
			forms = append(forms, []byte(s[4:len(s)-4]))
		}
	}
	var cells []cell
	for range 100 {
		cells = append(cells, cell{kind: TypeString, s: []byte(canary)})
	}
	column, _ := encodeColumn(nil, TypeString, cells, nil)
	var text []cell // long text, as canaryRows' CommandLine
	for i := range 100 {
		text = append(text, cell{kind: TypeString, s: fmt.Appendf(nil, "powershell -enc %s --row %d", canary, i)})
	}
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range [][]byte{body, column, []byte(canary)} {
			z := enc.EncodeAll(src, nil)
			// Windows of the stream past the frame header: literals and
			// sequences that would only be there if the rows were.
			for i := 8; i+16 <= len(z); i += 8 {
				forms = append(forms, z[i:i+16])
			}
		}
		// a paged chunk (segment version 3) is compressed already, page by
		// page: its directory and frames as they would be were it unsealed
		pw := pageWriter{enc: enc, pageRows: 8}
		paged, _ := pw.appendColumn(nil, TypeString, cells, nil, nil)
		for i := 0; i+16 <= len(paged); i += 8 {
			forms = append(forms, paged[i:i+16])
		}
		// a chunk of long text (segment version 4) holds a filter of the
		// terms of its pages, the canary's among them, before its frames
		pw.filters = true
		filtered, _ := pw.appendColumn(nil, TypeString, text, nil, nil)
		for i := 0; i+16 <= len(filtered); i += 8 {
			forms = append(forms, filtered[i:i+16])
		}
		enc.Close()
	}
	return forms
}

// assertNoLeak fails if any file under dir holds any form.
func assertNoLeak(t *testing.T, dir string, forms [][]byte) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for i, f := range forms {
			if bytes.Contains(data, f) {
				t.Fatalf("%s holds leak form %d (%q)", p, i, f)
			}
		}
		return nil
	})
	if n == 0 {
		t.Fatal("no files to search")
	}
}

func TestCanaryNeverReachesDiskInAnyForm(t *testing.T) {
	dir := t.TempDir()
	canary := "CANARY-" + rand.Text()
	body := canaryRows(t, canary, 200)
	forms := leakForms(t, canary, body)
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 64 })
	mustIngest(t, st, ws, tbl, body)
	// A scan builds the unflushed rows into blocks of columns: in memory only.
	if batches, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); err != nil || countRows(batches) != 200 {
		t.Fatalf("scan of the unflushed rows: %d rows, %v", countRows(batches), err)
	}
	assertNoLeak(t, dir, forms) // WAL
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, body)
	assertNoLeak(t, dir, forms) // segments, index, WAL
	// A flush cut short leaves a temporary file: sealed like the rest.
	tb, _ := st.table(ws, tbl)
	tb.mu.Lock()
	g := tb.active
	tb.mu.Unlock()
	sealer, _ := st.keys.Current(context.Background())
	w, err := st.newSegWriter(context.Background(), tb.dir, ws, tbl, "", sealer)
	if err != nil {
		t.Fatal(err)
	}
	bb := newBlockBuilder(nil)
	for _, b := range g.mem.snapshot() {
		for _, r := range b.refs {
			bb.add(b.payload, r, b.ingested)
		}
	}
	if err := w.writeBlock(bb); err != nil {
		t.Fatal(err)
	}
	if len(files(t, dir, tmpExt)) != 1 {
		t.Fatal("no temporary segment file")
	}
	assertNoLeak(t, dir, forms)
	w.abort()
	// What a scan reads is the canary, so the search above would find it.
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"Secret"}})
	if err != nil || countRows(got) != 400 || got[0].Columns[0].Str(0) != canary {
		t.Fatalf("scan: %d rows, %v", countRows(got), err)
	}
}

func TestFlippedBitInASegmentIsAnIntegrityErrorNeverOtherData(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 3 })
	mustIngest(t, st, ws, tbl, []byte(`[{"A":"alpha","N":1},{"A":"beta","N":2},{"A":"gamma","N":3.5},{"A":"delta","B":true}]`))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := files(t, dir, segExt)
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	orig, _ := os.ReadFile(segs[0])
	// Between them, the scans read every byte: all columns, the bloom
	// filters (which only == and has read), the any-column filters (which
	// only has on any column reads) and the hidden ingestion times.
	scans := []ScanRequest{{Workspace: ws, Table: tbl}, {Workspace: ws, Table: tbl, Predicates: []Predicate{{"A", OpHas, "a"}}},
		{Workspace: ws, Table: tbl, Columns: []string{IngestionTimeColumn}},
		{Workspace: ws, Table: tbl, Predicates: []Predicate{{AnyColumn, OpHas, "alpha"}}}}
	var want [][]string
	for _, req := range scans {
		got, err := scanAll(st, req)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rowsOf(got))
	}
	t.Logf("segment of %d bytes", len(orig))
	for i := range orig {
		flipped := slices.Clone(orig)
		flipped[i] ^= 1 << (i % 8)
		os.WriteFile(segs[0], flipped, 0o600)
		detected := false
		for k, req := range scans {
			got, err := scanAll(st, req)
			var ie *IntegrityError
			switch {
			case errors.As(err, &ie) && ie.Problem == ProblemAuthentication:
				detected = true
			case errors.Is(err, ErrCorrupt):
				t.Fatalf("byte %d flipped: %v, want it to fail authentication", i, err)
			case err != nil:
				t.Fatalf("byte %d flipped: error %v, want ErrCorrupt", i, err)
			default:
				equalRows(t, rowsOf(got), want[k]) // this scan did not read the byte
			}
		}
		if !detected {
			t.Fatalf("byte %d flipped: no scan noticed", i)
		}
	}
	os.WriteFile(segs[0], orig, 0o600)
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, rowsOf(got), want[0])
}

// walOnlyStore writes records (one per call) to a WAL and closes the store,
// leaving the WAL unflushed; it returns the WAL's path.
func walOnlyStore(t *testing.T, dir string, keys *envelopetest.Keys, calls ...string) string {
	st := newTestStore(t, dir, keys)
	for _, c := range calls {
		mustIngest(t, st, ws, tbl, []byte(c))
	}
	st.Close()
	wals := files(t, dir, walExt)
	if len(wals) != 1 {
		t.Fatalf("%d WALs", len(wals))
	}
	return wals[0]
}

func TestFlippedBitInAWALIsAnIntegrityErrorNeverOtherData(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	wal := walOnlyStore(t, dir, keys, `[{"A":"alpha"},{"A":"beta"}]`, `[{"A":"gamma","N":7}]`)
	orig, _ := os.ReadFile(wal)
	t.Logf("WAL of %d bytes", len(orig))
	for i := range orig {
		flipped := slices.Clone(orig)
		flipped[i] ^= 1 << (i % 8)
		os.WriteFile(wal, flipped, 0o600)
		st, _ := New(Config{Dir: dir, Keys: keys, Now: func() time.Time { return testNow }})
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
		st.Close()
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: error %v, %d rows (want ErrCorrupt)", i, err, countRows(got))
		}
		if now, _ := os.ReadFile(wal); !bytes.Equal(now, flipped) {
			t.Fatalf("byte %d flipped: replay changed the damaged WAL", i)
		}
	}
}

// walBounds returns the offsets at which the records of a WAL end.
func walBounds(t *testing.T, data []byte) []int {
	t.Helper()
	_, hlen, err := decodeHeader(data, magicWAL)
	if err != nil {
		t.Fatal(err)
	}
	var bounds []int
	for off := hlen + markSlots*markSlotSize; off < len(data); {
		off += recHeaderSize + int(binary.BigEndian.Uint32(data[off:]))
		bounds = append(bounds, off)
	}
	return bounds
}

func TestWALCutBeforeItsAcknowledgedRecordsIsDamageNeverFewerRows(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	wal := walOnlyStore(t, dir, keys, `[{"A":"alpha"},{"A":"beta"}]`, `[{"A":"gamma"}]`, `[{"A":"delta"}]`)
	orig, _ := os.ReadFile(wal)
	bounds := walBounds(t, orig)
	_, hlen, _ := decodeHeader(orig, magicWAL)
	for cut := hlen; cut < len(orig); cut++ {
		name := fmt.Sprintf("cut at %d", cut)
		if slices.Contains(bounds, cut) {
			name += " (a record boundary)"
		}
		os.WriteFile(wal, orig[:cut], 0o600)
		st, _ := New(Config{Dir: dir, Keys: keys, Now: func() time.Time { return testNow }})
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
		damage := st.Damage()
		st.Close()
		var ie *IntegrityError
		if !errors.As(err, &ie) || ie.Problem != ProblemTruncated || ie.Object != filepath.Base(wal) {
			t.Fatalf("%s: %d rows, error %v; want a truncated-WAL integrity error", name, countRows(got), err)
		}
		if len(damage) != 1 || damage[0].Object != ie.Object {
			t.Fatalf("%s: damage recorded %v", name, damage)
		}
		if fi, _ := os.Stat(wal); fi.Size() != int64(cut) {
			t.Fatalf("%s: the damaged WAL was changed to %d bytes", name, fi.Size())
		}
	}
}

// appendUnacknowledged appends records to a closed WAL the way a writer
// that crashed before its sync would have: never acknowledged.
func appendUnacknowledged(t *testing.T, keys *envelopetest.Keys, path string, payloads ...[]byte) {
	t.Helper()
	data, _ := os.ReadFile(path)
	hdr, hlen, err := decodeHeader(data, magicWAL)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.ByID(context.Background(), hdr.aekID)
	aead, _ := sealer.AEAD(hdr.salt[:], purposeWAL)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	defer f.Close()
	f.Seek(0, io.SeekEnd)
	w := &walWriter{seq: 0, hdr: hdr, hlen: int64(hlen), ws: ws, table: tbl, f: f}
	w.written.records = uint64(len(walBounds(t, data)))
	for _, p := range payloads {
		if _, _, err := w.append(aead, p, testNow.UnixNano(), testNow.UnixNano(), false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTornTailPastTheAcknowledgedRecordsIsCutAndNeverServed(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	wal := walOnlyStore(t, dir, keys, `[{"A":"alpha"},{"A":"beta"}]`, `[{"A":"gamma"}]`)
	acked, _ := os.ReadFile(wal)
	payload, _, err := parseRows([]byte(`[{"A":"never acknowledged"}]`), ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow, maxRowBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	appendUnacknowledged(t, keys, wal, payload, payload)
	full, _ := os.ReadFile(wal)
	check := func(name string, data []byte, wantRows, wantSize int) {
		t.Helper()
		// The replay alone: the tail is cut from the file.
		os.WriteFile(wal, data, 0o600)
		probe, _ := New(Config{Dir: t.TempDir(), Keys: keys})
		_, err := probe.replayWAL(context.Background(), wal, 0, ws, tbl, "", 0)
		probe.Close()
		if fi, _ := os.Stat(wal); err != nil || fi.Size() != int64(wantSize) {
			t.Fatalf("%s: replay %v, WAL of %d bytes, want it cut to %d", name, err, fi.Size(), wantSize)
		}
		// The store: what is served is what was whole before the tear.
		os.WriteFile(wal, data, 0o600)
		st, _ := New(Config{Dir: dir, Keys: keys, Now: func() time.Time { return testNow }})
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
		st.Close()
		if err != nil || countRows(got) != wantRows {
			t.Fatalf("%s: %d rows, %v; want %d", name, countRows(got), err, wantRows)
		}
		os.RemoveAll(filepath.Join(dir, ws, tbl))
		os.MkdirAll(filepath.Dir(wal), 0o700)
	}
	bounds := walBounds(t, full)
	for cut := len(acked) + 1; cut < len(full); cut++ {
		whole := 0 // unacknowledged records whole before the cut
		for _, b := range bounds[2:] {
			if b <= cut {
				whole++
			}
		}
		end := len(acked)
		if whole > 0 {
			end = bounds[1+whole]
		}
		// Whole records past the mark were written, so they are served; a
		// torn one is cut.
		check(fmt.Sprintf("cut at %d", cut), full[:cut], 3+whole, end)
	}
	check("zero-filled tail", append(slices.Clone(acked), make([]byte, 300)...), 3, len(acked))
}

// chunk returns the sealed column chunk of a column of a segment block.
func chunk(t *testing.T, st *Store, path, table string, block int, col string) colMeta {
	t.Helper()
	name, _ := parseSegName(filepath.Base(path))
	r, err := openSegmentAt(st, path, ws, table, segFile{name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	cm := r.blocks[block].col(col)
	if cm == nil {
		t.Fatalf("no column %s in block %d", col, block)
	}
	return *cm
}

func swapChunks(t *testing.T, path string, a, b colMeta) {
	t.Helper()
	if a.size != b.size {
		t.Fatalf("chunks of %d and %d bytes", a.size, b.size)
	}
	data, _ := os.ReadFile(path)
	ca := slices.Clone(data[a.off : a.off+a.size])
	copy(data[a.off:], data[b.off:b.off+b.size])
	copy(data[b.off:], ca)
	os.WriteFile(path, data, 0o600)
}

func TestMovedBlocksSegmentsAndWALsFailToOpen(t *testing.T) {
	rows := `[{"TimeGenerated":"2026-03-10T10:00:00Z","C1":"same","C2":"same"},{"TimeGenerated":"2026-03-10T10:00:01Z","C1":"same","C2":"same"},
		{"TimeGenerated":"2026-03-10T11:00:00Z","C1":"same","C2":"same"},{"TimeGenerated":"2026-03-10T11:00:01Z","C1":"same","C2":"same"}]`
	setup := func(t *testing.T) (*Store, string, []string) {
		dir := t.TempDir()
		st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 1 })
		mustIngest(t, st, ws, tbl, []byte(rows))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		segs := files(t, dir, segExt)
		slices.Sort(segs)
		if len(segs) != 2 {
			t.Fatalf("%d segments", len(segs))
		}
		return st, dir, segs
	}
	wantCorrupt := func(t *testing.T, st *Store, table string) {
		t.Helper()
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: table, Columns: []string{"C1", "C2"}})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v, %d rows; want ErrCorrupt", err, countRows(got))
		}
	}
	// a chunk moved is sealed bytes out of place: they fail authentication
	wantUnauthentic := func(t *testing.T, st *Store) {
		t.Helper()
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"C1", "C2"}})
		if ie := (*IntegrityError)(nil); !errors.As(err, &ie) || ie.Problem != ProblemAuthentication {
			t.Fatalf("error %v, %d rows; want an authentication failure", err, countRows(got))
		}
	}
	t.Run("block to another position", func(t *testing.T) {
		st, _, segs := setup(t)
		swapChunks(t, segs[0], chunk(t, st, segs[0], tbl, 0, "C1"), chunk(t, st, segs[0], tbl, 1, "C1"))
		wantUnauthentic(t, st)
	})
	t.Run("column to another column", func(t *testing.T) {
		st, _, segs := setup(t)
		swapChunks(t, segs[0], chunk(t, st, segs[0], tbl, 0, "C1"), chunk(t, st, segs[0], tbl, 0, "C2"))
		wantUnauthentic(t, st)
	})
	t.Run("block to another segment", func(t *testing.T) {
		st, _, segs := setup(t)
		a, b := chunk(t, st, segs[0], tbl, 0, "C1"), chunk(t, st, segs[1], tbl, 0, "C1")
		da, _ := os.ReadFile(segs[0])
		db, _ := os.ReadFile(segs[1])
		copy(db[b.off:], da[a.off:a.off+a.size])
		os.WriteFile(segs[1], db, 0o600)
		wantUnauthentic(t, st)
	})
	for _, dest := range []struct{ name, ws, table string }{{"segment to another table", ws, "OtherTable"}, {"segment to another workspace", "other-ws", tbl}} {
		t.Run(dest.name, func(t *testing.T) {
			st, dir, segs := setup(t)
			to := filepath.Join(dir, dest.ws, dest.table)
			os.MkdirAll(to, 0o700)
			data, _ := os.ReadFile(segs[0])
			os.WriteFile(filepath.Join(to, filepath.Base(segs[0])), data, 0o600)
			_, err := scanAll(st, ScanRequest{Workspace: dest.ws, Table: dest.table})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("segment renamed to another time range", func(t *testing.T) {
		st, dir, segs := setup(t)
		n, _ := parseSegName(filepath.Base(segs[0]))
		n.maxT++
		os.Rename(segs[0], filepath.Join(dir, ws, tbl, n.String()))
		st.Close()
		st = newTestStore(t, dir, st.keys)
		wantCorrupt(t, st, tbl)
	})
	t.Run("WAL to another table", func(t *testing.T) {
		dir := t.TempDir()
		keys := envelopetest.New("aek")
		wal := walOnlyStore(t, dir, keys, `[{"A":"alpha"}]`)
		to := filepath.Join(dir, ws, "OtherTable")
		os.MkdirAll(to, 0o700)
		data, _ := os.ReadFile(wal)
		os.WriteFile(filepath.Join(to, filepath.Base(wal)), data, 0o600)
		st := newTestStore(t, dir, keys)
		if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: "OtherTable"}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v, want ErrCorrupt", err)
		}
	})
	t.Run("WAL renamed to another sequence number", func(t *testing.T) {
		dir := t.TempDir()
		keys := envelopetest.New("aek")
		wal := walOnlyStore(t, dir, keys, `[{"A":"alpha"}]`)
		os.Rename(wal, filepath.Join(filepath.Dir(wal), walFileName(7)))
		st := newTestStore(t, dir, keys)
		if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v, want ErrCorrupt", err)
		}
	})
}

func TestRevokedKeyStopsReadsAndWritesAndRestoredKeyReadsBackEverything(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 100 })
	mustIngest(t, st, ws, "Flushed", eventsBody(t, 0, 500, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, "Unflushed", eventsBody(t, 500, 50, testNow))
	before := map[string][]string{}
	for _, table := range []string{"Flushed", "Unflushed"} {
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		before[table] = rowsOf(got)
	}
	// Revocation takes effect inside a scan, at the next block.
	sc, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: "Flushed"})
	if err != nil || !sc.Next() {
		t.Fatalf("scan: %v", err)
	}
	keys.Revoke()
	for sc.Next() {
		t.Fatal("a block was read after revocation")
	}
	if !errors.Is(sc.Err(), envelopetest.ErrRevoked) {
		t.Fatalf("scan error %v, want the revoked error", sc.Err())
	}
	sc.Close()

	checkRevoked := func(st *Store) {
		t.Helper()
		if _, err := st.Ingest(context.Background(), ws, "Unflushed", eventsBody(t, 0, 1, testNow)); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Errorf("ingest: %v, want the revoked error", err)
		}
		for table := range before {
			if _, err := scanAll(st, ScanRequest{Workspace: ws, Table: table}); !errors.Is(err, envelopetest.ErrRevoked) {
				t.Errorf("scan %s: %v, want the revoked error", table, err)
			}
		}
	}
	checkRevoked(st)
	if err := st.Flush(context.Background()); !errors.Is(err, envelopetest.ErrRevoked) {
		t.Errorf("flush: %v, want the revoked error", err)
	}
	st.Close()
	st = newTestStore(t, dir, keys, func(c *Config) { c.BlockRows = 100 })
	checkRevoked(st) // and after a restart: the WAL does not replay

	keys.Restore()
	for table, want := range before {
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		equalRows(t, rowsOf(got), want)
	}
	mustIngest(t, st, ws, "Unflushed", eventsBody(t, 550, 1, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCachedIndexesDoNotOutliveTheKey: decrypted segment indexes are kept
// between scans, but a revoked key makes them unusable at once (scans and
// schema reads fail, warm cache or not) and drops them; restored, the key
// reads everything again.
func TestCachedIndexesDoNotOutliveTheKey(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 100 })
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 500, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"EventID"}}
	got, err := scanAll(st, req)
	if err != nil {
		t.Fatal(err)
	}
	want := rowsOf(got)
	warm := func() int {
		st.indexes.mu.Lock()
		defer st.indexes.mu.Unlock()
		return len(st.indexes.m)
	}
	if warm() == 0 {
		t.Fatal("no index cached after a scan")
	}
	schema, err := st.Schema(context.Background(), ws, tbl)
	if err != nil {
		t.Fatal(err)
	}

	// Revoked with a warm cache: scans and schema reads fail, and the cache
	// is dropped by the first of them.
	for _, read := range []func() error{
		func() error { _, err := scanAll(st, req); return err },
		func() error { _, err := st.Schema(context.Background(), ws, tbl); return err },
	} {
		if _, err := scanAll(st, req); err != nil || warm() == 0 {
			t.Fatalf("warming: %v, %d indexes cached", err, warm())
		}
		keys.Revoke()
		if err := read(); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Fatalf("read with a warm cache after revocation: %v, want the revoked error", err)
		}
		if n := warm(); n != 0 {
			t.Fatalf("%d indexes still cached after a revoked key was refused", n)
		}
		keys.Restore()
	}

	got, err = scanAll(st, req)
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, rowsOf(got), want)
	again, err := st.Schema(context.Background(), ws, tbl)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(schema) {
		t.Fatalf("schema after restore: %v, %v; want %v", again, err, schema)
	}
}

func TestRetentionPurgesExpiredSegmentsWhileTheKeyIsRevoked(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	old := `[{"TimeGenerated":"2026-02-09T13:00:00Z","A":1},{"TimeGenerated":"2026-02-09T14:00:00Z","A":2}]`
	mustIngest(t, st, ws, tbl, []byte(old))
	mustIngest(t, st, ws, "Other", []byte(old))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 5, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys.Revoke()
	calls := keys.Calls()
	// 30 days after 2026-02-09T13:00 and before 14:00.
	later := testNow.Add(25 * time.Hour)
	n, err := st.PurgeExpired(context.Background(), later)
	if err != nil || n != 2 {
		t.Fatalf("purged %d (%v) from open tables, want the two 13:00 segments", n, err)
	}
	st.Close()
	st = newTestStore(t, dir, keys) // tables not opened: names only
	n, err = st.PurgeExpired(context.Background(), later.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("purged %d (%v) from closed tables, want the two 14:00 segments", n, err)
	}
	if keys.Calls() != calls {
		t.Fatal("retention asked for a key")
	}
	keys.Restore()
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"A", "EventID"}})
	if err != nil || countRows(got) != 5 {
		t.Fatalf("%d rows left (%v), want the 5 recent ones", countRows(got), err)
	}
}

func TestScanDecryptsOnlyTheBlocksAndColumnsItNeeds(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) { c.BlockRows = 100 })
	// 300 rows over 300 seconds of one hour: three blocks of 100 s each.
	var rows []string
	base := testNow.Truncate(time.Hour)
	for i := range 300 {
		rows = append(rows, fmt.Sprintf(`{"TimeGenerated":"%s","EventID":%d,"Computer":"host%d","Other":"x","More":%d}`,
			base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 4000+i, i, i))
	}
	mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		req       ScanRequest
		rows      int
		decrypted int64 // AEAD opens, cold: 1 for the index + one per column per block read
	}{
		{"one column", ScanRequest{Columns: []string{"EventID"}}, 300, 1 + 3},
		{"all columns", ScanRequest{}, 300, 1 + 3*5},
		{"time range outside the segment", ScanRequest{From: base.Add(-2 * time.Hour), To: base.Add(-time.Hour)}, 0, 0},
		{"time range in one block", ScanRequest{Columns: []string{"EventID"}, From: base.Add(110 * time.Second), To: base.Add(120 * time.Second)}, 10, 1 + 2},
		{"predicate outside min/max", ScanRequest{Columns: []string{"Other"}, Predicates: []Predicate{{"EventID", OpGt, 5000}}}, 0, 1},
		{"predicate in one block", ScanRequest{Columns: []string{"Other"}, Predicates: []Predicate{{"EventID", OpLt, 4010}}}, 10, 1 + 2},
		// The statistics leave block 0, but no row in it matches: its other columns stay sealed.
		{"no row matches", ScanRequest{Columns: []string{"Other"}, Predicates: []Predicate{{"EventID", OpGt, 4050}, {"EventID", OpLt, 4040}}}, 0, 1 + 1},
		// Blooms are sealed apart from the index: one per block to read.
		{"bloom prunes ==", ScanRequest{Columns: []string{"Other"}, Predicates: []Predicate{{"Computer", OpEq, "nohost"}}}, 0, 1 + 3},
		{"bloom keeps one block for has", ScanRequest{Columns: []string{"Other"}, Predicates: []Predicate{{"Computer", OpHas, "HOST150"}}}, 1, 1 + 3 + 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Workspace, c.req.Table = ws, tbl
			st.indexes.drop()
			keys.ResetOpens()
			got, err := scanAll(st, c.req)
			if err != nil {
				t.Fatal(err)
			}
			if countRows(got) != c.rows || keys.Opens() != c.decrypted {
				t.Fatalf("%d rows, %d decryptions; want %d rows, %d decryptions", countRows(got), keys.Opens(), c.rows, c.decrypted)
			}
			// warm: the index is not decrypted again
			keys.ResetOpens()
			if _, err := scanAll(st, c.req); err != nil {
				t.Fatal(err)
			}
			if want := max(0, c.decrypted-1); keys.Opens() != want {
				t.Fatalf("warm: %d decryptions; want %d", keys.Opens(), want)
			}
		})
	}
}

func openFiles(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

func TestClosingAScanEarlyReleasesEverything(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 10 })
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 100, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := openFiles(t)
	sc, err := st.Scan(context.Background(), ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || !sc.Next() {
		t.Fatal(err)
	}
	if openFiles(t) <= before {
		t.Fatal("no segment open during the scan")
	}
	sc.Close()
	if sc.Next() {
		t.Fatal("a closed scan reads on")
	}
	if n := openFiles(t); n != before {
		t.Fatalf("%d files open after Close, %d before", n, before)
	}
}

func TestSealBudgetPerObjectKeyStartsNewFiles(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"), func(c *Config) { c.BlockRows = 2 })
	st.maxSeals = 6
	for i := range 10 {
		mustIngest(t, st, ws, tbl, fmt.Appendf(nil, `[{"A":%d}]`, i))
	}
	tb, _ := st.table(ws, tbl)
	tb.mu.Lock()
	wals := tb.nextSeq
	tb.mu.Unlock()
	if wals < 2 {
		t.Fatalf("%d WAL files for 10 records at 6 seals per key", wals)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range files(t, dir, segExt) {
		name, _ := parseSegName(filepath.Base(p))
		r, err := openSegmentAt(st, p, ws, tbl, segFile{name: name})
		if err != nil {
			t.Fatal(err)
		}
		seals := 1
		for _, b := range r.blocks {
			seals += len(b.cols)
		}
		r.close()
		if seals > 6 {
			t.Fatalf("%s: %d seals under one object key", p, seals)
		}
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil || countRows(got) != 10 {
		t.Fatalf("%d rows, %v", countRows(got), err)
	}
}

func TestSealedFilesDescribeThemselvesAndAADBindsEveryField(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 5, testNow))
	st.Flush(context.Background())
	mustIngest(t, st, ws, tbl, eventsBody(t, 5, 5, testNow))
	salts := map[string]bool{}
	for _, p := range sealedFiles(t, dir) {
		h, err := fileHeader(p)
		want := uint16(formatVersion)
		switch {
		case strings.HasSuffix(p, walExt):
			want = walVersion
		case strings.HasSuffix(p, "/"+manifestFile):
			want = manifestVersion
		case strings.HasSuffix(p, segExt):
			want = segmentVersion
		}
		if err != nil || h.version != want || h.aekID != keys.CurrentID() {
			t.Fatalf("%s: header %+v, %v", p, h, err)
		}
		if salts[string(h.salt[:])] || h.salt == [saltSize]byte{} {
			t.Fatalf("%s: salt reused or empty", p)
		}
		salts[string(h.salt[:])] = true
	}
	if len(salts) != 3 {
		t.Fatalf("%d files, want a segment, a WAL and the manifest", len(salts))
	}
	// Every field of the AAD changes it.
	h, _ := newHeader(magicSegment, "aek-1")
	base := h.aad("segment.column", ws, tbl, "0", "A")
	variants := []func(header) []byte{
		func(h header) []byte { h.version++; return h.aad("segment.column", ws, tbl, "0", "A") },
		func(h header) []byte { h.aekID = "aek-2"; return h.aad("segment.column", ws, tbl, "0", "A") },
		func(h header) []byte { h.objID[0]++; return h.aad("segment.column", ws, tbl, "0", "A") },
		func(h header) []byte { return h.aad("segment.index", ws, tbl, "0", "A") },
		func(h header) []byte { return h.aad("segment.column", "other", tbl, "0", "A") },
		func(h header) []byte { return h.aad("segment.column", ws, "Other", "0", "A") },
		func(h header) []byte { return h.aad("segment.column", ws, tbl, "1", "A") },
		func(h header) []byte { return h.aad("segment.column", ws, tbl, "0", "B") },
	}
	for i, v := range variants {
		if bytes.Equal(v(h), base) {
			t.Errorf("AAD variant %d equals the original", i)
		}
	}
}

func TestLogsAndErrorsHoldNoRowsOrKeys(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	var logs bytes.Buffer
	canary := "CANARY-" + rand.Text()
	st := newTestStore(t, dir, keys, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	mustIngest(t, st, ws, tbl, canaryRows(t, canary, 20))
	keys.Revoke()
	var errs []error
	_, err := st.Ingest(context.Background(), ws, tbl, canaryRows(t, canary, 1))
	errs = append(errs, err, st.Flush(context.Background()))
	_, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Predicates: []Predicate{{"Secret", OpEq, "x"}}})
	errs = append(errs, err)
	_, err = st.Ingest(context.Background(), ws, tbl, []byte(`[{"TimeGenerated":"`+canary+`"}]`))
	errs = append(errs, err)
	_, err = st.Ingest(context.Background(), ws, tbl, []byte(`[{"A":1},{"`+canary+`":}]`))
	errs = append(errs, err)
	keys.Restore()
	st.Close()
	wal := files(t, dir, walExt)[0]
	data, _ := os.ReadFile(wal)
	data[len(data)-5] ^= 1
	os.WriteFile(wal, data, 0o600)
	st = newTestStore(t, dir, keys, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	_, err = scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	errs = append(errs, err)
	var keyForms []string
	for _, k := range keys.Material() {
		keyForms = append(keyForms, string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k))
	}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d did not fail", i)
		}
		for _, f := range append(keyForms, canary) {
			if strings.Contains(err.Error(), f) {
				t.Fatalf("error %d %q leaks", i, err)
			}
		}
	}
	for _, f := range append(keyForms, canary) {
		if strings.Contains(logs.String(), f) {
			t.Fatalf("log leaks: %s", logs.String())
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no log line was written")
	}
}
