package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

const (
	rgPath         = "/subscriptions/{sub}/resourceGroups/{rg}/providers/"
	clustersPath   = rgPath + "Microsoft.OperationalInsights/clusters"
	workspacesPath = rgPath + "Microsoft.OperationalInsights/workspaces"
)

func (s *Server) routeWorkspaceManagement() {
	s.route("PUT "+clustersPath+"/{name}", s.handlePutCluster)
	s.route("PATCH "+clustersPath+"/{name}", s.handlePatchCluster)
	s.route("GET "+clustersPath+"/{name}", s.handleGetCluster)
	s.route("DELETE "+clustersPath+"/{name}", s.handleDeleteCluster)
	s.route("GET "+clustersPath+"/{name}/keyUsage", s.handleKeyUsage)
	s.route("GET "+clustersPath, s.handleListClusters)
	s.route("GET /subscriptions/{sub}/providers/Microsoft.OperationalInsights/clusters", s.handleListClusters)

	s.route("PUT "+workspacesPath+"/{name}", s.handlePutWorkspace)
	s.route("GET "+workspacesPath+"/{name}", s.handleGetWorkspace)
	s.route("DELETE "+workspacesPath+"/{name}", s.handleDeleteWorkspace)
	s.handle("GET "+workspacesPath, s.handleListWorkspaces)
	s.handle("GET /subscriptions/{sub}/providers/Microsoft.OperationalInsights/workspaces", s.handleListWorkspaces)
	s.route("POST "+workspacesPath+"/{name}/sharedKeys", s.handleSharedKeys)
	s.route("POST "+workspacesPath+"/{name}/regenerateSharedKey", s.handleRegenerateSharedKey)

	s.route("PUT "+workspacesPath+"/{name}/linkedServices/cluster", s.handlePutLink)
	s.route("GET "+workspacesPath+"/{name}/linkedServices/cluster", s.handleGetLink)
	s.route("DELETE "+workspacesPath+"/{name}/linkedServices/cluster", s.handleDeleteLink)

	dcrs := rgPath + "Microsoft.Insights/dataCollectionRules"
	s.route("PUT "+dcrs+"/{name}", s.handlePutDCR)
	s.route("GET "+dcrs+"/{name}", s.handleGetDCR)
	s.route("DELETE "+dcrs+"/{name}", s.handleDeleteDCR)
	s.route("GET "+dcrs, s.handleListDCRs)
	// Role assignments hang off any scope, so they are matched by suffix.
	s.route("PUT /subscriptions/{scope...}", s.handlePutRoleAssignment)
	s.route("DELETE /subscriptions/{scope...}", s.handleDeleteRoleAssignment)
	// Listing has no catch-all (it would overlap the identity routes): the
	// scopes assignments are made on.
	for _, scope := range []string{"/subscriptions/{sub}", "/subscriptions/{sub}/resourceGroups/{rg}",
		workspacesPath + "/{name}", dcrs + "/{name}"} {
		s.route("GET "+scope+"/providers/Microsoft.Authorization/roleAssignments", s.handleListRoleAssignments)
	}

	onboarding := workspacesPath + "/{name}/providers/Microsoft.SecurityInsights/onboardingStates/default"
	s.route("PUT "+onboarding, s.handlePutOnboarding)
	s.route("GET "+onboarding, s.handleGetOnboarding)
	s.route("DELETE "+onboarding, s.handleDeleteOnboarding)
}

// route registers a management route of the workspace control plane: mgmt's
// checks, without a record in the vault's audit log.
func (s *Server) route(pattern string, h mgmtHandler) { s.mgmt(pattern, "", h) }

func resourceGroup(r *http.Request) workspace.ResourceGroup {
	return workspace.ResourceGroup{Subscription: r.PathValue("sub"), Group: r.PathValue("rg")}
}

