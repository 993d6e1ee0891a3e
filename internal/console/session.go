package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sealwatch/sealwatch/internal/identity"
)

// The session cookie. The __Host- prefix makes the browser refuse it unless
// it is Secure, for path / and without a Domain: no other host, not even a
// vault's subdomain of this one, can set or read it.
const (
	cookieName = "__Host-sealwatch-session"
	// csrfHeader carries the session's CSRF token on every request that
	// changes something. A page of another origin can make the browser send
	// the cookie (SameSite=Strict aside) but can never read the token.
	csrfHeader = "X-CSRF-Token"
	// backgroundHeader marks a request the page makes by itself (the key
	// state's poll), not for the person: it is served all the same but does
	// not count as use, so that a console left open alone still signs out
	// after its idle time.
	backgroundHeader = "X-Sealwatch-Background"
)

// consoleAudiences are the APIs the console calls: a session holds one
// token for each, issued to the signed-in application.
var consoleAudiences = []identity.Audience{identity.AudienceManagement, identity.AudienceQuery}

// session is one signed-in browser, as read from its record for one
// request.
type session struct {
	key       []byte // its record's key (store.recordKey)
	principal identity.Principal
	tokens    map[identity.Audience]string
	csrf      string
	// expires is when the first of its tokens expires: the session cannot
	// outlive what it holds.
	expires  time.Time
	lastSeen time.Time // its last use, as recorded
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type sessionKey struct{}

// TokenFor is the token for API aud of the session on ctx, or "" when ctx
// carries none: the API's Config.SessionToken.
func TokenFor(ctx context.Context, aud identity.Audience) string {
	s, _ := ctx.Value(sessionKey{}).(*session)
	if s == nil {
		return ""
	}
	return s.tokens[aud]
}

// serveAPI hands r to the API. A request that brings its own Authorization
// header speaks for itself; one that brings a live session's cookie
// carries the session on its context, and, unless it only reads, must
// carry the session's CSRF token too; unless the page made it by itself
// (backgroundHeader), it restarts the session's idle time.
func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		s, err := c.session(r)
		if err != nil {
			c.sessionsUnavailable(w, err)
			return
		}
		if s != nil {
			if !safeMethod(r.Method) && !s.csrfMatches(r.Header.Get(csrfHeader)) {
				writeError(w, http.StatusForbidden, "CsrfTokenInvalid",
					fmt.Sprintf("a request that changes something must carry the session's CSRF token in the %s header; reload the console", csrfHeader))
				return
			}
			if r.Header.Get(backgroundHeader) == "" {
				c.markUsed(r.Context(), s)
			}
			r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		}
	}
	c.cfg.API.ServeHTTP(w, r)
}

// session is the live session r's cookie names, or nil. An error is the
// sessions' database failing: whether the request is signed in cannot be
// told. A record that does not open is no session, and logged: it was
// altered in the database.
func (c *Console) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	s, err := c.sessions.get(r.Context(), ck.Value)
	if errors.Is(err, errSessionUnreadable) {
		c.log.Error("console session refused: its record in the database does not open (altered, or moved from another session's)", "err", err)
		return nil, nil
	}
	return s, err
}

// markUsed restarts s's idle time. A failure is logged, not the request's:
// at worst the session ends a little early.
func (c *Console) markUsed(ctx context.Context, s *session) {
	if err := c.sessions.markUsed(ctx, s); err != nil {
		c.log.Warn("console session use not recorded", "objectId", s.principal.ObjectID, "err", err)
	}
}

