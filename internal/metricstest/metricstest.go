// Package metricstest reads gathered Prometheus metric families for tests:
// which series carry given labels, and what those series add up to.
package metricstest

import dto "github.com/prometheus/client_model/go"

// HasLabels reports whether m carries every label in want.
func HasLabels(m *dto.Metric, want map[string]string) bool {
	have := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// Sum adds up the values of f's series that carry every label in want: a
// counter's, gauge's or untyped metric's value, a histogram's count of
// observations. A nil f, a family not gathered, sums to 0.
func Sum(f *dto.MetricFamily, want map[string]string) float64 {
	var n float64
	for _, m := range f.GetMetric() {
		if !HasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			n += m.Counter.GetValue()
		case m.Gauge != nil:
			n += m.Gauge.GetValue()
		case m.Untyped != nil:
			n += m.Untyped.GetValue()
		case m.Histogram != nil:
			n += float64(m.Histogram.GetSampleCount())
		}
	}
	return n
}
