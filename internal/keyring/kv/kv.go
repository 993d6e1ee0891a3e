// Package kv is the keyring's driver for the Key Vault keys API, through the
// official azkeys client and any azcore.TokenCredential: the same driver
// serves Sealwatch's own vault and Azure Key Vault (or Managed HSM).
//
// RSA keys wrap with RSA-OAEP-256, oct keys with A256KW. The service's
// answers become the keyring's typed errors: 401/403/404 revoked, 408/429/5xx
// and transport failures unreachable. Errors carry the operation, the key
// URI, the status and the service's error codes — never its message text,
// tokens or key bytes.
package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// Provider names wrappings made by this driver.
const Provider = "keyvault"

// Config names one key in one vault and how to reach it.
type Config struct {
	// VaultURL is the vault's base URL, such as https://contoso.vault.azure.net
	// or https://contoso.vault.localhost:8443.
	VaultURL string
	KeyName  string
	// KeyVersion pins a version; "" follows the latest (automatic rotation).
	KeyVersion string
	// Credential signs in as the caller: the cluster's identity or the
	// document-store principal.
	Credential azcore.TokenCredential
	// SignInAs names who Credential signs in as, for its errors: "" is
	// the caller's principal in this node's tenant.
	SignInAs string
	// Transport sends the requests (an *http.Client does); nil uses azcore's default.
	Transport policy.Transporter
	// Retry overrides the retry policy. The default retries twice, briefly:
	// the keyring's probe retries on its own schedule and must answer within
	// its timeout.
	Retry *policy.RetryOptions
}

// KEK is one Key Vault key as a keyring.KEK.
type KEK struct {
	cfg    Config
	client *azkeys.Client
	host   string // normalised vault host, to recognise our own key URIs

	mu  sync.Mutex
	alg string // wrap algorithm, learned from the key type
}

var _ keyring.KEK = (*KEK)(nil)

// New validates cfg and prepares the client; it makes no request.
func New(cfg Config) (*KEK, error) {
	if cfg.Credential == nil || cfg.KeyName == "" {
		return nil, errors.New("kv: a credential and a key name are required")
	}
	u, err := url.Parse(cfg.VaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("kv: vault URL %q must be https://host[:port], such as https://contoso.vault.azure.net", cfg.VaultURL)
	}
	cfg.VaultURL = "https://" + u.Host
	retry := policy.RetryOptions{MaxRetries: 2, TryTimeout: 10 * time.Second, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second}
	if cfg.Retry != nil {
		retry = *cfg.Retry
	}
	client, err := azkeys.NewClient(cfg.VaultURL, cfg.Credential, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: cfg.Transport, Retry: retry},
	})
	if err != nil {
		return nil, fmt.Errorf("kv: %w", err)
	}
	return &KEK{cfg: cfg, client: client, host: normalHost(u)}, nil
}

func normalHost(u *url.URL) string {
	h := strings.ToLower(u.Host)
	return strings.TrimSuffix(h, ":443")
}

// Key is the versionless URI of the configured key.
func (k *KEK) Key() string { return k.cfg.VaultURL + "/keys/" + k.cfg.KeyName }

// Wrap wraps aek with the pinned or latest version; the result names the
// version the service used.
func (k *KEK) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	alg, err := k.algorithm(ctx)
	if err != nil {
		return keyring.Wrapped{}, err
	}
	target := k.Key() + versionSuffix(k.cfg.KeyVersion)
	a := azkeys.EncryptionAlgorithm(alg)
	resp, err := k.client.WrapKey(ctx, k.cfg.KeyName, k.cfg.KeyVersion, azkeys.KeyOperationParameters{Algorithm: &a, Value: aek}, nil)
	if err != nil {
		return keyring.Wrapped{}, k.mapErr("wrap", target, err)
	}
	if resp.KID == nil || len(resp.Result) == 0 {
		return keyring.Wrapped{}, fmt.Errorf("kv wrap %s: the answer names no key version or holds no result: %w", target, keyring.ErrIntegrity)
	}
	kid := string(*resp.KID)
	if _, name, version, ok := k.parse(kid); !ok || version == "" || !strings.EqualFold(name, k.cfg.KeyName) ||
		(k.cfg.KeyVersion != "" && version != k.cfg.KeyVersion) {
		return keyring.Wrapped{}, fmt.Errorf("kv wrap %s: the service answered for %s: %w", target, kid, keyring.ErrIntegrity)
	}
	return keyring.Wrapped{Provider: Provider, KeyURI: kid, Algorithm: alg, Ciphertext: resp.Result}, nil
}

