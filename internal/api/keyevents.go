package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyevents"
	"github.com/sealwatch/sealwatch/internal/vault"
)

// KeyEventReceiver takes the key events delivered to this node: it only
// ever triggers checks of the keys they name, so it never blocks.
type KeyEventReceiver interface {
	// Secret is what deliveries are signed with (SignatureHeader), or
	// carry as ?code= when the sender cannot sign (the cloud's Event Grid).
	Secret() []byte
	Receive(events []keyevents.Event)
}

const eventSubscriptionsPath = vaultsPath + "/{name}/providers/Microsoft.EventGrid/eventSubscriptions"

// routeKeyEventSubscriptions serves a vault's event subscriptions, as
// Event Grid subscriptions on the vault's resource; each call is audited.
func (s *Server) routeKeyEventSubscriptions() {
	s.mgmt("PUT "+eventSubscriptionsPath+"/{eventSub}", "EventSubscriptionCreate", s.handlePutEventSubscription)
	s.mgmt("GET "+eventSubscriptionsPath+"/{eventSub}", "EventSubscriptionGet", s.handleGetEventSubscription)
	s.mgmt("DELETE "+eventSubscriptionsPath+"/{eventSub}", "EventSubscriptionDelete", s.handleDeleteEventSubscription)
	s.mgmt("GET "+eventSubscriptionsPath, "EventSubscriptionList", s.handleListEventSubscriptions)
}

type eventSubscriptionBody struct {
	Properties struct {
		Destination struct {
			EndpointType string `json:"endpointType"`
			Properties   struct {
				EndpointURL     string `json:"endpointUrl,omitempty"`
				EndpointBaseURL string `json:"endpointBaseUrl,omitempty"`
				SigningSecret   string `json:"signingSecret,omitempty"`
			} `json:"properties"`
		} `json:"destination"`
		Filter struct {
			IncludedEventTypes []string `json:"includedEventTypes"`
			SubjectBeginsWith  string   `json:"subjectBeginsWith,omitempty"`
		} `json:"filter"`
		EventDeliverySchema string `json:"eventDeliverySchema"`
		Topic               string `json:"topic,omitempty"`
		ProvisioningState   string `json:"provisioningState,omitempty"`
		// SigningSecret is returned once, by the call that creates the
		// subscription; never by a read.
		SigningSecret string `json:"signingSecret,omitempty"`
	} `json:"properties"`
}

type eventSubscriptionResource struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties any    `json:"properties"`
}

func subscriptionResource(vaultID string, sub keyevents.Subscription, secret string) eventSubscriptionResource {
	var b eventSubscriptionBody
	p := &b.Properties
	p.Destination.EndpointType = "WebHook"
	p.Destination.Properties.EndpointBaseURL = sub.EndpointBaseURL
	p.Filter.IncludedEventTypes, p.Filter.SubjectBeginsWith = sub.IncludedEventTypes, sub.SubjectBeginsWith
	p.EventDeliverySchema, p.Topic, p.ProvisioningState, p.SigningSecret = sub.Schema, vaultID, "Succeeded", secret
	return eventSubscriptionResource{ID: vaultID + "/providers/Microsoft.EventGrid/eventSubscriptions/" + sub.Name, Name: sub.Name,
		Type: "Microsoft.EventGrid/eventSubscriptions", Properties: p}
}

// eventVault is the vault the path names, in the path's resource group.
func (s *Server) eventVault(r *http.Request) (*vault.Vault, error) {
	if s.cfg.KeyEvents == nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "NotFound", Message: "this server publishes no key events"}
	}
	v, err := s.cfg.Vault.GetVault(r.Context(), r.PathValue("name"))
	if errors.Is(err, vault.ErrVaultNotFound) || (err == nil && !sameResourceGroup(r, v.ID)) {
		return nil, vaultNotFoundIn(r)
	}
	return v, err
}

func (s *Server) handlePutEventSubscription(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.eventVault(r)
	if err != nil {
		return 0, nil, err
	}
	var in eventSubscriptionBody
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	p := in.Properties
	if t := p.Destination.EndpointType; t != "" && t != "WebHook" {
		return 0, nil, badRequest("InvalidEventSubscription", fmt.Sprintf("endpointType %q is not served; use WebHook", truncate(t, 40)))
	}
	sub, secret, err := s.cfg.KeyEvents.Create(r.Context(), v.Name, v.ID, r.PathValue("eventSub"), keyevents.SubscriptionInput{
		EndpointURL: p.Destination.Properties.EndpointURL, IncludedEventTypes: p.Filter.IncludedEventTypes,
		SubjectBeginsWith: p.Filter.SubjectBeginsWith, Schema: p.EventDeliverySchema, Secret: p.Destination.Properties.SigningSecret})
	if err != nil {
		return 0, nil, err
	}
	if p.Destination.Properties.SigningSecret != "" {
		secret = "" // the caller's own: not echoed
	}
	return http.StatusCreated, subscriptionResource(v.ID, sub, secret), nil
}

