package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/audit"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/vault"
)

const vaultsPath = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults"

func (s *Server) routeVaultManagement() {
	s.mgmt("PUT "+vaultsPath+"/{name}", "VaultPut", s.handlePutVault)
	s.mgmt("GET "+vaultsPath+"/{name}", "VaultGet", s.handleGetVault)
	s.mgmt("DELETE "+vaultsPath+"/{name}", "VaultDelete", s.handleDeleteVault)
	s.mgmt("GET "+vaultsPath, "VaultList", s.handleListVaults)
	s.mgmt("GET /subscriptions/{sub}/providers/Microsoft.KeyVault/vaults", "VaultList", s.handleListVaults)
	s.mgmt("PUT "+vaultsPath+"/{name}/accessPolicies/{kind}", "VaultAccessPolicyUpdate", s.handleAccessPolicies)
	s.mgmt("GET "+vaultsPath+"/{name}/auditRecords", "VaultAuditRead", s.handleAuditRecords)
	s.mgmt("GET /subscriptions/{sub}/providers/Microsoft.KeyVault/deletedVaults", "DeletedVaultList", s.handleListDeletedVaults)
	s.mgmt("GET /subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}", "DeletedVaultGet", s.handleGetDeletedVault)
	s.mgmt("POST /subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}/purge", "VaultPurge", s.handlePurgeVault)
}

// mgmtHandler returns the status and body of a management call.
type mgmtHandler func(r *http.Request, c *identity.Claims) (int, any, error)

// mgmt registers a management route: an Owner's token for the management
// API, an api-version, and, when op names a vault operation, a record of
// the outcome in the vault's audit log.
func (s *Server) mgmt(pattern, op string, h mgmtHandler) {
	s.register(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Authenticated first, so that a refused caller is named in the
		// vault's audit record.
		c, err := s.authenticate(r, identity.AudienceManagement)
		if err == nil {
			err = ownerOnly(c)
		}
		status, body := 0, any(nil)
		if err == nil {
			err = checkARMAPIVersion(r)
		}
		if err == nil {
			status, body, err = h(r, c)
		}
		rec := audit.Record{Time: start.UTC(), Vault: r.PathValue("name"), KeyName: r.PathValue("key"), ClientIP: clientIP(r),
			Operation: op, RequestID: requestID(r), Status: status}
		if c != nil {
			rec.CallerObjectID, rec.CallerTenantID, rec.CallerAppID = c.ObjectID, c.TenantID, c.AppID
		}
		if err != nil {
			e := toAPIError(err)
			rec.Status, rec.ErrorCode = e.Status, e.Code
			writeError(w, r, s.log, err)
		} else if body == nil {
			w.WriteHeader(status)
		} else {
			writeJSON(w, status, body)
		}
		rec.DurationMs = float64(time.Since(start).Microseconds()) / 1000
		// Reading the audit log is not itself a vault operation worth a record
		// per page; everything else is.
		if s.cfg.Audit != nil && op != "" && op != "VaultAuditRead" {
			s.cfg.Audit.Append(rec)
		}
	}, s.writeError)
}

// sameResourceGroup reports whether the vault's resource ID sits under the
// request's subscription and resource group (case-insensitively, as in ARM).
func sameResourceGroup(r *http.Request, id string) bool {
	prefix := "/subscriptions/" + r.PathValue("sub") + "/resourcegroups/" + r.PathValue("rg") + "/"
	return strings.HasPrefix(strings.ToLower(id), strings.ToLower(prefix))
}

func vaultNotFoundIn(r *http.Request) *Error {
	return &Error{Status: http.StatusNotFound, Code: "ResourceNotFound",
		Message: fmt.Sprintf("vault %q was not found in resource group %q; list vaults with `sealwatch keyvault list`", r.PathValue("name"), r.PathValue("rg"))}
}

func (s *Server) handlePutVault(r *http.Request, c *identity.Claims) (int, any, error) {
	var in vault.VaultParameters
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Properties.TenantID == "" {
		in.Properties.TenantID = c.TenantID
	}
	existing, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	if err == nil && !sameResourceGroup(r, existing.ID) {
		return 0, nil, &Error{Status: http.StatusConflict, Code: "VaultAlreadyExists",
			Message: fmt.Sprintf("vault name %q is already used by %s; vault names are host names and unique across the installation: choose another", r.PathValue("name"), existing.ID)}
	}
	v, err := s.cfg.Vault.CreateOrUpdateVault(r.Context(), r.PathValue("sub"), r.PathValue("rg"), r.PathValue("name"), in)
	if err != nil {
		return 0, nil, err
	}
	if existing == nil {
		return http.StatusCreated, v, nil
	}
	return http.StatusOK, v, nil
}

