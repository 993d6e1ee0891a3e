package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/vault"
)

// The management API's view of a vault's keys (Microsoft.KeyVault/vaults/keys),
// as the cloud's: an Owner lists, reads and creates keys through the
// management endpoint, without an access policy of the vault and without
// the vault's own host — what the web console, which holds management
// tokens only, needs to check step 1 of a customer-managed key's set-up.
// Wrapping, rotating and everything else stay on the data plane.

func (s *Server) routeVaultKeysManagement() {
	s.mgmt("GET "+vaultsPath+"/{name}/keys", "KeyList", s.handleARMListKeys)
	s.mgmt("GET "+vaultsPath+"/{name}/keys/{key}", "KeyGet", s.handleARMGetKey)
	s.mgmt("PUT "+vaultsPath+"/{name}/keys/{key}", "KeyCreate", s.handleARMPutKey)
}

// armKey is a key as the management API shows it: its latest version's
// type, size, operations and attributes, never key material.
type armKey struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties armKeyProperties  `json:"properties"`
}

type armKeyProperties struct {
	Attributes        armKeyAttributes `json:"attributes"`
	Kty               string           `json:"kty"`
	KeyOps            []string         `json:"keyOps"`
	KeySize           int              `json:"keySize"`
	KeyURI            string           `json:"keyUri"`
	KeyURIWithVersion string           `json:"keyUriWithVersion"`
}

type armKeyAttributes struct {
	Enabled       bool   `json:"enabled"`
	NotBefore     *int64 `json:"nbf,omitempty"`
	Expires       *int64 `json:"exp,omitempty"`
	Created       int64  `json:"created"`
	Updated       int64  `json:"updated"`
	RecoveryLevel string `json:"recoveryLevel"`
	Exportable    bool   `json:"exportable"`
}

// armKeyParameters is the body of a PUT: the data plane's create parameters
// under the management API's names.
type armKeyParameters struct {
	Tags       map[string]string `json:"tags"`
	Properties struct {
		Kty        string   `json:"kty"`
		KeySize    *int     `json:"keySize"`
		KeyOps     []string `json:"keyOps"`
		Attributes *struct {
			Enabled   *bool  `json:"enabled"`
			NotBefore *int64 `json:"nbf"`
			Expires   *int64 `json:"exp"`
		} `json:"attributes"`
	} `json:"properties"`
}

func toARMKey(v *vault.Vault, name string, b *vault.KeyBundle) armKey {
	a := b.Attributes
	attrs := armKeyAttributes{NotBefore: a.NotBefore, Expires: a.Expires, RecoveryLevel: a.RecoveryLevel}
	if a.Enabled != nil {
		attrs.Enabled = *a.Enabled
	}
	if a.Created != nil {
		attrs.Created = *a.Created
	}
	if a.Updated != nil {
		attrs.Updated = *a.Updated
	}
	size := 256 // the only size of an oct key
	if len(b.Key.N) > 0 {
		size = len(b.Key.N) * 8
	}
	ops := b.Key.KeyOps
	if ops == nil {
		ops = []string{}
	}
	return armKey{ID: v.ID + "/keys/" + name, Name: name, Type: "Microsoft.KeyVault/vaults/keys", Location: v.Location, Tags: b.Tags,
		Properties: armKeyProperties{Attributes: attrs, Kty: b.Key.Kty, KeyOps: ops, KeySize: size,
			KeyURI: b.Key.KID[:strings.LastIndexByte(b.Key.KID, '/')], KeyURIWithVersion: b.Key.KID}}
}

// vaultIn is the vault the request names, in the request's resource group.
func (s *Server) vaultIn(r *http.Request) (*vault.Vault, error) {
	v, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	if errors.Is(err, vault.ErrVaultNotFound) || (err == nil && !sameResourceGroup(r, v.ID)) {
		return nil, vaultNotFoundIn(r)
	}
	return v, err
}

func (s *Server) handleARMListKeys(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.vaultIn(r)
	if err != nil {
		return 0, nil, err
	}
	items, err := s.cfg.Vault.ListKeys(r.Context(), v.Name)
	if err != nil {
		return 0, nil, err
	}
	out := []armKey{}
	for _, it := range items {
		name := it.KID[strings.LastIndexByte(it.KID, '/')+1:]
		b, err := s.cfg.Vault.GetKey(r.Context(), v.Name, name, "")
		if errors.Is(err, vault.ErrKeyNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return 0, nil, err
		}
		out = append(out, toARMKey(v, name, b))
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

func (s *Server) handleARMGetKey(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.vaultIn(r)
	if err != nil {
		return 0, nil, err
	}
	b, err := s.cfg.Vault.GetKey(r.Context(), v.Name, r.PathValue("key"), "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toARMKey(v, r.PathValue("key"), b), nil
}

// handleARMPutKey creates a key if it does not exist; an existing key is
// answered as it is, unchanged (the cloud's "create if not exist"): new
// versions come from rotation on the data plane. Both answer 200, as the
// cloud's clients expect.
func (s *Server) handleARMPutKey(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.vaultIn(r)
	if err != nil {
		return 0, nil, err
	}
	var in armKeyParameters
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("key")
	b, err := s.cfg.Vault.GetKey(r.Context(), v.Name, name, "")
	if err == nil {
		return http.StatusOK, toARMKey(v, name, b), nil
	}
	if !errors.Is(err, vault.ErrKeyNotFound) {
		return 0, nil, err
	}
	p := vault.CreateKeyParameters{Kty: in.Properties.Kty, KeySize: in.Properties.KeySize, KeyOps: in.Properties.KeyOps, Tags: in.Tags}
	if a := in.Properties.Attributes; a != nil {
		p.Attributes = &vault.KeyAttributes{Enabled: a.Enabled, NotBefore: a.NotBefore, Expires: a.Expires}
	}
	b, err = s.cfg.Vault.CreateKey(r.Context(), v.Name, name, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toARMKey(v, name, b), nil
}
