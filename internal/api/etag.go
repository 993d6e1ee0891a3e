package api

import "net/http"

// ifMatch is the request's If-Match, or else bodyEtag: the cloud's clients
// send the etag they read in the body of a PUT.
func ifMatch(r *http.Request, bodyEtag string) string {
	if v := r.Header.Get("If-Match"); v != "" {
		return v
	}
	return bodyEtag
}

// writeCreated answers a PUT with the resource and its etag: 201 when it
// was created, 200 when replaced.
func writeCreated(w http.ResponseWriter, etag string, created bool, v any) {
	w.Header().Set("ETag", etag)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
}
