package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's figures for operators. Every label takes values from
// a bounded set the code defines: a route's pattern (never the raw path), a
// status code, an error code, the name of an ingestion API. Nothing a caller
// sends, no workspace and no customer value becomes a label.
type metrics struct {
	requests *prometheus.CounterVec   // method, route, code
	duration *prometheus.HistogramVec // method, route
}

// newMetrics registers the API's metrics on reg; nil keeps them unexported.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code."}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sealwatch_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its handler's return, by method and route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"method", "route"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("api: register metrics"), err)
		}
	}
	return m, nil
}

// Routes that no pattern of the mux names.
const (
	routeUnmatched    = "unmatched"     // no route: 404 NotFound
	routeVaultUnknown = "vault:unknown" // a vault host, no key operation
)

// request counts one answered request. pattern is the mux's pattern
// ("POST /v1/workspaces/{id}/query"), whose method part is used when it has
// one; else the request's method, if it is a standard one.
func (m *metrics) request(pattern string, r *http.Request, status int, seconds float64) {
	method, route, ok := strings.Cut(pattern, " ")
	if !ok {
		method, route = methodLabel(r.Method), pattern
	}
	m.requests.WithLabelValues(method, route, statusLabel(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(seconds)
}

// methodLabel is m if it is a standard method, else "other": the method is
// the caller's to choose, and a label must not take whatever it sends.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusLabel is the status code as text, without an allocation for the
// codes the API answers most.
func statusLabel(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusNoContent:
		return "204"
	}
	return strconv.Itoa(code)
}
