package main

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// token prints an access token for scope, such as
// https://management.azure.com/.default, for a request by hand.
func token(ctx context.Context, n *node, scope string) error {
	cred, err := n.credential()
	if err != nil {
		return err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return err
	}
	fmt.Println(tok.Token)
	return nil
}
