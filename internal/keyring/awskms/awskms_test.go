package awskms_test

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
)

// TestAWSKMSDriverKeepsTheKEKContract runs the conformance suite against
// the driver and Local KMS, through the official SDK.
func TestAWSKMSDriverKeepsTheKEKContract(t *testing.T) {
	kekconformance.Run(t, localkms.Start(t).Target(t))
}

// TestAWSKMSReplacementAcrossDrivers moves a keyring from a KMS key to a
// key of another driver and back.
func TestAWSKMSReplacementAcrossDrivers(t *testing.T) {
	kms := localkms.Start(t).Target(t)
	t.Run("KMS to KMS", func(t *testing.T) { kekconformance.RunReplacement(t, kms, kms) })
	t.Run("KMS to another driver", func(t *testing.T) { kekconformance.RunReplacement(t, kms, kektest.Target()) })
	t.Run("another driver to KMS", func(t *testing.T) { kekconformance.RunReplacement(t, kektest.Target(), kms) })
}
