package logstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestScanStatsCountWhatWasReadAndWhatWasPassedOver: a predicate the block
// statistics rule out leaves blocks undecrypted, a time range before the
// segment leaves it unopened, and the counts say so; rows not yet flushed
// are blocks too.
func TestScanStatsCountWhatWasReadAndWhatWasPassedOver(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"), func(c *Config) { c.BlockRows = 100 })
	var rows []string
	for i := range 400 {
		rows = append(rows, fmt.Sprintf(`{"N":%d}`, i))
	}
	mustIngest(t, st, ws, tbl, []byte("["+strings.Join(rows, ",")+"]"))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, st, ws, tbl, []byte(`[{"N":1000}]`))

	for _, c := range []struct {
		name string
		req  ScanRequest
		want ScanStats // BytesRead: 0 or not
	}{
		{"every row", ScanRequest{Columns: []string{"N"}}, ScanStats{Blocks: 5, BlocksRead: 5, BytesRead: 1}},
		{"the statistics rule out three blocks and the unflushed one", ScanRequest{Columns: []string{"N"}, Predicates: []Predicate{{"N", OpGe, 350}, {"N", OpLt, 1000}}},
			ScanStats{Blocks: 5, BlocksRead: 1, BytesRead: 1}},
		{"a time range before every row", ScanRequest{Columns: []string{"N"}, To: testNow.Add(-time.Hour)},
			ScanStats{Blocks: 1, SegmentsSkipped: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			req.Workspace, req.Table = ws, tbl
			sc, err := st.Scan(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			for sc.Next() {
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			got := sc.Stats()
			if (got.BytesRead > 0) != (c.want.BytesRead > 0) {
				t.Errorf("bytes read %d, want %s", got.BytesRead, map[bool]string{true: "some", false: "none"}[c.want.BytesRead > 0])
			}
			got.BytesRead, c.want.BytesRead = 0, 0
			if got != c.want {
				t.Errorf("stats %+v, want %+v", got, c.want)
			}
			if got.BlocksSkipped() != got.Blocks-got.BlocksRead {
				t.Errorf("blocks skipped %d", got.BlocksSkipped())
			}
		})
	}
}
