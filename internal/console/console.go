// Package console serves Sealwatch's web console: its page, styles and
// scripts, embedded in the binary, and the browser sessions through which
// that page calls the node's own HTTP API with the signed-in application's
// tokens.
//
// The page is plain ES modules and CSS under web/, served as they are. Its
// libraries, CodeMirror 6 and uPlot, are the built files web/codemirror.js
// and web/uplot.js, made by scripts/console-vendor.sh from
// webdeps/package-lock.json, with the licences of what each holds in
// web/NAME.LICENSES.txt.
package console

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// Config says what the console serves and whom it signs in.
type Config struct {
	// Identity signs applications in and issues their sessions' tokens.
	Identity *identity.Service
	// API is the node's HTTP API: every request that is not the console's
	// own goes there, with the session's tokens on its context.
	API http.Handler
	// APIHost reports whether every path of a host belongs to the API (the
	// vault hosts); the console serves nothing there. Nil: none does.
	APIHost func(host string) bool
	// DB keeps the sessions, shared by every node that serves the console
	// (the identity database): any node serves any session, and a sign-out
	// on one ends it on all.
	DB kv.DB
	// Secrets seals what a session holds (its tokens and CSRF token) in
	// DB and keys the MAC that DB's records are named by in place of the
	// session ID: the secrets key every node sharing DB holds.
	Secrets *rootkey.Key
	// IdleTimeout ends a session unused for that long (default
	// DefaultIdleTimeout). A session ends in any case when its tokens expire.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions held at once by all the nodes
	// sharing DB (default DefaultMaxSessions); past it, a sign-in is
	// refused until one ends.
	MaxSessions int
	// Now defaults to time.Now; tests move time with it.
	Now    func() time.Time
	Logger *slog.Logger
}

// Session defaults: a console left alone for half an hour signs out; ten
// thousand sessions are far more than people at the console, and a few
// megabytes of records.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxSessions = 10000
)

// Console is the web console's HTTP handler, in front of the API.
type Console struct {
	cfg      Config
	log      *slog.Logger
	assets   *assets
	sessions *store
	mux      *http.ServeMux
}

// New checks cfg and builds the console.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.Identity == nil:
		return nil, errors.New("console: the identity service is required")
	case cfg.API == nil:
		return nil, errors.New("console: the API handler is required")
	case cfg.DB == nil || cfg.Secrets == nil:
		return nil, errors.New("console: the sessions' database and the secrets key are required")
	case cfg.IdleTimeout < 0 || cfg.MaxSessions < 0:
		return nil, errors.New("console: the idle timeout and session bound must not be negative")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, log: cfg.Logger, assets: a,
		sessions: newStore(cfg.DB, cfg.Secrets, cfg.IdleTimeout, cfg.MaxSessions, cfg.Now), mux: http.NewServeMux()}
	c.mux.HandleFunc("GET /{$}", c.servePage)
	c.mux.HandleFunc("GET /console/assets/{name}", c.serveAsset)
	c.mux.HandleFunc("POST /console/session", c.handleSignIn)
	c.mux.HandleFunc("GET /console/session", c.handleSession)
	c.mux.HandleFunc("DELETE /console/session", c.handleSignOut)
	return c, nil
}

// methods are those the console's routes take (GET serves HEAD too).
var methods = []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPost}

// allowedMethods lists the methods under which a console route serves r's
// path: the mux's own Allow, which it does not export.
func (c *Console) allowedMethods(r *http.Request) []string {
	var allowed []string
	probe := *r
	for _, m := range methods {
		probe.Method = m
		if _, pattern := c.mux.Handler(&probe); pattern != "" {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// ServeHTTP serves the console's own paths and hands everything else to the
// API, with the request's session, if it has a valid one, on its context.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.cfg.APIHost != nil && c.cfg.APIHost(r.Host) {
		c.cfg.API.ServeHTTP(w, r)
		return
	}
	if !mayBeConsolePath(r.URL.Path) {
		c.serveAPI(w, r) // what the probes below would come to, without them
		return
	}
	if _, pattern := c.mux.Handler(r); pattern != "" {
		setSecurityHeaders(w.Header())
		c.mux.ServeHTTP(w, r)
		return
	}
	if allowed := c.allowedMethods(r); len(allowed) > 0 {
		// The mux would answer 405 in plain text.
		setSecurityHeaders(w.Header())
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed",
			r.Method+" "+echo(r.URL.Path)+" is not an operation of the console; use "+strings.Join(allowed, " or "))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/console/") {
		setSecurityHeaders(w.Header())
		writeError(w, http.StatusNotFound, "NotFound", r.Method+" "+echo(r.URL.Path)+" is not a page of the console; open / for the console")
		return
	}
	c.serveAPI(w, r)
}

// mayBeConsolePath is false for a path no console route can serve under
// any method, however the mux cleans and unescapes it: one that, cleaned,
// is neither / nor /console nor under it. The console's routes are / and under
// /console/ (New); every other request is the API's, and is handed to it
// without probing the mux once per method.
func mayBeConsolePath(p string) bool {
	if p == "" || underConsole(p) { // the mux reads an empty path as /
		return true
	}
	clean := path.Clean(p)
	return clean == "/" || underConsole(clean)
}

func underConsole(p string) bool { return p == "/console" || strings.HasPrefix(p, "/console/") }

// contentSecurityPolicy allows the page nothing but its own origin's
// scripts, styles, images and API: no inline script or style, no eval, no
// frames, no form posted elsewhere. A library that needed more would be the
// wrong library.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// setSecurityHeaders sets, on every console response, what keeps the page
// to itself: the policy above, no sniffing of types, no framing, no
// referrer, a browsing context of its own, and no powerful features.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// writeError writes the API's error shape, {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// echo is caller text fit to repeat in a message: at most 200 bytes.
func echo(s string) string {
	const limit = 200
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
