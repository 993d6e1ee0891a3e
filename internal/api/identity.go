package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sealwatch/sealwatch/internal/identity"
)

func (s *Server) routeIdentity() {
	s.register("POST /{tenant}/oauth2/v2.0/token", s.handleToken, refuseToken)
	s.handle("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleOpenIDConfig)
	s.handle("GET /{tenant}/discovery/v2.0/keys", s.handleJWKS)

	s.handle("GET /v1.0/applications", s.handleListApplications)
	s.handle("POST /v1.0/applications", s.handleCreateApplication)
	s.handle("GET /v1.0/applications/{id}", s.handleGetApplication)
	s.handle("DELETE /v1.0/applications/{id}", s.handleDeleteApplication)
	s.handle("POST /v1.0/applications/{id}/resetSecret", s.handleResetSecret)
}

// oauthError is the token endpoint's error body. OAuth2 (RFC 6749 §5.2)
// fixes its shape, and the official clients parse exactly this, so the token
// endpoint is the one route that does not answer {"error":{"code",...}}.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Timestamp   string `json:"timestamp"`
	TraceID     string `json:"trace_id"`
}

// writeOAuthError writes the token endpoint's error body.
func writeOAuthError(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="sealwatch"`)
	}
	writeJSON(w, status, oauthError{Error: code, Description: desc,
		Timestamp: time.Now().UTC().Format(time.RFC3339), TraceID: requestID(r)})
}

// refuseToken answers a token request whose path is bad in OAuth2's shape.
func refuseToken(w http.ResponseWriter, r *http.Request, err error) {
	e := toAPIError(err)
	writeOAuthError(w, r, e.Status, "invalid_request", e.Message)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) { writeOAuthError(w, r, status, code, desc) }
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded and under 64 KiB")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported; use client_credentials", gt))
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id, sec, ok := r.BasicAuth(); ok {
		clientID, secret = id, sec
	}
	if clientID == "" || secret == "" {
		fail(http.StatusBadRequest, "invalid_request", "client_id and client_secret are required (in the form, or as HTTP Basic authentication)")
		return
	}
	tok, err := s.cfg.Identity.IssueToken(r.Context(), r.PathValue("tenant"), clientID, secret, r.PostForm.Get("scope"))
	switch {
	case errors.Is(err, identity.ErrInvalidClient):
		s.log.Info("token refused", "clientId", loggableID(clientID), "reason", "invalid client", "clientIp", clientIP(r))
		fail(http.StatusUnauthorized, "invalid_client", err.Error())
		return
	case errors.Is(err, identity.ErrUnknownTenant):
		fail(http.StatusBadRequest, "invalid_request", err.Error())
		return
	case errors.Is(err, identity.ErrInvalidScope):
		fail(http.StatusBadRequest, "invalid_scope", err.Error())
		return
	case err != nil:
		s.log.Error("issue token", "clientId", loggableID(clientID), "err", err)
		fail(http.StatusInternalServerError, "server_error", "the token could not be issued; see the server log")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	expiresIn := int(time.Until(tok.ExpiresAt).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   tok.AccessToken,
	})
}

func (s *Server) checkTenant(r *http.Request) error {
	if !strings.EqualFold(r.PathValue("tenant"), s.cfg.Identity.TenantID()) {
		return &Error{Status: http.StatusNotFound, Code: "TenantNotFound",
			Message: fmt.Sprintf("tenant %q is not served here; this server's tenant is %s", r.PathValue("tenant"), s.cfg.Identity.TenantID())}
	}
	return nil
}

func (s *Server) handleOpenIDConfig(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkTenant(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.cfg.Identity.OpenIDConfiguration())
	return nil
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkTenant(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.cfg.Identity.JWKS())
	return nil
}

// authenticate verifies the request's bearer token for API aud. A refusal
// carries the challenge that tells a client where to get the right token.
func (s *Server) authenticate(r *http.Request, aud identity.Audience) (*identity.Claims, error) {
	raw := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, s.unauthorized(r, aud, "the Authorization header must be 'Bearer <token>'")
		}
		raw = strings.TrimSpace(tok)
	} else if s.cfg.SessionToken != nil {
		// A browser session holds tokens the identity service issued to its
		// application: verified and authorized below exactly as a bearer token.
		raw = s.cfg.SessionToken(r.Context(), aud)
	}
	c, err := s.cfg.Identity.Verify(r.Context(), raw, aud)
	if err != nil {
		if errors.Is(err, identity.ErrTokenMissing) {
			return nil, s.unauthorized(r, aud, fmt.Sprintf("the request has no bearer token; get one for scope %s/.default from %s/oauth2/v2.0/token", s.challengeResource(r, aud), s.cfg.Identity.AuthorityURL()))
		}
		var known bool
		for _, e := range []error{identity.ErrTokenExpired, identity.ErrTokenInvalid, identity.ErrWrongAudience, identity.ErrPrincipalGone} {
			known = known || errors.Is(err, e)
		}
		if !known {
			return nil, err
		}
		return nil, s.unauthorized(r, aud, err.Error())
	}
	return c, nil
}

// challengeResource is the resource a 401 names. For the vault it is the DNS
// suffix vaults live under, because the official key client refuses a
// challenge whose resource is not a parent domain of the vault's host.
// The port is part of it, since the client compares host:port.
func (s *Server) challengeResource(r *http.Request, aud identity.Audience) string {
	if aud != identity.AudienceVault || s.cfg.VaultDNSSuffix == "" {
		return string(aud)
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "443" {
		return "https://" + net.JoinHostPort(s.cfg.VaultDNSSuffix, port)
	}
	return "https://" + s.cfg.VaultDNSSuffix
}

func (s *Server) unauthorized(r *http.Request, aud identity.Audience, msg string) *Error {
	h := http.Header{}
	h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization=%q, resource=%q`, s.cfg.Identity.AuthorityURL(), s.challengeResource(r, aud)))
	return &Error{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: msg, Header: h}
}

