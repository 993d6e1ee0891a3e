package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitEndsAtItsTimeoutSayingWhereThingsStand(t *testing.T) {
	errRefused := errors.New("403 forbidden")
	tests := []struct {
		name    string
		check   waitCheck
		wantErr string // "" for success
		timeout bool   // the error is a *waitTimeoutError
	}{
		{"done at the first check", func(context.Context) (bool, string, error) { return true, "", nil }, "", false},
		{"still elsewhere at the timeout names the last state",
			func(context.Context) (bool, string, error) {
				return false, "cluster c1 is still in state Accessible", nil
			},
			"timed out after 50ms: cluster c1 is still in state Accessible", true},
		{"a check the timeout cuts short is a timeout, not a deadline error", func(ctx context.Context) (bool, string, error) {
			<-ctx.Done()
			return false, "", fmtWrap("list clusters", ctx.Err())
		}, "timed out after 50ms: no answer yet", true},
		{"a check's own error ends the wait with it", func(context.Context) (bool, string, error) { return false, "", errRefused }, "403 forbidden", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := waitUntil(context.Background(), 50*time.Millisecond, 5*time.Millisecond, "no answer yet", "", tt.check)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var te *waitTimeoutError
			if errors.As(err, &te) != tt.timeout {
				t.Errorf("timeout error: %v, want %v", !tt.timeout, tt.timeout)
			}
			if strings.Contains(err.Error(), "deadline") {
				t.Errorf("the error speaks of a deadline: %v", err)
			}
		})
	}
}

func fmtWrap(what string, err error) error { return errors.Join(errors.New(what), err) }

func TestWaitInterruptedIsNoTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := waitUntil(ctx, time.Hour, time.Millisecond, "", "", func(context.Context) (bool, string, error) {
		cancel()
		return false, "still", nil
	})
	var te *waitTimeoutError
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestShortDurationIsAsTyped(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Minute: "2m", 90 * time.Second: "1m30s", time.Second: "1s", 500 * time.Millisecond: "500ms", 2 * time.Hour: "2h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestClusterWaitTimesOutNamingTheState(t *testing.T) {
	cs := setUpCMKWithCLI(t, startNode(t))
	// 3 s, not 1: on a loaded machine the first answer can take over a
	// second, and a wait cut short before any answer has no state to name.
	r := cs.run("cluster", "wait", "--name", "cluster1", "--key-state", "Revoked", "--timeout", "3s")
	want := "error: timed out after 3s: cluster cluster1 is still in state Accessible (waiting for Revoked)\n"
	if r.code != exitError || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "hint: ") || strings.Contains(r.stderr, "deadline") {
		t.Fatalf("exit %d, stderr:\n%s\nwant it to start %q", r.code, r.stderr, want)
	}
	if out := cs.must("cluster", "wait", "--name", "cluster1", "--key-state", "Accessible", "--timeout", "10s"); out != "cluster cluster1: key Accessible\n" {
		t.Errorf("a wait already satisfied prints %q", out)
	}
}