func (s *Server) handleGetVault(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	if errors.Is(err, vault.ErrVaultNotFound) || (err == nil && !sameResourceGroup(r, v.ID)) {
		return 0, nil, vaultNotFoundIn(r)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) handleDeleteVault(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	if errors.Is(err, vault.ErrVaultNotFound) || (err == nil && !sameResourceGroup(r, v.ID)) {
		return http.StatusNoContent, nil, nil // ARM: deleting what is not there succeeds
	}
	if err != nil {
		return 0, nil, err
	}
	if err := s.cfg.Vault.DeleteVault(r.Context(), v.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

func (s *Server) handleListVaults(r *http.Request, _ *identity.Claims) (int, any, error) {
	vs, err := s.cfg.Vault.ListVaults(r.Context(), r.PathValue("sub"), r.PathValue("rg"))
	if err != nil {
		return 0, nil, err
	}
	if vs == nil {
		vs = []vault.Vault{}
	}
	return http.StatusOK, map[string]any{"value": vs}, nil
}

func (s *Server) handleAccessPolicies(r *http.Request, c *identity.Claims) (int, any, error) {
	kind := vault.PolicyUpdateKind(strings.ToLower(r.PathValue("kind")))
	switch kind {
	case vault.PolicyAdd, vault.PolicyReplace, vault.PolicyRemove:
	default:
		return 0, nil, badRequest("BadRequest", fmt.Sprintf("access policy operation %q is not one of add, replace, remove", truncate(r.PathValue("kind"), 20)))
	}
	v, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	if errors.Is(err, vault.ErrVaultNotFound) || (err == nil && !sameResourceGroup(r, v.ID)) {
		return 0, nil, vaultNotFoundIn(r)
	}
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Properties struct {
			AccessPolicies []vault.AccessPolicy `json:"accessPolicies"`
		} `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	for i := range in.Properties.AccessPolicies {
		if in.Properties.AccessPolicies[i].TenantID == "" {
			in.Properties.AccessPolicies[i].TenantID = c.TenantID
		}
	}
	out, err := s.cfg.Vault.UpdateAccessPolicies(r.Context(), v.Name, kind, in.Properties.AccessPolicies)
	if err != nil {
		return 0, nil, err
	}
	if out == nil {
		out = []vault.AccessPolicy{}
	}
	return http.StatusOK, map[string]any{
		"id":         v.ID + "/accessPolicies/" + string(kind),
		"name":       string(kind),
		"type":       "Microsoft.KeyVault/vaults/accessPolicies",
		"properties": map[string]any{"accessPolicies": out},
	}, nil
}

func (s *Server) handleListDeletedVaults(r *http.Request, _ *identity.Claims) (int, any, error) {
	vs, err := s.cfg.Vault.ListDeletedVaults(r.Context(), r.PathValue("sub"))
	if err != nil {
		return 0, nil, err
	}
	if vs == nil {
		vs = []vault.DeletedVault{}
	}
	return http.StatusOK, map[string]any{"value": vs}, nil
}

func (s *Server) handleGetDeletedVault(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.cfg.Vault.GetDeletedVault(r.Context(), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) handlePurgeVault(r *http.Request, _ *identity.Claims) (int, any, error) {
	if err := s.cfg.Vault.PurgeVault(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	if s.cfg.KeyEvents != nil {
		// A vault made again under the name must not inherit the
		// purged one's subscribers.
		if err := s.cfg.KeyEvents.DeleteVault(r.Context(), r.PathValue("name")); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, nil, nil
}

// handleAuditRecords returns a vault's audit records, and whether the whole
// chain verifies, so that a reader never sees records without knowing.
func (s *Server) handleAuditRecords(r *http.Request, _ *identity.Claims) (int, any, error) {
	if s.cfg.Audit == nil {
		return 0, nil, &Error{Status: http.StatusNotFound, Code: "NotFound", Message: "this server keeps no audit log"}
	}
	v, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	name := r.PathValue("name")
	switch {
	case err == nil && !sameResourceGroup(r, v.ID):
		return 0, nil, vaultNotFoundIn(r)
	case err == nil:
		name = v.Name
	case !errors.Is(err, vault.ErrVaultNotFound):
		return 0, nil, err
	}
	// A deleted or purged vault's records stay readable: the audit trail
	// outlives the vault.
	f := audit.Filter{Vault: name, KeyName: r.URL.Query().Get("key"), Limit: 1000}
	if f.KeyName != "" {
		if err := ruleKey.check(f.KeyName); err != nil {
			return 0, nil, err
		}
	}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return 0, nil, badRequest("BadRequest", "since must be an RFC 3339 time such as 2026-11-26T10:00:00Z")
		}
		f.Since = t
	}
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return 0, nil, badRequest("BadRequest", "top must be an integer from 1 to 10000")
		}
		f.Limit = n
	}
	recs, err := s.cfg.Audit.List(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	body := map[string]any{"value": recs, "chainVerified": true}
	if err := s.cfg.Audit.Verify(r.Context()); err != nil {
		var te *audit.TamperError
		if !errors.As(err, &te) {
			return 0, nil, err
		}
		s.log.Error("audit chain broken", "seq", te.Seq, "reason", te.Reason)
		body["chainVerified"] = false
		body["chainError"] = te.Error()
		body["chainBrokenAt"] = te.Seq
	}
	return http.StatusOK, body, nil
}
