package keyevents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Delivery schemas, as Event Grid names them.
const (
	SchemaEventGrid   = "EventGridSchema"
	SchemaCloudEvents = "CloudEventSchemaV1_0"
)

// Sealer keeps a subscription's endpoint and secret sealed at rest (the
// vault's root key).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// PublisherOptions tune a Publisher; zero values take the defaults.
type PublisherOptions struct {
	// Client sends deliveries and validation handshakes (default: 10 s
	// timeout, the system's roots).
	Client *http.Client
	// Attempts is how often one event is tried on one subscription
	// (default 6); the waits between double from FirstRetry (default
	// 250 ms) up to 30 s.
	Attempts   int
	FirstRetry time.Duration
	// QueueSize bounds the events waiting to be fanned out, and
	// MaxInFlight the deliveries being tried at once (defaults 1024, 256):
	// past them an event is dropped and logged, never waited for.
	QueueSize   int
	MaxInFlight int
	Now         func() time.Time
	Logger      *slog.Logger
}

// Publisher stores a vault's event subscriptions and delivers its events to
// them. Publish never blocks its caller: the vault's own operation has
// already happened, and a slow or failing endpoint must not slow it.
type Publisher struct {
	db     kv.DB
	seal   Sealer
	opts   PublisherOptions
	log    *slog.Logger
	queue  chan Event
	slots  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.RWMutex // orders Publish against Close
	closed bool
}

var bucketSubscriptions = []byte("keyevents.subscriptions") // lower(vault)/lower(name) → record

const (
	maxSubscriptionsPerVault = 100
	maxEndpointLen           = 2048
	minSecretLen             = 32
	maxSecretLen             = 256
	maxFilterTypes           = 25
	defaultAttempts          = 6
	defaultFirstRetry        = 250 * time.Millisecond
	maxRetryWait             = 30 * time.Second
)