// sessionsUnavailable answers a request whose session could not be read or
// written because the sessions' database failed.
func (c *Console) sessionsUnavailable(w http.ResponseWriter, err error) {
	c.log.Error("console sessions unavailable", "err", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "SessionsUnavailable",
		"the console's sessions could not be reached in the node's database; try again shortly, and see the node's log if it lasts")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (s *session) csrfMatches(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sessionBody is what the console's page learns of its session. The tokens
// stay on the server: the page never holds one.
type sessionBody struct {
	SignedIn           bool          `json:"signedIn"`
	TenantID           string        `json:"tenantId"`
	Principal          principalBody `json:"principal"`
	CSRFToken          string        `json:"csrfToken"`
	IdleTimeoutSeconds int           `json:"idleTimeoutSeconds"`
	ExpiresOn          time.Time     `json:"expiresOn"`
}

type principalBody struct {
	ObjectID    string   `json:"objectId"`
	AppID       string   `json:"appId"`
	DisplayName string   `json:"displayName"`
	Roles       []string `json:"roles"`
}

func (c *Console) sessionBody(s *session) sessionBody {
	roles := s.principal.Roles
	if roles == nil {
		roles = []string{}
	}
	return sessionBody{
		SignedIn: true,
		TenantID: c.cfg.Identity.TenantID(),
		Principal: principalBody{ObjectID: s.principal.ObjectID, AppID: s.principal.AppID,
			DisplayName: s.principal.DisplayName, Roles: roles},
		CSRFToken:          s.csrf,
		IdleTimeoutSeconds: int(c.cfg.IdleTimeout / time.Second),
		ExpiresOn:          s.expires.UTC(),
	}
}

func writeSession(w http.ResponseWriter, status int, body sessionBody) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxSignInBytes bounds a sign-in body: two GUID-sized strings and JSON.
const maxSignInBytes = 8 << 10

// handleSignIn exchanges an application's client ID and secret for a
// session: the identity service checks them once and issues the tokens the
// session holds; the browser gets only an HttpOnly cookie and the session's
// CSRF token.
func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if msg := crossSite(r); msg != "" {
		writeError(w, http.StatusForbidden, "CrossSiteRequest", msg)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "send the sign-in as application/json: {\"clientId\":\"...\",\"clientSecret\":\"...\"}")
		return
	}
	var req struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if status, msg := decodeSignIn(r.Body, &req); status != 0 {
		code := "BadParameter"
		if status == http.StatusRequestEntityTooLarge {
			code = "PayloadTooLarge"
		}
		writeError(w, status, code, msg)
		return
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		writeError(w, http.StatusBadRequest, "BadParameter", "give both clientId and clientSecret: an application's client ID and secret, as `sealwatch identity app create` printed them (the admin's are in DATA/admin.json)")
		return
	}
	p, toks, err := c.cfg.Identity.IssueTokensFor(r.Context(), req.ClientID, req.ClientSecret, consoleAudiences...)
	switch {
	case errors.Is(err, identity.ErrInvalidClient):
		c.log.Info("console sign-in refused", "clientId", loggableID(req.ClientID), "reason", "invalid client", "clientIp", clientIP(r))
		writeError(w, http.StatusUnauthorized, "InvalidClient", "the client ID is unknown or the secret is wrong; check both, or ask an Owner to reset the secret")
		return
	case err != nil:
		c.log.Error("console sign-in", "clientId", loggableID(req.ClientID), "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "the sign-in could not be completed; see the node's log")
		return
	case p.Kind != identity.KindApplication:
		c.log.Info("console sign-in refused", "objectId", p.ObjectID, "reason", "managed identity", "clientIp", clientIP(r))
		writeError(w, http.StatusForbidden, "Forbidden", "a managed identity belongs to a resource and cannot sign in to the console; sign in with an application's client ID and secret")
		return
	}
	s := &session{principal: *p, tokens: make(map[identity.Audience]string, len(toks)), csrf: randomToken()}
	for i, t := range toks {
		s.tokens[consoleAudiences[i]] = t.AccessToken
		if s.expires.IsZero() || t.ExpiresAt.Before(s.expires) {
			s.expires = t.ExpiresAt
		}
	}
	id, err := c.sessions.add(r.Context(), s)
	switch {
	case errors.Is(err, errTooManySessions):
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusServiceUnavailable, "TooManySessions", "the nodes hold as many console sessions as they may; sign out elsewhere or try again when idle sessions have ended")
		return
	case err != nil:
		c.sessionsUnavailable(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/",
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	c.log.Info("console sign-in", "objectId", p.ObjectID, "clientIp", clientIP(r))
	writeSession(w, http.StatusOK, c.sessionBody(s))
}

// decodeSignIn reads exactly one JSON object of known fields, in UTF-8,
// into v; a refusal is a status and a message saying what to send.
func decodeSignIn(body io.Reader, v any) (int, string) {
	raw, err := io.ReadAll(io.LimitReader(body, maxSignInBytes+1))
	switch {
	case err != nil:
		return http.StatusBadRequest, "the request body could not be read"
	case len(raw) > maxSignInBytes:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the sign-in body exceeds %d bytes", maxSignInBytes)
	case !utf8.Valid(raw):
		return http.StatusBadRequest, "the sign-in body is not UTF-8; send JSON in UTF-8"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, "the sign-in body must be one JSON object {\"clientId\":\"...\",\"clientSecret\":\"...\"} with string values"
	}
	if dec.More() {
		return http.StatusBadRequest, "the sign-in body holds data after its JSON object; send exactly one object"
	}
	return 0, ""
}

// crossSite says why r comes from another site, or "" if it does not. A
// sign-in is refused from another site, so that no page can sign a browser
// in as its own application (login CSRF).
func crossSite(r *http.Request) string {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "the console's sign-in is accepted only from the console's own page; open it at /"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
		return "the console's sign-in is accepted only from the console's own origin; open it at /"
	}
	return ""
}

func (c *Console) handleSession(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if err != nil {
		c.sessionsUnavailable(w, err)
		return
	}
	if s == nil {
		// Not signed in is an answer, not an error: the page asks on every
		// load, and a browser reports every 4xx it fetches as a failure.
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]bool{"signedIn": false})
		return
	}
	c.markUsed(r.Context(), s)
	writeSession(w, http.StatusOK, c.sessionBody(s))
}

// handleSignOut ends the session and clears its cookie. Ending another's
// session takes its CSRF token, as any change does.
func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if err != nil {
		c.sessionsUnavailable(w, err)
		return
	}
	if s != nil {
		if !s.csrfMatches(r.Header.Get(csrfHeader)) {
			writeError(w, http.StatusForbidden, "CsrfTokenInvalid",
				fmt.Sprintf("signing out takes the session's CSRF token in the %s header; reload the console", csrfHeader))
			return
		}
		if err := c.sessions.remove(r.Context(), s.key); err != nil {
			c.sessionsUnavailable(w, err) // the session lives on: say so
			return
		}
		c.log.Info("console sign-out", "objectId", s.principal.ObjectID, "clientIp", clientIP(r))
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// loggableID is a client ID fit for a log line: a GUID as it is, anything
// else (a secret pasted into the wrong field, say) only by its length.
func loggableID(id string) string {
	if uuid.Validate(id) == nil {
		return id
	}
	return fmt.Sprintf("<not a client ID, %d bytes>", len(id))
}

// clientIP is the caller's address as seen on the connection.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
