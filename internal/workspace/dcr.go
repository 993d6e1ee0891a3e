package workspace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// TypeDCR is the data collection rule resource type.
const TypeDCR = "Microsoft.Insights/dataCollectionRules"

var (
	bucketDCRs = []byte("workspace.dcrs") // lower(sub/rg/name) → DataCollectionRule
	// bucketDCRIDs finds a rule by its immutable ID, which every ingest call names: without it
	// each call decoded every stored rule.
	bucketDCRIDs = []byte("workspace.dcrs.byid") // lower(immutableId) → key in bucketDCRs
)

// DCRColumn is a column of a declared stream.
type DCRColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// DCRStream declares a custom stream's columns.
type DCRStream struct {
	Columns []DCRColumn `json:"columns"`
}

// DCRDestination is a workspace that a rule sends rows to.
type DCRDestination struct {
	WorkspaceResourceID string `json:"workspaceResourceId"`
	WorkspaceID         string `json:"workspaceId,omitempty"`
	Name                string `json:"name"`
}

// DCRDataFlow routes streams to destinations and an output table.
type DCRDataFlow struct {
	Streams      []string `json:"streams"`
	Destinations []string `json:"destinations"`
	TransformKql string   `json:"transformKql,omitempty"`
	OutputStream string   `json:"outputStream,omitempty"`
}

// DCRProperties are a data collection rule's properties.
type DCRProperties struct {
	ImmutableID        string               `json:"immutableId,omitempty"`
	StreamDeclarations map[string]DCRStream `json:"streamDeclarations,omitempty"`
	Destinations       struct {
		LogAnalytics []DCRDestination `json:"logAnalytics"`
	} `json:"destinations"`
	DataFlows         []DCRDataFlow `json:"dataFlows"`
	ProvisioningState string        `json:"provisioningState,omitempty"`
}

// DataCollectionRule is a Microsoft.Insights/dataCollectionRules resource.
type DataCollectionRule struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties DCRProperties     `json:"properties"`
}

// Route is where one stream of a rule goes, and how: the stream's declared
// columns (nil for a Microsoft- stream, shaped as its table) and the flow's
// transformation.
type Route struct {
	Rule      *DataCollectionRule
	Workspace *WorkspaceInfo
	Table     string
	Stream    string
	Columns   []DCRColumn
	Transform string
}

// PutDCR creates or replaces a data collection rule. Every flow must name
// declared (Custom-*) or built-in (Microsoft-*) streams and existing
// workspaces. What its flows write is the caller's to check beforehand
// (CheckDCR): the tables are the workspaces' documents.
func (s *Service) PutDCR(ctx context.Context, g ResourceGroup, name string, in DataCollectionRule) (*DataCollectionRule, bool, error) {
	if err := validName("data collection rule", name); err != nil {
		return nil, false, err
	}
	var out *DataCollectionRule
	var created bool
	err := s.update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDCRs)
		if err != nil {
			return err
		}
		old, err := getJSON[DataCollectionRule](b, storeKey(g, name))
		if err != nil {
			return err
		}
		rule := in
		rule.ID, rule.Name, rule.Type, rule.Location = g.id(TypeDCR, name), name, TypeDCR, defaultLocation(in.Location)
		rule.Properties.ProvisioningState = "Succeeded"
		if old != nil {
			rule.Properties.ImmutableID = old.Properties.ImmutableID
		} else {
			created = true
			var id [16]byte
			_, _ = rand.Read(id[:])
			rule.Properties.ImmutableID = "dcr-" + hex.EncodeToString(id[:])
		}
		if err := s.validateDCR(tx, &rule); err != nil {
			return err
		}
		out = &rule
		if err := putJSON(b, storeKey(g, name), &rule); err != nil {
			return err
		}
		return indexDCR(tx, &rule, storeKey(g, name))
	})
	return out, created, err
}

// indexDCR records under which key the rule with r's immutable ID is stored.
func indexDCR(tx kv.Tx, r *DataCollectionRule, key []byte) error {
	ids, err := tx.CreateBucketIfNotExists(bucketDCRIDs)
	if err != nil {
		return err
	}
	return ids.Put([]byte(strings.ToLower(r.Properties.ImmutableID)), key)
}

// indexDCRs indexes every stored rule by its immutable ID when the index
// does not hold one entry per rule: a store written before the index
// existed. PutDCR and DeleteDCR keep it in step otherwise, so an open of an
// indexed store counts keys and decodes no rule.
func indexDCRs(tx kv.Tx) error {
	b := tx.Bucket(bucketDCRs)
	if b == nil {
		return nil
	}
	if ids := tx.Bucket(bucketDCRIDs); ids != nil && ids.KeyN() == b.KeyN() {
		return nil
	}
	return b.ForEach(func(k, _ []byte) error {
		r, err := getJSON[DataCollectionRule](b, k)
		if err != nil {
			return err
		}
		return indexDCR(tx, r, k)
	})
}

