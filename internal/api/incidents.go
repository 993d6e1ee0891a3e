package api

import (
	"maps"
	"net/http"
	"slices"

	"github.com/sealwatch/sealwatch/internal/automation"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

func (s *Server) routeIncidents() {
	base := workspacesPath + "/{name}/providers/Microsoft.SecurityInsights/incidents"
	s.handle("GET "+base, s.incidents(workspace.RoleReader, s.handleListIncidents))
	s.handle("GET "+base+"/{id}", s.incidents(workspace.RoleReader, s.handleGetIncident))
	s.handle("PUT "+base+"/{id}", s.automationRules(workspace.RoleResponder, "working incidents", s.handlePutIncident))
	s.handle("DELETE "+base+"/{id}", s.incidents(workspace.RoleContributor, s.handleDeleteIncident))
	s.handle("GET "+base+"/{id}/comments", s.incidents(workspace.RoleReader, s.handleListComments))
	s.handle("PUT "+base+"/{id}/comments/{cid}", s.automationRules(workspace.RoleResponder, "working incidents", s.handlePutComment))
	// The cloud lists an incident's alerts and entities with POST; GET is
	// accepted too, as they change nothing.
	for _, m := range []string{"GET ", "POST "} {
		s.handle(m+base+"/{id}/alerts", s.incidents(workspace.RoleReader, s.handleIncidentAlerts))
		s.handle(m+base+"/{id}/entities", s.incidents(workspace.RoleReader, s.handleIncidentEntities))
	}
	s.handle("GET "+base+"/{id}/history", s.incidents(workspace.RoleReader, s.handleIncidentHistory))
}

type incidentHandler func(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, c *identity.Claims) error

// incidents authenticates a management call, checks the caller's role on
// the workspace (Owners may do everything), and opens the workspace's
// incidents under its document keys.
func (s *Server) incidents(role string, h incidentHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, docs, c, err := s.securityInsights(r, role, "working incidents")
		if err != nil {
			return err
		}
		return h(w, r, incident.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, nil), c)
	}
}

// securityInsights authenticates a call to a workspace's security API
// (incidents, analytics rules), checks the caller's role on the workspace
// (Owners may do everything) and that the workspace is onboarded, and opens
// its document store; doing names the work in the not-onboarded message.
func (s *Server) securityInsights(r *http.Request, role, doing string) (*workspace.WorkspaceInfo, *docstore.Store, *identity.Claims, error) {
	ws, c, err := s.workspaceCaller(r, role)
	if err != nil {
		return nil, nil, nil, err
	}
	if !ws.Onboarded {
		return nil, nil, nil, &Error{Status: http.StatusConflict, Code: "WorkspaceNotOnboarded",
			Message: "workspace '" + ws.Workspace.Name + "' is not onboarded; onboard it (sealwatch sentinel onboard) before " + doing}
	}
	docs, err := s.cfg.Data.Docs(r.Context(), ws)
	if err != nil {
		return nil, nil, nil, err
	}
	return ws, docs, c, nil
}

// workspaceCaller authenticates a management call about the workspace the
// path names and checks the caller's role on it (Owners may do everything).
func (s *Server) workspaceCaller(r *http.Request, role string) (*workspace.WorkspaceInfo, *identity.Claims, error) {
	c, err := s.authenticate(r, identity.AudienceManagement)
	if err != nil {
		return nil, nil, err
	}
	if err := checkARMAPIVersion(r); err != nil {
		return nil, nil, err
	}
	ws, err := s.cfg.Workspaces.Info(r.Context(), resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return nil, nil, err
	}
	if !c.HasRole(identity.RoleOwner) {
		if err := s.cfg.Workspaces.Authorize(r.Context(), c.ObjectID, ws.Workspace.ID, role); err != nil {
			return nil, nil, err
		}
	}
	return ws, c, nil
}

func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	list, err := inc.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (s *Server) handleGetIncident(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	i, err := inc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", i.Etag)
	writeJSON(w, http.StatusOK, i)
	return nil
}

// handlePutIncident makes the caller's change, then runs the automation
// rules on it and answers the incident as they left it.
func (s *Server) handlePutIncident(w http.ResponseWriter, r *http.Request, rules *automation.Rules, inc *incident.Incidents, c *identity.Claims) error {
	var in struct {
		Etag       string              `json:"etag"`
		Properties incident.Properties `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	old, err := before(r, inc, r.PathValue("id"))
	if err != nil {
		return err
	}
	i, created, err := inc.PutAs(r.Context(), c.ObjectID, r.PathValue("id"), in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	ev := automation.Event{When: automation.Updated, Incident: i, Before: old}
	if created {
		ev = automation.Event{When: automation.Created, Incident: i}
	}
	i = s.automate(r, rules, inc, ev)
	writeCreated(w, i.Etag, created, i)
	return nil
}

func (s *Server) handleDeleteIncident(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	if err := inc.Delete(r.Context(), r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	if err := inc.DeleteTasks(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleListComments(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	cs, err := inc.Comments(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": cs})
	return nil
}

// handlePutComment adds the comment, then runs the automation rules on
// incidents updated (a PropertyArrayChanged condition on Comments).
func (s *Server) handlePutComment(w http.ResponseWriter, r *http.Request, rules *automation.Rules, inc *incident.Incidents, c *identity.Claims) error {
	var in struct {
		Properties struct {
			Message string `json:"message"`
		} `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	cm, err := inc.PutComment(r.Context(), r.PathValue("id"), r.PathValue("cid"), in.Properties.Message, c.ObjectID)
	if err != nil {
		return err
	}
	if cur, err := inc.Get(r.Context(), r.PathValue("id")); err != nil {
		s.log.Warn("automation rules not run on a new comment", "incident", r.PathValue("id"), "err", err, "requestId", requestID(r))
	} else {
		s.automate(r, rules, inc, automation.Event{When: automation.Updated, Incident: cur, Before: cur, CommentAdded: true})
	}
	writeJSON(w, http.StatusCreated, cm)
	return nil
}

func (s *Server) handleIncidentAlerts(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	alerts, err := inc.Alerts(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": alerts})
	return nil
}

// entityKindCount is one entry of the metaData of an incident's entities.
type entityKindCount struct {
	Count      int    `json:"count"`
	EntityKind string `json:"entityKind"`
}

func (s *Server) handleIncidentEntities(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	entities, err := inc.Entities(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range entities {
		counts[e.Kind]++
	}
	meta := make([]entityKindCount, 0, len(counts))
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		meta = append(meta, entityKindCount{Count: counts[kind], EntityKind: kind})
	}
	writeJSON(w, http.StatusOK, map[string]any{"entities": entities, "metaData": meta})
	return nil
}

// handleIncidentHistory answers an incident's trail: a Sealwatch
// extension, which the cloud does not have.
func (s *Server) handleIncidentHistory(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	h, err := inc.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": h})
	return nil
}
