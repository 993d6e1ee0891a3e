package detection

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// TestARowAnotherNodeHoldsUnflushedIsAlertedOnceFlushed: node y takes a
// failed sign-in and keeps it in its WAL, where node x, which runs the
// rule, cannot see it; x's rule waits at y's mark instead of passing the
// row, and alerts on it exactly once after y flushes it.
func TestARowAnotherNodeHoldsUnflushedIsAlertedOnceFlushed(t *testing.T) {
	objects, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ledger := &logstore.MemLedger{}
	var y *logstore.Store
	e := newEnv(t, func(cfg *Config) {
		cfg.ClusterMark = func(_ context.Context, ws string) (time.Time, string, error) {
			return y.SharedWatermark(ws), "node-y", nil
		}
	})
	onCluster := func(cfg logstore.Config, lineage string) *logstore.Store {
		cfg.Ledger, cfg.Objects, cfg.CacheDir, cfg.Lineage = ledger, objects, t.TempDir(), lineage
		cfg.FlushInterval = 24 * time.Hour // flushed when the test says
		st, err := logstore.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	e.logs.Close()
	e.logs = onCluster(e.logsCfg, "node-x")
	y = onCluster(logstore.Config{Dir: t.TempDir(), Keys: e.keys, Now: e.clock.Now, Retention: e.logsCfg.Retention}, "node-y")

	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("spread", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	saved := e.logs
	e.logs = y
	e.ingest("SigninLogs", signin(-time.Minute, "held@contoso.com", "10.0.0.2", "50126"))
	e.logs = saved
	e.tickFor(30*time.Minute, time.Minute)
	if n := e.alertCount("spread"); n != 0 {
		t.Fatalf("%d alerts on a row x cannot see", n)
	}
	if err := y.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.tickFor(30*time.Minute, time.Minute)
	if n := e.alertCount("spread"); n != 1 {
		t.Fatalf("the row y held unflushed raised %d alerts once flushed; want 1", n)
	}
}

// TestALiveNodeWithoutAMarkPausesTheRulesUntilItPublishes: while a live
// node has published no mark, nothing vouches for its rows: the rules do
// not run, and catch up, each row once, when it has.
func TestALiveNodeWithoutAMarkPausesTheRulesUntilItPublishes(t *testing.T) {
	var unmarked atomic.Bool
	e := newEnv(t, func(cfg *Config) {
		cfg.ClusterMark = func(context.Context, string) (time.Time, string, error) {
			if unmarked.Load() {
				return time.Time{}, "", fmt.Errorf("lineage node-y: %w", wsdata.ErrNoMark)
			}
			return time.Time{}, "", nil // no other live node
		}
	})
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("unmarked", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	unmarked.Store(true)
	e.ingest("SigninLogs", signin(3*time.Minute, "a@contoso.com", "10.0.0.1", "50126"), signin(8*time.Minute, "b@contoso.com", "10.0.0.2", "50126"))
	e.tickFor(20*time.Minute, 5*time.Minute)
	if n := e.alertCount("unmarked"); n != 0 {
		t.Fatalf("%d alerts raised while a live node had no mark", n)
	}
	unmarked.Store(false)
	e.tickFor(10*time.Minute, 5*time.Minute)
	if n := e.alertCount("unmarked"); n != 2 {
		t.Fatalf("%d alerts once the node published, want 2", n)
	}
	reason := e.query(`SentinelHealth | where SentinelResourceName == "unmarked" and ExtendedProperties.Outcome == "skipped" | project Description`)
	if len(reason) == 0 || !strings.Contains(reason[0][0].(string), wsdata.ErrNoMark.Error()) {
		t.Fatalf("the skip record does not say why: %v", reason)
	}
}
