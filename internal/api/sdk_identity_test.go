package api

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestOfficialClientSecretCredentialGetsTokens drives the token endpoint with
// the cloud's own credential type, as every SDK client would.
func TestOfficialClientSecretCredentialGetsTokens(t *testing.T) {
	e := newTestEnv(t, nil)
	cred, err := azidentity.NewClientSecretCredential(e.identity.TenantID(), e.adminID, e.adminSec, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL + "/"},
			Transport: e.client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := e.identity.Verify(ctx, tok.Token, "https://vault.azure.net")
	if err != nil {
		t.Fatalf("token from the official credential does not verify: %v", err)
	}
	if claims.AppID != e.adminID {
		t.Fatalf("appid %s", claims.AppID)
	}
	bad, _ := azidentity.NewClientSecretCredential(e.identity.TenantID(), e.adminID, "sws~wrong", &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL + "/"},
			Transport: e.client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if _, err := bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}); err == nil {
		t.Fatal("wrong secret got a token")
	}
}
