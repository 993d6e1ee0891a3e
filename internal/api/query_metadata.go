package api

import (
	"net/http"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// metadata is the answer of GET /v1/workspaces/{id}/metadata: what a query
// of the workspace can name, as the cloud's metadata API shapes its tables
// and functions, with the engine's own words beside them.
type metadata struct {
	Tables    []metadataTable    `json:"tables"`
	Functions []metadataFunction `json:"functions"`
	Builtins  metadataBuiltins   `json:"builtins"`
}

type metadataTable struct {
	Name    string           `json:"name"`
	Columns []metadataColumn `json:"columns"`
}

type metadataColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type metadataFunction struct {
	Name       string `json:"name"`
	Parameters string `json:"parameters"`
	Body       string `json:"body"`
}

type metadataBuiltins struct {
	Operators    []string `json:"operators"`
	Functions    []string `json:"functions"`
	Aggregations []string `json:"aggregations"`
}

// handleQueryMetadata answers the workspace's tables with their columns,
// its saved functions, and the engine's operators and functions: what an
// editor completes. It reads the catalog, never a row. The caller needs
// what the query API needs: a token for it and a reader's role.
func (s *Server) handleQueryMetadata(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(r, identity.AudienceQuery)
	if err != nil {
		return err
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
	writeJSON(w, http.StatusOK, metadataOf(cat))
	return nil
}

func metadataOf(cat kql.Catalog) metadata {
	b := kql.BuiltinNames()
	m := metadata{
		Tables:    make([]metadataTable, 0, len(cat.Tables)),
		Functions: make([]metadataFunction, 0, len(cat.Functions)),
		Builtins:  metadataBuiltins{Operators: b.Operators, Functions: b.Functions, Aggregations: b.Aggregations},
	}
	for _, t := range cat.Tables {
		cols := make([]metadataColumn, 0, len(t.Columns))
		for _, col := range t.Columns {
			cols = append(cols, metadataColumn{Name: col.Name, Type: col.Type.String()})
		}
		m.Tables = append(m.Tables, metadataTable{Name: t.Name, Columns: cols})
	}
	for _, f := range cat.Functions {
		m.Functions = append(m.Functions, metadataFunction{Name: f.Name, Parameters: f.Parameters, Body: f.Body})
	}
	return m
}
