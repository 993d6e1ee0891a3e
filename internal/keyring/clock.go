package keyring

import "time"

// Clock is the keyring's source of time, so that tests can drive probe
// intervals and the unreachable grace without sleeping.
type Clock interface {
	Now() time.Time
	// After delivers once, d after now.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