// Unwrap unwraps with exactly the version w.KeyURI names. A wrapping of
// another key or vault is refused without a request.
func (k *KEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	host, name, version, ok := k.parse(w.KeyURI)
	if w.Provider != Provider || !ok || host != k.host || !strings.EqualFold(name, k.cfg.KeyName) {
		return nil, fmt.Errorf("kv key %s cannot unwrap a wrapping by %s %s: %w", k.Key(), w.Provider, w.KeyURI, keyring.ErrWrongKEK)
	}
	if version == "" {
		return nil, fmt.Errorf("kv unwrap: wrapping names no key version (%s); nothing is unwrapped against the latest: %w", w.KeyURI, keyring.ErrIntegrity)
	}
	if w.Algorithm != keyring.AlgRSAOAEP256 && w.Algorithm != keyring.AlgA256KW {
		return nil, fmt.Errorf("kv unwrap %s: algorithm %q: %w", w.KeyURI, w.Algorithm, keyring.ErrIntegrity)
	}
	a := azkeys.EncryptionAlgorithm(w.Algorithm)
	resp, err := k.client.UnwrapKey(ctx, k.cfg.KeyName, version, azkeys.KeyOperationParameters{Algorithm: &a, Value: w.Ciphertext}, nil)
	if err != nil {
		return nil, k.mapErr("unwrap", w.KeyURI, err)
	}
	if resp.KID == nil || resp.KID.Version() != version {
		clear(resp.Result)
		return nil, fmt.Errorf("kv unwrap %s: the service answered for another version: %w", w.KeyURI, keyring.ErrIntegrity)
	}
	return resp.Result, nil
}

// Describe reads the pinned or latest version's attributes.
func (k *KEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	target := k.Key() + versionSuffix(k.cfg.KeyVersion)
	resp, err := k.client.GetKey(ctx, k.cfg.KeyName, k.cfg.KeyVersion, nil)
	if err != nil {
		return keyring.KeyState{}, k.mapErr("get", target, err)
	}
	if resp.Key == nil || resp.Key.KID == nil {
		return keyring.KeyState{}, fmt.Errorf("kv get %s: the answer names no key", target)
	}
	kid := string(*resp.Key.KID)
	_, _, version, ok := k.parse(kid)
	if !ok || version == "" {
		return keyring.KeyState{}, fmt.Errorf("kv get %s: the answer's key ID %q names no version", target, kid)
	}
	if resp.Key.Kty != nil {
		alg, err := algorithmFor(*resp.Key.Kty)
		if err != nil {
			return keyring.KeyState{}, fmt.Errorf("kv get %s: %w", target, err)
		}
		k.mu.Lock()
		k.alg = alg
		k.mu.Unlock()
	}
	st := keyring.KeyState{Provider: Provider, Key: strings.TrimSuffix(kid, "/"+version), KeyURI: kid, Version: version}
	if a := resp.Attributes; a != nil {
		st.Enabled = a.Enabled != nil && *a.Enabled
		if a.RecoveryLevel != nil {
			st.RecoveryLevel = *a.RecoveryLevel
		}
	}
	// "Recoverable" or "CustomizedRecoverable" without "+Purgeable": soft
	// delete and purge protection both on.
	st.Recoverable = strings.Contains(st.RecoveryLevel, "Recoverable") && !strings.Contains(st.RecoveryLevel, "Purgeable")
	return st, nil
}

// algorithm learns the wrap algorithm from the key type once.
func (k *KEK) algorithm(ctx context.Context) (string, error) {
	k.mu.Lock()
	alg := k.alg
	k.mu.Unlock()
	if alg != "" {
		return alg, nil
	}
	if _, err := k.Describe(ctx); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.alg == "" {
		return "", fmt.Errorf("kv key %s: the service did not say the key type", k.Key())
	}
	return k.alg, nil
}

func algorithmFor(kty azkeys.KeyType) (string, error) {
	switch kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		return keyring.AlgRSAOAEP256, nil
	case azkeys.KeyTypeOct, azkeys.KeyTypeOctHSM:
		return keyring.AlgA256KW, nil
	}
	return "", fmt.Errorf("key type %s cannot wrap keys; use an RSA or oct key", kty)
}

