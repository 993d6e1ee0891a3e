package wsdata_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// BenchmarkSealedQueryBareSharded is the bare baseline of BenchmarkSealedQuery
// at the engine's parallelism: the same columns and predicates read with the
// store's scanner (decrypt and decompress, no engine), split into one shard
// per core over disjoint segments as the query adapter splits its scans. The
// via=bare arm of BenchmarkSealedQuery reads on one core, so its ratio flatters
// the engine by up to GOMAXPROCS; this one compares like with like. It runs
// over the same store, built once per process by buildSealedStore.
func BenchmarkSealedQueryBareSharded(b *testing.B) {
	st, rows := buildSealedStore(b)
	ctx := context.Background()
	shards := max(1, runtime.GOMAXPROCS(0))
	cases := []struct {
		name    string
		columns []string
		preds   []logstore.Predicate
	}{
		// Columns and predicates as in BenchmarkSealedQuery's bare arms.
		{"summarize-by-computer", []string{"Computer"}, nil},
		{"where-equals", nil, []logstore.Predicate{{Column: "TargetUserName", Op: logstore.OpEq, Value: "x"}}},
		{"has-term", []string{"Activity"}, []logstore.Predicate{{Column: "Activity", Op: logstore.OpHas, Value: "mimikatz"}}},
		{"where-equals-burst", nil, []logstore.Predicate{{Column: "TargetUserName", Op: logstore.OpEq, Value: "y"}}},
		{"has-term-burst", []string{"Activity"}, []logstore.Predicate{{Column: "Activity", Op: logstore.OpHas, Value: "procdump"}}},
		{"join", []string{"EventID", "TargetUserName"}, nil},
		// What the engine actually asks the adapter for in the join query:
		// the same columns, with the filter pushed down. (Before columns were
		// pruned through joins, it asked for TimeGenerated too.)
		{"join-as-requested", []string{"EventID", "TargetUserName"},
			[]logstore.Predicate{{Column: "EventID", Op: logstore.OpEq, Value: int64(4625)}}},
	}
	scan := func(b *testing.B, columns []string, preds []logstore.Predicate) {
		var wg sync.WaitGroup
		errs := make([]error, shards)
		scs, err := st.ScanShards(ctx, logstore.ScanRequest{Workspace: "ws", Table: "SecurityEvent",
			Columns: columns, Predicates: preds}, shards)
		if err != nil {
			b.Fatal(err)
		}
		for i, sc := range scs {
			wg.Go(func() {
				for sc.Next() {
				}
				errs[i] = sc.Err()
				sc.Close()
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range cases {
		scan(b, c.columns, c.preds) // warm
		b.Run("query="+c.name+"/via=bare-sharded", func(b *testing.B) {
			for b.Loop() {
				scan(b, c.columns, c.preds)
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
