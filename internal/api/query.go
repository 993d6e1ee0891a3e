package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// maxQueryWait bounds Prefer: wait=N; the default is the engine's 3 minutes.
const maxQueryWait = 10 * time.Minute

// statusClientClosedRequest answers a call whose client went away (the
// status web servers log for it; no client sees it).
const statusClientClosedRequest = 499

// queryMemoryRetryAfter is the Retry-After, in seconds, of a query refused because the
// node's query memory was in use: about how long a large query holds it.
const queryMemoryRetryAfter = 5

// The limits of one answer of the query API, the cloud's: its rows, over all its tables, and
// the bytes of its rows' JSON (about 104 MB). A result over either is answered with its first
// rows within both and a PartialError (partialAnswer), as the cloud answers it.
const (
	DefaultMaxQueryRows        = kql.DefaultMaxRows
	DefaultMaxQueryResultBytes = 100 << 20
)

func (s *Server) routeQuery() {
	s.handle("POST /v1/workspaces/{id}/query", s.countQuery(s.handleQuery))
	s.handle("GET /v1/workspaces/{id}/query", s.countQuery(s.handleQuery))
	s.handle("POST /v1/workspaces/{id}/query/validate", s.handleValidateQuery)
	s.handle("GET /v1/workspaces/{id}/metadata", s.handleQueryMetadata)
}

