package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/transform"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// putDCR stores a data collection rule once every flow fits the table it
// writes. The rule lives in the control plane and the tables in each
// workspace's sealed documents, so the checks run here, between the two:
// the rule is validated (CheckDCR), each flow's table looked up and its
// transformation compiled against it, the custom tables a Custom- stream
// writes and that are not declared yet are declared from the flow (as the
// portal's wizard does), and only then is the rule stored. A refused rule
// declares nothing.
func (s *Server) putDCR(ctx context.Context, g workspace.ResourceGroup, name string, in workspace.DataCollectionRule) (*workspace.DataCollectionRule, bool, error) {
	routes, err := s.cfg.Workspaces.CheckDCR(ctx, g, name, in)
	if err != nil {
		return nil, false, err
	}
	declare := map[string]pending{} // by workspace and table
	for _, rt := range routes {
		key := rt.Workspace.Workspace.Properties.CustomerID + "/" + rt.Table
		schema, err := s.planSchema(ctx, rt, declare, key)
		if err != nil {
			return nil, false, err
		}
		if _, err := transform.Compile(rt.Transform, rt.Stream, streamColumns(rt.Columns), schema); err != nil {
			return nil, false, flowError(rt, err)
		}
	}
	for _, p := range declare {
		created, err := p.tabs.Create(ctx, p.schema)
		if err != nil {
			return nil, false, declareError(p.schema.Name, err)
		}
		if !created { // declared by another request since it was read: the rule was checked against another schema
			return nil, false, fault.New(fault.Conflict, "Conflict",
				"table %s was declared by another request while the rule was checked; PUT the rule again", p.schema.Name)
		}
	}
	return s.cfg.Workspaces.PutDCR(ctx, g, name, in)
}

// pending is a table a rule's flow declares once the rule is checked.
type pending struct {
	tabs   *tables.Tables
	schema tables.Schema
}

// planSchema is the schema route rt's flow is checked against: the table
// as declared, or as another flow of the rule already plans to declare it
// (declare, by key), or else as this flow declares it, which is planned.
func (s *Server) planSchema(ctx context.Context, rt workspace.Route, declare map[string]pending, key string) (tables.Schema, error) {
	if p, planned := declare[key]; planned {
		return p.schema, nil
	}
	tabs, err := s.cfg.Data.Tables(ctx, rt.Workspace)
	if err != nil {
		return tables.Schema{}, err
	}
	schema, ok, err := tabs.Declared(ctx, rt.Table)
	if err != nil || ok {
		return schema, err
	}
	if schema, err = s.flowSchema(ctx, rt); err != nil {
		return tables.Schema{}, err
	}
	declare[key] = pending{tabs, schema}
	return schema, nil
}

// flowSchema is the schema of the custom table a flow writes, derived from
// its stream (and transformation) for the table to be declared with, as
// the portal's wizard does; a flow into a table that is not custom, or
// from a Microsoft- stream, cannot declare it. A table that holds rows
// already (stored as sent, before tables were declared) has each column
// whose stream type would read some of them as null declared wider, so
// that declaring it hides none of them (see tables.Schema.Widened); the
// stream's values pass into the wider column as they are.
func (s *Server) flowSchema(ctx context.Context, rt workspace.Route) (tables.Schema, error) {
	cols := streamColumns(rt.Columns)
	if cols == nil || !tables.IsCustomName(rt.Table) {
		return tables.Schema{}, fault.New(fault.Invalid, workspace.CodeBadRequest,
			"stream '%s' writes table %s, which is not declared in workspace %s: declare it first (PUT …/workspaces/%s/tables/%s)",
			rt.Stream, rt.Table, rt.Workspace.Workspace.Name, rt.Workspace.Workspace.Name, rt.Table)
	}
	schema, err := transform.Derive(rt.Transform, rt.Stream, cols, rt.Table)
	if err != nil {
		return tables.Schema{}, flowError(rt, err)
	}
	store, err := s.cfg.Data.Logs(ctx, rt.Workspace)
	if err != nil {
		return tables.Schema{}, err
	}
	stored, err := store.Schema(ctx, rt.Workspace.Workspace.Properties.CustomerID, rt.Table)
	if err != nil {
		return tables.Schema{}, err
	}
	return schema.Widened(stored), nil
}

// streamColumns are a Custom- stream's declared columns; nil for a
// Microsoft- stream, which is shaped as its table.
func streamColumns(cols []workspace.DCRColumn) []tables.Column {
	if cols == nil {
		return nil
	}
	out := make([]tables.Column, len(cols))
	for i, c := range cols {
		out[i] = tables.Column{Name: c.Name, Type: c.Type}
	}
	return out
}

// flowError refuses a flow whose transformation does not fit its stream
// or table.
func flowError(rt workspace.Route, err error) error {
	var te *transform.Error
	if !errors.As(err, &te) {
		return err
	}
	return fault.New(fault.Invalid, "InvalidTransform", "the flow of stream '%s' into table %s: %v", rt.Stream, rt.Table, err)
}

// declareError says which table the rule could not declare.
func declareError(table string, err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind == fault.Invalid {
		return fault.New(fault.Invalid, fe.Code, "declaring table %s from the rule's stream: %s", table, fe.Message)
	}
	return fmt.Errorf("declare table %s: %w", table, err)
}
