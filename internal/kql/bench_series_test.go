package kql

import (
	"context"
	"testing"
)

// BenchmarkSeriesAndWindows prices make-series and the window functions against what a query
// would write without them over the same million rows: make-series against the summarize by
// bin it folds the same way (its extra work is laying the bins out as arrays), and prev()
// against copying the column (its extra work is the window iterator's copy of each row).
func BenchmarkSeriesAndWindows(b *testing.B) {
	src := benchSource()
	for _, bc := range []struct{ name, q string }{
		{"series/via=summarize-by-bin", `SecurityEvent | summarize count() by Computer, bin(TimeGenerated, 1h) | count`},
		{"series/via=make-series", `SecurityEvent | make-series count() on TimeGenerated step 1h by Computer | count`},
		{"window/via=extend-column", `SecurityEvent | serialize | extend p = TimeGenerated | count`},
		{"window/via=prev", `SecurityEvent | serialize | extend p = prev(TimeGenerated) | count`},
	} {
		q, err := Compile(bc.q, src.Catalog())
		if err != nil {
			b.Fatal(err)
		}
		opts := Options{Now: fixtureNow}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				res, err := q.Run(context.Background(), src, opts)
				if err != nil {
					b.Fatal(err)
				}
				res.Release()
			}
			b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
