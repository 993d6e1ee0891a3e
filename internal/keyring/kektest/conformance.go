package kektest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
)

// keys counts the keys Target makes, so that each has its own name.
var keys atomic.Int64

// Target is this test service as a kekconformance target: its switches are
// the service's own. Other drivers' tests use it as the other side of a
// replacement.
func Target() kekconformance.Target {
	return kekconformance.Target{
		NewKey:       func(*testing.T) kekconformance.Key { return conformanceKey{New(fmt.Sprintf("cmk-%d", keys.Add(1)))} },
		Recoverable:  true,
		AccessDenied: true,
	}
}

type conformanceKey struct{ k *KEK }

func (c conformanceKey) KEK(*testing.T) keyring.KEK         { return c.k }
func (c conformanceKey) SetEnabled(_ *testing.T, on bool)   { c.k.SetEnabled("", on) }
func (c conformanceKey) Rotate(*testing.T)                  { c.k.Rotate() }
func (c conformanceKey) Destroy(*testing.T)                 { c.k.Delete() }
func (c conformanceKey) SetAvailable(_ *testing.T, up bool) { c.k.SetUnreachable(!up) }

func (c conformanceKey) SetAccess(_ *testing.T, allowed bool) {
	if allowed {
		c.k.Allow()
	} else {
		c.k.Deny()
	}
}

func (c conformanceKey) Retire(t *testing.T, keyURI string) {
	v, ok := strings.CutPrefix(keyURI, c.k.Key()+"/")
	if !ok {
		t.Fatalf("retire %s: not a version of %s", keyURI, c.k.Key())
	}
	c.k.SetEnabled(v, false)
}
