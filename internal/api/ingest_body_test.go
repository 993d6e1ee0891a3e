package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync"
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
	s := zstdServer(t)
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

// zstdServer is a server with the zstd decoders alone, for reading bodies.
func zstdServer(t testing.TB) *Server {
	t.Helper()
	zd, err := newZstdDecoders()
	if err != nil {
		t.Fatal(err)
	}
	return &Server{zstd: zd}
}

// zstdStream is b compressed by a writer with the given window, as a
// stream: its frames state the window and not their size.
func zstdStream(t testing.TB, b []byte, window int) []byte {
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
	mustStateWindow(t, buf.Bytes(), window)
	return buf.Bytes()
}

// mustStateWindow fails t unless frame starts with a frame header that
// states window and not the frame's size, as a stream writes it.
func mustStateWindow(t testing.TB, frame []byte, window int) {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.HasFCS || h.WindowSize != uint64(window) {
		t.Fatalf("the frame states a size (%v) or a window of %d, not %d: %v", h.HasFCS, h.WindowSize, window, err)
	}
}

// streamRows are rows of about 600 KB, as JSON lines.
func streamRows() []byte {
	var rows []byte
	for i := 0; len(rows) < maxIngestBytes*6/10; i++ {
		rows = fmt.Appendf(rows, `{"TimeGenerated":"2026-12-06T10:00:00Z","Message":"%s %d"}`+"\n", strings.Repeat("session opened ", 12), i)
	}
	return rows
}

// readZstd reads body as a Logs Ingestion call's body marked zstd.
func readZstd(ctx context.Context, s *Server, body []byte) ([]byte, error) {
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(body))
	r.Header.Set("Content-Encoding", "zstd")
	return s.readIngestBody(httptest.NewRecorder(), r, maxIngestBytes)
}

// TestZstdStreamsOfWindowsUpTo8MiBAreReadAndLargerRefusedSayingSo: a body
// compressed as a stream, whose frames state a window and not their size, is
// read when its windows are at most the 8 MiB RFC 9659 has HTTP decoders
// take — the zstd tool writes 2 MiB reading a pipe at its default level, 8
// at level 19 — whether decoded whole (at most 1 MiB) or as a stream, and
// also when a frame of a small window comes before one of a large; a larger
// window is refused 400 saying what to send instead, never 500.
func TestZstdStreamsOfWindowsUpTo8MiBAreReadAndLargerRefusedSayingSo(t *testing.T) {
	s := zstdServer(t)
	rows := streamRows()
	half := len(rows) / 2
	for _, tc := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"window=512KiB", zstdStream(t, rows, 512<<10), true},
		{"window=1MiB", zstdStream(t, rows, 1<<20), true},
		{"window=2MiB, as the zstd tool's pipe writes", zstdStream(t, rows, 2<<20), true},
		{"window=8MiB, as the zstd tool's level 19 writes", zstdStream(t, rows, 8<<20), true},
		{"window=1MiB, then window=2MiB", append(zstdStream(t, rows[:half], 1<<20), zstdStream(t, rows[half:], 2<<20)...), true},
		{"window=16MiB", zstdStream(t, rows, 16<<20), false},
		{"window=2MiB, then window=16MiB", append(zstdStream(t, rows[:half], 2<<20), zstdStream(t, rows[half:], 16<<20)...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readZstd(t.Context(), s, tc.body)
			var apiErr *Error
			switch {
			case tc.ok && (err != nil || !bytes.Equal(got, rows)):
				t.Fatalf("got %d bytes, %v; want the %d bytes of rows", len(got), err, len(rows))
			case !tc.ok && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest ||
				!strings.Contains(apiErr.Message, "window of 8 MiB at most")):
				t.Fatalf("got %v; want 400 saying to send a window of 8 MiB at most", err)
			}
		})
	}
}

// TestZstdToolsPipeOutputIsRead: what `cat rows.json | zstd` writes — a
// frame of the tool's default 2 MiB window, which states no size — is read.
// It needs the zstd tool (the node does not), which scripts/test.sh installs.
func TestZstdToolsPipeOutputIsRead(t *testing.T) {
	tool, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("no zstd tool on PATH: run the tests with scripts/test.sh, which installs it")
	}
	rows := streamRows()
	cmd := exec.CommandContext(t.Context(), tool, "-q", "-c")
	cmd.Stdin = bytes.NewReader(rows) // a pipe: the tool learns no size
	body, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	mustStateWindow(t, body, 2<<20)
	got, err := readZstd(t.Context(), zstdServer(t), body)
	if err != nil || !bytes.Equal(got, rows) {
		t.Fatalf("got %d bytes, %v; want the %d bytes of rows", len(got), err, len(rows))
	}
}