func created(isNew bool) int {
	if isNew {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) handlePutCluster(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in workspace.ClusterParameters
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	c, isNew, err := s.cfg.Workspaces.PutCluster(r.Context(), resourceGroup(r), r.PathValue("name"), in)
	if err != nil {
		return 0, nil, err
	}
	return created(isNew), c, nil
}

func (s *Server) handlePatchCluster(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in workspace.ClusterParameters
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	c, err := s.cfg.Workspaces.PatchCluster(r.Context(), resourceGroup(r), r.PathValue("name"), in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

func (s *Server) handleGetCluster(r *http.Request, _ *identity.Claims) (int, any, error) {
	c, err := s.cfg.Workspaces.GetCluster(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

func (s *Server) handleDeleteCluster(r *http.Request, _ *identity.Claims) (int, any, error) {
	if err := s.cfg.Workspaces.DeleteCluster(r.Context(), resourceGroup(r), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

func (s *Server) handleListClusters(r *http.Request, _ *identity.Claims) (int, any, error) {
	cs, err := s.cfg.Workspaces.ListClusters(r.Context(), resourceGroup(r))
	if err != nil {
		return 0, nil, err
	}
	if cs == nil {
		cs = []workspace.Cluster{}
	}
	return http.StatusOK, map[string]any{"value": cs}, nil
}

func (s *Server) handlePutWorkspace(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in workspace.WorkspaceParameters
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	w, isNew, err := s.cfg.Workspaces.PutWorkspace(r.Context(), resourceGroup(r), r.PathValue("name"), in)
	if err != nil {
		return 0, nil, err
	}
	return created(isNew), w, nil
}

func (s *Server) handleGetWorkspace(r *http.Request, _ *identity.Claims) (int, any, error) {
	w, err := s.cfg.Workspaces.GetWorkspace(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	if s.cfg.Data != nil {
		w.Properties.DataIntegrity = dataIntegrityOf(s.cfg.Data.Integrity(w.Properties.CustomerID))
	}
	return http.StatusOK, w, nil
}

func (s *Server) handleDeleteWorkspace(r *http.Request, _ *identity.Claims) (int, any, error) {
	if err := s.cfg.Workspaces.DeleteWorkspace(r.Context(), resourceGroup(r), r.PathValue("name"), s.cfg.DeleteWorkspaceData); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// handleListWorkspaces answers the workspaces of a resource group or
// subscription: every one to an Owner, and to anyone else those they may
// read (a Reader, Responder or Contributor there or above), as the cloud
// lists what the caller may read. A Responder's console finds its
// workspaces so.
func (s *Server) handleListWorkspaces(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(r, identity.AudienceManagement)
	if err != nil {
		return err
	}
	if err := checkARMAPIVersion(r); err != nil {
		return err
	}
	ws, err := s.cfg.Workspaces.ListWorkspaces(r.Context(), resourceGroup(r))
	if err != nil {
		return err
	}
	if !c.HasRole(identity.RoleOwner) {
		if ws, err = s.readableWorkspaces(r.Context(), c.ObjectID, ws); err != nil {
			return err
		}
	}
	if ws == nil {
		ws = []workspace.Workspace{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": ws})
	return nil
}

// readableWorkspaces are those of ws on which principal holds a role that
// reads.
func (s *Server) readableWorkspaces(ctx context.Context, principal string, ws []workspace.Workspace) ([]workspace.Workspace, error) {
	var out []workspace.Workspace
	for _, w := range ws {
		err := s.cfg.Workspaces.Authorize(ctx, principal, w.ID, workspace.RoleReader)
		switch {
		case err == nil:
			out = append(out, w)
		case fault.KindOf(err) != fault.Forbidden:
			return nil, err
		}
	}
	return out, nil
}

func (s *Server) handleSharedKeys(r *http.Request, _ *identity.Claims) (int, any, error) {
	k, err := s.cfg.Workspaces.SharedKeys(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k, nil
}

func (s *Server) handleRegenerateSharedKey(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in struct {
		KeyName string `json:"keyName"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	k, err := s.cfg.Workspaces.RegenerateSharedKey(r.Context(), resourceGroup(r), r.PathValue("name"), in.KeyName)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k, nil
}

func (s *Server) handlePutLink(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in struct {
		Properties struct {
			WriteAccessResourceID string `json:"writeAccessResourceId"`
			ResourceID            string `json:"resourceId"`
		} `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	target := in.Properties.WriteAccessResourceID
	if target == "" {
		target = in.Properties.ResourceID
	}
	if strings.TrimSpace(target) == "" {
		return 0, nil, badRequest("BadRequest", "properties.writeAccessResourceId must name the cluster to link to")
	}
	l, err := s.cfg.Workspaces.Link(r.Context(), resourceGroup(r), r.PathValue("name"), target)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, l, nil
}

func (s *Server) handleGetLink(r *http.Request, _ *identity.Claims) (int, any, error) {
	l, err := s.cfg.Workspaces.GetLink(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, l, nil
}

func (s *Server) handleDeleteLink(r *http.Request, _ *identity.Claims) (int, any, error) {
	if err := s.cfg.Workspaces.Unlink(r.Context(), resourceGroup(r), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

func (s *Server) handlePutOnboarding(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in struct {
		Properties struct {
			CustomerManagedKey bool `json:"customerManagedKey"`
		} `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	o, err := s.cfg.Workspaces.Onboard(r.Context(), resourceGroup(r), r.PathValue("name"), in.Properties.CustomerManagedKey, r.Header.Get("If-Match"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, o, nil
}

func (s *Server) handleGetOnboarding(r *http.Request, _ *identity.Claims) (int, any, error) {
	o, err := s.cfg.Workspaces.GetOnboarding(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, o, nil
}

func (s *Server) handleDeleteOnboarding(r *http.Request, _ *identity.Claims) (int, any, error) {
	if err := s.cfg.Workspaces.Offboard(r.Context(), resourceGroup(r), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// keyVersionUsage is one key version's row of a cluster's key usage report.
type keyVersionUsage struct {
	Resource    string    `json:"resource"` // logs or documents
	KeyURI      string    `json:"keyUri"`
	AccountKeys []string  `json:"accountKeys"`
	InUse       bool      `json:"inUse"`
	LastWrap    time.Time `json:"lastWrap,omitzero"`
	LastUnwrap  time.Time `json:"lastUnwrap,omitzero"`
}

// handleKeyUsage answers, for every key version a cluster's account keys
// have been wrapped by, which it wraps now: a version that wraps none can be
// disabled without waiting or guessing.
func (s *Server) handleKeyUsage(r *http.Request, _ *identity.Claims) (int, any, error) {
	c, err := s.cfg.Workspaces.GetCluster(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	out := []keyVersionUsage{}
	for _, res := range []string{clusterkeys.Logs, clusterkeys.Documents} {
		ring := s.cfg.ClusterKeys.Keyring(c.Properties.ClusterID, res)
		if ring == nil {
			continue
		}
		for _, u := range ring.KeyUsage() {
			row := keyVersionUsage{Resource: res, KeyURI: u.KeyURI, AccountKeys: []string{}, InUse: len(u.AccountKeys) > 0, LastWrap: u.LastWrap, LastUnwrap: u.LastUnwrap}
			for _, a := range u.AccountKeys {
				row.AccountKeys = append(row.AccountKeys, a.ID)
			}
			out = append(out, row)
		}
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

func (s *Server) handlePutDCR(r *http.Request, _ *identity.Claims) (int, any, error) {
	var in workspace.DataCollectionRule
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	d, isNew, err := s.putDCR(r.Context(), resourceGroup(r), r.PathValue("name"), in)
	if err != nil {
		return 0, nil, err
	}
	return created(isNew), d, nil
}

func (s *Server) handleGetDCR(r *http.Request, _ *identity.Claims) (int, any, error) {
	d, err := s.cfg.Workspaces.GetDCR(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func (s *Server) handleDeleteDCR(r *http.Request, _ *identity.Claims) (int, any, error) {
	return http.StatusOK, nil, s.cfg.Workspaces.DeleteDCR(r.Context(), resourceGroup(r), r.PathValue("name"))
}

func (s *Server) handleListDCRs(r *http.Request, _ *identity.Claims) (int, any, error) {
	ds, err := s.cfg.Workspaces.ListDCRs(r.Context(), resourceGroup(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"value": ds}, nil
}

const roleAssignmentsSegment = "/providers/Microsoft.Authorization/roleAssignments/"

// roleAssignmentPath splits {scope}/providers/Microsoft.Authorization/roleAssignments/{name},
// checking every segment of the scope and the name. It reads the escaped
// path, so that an encoded slash inside a segment cannot make two segments.
func roleAssignmentPath(r *http.Request) (scope, name string, err error) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	n := len(segs)
	if n < 6 || !strings.EqualFold(segs[n-4], "providers") || !strings.EqualFold(segs[n-3], "Microsoft.Authorization") ||
		!strings.EqualFold(segs[n-2], "roleAssignments") {
		return "", "", &Error{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("%s %s is not a management operation; see docs/api.md", r.Method, echo(r.URL.Path, 200))}
	}
	for i, seg := range segs {
		if segs[i], err = url.PathUnescape(seg); err != nil {
			return "", "", badRequest(codeInvalidName, fmt.Sprintf("path segment %d is not valid percent-encoding", i+1))
		}
	}
	if err := checkScope(segs[:n-4]); err != nil {
		return "", "", err
	}
	if err := ruleRoleAssignment.check(segs[n-1]); err != nil {
		return "", "", err
	}
	return "/" + strings.Join(segs[:n-4], "/"), segs[n-1], nil
}

// checkScope checks the segments of a scope, subscriptions/{sub}[/resourceGroups/{rg}[/providers/...]]:
// the subscription and resource group by their rules, the rest as resource
// path segments.
func checkScope(segs []string) error {
	if err := ruleSubscription.check(segs[1]); err != nil {
		return err
	}
	rest := segs[2:]
	if len(rest) >= 2 && strings.EqualFold(rest[0], "resourceGroups") {
		if err := ruleResourceGroup.check(rest[1]); err != nil {
			return err
		}
		rest = rest[2:]
	}
	for _, seg := range rest {
		if err := ruleProviderSegment.check(seg); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) handlePutRoleAssignment(r *http.Request, _ *identity.Claims) (int, any, error) {
	scope, name, err := roleAssignmentPath(r)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Properties struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
		} `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	a, err := s.cfg.Workspaces.PutRoleAssignment(r.Context(), scope, name, in.Properties.RoleDefinitionID, in.Properties.PrincipalID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a, nil
}

func (s *Server) handleDeleteRoleAssignment(r *http.Request, _ *identity.Claims) (int, any, error) {
	scope, name, err := roleAssignmentPath(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, s.cfg.Workspaces.DeleteRoleAssignment(r.Context(), scope, name)
}

// handleListRoleAssignments answers GET {scope}/providers/Microsoft.Authorization/roleAssignments.
func (s *Server) handleListRoleAssignments(r *http.Request, _ *identity.Claims) (int, any, error) {
	scope := strings.TrimSuffix(r.URL.Path, strings.TrimSuffix(roleAssignmentsSegment, "/"))
	as, err := s.cfg.Workspaces.ListRoleAssignments(r.Context(), scope)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"value": as}, nil
}
