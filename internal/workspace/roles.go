package workspace

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Roles a principal can be given on a scope (a subscription, resource group,
// workspace or data collection rule). The tenant's Owners (a role in their
// token) may do everything.
const (
	RoleReader      = "Reader"      // query, read incidents
	RoleResponder   = "Responder"   // + update incidents and comments
	RoleContributor = "Contributor" // + delete incidents (management routes need an Owner today)
	RoleIngestor    = "Ingestor"    // send rows, nothing else
)

var roleNames = []string{RoleReader, RoleResponder, RoleContributor, RoleIngestor}

// grants lists what each role includes.
var grants = map[string][]string{
	RoleReader:      {RoleReader},
	RoleResponder:   {RoleReader, RoleResponder},
	RoleContributor: {RoleReader, RoleResponder, RoleContributor},
	RoleIngestor:    {RoleIngestor},
}

var bucketRoles = []byte("workspace.roleAssignments") // lower(scope)/name → RoleAssignment

// RoleAssignment gives a principal a role on a scope.
type RoleAssignment struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleDefinitionID string `json:"roleDefinitionId"`
		PrincipalID      string `json:"principalId"`
		Scope            string `json:"scope"`
	} `json:"properties"`
}

// roleOf reads a role name from a roleDefinitionId: the name itself, or the
// last segment of .../roleDefinitions/{name}.
func roleOf(def string) (string, bool) {
	if i := strings.LastIndexByte(def, '/'); i >= 0 {
		def = def[i+1:]
	}
	for _, r := range roleNames {
		if strings.EqualFold(r, def) {
			return r, true
		}
	}
	return "", false
}

// PutRoleAssignment assigns a role on scope.
func (s *Service) PutRoleAssignment(ctx context.Context, scope, name, roleDefinitionID, principalID string) (*RoleAssignment, error) {
	role, ok := roleOf(roleDefinitionID)
	if !ok {
		return nil, badRequest("roleDefinitionId '%s' names no role; use one of %s", printable(roleDefinitionID), strings.Join(roleNames, ", "))
	}
	if principalID == "" {
		return nil, badRequest("properties.principalId is required: the object ID of the principal to give the role")
	}
	if !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") {
		return nil, badRequest("scope '%s' must start with /subscriptions/", printable(scope))
	}
	if len(name) == 0 || len(name) > 64 || strings.ContainsAny(name, "/ ") {
		return nil, badRequest("role assignment name '%s' must be 1-64 characters without slashes (a GUID is usual)", printable(name))
	}
	a := &RoleAssignment{ID: strings.TrimRight(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, Type: "Microsoft.Authorization/roleAssignments"}
	a.Properties.RoleDefinitionID = "/providers/Microsoft.Authorization/roleDefinitions/" + role
	a.Properties.PrincipalID = principalID
	a.Properties.Scope = strings.TrimRight(scope, "/")
	err := s.update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRoles)
		if err != nil {
			return err
		}
		return putJSON(b, []byte(strings.ToLower(a.Properties.Scope)+"|"+name), a)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("role assigned", "scope", a.Properties.Scope, "role", role, "principalId", principalID)
	return a, nil
}

// DeleteRoleAssignment removes one.
func (s *Service) DeleteRoleAssignment(ctx context.Context, scope, name string) error {
	return s.update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketRoles)
		if b == nil {
			return nil
		}
		return b.Delete([]byte(strings.ToLower(strings.TrimRight(scope, "/")) + "|" + name))
	})
}

// Authorize checks that principal holds role on resourceID, through an
// assignment on the resource or any scope above it. It runs on every data
// request of a principal without the Owner role, so it seeks the assignments
// of each scope above the resource rather than reading them all.
func (s *Service) Authorize(ctx context.Context, principalID, resourceID, role string) error {
	target := strings.ToLower(resourceID)
	found := false
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketRoles)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for i := 1; i <= len(target); i++ {
			if i < len(target) && target[i] != '/' {
				continue
			}
			prefix := []byte(target[:i] + "|")
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				scope, _, _ := strings.Cut(string(k), "|")
				if target != scope && !strings.HasPrefix(target, scope+"/") {
					continue
				}
				a, err := getJSON[RoleAssignment](b, k)
				if err != nil {
					return err
				}
				have, _ := roleOf(a.Properties.RoleDefinitionID)
				if a.Properties.PrincipalID == principalID && slices.Contains(grants[have], role) {
					found = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fault.New(fault.Forbidden, "AuthorizationFailed",
			"the principal with object ID %s has no %s role on %s; an Owner can assign it with a role assignment on that scope", principalID, role, resourceID)
	}
	return nil
}

// ListRoleAssignments returns the assignments on scope and on every scope
// below it, by ID.
func (s *Service) ListRoleAssignments(ctx context.Context, scope string) ([]RoleAssignment, error) {
	prefix := strings.ToLower(strings.TrimRight(scope, "/"))
	out := []RoleAssignment{}
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketRoles)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			sc, _, _ := strings.Cut(string(k), "|")
			if sc != prefix && !strings.HasPrefix(sc, prefix+"/") {
				return nil
			}
			a, err := getJSON[RoleAssignment](b, k)
			if err != nil {
				return err
			}
			out = append(out, *a)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b RoleAssignment) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}
