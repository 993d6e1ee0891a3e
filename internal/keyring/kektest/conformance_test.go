package kektest_test

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
)

// TestKektestKeepsTheKEKContract runs the conformance suite against the
// in-process test service, which the keyring's own tests stand on.
func TestKektestKeepsTheKEKContract(t *testing.T) {
	kekconformance.Run(t, kektest.Target())
}

func TestKektestReplacement(t *testing.T) {
	kekconformance.RunReplacement(t, kektest.Target(), kektest.Target())
}
