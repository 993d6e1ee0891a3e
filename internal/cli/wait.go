package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// waitTimeoutError is a wait that reached its timeout with the thing waited
// for still elsewhere. It says where, rather than the "context deadline
// exceeded" of the request the timeout happened to cut short, which reads
// like a network fault.
type waitTimeoutError struct {
	after time.Duration
	state string // where things stood at the last check, as a sentence
	hint  string // what makes them move
}

func (e *waitTimeoutError) Error() string {
	return fmt.Sprintf("timed out after %s: %s", shortDuration(e.after), e.state)
}

// waitCheck looks once at what is waited for: done when it is there, and
// else a sentence saying where it is ("cluster C is still in state Revoked").
type waitCheck func(ctx context.Context) (done bool, state string, err error)

// waitUntil runs check every interval until it reports done, then returns
// nil. At the timeout it returns a *waitTimeoutError with the last state
// check gave (or pending, when no check has answered yet), even when the
// timeout cut a check short. An error of check's own ends the wait with it;
// so does the end of ctx.
func waitUntil(ctx context.Context, timeout, interval time.Duration, pending, hint string, check waitCheck) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	timedOut := func() bool { return ctx.Err() == nil && wctx.Err() != nil }
	state := pending
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		done, now, err := check(wctx)
		switch {
		case err != nil && timedOut() && errors.Is(err, context.DeadlineExceeded):
			return &waitTimeoutError{after: timeout, state: state, hint: hint}
		case err != nil:
			return err
		case done:
			return nil
		}
		state = now
		select {
		case <-wctx.Done():
			if timedOut() {
				return &waitTimeoutError{after: timeout, state: state, hint: hint}
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// shortDuration prints d as a person would type it: 2m, 1m30s, 500ms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
