package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sealwatch/sealwatch/internal/automation"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// routeAutomationRules serves a workspace's automation rules, and the
// tasks they (or people) add to incidents. Changing a rule needs a
// Contributor, as for analytics rules; working a task, a Responder.
func (s *Server) routeAutomationRules() {
	base := workspacesPath + "/{name}/providers/Microsoft.SecurityInsights/automationRules"
	const doing = "automating incidents"
	s.handle("GET "+base, s.automationRules(workspace.RoleReader, doing, s.handleListAutomationRules))
	s.handle("GET "+base+"/{ruleId}", s.automationRules(workspace.RoleReader, doing, s.handleGetAutomationRule))
	s.handle("PUT "+base+"/{ruleId}", s.automationRules(workspace.RoleContributor, doing, s.handlePutAutomationRule))
	s.handle("DELETE "+base+"/{ruleId}", s.automationRules(workspace.RoleContributor, doing, s.handleDeleteAutomationRule))
	tasks := workspacesPath + "/{name}/providers/Microsoft.SecurityInsights/incidents/{id}/tasks"
	s.handle("GET "+tasks, s.incidents(workspace.RoleReader, s.handleListTasks))
	s.handle("PUT "+tasks+"/{taskId}", s.incidents(workspace.RoleResponder, s.handlePutTask))
}

type automationHandler func(w http.ResponseWriter, r *http.Request, rules *automation.Rules, inc *incident.Incidents, c *identity.Claims) error

// automationRules checks the call as incidents does and opens the
// workspace's automation rules and incidents under its document keys; doing
// names the work in the not-onboarded message.
func (s *Server) automationRules(role, doing string, h automationHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, docs, c, err := s.securityInsights(r, role, doing)
		if err != nil {
			return err
		}
		customerID, id := ws.Workspace.Properties.CustomerID, ws.Workspace.ID
		return h(w, r, automation.New(docs, customerID, id, s.cfg.Webhooks, s.cfg.AutomationCache, nil), incident.New(docs, customerID, id, nil), c)
	}
}

func (s *Server) handleListAutomationRules(w http.ResponseWriter, r *http.Request, rules *automation.Rules, _ *incident.Incidents, _ *identity.Claims) error {
	list, err := rules.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (s *Server) handleGetAutomationRule(w http.ResponseWriter, r *http.Request, rules *automation.Rules, _ *incident.Incidents, _ *identity.Claims) error {
	rule, err := rules.Get(r.Context(), r.PathValue("ruleId"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rule.Etag)
	writeJSON(w, http.StatusOK, rule)
	return nil
}

func (s *Server) handlePutAutomationRule(w http.ResponseWriter, r *http.Request, rules *automation.Rules, _ *incident.Incidents, c *identity.Claims) error {
	var in struct {
		Etag       string          `json:"etag"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	rule, created, err := rules.Put(r.Context(), r.PathValue("ruleId"), in.Properties, ifMatch(r, in.Etag), c.ObjectID)
	if err != nil {
		return err
	}
	writeCreated(w, rule.Etag, created, rule)
	return nil
}

func (s *Server) handleDeleteAutomationRule(w http.ResponseWriter, r *http.Request, rules *automation.Rules, _ *incident.Incidents, _ *identity.Claims) error {
	if err := rules.Delete(r.Context(), r.PathValue("ruleId"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// automationTimeout bounds a run of the rules on one change; webhooks are
// delivered apart from it.
const automationTimeout = 30 * time.Second

// automate runs the workspace's automation rules on an incident change the
// caller made, and returns the incident as they left it. The change is
// already made: the rules run to the end even if the caller hangs up, and
// a rule that cannot finish (the key revoked meanwhile) is logged, the
// change answered as it was made.
func (s *Server) automate(r *http.Request, rules *automation.Rules, inc *incident.Incidents, ev automation.Event) *incident.Incident {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), automationTimeout)
	defer cancel()
	if err := rules.OnIncident(ctx, inc, ev); err != nil {
		s.log.Warn("automation rules did not finish", "incident", ev.Incident.Name, "err", err, "requestId", requestID(r))
		return ev.Incident
	}
	after, err := inc.Get(ctx, ev.Incident.Name)
	if err != nil {
		return ev.Incident
	}
	return after
}

// before is the incident as it is before the caller changes it: nil if
// there is none yet.
func before(r *http.Request, inc *incident.Incidents, id string) (*incident.Incident, error) {
	old, err := inc.Get(r.Context(), id)
	if fault.KindOf(err) == fault.NotFound {
		return nil, nil
	}
	return old, err
}

func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, _ *identity.Claims) error {
	tasks, err := inc.Tasks(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": tasks})
	return nil
}

func (s *Server) handlePutTask(w http.ResponseWriter, r *http.Request, inc *incident.Incidents, c *identity.Claims) error {
	var in struct {
		Etag       string `json:"etag"`
		Properties struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			Status      string `json:"status"`
		} `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := incident.TaskProperties{Title: in.Properties.Title, Description: in.Properties.Description, Status: in.Properties.Status}
	t, created, err := inc.PutTask(r.Context(), r.PathValue("id"), r.PathValue("taskId"), p, incident.ClientInfo{ObjectID: c.ObjectID}, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	writeCreated(w, t.Etag, created, t)
	return nil
}
