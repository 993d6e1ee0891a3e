package api

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
		if got := sum(requests, want.labels); got != want.n {
			t.Errorf("requests with %v: %v, want %v", want.labels, got, want.n)
		}
	}
	if got := families["sealwatch_http_request_duration_seconds"]; got == nil || got.Metric[0].GetHistogram().GetSampleCount() == 0 {
		t.Error("sealwatch_http_request_duration_seconds has no observation")
	}
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

// sum adds up the counters (or histogram counts) of f's series that carry
// every label in want.
func sum(f *dto.MetricFamily, want map[string]string) float64 {
	var n float64
	if f == nil {
		return 0
	}
series:
	for _, m := range f.Metric {
		have := make(map[string]string, len(m.Label))
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			n += m.Counter.GetValue()
		case m.Histogram != nil:
			n += float64(m.Histogram.GetSampleCount())
		}
	}
	return n
}