// NewPublisher opens the subscriptions bucket in db and starts the
// dispatcher; Close stops it.
func NewPublisher(db kv.DB, seal Sealer, opts PublisherOptions) (*Publisher, error) {
	if db == nil || seal == nil {
		return nil, errors.New("keyevents: a database and a sealer are required")
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Attempts <= 0 {
		opts.Attempts = defaultAttempts
	}
	if opts.FirstRetry <= 0 {
		opts.FirstRetry = defaultFirstRetry
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := db.Update(context.Background(), func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketSubscriptions)
		return err
	}); err != nil {
		return nil, fmt.Errorf("keyevents: create bucket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{db: db, seal: seal, opts: opts, log: opts.Logger, queue: make(chan Event, opts.QueueSize),
		slots: make(chan struct{}, opts.MaxInFlight), ctx: ctx, cancel: cancel}
	p.wg.Go(p.dispatch)
	return p, nil
}

// Close stops deliveries, those being retried included, and waits for them.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// SubscriptionInput is what a caller sets on a subscription.
type SubscriptionInput struct {
	EndpointURL        string
	IncludedEventTypes []string // empty: every key event
	SubjectBeginsWith  string   // a key name prefix; empty: every key
	Schema             string   // SchemaEventGrid (default) or SchemaCloudEvents
	// Secret, when set, is the signing secret (the receiver's own, such
	// as a node's); else one is generated and returned once.
	Secret string
}

// Subscription is a stored subscription, without its endpoint's query
// (which may hold a secret) and without its signing secret.
type Subscription struct {
	Vault              string    `json:"vault"`
	Name               string    `json:"name"`
	EndpointBaseURL    string    `json:"endpointBaseUrl"`
	IncludedEventTypes []string  `json:"includedEventTypes"`
	SubjectBeginsWith  string    `json:"subjectBeginsWith,omitempty"`
	Schema             string    `json:"eventDeliverySchema"`
	Created            time.Time `json:"created"`
}

type subscriptionRecord struct {
	Subscription
	Sealed []byte `json:"sealed"` // sealedParts
}

type sealedParts struct {
	EndpointURL string `json:"endpointUrl"`
	Secret      string `json:"secret"`
}

func subscriptionID(vault, name string) []byte {
	return []byte(strings.ToLower(vault) + "/" + strings.ToLower(name))
}

func subscriptionAAD(vault, name string) []byte {
	var b []byte
	for _, part := range []string{"sealwatch/keyevents/subscription/v1", strings.ToLower(vault), strings.ToLower(name)} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b
}

func invalid(format string, args ...any) error {
	return fault.New(fault.Invalid, "InvalidEventSubscription", format, args...)
}

// validateInput checks a subscription's name and input, and fills defaults.
func validateInput(name string, in *SubscriptionInput) error {
	if len(name) < 3 || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 {
		return invalid("an event subscription's name is 3 to 64 letters, digits and hyphens")
	}
	u, err := url.Parse(in.EndpointURL)
	switch {
	case in.EndpointURL == "":
		return invalid("properties.destination.properties.endpointUrl is required: the HTTPS URL events are delivered to")
	case len(in.EndpointURL) > maxEndpointLen:
		return invalid("the endpoint URL is longer than %d characters", maxEndpointLen)
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "":
		return invalid("the endpoint URL must be an absolute https URL without user info or fragment, such as https://node.example.com/keyEvents")
	}
	switch in.Schema {
	case "":
		in.Schema = SchemaEventGrid
	case SchemaEventGrid, SchemaCloudEvents:
	default:
		return invalid("eventDeliverySchema must be %s or %s", SchemaEventGrid, SchemaCloudEvents)
	}
	if len(in.IncludedEventTypes) > maxFilterTypes {
		return invalid("at most %d event types may be listed", maxFilterTypes)
	}
	for _, t := range in.IncludedEventTypes {
		if !slices.Contains(Types, t) {
			return invalid("event type %q is not one this vault publishes; use %s", fault.Shorten(t), strings.Join(Types, ", "))
		}
	}
	if len(in.SubjectBeginsWith) > 127 {
		return invalid("subjectBeginsWith is at most 127 characters (a key name prefix)")
	}
	if in.Secret != "" && (len(in.Secret) < minSecretLen || len(in.Secret) > maxSecretLen) {
		return invalid("a signing secret given is %d to %d characters; leave it out to have one generated", minSecretLen, maxSecretLen)
	}
	return nil
}

// Create validates the endpoint with the subscription validation handshake
// and stores the subscription. It returns the signing secret — the one
// time it is returned — and refuses a name already used in the vault.
func (p *Publisher) Create(ctx context.Context, vault, topic, name string, in SubscriptionInput) (Subscription, string, error) {
	if err := validateInput(name, &in); err != nil {
		return Subscription{}, "", err
	}
	if _, err := p.Get(ctx, vault, name); err == nil {
		return Subscription{}, "", fault.New(fault.Conflict, "Conflict",
			"event subscription '%s' already exists on vault '%s'; delete it first to change it (its secret is not shown again)", name, vault)
	}
	secret := in.Secret
	if secret == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		secret = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if err := p.handshake(ctx, topic, name, in, []byte(secret)); err != nil {
		return Subscription{}, "", err
	}
	u, _ := url.Parse(in.EndpointURL)
	base := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	types := in.IncludedEventTypes
	if len(types) == 0 {
		types = slices.Clone(Types)
	}
	rec := subscriptionRecord{Subscription: Subscription{Vault: strings.ToLower(vault), Name: name, EndpointBaseURL: base.String(),
		IncludedEventTypes: types, SubjectBeginsWith: in.SubjectBeginsWith, Schema: in.Schema, Created: p.opts.Now().UTC()}}
	parts, _ := json.Marshal(sealedParts{EndpointURL: in.EndpointURL, Secret: secret})
	sealed, err := p.seal.Seal(parts, subscriptionAAD(vault, name))
	clear(parts)
	if err != nil {
		return Subscription{}, "", fmt.Errorf("seal the subscription's endpoint and secret: %w", err)
	}
	rec.Sealed = sealed
	err = p.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketSubscriptions)
		if b.Get(subscriptionID(vault, name)) != nil {
			return fault.New(fault.Conflict, "Conflict", "event subscription '%s' was created meanwhile on vault '%s'", name, vault)
		}
		if n := countPrefix(b, []byte(strings.ToLower(vault)+"/")); n >= maxSubscriptionsPerVault {
			return invalid("vault '%s' has %d event subscriptions, the most it may have; delete one first", vault, n)
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(subscriptionID(vault, name), raw)
	})
	if err != nil {
		return Subscription{}, "", err
	}
	p.log.Info("event subscription created", "vault", vault, "subscription", name, "endpoint", rec.EndpointBaseURL, "schema", rec.Schema)
	return rec.Subscription, secret, nil
}

func countPrefix(b kv.Bucket, prefix []byte) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// Get returns a vault's subscription, without its secret.
func (p *Publisher) Get(ctx context.Context, vault, name string) (Subscription, error) {
	var out Subscription
	err := p.view(ctx, func(b kv.Bucket) error {
		raw := b.Get(subscriptionID(vault, name))
		if raw == nil {
			return fault.New(fault.NotFound, "ResourceNotFound", "vault '%s' has no event subscription named '%s'; list them with GET …/providers/Microsoft.EventGrid/eventSubscriptions", vault, fault.Shorten(name))
		}
		var rec subscriptionRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		out = rec.Subscription
		return nil
	})
	return out, err
}

