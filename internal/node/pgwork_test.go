package node

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
)

// The PostgreSQL work a node on shared storage does per Data Collector
// batch and per query, counted by its pools (pgkvtest.Statements) with one
// client: what the serialized kv writer and PostgreSQL's capacity are sized
// from (docs/BENCHMARKS.md, "Several nodes"). Counts, not times, so that
// the bounds hold on a loaded machine; the figures measured are in
// TestPostgreSQLWorkPerRequest.
const (
	workBatches = 8
	workQueries = 8
)

// TestPostgreSQLWorkPerRequest fails if a Data Collector batch or a query
// makes more round trips or transactions on PostgreSQL than it did when
// last measured, with one client on one node (the batches after the first
// of a table, the queries after the first of a plan).
func TestPostgreSQLWorkPerRequest(t *testing.T) {
	c := startBenchCluster(t, 1)
	rows := clusterRows()
	if _, err := c.send(0, "Work", rows); err != nil { // the table's first batch declares it
		t.Fatal(err)
	}
	before := c.statements.Read()
	for range workBatches {
		if _, err := c.send(0, "Work", rows); err != nil {
			t.Fatal(err)
		}
	}
	// Measured: 19.5 round trips, 1 Update, 4 Views while the Data Collector's replay
	// record was an Update; 13.5, 0, 4 with it a kv claim (one INSERT, and a DELETE of the
	// expired records at most once a second: one round trip more where a second passed
	// since the last); 8.5, 0, 3 with the workspace and its shared keys read in one View;
	// 7.25, 0, 3 with a small bucket read whole by its lookup (the generation's among them).
	atMost(t, "batch", perRequest(before, c.statements.Read(), workBatches), work{trips: 8, views: 3})

	const q = `Work_CL | count`
	if err := c.query(0, q); err != nil {
		t.Fatal(err)
	}
	before = c.statements.Read()
	for range workQueries {
		if err := c.query(0, q); err != nil {
			t.Fatal(err)
		}
	}
	// Measured: 18 round trips, no Update, 7 Views; 17 once a cursor knew
	// its page ended where its bucket did (the ledger's lineages); 14 with a
	// small bucket read whole by its lookup (the generation, the ledger and
	// the principals of this test's cluster are small).
	atMost(t, "query", perRequest(before, c.statements.Read(), workQueries), work{trips: 14, views: 7})
}

// work is PostgreSQL's work per request.
type work struct{ trips, updates, views float64 }

func perRequest(from, to pgkvtest.StatementCounts, requests int) work {
	n := float64(requests)
	return work{trips: float64(to.Trips-from.Trips) / n, updates: float64(to.Updates-from.Updates) / n, views: float64(to.Views-from.Views) / n}
}

// atMost fails the test if got exceeds limit in any count.
func atMost(t *testing.T, per string, got, limit work) {
	t.Helper()
	t.Logf("per %s: %.2f round trips, %.2f Updates, %.2f Views", per, got.trips, got.updates, got.views)
	for _, c := range []struct {
		what       string
		got, limit float64
	}{{"round trips", got.trips, limit.trips}, {"Updates", got.updates, limit.updates}, {"Views", got.views, limit.views}} {
		if c.got > c.limit {
			t.Errorf("%.2f %s per %s, more than the %g measured", c.got, c.what, per, c.limit)
		}
	}
}
