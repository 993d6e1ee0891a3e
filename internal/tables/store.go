package tables

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/jsonbody"
)

// collTables is the document store's collection of a workspace's tables:
// one document per declared table, its ID the table's name (plaintext, as
// table names are), its columns inside the seal.
const collTables = "tables"

// ResourceType is the tables resource's type.
const ResourceType = "Microsoft.OperationalInsights/workspaces/tables"

// PlanAnalytics is the one table plan: rows are queried and kept as any.
const PlanAnalytics = "Analytics"

// Retention bounds, in days, as the tables API has them; UseDefault (-1)
// takes the workspace's retention, or for the total, the table's.
const (
	MinRetentionDays      = 4
	MaxRetentionDays      = 730
	MaxTotalRetentionDays = 4383
	UseDefault            = -1
)

// Table is a Microsoft.OperationalInsights/workspaces/tables resource.
type Table struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Etag       string     `json:"etag,omitempty"`
	Properties Properties `json:"properties"`
}

// Properties are a table's fields.
type Properties struct {
	RetentionInDays               int            `json:"retentionInDays"`
	TotalRetentionInDays          int            `json:"totalRetentionInDays"`
	ArchiveRetentionInDays        int            `json:"archiveRetentionInDays"`
	RetentionInDaysAsDefault      bool           `json:"retentionInDaysAsDefault"`
	TotalRetentionInDaysAsDefault bool           `json:"totalRetentionInDaysAsDefault"`
	Plan                          string         `json:"plan"`
	ProvisioningState             string         `json:"provisioningState"`
	Schema                        ResourceSchema `json:"schema"`
}

// ResourceSchema is a table's schema as the tables API shows it: a custom
// table's columns in Columns; a standard table's built-in columns in
// StandardColumns (read-only), as the cloud shows them. Sealwatch adds no
// hidden columns (TenantId, Type, _ResourceId…) to custom tables, so their
// StandardColumns is empty.
type ResourceSchema struct {
	Name            string   `json:"name"`
	Description     string   `json:"description,omitempty"`
	TableType       string   `json:"tableType"`    // CustomLog or Microsoft
	TableSubType    string   `json:"tableSubType"` // DataCollectionRuleBased or Any
	Source          string   `json:"source"`       // customer or microsoft
	Columns         []Column `json:"columns"`
	StandardColumns []Column `json:"standardColumns"`
}

// record is a declared table's document. A standard table has one only
// once its retention was set; its columns are the built-in ones.
type record struct {
	Schema               Schema `json:"schema"`
	RetentionInDays      int    `json:"retentionInDays"`
	TotalRetentionInDays int    `json:"totalRetentionInDays"`
}

// Tables is the declared tables of one workspace, kept in its sealed
// document store.
type Tables struct {
	docs      *docstore.Store
	workspace string // customerId: the document store's workspace
	idPrefix  string // resource ID of the workspace's tables collection
	retention int    // the workspace's retention in days, what UseDefault takes
}

// New returns the tables of the workspace whose resource ID is resourceID
// and whose retention is retentionDays.
func New(docs *docstore.Store, customerID, resourceID string, retentionDays int) *Tables {
	return &Tables{docs: docs, workspace: customerID, idPrefix: resourceID + "/tables/", retention: retentionDays}
}

// Declared returns the schema declared for table name, custom or standard,
// with its columns in declared order; false when no table of that name is
// declared. This is what ingestion converts rows by.
func (t *Tables) Declared(ctx context.Context, name string) (Schema, bool, error) {
	d, ok, err := t.Lookup(ctx, name)
	if err != nil || !ok {
		return Schema{}, false, err
	}
	s, err := d.Schema()
	return s, err == nil, err
}

// Declaration is a declared table as read: its version, and its schema,
// decoded only when asked for, so that a caller holding what it built
// from this version (a compiled flow) decodes nothing.
type Declaration struct {
	// Version is the custom table's etag, which changes with every change
	// of the table; "" for a standard table, whose columns are built in.
	Version string
	name    string
	body    []byte // the custom table's document; nil for a standard table
}

// Schema decodes the declared schema.
func (d Declaration) Schema() (Schema, error) {
	if d.body == nil {
		std, _ := StandardSchema(d.name)
		return std, nil
	}
	var rec record
	if err := json.Unmarshal(d.body, &rec); err != nil {
		return Schema{}, fmt.Errorf("decode table %s: %w", d.name, err)
	}
	return rec.Schema, nil
}

