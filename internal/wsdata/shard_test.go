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

// TestShardsOfOneScanReadEachRowOnceWhileAFlushCompletes: Source.Scan splits
// a scan into one shard per core. When each shard took its own snapshot of
// the table, a flush completing between two of them moved rows from memory
// (read by shard 0) into a segment that a later shard also read, or shifted
// the segment list so that a segment fell to no shard: rows answered twice
// or not at all, with 200. The crash test found it (trial 153 of seed
// 20261206: 1,549 acknowledged rows counted twice by a query during the
// flush that follows a restart). The shards now share one snapshot; each
// case reads them in one order with a flush completing in between.
func TestShardsOfOneScanReadEachRowOnceWhileAFlushCompletes(t *testing.T) {
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
			shards, err := st.ScanShards(ctx, logstore.ScanRequest{Workspace: "ws", Table: "T"}, 2)
			if err != nil {
				t.Fatal(err)
			}
			a, rows := shards[tc.first], 0
			if a.Next() { // started before the flush
				rows += a.Batch().Len
			}
			if err := st.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for _, sc := range []*logstore.Scanner{a, shards[tc.second]} {
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
