package api

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf) // the standard library's writer: any client's gzip must read
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zstdFrame is b as one zstd frame, with its size stated (as EncodeAll
// writes it, and `sealwatch ingest` sends it) or not (as a stream writes it).
func zstdFrame(t *testing.T, b []byte, sized bool) []byte {
	t.Helper()
	if sized {
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(b, nil)
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIngestBodyIsReadGzippedOrNotAndRefusedWhenBadOrTooBig(t *testing.T) {
	const limit = 1000
	rows := []byte(`[{"A":"` + strings.Repeat("x", 500) + `"}]`)
	big := []byte(`[{"A":"` + strings.Repeat("x", limit) + `"}]`)
	damaged := gzipped(t, rows)
	damaged[len(damaged)-6] ^= 1 // the CRC-32 of the rows
	cut := gzipped(t, rows)
	cut = cut[:len(cut)/2]
	zdamaged := zstdFrame(t, rows, true)
	zdamaged[len(zdamaged)-2] ^= 1 // the checksum of the rows
	zcut := zstdFrame(t, rows, true)
	zcut = zcut[:len(zcut)/2]
	zd, err := newZstdDecoder()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{zstd: zd}
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
		status   int
		code     string
		wantRows bool
	}{
		{"plain rows", rows, "", 0, "", true},
		{"plain rows, size not declared", rows, "unsized", 0, "", true},
		{"plain rows over the limit, size not declared", big, "unsized", http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"gzipped rows", gzipped(t, rows), "GZIP", 0, "", true},
		{"two gzip members", append(gzipped(t, rows[:10]), gzipped(t, rows[10:])...), "gzip", 0, "", true},
		{"plain rows over the limit", big, "", http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"gzipped rows over the limit once unzipped", gzipped(t, big), "gzip", http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"marked gzip, not gzip", rows, "gzip", http.StatusBadRequest, "InvalidContentEncoding", false},
		{"gzip whose checksum fails", damaged, "gzip", http.StatusBadRequest, "InvalidContent", false},
		{"gzip cut short", cut, "gzip", http.StatusBadRequest, "InvalidContent", false},
		{"gzip followed by other bytes", append(gzipped(t, rows), "junk"...), "gzip", http.StatusBadRequest, "InvalidContent", false},
		{"zstd rows, size stated", zstdFrame(t, rows, true), "zstd", 0, "", true},
		{"zstd rows, size not stated", zstdFrame(t, rows, false), "ZSTD", 0, "", true},
		{"two zstd frames", append(zstdFrame(t, rows[:10], true), zstdFrame(t, rows[10:], false)...), "zstd", 0, "", true},
		{"zstd rows over the limit once decoded, size stated", zstdFrame(t, big, true), "zstd", http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"zstd rows over the limit once decoded, size not stated", zstdFrame(t, big, false), "zstd", http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"zstd over the limit as sent", bytes.Repeat(zstdFrame(t, rows[:10], true), limit), "zstd", http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"marked zstd, not zstd", rows, "zstd", http.StatusBadRequest, "InvalidContentEncoding", false},
		{"zstd whose checksum fails", zdamaged, "zstd", http.StatusBadRequest, "InvalidContent", false},
		{"zstd cut short", zcut, "zstd", http.StatusBadRequest, "InvalidContent", false},
		{"zstd followed by other bytes", append(zstdFrame(t, rows, true), "junk"...), "zstd", http.StatusBadRequest, "InvalidContent", false},
		{"identity, as plain rows", rows, "identity", 0, "", true},
		{"an encoding the API does not decode", rows, "br", http.StatusBadRequest, "InvalidContentEncoding", false},
		{"two encodings in a row", gzipped(t, rows), "gzip, br", http.StatusBadRequest, "InvalidContentEncoding", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(tc.body))
			switch tc.encoding {
			case "":
			case "unsized":
				r.ContentLength = -1 // as a chunked body
			default:
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			got, err := s.readIngestBody(httptest.NewRecorder(), r, limit)
			var apiErr *Error
			switch {
			case tc.wantRows && (err != nil || !bytes.Equal(got, rows)):
				t.Errorf("got %d bytes, %v; want the rows", len(got), err)
			case !tc.wantRows && (!errors.As(err, &apiErr) || apiErr.Status != tc.status || apiErr.Code != tc.code):
				t.Errorf("got %v; want %d %s", err, tc.status, tc.code)
			}
		})
	}
}

// zstdStream is b compressed by a writer with the given window, as a
// stream: its frames state the window and not their size.
func zstdStream(t *testing.T, b []byte, window int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.HasFCS || h.WindowSize != uint64(window) {
		t.Fatalf("the stream's frame states a size (%v) or a window of %d, not %d: %v", h.HasFCS, h.WindowSize, window, err)
	}
	return buf.Bytes()
}

// TestZstdStreamsOfWindowsOverTheRowsACallTakesAreRefusedSayingSo: a body
// compressed as a stream, whose frame states a window and not its size, is
// read when its window is at most the 1 MiB of rows a call takes, the most
// the node decodes; a larger window — as the zstd tool writes what it reads
// from a pipe, 2 MiB at its default level — is refused 400 saying what to
// send instead, never 500.
func TestZstdStreamsOfWindowsOverTheRowsACallTakesAreRefusedSayingSo(t *testing.T) {
	zd, err := newZstdDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer zd.Close()
	s := &Server{zstd: zd}
	var rows []byte
	for i := 0; len(rows) < maxIngestBytes*6/10; i++ {
		rows = fmt.Appendf(rows, `{"TimeGenerated":"2026-12-06T10:00:00Z","Message":"%s %d"}`+"\n", strings.Repeat("session opened ", 12), i)
	}
	for _, tc := range []struct {
		window int
		ok     bool
	}{{512 << 10, true}, {1 << 20, true}, {2 << 20, false}, {8 << 20, false}} {
		t.Run(fmt.Sprintf("window=%dKiB", tc.window>>10), func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(zstdStream(t, rows, tc.window)))
			r.Header.Set("Content-Encoding", "zstd")
			got, err := s.readIngestBody(httptest.NewRecorder(), r, maxIngestBytes)
			var apiErr *Error
			switch {
			case tc.ok && (err != nil || !bytes.Equal(got, rows)):
				t.Fatalf("got %d bytes, %v; want the %d bytes of rows", len(got), err, len(rows))
			case !tc.ok && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "window")):
				t.Fatalf("got %v; want 400 naming the window", err)
			}
		})
	}
}

