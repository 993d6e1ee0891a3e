package pkcs11kek_test

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
)

// TestConformance runs the KEK contract against the driver over a
// SoftHSM2 token.
func TestConformance(t *testing.T) {
	kekconformance.Run(t, softhsmtest.New(t, "sealwatch-conformance").Target())
}

func TestReplacementToAndFromAnotherDriver(t *testing.T) {
	hsm := softhsmtest.New(t, "sealwatch-conformance").Target()
	kekconformance.RunReplacement(t, kektest.Target(), hsm)
	kekconformance.RunReplacement(t, hsm, kektest.Target())
}
