// Package api is Sealwatch's HTTP surface: it routes requests to the identity,
// vault and workspace services, authenticates callers, and turns every error
// into one status and JSON body. Only this package knows about HTTP.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/audit"
	"github.com/sealwatch/sealwatch/internal/automation"
	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyevents"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/vault"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// Config names the services a Server exposes. A nil service is not served.
type Config struct {
	Identity *identity.Service
	// Vault serves the key vault's management and data plane when set, and
	// Audit records every vault request.
	Vault *vault.Service
	Audit *audit.Log
	// KeyEvents serves the vault's event subscriptions (with Vault), and
	// KeyEventReceiver the node's endpoint for key events, POST /keyEvents.
	KeyEvents        *keyevents.Publisher
	KeyEventReceiver KeyEventReceiver
	// Workspaces serves the workspace management API when set;
	// DeleteWorkspaceData removes a deleted workspace's stored data.
	Workspaces  *workspace.Service
	ClusterKeys *clusterkeys.Manager
	Data        *wsdata.Data
	// CollectorReplays records the signatures of the Data Collector requests taken, so
	// that a captured request is stored once: a replay.Guard in the database every node
	// shares for a cluster, a replay.Memory for a lone node. Required with Workspaces and
	// Data.
	CollectorReplays ReplayGuard
	// Webhooks delivers automation rules' webhook actions; without it they
	// are recorded as not delivered. AutomationCache keeps the rules decoded
	// across requests (nil: decoded for each).
	Webhooks        *automation.Webhooks
	AutomationCache *automation.Cache
	// QueryMemory is the node's query memory, shared by the queries running at once, and
	// MaxQueryMemory what one query may hold of it (0: kql.DefaultMaxMemory). A query that
	// needs more than MaxQueryMemory is refused with 400 QueryLimitExceeded; one that finds
	// QueryMemory spent for longer than the pool's wait, with 429 and Retry-After.
	QueryMemory    *kql.MemoryPool
	MaxQueryMemory int64
	// MaxQueryRows and MaxQueryResultBytes bound one answer of the query API: its rows over
	// all its tables, and the bytes of their JSON (0 or less: the cloud's DefaultMaxQueryRows
	// and DefaultMaxQueryResultBytes). A result over either is answered 200 with its first rows
	// within both and a PartialError beside the tables, as the cloud answers it.
	MaxQueryRows        int64
	MaxQueryResultBytes int64
	// GeoIP is the database geo_info_from_ip_address() reads; nil: it answers null.
	GeoIP *kql.GeoIPDB
	// ExternalData is what externaldata may fetch in queries; nil: nothing.
	ExternalData kql.ExternalFetcher
	// Metrics serves GET /metrics (Prometheus text format) when set, to
	// principals with the Owner or MonitoringReader role. It
	// carries key states and probe counts, never key material or rows. The
	// runtime's profiles are served at /debug/pprof/ to the same principals.
	Metrics http.Handler
	// Registerer takes the API's own metrics (requests, ingestion, queries;
	// see metrics.go); nil: they are kept but not exported.
	Registerer          prometheus.Registerer
	DeleteWorkspaceData func(ctx context.Context, customerID string) error
	// SessionToken, when set, gives the token for API aud of the browser
	// session ctx carries ("" for none), used when a request has no
	// Authorization header: the web console's calls (internal/console).
	SessionToken func(ctx context.Context, aud identity.Audience) string
	// VaultDNSSuffix is the parent domain of per-vault hosts: vault "v1" is
	// served at v1.{VaultDNSSuffix}.
	VaultDNSSuffix string
	Logger         *slog.Logger
}

// Server is the HTTP handler for one Sealwatch process.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux // management, identity, ingestion, query
	// patterns lists the routes registered on mux, in order, and methods,
	// sorted, the methods they take (HEAD with GET).
	patterns []string
	methods  []string
	// flows keeps the data collection rules' flows compiled.
	flows   *flowCache
	metrics *metrics
	// zstd decodes the ingest bodies sent zstd-encoded.
	zstd *zstdDecoders
	// stopping is closed by StopRecordings: profiles and traces being
	// recorded end then.
	stopping chan struct{}
	stopOnce sync.Once
}

