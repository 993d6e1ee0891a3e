// Package awskms is the keyring's driver for AWS Key Management Service,
// through the official AWS SDK for Go v2: an account key is wrapped with
// Encrypt and unwrapped with Decrypt under a symmetric KMS key, named by its
// key ARN, key ID, alias name or alias ARN.
//
// Versions. KMS rotates a key's backing material inside the key: the key
// ARN stays, and Decrypt finds the material a ciphertext was made with. So
// the version a wrapping records (Wrapped.KeyURI, KeyState.KeyURI) is the
// key ARN that Encrypt used, and the key (KeyState.Key) is the key as
// configured. Configured by key ARN, the two are one and KMS's own rotation
// needs nothing from Sealwatch. Configured by alias, retargeting the alias
// to a new key is a new version: the keyring rewraps its account keys under
// the new key at its next check, and the old key can be disabled once
// `sealwatch cluster key-usage` shows it wraps nothing. Naming another key
// or alias in the cluster's properties is a replacement.
//
// Every call carries an encryption context binding the wrapping to the
// cluster, the storage resource and the key as configured; KMS refuses a
// Decrypt under another context, and writes the context to CloudTrail.
//
// The service's answers become the keyring's typed errors: a disabled key,
// one pending deletion or not found, a refused credential — revoked;
// AccessDeniedException — access denied; throttling, 5xx and transport
// failures — unreachable; a damaged wrapping or one another key made —
// integrity. Errors carry the operation, the key, the HTTP status and the
// service's error code — never its message text, credentials or key bytes.
package awskms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// Provider names wrappings made by this driver.
const Provider = "aws-kms"

// Algorithm is the only one the driver uses: KMS's symmetric encryption
// (AES-256-GCM inside the service).
const Algorithm = "SYMMETRIC_DEFAULT"

// Encryption context keys.
const (
	ContextCluster  = "sealwatch:cluster"
	ContextResource = "sealwatch:resource"
	ContextKey      = "sealwatch:key"
)

// Config names one KMS key and how to reach it.
type Config struct {
	// KeyID is the key: a key ARN, a key ID, an alias name (alias/name) or
	// an alias ARN.
	KeyID  string
	Region string
	// Endpoint overrides the regional endpoint (a VPC endpoint, or a local
	// KMS for tests); "" uses the SDK's.
	Endpoint string
	// Credentials sign the requests: the access key the customer granted
	// kms:Encrypt, kms:Decrypt and kms:DescribeKey on the key.
	Credentials aws.CredentialsProvider
	// Cluster and Resource go into every encryption context.
	Cluster, Resource string
	// HTTPClient sends the requests; nil uses the SDK's default.
	HTTPClient *http.Client
	// MaxAttempts bounds the SDK's tries per call (default 2: the keyring's
	// probe retries on its own schedule and must answer within its timeout).
	MaxAttempts int
}

// KEK is one KMS key as a keyring.KEK.
type KEK struct {
	cfg    Config
	client *kms.Client
	// keyARN is set when KeyID is a key ARN: wrappings of any other key are
	// refused without a request.
	keyARN string
}

var _ keyring.KEK = (*KEK)(nil)

