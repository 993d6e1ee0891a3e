// Package automation keeps a workspace's automation rules (the security
// workspace API's automationRules) in the sealed document store and runs
// them: on an incident created or updated, or an alert created, the enabled
// rules whose conditions match run their actions in order, changing the
// incident, adding tasks to it, or posting it to a signed webhook, and each
// action's outcome is written to the incident's history.
package automation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/jsonbody"
)

// collRules is the rules' collection in the document store.
const collRules = "automationRules"

// ResourceType is the type of an automation rule resource.
const ResourceType = "Microsoft.SecurityInsights/automationRules"

// Rule is a Microsoft.SecurityInsights/automationRules resource. A rule
// handed out by Rules never holds a webhook's secret.
type Rule struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Etag       string     `json:"etag"`
	Properties Properties `json:"properties"`
}

// Properties are an automation rule's fields, in the cloud's names.
type Properties struct {
	DisplayName         string          `json:"displayName"`
	Order               int             `json:"order"`
	TriggeringLogic     TriggeringLogic `json:"triggeringLogic"`
	Actions             []Action        `json:"actions"`
	CreatedTimeUtc      time.Time       `json:"createdTimeUtc,omitzero"`
	LastModifiedTimeUtc time.Time       `json:"lastModifiedTimeUtc,omitzero"`
	CreatedBy           *ClientInfo     `json:"createdBy,omitempty"`
	LastModifiedBy      *ClientInfo     `json:"lastModifiedBy,omitempty"`
}

// ClientInfo names who saved a rule.
type ClientInfo struct {
	ObjectID string `json:"objectId,omitempty"`
}

// TriggeringLogic says when a rule runs.
type TriggeringLogic struct {
	IsEnabled *bool `json:"isEnabled"`
	// ExpirationTimeUtc (RFC 3339), when set, is when the rule stops running.
	ExpirationTimeUtc string      `json:"expirationTimeUtc,omitempty"`
	TriggersOn        string      `json:"triggersOn"`
	TriggersWhen      string      `json:"triggersWhen"`
	Conditions        []Condition `json:"conditions,omitempty"`
}

// Condition is one condition of a rule: its ConditionType says which of
// ConditionProperties' fields it has.
type Condition struct {
	ConditionType       string              `json:"conditionType"`
	ConditionProperties ConditionProperties `json:"conditionProperties"`
}

// ConditionProperties holds the fields of every condition type:
//   - Property: propertyName, operator, propertyValues;
//   - PropertyChanged: propertyName, changeType, operator, propertyValues;
//   - PropertyArrayChanged: arrayType, changeType;
//   - Boolean: operator (And, Or), innerConditions.
//
// Validation refuses a field that is not its type's.
type ConditionProperties struct {
	PropertyName    string      `json:"propertyName,omitempty"`
	Operator        string      `json:"operator,omitempty"`
	PropertyValues  []string    `json:"propertyValues,omitempty"`
	ChangeType      string      `json:"changeType,omitempty"`
	ArrayType       string      `json:"arrayType,omitempty"`
	InnerConditions []Condition `json:"innerConditions,omitempty"`
}

// Action is one action of a rule; actions run by Order.
type Action struct {
	Order               int                 `json:"order"`
	ActionType          string              `json:"actionType"`
	ActionConfiguration ActionConfiguration `json:"actionConfiguration"`
}

// ActionConfiguration holds the fields of every action type:
//   - ModifyProperties: severity, status, classification,
//     classificationReason, classificationComment, owner, labels;
//   - AddIncidentTask: title, description;
//   - Webhook (Sealwatch's): url, secret.
//
// Validation refuses a field that is not its type's.
type ActionConfiguration struct {
	Severity              string  `json:"severity,omitempty"`
	Status                string  `json:"status,omitempty"`
	Classification        string  `json:"classification,omitempty"`
	ClassificationReason  string  `json:"classificationReason,omitempty"`
	ClassificationComment string  `json:"classificationComment,omitempty"`
	Owner                 *Owner  `json:"owner,omitempty"`
	Labels                []Label `json:"labels,omitempty"`
	Title                 string  `json:"title,omitempty"`
	Description           string  `json:"description,omitempty"`
	URL                   string  `json:"url,omitempty"`
	// Secret keys the webhook's signature. It is sealed with the rule and
	// never handed out: write-only.
	Secret string `json:"secret,omitempty"`
}

