package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/rulefile"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// routeAlertRules serves a workspace's analytics rules. Changing a rule
// needs a Contributor, as in the cloud, where responders work incidents but
// do not write detections.
func (s *Server) routeAlertRules() {
	base := workspacesPath + "/{name}/providers/Microsoft.SecurityInsights/alertRules"
	s.handle("GET "+base, s.alertRules(workspace.RoleReader, s.handleListAlertRules))
	s.handle("GET "+base+"/{ruleId}", s.alertRules(workspace.RoleReader, s.handleGetAlertRule))
	s.handle("PUT "+base+"/{ruleId}", s.alertRules(workspace.RoleContributor, s.handlePutAlertRule))
	s.handle("DELETE "+base+"/{ruleId}", s.alertRules(workspace.RoleContributor, s.handleDeleteAlertRule))
	s.handle("POST "+base+"/import", s.alertRules(workspace.RoleContributor, s.handleImportAlertRules))
}

type alertRuleHandler func(w http.ResponseWriter, r *http.Request, rules *analyticrule.Rules) error

// alertRules checks the call as incidents does and opens the workspace's
// rules under its document keys, with its tables for compiling queries.
func (s *Server) alertRules(role string, h alertRuleHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, docs, _, err := s.securityInsights(r, role, "writing analytics rules")
		if err != nil {
			return err
		}
		catalog := func(ctx context.Context) (kql.Catalog, error) {
			src, err := s.cfg.Data.Source(ctx, ws)
			if err != nil {
				return kql.Catalog{}, err
			}
			defer src.Release()
			return kql.CatalogOf(ctx, src)
		}
		return h(w, r, analyticrule.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, catalog, nil))
	}
}

func (s *Server) handleListAlertRules(w http.ResponseWriter, r *http.Request, rules *analyticrule.Rules) error {
	list, err := rules.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (s *Server) handleGetAlertRule(w http.ResponseWriter, r *http.Request, rules *analyticrule.Rules) error {
	rule, err := rules.Get(r.Context(), r.PathValue("ruleId"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rule.Etag)
	writeJSON(w, http.StatusOK, rule)
	return nil
}

func (s *Server) handlePutAlertRule(w http.ResponseWriter, r *http.Request, rules *analyticrule.Rules) error {
	var in struct {
		Kind       string          `json:"kind"`
		Etag       string          `json:"etag"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	rule, created, err := rules.Put(r.Context(), r.PathValue("ruleId"), in.Kind, in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	writeCreated(w, rule.Etag, created, rule)
	return nil
}

func (s *Server) handleDeleteAlertRule(w http.ResponseWriter, r *http.Request, rules *analyticrule.Rules) error {
	if err := rules.Delete(r.Context(), r.PathValue("ruleId"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// maxImportBody bounds an import's body: a rule file, JSON-escaped.
const maxImportBody = 8 << 20

// handleImportAlertRules imports the rules of one rule file, sent as its
// name (whose extension says its format) and its text, as `sealwatch rule
// import` would: the console imports a file a person picks this way.
func (s *Server) handleImportAlertRules(w http.ResponseWriter, r *http.Request, rules *analyticrule.Rules) error {
	var in struct {
		FileName string `json:"fileName"`
		Content  string `json:"content"`
	}
	if err := decodeJSONLimit(r, &in, maxImportBody); err != nil {
		return err
	}
	if !rulefile.IsRuleFile(in.FileName) {
		return fault.New(fault.Invalid, "BadRequest", "fileName '%s' is not a rule file's name: a rule file ends in .json (the API's JSON), .yaml or .yml (the community rule YAML)", fault.Shorten(in.FileName))
	}
	read, err := rulefile.Read(in.FileName, []byte(in.Content), rulefile.Options{})
	if err != nil {
		return fault.New(fault.Invalid, "BadRequest", "%s", err.Error())
	}
	results, err := rules.Import(r.Context(), read)
	if err != nil {
		return err
	}
	report := struct {
		Created int                         `json:"created"`
		Updated int                         `json:"updated"`
		Refused int                         `json:"refused"`
		Rules   []analyticrule.ImportResult `json:"rules"`
	}{Rules: results}
	for _, res := range results {
		switch res.Result {
		case analyticrule.ImportCreated:
			report.Created++
		case analyticrule.ImportUpdated:
			report.Updated++
		default:
			report.Refused++
		}
	}
	writeJSON(w, http.StatusOK, report)
	return nil
}