// New builds the routes for the configured services.
func New(cfg Config) (*Server, error) {
	if cfg.Identity == nil {
		return nil, errors.New("api: the identity service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workspaces != nil && cfg.Data != nil && cfg.CollectorReplays == nil {
		return nil, errors.New("api: the workspace data plane needs the record of Data Collector signatures (CollectorReplays)")
	}
	cfg.VaultDNSSuffix = strings.ToLower(strings.Trim(cfg.VaultDNSSuffix, "."))
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	zd, err := newZstdDecoders()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		flows: newFlowCache(maxCachedFlows), metrics: m, zstd: zd, stopping: make(chan struct{})}
	s.routeIdentity()
	s.routeProfiles()
	if cfg.Metrics != nil {
		s.handle("GET /metrics", s.handleMetrics)
	}
	if cfg.Vault != nil {
		s.routeVaultManagement()
		s.routeVaultKeysManagement()
		s.routeKeyEventSubscriptions()
	}
	if cfg.KeyEventReceiver != nil {
		s.routeKeyEventReceiver()
	}
	if cfg.Workspaces != nil {
		s.routeWorkspaceManagement()
	}
	if cfg.Workspaces != nil && cfg.Data != nil {
		s.routeIngestion()
		s.routeDataCollector()
		s.routeQuery()
		s.routeIncidents()
		s.routeAlertRules()
		s.routeWatchlists()
		s.routeTables()
		s.routeSavedSearches()
		s.routeAutomationRules()
		s.routeVerify()
		s.routeFlush()
	}
	return s, nil
}

// ServeHTTP sends requests for {vault}.{suffix} hosts to the vault data plane,
// which lives at the root of its host as the Key Vault API does, and all others
// to the main routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	reqID := r.Header.Get("x-ms-client-request-id")
	if !validRequestID(reqID) {
		// The ID is echoed in a header and written to logs: one that is not
		// a plain token is replaced, not repeated.
		reqID = newRequestID()
	}
	rec.Header().Set("x-ms-request-id", reqID)
	ctx := context.WithValue(r.Context(), requestIDKey{}, reqID)
	r = r.WithContext(ctx)
	route := routeUnmatched
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.wrote {
				writeError(rec, r, s.log, fmt.Errorf("panic: %v", p))
			}
		}
		s.log.Debug("request", "method", r.Method, "host", r.Host, "path", r.URL.Path,
			"status", rec.status, "durationMs", float64(time.Since(start).Microseconds())/1000, "requestId", reqID)
		s.metrics.request(route, r, rec.status, time.Since(start).Seconds())
	}()
	if name, ok := s.vaultFromHost(r.Host); ok && s.cfg.Vault != nil {
		r = r.WithContext(context.WithValue(r.Context(), vaultNameKey{}, name))
		route = s.serveVault(rec, r)
		return
	}
	if err := checkCleanPath(r.URL.EscapedPath()); err != nil {
		// The mux would redirect to the cleaned path, which names something
		// else than the caller wrote.
		writeError(rec, r, s.log, err)
		return
	}
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		// The mux would answer in plain text, and it gives no pattern for a
		// 404 and a 405 alike: tell them apart here, in the API's error shape.
		writeError(rec, r, s.log, s.unrouted(r))
		return
	}
	route = pattern
	s.mux.ServeHTTP(rec, r)
}

// unrouted is the refusal of r, which no route serves: 405 MethodNotAllowed
// with Allow when the path is a route's under other methods, else 404.
func (s *Server) unrouted(r *http.Request) *Error {
	path := echo(r.URL.Path, 200)
	allowed := s.allowedMethods(r)
	if len(allowed) == 0 {
		return &Error{Status: http.StatusNotFound, Code: "NotFound",
			Message: fmt.Sprintf("%s %s is not an operation of this API; see docs/api.md", r.Method, path)}
	}
	return &Error{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed",
		Header:  http.Header{"Allow": {strings.Join(allowed, ", ")}},
		Message: fmt.Sprintf("%s %s is not an operation of this API; use %s (see docs/api.md)", r.Method, path, strings.Join(allowed, " or "))}
}

// allowedMethods lists, sorted, the methods under which a route serves r's
// path: the mux's own Allow, which it does not export. Every pattern
// carries a method; GET serves HEAD too. A route ending in a {rest...}
// wildcard (the role assignments' PUT and DELETE, which hang off any scope)
// takes any path under its prefix and checks the path itself, so its match
// says nothing about whether r's path is an operation.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allowed []string
	probe := *r
	for _, m := range s.methods {
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" && !strings.HasSuffix(pattern, "...}") {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// IsVaultHost reports whether host ({vault}.{suffix}[:port]) is a vault's,
// every path of which belongs to the vault's data plane.
func (s *Server) IsVaultHost(host string) bool {
	_, ok := s.vaultFromHost(host)
	return ok && s.cfg.Vault != nil
}

