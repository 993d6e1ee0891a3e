package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sealwatch/sealwatch/internal/watchlist"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxWatchlistBodyBytes bounds a watchlist's PUT: 3.8 MB of rawContent,
// which JSON's escapes of quotes and line breaks may make longer.
const maxWatchlistBodyBytes = 8 << 20

// routeWatchlists serves a workspace's watchlists and their items. Changing
// them needs a Contributor, as rules do: a watchlist decides what rules see.
func (s *Server) routeWatchlists() {
	base := workspacesPath + "/{name}/providers/Microsoft.SecurityInsights/watchlists"
	items := base + "/{alias}/watchlistItems"
	s.handle("GET "+base, s.watchlists(workspace.RoleReader, s.handleListWatchlists))
	s.handle("GET "+base+"/{alias}", s.watchlists(workspace.RoleReader, s.handleGetWatchlist))
	s.handle("PUT "+base+"/{alias}", s.watchlists(workspace.RoleContributor, s.handlePutWatchlist))
	s.handle("DELETE "+base+"/{alias}", s.watchlists(workspace.RoleContributor, s.handleDeleteWatchlist))
	s.handle("GET "+items, s.watchlists(workspace.RoleReader, s.handleListWatchlistItems))
	s.handle("GET "+items+"/{itemId}", s.watchlists(workspace.RoleReader, s.handleGetWatchlistItem))
	s.handle("PUT "+items+"/{itemId}", s.watchlists(workspace.RoleContributor, s.handlePutWatchlistItem))
	s.handle("DELETE "+items+"/{itemId}", s.watchlists(workspace.RoleContributor, s.handleDeleteWatchlistItem))
}

type watchlistHandler func(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error

// watchlists checks the call as incidents does and opens the workspace's
// watchlists under its document keys.
func (s *Server) watchlists(role string, h watchlistHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, docs, _, err := s.securityInsights(r, role, "keeping watchlists")
		if err != nil {
			return err
		}
		return h(w, r, watchlist.New(docs, ws.Workspace.Properties.CustomerID, ws.Workspace.ID, nil))
	}
}

// putBody is a PUT's body: the resource's etag, which the cloud's clients
// send instead of If-Match, and its properties.
type putBody struct {
	Etag       string          `json:"etag"`
	Properties json.RawMessage `json:"properties"`
}

func (s *Server) handleListWatchlists(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	list, err := wl.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (s *Server) handleGetWatchlist(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	got, err := wl.Get(r.Context(), r.PathValue("alias"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", got.Etag)
	writeJSON(w, http.StatusOK, got)
	return nil
}

func (s *Server) handlePutWatchlist(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	var in putBody
	if err := decodeJSONLimit(r, &in, maxWatchlistBodyBytes); err != nil {
		return err
	}
	got, created, err := wl.Put(r.Context(), r.PathValue("alias"), in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	writeCreated(w, got.Etag, created, got)
	return nil
}

func (s *Server) handleDeleteWatchlist(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	if err := wl.Delete(r.Context(), r.PathValue("alias"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// itemsPageSize is how many items a page of a watchlist's items holds: a
// whole watchlist (100,000 items) in one answer could be tens of megabytes.
const itemsPageSize = 10000

func (s *Server) handleListWatchlistItems(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	offset := 0
	if tok := r.URL.Query().Get("$skipToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, convErr := strconv.Atoi(string(raw))
		if err != nil || convErr != nil || n < 0 {
			return badRequest("BadParameter", "the $skipToken is not one this node issued; start the listing again without it")
		}
		offset = n
	}
	items, err := wl.Items(r.Context(), r.PathValue("alias"))
	if err != nil {
		return err
	}
	offset = min(offset, len(items))
	end := min(offset+itemsPageSize, len(items))
	body := listBody[watchlist.Item]{Value: items[offset:end]}
	if end < len(items) {
		qv := url.Values{}
		qv.Set("api-version", r.URL.Query().Get("api-version"))
		qv.Set("$skipToken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		next := (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: qv.Encode()}).String()
		body.NextLink = &next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) handleGetWatchlistItem(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	it, err := wl.GetItem(r.Context(), r.PathValue("alias"), r.PathValue("itemId"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", it.Etag)
	writeJSON(w, http.StatusOK, it)
	return nil
}

func (s *Server) handlePutWatchlistItem(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	var in putBody
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	it, created, err := wl.PutItem(r.Context(), r.PathValue("alias"), r.PathValue("itemId"), in.Properties, ifMatch(r, in.Etag))
	if err != nil {
		return err
	}
	writeCreated(w, it.Etag, created, it)
	return nil
}

func (s *Server) handleDeleteWatchlistItem(w http.ResponseWriter, r *http.Request, wl *watchlist.Watchlists) error {
	if err := wl.DeleteItem(r.Context(), r.PathValue("alias"), r.PathValue("itemId"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