// parse splits https://host/keys/name[/version].
func (k *KEK) parse(kid string) (host, name, version string, ok bool) {
	u, err := url.Parse(kid)
	if err != nil || u.Scheme != "https" {
		return "", "", "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "keys" || parts[1] == "" {
		return "", "", "", false
	}
	if len(parts) == 3 {
		version = parts[2]
	}
	return normalHost(u), parts[1], version, true
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

func (k *KEK) mapErr(op, target string, err error) error {
	who := k.cfg.SignInAs
	if who == "" {
		who = "the identity"
	}
	return mapErr(op, target, who, err)
}

// mapErr turns a client error into the keyring's typed errors. It keeps the
// status and the service's error codes, and drops the rest of the answer;
// who names the identity that signs in.
func mapErr(op, target, who string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("kv %s %s: %w", op, target, context.Canceled)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code, inner := errorCodes(re)
		codes := code
		if inner != "" {
			codes += " (" + inner + ")"
		}
		switch s := re.StatusCode; {
		case s == http.StatusForbidden && (inner == "AccessDenied" || inner == "ForbiddenByRbac"):
			// The caller lacks a permission (an access policy, or on a vault
			// using roles, a role assignment); the key itself may be fine.
			return fmt.Errorf("kv %s %s: HTTP %d %s: %w", op, target, s, codes, keyring.ErrAccessDenied)
		case s == http.StatusUnauthorized:
			// The vault refused the caller's token, not the key.
			return fmt.Errorf("kv %s %s: HTTP %d %s: %w", op, target, s, codes, keyring.ErrSignInRefused)
		case s == http.StatusForbidden || s == http.StatusNotFound:
			return fmt.Errorf("kv %s %s: HTTP %d %s: %w", op, target, s, codes, keyring.ErrKeyRevoked)
		case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
			return fmt.Errorf("kv %s %s: HTTP %d %s: %w", op, target, s, codes, keyring.ErrKeyUnreachable)
		case s == http.StatusBadRequest && op == "unwrap":
			return fmt.Errorf("kv %s %s: HTTP %d %s (not wrapped by this version, or damaged): %w", op, target, s, codes, keyring.ErrIntegrity)
		default:
			return fmt.Errorf("kv %s %s: HTTP %d %s", op, target, s, codes)
		}
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		if r := afe.RawResponse; r != nil && r.StatusCode >= 400 && r.StatusCode < 500 && r.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("kv %s %s: sign-in as %s refused (HTTP %d%s): the identity was removed, is not in that tenant, or its credential is wrong or changed: %w",
				op, target, who, r.StatusCode, signInCodes(r), keyring.ErrSignInRefused)
		}
		return fmt.Errorf("kv %s %s: sign-in as %s failed: %w", op, target, who, keyring.ErrKeyUnreachable)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("kv %s %s: timed out: %w", op, target, keyring.ErrKeyUnreachable)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("kv %s %s: %s: %w", op, target, unresolvedVaultHost(dnsErr.Name), keyring.ErrKeyUnreachable)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		// Network errors name addresses and the request URL (no secrets there).
		return fmt.Errorf("kv %s %s: %s: %w", op, target, ne.Error(), keyring.ErrKeyUnreachable)
	}
	return fmt.Errorf("kv %s %s: request failed (%T): %w", op, target, err, keyring.ErrKeyUnreachable)
}

// signInCodes reads the OAuth 2.0 error (invalid_client, unauthorized_client,
// invalid_grant...) and the directory's numeric error codes from a refused
// token request, for a message; the description, which may quote the
// request, is left out.
func signInCodes(r *http.Response) string {
	body, err := runtime.Payload(r)
	if err != nil {
		return ""
	}
	var e struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" || strings.IndexFunc(e.Error, func(c rune) bool { return !(c == '_' || c >= 'a' && c <= 'z') }) >= 0 {
		return ""
	}
	out := " " + e.Error
	for _, c := range e.ErrorCodes {
		out += fmt.Sprintf(" AADSTS%d", c)
	}
	return out
}

// errorCodes reads the code and the inner code of the Key Vault error body.
func errorCodes(re *azcore.ResponseError) (code, inner string) {
	code = re.ErrorCode
	if re.RawResponse == nil {
		return code, ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return code, ""
	}
	var e struct {
		Error struct {
			Code       string `json:"code"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return code, ""
	}
	if code == "" {
		code = e.Error.Code
	}
	if e.Error.InnerError != nil {
		inner = e.Error.InnerError.Code
	}
	return code, inner
}

// unresolvedVaultHost says what to do about a vault host name that does not
// resolve from the node: it is unreachable, not revoked (a name can come
// back), and the usual cause is a per-vault host with no DNS or hosts entry.
func unresolvedVaultHost(host string) string {
	return fmt.Sprintf("the vault host %s does not resolve from this node: give it a DNS record, or an /etc/hosts entry on this machine "+
		"(`sealwatch keyvault hosts | sudo tee -a /etc/hosts`, logged in to the vault's node, adds one per vault)", host)
}