// vaultFromHost returns the vault name when host is {vault}.{suffix}[:port].
func (s *Server) vaultFromHost(host string) (string, bool) {
	if s.cfg.VaultDNSSuffix == "" {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	name, ok := strings.CutSuffix(host, "."+s.cfg.VaultDNSSuffix)
	if !ok || name == "" || strings.Contains(name, ".") {
		return "", false
	}
	return name, true
}

type vaultNameKey struct{}
type requestIDKey struct{}

// vaultName is the vault the request's Host names (data-plane routes only).
func vaultName(r *http.Request) string {
	v, _ := r.Context().Value(vaultNameKey{}).(string)
	return v
}

func requestID(r *http.Request) string {
	v, _ := r.Context().Value(requestIDKey{}).(string)
	return v
}

// validRequestID accepts the client request IDs clients send (GUIDs and
// similar tokens): 1-64 ASCII letters, digits and -_.:{}.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(rune(c)) && !strings.ContainsRune("-_.:{}", rune(c)) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handlerFunc is a handler that returns its error for writeError to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h; an error it returns becomes the response.
func (s *Server) handle(pattern string, h handlerFunc) {
	s.register(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}, s.writeError)
}

// register is the one way a route joins the mux: every value its pattern's
// wildcards take is checked against that name's rule before h runs, and a
// bad one is refused by refuse. A wildcard without a rule panics here.
func (s *Server) register(pattern string, h http.HandlerFunc, refuse func(http.ResponseWriter, *http.Request, error)) {
	params := pathParams(pattern)
	s.patterns = append(s.patterns, pattern)
	if method, _, _ := strings.Cut(pattern, " "); method == http.MethodGet {
		s.addMethod(http.MethodGet)
		s.addMethod(http.MethodHead)
	} else {
		s.addMethod(method)
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := checkPathParams(r, params); err != nil {
			refuse(w, r, err)
			return
		}
		h(w, r)
	})
}

// addMethod adds m to the sorted methods routes take, once.
func (s *Server) addMethod(m string) {
	if i, found := slices.BinarySearch(s.methods, m); !found {
		s.methods = slices.Insert(s.methods, i, m)
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.log, err)
}

// clientIP is the caller's address as seen on the connection. Sealwatch does
// not trust X-Forwarded-For: an audit record must not be forgeable by the caller.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxBodyBytes bounds every JSON request body outside ingestion.
const maxBodyBytes = 1 << 20

// decodeJSON reads one JSON object from r's body into v, refusing bodies over
// the limit, text that is not UTF-8, unknown trailing data, and wrong types,
// with a message that says where the body is wrong.
func decodeJSON(r *http.Request, v any) error { return decodeJSONLimit(r, v, maxBodyBytes) }

// decodeJSONLimit is decodeJSON for a body of up to limit bytes.
func decodeJSONLimit(r *http.Request, v any, limit int64) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "PayloadTooLarge",
			Message: fmt.Sprintf("the request body exceeds %d bytes", limit)}
	case err != nil:
		return badRequest("BadParameter", "the request body could not be read: "+err.Error())
	}
	if msg := jsonTextError(body); msg != "" {
		return badRequest("BadParameter", "the request body "+msg+"; send JSON in UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return badRequest("BadParameter", fmt.Sprintf("the request body is not valid JSON at byte %d: %v", syntax.Offset, err))
		case errors.As(err, &typ) && typ.Field == "":
			return badRequest("BadParameter", fmt.Sprintf("the request body must be %s, not %s", jsonKind(typ.Type), typ.Value))
		case errors.As(err, &typ):
			return badRequest("BadParameter", fmt.Sprintf("the request body field %s must be %s, not %s", echo(typ.Field, 100), jsonKind(typ.Type), typ.Value))
		case errors.Is(err, io.EOF):
			return badRequest("BadParameter", "the request body is empty; send a JSON object")
		default:
			return badRequest("BadParameter", "the request body is not valid JSON: "+err.Error())
		}
	}
	if dec.More() {
		return badRequest("BadParameter", "the request body holds data after its JSON object; send exactly one object")
	}
	return nil
}

// jsonKind names the JSON value a Go type decodes from, for a message.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Interface:
		return "a JSON value"
	}
	return "a number"
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