// TestZstdStreamDecodersAreAtMostGOMAXPROCS: a body of a window over 1 MiB
// waits for one of the GOMAXPROCS stream decoders, giving up (499) when the
// client goes away, while a body of a smaller window, decoded whole, does
// not wait; once a decoder is free the waiting body is read. Bodies sent at
// once by more requests than there are decoders are all read.
func TestZstdStreamDecodersAreAtMostGOMAXPROCS(t *testing.T) {
	s := zstdServer(t)
	rows := streamRows()
	large, small := zstdStream(t, rows, 2<<20), zstdStream(t, rows, 1<<20)
	for range cap(s.zstd.slots) {
		s.zstd.slots <- struct{}{} // every stream decoder at work
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := readZstd(canceled, s, large); toAPIError(err).Status != statusClientClosedRequest {
		t.Fatalf("a 2 MiB window while no stream decoder was free, the client gone: %v; want %d", err, statusClientClosedRequest)
	}
	if got, err := readZstd(canceled, s, small); err != nil || !bytes.Equal(got, rows) {
		t.Fatalf("a 1 MiB window while no stream decoder was free: %d bytes, %v; want the rows", len(got), err)
	}
	waited := make(chan error, 1)
	go func() {
		got, err := readZstd(t.Context(), s, large)
		if err == nil && !bytes.Equal(got, rows) {
			err = fmt.Errorf("read %d bytes, not the %d of the rows", len(got), len(rows))
		}
		waited <- err
	}()
	for range cap(s.zstd.slots) {
		<-s.zstd.slots // the decoders free again
	}
	if err := <-waited; err != nil {
		t.Fatalf("once a decoder was free: %v; want the rows", err)
	}

	errs := make(chan error, 4*cap(s.zstd.slots))
	var wg sync.WaitGroup
	for range cap(errs) {
		wg.Go(func() {
			got, err := readZstd(t.Context(), s, large)
			if err == nil && !bytes.Equal(got, rows) {
				err = fmt.Errorf("read %d bytes, not the %d of the rows", len(got), len(rows))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(s.zstd.idle); n < 1 || n > cap(s.zstd.slots) {
		t.Errorf("%d stream decoders kept; want 1 to %d", n, cap(s.zstd.slots))
	}
}

// TestZstdBodiesCostTheRowsTheyDecodeTo: a small zstd body that decodes to
// far more than the 1 MiB of rows a call takes — one frame of zeros, with
// its size stated or not, of a window up to 1 MiB (decoded whole) or up to
// 8 MiB (as a stream), a frame that states a terabyte, frames that each
// decode to less than the bound but to more together — is refused 413,
// and one of many small frames that each state their size is read; each
// allocating a few MiB at most, not what the body would decode to or a
// copy of the rows per frame, and a stream decoder its window besides, once:
// the next body of that window reuses it.
func TestZstdBodiesCostTheRowsTheyDecodeTo(t *testing.T) {
	s := zstdServer(t)
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
	rows := streamRows()
	for _, tc := range []struct {
		name   string
		body   []byte
		read   int    // bytes of rows; 0: refused 413
		window uint64 // allocated besides, by a new stream decoder
	}{
		{"64 MiB of zeros, size not stated", zstdStream(t, zeros, 1<<20), 0, 0},
		{"64 MiB of zeros, size stated", enc.EncodeAll(zeros, nil), 0, 0},
		{"a frame that states a terabyte", terabyte, 0, 0},
		{"frames under the bound, over it together", bytes.Repeat(half, 64), 0, 0},
		{"a thousand frames of 1 KiB", bytes.Repeat(kib, 1000), 1000 << 10, 0},
		{"64 MiB of zeros, window=2MiB", zstdStream(t, zeros, 2<<20), 0, 2 << 20},
		{"64 MiB of zeros, window=8MiB", zstdStream(t, zeros, 8<<20), 0, 8 << 20},
		{"rows, window=8MiB, by the decoder left idle", zstdStream(t, rows, 8<<20), len(rows), 0},
		{"frames under the bound, over it together, window=8MiB", bytes.Repeat(zstdStream(t, zeros[:maxIngestBytes/2+1], 8<<20), 64), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.body) >= maxIngestBytes/16 {
				t.Fatalf("the body is %d bytes as sent: no bomb", len(tc.body))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			got, err := readZstd(t.Context(), s, tc.body)
			runtime.ReadMemStats(&after)
			var apiErr *Error
			switch {
			case tc.read > 0 && (err != nil || len(got) != tc.read):
				t.Fatalf("got %d bytes, %v; want %d", len(got), err, tc.read)
			case tc.read == 0 && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusRequestEntityTooLarge):
				t.Fatalf("got %v; want 413", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20+tc.window*9/8 {
				t.Errorf("it allocated %d KiB", n>>10)
			}
		})
	}
}

// FuzzReadZstdIngestBody: any body marked zstd is read to at most the
// rows a call takes, or refused 400 or 413 — never a panic, another status,
// or more rows than the limit.
func FuzzReadZstdIngestBody(f *testing.F) {
	s := zstdServer(f)
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	rows := []byte(`[{"TimeGenerated":"2026-12-06T10:00:00Z","Message":"session opened"}]`)
	f.Add(enc.EncodeAll(rows, nil))
	f.Add(append(enc.EncodeAll(rows, nil), enc.EncodeAll(rows, nil)...))
	f.Add(enc.EncodeAll(make([]byte, 2*maxIngestBytes), nil))
	f.Add([]byte(zstdMagic + "\xe0\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x00"))
	more := bytes.Repeat(rows, 2000) // enough that a stream states its window
	f.Add(zstdStream(f, more, 2<<20))
	f.Add(zstdStream(f, make([]byte, 2*maxIngestBytes), 8<<20))
	f.Add(zstdStream(f, more, 16<<20))
	f.Add(rows)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := readZstd(t.Context(), s, body)
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