// requireOwner authenticates a management call and requires the Owner role.
func (s *Server) requireOwner(r *http.Request) (*identity.Claims, error) {
	c, err := s.authenticate(r, identity.AudienceManagement)
	if err != nil {
		return nil, err
	}
	if err := ownerOnly(c); err != nil {
		return nil, err
	}
	return c, nil
}

// ownerOnly refuses an authenticated caller without the Owner role.
func ownerOnly(c *identity.Claims) error {
	if c.HasRole(identity.RoleOwner) {
		return nil
	}
	return &Error{Status: http.StatusForbidden, Code: "AuthorizationFailed",
		Message: fmt.Sprintf("the client with object ID %s lacks the %s role this operation needs; ask an Owner to act, or to create an application with --role %s", c.ObjectID, identity.RoleOwner, identity.RoleOwner)}
}

// requireMonitoring authenticates a management call and requires the Owner
// or MonitoringReader role: what it reads (metrics, profiles) names clusters
// and tells how the node runs, which is the operator's business only. what
// says, in the refusal, what the caller may not do.
func (s *Server) requireMonitoring(r *http.Request, what string) error {
	c, err := s.authenticate(r, identity.AudienceManagement)
	if err != nil {
		return err
	}
	if !c.HasRole(identity.RoleOwner) && !c.HasRole(identity.RoleMonitoringReader) {
		return &Error{Status: http.StatusForbidden, Code: "AuthorizationFailed",
			Message: fmt.Sprintf("the client with object ID %s may not %s; use an application with --role %s", c.ObjectID, what, identity.RoleMonitoringReader)}
	}
	return nil
}

// handleMetrics serves the Prometheus metrics to a management token of an
// Owner or MonitoringReader.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireMonitoring(r, "read metrics"); err != nil {
		return err
	}
	s.cfg.Metrics.ServeHTTP(w, r)
	return nil
}

// applicationBody is an application as the API shows it. ClientSecret is
// filled only in the response that creates or resets it.
type applicationBody struct {
	ID           string    `json:"id"`
	AppID        string    `json:"appId"`
	DisplayName  string    `json:"displayName"`
	Kind         string    `json:"kind"`
	Roles        []string  `json:"roles"`
	Created      time.Time `json:"createdDateTime"`
	ClientSecret string    `json:"clientSecret,omitempty"`
	TenantID     string    `json:"tenantId"`
}

func (s *Server) appBody(p *identity.Principal, secret string) applicationBody {
	roles := p.Roles
	if roles == nil {
		roles = []string{}
	}
	return applicationBody{ID: p.ObjectID, AppID: p.AppID, DisplayName: p.DisplayName, Kind: string(p.Kind),
		Roles: roles, Created: p.CreatedAt, ClientSecret: secret, TenantID: s.cfg.Identity.TenantID()}
}

func (s *Server) handleListApplications(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireOwner(r); err != nil {
		return err
	}
	ps, err := s.cfg.Identity.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]applicationBody, 0, len(ps))
	for i := range ps {
		out = append(out, s.appBody(&ps[i], ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) handleCreateApplication(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireOwner(r); err != nil {
		return err
	}
	var req struct {
		DisplayName string   `json:"displayName"`
		Roles       []string `json:"roles"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, secret, err := s.cfg.Identity.CreateApplication(r.Context(), req.DisplayName, req.Roles...)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, s.appBody(p, secret))
	return nil
}

func (s *Server) handleGetApplication(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireOwner(r); err != nil {
		return err
	}
	p, err := s.cfg.Identity.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.appBody(p, ""))
	return nil
}

func (s *Server) handleDeleteApplication(w http.ResponseWriter, r *http.Request) error {
	c, err := s.requireOwner(r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Identity.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if p.ObjectID == c.ObjectID {
		return &Error{Status: http.StatusConflict, Code: "Conflict",
			Message: "an application cannot delete itself; sign in as another Owner to delete it"}
	}
	if p.Kind != identity.KindApplication {
		return &Error{Status: http.StatusConflict, Code: "Conflict",
			Message: fmt.Sprintf("%s is a managed identity; it is deleted with the resource that owns it", p.ObjectID)}
	}
	if err := s.cfg.Identity.Delete(r.Context(), p.ObjectID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleResetSecret(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireOwner(r); err != nil {
		return err
	}
	p, err := s.cfg.Identity.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if p.Kind != identity.KindApplication {
		return &Error{Status: http.StatusConflict, Code: "Conflict",
			Message: fmt.Sprintf("%s is a managed identity; its secret belongs to the resource that owns it", p.ObjectID)}
	}
	p, secret, err := s.cfg.Identity.ResetSecret(r.Context(), p.ObjectID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.appBody(p, secret))
	return nil
}

// loggableID is a client ID fit for a log line: a GUID as it is, anything
// else (a secret pasted into the wrong field, say) only by its length.
func loggableID(id string) string {
	if uuid.Validate(id) == nil {
		return id
	}
	return fmt.Sprintf("<not a client ID, %d bytes>", len(id))
}
