package vault

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// Base64URL is a byte string that travels as unpadded base64url, as every
// binary field of the Key Vault API does. Decoding also accepts padding and
// the standard alphabet, which some clients send.
type Base64URL []byte

func (b Base64URL) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

func (b *Base64URL) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("expected a base64url string: %w", err)
	}
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	out, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		// The decoder's error names an offset, not the input, so it is safe to wrap.
		return fmt.Errorf("invalid base64url value: %w", err)
	}
	*b = out
	return nil
}

// JSONWebKey is the public view of a key: the cloud's key bundle "key". It has
// no private fields at all, so no code path can serialise d, p, q or k.
type JSONWebKey struct {
	KID    string    `json:"kid"`
	Kty    string    `json:"kty"`
	KeyOps []string  `json:"key_ops"`
	N      Base64URL `json:"n,omitempty"`
	E      Base64URL `json:"e,omitempty"`
}

// ImportJSONWebKey is a key as a caller imports it, private half included.
// Its String and LogValue methods redact it so that it cannot reach a log.
type ImportJSONWebKey struct {
	Kty    string    `json:"kty"`
	KeyOps []string  `json:"key_ops,omitempty"`
	N      Base64URL `json:"n,omitempty"`
	E      Base64URL `json:"e,omitempty"`
	D      Base64URL `json:"d,omitempty"`
	P      Base64URL `json:"p,omitempty"`
	Q      Base64URL `json:"q,omitempty"`
	DP     Base64URL `json:"dp,omitempty"`
	DQ     Base64URL `json:"dq,omitempty"`
	QI     Base64URL `json:"qi,omitempty"`
	K      Base64URL `json:"k,omitempty"`
}

func (k ImportJSONWebKey) String() string {
	return "JWK{kty=" + printable(k.Kty) + ", private parts redacted}"
}
func (k ImportJSONWebKey) GoString() string           { return k.String() }
func (k ImportJSONWebKey) LogValue() slog.Value       { return slog.StringValue(k.String()) }
func (k ImportJSONWebKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// KeyAttributes are a key version's attributes. Times are Unix seconds. On
// input, nil fields are "absent"; Created, Updated, RecoveryLevel and
// RecoverableDays are output only.
type KeyAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
}

// KeyBundle is a key version as GET /keys/{name}/{version} returns it.
type KeyBundle struct {
	Key        JSONWebKey        `json:"key"`
	Attributes KeyAttributes     `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
}

// KeyItem is one entry of a key or version listing. For keys the kid has no
// version; for versions it has.
type KeyItem struct {
	KID        string            `json:"kid"`
	Attributes KeyAttributes     `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
}

// DeletedKeyBundle is a soft-deleted key: its latest version and when it goes.
type DeletedKeyBundle struct {
	KeyBundle
	RecoveryID         string `json:"recoveryId"`
	DeletedDate        int64  `json:"deletedDate"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate"`
}

// DeletedKeyItem is one entry of the deleted-keys listing.
type DeletedKeyItem struct {
	KeyItem
	RecoveryID         string `json:"recoveryId"`
	DeletedDate        int64  `json:"deletedDate"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate"`
}

// CreateKeyParameters is the body of POST /keys/{name}/create.
type CreateKeyParameters struct {
	Kty            string            `json:"kty"`
	KeySize        *int              `json:"key_size,omitempty"`
	PublicExponent *int              `json:"public_exponent,omitempty"`
	KeyOps         []string          `json:"key_ops,omitempty"`
	Attributes     *KeyAttributes    `json:"attributes,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Curve          string            `json:"crv,omitempty"` // EC is not supported; refused when set
}

// ImportKeyParameters is the body of PUT /keys/{name}.
type ImportKeyParameters struct {
	HSM        *bool             `json:"Hsm,omitempty"`
	Key        ImportJSONWebKey  `json:"key"`
	Attributes *KeyAttributes    `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// UpdateKeyParameters is the body of PATCH /keys/{name}/{version}. Absent
// (nil) fields keep their value; an empty, non-nil Tags or KeyOps clears it.
type UpdateKeyParameters struct {
	KeyOps     []string          `json:"key_ops,omitempty"`
	Attributes *KeyAttributes    `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// KeyOperationParameters is the body of wrapkey, unwrapkey, encrypt and
// decrypt. IV, AAD and Tag belong to A256GCM only.
type KeyOperationParameters struct {
	Algorithm string    `json:"alg"`
	Value     Base64URL `json:"value"`
	IV        Base64URL `json:"iv,omitempty"`
	AAD       Base64URL `json:"aad,omitempty"`
	Tag       Base64URL `json:"tag,omitempty"`
}

// KeyOperationResult is the answer to a key operation. KID always names the
// exact version that did the work, never "latest".
type KeyOperationResult struct {
	KID   string    `json:"kid"`
	Value Base64URL `json:"value"`
	IV    Base64URL `json:"iv,omitempty"`
	Tag   Base64URL `json:"tag,omitempty"`
	AAD   Base64URL `json:"aad,omitempty"`
}

// RotationPolicy is a key's rotation policy (GET/PUT /keys/{name}/rotationpolicy).
type RotationPolicy struct {
	ID              string                    `json:"id,omitempty"`
	LifetimeActions []LifetimeAction          `json:"lifetimeActions"`
	Attributes      *RotationPolicyAttributes `json:"attributes,omitempty"`
}

// LifetimeAction is one trigger and the action it fires.
type LifetimeAction struct {
	Trigger LifetimeActionTrigger `json:"trigger"`
	Action  LifetimeActionType    `json:"action"`
}

// LifetimeActionTrigger holds exactly one ISO 8601 duration.
type LifetimeActionTrigger struct {
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// LifetimeActionType is "Rotate" or "Notify".
type LifetimeActionType struct {
	Type string `json:"type"`
}

// RotationPolicyAttributes: ExpiryTime is the ISO 8601 lifetime given to
// versions the policy creates; Created and Updated are Unix seconds.
type RotationPolicyAttributes struct {
	ExpiryTime string `json:"expiryTime,omitempty"`
	Created    *int64 `json:"created,omitempty"`
	Updated    *int64 `json:"updated,omitempty"`
}
