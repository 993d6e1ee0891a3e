package keyring

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// CheckKEK proves that a key can serve as a keyring's KEK before anything is
// stored under it: it describes the key (the caller's get permission), checks
// that it is enabled — and recoverable, when asked — and wraps and unwraps a
// throwaway key (wrapKey, unwrapKey). Errors wrap the typed errors, so the
// caller can say what to fix; a refusal of one of the three calls is a
// *CheckError naming the permission that call needs.
func CheckKEK(ctx context.Context, kek KEK, requireRecoverable bool) (KeyState, error) {
	st, err := kek.Describe(ctx)
	if err != nil {
		return st, &CheckError{Permission: "get", Err: fmt.Errorf("describe the key: %w", err)}
	}
	if !st.Enabled {
		return st, fmt.Errorf("key %s is disabled: %w", st.KeyURI, ErrKeyRevoked)
	}
	if requireRecoverable && !st.Recoverable {
		return st, fmt.Errorf("key %s has recovery level %q: %w", st.KeyURI, st.RecoveryLevel, ErrNotRecoverable)
	}
	probe := make([]byte, aekSize)
	rand.Read(probe)
	defer clear(probe)
	w, err := kek.Wrap(ctx, probe)
	if err == nil {
		err = validWrapped(w)
	}
	if err != nil {
		return st, &CheckError{Permission: "wrapKey", Err: fmt.Errorf("wrap with key %s: %w", st.KeyURI, err)}
	}
	back, err := kek.Unwrap(ctx, w)
	defer clear(back)
	if err != nil {
		return st, &CheckError{Permission: "unwrapKey", Err: fmt.Errorf("unwrap with key %s: %w", w.KeyURI, err)}
	}
	if subtle.ConstantTimeCompare(back, probe) != 1 {
		return st, fmt.Errorf("key %s unwrapped to other bytes: %w", w.KeyURI, ErrIntegrity)
	}
	return st, nil
}

// CheckError is a key-service call of CheckKEK that failed, with the
// permission that call needs.
type CheckError struct {
	Permission string // get, wrapKey or unwrapKey
	Err        error
}

func (e *CheckError) Error() string { return e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// Remove deletes a ring's registry: its wrapped account keys are gone, and
// with them every object sealed under them, for good. It is for a deleted
// cluster; close the ring's Keyring first. Removing a ring that does not
// exist is not an error.
func Remove(ctx context.Context, db kv.DB, cluster, resource string) error {
	return db.Update(ctx, func(tx kv.Tx) error {
		rings := tx.Bucket(bucketRings)
		if rings == nil {
			return nil
		}
		err := rings.DeleteBucket(ringName(cluster, resource))
		if errors.Is(err, kv.ErrBucketNotFound) {
			return nil
		}
		return err
	})
}
