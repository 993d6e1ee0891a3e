package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxTableBodyBytes bounds a table's PUT: 500 columns with descriptions of
// 1 KB each, and their JSON.
const maxTableBodyBytes = 1 << 20

// routeTables serves a workspace's tables, as the cloud's
// Microsoft.OperationalInsights/workspaces/tables. Declaring one needs a
// Contributor: a table's columns decide what ingestion keeps. Unlike the
// security API, a workspace need not be onboarded to have tables.
func (s *Server) routeTables() {
	base := workspacesPath + "/{name}/tables"
	s.handle("GET "+base, s.tables(workspace.RoleReader, s.handleListTables))
	s.handle("GET "+base+"/{table}", s.tables(workspace.RoleReader, s.handleGetTable))
	s.handle("PUT "+base+"/{table}", s.tables(workspace.RoleContributor, s.handlePutTable))
	s.handle("PATCH "+base+"/{table}", s.tables(workspace.RoleContributor, s.handlePatchTable))
	s.handle("DELETE "+base+"/{table}", s.tables(workspace.RoleContributor, s.handleDeleteTable))
}

type tablesHandler func(w http.ResponseWriter, r *http.Request, ws *workspace.WorkspaceInfo, tabs *tables.Tables) error

// tables checks the caller's role on the workspace and opens its tables
// under its document keys.
func (s *Server) tables(role string, h tablesHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, _, err := s.workspaceCaller(r, role)
		if err != nil {
			return err
		}
		tabs, err := s.cfg.Data.Tables(r.Context(), ws)
		if err != nil {
			return err
		}
		return h(w, r, ws, tabs)
	}
}

func (s *Server) handleListTables(w http.ResponseWriter, r *http.Request, _ *workspace.WorkspaceInfo, tabs *tables.Tables) error {
	list, err := tabs.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listBody[tables.Table]{Value: list})
	return nil
}

func (s *Server) handleGetTable(w http.ResponseWriter, r *http.Request, _ *workspace.WorkspaceInfo, tabs *tables.Tables) error {
	got, err := tabs.Get(r.Context(), r.PathValue("table"))
	if err != nil {
		return err
	}
	writeTable(w, got)
	return nil
}

// handlePutTable creates or replaces a table. The cloud answers 200 (or
// 202 while it works); here the change is done when the answer comes, so
// it is 200 either way.
func (s *Server) handlePutTable(w http.ResponseWriter, r *http.Request, ws *workspace.WorkspaceInfo, tabs *tables.Tables) error {
	var in putBody
	if err := decodeJSONLimit(r, &in, maxTableBodyBytes); err != nil {
		return err
	}
	got, _, err := tabs.Put(r.Context(), r.PathValue("table"), in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	if err := s.keepRetention(r.Context(), ws, got); err != nil {
		return err
	}
	writeTable(w, got)
	return nil
}

func (s *Server) handlePatchTable(w http.ResponseWriter, r *http.Request, ws *workspace.WorkspaceInfo, tabs *tables.Tables) error {
	var in putBody
	if err := decodeJSONLimit(r, &in, maxTableBodyBytes); err != nil {
		return err
	}
	got, err := tabs.Patch(r.Context(), r.PathValue("table"), in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	if err := s.keepRetention(r.Context(), ws, got); err != nil {
		return err
	}
	writeTable(w, got)
	return nil
}

// handleDeleteTable answers 200 for a table deleted and 204 for one that
// was not there, as the management API does. A custom table that a data
// collection rule writes is not deleted: the rule's next call would
// declare it again from its stream (see flowTransform), silently undoing
// the deletion, so the rule is deleted or changed first.
func (s *Server) handleDeleteTable(w http.ResponseWriter, r *http.Request, ws *workspace.WorkspaceInfo, tabs *tables.Tables) error {
	name := r.PathValue("table")
	if tables.IsCustomName(name) {
		rules, err := s.cfg.Workspaces.RulesWriting(r.Context(), ws.Workspace.Properties.CustomerID, name)
		if err != nil {
			return err
		}
		if len(rules) > 0 {
			return fault.New(fault.Conflict, "TableInUse",
				"table %s is written by data collection rule '%s': delete the rule, or change its data flow to write another table, first; then delete the table",
				name, strings.Join(rules, "', '"))
		}
	}
	deleted, err := tabs.Delete(r.Context(), name, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	// the rows left behind follow the workspace's retention
	if err := s.cfg.Data.SetTableRetention(r.Context(), ws.Workspace.Properties.CustomerID, name, 0); err != nil {
		return err
	}
	if deleted {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// keepRetention records how long the log store keeps a table's rows, which
// the table's sealed document holds too: in the clear, where purging reads
// it without a key. Rows are kept, and queryable, for the total retention
// (there is no archive tier to move them to after the interactive one);
// a table on both defaults follows the workspace's. The two writes are not
// one transaction: if this one fails the change is reported failed, and
// sending it again puts both right.
func (s *Server) keepRetention(ctx context.Context, ws *workspace.WorkspaceInfo, t *tables.Table) error {
	days := 0
	if p := t.Properties; !p.RetentionInDaysAsDefault || !p.TotalRetentionInDaysAsDefault {
		days = p.TotalRetentionInDays
	}
	return s.cfg.Data.SetTableRetention(ctx, ws.Workspace.Properties.CustomerID, t.Name, days)
}

func writeTable(w http.ResponseWriter, t *tables.Table) {
	if t.Etag != "" {
		w.Header().Set("ETag", t.Etag)
	}
	writeJSON(w, http.StatusOK, t)
}
