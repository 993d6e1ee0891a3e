package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// TestShardsOfOneScanReadEachRowOnceWhileAFlushCompletes: Source.Scan opens
// one store scan per core, one after the other, and each takes its own
// snapshot of the table's segments and unflushed rows. A flush that completes
// between two of them moves rows from memory (read by shard 0) into a
// segment that a later shard also reads, or shifts the segment list so that
// a segment falls to no shard: rows answered twice or not at all, with 200.
// The crash test found it (trial 153 of seed 20261206: 1,549 acknowledged
// rows counted twice by a query during the flush that follows a restart).
// Each case opens the two shards in one order with a flush in between.
func TestShardsOfOneScanReadEachRowOnceWhileAFlushCompletes(t *testing.T) {
	t.Skip("known defect: each shard of a scan snapshots the table on its own; the fix is in internal/logstore (one snapshot for all shards of a scan)")
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		first, second int
	}{
		{"shard 0, a flush, then shard 1 (rows read twice)", 0, 1},
		{"shard 1, a flush, then shard 0 (rows not read)", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek")})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ingest := func(at time.Time, n int) {
				rows := make([]map[string]any, n)
				for i := range rows {
					rows[i] = map[string]any{"TimeGenerated": at.Format(time.RFC3339), "id": fmt.Sprint(i)}
				}
				body, _ := json.Marshal(rows)
				if _, err := st.Ingest(ctx, "ws", "T", body); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now().UTC()
			ingest(now.Add(-2*time.Hour), 10) // an older segment, first of the list
			if err := st.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			ingest(now, 100) // in the WAL and in memory
			scan := func(shard int) *logstore.Scanner {
				sc, err := st.Scan(ctx, logstore.ScanRequest{Workspace: "ws", Table: "T", Shard: shard, Shards: 2})
				if err != nil {
					t.Fatal(err)
				}
				return sc
			}
			a := scan(tc.first)
			if err := st.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			b := scan(tc.second)
			rows := 0
			for _, sc := range []*logstore.Scanner{a, b} {
				for sc.Next() {
					rows += sc.Batch().Len
				}
				if err := sc.Err(); err != nil {
					t.Fatal(err)
				}
				sc.Close()
			}
			if rows != 110 {
				t.Errorf("the two shards read %d rows of the table's 110", rows)
			}
		})
	}
}
