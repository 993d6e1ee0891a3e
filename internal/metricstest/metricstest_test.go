package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestSumAddsTheSeriesWithTheLabels gathers a counter, a gauge and a
// histogram from a registry, as the API's and the node's tests do.
func TestSumAddsTheSeriesWithTheLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"api", "code"})
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g", Help: "g"}, []string{"api"})
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"}, []string{"api"})
	reg.MustRegister(counter, gauge, hist)
	counter.WithLabelValues("ingest", "200").Add(3)
	counter.WithLabelValues("ingest", "400").Add(2)
	counter.WithLabelValues("query", "200").Add(5)
	gauge.WithLabelValues("ingest").Set(7)
	hist.WithLabelValues("query").Observe(0.5)
	hist.WithLabelValues("query").Observe(9)
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		families[f.GetName()] = f
	}
	cases := []struct {
		name, family string
		labels       map[string]string
		want         float64
	}{
		{"a counter's every series", "c_total", nil, 10},
		{"a counter's series with one label", "c_total", map[string]string{"api": "ingest"}, 5},
		{"a counter's series with two labels", "c_total", map[string]string{"api": "ingest", "code": "400"}, 2},
		{"a label value no series has", "c_total", map[string]string{"api": "tables"}, 0},
		{"a label no series has", "c_total", map[string]string{"region": "x"}, 0},
		{"a gauge's value", "g", map[string]string{"api": "ingest"}, 7},
		{"a histogram's count of observations", "h_seconds", map[string]string{"api": "query"}, 2},
		{"a family not gathered", "missing", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Sum(families[c.family], c.labels); got != c.want {
				t.Fatalf("Sum(%s, %v) = %v, want %v", c.family, c.labels, got, c.want)
			}
		})
	}
}