// New validates cfg and prepares the client; it makes no request.
func New(cfg Config) (*KEK, error) {
	switch {
	case cfg.KeyID == "":
		return nil, errors.New("awskms: a key is required: a key ARN, key ID, alias/name or alias ARN")
	case cfg.Region == "":
		return nil, errors.New("awskms: a region is required, such as eu-west-1")
	case cfg.Credentials == nil:
		return nil, errors.New("awskms: credentials are required: an access key ID and its secret")
	case cfg.Cluster == "" || cfg.Resource == "":
		return nil, errors.New("awskms: a cluster and a storage resource name the encryption context")
	}
	k := &KEK{cfg: cfg}
	if a, err := arn.Parse(cfg.KeyID); err == nil {
		if a.Service != "kms" || (!strings.HasPrefix(a.Resource, "key/") && !strings.HasPrefix(a.Resource, "alias/")) {
			return nil, fmt.Errorf("awskms: %s is not a KMS key or alias ARN", cfg.KeyID)
		}
		if a.Region != cfg.Region {
			return nil, fmt.Errorf("awskms: the key %s is in region %s, not %s", cfg.KeyID, a.Region, cfg.Region)
		}
		if strings.HasPrefix(a.Resource, "key/") {
			k.keyARN = cfg.KeyID
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 2
	}
	awsCfg := aws.Config{Region: cfg.Region, Credentials: cfg.Credentials, RetryMaxAttempts: cfg.MaxAttempts}
	if cfg.HTTPClient != nil {
		awsCfg.HTTPClient = cfg.HTTPClient
	}
	k.client = kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return k, nil
}

// String names the key: a %v of the KEK never prints its credentials.
func (k *KEK) String() string { return "awskms " + k.cfg.KeyID }

// GoString is String, for %#v.
func (k *KEK) GoString() string { return k.String() }

// String is the configuration without the credentials, so that a %v of
// it (or of a struct holding it) never prints the access key's secret.
func (c Config) String() string {
	return fmt.Sprintf("{KeyID:%s Region:%s Endpoint:%s Credentials:[redacted] Cluster:%s Resource:%s}", c.KeyID, c.Region, c.Endpoint, c.Cluster, c.Resource)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return "awskms.Config" + c.String() }

// context binds a wrapping to its cluster, resource and configured key.
func (k *KEK) context() map[string]string {
	return map[string]string{ContextCluster: k.cfg.Cluster, ContextResource: k.cfg.Resource, ContextKey: k.cfg.KeyID}
}

// Wrap encrypts aek under the key (through the alias, its current target);
// the result names the key ARN KMS used.
func (k *KEK) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.cfg.KeyID), Plaintext: aek,
		EncryptionContext: k.context(), EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	if err != nil {
		return keyring.Wrapped{}, k.mapErr(ctx, "encrypt", k.cfg.KeyID, err)
	}
	used := aws.ToString(out.KeyId)
	if !isKeyARN(used) || len(out.CiphertextBlob) == 0 || (k.keyARN != "" && used != k.keyARN) {
		return keyring.Wrapped{}, fmt.Errorf("awskms encrypt %s: the answer names key %q, or holds no ciphertext: %w", k.cfg.KeyID, used, keyring.ErrIntegrity)
	}
	return keyring.Wrapped{Provider: Provider, KeyURI: used, Algorithm: Algorithm, Ciphertext: out.CiphertextBlob}, nil
}

// Unwrap decrypts with exactly the key ARN w names, under this KEK's
// encryption context.
func (k *KEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	if w.Provider != Provider {
		return nil, fmt.Errorf("awskms key %s cannot unwrap a wrapping by %s %s: %w", k.cfg.KeyID, w.Provider, w.KeyURI, keyring.ErrWrongKEK)
	}
	if !isKeyARN(w.KeyURI) {
		return nil, fmt.Errorf("awskms unwrap: the wrapping names no key ARN (%q); nothing is decrypted by an alias: %w", w.KeyURI, keyring.ErrIntegrity)
	}
	if a, _ := arn.Parse(w.KeyURI); a.Region != k.cfg.Region || (k.keyARN != "" && w.KeyURI != k.keyARN) {
		return nil, fmt.Errorf("awskms key %s cannot unwrap a wrapping by %s: %w", k.cfg.KeyID, w.KeyURI, keyring.ErrWrongKEK)
	}
	if w.Algorithm != Algorithm || len(w.Ciphertext) == 0 {
		return nil, fmt.Errorf("awskms unwrap %s: algorithm %q, %d ciphertext bytes: %w", w.KeyURI, w.Algorithm, len(w.Ciphertext), keyring.ErrIntegrity)
	}
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(w.KeyURI), CiphertextBlob: w.Ciphertext,
		EncryptionContext: k.context(), EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	if err != nil {
		return nil, k.mapErr(ctx, "decrypt", w.KeyURI, err)
	}
	if aws.ToString(out.KeyId) != w.KeyURI {
		clear(out.Plaintext)
		return nil, fmt.Errorf("awskms decrypt %s: the service answered for another key: %w", w.KeyURI, keyring.ErrIntegrity)
	}
	return out.Plaintext, nil
}

