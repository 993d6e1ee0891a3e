package api

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxIngestBytes is the Logs Ingestion API's limit per call, after gzip.
const maxIngestBytes = 1 << 20

func (s *Server) routeIngestion() {
	s.handle("POST /dataCollectionRules/{id}/streams/{stream}", s.handleIngest)
}

// handleIngest is the Logs Ingestion API: a JSON array of rows for one stream
// of a data collection rule, acknowledged with 204 once durable.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(r, identity.AudienceIngestion)
	if err != nil {
		return err
	}
	route, err := s.cfg.Workspaces.RouteStream(r.Context(), r.PathValue("id"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	if !c.HasRole(identity.RoleOwner) {
		if err := s.cfg.Workspaces.Authorize(r.Context(), c.ObjectID, route.Rule.ID, workspace.RoleIngestor); err != nil {
			return err
		}
	}
	body, err := readIngestBody(w, r, maxIngestBytes)
	if err != nil {
		return err
	}
	if err := s.ingest(r, route.Workspace, route.Table, body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ingest stores rows in a workspace's table. The key must be in force: a
// refused ingest stores nothing.
func (s *Server) ingest(r *http.Request, ws *workspace.WorkspaceInfo, table string, body []byte) error {
	store, err := s.cfg.Data.Logs(r.Context(), ws)
	if err != nil {
		return err
	}
	if _, err := store.Ingest(r.Context(), ws.Workspace.Properties.CustomerID, table, body); err != nil {
		return err
	}
	if err := s.cfg.Workspaces.MarkData(r.Context(), ws.Workspace.Properties.CustomerID, ws.CMK); err != nil {
		s.log.Warn("mark workspace data", "workspace", ws.Workspace.Properties.CustomerID, "err", err)
	}
	return nil
}

// readIngestBody reads the body, un-gzipping it when so encoded, and refuses
// more than limit bytes of rows with 413.
func readIngestBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, badRequest("InvalidContentEncoding", "the body is marked gzip but is not gzip data")
		}
		defer zr.Close()
		rd = io.LimitReader(zr, limit+1)
	}
	body, err := io.ReadAll(rd)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || int64(len(body)) > limit:
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "PayloadTooLarge",
			Message: fmt.Sprintf("the rows exceed %d bytes per call; send them in smaller batches", limit)}
	case err != nil:
		return nil, badRequest("InvalidContent", "the body could not be read: "+err.Error())
	}
	return body, nil
}

// dataError maps the key and store errors of the data plane. It is part of
// toAPIError, the one place errors become responses.
func dataError(err error) *Error {
	var re *logstore.RowError
	switch {
	case errors.Is(err, keyring.ErrKeyRevoked):
		return keyInaccessible()
	case errors.Is(err, keyring.ErrLocked), errors.Is(err, keyring.ErrKeyUnreachable):
		return keyVaultUnreachable()
	case errors.As(err, &re):
		return badRequest("InvalidPayload", "the body was refused whole: "+re.Error())
	case errors.Is(err, logstore.ErrInvalidInput):
		return badRequest("InvalidPayload", "the body was refused whole: "+err.Error())
	case errors.Is(err, logstore.ErrInvalidName):
		return badRequest("InvalidTableName", err.Error())
	}
	return nil
}