func (s *Server) handleGetEventSubscription(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.eventVault(r)
	if err != nil {
		return 0, nil, err
	}
	sub, err := s.cfg.KeyEvents.Get(r.Context(), v.Name, r.PathValue("eventSub"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, subscriptionResource(v.ID, sub, ""), nil
}

func (s *Server) handleListEventSubscriptions(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.eventVault(r)
	if err != nil {
		return 0, nil, err
	}
	subs, err := s.cfg.KeyEvents.List(r.Context(), v.Name)
	if err != nil {
		return 0, nil, err
	}
	out := make([]eventSubscriptionResource, 0, len(subs))
	for _, sub := range subs {
		out = append(out, subscriptionResource(v.ID, sub, ""))
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

func (s *Server) handleDeleteEventSubscription(r *http.Request, _ *identity.Claims) (int, any, error) {
	v, err := s.eventVault(r)
	if err != nil {
		return 0, nil, err
	}
	found, err := s.cfg.KeyEvents.Delete(r.Context(), v.Name, r.PathValue("eventSub"))
	switch {
	case err != nil:
		return 0, nil, err
	case !found:
		return http.StatusNoContent, nil, nil // ARM: deleting what is not there succeeds
	}
	return http.StatusOK, nil, nil
}

// routeKeyEventReceiver serves the node's endpoint for key events: from a
// Sealwatch vault's subscription, signed, or from the cloud's Event Grid,
// with the node's secret as ?code=.
func (s *Server) routeKeyEventReceiver() {
	s.handle("POST /keyEvents", s.handleKeyEvents)
	s.handle("OPTIONS /keyEvents", s.handleKeyEventsOptions)
	s.handle("POST /keyEvents/listSecret", s.handleKeyEventsSecret)
}

// handleKeyEventsSecret gives an Owner the endpoint and the secret to
// subscribe this node to a vault's key events with.
func (s *Server) handleKeyEventsSecret(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireOwner(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"endpointUrl": "https://" + r.Host + "/keyEvents",
		"secret": string(s.cfg.KeyEventReceiver.Secret())})
	return nil
}

// handleKeyEvents authenticates a delivery before reading it, answers the
// validation handshake, and hands the events to the receiver, which only
// triggers key checks: a delivery can make a check come sooner, nothing
// else.
func (s *Server) handleKeyEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, keyevents.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "PayloadTooLarge",
			Message: fmt.Sprintf("a key event delivery is at most %d bytes", keyevents.MaxBody)}
	case err != nil:
		return badRequest("BadRequest", "the request body could not be read")
	}
	if err := s.authenticKeyEvents(r, body); err != nil {
		return err
	}
	d, err := keyevents.Parse(body)
	if err != nil {
		return badRequest("InvalidKeyEvent", err.Error())
	}
	if d.ValidationCode != "" {
		writeJSON(w, http.StatusOK, map[string]string{"validationResponse": d.ValidationCode})
		return nil
	}
	s.cfg.KeyEventReceiver.Receive(d.Events)
	w.WriteHeader(http.StatusOK)
	return nil
}

// authenticKeyEvents accepts a delivery signed with the node's secret, or
// carrying it as ?code=; anything else is 401, before the body is read as
// events.
func (s *Server) authenticKeyEvents(r *http.Request, body []byte) error {
	secret := s.cfg.KeyEventReceiver.Secret()
	if sig := r.Header.Get(keyevents.SignatureHeader); sig != "" {
		if err := keyevents.Verify(sig, body, time.Now(), secret); err != nil {
			return &Error{Status: http.StatusUnauthorized, Code: "Unauthorized",
				Message: err.Error() + "; sign deliveries with the node's key events secret (see docs/guide.md, Key events)"}
		}
		return nil
	}
	if code := r.URL.Query().Get("code"); code != "" && subtle.ConstantTimeCompare([]byte(code), secret) == 1 {
		return nil
	}
	return &Error{Status: http.StatusUnauthorized, Code: "Unauthorized",
		Message: "a key event delivery must be signed (" + keyevents.SignatureHeader + ") or carry the node's key events secret as ?code=; see docs/guide.md, Key events"}
}

// handleKeyEventsOptions answers the CloudEvents abuse-protection
// handshake: this endpoint takes deliveries from any origin (each is
// authenticated on its own).
func (s *Server) handleKeyEventsOptions(w http.ResponseWriter, r *http.Request) error {
	origin := r.Header.Get("WebHook-Request-Origin")
	if origin == "" || len(origin) > 256 || slices.ContainsFunc([]byte(origin), func(c byte) bool { return c < 0x21 || c > 0x7e }) {
		return badRequest("BadRequest", "the CloudEvents handshake sends WebHook-Request-Origin with the sender's host name")
	}
	w.Header().Set("WebHook-Allowed-Origin", origin)
	w.Header().Set("WebHook-Allowed-Rate", "*")
	w.WriteHeader(http.StatusOK)
	return nil
}
