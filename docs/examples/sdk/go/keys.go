package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// keys creates an RSA key in the vault VAULT_URL names, reads it back, and has
// the vault wrap and unwrap a 32-byte data-encryption key with it: the private
// key never leaves the vault. azkeys needs no setting of its own: the vault
// URL is https://{vault}.{vault-dns-suffix}:{port}, as in the cloud, and the
// client's challenge check (the token's resource must be the vault host's
// parent domain) passes unchanged.
func keys(ctx context.Context, n *node, name string) error {
	vaultURL := os.Getenv("VAULT_URL")
	if vaultURL == "" {
		return errors.New("set VAULT_URL to the vault's URL, such as https://cmk1.vault.localhost:8443")
	}
	cred, err := n.credential()
	if err != nil {
		return err
	}
	opts, err := n.clientOptions()
	if err != nil {
		return err
	}
	client, err := azkeys.NewClient(vaultURL, cred, &azkeys.ClientOptions{ClientOptions: opts})
	if err != nil {
		return err
	}

	created, err := client.CreateKey(ctx, name, azkeys.CreateKeyParameters{
		Kty:     to.Ptr(azkeys.KeyTypeRSA),
		KeySize: to.Ptr[int32](3072),
		KeyOps:  []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationWrapKey), to.Ptr(azkeys.KeyOperationUnwrapKey)},
	}, nil)
	if err != nil {
		return fmt.Errorf("create key %s: %w", name, err)
	}
	fmt.Printf("created %s\n", *created.Key.KID)

	got, err := client.GetKey(ctx, name, "", nil)
	if err != nil {
		return fmt.Errorf("get key %s: %w", name, err)
	}
	var ops []string
	for _, op := range got.Key.KeyOps {
		ops = append(ops, string(*op))
	}
	fmt.Printf("got %s: %s, %d bits, operations %s\n", *got.Key.KID, *got.Key.Kty, len(got.Key.N)*8, strings.Join(ops, " "))

	// Wrap and unwrap with exactly the version read back, as a keyring keeps it.
	version := got.Key.KID.Version()
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return err
	}
	alg := to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256)
	wrapped, err := client.WrapKey(ctx, name, version, azkeys.KeyOperationParameters{Algorithm: alg, Value: dek}, nil)
	if err != nil {
		return fmt.Errorf("wrap with key %s: %w", name, err)
	}
	unwrapped, err := client.UnwrapKey(ctx, name, version, azkeys.KeyOperationParameters{Algorithm: alg, Value: wrapped.Result}, nil)
	if err != nil {
		return fmt.Errorf("unwrap with key %s: %w", name, err)
	}
	if !bytes.Equal(unwrapped.Result, dek) {
		return errors.New("the unwrapped key differs from the one wrapped")
	}
	fmt.Printf("wrapped a %d-byte key into %d bytes with %s and unwrapped it again\n", len(dek), len(wrapped.Result), *wrapped.KID)
	return nil
}
