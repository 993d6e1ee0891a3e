package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// metrics are the API's figures for operators. Every label takes values from
// a bounded set the code defines: a route's pattern (never the raw path), a
// status code, an error code, the name of an ingestion API. Nothing a caller
// sends, no workspace and no customer value becomes a label.
type metrics struct {
	requests *prometheus.CounterVec   // method, route, code
	duration *prometheus.HistogramVec // method, route

	batches      *prometheus.CounterVec // api
	refused      *prometheus.CounterVec // api, reason
	ingestedRows *prometheus.CounterVec // api
	ingestedSize *prometheus.CounterVec // api

	queries         *prometheus.CounterVec // result
	queryDuration   prometheus.Histogram
	rowsScanned     prometheus.Counter
	bytesScanned    prometheus.Counter
	blocksRead      prometheus.Counter
	blocksSkipped   prometheus.Counter
	segmentsSkipped prometheus.Counter
	queryPeakMemory prometheus.Histogram
	queryLimits     *prometheus.CounterVec // limit
	queryPartials   *prometheus.CounterVec // limit
}

// The ingestion APIs, as the ingestion metrics' api label names them.
const (
	apiLogsIngestion = "logs_ingestion" // POST /dataCollectionRules/{id}/streams/{stream}
	apiDataCollector = "data_collector" // POST /api/logs
)

// newMetrics registers the API's metrics on reg; nil keeps them unexported.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code."}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sealwatch_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its handler's return, by method and route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"method", "route"}),

		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_ingest_batches_total",
			Help: "Ingestion requests (batches of rows) received, stored or refused, by API (logs_ingestion, data_collector)."}, []string{"api"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_ingest_refused_batches_total",
			Help: "Ingestion requests refused whole, by API and reason (the error code answered, such as InvalidPayload)."}, []string{"api", "reason"}),
		ingestedRows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_ingested_rows_total",
			Help: "Rows stored by the ingestion APIs (after a data collection rule's transformation), by API."}, []string{"api"}),
		ingestedSize: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_ingested_bytes_total",
			Help: "Bytes of the request bodies stored, uncompressed, by API."}, []string{"api"}),

		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_queries_total",
			Help: "Queries of the query API, by result: ok (partial answers too), or the error code answered (SyntaxError, QueryLimitExceeded, GatewayTimeout, ...)."}, []string{"result"}),
		queryDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sealwatch_query_duration_seconds",
			Help:    "Time a query request takes, from its arrival to its answer's last byte.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 180}}),
		rowsScanned: prometheus.NewCounter(prometheus.CounterOpts{Name: "sealwatch_query_rows_scanned_total",
			Help: "Rows the log store handed to queries that answered, after the filters pushed down to it."}),
		bytesScanned: prometheus.NewCounter(prometheus.CounterOpts{Name: "sealwatch_query_scanned_bytes_total",
			Help: "Sealed bytes of column chunks that queries decrypted."}),
		blocksRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "sealwatch_query_blocks_read_total",
			Help: "Blocks whose columns queries decrypted."}),
		blocksSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "sealwatch_query_blocks_skipped_total",
			Help: "Blocks of the segments queries opened that the sealed index ruled out or answered, undecrypted."}),
		segmentsSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "sealwatch_query_segments_skipped_total",
			Help: "Segments queries did not open: their time range or ingestion times lie outside the query's."}),
		queryPeakMemory: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sealwatch_query_peak_memory_bytes",
			Help:    "The most memory a query's operators held at once, of queries that answered.",
			Buckets: prometheus.ExponentialBuckets(64<<10, 4, 10)}),
		queryLimits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_query_limit_refusals_total",
			Help: "Queries stopped by a limit: memory (the query's own), node_memory (all queries' share, answered 429), rows (range making more rows than an answer holds), time."}, []string{"limit"}),
		queryPartials: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_query_partial_results_total",
			Help: "Queries answered with part of their result (200 with a PartialError, counted ok in sealwatch_queries_total), by the limit that cut it: rows or bytes of one answer."}, []string{"limit"}),
	}
	for _, limit := range []string{"rows", "bytes"} {
		m.queryPartials.WithLabelValues(limit) // both series from the start, so a rate over them starts at 0
	}
	m.initAlerted()
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.batches, m.refused, m.ingestedRows, m.ingestedSize,
		m.queries, m.queryDuration, m.rowsScanned, m.bytesScanned, m.blocksRead, m.blocksSkipped, m.segmentsSkipped,
		m.queryPeakMemory, m.queryLimits, m.queryPartials} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// initAlerted makes, at 0, the series that docs/prometheus/alerts.yml
