package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/metricstest"
)

// TestRequestMetricsNameTheRouteNeverThePath: two requests to one route with
// different IDs are one series, labelled by the route's pattern; a path no
// route serves, a vault host and a method no standard names each fall into
// one bounded series, so no caller can grow the label set.
func TestRequestMetricsNameTheRouteNeverThePath(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, func(c *Config) { c.Registerer = reg })
	tenant := e.identity.TenantID()
	e.do("GET", e.url("", "/"+tenant+"/v2.0/.well-known/openid-configuration"), "", "", nil)
	e.do("GET", e.url("", "/other-tenant/v2.0/.well-known/openid-configuration"), "", "", nil)
	e.do("GET", e.url("", "/no/such/path/secret-value"), "", "", nil)
	e.do("BREW", e.url("", "/no/such/path"), "", "", nil)
	e.do("GET", e.url("v1."+testDNSSuffix, "/keys/k1?api-version=7.4"), "", "", nil)
	e.do("GET", e.url("v1."+testDNSSuffix, "/nothing/here"), "", "", nil)

	families := gather(t, reg)
	requests := families["sealwatch_http_requests_total"]
	if requests == nil {
		t.Fatal("sealwatch_http_requests_total is not exported")
	}
	var total float64
	for _, m := range requests.Metric {
		total += m.GetCounter().GetValue()
		for _, l := range m.Label {
			if strings.Contains(l.GetValue(), "secret-value") || strings.Contains(l.GetValue(), tenant) || l.GetValue() == "BREW" {
				t.Errorf("label %s=%q holds what the caller sent", l.GetName(), l.GetValue())
			}
		}
	}
	if total != 6 {
		t.Errorf("requests counted: %v, want 6", total)
	}
	for _, want := range []struct {
		labels map[string]string
		n      float64
	}{
		{map[string]string{"method": "GET", "route": "/{tenant}/v2.0/.well-known/openid-configuration"}, 2},
		{map[string]string{"method": "GET", "route": routeUnmatched, "code": "404"}, 1},
		{map[string]string{"method": "other", "route": routeUnmatched, "code": "404"}, 1},
		{map[string]string{"method": "GET", "route": "vault:KeyGet"}, 1},
		{map[string]string{"method": "GET", "route": routeVaultUnknown}, 1},
	} {
		if got := metricstest.Sum(requests, want.labels); got != want.n {
			t.Errorf("requests with %v: %v, want %v", want.labels, got, want.n)
		}
	}
	if got := families["sealwatch_http_request_duration_seconds"]; got == nil || got.Metric[0].GetHistogram().GetSampleCount() == 0 {
		t.Error("sealwatch_http_request_duration_seconds has no observation")
	}
}

// TestAlertedSeriesAreExportedBeforeTheirFirstEvent: the counters that
// docs/prometheus/alerts.yml watches for an increase are there at 0 from
// the start. increase() and rate() see nothing of a series' first sample,
// so one made at the first refusal would hide that refusal from the alert.
func TestAlertedSeriesAreExportedBeforeTheirFirstEvent(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families := gather(t, reg)
	for _, c := range []struct {
		family string
		labels map[string]string
	}{
		{"sealwatch_ingest_refused_batches_total", map[string]string{"api": apiLogsIngestion, "reason": keyInaccessible().Code}},
		{"sealwatch_ingest_refused_batches_total", map[string]string{"api": apiLogsIngestion, "reason": keyVaultUnreachable().Code}},
		{"sealwatch_ingest_refused_batches_total", map[string]string{"api": apiDataCollector, "reason": keyInaccessible().Code}},
		{"sealwatch_ingest_refused_batches_total", map[string]string{"api": apiDataCollector, "reason": keyVaultUnreachable().Code}},
		{"sealwatch_query_limit_refusals_total", map[string]string{"limit": "node_memory"}},
		{"sealwatch_query_limit_refusals_total", map[string]string{"limit": "memory"}},
		{"sealwatch_query_limit_refusals_total", map[string]string{"limit": "rows"}},
		{"sealwatch_query_limit_refusals_total", map[string]string{"limit": "time"}},
	} {
		if n := count(families[c.family], c.labels); n != 1 {
			t.Errorf("%s%v: %d series before any event, want 1 at 0", c.family, c.labels, n)
		}
		if v := metricstest.Sum(families[c.family], c.labels); v != 0 {
			t.Errorf("%s%v = %v before any event", c.family, c.labels, v)
		}
	}
}

// count is the number of f's series that carry every label in want.
func count(f *dto.MetricFamily, want map[string]string) int {
	n := 0
	for _, m := range f.GetMetric() {
		if metricstest.HasLabels(m, want) {
			n++
		}
	}
	return n
}

// gather returns reg's metric families by name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// BenchmarkMetricsPerRequest is what the metrics add to one request, with
// every series already made (as after the first request of its kind): the
// HTTP series of any request, and the counting of an ingest call and of a
// query. Compare with the requests' own time (BenchmarkIngestHTTPS,
// BenchmarkQueryHTTPS in internal/node).
func BenchmarkMetricsPerRequest(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{metrics: m}
	r := httptest.NewRequest("POST", "/v1/workspaces/x/query", nil)
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.request("POST /v1/workspaces/{id}/query", r, 200, 0.0123)
		}
	})
	b.Run("ingest", func(b *testing.B) {
		h := s.countBatch(apiLogsIngestion, func(http.ResponseWriter, *http.Request) error {
			m.ingested(apiLogsIngestion, 1900, 1<<20)
			return nil
		})
		b.ReportAllocs()
		for b.Loop() {
			_ = h(nil, r)
		}
	})
	b.Run("query", func(b *testing.B) {
		res := &kql.Result{Stats: kql.Stats{RowsScanned: 200000, PeakMemory: 8 << 20}}
		scanned := logstore.ScanStats{Blocks: 30, BlocksRead: 25, BytesRead: 3 << 20, SegmentsSkipped: 2}
		h := s.countQuery(func(http.ResponseWriter, *http.Request) error {
			m.queryRan(res, scanned, nil)
			return nil
		})
		b.ReportAllocs()
		for b.Loop() {
			_ = h(nil, r)
		}
	})
}
