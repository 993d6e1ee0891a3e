// Package savedsearch keeps a workspace's saved searches (the Log Analytics
// API's Microsoft.OperationalInsights/workspaces/savedSearches) in the
// sealed document store. A saved search with a functionAlias is a workspace
// function: every query and rule of the workspace may call it by that name,
// which is how the normalizing parsers and the connectors' parsers that
// detection content calls are installed.
//
// Each saved search is one document. Beside them one index document maps
// every function alias to the saved search that holds it; every change of a
// saved search rewrites it in the same docstore.Batch, conditional on its
// etag, so an alias is never held twice, and its etag changes whenever
// anything does: a reader that has seen the index's etag knows whether the
// functions it built from the saved searches are still the workspace's.
package savedsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/jsonbody"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// Collections in the document store: the saved searches, and the index of
// their function aliases (one document, indexID).
const (
	collSearches = "savedSearches"
	collIndex    = "savedSearchIndex"
	indexID      = "aliases"
)

// ResourceType is the type of a saved search resource.
const ResourceType = "Microsoft.OperationalInsights/savedSearches"

// Limits. A workspace's functions are handed to every query, so their
// number is bounded; the query is bounded as any query is.
const (
	MaxSavedSearches = 2000 // per workspace
	MaxQueryBytes    = kql.MaxQueryBytes
	MaxIDLength      = 128
	maxText          = 256 // category, displayName, a tag's name or value
	maxParameters    = 16 << 10
	maxTags          = 50
	// Query language versions; the current one is the default.
	minVersion     = 1
	CurrentVersion = 2
)

// SavedSearch is a Microsoft.OperationalInsights/workspaces/savedSearches
// resource.
type SavedSearch struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Etag       string     `json:"etag"`
	Properties Properties `json:"properties"`
}

// Properties are a saved search's fields, in the cloud's names.
type Properties struct {
	Category    string `json:"category"`
	DisplayName string `json:"displayName"`
	Query       string `json:"query"`
	// FunctionAlias, when set, makes the query a function of the workspace
	// by that name; FunctionParameters are its parameters as a let declares
	// them, without the parentheses: "a:string='x', n:long=10".
	FunctionAlias      string `json:"functionAlias,omitempty"`
	FunctionParameters string `json:"functionParameters,omitempty"`
	// Version is the version of the query language: 1 or 2.
	Version int64 `json:"version"`
	Tags    []Tag `json:"tags,omitempty"`
}

// Tag is a name and a value attached to a saved search.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Function is the workspace function p declares, if it declares one.
func (p *Properties) Function() (kql.Function, bool) {
	if p.FunctionAlias == "" {
		return kql.Function{}, false
	}
	return kql.Function{Name: p.FunctionAlias, Parameters: p.FunctionParameters, Body: p.Query}, true
}

// index is the index document: each function alias, by the saved search
// that holds it.
type index struct {
	Aliases map[string]string `json:"aliases"` // alias → saved search ID
}

// Searches is the saved search store of one workspace.
type Searches struct {
	docs      *docstore.Store
	workspace string // customerId: the document store's workspace
	idPrefix  string // resource ID of the workspace's savedSearches collection
	cache     *Cache
}

// New returns the saved searches of a workspace whose resource ID is
// resourceID. cache, shared by every Searches of a node, keeps the functions
// built for queries; nil builds them for every call of Functions.
func New(docs *docstore.Store, customerID, resourceID string, cache *Cache) *Searches {
	return &Searches{docs: docs, workspace: customerID, idPrefix: resourceID + "/savedSearches/", cache: cache}
}

func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "BadRequest", format, args...)
}

// ValidID refuses a saved search ID that is not 1-128 letters, digits,
// hyphens and underscores: it is a resource name and a document ID.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLength || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return bad("saved search IDs are 1-%d letters, digits, hyphens and underscores (a parser's name or a GUID is usual), not '%s'", MaxIDLength, fault.Shorten(id))
	}
	return nil
}

// input is the properties of a PUT. etag is accepted inside properties, as
// deployment templates of the parsers write it, and ignored: the body's
// etag or If-Match is the condition.
type input struct {
	Category           *string         `json:"category"`
	DisplayName        *string         `json:"displayName"`
	Query              *string         `json:"query"`
	FunctionAlias      string          `json:"functionAlias"`
	FunctionParameters string          `json:"functionParameters"`
	Version            *int64          `json:"version"`
	Tags               []Tag           `json:"tags"`
	Etag               json.RawMessage `json:"etag"`
}

