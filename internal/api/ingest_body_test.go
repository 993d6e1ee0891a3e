package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
