// Package keyevents carries key vault events in the cloud's Event Grid
// shapes: the Sealwatch vault publishes them to signed webhook
// subscriptions, and a node reads them — from its own vault, a remote
// Sealwatch vault or the cloud's Event Grid — to re-check a key at once.
// An event only ever triggers a check; it never decides a key's state.
package keyevents

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Event types. The first six are the cloud's Key Vault system events, with
// their names; the vault has no event for disabling, enabling, deleting,
// recovering or purging a key, so Sealwatch names its own in the same style
// under its own namespace.
const (
	KeyNewVersionCreated     = "Microsoft.KeyVault.KeyNewVersionCreated"
	KeyNearExpiry            = "Microsoft.KeyVault.KeyNearExpiry"
	KeyExpired               = "Microsoft.KeyVault.KeyExpired"
	VaultAccessPolicyChanged = "Microsoft.KeyVault.VaultAccessPolicyChanged"

	KeyDisabled  = "Sealwatch.KeyVault.KeyDisabled"
	KeyEnabled   = "Sealwatch.KeyVault.KeyEnabled"
	KeyDeleted   = "Sealwatch.KeyVault.KeyDeleted"
	KeyRecovered = "Sealwatch.KeyVault.KeyRecovered"
	KeyPurged    = "Sealwatch.KeyVault.KeyPurged"
	VaultDeleted = "Sealwatch.KeyVault.VaultDeleted"

	// SubscriptionValidation is the handshake Event Grid sends a new
	// webhook: the endpoint answers {"validationResponse": data.validationCode}.
	SubscriptionValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// Types are the key event types the vault publishes, in the order docs list them.
var Types = []string{KeyNewVersionCreated, KeyDisabled, KeyEnabled, KeyDeleted, KeyRecovered, KeyPurged,
	VaultAccessPolicyChanged, VaultDeleted}

// Event is one event in the Event Grid event schema.
type Event struct {
	ID              string    `json:"id"`
	Topic           string    `json:"topic"`   // the vault's resource ID
	Subject         string    `json:"subject"` // the key's name; the vault's for vault events
	EventType       string    `json:"eventType"`
	EventTime       time.Time `json:"eventTime"`
	Data            KeyData   `json:"data"`
	DataVersion     string    `json:"dataVersion"`
	MetadataVersion string    `json:"metadataVersion"`
}

// KeyData is the data of a Key Vault event, spelled as the cloud sends it.
type KeyData struct {
	ID         string `json:"Id"`         // the key's versioned ID; the vault URI for vault events
	VaultName  string `json:"VaultName"`  // the vault's name
	ObjectType string `json:"ObjectType"` // "Key" or "Vault"
	ObjectName string `json:"ObjectName"` // the key's name, or the vault's
	Version    string `json:"Version"`    // the key version, or ""
	NBF        *int64 `json:"NBF,omitempty"`
	EXP        *int64 `json:"EXP,omitempty"`
}

// KeyEvent is an event about one key (version "" for the key as a whole).
func KeyEvent(eventType, topic, vaultName, keyID, keyName, version string, nbf, exp *int64, at time.Time) Event {
	return newEvent(eventType, topic, keyName, at, KeyData{ID: keyID, VaultName: vaultName, ObjectType: "Key",
		ObjectName: keyName, Version: version, NBF: nbf, EXP: exp})
}

// VaultEvent is an event about a vault as a whole (its access policies).
func VaultEvent(eventType, topic, vaultName, vaultURI string, at time.Time) Event {
	return newEvent(eventType, topic, vaultName, at, KeyData{ID: vaultURI, VaultName: vaultName, ObjectType: "Vault", ObjectName: vaultName})
}

func newEvent(eventType, topic, subject string, at time.Time, d KeyData) Event {
	return Event{ID: newID(), Topic: topic, Subject: subject, EventType: eventType, EventTime: at.UTC(),
		Data: d, DataVersion: "1", MetadataVersion: "1"}
}

// newID is a random UUID (version 4), as Event Grid's event IDs are.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AboutKeys reports whether an event may concern the use of a key in the
// vault: every key event, and changes to the vault's access policies or its
// deletion, which can take a principal's use of every key away.
func (e Event) AboutKeys() bool {
	switch e.EventType {
	case KeyNewVersionCreated, KeyNearExpiry, KeyExpired, VaultAccessPolicyChanged,
		KeyDisabled, KeyEnabled, KeyDeleted, KeyRecovered, KeyPurged, VaultDeleted:
		return true
	}
	return false
}

// WholeVault reports whether the event concerns every key of its vault.
func (e Event) WholeVault() bool {
	return e.EventType == VaultAccessPolicyChanged || e.EventType == VaultDeleted
}