// Decode reads and checks a saved search's properties (a JSON object),
// refusing an unknown field, a field of the wrong type, a missing required
// field, and a function whose parameters or query do not parse, with a
// message naming the field (and, for KQL, the line and column in it).
func Decode(props json.RawMessage) (*Properties, error) {
	if t := bytes.TrimSpace(props); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, bad(`the saved search has no properties; send {"properties":{"category":…,"displayName":…,"query":…}}`)
	}
	var in input
	if err := jsonbody.DecodeStrict(props, &in); err != nil {
		return nil, bad("properties: %s", jsonbody.Message(err, "see docs/api.md for the fields of a saved search"))
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	p := &Properties{Category: *in.Category, DisplayName: *in.DisplayName, Query: *in.Query,
		FunctionAlias: in.FunctionAlias, FunctionParameters: in.FunctionParameters, Version: CurrentVersion, Tags: in.Tags}
	if in.Version != nil {
		p.Version = *in.Version
	}
	if f, ok := p.Function(); ok {
		if err := kql.CheckFunction(f); err != nil {
			return nil, functionRefusal(err)
		}
	}
	return p, nil
}

// Check checks properties built in Go as Decode checks them in a PUT:
// what the node would refuse is refused before they are sent.
func Check(p Properties) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode saved search: %w", err)
	}
	_, err = Decode(body)
	return err
}

func (in *input) check() error {
	text := func(field string, v *string) error {
		switch {
		case v == nil || strings.TrimSpace(*v) == "":
			return bad("properties.%s is required", field)
		case len(*v) > maxText:
			return bad("properties.%s is at most %d characters", field, maxText)
		}
		return nil
	}
	if err := text("category", in.Category); err != nil {
		return err
	}
	if err := text("displayName", in.DisplayName); err != nil {
		return err
	}
	switch {
	case in.Query == nil || strings.TrimSpace(*in.Query) == "":
		return bad("properties.query is required: the KQL the saved search runs, or the function's body")
	case len(*in.Query) > MaxQueryBytes:
		return bad("properties.query is %d bytes; at most %d", len(*in.Query), MaxQueryBytes)
	case in.FunctionAlias != "" && !kql.ValidFunctionName(in.FunctionAlias):
		return bad("properties.functionAlias '%s' is not a function name: 1-%d letters, digits and underscores, not starting with a digit",
			fault.Shorten(in.FunctionAlias), kql.MaxFunctionNameLength)
	case in.FunctionParameters != "" && in.FunctionAlias == "":
		return bad("properties.functionParameters needs properties.functionAlias: parameters belong to a function")
	case len(in.FunctionParameters) > maxParameters:
		return bad("properties.functionParameters is at most %d characters", maxParameters)
	case in.Version != nil && (*in.Version < minVersion || *in.Version > CurrentVersion):
		return bad("properties.version is the query language's version, %d or %d (the default), not %d", minVersion, CurrentVersion, *in.Version)
	case len(in.Tags) > maxTags:
		return bad("properties.tags has %d tags; at most %d", len(in.Tags), maxTags)
	}
	for i, t := range in.Tags {
		if strings.TrimSpace(t.Name) == "" || len(t.Name) > maxText || len(t.Value) > maxText {
			return bad("properties.tags[%d] needs a name, and a name and a value of at most %d characters each", i, maxText)
		}
	}
	return nil
}

// functionRefusal words CheckFunction's refusal by the property at fault.
func functionRefusal(err error) error {
	var fe *kql.FunctionError
	if !errors.As(err, &fe) {
		return fmt.Errorf("check function: %w", err)
	}
	field := map[string]string{kql.FunctionPartName: "functionAlias", kql.FunctionPartParameters: "functionParameters",
		kql.FunctionPartBody: "query"}[fe.Part]
	return fault.New(fault.Invalid, "SyntaxError", "properties.%s: %v", field, fe.Err)
}

// errRaced is a change by another writer between this one's read and its
// write; the write is tried again on the new state.
var errRaced = errors.New("saved searches changed while being written")

const maxAttempts = 5

// retry runs a read-modify-write until it does not race.
func retry(id string, fn func() error) error {
	for range maxAttempts {
		if err := fn(); !errors.Is(err, errRaced) {
			return err
		}
	}
	return fault.New(fault.Conflict, "Conflict", "saved search '%s' is being changed by others at the same time; retry", fault.Shorten(id))
}

