package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestIngestBodyIsReadGzippedOrNotAndRefusedWhenBadOrTooBig(t *testing.T) {
	const limit = 1000
	rows := []byte(`[{"A":"` + strings.Repeat("x", 500) + `"}]`)
	big := []byte(`[{"A":"` + strings.Repeat("x", limit) + `"}]`)
	damaged := gzipped(t, rows)
	damaged[len(damaged)-6] ^= 1 // the CRC-32 of the rows
	cut := gzipped(t, rows)
	cut = cut[:len(cut)/2]
	for _, tc := range []struct {
		name     string
		body     []byte
		gzip     bool
		status   int
		code     string
		wantRows bool
	}{
		{"plain rows", rows, false, 0, "", true},
		{"gzipped rows", gzipped(t, rows), true, 0, "", true},
		{"two gzip members", append(gzipped(t, rows[:10]), gzipped(t, rows[10:])...), true, 0, "", true},
		{"plain rows over the limit", big, false, http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"gzipped rows over the limit once unzipped", gzipped(t, big), true, http.StatusRequestEntityTooLarge, "PayloadTooLarge", false},
		{"marked gzip, not gzip", rows, true, http.StatusBadRequest, "InvalidContentEncoding", false},
		{"gzip whose checksum fails", damaged, true, http.StatusBadRequest, "InvalidContent", false},
		{"gzip cut short", cut, true, http.StatusBadRequest, "InvalidContent", false},
		{"gzip followed by other bytes", append(gzipped(t, rows), "junk"...), true, http.StatusBadRequest, "InvalidContent", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/dataCollectionRules/x/streams/y", bytes.NewReader(tc.body))
			if tc.gzip {
				r.Header.Set("Content-Encoding", "GZIP")
			}
			got, err := readIngestBody(httptest.NewRecorder(), r, limit)
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