// CheckDCR validates a rule as PutDCR would, storing nothing, and returns
// the routes of its flows: one per stream and destination, for the caller
// to check each flow's table and transformation before it stores the rule.
func (s *Service) CheckDCR(ctx context.Context, g ResourceGroup, name string, in DataCollectionRule) ([]Route, error) {
	if err := validName("data collection rule", name); err != nil {
		return nil, err
	}
	rule := in
	rule.Name = name
	if err := s.db.View(ctx, func(tx kv.Tx) error { return s.validateDCR(tx, &rule) }); err != nil {
		return nil, err
	}
	var routes []Route
	for _, f := range rule.Properties.DataFlows {
		table, _ := outputTable(f) // validated
		for _, st := range f.Streams {
			for _, dest := range f.Destinations {
				for _, d := range rule.Properties.Destinations.LogAnalytics {
					if d.Name != dest {
						continue
					}
					info, err := s.WorkspaceByCustomerID(ctx, d.WorkspaceID)
					if err != nil {
						return nil, err
					}
					routes = append(routes, route(&rule, f, st, info, table))
				}
			}
		}
	}
	return routes, nil
}

// route is the route of stream st of flow f into table of workspace info.
func route(rule *DataCollectionRule, f DCRDataFlow, st string, info *WorkspaceInfo, table string) Route {
	r := Route{Rule: rule, Workspace: info, Table: table, Stream: st, Transform: f.TransformKql}
	if decl, ok := rule.Properties.StreamDeclarations[st]; ok && strings.HasPrefix(st, "Custom-") {
		r.Columns = decl.Columns
	}
	return r
}

func (s *Service) validateDCR(tx kv.Tx, rule *DataCollectionRule) error {
	dests := map[string]bool{}
	for i := range rule.Properties.Destinations.LogAnalytics {
		d := &rule.Properties.Destinations.LogAnalytics[i]
		g, wsName, ok := parseResourceID(d.WorkspaceResourceID, TypeWorkspace)
		if !ok {
			return badRequest("destination '%s': '%s' is not a workspace resource ID", printable(d.Name), printable(d.WorkspaceResourceID))
		}
		rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), storeKey(g, wsName))
		if err != nil {
			return err
		}
		if rec == nil {
			return badRequest("destination '%s': workspace %s does not exist", printable(d.Name), printable(d.WorkspaceResourceID))
		}
		if err := s.keyInForce(tx, rec); err != nil {
			return err
		}
		d.WorkspaceID = rec.Workspace.Properties.CustomerID
		dests[d.Name] = true
	}
	if len(rule.Properties.DataFlows) == 0 {
		return badRequest("a data collection rule needs at least one data flow")
	}
	for i, f := range rule.Properties.DataFlows {
		if len(f.Streams) == 0 || len(f.Destinations) == 0 {
			return badRequest("dataFlows[%d] needs streams and destinations", i)
		}
		for _, st := range f.Streams {
			switch {
			case strings.HasPrefix(st, "Custom-"):
				if _, ok := rule.Properties.StreamDeclarations[st]; !ok {
					return badRequest("dataFlows[%d]: stream '%s' is not declared in streamDeclarations", i, printable(st))
				}
			case strings.HasPrefix(st, "Microsoft-"):
			default:
				return badRequest("dataFlows[%d]: stream '%s' must be Custom-<name> (declared) or Microsoft-<table>", i, printable(st))
			}
		}
		for _, d := range f.Destinations {
			if !dests[d] {
				return badRequest("dataFlows[%d]: destination '%s' is not among destinations.logAnalytics", i, printable(d))
			}
		}
		if _, err := outputTable(f); err != nil {
			return badRequest("dataFlows[%d]: %v", i, err)
		}
	}
	return nil
}

// outputTable is the table a flow writes: Custom-X_CL → X_CL, Microsoft-X → X;
// without an outputStream, the stream's own name.
func outputTable(f DCRDataFlow) (string, error) {
	out := f.OutputStream
	if out == "" {
		out = f.Streams[0]
	}
	name, ok := strings.CutPrefix(out, "Custom-")
	if !ok {
		if name, ok = strings.CutPrefix(out, "Microsoft-"); !ok {
			return "", fmt.Errorf("outputStream '%s' must be Custom-<table> or Microsoft-<table>", printable(out))
		}
	}
	if name == "" || len(name) > 100 || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) >= 0 {
		return "", fmt.Errorf("table name '%s' must be letters, digits and underscores", printable(name))
	}
	return name, nil
}