// queryWorkspace is the workspace a call of the query API names, which the
// caller c must be allowed to read.
func (s *Server) queryWorkspace(r *http.Request, c *identity.Claims) (*workspace.WorkspaceInfo, error) {
	ws, err := s.cfg.Workspaces.WorkspaceByCustomerID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "WorkspaceNotFoundError", Message: fmt.Sprintf("workspace '%s' was not found; use its customerId", truncate(r.PathValue("id"), 64))}
	}
	if !c.HasRole(identity.RoleOwner) {
		if err := s.cfg.Workspaces.Authorize(r.Context(), c.ObjectID, ws.Workspace.ID, workspace.RoleReader); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// openCatalog opens ws's data for a query and reads its catalog (tables,
// saved functions, watchlists), which a query compiles against; the caller
// releases the source.
func (s *Server) openCatalog(ctx context.Context, ws *workspace.WorkspaceInfo) (*wsdata.Source, kql.Catalog, error) {
	src, err := s.cfg.Data.Source(ctx, ws)
	if err != nil {
		return nil, kql.Catalog{}, err
	}
	cat, err := kql.CatalogOf(ctx, src)
	if err != nil {
		src.Release()
		return nil, kql.Catalog{}, err
	}
	return src, cat, nil
}

// handleQuery is the Log Analytics query API: KQL over a workspace's sealed
// logs, answered as {"tables":[{"name","columns","rows"}]}.
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(r, identity.AudienceQuery)
	if err != nil {
		return err
	}
	var in struct {
		Query    string `json:"query"`
		Timespan string `json:"timespan"`
	}
	if r.Method == http.MethodGet {
		in.Query, in.Timespan = r.URL.Query().Get("query"), r.URL.Query().Get("timespan")
	} else if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Query) == "" {
		return queryError("BadArgumentError", "", "the request has no query; send {\"query\": \"SecurityEvent | take 10\"}")
	}
	ws, err := s.queryWorkspace(r, c)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	opts := kql.Options{Now: now, MaxMemory: s.cfg.MaxQueryMemory, Memory: s.cfg.QueryMemory, GeoIP: s.cfg.GeoIP, ExternalData: s.cfg.ExternalData,
		MaxRows: positiveOr(s.cfg.MaxQueryRows, DefaultMaxQueryRows), PartialResults: true}
	if in.Timespan != "" {
		from, to, err := parseTimespan(in.Timespan, now)
		if err != nil {
			return queryError("BadArgumentError", "InvalidTimespan", err.Error())
		}
		opts.Now, opts.Timespan = to, to.Sub(from)
	}
	if wait, ok := preferWait(r.Header.Get("Prefer")); ok {
		opts.Timeout = min(wait, maxQueryWait)
	}
	src, cat, err := s.openCatalog(r.Context(), ws)
	if err != nil {
		return err
	}
	defer src.Release()
	q, err := kql.Compile(in.Query, cat)
	if err != nil {
		if damage := src.DamagedTable(in.Query); damage != nil {
			return damage
		}
		return kqlError(err)
	}
	res, err := q.Run(r.Context(), src, opts)
	s.metrics.queryRan(res, src.ScanStats(), err)
	if err != nil {
		var le *kql.LimitError
		if errors.As(err, &le) && le.Operator != "" {
			// which operator ran out and of what, so that an operator can size the limits;
			// never the query's text, which may hold customer values
			s.log.Info("query refused for memory", "workspace", ws.Workspace.ID, "operator", le.Operator, "limit", le.Limit, "reason", le.Err)
		}
		return kqlError(err)
	}
	defer res.Release() // the rows count against the node's query memory until written
	body, cut, err := answerJSON(res, positiveOr(s.cfg.MaxQueryResultBytes, DefaultMaxQueryResultBytes))
	if err != nil {
		return err
	}
	if cut != "" {
		s.metrics.queryPartials.WithLabelValues(cut).Inc()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// answerJSON is the query API's answer to res, as writeJSON would write it byte for byte when
// res is whole: its tables, with at most maxRowBytes bytes of row JSON over all of them, and its
// render hint. When res was cut at the row limit, or its rows at maxRowBytes, the answer holds
// the rows before the cut and the partial error; cut names the limit ("rows", "bytes"), empty
// for a whole answer. Each table's JSON is copied as it stands, where json.Encoder would
// validate and compact it again (most of the CPU of an answer of many rows).
func answerJSON(res *kql.Result, maxRowBytes int64) (body []byte, cut string, err error) {
	parts := make([][]byte, len(res.Tables))
	size := len(`{"tables":[],"render":}`) + 1
	budget, rows := int(maxRowBytes), 0
	for i, t := range res.Tables {
		tj, n, used, err := t.MarshalJSONWithin(budget)
		if err != nil {
			return nil, "", fmt.Errorf("write table %d of the result: %w", i, err)
		}
		parts[i] = tj
		size += len(tj) + 1
		rows, budget = rows+n, budget-used
		if n < len(t.Rows) {
			cut, budget = "bytes", 0 // the tables after the cut hold no rows, as after the row limit's
		}
	}
	var partial *partialAnswer
	switch {
	case cut != "":
		partial = partialAt(fmt.Sprintf("the result's rows are more than the %s of JSON one answer holds: these are its first %d rows", kql.FormatBytes(maxRowBytes), rows),
			fmt.Sprintf("query result set exceeds the data size limit %d", maxRowBytes))
	case res.Partial != nil:
		cut = "rows"
		partial = partialAt(fmt.Sprintf("the result has more than the %d rows one answer holds: these are its first %d", res.Partial.Limit, res.Partial.Limit),
			fmt.Sprintf("query result set exceeds the record count limit %d", res.Partial.Limit))
	}
	var vis, perr []byte
	if res.Visualization != nil {
		if vis, err = json.Marshal(res.Visualization); err != nil {
			return nil, "", fmt.Errorf("write the result's render hint: %w", err)
		}
		size += len(vis)
	}
	if partial != nil {
		if perr, err = json.Marshal(partial); err != nil {
			return nil, "", fmt.Errorf("write the answer's partial error: %w", err)
		}
		size += len(`,"error":`) + len(perr)
	}
	b := append(make([]byte, 0, size), `{"tables":`...)
	if res.Tables == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, tj := range parts {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, tj...)
		}
		b = append(b, ']')
	}
	if vis != nil {
		b = append(append(b, `,"render":`...), vis...)
	}
	if perr != nil {
		b = append(append(b, `,"error":`...), perr...)
	}
	return append(b, "}\n"...), cut, nil
}

// positiveOr is limit when it is set (> 0), else def: an answer has a limit, never none.
func positiveOr(limit, def int64) int64 {
	if limit > 0 {
		return limit
	}
	return def
}

// partialAnswer is the "error" member of an answer that holds part of its result, shaped as
// the cloud's (200, the tables, and this beside them): code PartialError, and a detail whose
// inner error names the limit with the engine's code. The official clients read it as a
// partial result: azquery as Results.Error with Code "PartialError", @azure/monitor-query-logs
// as LogsQueryResultStatus.PartialFailure with partialTables and partialError.
type partialAnswer struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details []partialDetail `json:"details"`
}

type partialDetail struct {
	Code       string       `json:"code"`
	Message    string       `json:"message"`
	InnerError partialInner `json:"innererror"`
}

type partialInner struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// partialAt is the partial error of an answer cut at a limit: what was kept and how to see the
// rest (what), and the engine's words for the limit (limit).
func partialAt(what, limit string) *partialAnswer {
	return &partialAnswer{Code: "PartialError",
		Message: "the answer holds only part of the result, cut at a limit of the query API (see details); narrow the query to see the rest",
		Details: []partialDetail{{Code: "EngineError",
			Message:    what + "; add where, take or summarize, narrow the timespan, or project fewer columns",
			InnerError: partialInner{Code: "E_QUERY_RESULT_SET_TOO_LARGE", Message: limit}}}}
}