// TestZstdBodiesCostTheRowsTheyDecodeTo: a small zstd body that decodes to
// far more than the 1 MiB of rows a call takes — one frame of zeros, with
// its size stated or not, a frame that states a terabyte, frames that each
// decode to less than the bound but to more together — is refused 413,
// and one of many small frames that each state their size is read; each
// allocating a few MiB at most, not what the body would decode to or a
// copy of the rows per frame.
func TestZstdBodiesCostTheRowsTheyDecodeTo(t *testing.T) {
	zd, err := newZstdDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer zd.Close()
	s := &Server{zstd: zd}
	zeros := make([]byte, 64<<20)
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	// magic, a single-segment frame with an 8-byte content size, the size,
	// and one empty last raw block
	terabyte := []byte(zstdMagic + "\xe0")
	terabyte = binary.LittleEndian.AppendUint64(terabyte, 1<<40)
	terabyte = append(terabyte, 1, 0, 0)
	half := enc.EncodeAll(zeros[:maxIngestBytes/2+1], nil)
	kib := enc.EncodeAll(bytes.Repeat([]byte(" "), 1024), nil)
	for _, tc := range []struct {
		name string
		body []byte
		read int // bytes of rows; 0: refused 413
	}{
		{"64 MiB of zeros, size not stated", zstdStream(t, zeros, 1<<20), 0},
		{"64 MiB of zeros, size stated", enc.EncodeAll(zeros, nil), 0},
		{"a frame that states a terabyte", terabyte, 0},
		{"frames under the bound, over it together", bytes.Repeat(half, 64), 0},
		{"a thousand frames of 1 KiB", bytes.Repeat(kib, 1000), 1000 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.body) >= maxIngestBytes/16 {
				t.Fatalf("the body is %d bytes as sent: no bomb", len(tc.body))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := httptest.NewRequest(http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(tc.body))
			r.Header.Set("Content-Encoding", "zstd")
			got, err := s.readIngestBody(httptest.NewRecorder(), r, maxIngestBytes)
			runtime.ReadMemStats(&after)
			var apiErr *Error
			switch {
			case tc.read > 0 && (err != nil || len(got) != tc.read):
				t.Fatalf("got %d bytes, %v; want %d", len(got), err, tc.read)
			case tc.read == 0 && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusRequestEntityTooLarge):
				t.Fatalf("got %v; want 413", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Errorf("it allocated %d MiB", n>>20)
			}
		})
	}
}

// FuzzReadZstdIngestBody: any body marked zstd is read to at most the
// rows a call takes, or refused 400 or 413 — never a panic, another status,
// or more rows than the limit.
func FuzzReadZstdIngestBody(f *testing.F) {
	zd, err := newZstdDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer zd.Close()
	s := &Server{zstd: zd}
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	rows := []byte(`[{"TimeGenerated":"2026-12-06T10:00:00Z","Message":"session opened"}]`)
	f.Add(enc.EncodeAll(rows, nil))
	f.Add(append(enc.EncodeAll(rows, nil), enc.EncodeAll(rows, nil)...))
	f.Add(enc.EncodeAll(make([]byte, 2*maxIngestBytes), nil))
	f.Add([]byte(zstdMagic + "\xe0\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x00"))
	f.Add(rows)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(body))
		r.Header.Set("Content-Encoding", "zstd")
		got, err := s.readIngestBody(httptest.NewRecorder(), r, maxIngestBytes)
		var apiErr *Error
		switch {
		case err == nil && len(got) > maxIngestBytes:
			t.Fatalf("read %d bytes of rows, over the limit", len(got))
		case err != nil && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest && apiErr.Status != http.StatusRequestEntityTooLarge):
			t.Fatalf("refused with %v; want 400 or 413", err)
		}
	})
}

// BenchmarkReadIngestBody reads a body of 1 MiB of rows as sent (plain,
// as `sealwatch ingest --compression none` sends it) with its size
// declared, read into one buffer of that size, and without (size=unknown,
// as a chunked body), read as io.ReadAll grows it.
//
//	go test -run '^$' -bench ReadIngestBody -benchmem -count 6 ./internal/api
func BenchmarkReadIngestBody(b *testing.B) {
	body := []byte(`[{"A":"` + strings.Repeat("x", maxIngestBytes-16) + `"}]`)
	s := &Server{}
	for _, sized := range []bool{true, false} {
		b.Run(fmt.Sprintf("size=%s", map[bool]string{true: "declared", false: "unknown"}[sized]), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(body))
				if !sized {
					r.ContentLength = -1
				}
				got, err := s.readIngestBody(httptest.NewRecorder(), r, maxIngestBytes)
				if err != nil || len(got) != len(body) {
					b.Fatalf("%d bytes, %v", len(got), err)
				}
			}
		})
	}
}
