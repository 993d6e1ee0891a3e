package wsdata_test

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkDictQuery runs the aggregate and filter queries on a
// dictionary-coded column (Computer: 500 distinct values, stored with a
// dictionary in every block) over the sealed store of BenchmarkSealedQuery:
// grouping and filtering by code, and strings built only for the rows that
// leave the query.
func BenchmarkDictQuery(b *testing.B) {
	st, rows := buildSealedStore(b)
	src := wsdata.NewSource(st, "ws")
	const host = `"host-007.corp.example"`
	cases := []struct{ name, query string }{
		{"count-by-host", "SecurityEvent | summarize count() by Computer"},
		{"top5-by-rows", "SecurityEvent | summarize rows=count() by Computer | top 5 by rows"},
		// two keys: grouped by their encoding, built from the vectors
		{"count-by-host-and-event", "SecurityEvent | summarize count() by Computer, EventID"},
		{"count-by-event", "SecurityEvent | summarize count() by EventID"},
		{"where-eq-count", "SecurityEvent | where Computer == " + host + " | count"},
		// about 2,000 rows with every column, as the 1,019 full rows
		{"where-eq-rows", "SecurityEvent | where Computer == " + host},
		// filters the store is not asked to apply: the engine's, on codes
		{"startswith-count", `SecurityEvent | where Computer startswith "host-00" | count`},
		{"in-count", `SecurityEvent | where Computer in ("host-001.corp.example", "host-002.corp.example") | count`},
	}
	benchQueries(b, src, cases, rows)
}
