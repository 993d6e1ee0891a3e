package keyevents

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SignatureHeader carries a delivery's signature: "t=<unix seconds>,v1=<hex
// HMAC-SHA256(secret, t + "." + body)>". The time is signed with the body,
// so a delivery replayed later than MaxSkew is refused whole.
const SignatureHeader = "Sealwatch-Signature"

// MaxSkew is how far a signed delivery's time may be from the receiver's clock.
const MaxSkew = 5 * time.Minute

// MaxBody bounds a delivery's body, as Event Grid bounds a batch (1 MB).
const MaxBody = 1 << 20

// maxEvents bounds the events one delivery may carry.
const maxEvents = 1000

// Errors a receiver tells apart.
var (
	ErrBadSignature = errors.New("key event delivery signature missing, wrong or too old")
	ErrBadDelivery  = errors.New("key event delivery is not Event Grid or CloudEvents JSON")
)

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a SignatureHeader value against body and any of secrets,
// at now. It wraps ErrBadSignature, never naming a secret.
func Verify(header string, body []byte, now time.Time, secrets ...[]byte) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%s must be t=<unix seconds>,v1=<hex>: %w", SignatureHeader, ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("signed %s from the receiver's clock, more than %s: %w", d.Round(time.Second), MaxSkew, ErrBadSignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("the v1 signature is not hex: %w", ErrBadSignature)
	}
	for _, s := range secrets {
		if len(s) > 0 && hmac.Equal(got, mac(s, ts, body)) {
			return nil
		}
	}
	return fmt.Errorf("the v1 signature matches no subscription secret: %w", ErrBadSignature)
}

// Delivery is what one webhook call carried: either a validation handshake
// (ValidationCode set) or events.
type Delivery struct {
	Events         []Event
	ValidationCode string
	CloudEvents    bool // the CloudEvents 1.0 schema, not Event Grid's
}

// wireEvent reads both schemas: Event Grid (eventType, topic, eventTime) and
// CloudEvents 1.0 (specversion, type, source, time).
type wireEvent struct {
	ID              string          `json:"id"`
	Topic           string          `json:"topic"`
	Subject         string          `json:"subject"`
	EventType       string          `json:"eventType"`
	EventTime       *time.Time      `json:"eventTime"`
	DataVersion     string          `json:"dataVersion"`
	MetadataVersion string          `json:"metadataVersion"`
	SpecVersion     string          `json:"specversion"`
	Type            string          `json:"type"`
	Source          string          `json:"source"`
	Time            *time.Time      `json:"time"`
	Data            json.RawMessage `json:"data"`
}

type validationData struct {
	ValidationCode string `json:"validationCode"`
}

// Parse reads a delivery: a JSON array of Event Grid events, or one
// CloudEvent or an array of them. Bad input wraps ErrBadDelivery, naming
// the first bad event; nothing is repaired.
func Parse(body []byte) (Delivery, error) {
	if len(body) > MaxBody {
		return Delivery{}, fmt.Errorf("the body is %d bytes, over %d: %w", len(body), MaxBody, ErrBadDelivery)
	}
	if !utf8.Valid(body) {
		return Delivery{}, fmt.Errorf("the body is not valid UTF-8: %w", ErrBadDelivery)
	}
	trimmed := bytes.TrimSpace(body)
	var raw []wireEvent
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return Delivery{}, fmt.Errorf("decode the events: %v: %w", err, ErrBadDelivery)
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		var one wireEvent
		if err := json.Unmarshal(trimmed, &one); err != nil {
			return Delivery{}, fmt.Errorf("decode the event: %v: %w", err, ErrBadDelivery)
		}
		if one.SpecVersion == "" {
			return Delivery{}, fmt.Errorf("a single event object must be a CloudEvent (specversion 1.0); Event Grid events come in an array: %w", ErrBadDelivery)
		}
		raw = []wireEvent{one}
	default:
		return Delivery{}, fmt.Errorf("the body must be a JSON array or object: %w", ErrBadDelivery)
	}
	if len(raw) == 0 || len(raw) > maxEvents {
		return Delivery{}, fmt.Errorf("a delivery carries 1 to %d events, not %d: %w", maxEvents, len(raw), ErrBadDelivery)
	}
	var d Delivery
	for i, w := range raw {
		ev, err := w.event()
		if err != nil {
			return Delivery{}, fmt.Errorf("event %d: %v: %w", i, err, ErrBadDelivery)
		}
		if i > 0 && d.CloudEvents != (w.SpecVersion != "") {
			return Delivery{}, fmt.Errorf("event %d: one delivery mixes the Event Grid and CloudEvents schemas: %w", i, ErrBadDelivery)
		}
		d.CloudEvents = w.SpecVersion != ""
		if ev.EventType == SubscriptionValidation {
			var v validationData
			if err := json.Unmarshal(w.Data, &v); err != nil || v.ValidationCode == "" || len(raw) != 1 {
				return Delivery{}, fmt.Errorf("event %d: a validation event comes alone, with data.validationCode: %w", i, ErrBadDelivery)
			}
			d.ValidationCode = v.ValidationCode
			return d, nil
		}
		d.Events = append(d.Events, ev)
	}
	return d, nil
}

func (w wireEvent) event() (Event, error) {
	ev := Event{ID: w.ID, Topic: w.Topic, Subject: w.Subject, EventType: w.EventType,
		DataVersion: w.DataVersion, MetadataVersion: w.MetadataVersion}
	at := w.EventTime
	if w.SpecVersion != "" {
		if w.SpecVersion != "1.0" {
			return Event{}, fmt.Errorf("specversion %q is not 1.0", w.SpecVersion)
		}
		ev.EventType, ev.Topic, at = w.Type, w.Source, w.Time
	}
	switch {
	case ev.ID == "":
		return Event{}, errors.New("the event has no id")
	case ev.EventType == "":
		return Event{}, errors.New("the event has no type")
	}
	if at != nil {
		ev.EventTime = *at
	}
	if ev.EventType == SubscriptionValidation {
		return ev, nil
	}
	if len(w.Data) > 0 && !bytes.Equal(w.Data, []byte("null")) {
		if err := json.Unmarshal(w.Data, &ev.Data); err != nil {
			return Event{}, fmt.Errorf("data is not a Key Vault event's: %v", err)
		}
	}
	return ev, nil
}