// readIndex returns the index and its etag ("" when there is none yet).
func (s *Searches) readIndex(ctx context.Context) (index, string, error) {
	idx := index{Aliases: map[string]string{}}
	doc, err := s.docs.Get(ctx, s.workspace, collIndex, indexID)
	if errors.Is(err, docstore.ErrNotFound) {
		return idx, "", nil
	}
	if err != nil {
		return idx, "", docstore.Refusal(err, "saved search index", "")
	}
	if err := json.Unmarshal(doc.Body, &idx); err != nil {
		return idx, "", fmt.Errorf("decode saved search index: %w", err)
	}
	if idx.Aliases == nil {
		idx.Aliases = map[string]string{}
	}
	return idx, doc.ETag, nil
}

// indexWrite is the write of idx conditional on the etag it was read with.
func indexWrite(idx index, etag string) (docstore.Write, error) {
	body, err := json.Marshal(idx)
	if err != nil {
		return docstore.Write{}, fmt.Errorf("encode saved search index: %w", err)
	}
	if etag == "" {
		etag = docstore.CreateOnly
	}
	return docstore.Write{Collection: collIndex, ID: indexID, Body: body, IfMatch: etag}, nil
}

// Put creates or updates a saved search from props (a JSON object). ifMatch
// is the etag the caller read ("" for unconditional, "*" for "must exist").
// A function alias held by another saved search is refused.
func (s *Searches) Put(ctx context.Context, id string, props json.RawMessage, ifMatch string) (*SavedSearch, bool, error) {
	if err := ValidID(id); err != nil {
		return nil, false, err
	}
	p, err := Decode(props)
	if err != nil {
		return nil, false, err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	var out *SavedSearch
	var created bool
	err = retry(id, func() error {
		out, created, err = s.put(ctx, id, p, ifMatch)
		return err
	})
	return out, created, err
}

func (s *Searches) put(ctx context.Context, id string, p *Properties, ifMatch string) (*SavedSearch, bool, error) {
	idx, idxEtag, err := s.readIndex(ctx)
	if err != nil {
		return nil, false, err
	}
	cur, err := s.docs.Get(ctx, s.workspace, collSearches, id)
	created := errors.Is(err, docstore.ErrNotFound)
	switch {
	case created && ifMatch == docstore.AnyVersion:
		return nil, false, docstore.Refusal(docstore.ErrNotFound, "saved search", id)
	case created && ifMatch != "":
		return nil, false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "saved search '%s' does not exist, so no etag can match", id)
	case err != nil && !created:
		return nil, false, docstore.Refusal(err, "saved search", id)
	case !created && ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != cur.ETag:
		return nil, false, docstore.Refusal(docstore.ErrConflict, "saved search", id)
	}
	if created {
		if err := s.roomForOne(ctx); err != nil {
			return nil, false, err
		}
	}
	if p.FunctionAlias != "" {
		if holder, ok := idx.Aliases[p.FunctionAlias]; ok && holder != id {
			return nil, false, fault.New(fault.Conflict, "FunctionAliasInUse",
				"function alias '%s' is already saved search '%s''s; a workspace function has one definition: delete or rename that one, or choose another alias",
				p.FunctionAlias, holder)
		}
	}
	maps.DeleteFunc(idx.Aliases, func(_, holder string) bool { return holder == id })
	if p.FunctionAlias != "" {
		idx.Aliases[p.FunctionAlias] = id
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, false, fmt.Errorf("encode saved search %s: %w", id, err)
	}
	docMatch := docstore.CreateOnly
	if !created {
		docMatch = cur.ETag
	}
	iw, err := indexWrite(idx, idxEtag)
	if err != nil {
		return nil, false, err
	}
	etags, err := s.docs.Batch(ctx, s.workspace, []docstore.Write{{Collection: collSearches, ID: id, Body: body, IfMatch: docMatch}, iw})
	switch {
	case errors.Is(err, docstore.ErrConflict), errors.Is(err, docstore.ErrNotFound):
		// The search or the index changed since read: read again, and the
		// caller's etag, if any, is checked against the search as it is now.
		return nil, false, errRaced
	case err != nil:
		return nil, false, docstore.Refusal(err, "saved search", id)
	}
	return s.search(id, etags[0], *p), created, nil
}

