package logstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// BenchmarkCount counts SEALWATCH_BENCH_ROWS rows (default 1,000,000) in
// about 150 sealed segments, one per hour, the way a scan for row counts does
// (via=index: the manifest and the sealed indexes) and the way a count read
// them before (via=decode: the TimeGenerated column of every block), in the
// same run: every row, and a range that cuts a segment and a block.
func BenchmarkCount(b *testing.B) {
	rows := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROWS")); err == nil && n > 0 {
		rows = n
	}
	const hours = 150
	st := newTestStore(b, b.TempDir(), envelopetest.New("aek"))
	start := testNow.Truncate(time.Hour).Add(-hours * time.Hour)
	step := hours * time.Hour / time.Duration(rows)
	for done := 0; done < rows; {
		var body strings.Builder
		body.WriteString("[")
		for i := 0; i < 5000 && done < rows; i, done = i+1, done+1 {
			if i > 0 {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `{"TimeGenerated":%q,"Computer":"host-%03d","EventID":%d}`,
				start.Add(time.Duration(done)*step).Format(time.RFC3339Nano), done%500, 4624+done%4)
		}
		body.WriteString("]")
		mustIngest(b, st, ws, tbl, []byte(body.String()))
	}
	if err := st.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	cut := start.Add(hours*time.Hour/2 + 17*time.Minute + 3*time.Second)
	for _, c := range []struct {
		name string
		req  ScanRequest
		want int
	}{
		{"every-row", ScanRequest{}, rows},
		{"range", ScanRequest{From: cut}, 0},
	} {
		for _, via := range []string{"index", "decode"} {
			req := c.req
			req.Workspace, req.Table = ws, tbl
			if via == "index" {
				req.RowsOnly = true
			} else {
				req.Columns = []string{timeColumn}
			}
			b.Run("rows="+c.name+"/via="+via, func(b *testing.B) {
				for b.Loop() {
					sc, err := st.Scan(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for sc.Next() {
						n += sc.Batch().Len
					}
					if err := sc.Err(); err != nil || c.want > 0 && n != c.want {
						b.Fatalf("%d rows, %v", n, err)
					}
					sc.Close()
				}
			})
		}
	}
}
