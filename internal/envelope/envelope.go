// Package envelope is the seam between the keyring, which holds account keys
// (AEKs), and the stores that seal data with keys derived from them: the
// interfaces a store asks for keys through, and the associated-data encoding
// that binds a sealed object to its place.
package envelope

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
)

// Sealer is one account key as a store sees it: an ID to record in every
// envelope, and object keys derived from it. The key bytes never leave the
// keyring.
type Sealer interface {
	// KeyID names the AEK; it is written into every object sealed under it.
	KeyID() string
	// AEAD derives the object key HKDF-SHA256(AEK, salt, purpose) and returns
	// it as AES-256-GCM. It fails, wrapping the keyring's typed error, once the
	// AEK has been dropped (revoked, locked).
	AEAD(salt []byte, purpose string) (cipher.AEAD, error)
}

// Keys gives a store the account keys of one (cluster, storage resource).
type Keys interface {
	// Current is the AEK new objects are sealed under.
	Current(ctx context.Context) (Sealer, error)
	// ByID is the AEK an existing object names.
	ByID(ctx context.Context, keyID string) (Sealer, error)
}

// AAD encodes fields as associated data: each field length-prefixed, so that
// ("ab","c") and ("a","bc") differ.
func AAD(fields ...string) []byte {
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}