// Lookup reads the declaration of table name; false when no table of that
// name is declared. A custom table's document is opened once, for its
// etag and its schema both (a revoked key refuses it as every read).
func (t *Tables) Lookup(ctx context.Context, name string) (Declaration, bool, error) {
	if ValidName(name) != nil {
		return Declaration{}, false, nil
	}
	if IsStandard(name) {
		return Declaration{name: name}, true, nil
	}
	doc, err := t.docs.Get(ctx, t.workspace, collTables, name)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
		return Declaration{}, false, nil
	case err != nil:
		return Declaration{}, false, docstore.Refusal(err, "table", name)
	}
	return Declaration{Version: doc.ETag, name: name, body: doc.Body}, true, nil
}

// Custom returns the custom tables' schemas, by name.
func (t *Tables) Custom(ctx context.Context) ([]Schema, error) {
	recs, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Schema, 0, len(recs))
	for _, r := range recs {
		if IsCustomName(r.rec.Schema.Name) {
			out = append(out, r.rec.Schema)
		}
	}
	return out, nil
}

// Fingerprint changes whenever a table's declaration is written or deleted
// (see docstore.Store.Fingerprint): what Custom answered stands while it
// is the same. It needs no key.
func (t *Tables) Fingerprint(ctx context.Context) (docstore.Digest, error) {
	return t.docs.Fingerprint(ctx, t.workspace, collTables)
}

// read returns a table's document and etag.
func (t *Tables) read(ctx context.Context, name string) (record, string, error) {
	var rec record
	etag, err := t.docs.GetJSON(ctx, t.workspace, collTables, "table", name, &rec)
	return rec, etag, err
}

type stored struct {
	rec  record
	etag string
}

// list returns every table's document, by name.
func (t *Tables) list(ctx context.Context) ([]stored, error) {
	var out []stored
	err := docstore.ListJSON(ctx, t.docs, t.workspace, collTables, "table", func(_, etag string, rec record) {
		out = append(out, stored{rec: rec, etag: etag})
	})
	return out, err
}

// Get returns a declared table.
func (t *Tables) Get(ctx context.Context, name string) (*Table, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	rec, etag, err := t.read(ctx, name)
	if _, std := StandardSchema(name); std && fault.KindOf(err) == fault.NotFound {
		return t.resource(standardRecord(name), ""), nil
	}
	if err != nil {
		return nil, err
	}
	return t.resource(rec, etag), nil
}

// standardRecord is a standard table's record before its retention is set.
func standardRecord(name string) record {
	return record{Schema: Schema{Name: name}, RetentionInDays: UseDefault, TotalRetentionInDays: UseDefault}
}

