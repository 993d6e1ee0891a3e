package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// validation is the answer of the query validator: whether the query
// compiles against the workspace, and if it does the columns of its result
// (its last table), or if not where and why it does not.
type validation struct {
	Valid bool `json:"valid"`
	// Columns are the result's columns, known from binding alone;
	// ColumnsOpen says an evaluate plugin may add others only a run knows.
	Columns     []kql.Column     `json:"columns,omitempty"`
	ColumnsOpen bool             `json:"columnsOpen,omitempty"`
	Error       *validationError `json:"error,omitempty"`
}

// validationError is a query that does not compile: SyntaxError or
// SemanticError, the message the query API would answer, and its 1-based
// line and column.
type validationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
}

// handleValidateQuery compiles a query against the workspace's tables,
// functions and watchlists, as the query API and an analytics rule's save
// would, without running it: an editor checks a query as it is typed. A
// query that does not compile is the answer, not a refusal: 200 with its
// error, so that a request the caller got right is never a failed one.
func (s *Server) handleValidateQuery(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(r, identity.AudienceQuery)
	if err != nil {
		return err
	}
	var in struct {
		Query string `json:"query"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Query) == "" {
		return queryError("BadArgumentError", "", "the request has no query; send {\"query\": \"SecurityEvent | take 10\"}")
	}
	ws, err := s.queryWorkspace(r, c)
	if err != nil {
		return err
	}
	src, cat, err := s.openCatalog(r.Context(), ws)
	if err != nil {
		return err
	}
	defer src.Release()
	q, err := kql.Compile(in.Query, cat)
	if err != nil {
		if damage := src.DamagedTable(in.Query); damage != nil {
			return damage
		}
		verdict, ok := compileError(err)
		if !ok {
			return kqlError(err)
		}
		writeJSON(w, http.StatusOK, validation{Error: verdict})
		return nil
	}
	writeJSON(w, http.StatusOK, validation{Valid: true, Columns: q.ResultColumns(), ColumnsOpen: q.ResultColumnsOpen()})
	return nil
}

// compileError is err as the validator answers it, if it is the query's
// fault: a syntax or a binding error.
func compileError(err error) (*validationError, bool) {
	var se *kql.SyntaxError
	var be *kql.BindError
	switch {
	case errors.As(err, &se):
		return &validationError{Code: "SyntaxError", Message: se.Error(), Line: se.Line, Column: se.Col}, true
	case errors.As(err, &be):
		return &validationError{Code: "SemanticError", Message: be.Error(), Line: be.Line, Column: be.Col}, true
	}
	return nil, false
}