// queryError is the query API's error body: code, message and an inner
// error naming the kind of failure.
func queryError(code, inner, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, InnerCode: inner, Message: msg}
}

// queryErrorAt is the query API's refusal of a query that does not
// compile, with where in its text: innererror carries line and column.
func queryErrorAt(inner, msg string, line, column int) *Error {
	e := queryError("BadArgumentError", inner, msg)
	e.Line, e.Column = line, column
	return e
}

func kqlError(err error) error {
	var se *kql.SyntaxError
	var be *kql.BindError
	var le *kql.LimitError
	var ee *kql.ExternalDataError
	switch {
	case errors.As(err, &ee) && ee.Refused:
		return queryError("BadArgumentError", "ExternalDataNotAllowed", ee.Error())
	case errors.As(err, &ee):
		return queryError("BadArgumentError", "ExternalDataFailed", ee.Error())
	case errors.As(err, &se):
		return queryErrorAt("SyntaxError", se.Error(), se.Line, se.Col)
	case errors.As(err, &be):
		return queryErrorAt("SemanticError", be.Error(), be.Line, be.Col)
	case errors.As(err, &le) && le.Err == kql.ErrNodeMemory:
		return &Error{Status: http.StatusTooManyRequests, Code: "ThrottledError", InnerCode: "QueryMemoryExhausted",
			Message: le.Error(), RetryAfter: queryMemoryRetryAfter}
	case errors.As(err, &le):
		return queryError("BadArgumentError", "QueryLimitExceeded", le.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: "GatewayTimeout", Message: "the query ran past its time limit (Prefer: wait=N, default 3 minutes); narrow the time range or the tables"}
	}
	return err
}

var waitRE = regexp.MustCompile(`(?i)(?:^|[,;\s])wait=(\d+)`)

func preferWait(h string) (time.Duration, bool) {
	m := waitRE.FindStringSubmatch(h)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// parseTimespan reads an ISO 8601 duration (ending now) or interval
// (start/end, start/duration, duration/end).
func parseTimespan(s string, now time.Time) (time.Time, time.Time, error) {
	a, b, isInterval := strings.Cut(s, "/")
	if !isInterval {
		d, err := parseISODuration(a)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		return now.Add(-d), now, nil
	}
	var from, to time.Time
	var err error
	switch {
	case strings.HasPrefix(a, "P") && strings.HasPrefix(b, "P"):
		return time.Time{}, time.Time{}, fmt.Errorf("timespan %q has two durations; give a start or an end", s)
	case strings.HasPrefix(a, "P"):
		if to, err = time.Parse(time.RFC3339Nano, b); err == nil {
			var d time.Duration
			d, err = parseISODuration(a)
			from = to.Add(-d)
		}
	case strings.HasPrefix(b, "P"):
		if from, err = time.Parse(time.RFC3339Nano, a); err == nil {
			var d time.Duration
			d, err = parseISODuration(b)
			to = from.Add(d)
		}
	default:
		if from, err = time.Parse(time.RFC3339Nano, a); err == nil {
			to, err = time.Parse(time.RFC3339Nano, b)
		}
	}
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("timespan %q is not an ISO 8601 interval such as 2026-11-26T00:00:00Z/2026-11-27T00:00:00Z or PT1H: %v", truncate(s, 80), err)
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, fmt.Errorf("timespan %q ends before it starts", truncate(s, 80))
	}
	return from.UTC(), to.UTC(), nil
}

var isoDurationRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration reads the ISO 8601 durations the query API takes: weeks,
// days, hours, minutes and seconds (years and months have no fixed length).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT1H, P1D or P2DT12H (years and months are not accepted)", truncate(s, 40))
	}
	var d time.Duration
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.ParseInt(m[i+1], 10, 64)
			if err != nil || n > 1e6 {
				return 0, fmt.Errorf("duration %q is too long", truncate(s, 40))
			}
			d += time.Duration(n) * unit
		}
	}
	if m[5] != "" {
		f, _ := strconv.ParseFloat(m[5], 64)
		if f > 1e9 {
			return 0, fmt.Errorf("duration %q is too long", truncate(s, 40))
		}
		d += time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q is zero", truncate(s, 40))
	}
	return d, nil
}