// GetDCR returns a rule.
func (s *Service) GetDCR(ctx context.Context, g ResourceGroup, name string) (*DataCollectionRule, error) {
	var rule *DataCollectionRule
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketDCRs)
		if b == nil {
			return nil
		}
		var err error
		rule, err = getJSON[DataCollectionRule](b, storeKey(g, name))
		return err
	})
	if err == nil && rule == nil {
		err = notFound("data collection rule", name)
	}
	return rule, err
}

// ListDCRs lists the rules of a resource group.
func (s *Service) ListDCRs(ctx context.Context, g ResourceGroup) ([]DataCollectionRule, error) {
	prefix := strings.ToLower(g.Subscription + "/" + g.Group + "/")
	out := []DataCollectionRule{}
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketDCRs)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
			r, err := getJSON[DataCollectionRule](b, k)
			if err != nil {
				return err
			}
			out = append(out, *r)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// DeleteDCR deletes a rule.
func (s *Service) DeleteDCR(ctx context.Context, g ResourceGroup, name string) error {
	return s.update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketDCRs)
		if b == nil {
			return nil
		}
		r, err := getJSON[DataCollectionRule](b, storeKey(g, name))
		if err != nil || r == nil {
			return err
		}
		if ids := tx.Bucket(bucketDCRIDs); ids != nil {
			if err := ids.Delete([]byte(strings.ToLower(r.Properties.ImmutableID))); err != nil {
				return err
			}
		}
		return b.Delete(storeKey(g, name))
	})
}

// RouteStream resolves the rule with immutableID and its stream to the
// workspace and table the rows go to. Every ingest calls it: it answers
// from the lookup cache while nothing changed, in one read transaction that
// reads the generation (see lookupCache). The Route's Rule is shared with
// other calls: it is read, never changed.
func (s *Service) RouteStream(ctx context.Context, immutableID, stream string) (*Route, error) {
	var out *Route
	err := s.db.View(ctx, func(tx kv.Tx) error {
		gen := readGeneration(tx)
		rule, err := s.ruleInTx(tx, gen, immutableID)
		if err != nil {
			return err
		}
		for _, f := range rule.Properties.DataFlows {
			for _, st := range f.Streams {
				if st != stream {
					continue
				}
				table, err := outputTable(f)
				if err != nil {
					return err
				}
				for _, d := range rule.Properties.Destinations.LogAnalytics {
					if d.Name == f.Destinations[0] {
						w, err := s.workspaceInTx(tx, gen, d.WorkspaceID)
						if err != nil {
							return err
						}
						r := route(rule, f, st, copyInfo(&w.info), table)
						out = &r
						return nil
					}
				}
			}
		}
		return fault.New(fault.NotFound, "StreamNotFound", "data collection rule '%s' has no data flow for stream '%s'", rule.Name, printable(stream))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ruleInTx is the rule with immutableID, from the lookup cache if its entries
// are of generation gen, which tx read, or read from tx into it.
func (s *Service) ruleInTx(tx kv.Tx, gen uint64, immutableID string) (*DataCollectionRule, error) {
	id := strings.ToLower(immutableID)
	if r, ok := s.cache.getRule(gen, id); ok {
		return r, nil
	}
	notFound := fault.New(fault.NotFound, "DataCollectionRuleNotFound", "no data collection rule has immutable ID '%s'", printable(immutableID))
	b, ids := tx.Bucket(bucketDCRs), tx.Bucket(bucketDCRIDs)
	if b == nil || ids == nil {
		return nil, notFound
	}
	key := ids.Get([]byte(id))
	if key == nil {
		return nil, notFound
	}
	rule, err := getJSON[DataCollectionRule](b, key)
	if err != nil {
		return nil, err
	}
	if rule == nil {
		return nil, notFound
	}
	s.cache.putRule(gen, id, rule)
	return rule, nil
}

// RulesWriting returns the names of the rules with a flow into table of
// the workspace whose customer ID is customerID, by name: a table that a
// rule writes is not deleted from under it (see the tables API).
func (s *Service) RulesWriting(ctx context.Context, customerID, table string) ([]string, error) {
	var names []string
	err := s.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketDCRs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			r, err := getJSON[DataCollectionRule](b, k)
			if err != nil {
				return err
			}
			if writes(r, customerID, table) {
				names = append(names, r.Name)
			}
			return nil
		})
	})
	sort.Strings(names)
	return names, err
}

// writes reports whether a flow of rule r writes table (compared without
// regard to case, as the tables API names tables) in workspace customerID.
func writes(r *DataCollectionRule, customerID, table string) bool {
	for _, f := range r.Properties.DataFlows {
		out, err := outputTable(f)
		if err != nil || !strings.EqualFold(out, table) {
			continue
		}
		for _, d := range r.Properties.Destinations.LogAnalytics {
			if strings.EqualFold(d.WorkspaceID, customerID) && slices.Contains(f.Destinations, d.Name) {
				return true
			}
		}
	}
	return false
}
