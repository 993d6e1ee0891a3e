package awskms

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// TestKeyStatesTheKeyLeavesOnItsOwnAreUnreachable: every KMS key state
// sorts as usable, unreachable (it comes back by itself: the keyring waits
// out its grace) or revoked (it waits for the customer).
func TestKeyStatesTheKeyLeavesOnItsOwnAreUnreachable(t *testing.T) {
	want := map[types.KeyState]error{
		types.KeyStateEnabled:                nil,
		types.KeyStateUnavailable:            keyring.ErrKeyUnreachable,
		types.KeyStateUpdating:               keyring.ErrKeyUnreachable,
		types.KeyStateCreating:               keyring.ErrKeyUnreachable,
		types.KeyStateDisabled:               keyring.ErrKeyRevoked,
		types.KeyStatePendingDeletion:        keyring.ErrKeyRevoked,
		types.KeyStatePendingReplicaDeletion: keyring.ErrKeyRevoked,
		types.KeyStatePendingImport:          keyring.ErrKeyRevoked,
	}
	for _, state := range types.KeyState("").Values() {
		w, ok := want[state]
		if !ok {
			t.Errorf("key state %s is not sorted by this test: decide whether the key leaves it on its own", state)
			continue
		}
		if got := stateErr(state); !errors.Is(got, w) || (w == nil) != (got == nil) {
			t.Errorf("key state %s: %v, want %v", state, got, w)
		}
	}
}