// Describe reads the key (the alias's target) with DescribeKey. A disabled
// key, or one pending deletion, is described with Enabled false.
func (k *KEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	out, err := k.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.cfg.KeyID)})
	if err != nil {
		return keyring.KeyState{}, mapErr("describe", k.cfg.KeyID, err)
	}
	md := out.KeyMetadata
	if md == nil || !isKeyARN(aws.ToString(md.Arn)) {
		return keyring.KeyState{}, fmt.Errorf("awskms describe %s: the answer names no key ARN", k.cfg.KeyID)
	}
	if md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
		return keyring.KeyState{}, fmt.Errorf("awskms describe %s: key spec %s for %s cannot wrap keys; use a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)",
			k.cfg.KeyID, md.KeySpec, md.KeyUsage)
	}
	if err := stateErr(md.KeyState); errors.Is(err, keyring.ErrKeyUnreachable) {
		return keyring.KeyState{}, fmt.Errorf("awskms describe %s: key state %s: %w", k.cfg.KeyID, md.KeyState, err)
	}
	st := keyring.KeyState{Provider: Provider, Key: k.cfg.KeyID, KeyURI: aws.ToString(md.Arn), Version: aws.ToString(md.KeyId),
		Enabled: md.KeyState == types.KeyStateEnabled}
	// KMS never deletes a key at once: deletion waits 7 to 30 days and can
	// be cancelled. Imported key material is the exception: its owner can
	// delete it at any time.
	switch {
	case md.KeyState == types.KeyStatePendingDeletion:
		st.RecoveryLevel = "PendingDeletion"
		st.Recoverable = true
	case md.Origin == types.OriginTypeExternal:
		st.RecoveryLevel = "ImportedKeyMaterial"
	default:
		st.RecoveryLevel = "ScheduledDeletion"
		st.Recoverable = true
	}
	return st, nil
}

// stateErr sorts a key state. A custom key store disconnected
// (Unavailable), a multi-Region key updating or a replica being made come
// back without the customer: unreachable, so that the keyring waits out
// its grace instead of dropping its keys. Disabled, pending deletion or
// without its imported material, the key waits for the customer: revoked.
func stateErr(state types.KeyState) error {
	switch state {
	case types.KeyStateEnabled:
		return nil
	case types.KeyStateUnavailable, types.KeyStateUpdating, types.KeyStateCreating:
		return keyring.ErrKeyUnreachable
	}
	return keyring.ErrKeyRevoked
}

// mapErr is the package's mapErr, except that KMSInvalidStateException,
// which KMS answers for a disabled or deleted key and for a key store
// briefly disconnected alike, is sorted by the key's state as DescribeKey
// tells it: revoked unless the state is one the key leaves on its own.
func (k *KEK) mapErr(ctx context.Context, op, target string, err error) error {
	mapped := mapErr(op, target, err)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "KMSInvalidStateException" {
		return mapped
	}
	out, derr := k.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(target)})
	switch {
	case derr != nil:
		if described := mapErr("describe", target, derr); errors.Is(described, keyring.ErrKeyUnreachable) {
			return fmt.Errorf("awskms %s %s: KMSInvalidStateException, and the key's state is unknown: %w", op, target, described)
		}
		return mapped
	case out.KeyMetadata == nil || errors.Is(stateErr(out.KeyMetadata.KeyState), keyring.ErrKeyRevoked):
		return mapped
	}
	return fmt.Errorf("awskms %s %s: KMSInvalidStateException while the key is %s, a state it leaves on its own: %w",
		op, target, out.KeyMetadata.KeyState, keyring.ErrKeyUnreachable)
}