// roomForOne refuses a new saved search in a workspace that has
// MaxSavedSearches. Two created at once may both pass: the limit bounds
// work, it is not an invariant.
func (s *Searches) roomForOne(ctx context.Context) error {
	n, err := s.docs.Count(ctx, s.workspace, collSearches)
	if err != nil {
		return docstore.Refusal(err, "saved search", "")
	}
	if n >= MaxSavedSearches {
		return bad("the workspace has %d saved searches, the most it may have; delete one first", n)
	}
	return nil
}

func (s *Searches) search(id, etag string, p Properties) *SavedSearch {
	return &SavedSearch{ID: s.idPrefix + id, Name: id, Type: ResourceType, Etag: docstore.QuoteETag(etag), Properties: p}
}

// Get returns a saved search.
func (s *Searches) Get(ctx context.Context, id string) (*SavedSearch, error) {
	if err := ValidID(id); err != nil {
		return nil, err
	}
	var p Properties
	etag, err := s.docs.GetJSON(ctx, s.workspace, collSearches, "saved search", id, &p)
	if err != nil {
		return nil, err
	}
	return s.search(id, etag, p), nil
}

// List returns every saved search, by ID.
func (s *Searches) List(ctx context.Context) ([]SavedSearch, error) {
	out := []SavedSearch{}
	err := docstore.ListJSON(ctx, s.docs, s.workspace, collSearches, "saved search", func(id, etag string, p Properties) {
		out = append(out, *s.search(id, etag, p))
	})
	if err != nil {
		return nil, err
	}
	return out, nil // the store lists by ID
}

// Delete deletes a saved search, and the function it declares; deleting one
// that does not exist is not an error, as in the cloud.
func (s *Searches) Delete(ctx context.Context, id, ifMatch string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	return retry(id, func() error {
		idx, idxEtag, err := s.readIndex(ctx)
		if err != nil {
			return err
		}
		cur, err := s.docs.Get(ctx, s.workspace, collSearches, id)
		switch {
		case errors.Is(err, docstore.ErrNotFound) && (ifMatch == "" || ifMatch == docstore.AnyVersion):
			return nil
		case err != nil:
			return docstore.Refusal(err, "saved search", id)
		case ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != cur.ETag:
			return docstore.Refusal(docstore.ErrConflict, "saved search", id)
		}
		maps.DeleteFunc(idx.Aliases, func(_, holder string) bool { return holder == id })
		iw, err := indexWrite(idx, idxEtag)
		if err != nil {
			return err
		}
		_, err = s.docs.Batch(ctx, s.workspace, []docstore.Write{{Collection: collSearches, ID: id, IfMatch: cur.ETag}, iw})
		switch {
		case errors.Is(err, docstore.ErrConflict), errors.Is(err, docstore.ErrNotFound):
			return errRaced
		case err != nil:
			return docstore.Refusal(err, "saved search", id)
		}
		return nil
	})
}

// Fingerprint changes whenever a saved search is written or deleted: each
// such change rewrites the index of aliases in the same batch (see
// docstore.Store.Fingerprint). What Functions answered stands while it is
// the same. It needs no key.
func (s *Searches) Fingerprint(ctx context.Context) (docstore.Digest, error) {
	return s.docs.Fingerprint(ctx, s.workspace, collIndex)
}

// Functions returns the workspace's functions, by name, for the query
// engine. It reads the index and, when the cache holds the functions of
// the index's version, nothing else: a query's catalog costs one small
// document's decryption. A workspace that never had a saved search needs
// no key for it.
func (s *Searches) Functions(ctx context.Context) ([]kql.Function, error) {
	doc, err := s.docs.Get(ctx, s.workspace, collIndex, indexID)
	if errors.Is(err, docstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		s.cache.Forget(s.workspace)
		return nil, docstore.Refusal(err, "saved search index", "")
	}
	if fns, ok := s.cache.get(s.workspace, doc.ETag); ok {
		return fns, nil
	}
	// Read after the index: what is listed is at least as new as the etag
	// it is kept under, and a change since makes the next call list again.
	list, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	fns := make([]kql.Function, 0, len(list))
	for i := range list {
		if f, ok := list[i].Properties.Function(); ok {
			fns = append(fns, f)
		}
	}
	slices.SortFunc(fns, func(a, b kql.Function) int { return strings.Compare(a.Name, b.Name) })
	s.cache.put(s.workspace, doc.ETag, fns)
	return slices.Clone(fns), nil
}