// Owner is whom a ModifyProperties action assigns the incident to.
type Owner struct {
	ObjectID          string `json:"objectId,omitempty"`
	Email             string `json:"email,omitempty"`
	AssignedTo        string `json:"assignedTo,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	OwnerType         string `json:"ownerType,omitempty"`
}

// Label is a label a ModifyProperties action adds.
type Label struct {
	LabelName string `json:"labelName"`
	LabelType string `json:"labelType,omitempty"`
}

// Enabled reports whether the rule is switched on.
func (t *TriggeringLogic) Enabled() bool { return t.IsEnabled != nil && *t.IsEnabled }

// expired reports whether the rule's expiration time is at or before now.
// The time was checked when the rule was saved.
func (t *TriggeringLogic) expired(now time.Time) bool {
	if t.ExpirationTimeUtc == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, t.ExpirationTimeUtc)
	return err == nil && !at.After(now)
}

// redacted is p without its webhooks' secrets.
func (p Properties) redacted() Properties {
	p.Actions = slices.Clone(p.Actions)
	for i := range p.Actions {
		p.Actions[i].ActionConfiguration.Secret = ""
	}
	return p
}

// Rules is the automation rule store of one workspace, and its runner.
type Rules struct {
	docs      *docstore.Store
	workspace string // customerId: the document store's workspace
	idPrefix  string // resource ID of the workspace's automationRules collection
	hooks     *Webhooks
	cache     *Cache
	now       func() time.Time
}

// New returns the automation rules of a workspace whose resource ID is
// resourceID. hooks delivers webhook actions; without it they are recorded
// as not delivered. cache, shared by every Rules of a node, spares decoding
// a rule again for every change; nil decodes every time.
func New(docs *docstore.Store, customerID, resourceID string, hooks *Webhooks, cache *Cache, now func() time.Time) *Rules {
	if now == nil {
		now = time.Now
	}
	return &Rules{docs: docs, workspace: customerID, idPrefix: resourceID + "/providers/Microsoft.SecurityInsights/automationRules/",
		hooks: hooks, cache: cache, now: now}
}

// Cache keeps automation rules decoded across requests: every incident
// change reads every rule of its workspace, and decoding them was most of
// that cost. An entry serves only the version whose etag the store has just
// returned from the sealed document, so it never answers for a rule that
// changed, nor for one the key no longer opens; a workspace whose rules
// cannot be read (its key revoked) has its entries dropped. It is safe for
// concurrent use.
type Cache struct {
	mu        sync.Mutex
	workspace map[string]map[string]decodedRule // customerId → rule ID → the version last decoded
}

// decodedRule is a rule's properties as decoded from the version whose
// etag it holds.
type decodedRule struct {
	etag  string
	props Properties
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{workspace: map[string]map[string]decodedRule{}} }

// decode returns the properties of the documents listed, decoding only the
// versions c has not seen, and keeps exactly them for the workspace: a
// deleted rule leaves the cache when its workspace is next read.
func (c *Cache) decode(workspace string, docs []docstore.Document) ([]Properties, error) {
	var seen map[string]decodedRule
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		seen = c.workspace[workspace]
	}
	kept := make(map[string]decodedRule, len(docs))
	out := make([]Properties, 0, len(docs))
	for _, doc := range docs {
		d, ok := seen[doc.ID]
		if !ok || d.etag != doc.ETag {
			d = decodedRule{etag: doc.ETag}
			if err := json.Unmarshal(doc.Body, &d.props); err != nil {
				return nil, fmt.Errorf("decode automation rule %s: %w", doc.ID, err)
			}
		}
		kept[doc.ID] = d
		out = append(out, d.props)
	}
	if c != nil {
		c.workspace[workspace] = kept
	}
	return out, nil
}

// forget drops a workspace's entries.
func (c *Cache) forget(workspace string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.workspace, workspace)
	c.mu.Unlock()
}

func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "BadRequest", format, args...)
}

func validID(id string) error {
	if id == "" || len(id) > 128 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return bad("automation rule IDs are 1-128 letters, digits, dashes and underscores (a GUID is usual), not '%s'", fault.Shorten(id))
	}
	return nil
}

// Put creates or updates a rule from props (a JSON object) on behalf of
// the principal caller. ifMatch is the etag the caller read ("" for
// unconditional, "*" for "must exist"). Every field is checked first; a rule
// that could not run as written is refused whole.
func (s *Rules) Put(ctx context.Context, id string, props json.RawMessage, ifMatch, caller string) (*Rule, bool, error) {
	if err := validID(id); err != nil {
		return nil, false, err
	}
	p, err := Decode(props)
	if err != nil {
		return nil, false, err
	}
	old, err := s.docs.Get(ctx, s.workspace, collRules, id)
	created := errors.Is(err, docstore.ErrNotFound)
	switch {
	case created && ifMatch != "" && ifMatch != "*":
		return nil, false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "automation rule '%s' does not exist, so no etag can match", id)
	case err != nil && !created:
		return nil, false, docstore.Refusal(err, "automation rule", id)
	}
	now := s.now().UTC()
	p.CreatedTimeUtc, p.CreatedBy = now, &ClientInfo{ObjectID: caller}
	if !created {
		var prev Properties
		if err := json.Unmarshal(old.Body, &prev); err != nil {
			return nil, false, fmt.Errorf("decode automation rule %s: %w", id, err)
		}
		p.CreatedTimeUtc, p.CreatedBy = prev.CreatedTimeUtc, prev.CreatedBy
	}
	p.LastModifiedTimeUtc, p.LastModifiedBy = now, &ClientInfo{ObjectID: caller}
	doc, err := json.Marshal(p)
	if err != nil {
		return nil, false, fmt.Errorf("encode automation rule %s: %w", id, err)
	}
	etag, err := s.docs.Put(ctx, s.workspace, collRules, id, doc, docstore.IfMatch(ifMatch))
	if err != nil {
		return nil, false, docstore.Refusal(err, "automation rule", id)
	}
	return s.rule(id, etag, p.redacted()), created, nil
}

func (s *Rules) rule(id, etag string, p Properties) *Rule {
	return &Rule{ID: s.idPrefix + id, Name: id, Type: ResourceType, Etag: docstore.QuoteETag(etag), Properties: p}
}

// Get returns a rule, without its webhooks' secrets.
func (s *Rules) Get(ctx context.Context, id string) (*Rule, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	r.Properties = r.Properties.redacted()
	return r, nil
}

// get returns a rule as stored, secrets included.
func (s *Rules) get(ctx context.Context, id string) (*Rule, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	var p Properties
	etag, err := s.docs.GetJSON(ctx, s.workspace, collRules, "automation rule", id, &p)
	if err != nil {
		return nil, err
	}
	return s.rule(id, etag, p), nil
}

// List returns every rule by order, then name, without their webhooks'
// secrets.
func (s *Rules) List(ctx context.Context) ([]Rule, error) {
	rules, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	for i := range rules {
		rules[i].Properties = rules[i].Properties.redacted()
	}
	return rules, nil
}

// list returns every rule as stored, in the order they run: by order, then
// by name.
func (s *Rules) list(ctx context.Context) ([]Rule, error) {
	docs, err := s.docs.List(ctx, s.workspace, collRules)
	if err != nil {
		s.cache.forget(s.workspace)
		return nil, docstore.Refusal(err, "automation rules", "")
	}
	props, err := s.cache.decode(s.workspace, docs)
	if err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(docs))
	for i, doc := range docs {
		out = append(out, *s.rule(doc.ID, doc.ETag, props[i]))
	}
	slices.SortFunc(out, func(a, b Rule) int {
		if c := a.Properties.Order - b.Properties.Order; c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Delete deletes a rule; deleting one that does not exist is not an error,
// as in the cloud.
func (s *Rules) Delete(ctx context.Context, id, ifMatch string) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := s.docs.Delete(ctx, s.workspace, collRules, id, docstore.IfMatch(ifMatch)); err != nil && !errors.Is(err, docstore.ErrNotFound) {
		return docstore.Refusal(err, "automation rule", id)
	}
	return nil
}

// Decode reads and checks a rule's properties (a JSON object), refusing an
// unknown field, a field of the wrong type, and any value the rule could not
// run with, with a message naming the field. The fields the server sets
// (times, createdBy) may be sent, so that a rule read back can be PUT again,
// and are ignored.
func Decode(props json.RawMessage) (*Properties, error) {
	trimmed := bytes.TrimSpace(props)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, bad(`the rule has no properties; send {"properties":{"displayName":…,"order":…,"triggeringLogic":…,"actions":[…]}}`)
	}
	var p Properties
	if err := jsonbody.DecodeStrict(props, &p); err != nil {
		return nil, bad("properties: %s", jsonbody.Message(err, "see docs/api.md for the fields of an automation rule"))
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.CreatedTimeUtc, p.LastModifiedTimeUtc, p.CreatedBy, p.LastModifiedBy = time.Time{}, time.Time{}, nil, nil
	return &p, nil
}
