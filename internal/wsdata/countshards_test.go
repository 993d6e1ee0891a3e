package wsdata

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// fakeShard yields its batches of rows, then ends with err; with wait set
// it yields none and ends only when wait is done, with its error.
type fakeShard struct {
	rows []int
	err  error
	wait context.Context
}

func (f *fakeShard) Next() bool {
	if f.wait != nil {
		<-f.wait.Done()
		f.err = f.wait.Err()
		return false
	}
	if len(f.rows) == 0 {
		return false
	}
	f.rows = f.rows[1:]
	return true
}

func (f *fakeShard) Batch() *logstore.Batch { return &logstore.Batch{Len: 10} }
func (f *fakeShard) Err() error             { return f.err }

// TestACountShardThatFailsEndsTheOthers: the first shard of a count to
// fail cancels the context the other shards scan under, wherever it is
// among them; shards that all succeed cancel nothing and are all counted.
func TestACountShardThatFailsEndsTheOthers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing int
	}{{"the caller's own shard fails", 0}, {"another shard fails", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			failing := tc.failing
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			shards := []*fakeShard{{wait: ctx}, {wait: ctx}, {wait: ctx}}
			shards[failing] = &fakeShard{rows: []int{1}, err: logstore.ErrCorrupt}
			done := make(chan []int64)
			go func() { done <- countShards(shards, cancel) }()
			select {
			case counts := <-done:
				if counts[failing] != 10 {
					t.Errorf("the failing shard counted %d rows, want the 10 it read", counts[failing])
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the other shards scanned on after one failed")
			}
			for i, sh := range shards {
				if i != failing && !errors.Is(sh.Err(), context.Canceled) {
					t.Errorf("shard %d ended with %v, want cancelled", i, sh.Err())
				}
			}
		})
	}
	t.Run("no shard fails", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		shards := []*fakeShard{{rows: []int{1, 2}}, {rows: []int{1}}, {}}
		counts := countShards(shards, cancel)
		if ctx.Err() != nil || counts[0] != 20 || counts[1] != 10 || counts[2] != 0 {
			t.Errorf("counts %v, context %v; want [20 10 0], not cancelled", counts, ctx.Err())
		}
	})
}