// watches for an increase: a counter that appears only at its first event
// hides that event from increase() and rate(), so the first refusal for a
// key, or the first queries refused for the node's memory, would go
// unalerted.
func (m *metrics) initAlerted() {
	for _, api := range []string{apiLogsIngestion, apiDataCollector} {
		for _, e := range []*Error{keyInaccessible(), keyVaultUnreachable()} {
			m.refused.WithLabelValues(api, e.Code)
		}
	}
	for _, limit := range []string{limitNodeMemory, limitMemory, limitRows, limitTime} {
		m.queryLimits.WithLabelValues(limit)
	}
}

// The limits that stop a query, as sealwatch_query_limit_refusals_total's
// limit label names them.
const (
	limitNodeMemory = "node_memory" // --query-memory-total, 429
	limitMemory     = "memory"      // --query-memory, 400
	limitRows       = "rows"
	limitTime       = "time"
)

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

// countBatch counts each call of an ingestion API's handler h, and each it
// refuses by the error code it answers, a set the API defines.
func (s *Server) countBatch(api string, h handlerFunc) handlerFunc {
	batches := s.metrics.batches.WithLabelValues(api)
	return func(w http.ResponseWriter, r *http.Request) error {
		batches.Inc()
		err := h(w, r)
		if err != nil {
			s.metrics.refused.WithLabelValues(api, toAPIError(err).Code).Inc()
		}
		return err
	}
}

// ingested counts a stored batch's rows and its body's bytes.
func (m *metrics) ingested(api string, rows, bytes int) {
	m.ingestedRows.WithLabelValues(api).Add(float64(rows))
	m.ingestedSize.WithLabelValues(api).Add(float64(bytes))
}

// countQuery counts each call of the query API's handler h by its result,
// and times it.
func (s *Server) countQuery(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		start := time.Now()
		err := h(w, r)
		s.metrics.queryDuration.Observe(time.Since(start).Seconds())
		result := "ok"
		if err != nil {
			e := toAPIError(err)
			result = cmp.Or(e.InnerCode, e.Code)
		}
		s.metrics.queries.WithLabelValues(result).Inc()
		return err
	}
}

// queryRan counts what a query's run read (scanned, from its source's
// scans, whether it answered or not) and, of one that answered, its rows and
// memory; of one a limit stopped, which limit.
func (m *metrics) queryRan(res *kql.Result, scanned logstore.ScanStats, err error) {
	m.bytesScanned.Add(float64(scanned.BytesRead))
	m.blocksRead.Add(float64(scanned.BlocksRead))
	m.blocksSkipped.Add(float64(scanned.BlocksSkipped()))
	m.segmentsSkipped.Add(float64(scanned.SegmentsSkipped))
	if err == nil {
		m.rowsScanned.Add(float64(res.Stats.RowsScanned))
		m.queryPeakMemory.Observe(float64(res.Stats.PeakMemory))
		return
	}
	if limit := limitOf(err); limit != "" {
		m.queryLimits.WithLabelValues(limit).Inc()
	}
}

// limitOf names the limit that stopped a query, "" if none did.
func limitOf(err error) string {
	var le *kql.LimitError
	switch {
	case errors.As(err, &le) && le.Err == kql.ErrNodeMemory:
		return limitNodeMemory
	case errors.As(err, &le) && le.Err == kql.ErrMemoryLimit:
		return limitMemory
	case errors.As(err, &le):
		return limitRows
	case errors.Is(err, context.DeadlineExceeded):
		return limitTime
	}
	return ""
}