// List returns every declared table, standard and custom, by name.
func (t *Tables) List(ctx context.Context) ([]Table, error) {
	recs, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]stored, len(recs))
	for _, r := range recs {
		byName[r.rec.Schema.Name] = r
	}
	std := standardTables()
	out := make([]Table, 0, len(std)+len(recs))
	for _, s := range std {
		r, ok := byName[s.Name]
		if !ok {
			r.rec = standardRecord(s.Name)
		}
		out = append(out, *t.resource(r.rec, r.etag))
	}
	for _, r := range recs {
		if _, isStd := StandardSchema(r.rec.Schema.Name); !isStd {
			out = append(out, *t.resource(r.rec, r.etag))
		}
	}
	slices.SortFunc(out, func(a, b Table) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// resource is a table as the API shows it: a standard table's columns are
// its built-in ones, shown as the cloud shows them, in standardColumns.
func (t *Tables) resource(rec record, etag string) *Table {
	s := rec.Schema
	retention, total := t.effective(rec.RetentionInDays, rec.TotalRetentionInDays)
	schema := ResourceSchema{Name: s.Name, Description: s.Description, TableType: "CustomLog", TableSubType: "DataCollectionRuleBased",
		Source: "customer", Columns: nonNil(s.Columns), StandardColumns: []Column{}}
	if std, ok := StandardSchema(s.Name); ok {
		schema = ResourceSchema{Name: s.Name, Description: std.Description, TableType: "Microsoft", TableSubType: "Any",
			Source: "microsoft", Columns: []Column{}, StandardColumns: nonNil(std.Columns)}
	}
	return &Table{
		ID: t.idPrefix + s.Name, Name: s.Name, Type: ResourceType, Etag: docstore.QuoteETag(etag),
		Properties: Properties{
			RetentionInDays: retention, TotalRetentionInDays: total, ArchiveRetentionInDays: total - retention,
			RetentionInDaysAsDefault: rec.RetentionInDays == UseDefault, TotalRetentionInDaysAsDefault: rec.TotalRetentionInDays == UseDefault,
			Plan: PlanAnalytics, ProvisioningState: "Succeeded", Schema: schema,
		},
	}
}

func nonNil(cols []Column) []Column {
	if cols == nil {
		return []Column{}
	}
	return cols
}

// effective resolves UseDefault: the workspace's retention, and for the
// total, the table's retention.
func (t *Tables) effective(retention, total int) (int, int) {
	if retention == UseDefault {
		retention = t.retention
	}
	if total == UseDefault {
		total = retention
	}
	return retention, total
}

// input is a PUT's or PATCH's properties. The fields the server sets are
// accepted, and ignored, so that a table read back can be sent again.
type input struct {
	RetentionInDays      *int         `json:"retentionInDays"`
	TotalRetentionInDays *int         `json:"totalRetentionInDays"`
	Plan                 *string      `json:"plan"`
	Schema               *schemaInput `json:"schema"`

	ArchiveRetentionInDays        json.RawMessage `json:"archiveRetentionInDays"`
	RetentionInDaysAsDefault      json.RawMessage `json:"retentionInDaysAsDefault"`
	TotalRetentionInDaysAsDefault json.RawMessage `json:"totalRetentionInDaysAsDefault"`
	ProvisioningState             json.RawMessage `json:"provisioningState"`
	LastPlanModifiedDate          json.RawMessage `json:"lastPlanModifiedDate"`
}

type schemaInput struct {
	Name        string        `json:"name"`
	Description *string       `json:"description"`
	Columns     []columnInput `json:"columns"`

	StandardColumns json.RawMessage `json:"standardColumns"`
	TableType       json.RawMessage `json:"tableType"`
	TableSubType    json.RawMessage `json:"tableSubType"`
	Source          json.RawMessage `json:"source"`
}

type columnInput struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`

	IsDefaultDisplay json.RawMessage `json:"isDefaultDisplay"`
	IsHidden         json.RawMessage `json:"isHidden"`
}

// decodeInput reads a PUT's or PATCH's properties and checks what needs no
// stored state: the plan, the retention's bounds, the schema's name.
func decodeInput(name string, props json.RawMessage) (*input, error) {
	if t := bytes.TrimSpace(props); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, bad(`table '%s' has no properties; send {"properties":{"schema":{"name":"%s","columns":[{"name":"TimeGenerated","type":"datetime"},…]}}}`, name, name)
	}
	var in input
	if err := jsonbody.DecodeStrict(props, &in); err != nil {
		return nil, bad("properties: %s", jsonbody.Message(err, "a table has schema, retentionInDays, totalRetentionInDays and plan; see docs/api.md"))
	}
	if in.Plan != nil && *in.Plan != PlanAnalytics {
		return nil, bad("properties.plan '%s' is not offered: every table is on the %s plan", fault.Shorten(*in.Plan), PlanAnalytics)
	}
	if r := in.RetentionInDays; r != nil && *r != UseDefault && (*r < MinRetentionDays || *r > MaxRetentionDays) {
		return nil, bad("properties.retentionInDays is %d; it is %d to %d days, or %d for the workspace's retention", *r, MinRetentionDays, MaxRetentionDays, UseDefault)
	}
	if r := in.TotalRetentionInDays; r != nil && *r != UseDefault && (*r < MinRetentionDays || *r > MaxTotalRetentionDays) {
		return nil, bad("properties.totalRetentionInDays is %d; it is %d to %d days, or %d for the table's retention", *r, MinRetentionDays, MaxTotalRetentionDays, UseDefault)
	}
	if s := in.Schema; s != nil {
		if s.Name != "" && s.Name != name {
			return nil, bad("properties.schema.name '%s' is not the table's name '%s'; leave it out or make them the same", fault.Shorten(s.Name), name)
		}
		if s.Description != nil && len(*s.Description) > MaxDescription {
			return nil, bad("properties.schema.description has %d bytes; at most %d", len(*s.Description), MaxDescription)
		}
	}
	return &in, nil
}

// columns are the input's columns as declared columns.
func (s *schemaInput) columns() []Column {
	out := make([]Column, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = Column{Name: c.Name, Type: c.Type, Description: c.Description}
	}
	return out
}

// Put creates or replaces the table name from the properties props (a JSON
// object): a custom table with its schema, or sets a standard table's
// retention. A retention left out is the default. ifMatch is the etag the
// caller read ("" for unconditional, "*" for "must exist"). It reports
// whether the table was created.
func (t *Tables) Put(ctx context.Context, name string, props json.RawMessage, ifMatch string) (*Table, bool, error) {
	return t.change(ctx, name, props, ifMatch, false, false)
}

// errExists is Create's finding that the table is declared already.
var errExists = errors.New("table declared already")

// Create declares the custom table s unless a table of its name is
// declared already, which it leaves as it is and reports with false: a
// data collection rule's flow declares the table it writes this way, and
// of two requests declaring the same table at once one creates it and the
// other finds it, never replacing what the first declared.
func (t *Tables) Create(ctx context.Context, s Schema) (bool, error) {
	props, err := json.Marshal(map[string]any{"schema": s})
	if err != nil {
		return false, fmt.Errorf("encode table %s: %w", s.Name, err)
	}
	_, _, err = t.change(ctx, s.Name, props, "", false, true)
	switch {
	case errors.Is(err, errExists):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Patch changes what props sends of an existing table and keeps the rest:
// its retention, or a custom table's description and columns (the columns
// sent are the whole new list: the ones it had, and any added).
func (t *Tables) Patch(ctx context.Context, name string, props json.RawMessage, ifMatch string) (*Table, error) {
	tab, _, err := t.change(ctx, name, props, ifMatch, true, false)
	return tab, err
}

// change makes a Put, a Patch (patch), or a Create (createOnly: errExists
// when the table is stored already, or is written by another request
// meanwhile).
func (t *Tables) change(ctx context.Context, name string, props json.RawMessage, ifMatch string, patch, createOnly bool) (*Table, bool, error) {
	std, standard := StandardSchema(name)
	if !standard {
		if err := validCustomName(name); err != nil {
			return nil, false, err
		}
	}
	in, err := decodeInput(name, props)
	if err != nil {
		return nil, false, err
	}
	if standard {
		if err := onlyRetention(std, in); err != nil {
			return nil, false, err
		}
		in.Schema = nil // the built-in schema as read, sent back
	}
	cur, etag, stored, err := t.current(ctx, name, standard, patch, docstore.IfMatch(ifMatch))
	if err != nil {
		return nil, false, err
	}
	if createOnly && (stored || standard) {
		return nil, false, errExists
	}
	exists := stored || standard
	if !exists {
		if err := t.noOtherCase(ctx, name); err != nil {
			return nil, false, err
		}
	}
	next := record{Schema: Schema{Name: name}, RetentionInDays: UseDefault, TotalRetentionInDays: UseDefault}
	if patch {
		next = cur
	}
	if err := t.apply(&next, in, exists, cur); err != nil {
		return nil, false, err
	}
	body, err := json.Marshal(next)
	if err != nil {
		return nil, false, fmt.Errorf("encode table %s: %w", name, err)
	}
	writeIf := etag
	if !stored {
		writeIf = docstore.CreateOnly
	}
	written, err := t.docs.Put(ctx, t.workspace, collTables, name, body, writeIf)
	if createOnly && errors.Is(err, docstore.ErrConflict) {
		return nil, false, errExists
	}
	if errors.Is(err, docstore.ErrConflict) || errors.Is(err, docstore.ErrNotFound) {
		return nil, false, fault.New(fault.Conflict, "Conflict", "table '%s' was changed by another request at the same time; read it again and retry", name)
	}
	if err != nil {
		return nil, false, docstore.Refusal(err, "table", name)
	}
	return t.resource(next, written), !exists, nil
}

// current reads the table a change is made to and checks the caller's
// ifMatch against it; stored is false when no document holds the table
// yet: a new custom table, or a standard table whose retention was never
// set, which is there all the same, with the defaults, and no etag.
func (t *Tables) current(ctx context.Context, name string, standard, patch bool, ifMatch string) (cur record, etag string, stored bool, err error) {
	cur, etag, err = t.read(ctx, name)
	stored = err == nil
	switch {
	case err != nil && fault.KindOf(err) != fault.NotFound:
		return record{}, "", false, err
	case !stored && standard && ifMatch != "" && ifMatch != docstore.AnyVersion:
		return record{}, "", false, docstore.Refusal(docstore.ErrConflict, "table", name)
	case !stored && standard:
		return standardRecord(name), "", false, nil
	case !stored && (patch || ifMatch == docstore.AnyVersion):
		return record{}, "", false, err
	case !stored && ifMatch != "":
		return record{}, "", false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "table '%s' does not exist, so no etag can match", name)
	case stored && ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != etag:
		return record{}, "", false, docstore.Refusal(docstore.ErrConflict, "table", name)
	}
	return cur, etag, stored, nil
}

// noOtherCase refuses a new custom table whose name differs only in case
// from a declared one: the tables API, like every management path, names
// a resource without regard to case, while KQL tells them apart, so the two
// would be one table to the API and two to queries.
func (t *Tables) noOtherCase(ctx context.Context, name string) error {
	recs, err := t.list(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if other := r.rec.Schema.Name; other != name && strings.EqualFold(other, name) { // the same name is a concurrent create, which the write finds
			return fault.New(fault.Conflict, "Conflict",
				"table '%s' is already declared as '%s': table names differ in more than case; use '%s'", name, other, other)
		}
	}
	return nil
}

// onlyRetention refuses a change of a standard table's schema: its columns
// are built in, and only its retention may change. The schema as read
// (built-in columns are read-only, and ignored) may be sent back.
func onlyRetention(std Schema, in *input) error {
	if s := in.Schema; s != nil && (len(s.Columns) > 0 || s.Description != nil && *s.Description != std.Description) {
		name := std.Name
		return fault.New(fault.Invalid, "InvalidParameter",
			"'%s' is a standard table: its columns are built in and cannot change; only retentionInDays and totalRetentionInDays may be set. Declare your own columns in a custom table (a name ending in %s)", name, CustomSuffix)
	}
	return nil
}

// apply makes the input's changes to next, a custom table's record, and
// checks the result: a new table needs its schema; an existing one keeps
// every column it has, with its type.
func (t *Tables) apply(next *record, in *input, exists bool, cur record) error {
	if in.RetentionInDays != nil {
		next.RetentionInDays = *in.RetentionInDays
	}
	if in.TotalRetentionInDays != nil {
		next.TotalRetentionInDays = *in.TotalRetentionInDays
	}
	if retention, total := t.effective(next.RetentionInDays, next.TotalRetentionInDays); total < retention {
		return bad("properties.totalRetentionInDays (%d) is less than retentionInDays (%d): the total retention includes the interactive one", total, retention)
	}
	name := next.Schema.Name
	switch {
	case in.Schema == nil && !exists:
		return bad(`a new table needs properties.schema with its columns, TimeGenerated among them: {"schema":{"name":"%s","columns":[{"name":"TimeGenerated","type":"datetime"},…]}}`, name)
	case in.Schema == nil:
		next.Schema = cur.Schema // a PUT that sets only the retention keeps the columns
		return nil
	}
	if in.Schema.Description != nil {
		next.Schema.Description = *in.Schema.Description
	}
	if in.Schema.Columns == nil && exists {
		next.Schema.Columns = cur.Schema.Columns
		return nil
	}
	cols, err := validColumns(name, in.Schema.columns())
	if err != nil {
		return err
	}
	if exists {
		if err := keepsColumns(name, cur.Schema.Columns, cols); err != nil {
			return err
		}
	}
	next.Schema.Columns = cols
	return nil
}

// keepsColumns refuses a new column list that drops or retypes a column of
// old: rows already stored keep the columns and types they were written
// with, so a column can be added, never taken away or changed.
func keepsColumns(table string, old, cols []Column) error {
	for _, o := range old {
		i := slices.IndexFunc(cols, func(c Column) bool { return strings.EqualFold(c.Name, o.Name) })
		switch {
		case i < 0:
			return fault.New(fault.Conflict, "InvalidColumnChange",
				"table '%s' would lose column '%s': a declared column cannot be removed, since rows stored in it keep it; send every existing column, and any new ones", table, o.Name)
		case cols[i].Name != o.Name:
			return fault.New(fault.Conflict, "InvalidColumnChange",
				"table '%s' column '%s' cannot be renamed to '%s'; add a new column instead", table, o.Name, cols[i].Name)
		case cols[i].Type != o.Type:
			return fault.New(fault.Conflict, "InvalidColumnChange",
				"table '%s' column '%s' is a %s and cannot become a %s: rows stored in it keep their type; add a new column instead", table, o.Name, o.Type, cols[i].Type)
		}
	}
	return nil
}

// Delete deletes a custom table's declaration; deleting one that does not
// exist reports false, not an error.
func (t *Tables) Delete(ctx context.Context, name, ifMatch string) (bool, error) {
	if _, ok := StandardSchema(name); ok {
		return false, fault.New(fault.Invalid, "InvalidOperation",
			"'%s' is a standard table, built in, and cannot be deleted; set its retention to keep its rows for less time", name)
	}
	if err := validCustomName(name); err != nil {
		return false, err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	if ifMatch == "" {
		ifMatch = docstore.AnyVersion // opens the document: a revoked key stops deletions too
	}
	err := t.docs.Delete(ctx, t.workspace, collTables, name, ifMatch)
	switch {
	case errors.Is(err, docstore.ErrNotFound) && ifMatch == docstore.AnyVersion:
		return false, nil
	case err != nil:
		return false, docstore.Refusal(err, "table", name)
	}
	return true, nil
}