// List returns a vault's subscriptions by name, without their secrets.
func (p *Publisher) List(ctx context.Context, vault string) ([]Subscription, error) {
	recs, err := p.records(ctx, vault)
	out := make([]Subscription, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Subscription)
	}
	return out, err
}

func (p *Publisher) records(ctx context.Context, vault string) ([]subscriptionRecord, error) {
	var out []subscriptionRecord
	prefix := []byte(strings.ToLower(vault) + "/")
	err := p.view(ctx, func(b kv.Bucket) error {
		c := b.Cursor()
		for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
			var rec subscriptionRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("decode event subscription %q: %w", k, err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Delete removes a subscription; it reports whether there was one.
// Deliveries already being tried for it end with their current attempt.
func (p *Publisher) Delete(ctx context.Context, vault, name string) (bool, error) {
	found := false
	err := p.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketSubscriptions)
		found = b.Get(subscriptionID(vault, name)) != nil
		return b.Delete(subscriptionID(vault, name))
	})
	if found && err == nil {
		p.log.Info("event subscription deleted", "vault", vault, "subscription", name)
	}
	return found, err
}

// DeleteVault removes every subscription of a purged vault.
func (p *Publisher) DeleteVault(ctx context.Context, vault string) error {
	return p.db.Update(ctx, func(tx kv.Tx) error {
		return kv.DeletePrefix(tx.Bucket(bucketSubscriptions), []byte(strings.ToLower(vault)+"/"))
	})
}

func (p *Publisher) view(ctx context.Context, fn func(b kv.Bucket) error) error {
	return p.db.View(ctx, func(tx kv.Tx) error { return fn(tx.Bucket(bucketSubscriptions)) })
}

// Publish queues ev for the subscriptions of its vault that want it. It
// never waits: with the queue full the event is dropped and logged, and the
// receivers' periodic key checks still see the change.
func (p *Publisher) Publish(ev Event) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	select {
	case p.queue <- ev:
	default:
		p.log.Warn("key event dropped: the delivery queue is full", "vault", ev.Data.VaultName, "eventType", ev.EventType, "subject", ev.Subject)
	}
}

func (p *Publisher) dispatch() {
	for ev := range p.queue {
		recs, err := p.records(p.ctx, ev.Data.VaultName)
		if err != nil {
			p.log.Error("key event not delivered: read the subscriptions", "vault", ev.Data.VaultName, "err", err)
			continue
		}
		for _, rec := range recs {
			if !rec.wants(ev) {
				continue
			}
			select {
			case p.slots <- struct{}{}:
			default:
				p.log.Warn("key event dropped: too many deliveries in flight", "subscription", rec.Name, "eventType", ev.EventType)
				continue
			}
			p.wg.Go(func() {
				defer func() { <-p.slots }()
				p.deliver(rec, ev)
			})
		}
	}
}

func (r subscriptionRecord) wants(ev Event) bool {
	return slices.Contains(r.IncludedEventTypes, ev.EventType) && strings.HasPrefix(strings.ToLower(ev.Subject), strings.ToLower(r.SubjectBeginsWith))
}

// deliver tries ev on one subscription until it is accepted, refused for
// good (400, 413), the attempts are spent, the subscription is deleted, or
// the publisher closes.
func (p *Publisher) deliver(rec subscriptionRecord, ev Event) {
	parts, err := p.open(rec)
	if err != nil {
		p.log.Error("key event not delivered: open the subscription", "subscription", rec.Name, "err", err)
		return
	}
	body, contentType := encode(ev, rec.Schema)
	wait := p.opts.FirstRetry
	for attempt := 1; ; attempt++ {
		status, err := p.post(parts, body, contentType, "Notification", rec.Name, attempt)
		switch {
		case err == nil && status/100 == 2:
			p.log.Debug("key event delivered", "subscription", rec.Name, "eventType", ev.EventType, "attempt", attempt)
			return
		case err == nil && (status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge):
			p.log.Warn("key event refused by the endpoint; not retried", "subscription", rec.Name, "eventType", ev.EventType, "status", status)
			return
		case attempt >= p.opts.Attempts:
			p.log.Warn("key event not delivered after every attempt", "subscription", rec.Name, "eventType", ev.EventType,
				"attempts", attempt, "status", status, "err", err)
			return
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxRetryWait)
		if _, err := p.Get(p.ctx, rec.Vault, rec.Name); err != nil {
			return // deleted meanwhile
		}
	}
}