func isKeyARN(s string) bool {
	a, err := arn.Parse(s)
	return err == nil && a.Service == "kms" && strings.HasPrefix(a.Resource, "key/") && len(a.Resource) > len("key/")
}

// Error codes as KMS and its front end answer them.
var (
	revokedCodes = map[string]string{
		"DisabledException":           "the key is disabled",
		"KMSInvalidStateException":    "the key is pending deletion or not usable in its state",
		"NotFoundException":           "the key or alias does not exist",
		"UnrecognizedClientException": "the access key is unknown: it was removed",
		"InvalidSignatureException":   "the access key's secret does not match: it was changed",
		"InvalidClientTokenId":        "the access key is unknown: it was removed",
		"ExpiredTokenException":       "the session token expired",
		"InvalidKeyUsageException":    "the key cannot encrypt and decrypt",
	}
	// credentialCodes are the revocations of the caller's own access key,
	// not of the key: keyring.ErrSignInRefused.
	credentialCodes = map[string]bool{
		"UnrecognizedClientException": true,
		"InvalidSignatureException":   true,
		"InvalidClientTokenId":        true,
		"ExpiredTokenException":       true,
	}
	integrityCodes = map[string]bool{
		"InvalidCiphertextException": true, // damaged, or another encryption context
		"IncorrectKeyException":      true, // made by another key
		"ValidationException":        true,
		"SerializationException":     true,
	}
	unreachableCodes = map[string]bool{
		"ThrottlingException":        true,
		"RequestLimitExceeded":       true,
		"KMSInternalException":       true,
		"DependencyTimeoutException": true,
		"KeyUnavailableException":    true,
		"ServiceUnavailable":         true,
		"InternalFailure":            true,
	}
)

// mapErr turns an SDK error into the keyring's typed errors. It keeps the
// status and the service's error code, and drops the message.
func mapErr(op, target string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("awskms %s %s: %w", op, target, context.Canceled)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		status := 0
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		what := fmt.Sprintf("awskms %s %s: HTTP %d %s", op, target, status, code)
		switch {
		case code == "AccessDeniedException":
			return fmt.Errorf("%s (the key policy or IAM grants the caller no kms:%s on the key): %w", what, apiName(op), keyring.ErrAccessDenied)
		case credentialCodes[code]:
			return fmt.Errorf("%s (%s): %w", what, revokedCodes[code], keyring.ErrSignInRefused)
		case revokedCodes[code] != "":
			return fmt.Errorf("%s (%s): %w", what, revokedCodes[code], keyring.ErrKeyRevoked)
		case integrityCodes[code] && op == "decrypt":
			return fmt.Errorf("%s (not made by this key under this cluster's encryption context, or damaged): %w", what, keyring.ErrIntegrity)
		case unreachableCodes[code] || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			return fmt.Errorf("%s: %w", what, keyring.ErrKeyUnreachable)
		}
		return errors.New(what)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("awskms %s %s: timed out: %w", op, target, keyring.ErrKeyUnreachable)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		// Network errors name addresses and the endpoint (no secrets there).
		return fmt.Errorf("awskms %s %s: %s: %w", op, target, ne.Error(), keyring.ErrKeyUnreachable)
	}
	return fmt.Errorf("awskms %s %s: request failed (%T): %w", op, target, err, keyring.ErrKeyUnreachable)
}

// apiName is the IAM action an operation needs.
func apiName(op string) string {
	switch op {
	case "encrypt":
		return "Encrypt"
	case "decrypt":
		return "Decrypt"
	}
	return "DescribeKey"
}
