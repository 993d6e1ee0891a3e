package kv_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
)

// fakeVault answers the Key Vault challenge, then every request with status.
type fakeVault struct {
	status int
	inner  string // the error body's innererror code, if any
	err    error
}

func (f *fakeVault) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		return respond(req, http.StatusUnauthorized, "", http.Header{"Www-Authenticate": {
			`Bearer authorization="https://login.example/tenant1", resource="https://vault.azure.net"`}}), nil
	}
	if f.err != nil {
		return nil, f.err
	}
	inner := ""
	if f.inner != "" {
		inner = `,"innererror":{"code":"` + f.inner + `"}`
	}
	return respond(req, f.status, `{"error":{"code":"Code`+http.StatusText(f.status)[:3]+`","message":"do not show this message"`+inner+`}}`, nil), nil
}

func respond(req *http.Request, status int, body string, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader(body))}
}

type staticCred struct{ err error }

func (c staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: "secret-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestServiceAnswersMapToTypedErrors: refusals are revoked — and a missing
// permission is also access denied —, failures to answer are unreachable, a
// damaged wrapping is an integrity error, and anything else is none of them.
func TestServiceAnswersMapToTypedErrors(t *testing.T) {
	w := keyring.Wrapped{Provider: kv.Provider, KeyURI: "https://contoso.vault.azure.net/keys/cmk/0123456789abcdef0123456789abcdef",
		Algorithm: keyring.AlgRSAOAEP256, Ciphertext: []byte("ciphertext")}
	for _, tc := range []struct {
		name  string
		vault *fakeVault
		cred  azcore.TokenCredential
		want  error
	}{
		{"401", &fakeVault{status: 401}, staticCred{}, keyring.ErrSignInRefused},
		{"403", &fakeVault{status: 403}, staticCred{}, keyring.ErrKeyRevoked},
		{"403 KeyDisabled", &fakeVault{status: 403, inner: "KeyDisabled"}, staticCred{}, keyring.ErrKeyRevoked},
		{"403 AccessDenied", &fakeVault{status: 403, inner: "AccessDenied"}, staticCred{}, keyring.ErrAccessDenied},
		{"403 ForbiddenByRbac", &fakeVault{status: 403, inner: "ForbiddenByRbac"}, staticCred{}, keyring.ErrAccessDenied},
		{"404", &fakeVault{status: 404}, staticCred{}, keyring.ErrKeyRevoked},
		{"408", &fakeVault{status: 408}, staticCred{}, keyring.ErrKeyUnreachable},
		{"429", &fakeVault{status: 429}, staticCred{}, keyring.ErrKeyUnreachable},
		{"500", &fakeVault{status: 500}, staticCred{}, keyring.ErrKeyUnreachable},
		{"503", &fakeVault{status: 503}, staticCred{}, keyring.ErrKeyUnreachable},
		{"400 on unwrap", &fakeVault{status: 400}, staticCred{}, keyring.ErrIntegrity},
		{"409", &fakeVault{status: 409}, staticCred{}, nil},
		{"connection refused", &fakeVault{err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, staticCred{}, keyring.ErrKeyUnreachable},
		{"vault host does not resolve", &fakeVault{err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "contoso.vault.azure.net", IsNotFound: true}}}, staticCred{}, keyring.ErrKeyUnreachable},
		{"timeout", &fakeVault{err: context.DeadlineExceeded}, staticCred{}, keyring.ErrKeyUnreachable},
		{"sign-in refused", &fakeVault{status: 200}, staticCred{err: &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 401}}}, keyring.ErrSignInRefused},
		{"sign-in service down", &fakeVault{status: 200}, staticCred{err: &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 503}}}, keyring.ErrKeyUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := kv.New(kv.Config{VaultURL: "https://contoso.vault.azure.net", KeyName: "cmk", Credential: tc.cred,
				Transport: tc.vault, Retry: &policy.RetryOptions{MaxRetries: -1}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = k.Unwrap(context.Background(), w)
			if err == nil {
				t.Fatal("no error")
			}
			kinds := []error{keyring.ErrKeyRevoked, keyring.ErrAccessDenied, keyring.ErrSignInRefused, keyring.ErrKeyUnreachable, keyring.ErrIntegrity, keyring.ErrWrongKEK}
			for _, kind := range kinds {
				// An access denial, and a sign-in refused, are revocations too.
				want := kind == tc.want || (kind == keyring.ErrKeyRevoked && (tc.want == keyring.ErrAccessDenied || tc.want == keyring.ErrSignInRefused))
				if errors.Is(err, kind) != want {
					t.Fatalf("error %q: is %v = %v, want %v", err, kind, errors.Is(err, kind), want)
				}
			}
			t.Log(err)
			if tc.name == "vault host does not resolve" && !strings.Contains(err.Error(), "sealwatch keyvault hosts | sudo tee -a /etc/hosts") {
				t.Fatalf("the error does not say how to make the vault host resolve: %v", err)
			}
			if strings.Contains(err.Error(), "do not show") || strings.Contains(err.Error(), "secret-token") {
				t.Fatalf("error repeats the service's message or the token: %v", err)
			}
		})
	}
}

func TestConfigIsValidated(t *testing.T) {
	for name, cfg := range map[string]kv.Config{
		"no credential": {VaultURL: "https://contoso.vault.azure.net", KeyName: "cmk"},
		"no key":        {VaultURL: "https://contoso.vault.azure.net", Credential: staticCred{}},
		"http":          {VaultURL: "http://contoso.vault.azure.net", KeyName: "cmk", Credential: staticCred{}},
		"path":          {VaultURL: "https://contoso.vault.azure.net/keys", KeyName: "cmk", Credential: staticCred{}},
	} {
		if _, err := kv.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