func (p *Publisher) open(rec subscriptionRecord) (sealedParts, error) {
	raw, err := p.seal.Open(rec.Sealed, subscriptionAAD(rec.Vault, rec.Name))
	if err != nil {
		return sealedParts{}, err
	}
	defer clear(raw)
	var parts sealedParts
	return parts, json.Unmarshal(raw, &parts)
}

// encode is ev's delivery body: an Event Grid array of one, or one CloudEvent.
func encode(ev Event, schema string) ([]byte, string) {
	if schema == SchemaCloudEvents {
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "type": ev.EventType, "source": ev.Topic,
			"subject": ev.Subject, "id": ev.ID, "time": ev.EventTime, "datacontenttype": "application/json", "data": ev.Data})
		return body, "application/cloudevents+json; charset=utf-8"
	}
	body, _ := json.Marshal([]Event{ev})
	return body, "application/json"
}

// post sends one signed delivery with Event Grid's headers and returns the
// endpoint's status. The endpoint's answer is read (bounded) and dropped.
func (p *Publisher) post(parts sealedParts, body []byte, contentType, kind, sub string, attempt int) (int, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, parts.EndpointURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("aeg-event-type", kind)
	req.Header.Set("aeg-subscription-name", strings.ToUpper(sub))
	req.Header.Set("aeg-delivery-count", strconv.Itoa(attempt-1))
	req.Header.Set(SignatureHeader, Sign([]byte(parts.Secret), body, p.opts.Now()))
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return 0, redact(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

func (p *Publisher) timeout() time.Duration {
	if p.opts.Client.Timeout > 0 {
		return p.opts.Client.Timeout
	}
	return 10 * time.Second
}

// redact drops the URL from a client error: its query may hold a secret.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// handshake proves the endpoint wants the events before a subscription is
// stored, as Event Grid does: for its schema, a SubscriptionValidationEvent
// answered 200 with {"validationResponse": <the code>}; for CloudEvents,
// the abuse-protection OPTIONS request answered with WebHook-Allowed-Origin.
func (p *Publisher) handshake(ctx context.Context, topic, name string, in SubscriptionInput, secret []byte) error {
	refused := func(format string, args ...any) error {
		return fault.New(fault.Invalid, "EndpointValidationFailed", "the endpoint did not validate the subscription: "+format, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	if in.Schema == SchemaCloudEvents {
		req, err := http.NewRequestWithContext(ctx, http.MethodOptions, in.EndpointURL, nil)
		if err != nil {
			return refused("%v", redact(err))
		}
		req.Header.Set("WebHook-Request-Origin", "eventgrid.sealwatch")
		resp, err := p.opts.Client.Do(req)
		if err != nil {
			return refused("%v; check that it is up and reachable from the vault", redact(err))
		}
		resp.Body.Close()
		if o := resp.Header.Get("WebHook-Allowed-Origin"); resp.StatusCode/100 != 2 || (o != "*" && o != "eventgrid.sealwatch") {
			return refused("OPTIONS answered %d without WebHook-Allowed-Origin: eventgrid.sealwatch (the CloudEvents abuse-protection handshake)", resp.StatusCode)
		}
		return nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	code := strings.ToUpper(fmt.Sprintf("%x", b))
	ev := newEvent(SubscriptionValidation, topic, "", p.opts.Now(), KeyData{})
	body, _ := json.Marshal([]map[string]any{{"id": ev.ID, "topic": topic, "subject": "", "eventType": SubscriptionValidation,
		"eventTime": ev.EventTime, "data": map[string]string{"validationCode": code, "validationUrl": ""},
		"dataVersion": "2", "metadataVersion": "1"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.EndpointURL, bytes.NewReader(body))
	if err != nil {
		return refused("%v", redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", "SubscriptionValidation")
	req.Header.Set("aeg-subscription-name", strings.ToUpper(name))
	req.Header.Set(SignatureHeader, Sign(secret, body, p.opts.Now()))
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return refused("%v; check that it is up and reachable from the vault", redact(err))
	}
	defer resp.Body.Close()
	var answer struct {
		ValidationResponse string `json:"validationResponse"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &answer) != nil || answer.ValidationResponse != code {
		return refused("it answered %d without {\"validationResponse\": <data.validationCode>} (the Event Grid handshake)", resp.StatusCode)
	}
	return nil
}
