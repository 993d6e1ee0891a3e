package api

import (
	"net/http"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// routeFlush serves the flush of a workspace's write-ahead logs: of every
// table, or of one.
func (s *Server) routeFlush() {
	s.handle("POST "+workspacesPath+"/{name}/flush", s.handleFlush)
	s.handle("POST "+workspacesPath+"/{name}/tables/{table}/flush", s.handleFlush)
}

// handleFlush seals the rows waiting in the write-ahead logs of the
// workspace's tables (or of the one the path names) into segments, and
// answers 204 once they are durable there. It needs write access to the
// workspace (Contributor) and its key.
func (s *Server) handleFlush(w http.ResponseWriter, r *http.Request) error {
	ws, _, err := s.workspaceCaller(r, workspace.RoleContributor)
	if err != nil {
		return err
	}
	if err := s.cfg.Data.FlushLogs(r.Context(), ws, r.PathValue("table")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
