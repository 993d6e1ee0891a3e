package api

import (
	"net/http"

	"github.com/sealwatch/sealwatch/internal/savedsearch"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxSavedSearchBodyBytes bounds a saved search's PUT: a query of up to
// savedsearch.MaxQueryBytes, which JSON's escapes may make longer.
const maxSavedSearchBodyBytes = 4 << 20

// routeSavedSearches serves a workspace's saved searches, the Log Analytics
// resource that also holds its functions. They belong to the workspace, not
// to its security onboarding. Changing them needs a Contributor, as rules
// do: a function decides what every query calling it sees.
func (s *Server) routeSavedSearches() {
	base := workspacesPath + "/{name}/savedSearches"
	s.handle("GET "+base, s.savedSearches(workspace.RoleReader, s.handleListSavedSearches))
	s.handle("GET "+base+"/{id}", s.savedSearches(workspace.RoleReader, s.handleGetSavedSearch))
	s.handle("PUT "+base+"/{id}", s.savedSearches(workspace.RoleContributor, s.handlePutSavedSearch))
	s.handle("DELETE "+base+"/{id}", s.savedSearches(workspace.RoleContributor, s.handleDeleteSavedSearch))
}

type savedSearchHandler func(w http.ResponseWriter, r *http.Request, ss *savedsearch.Searches) error

// savedSearches checks the call as workspaceCaller does and opens the
// workspace's saved searches under its document keys.
func (s *Server) savedSearches(role string, h savedSearchHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, _, err := s.workspaceCaller(r, role)
		if err != nil {
			return err
		}
		ss, err := s.cfg.Data.SavedSearches(r.Context(), ws)
		if err != nil {
			return err
		}
		return h(w, r, ss)
	}
}

func (s *Server) handleListSavedSearches(w http.ResponseWriter, r *http.Request, ss *savedsearch.Searches) error {
	list, err := ss.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (s *Server) handleGetSavedSearch(w http.ResponseWriter, r *http.Request, ss *savedsearch.Searches) error {
	got, err := ss.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", got.Etag)
	writeJSON(w, http.StatusOK, got)
	return nil
}

// handlePutSavedSearch creates or replaces a saved search. The cloud
// answers 200 for both; so does this.
func (s *Server) handlePutSavedSearch(w http.ResponseWriter, r *http.Request, ss *savedsearch.Searches) error {
	var in putBody
	if err := decodeJSONLimit(r, &in, maxSavedSearchBodyBytes); err != nil {
		return err
	}
	got, _, err := ss.Put(r.Context(), r.PathValue("id"), in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	writeCreated(w, got.Etag, false, got)
	return nil
}

func (s *Server) handleDeleteSavedSearch(w http.ResponseWriter, r *http.Request, ss *savedsearch.Searches) error {
	if err := ss.Delete(r.Context(), r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
