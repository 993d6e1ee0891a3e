package api

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kql"
)

func TestTimespansReadAsTheQueryAPIWrites(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ok := []struct {
		in       string
		from, to time.Time
	}{
		{"PT1H", now.Add(-time.Hour), now},
		{"P1D", now.Add(-24 * time.Hour), now},
		{"P1W", now.Add(-7 * 24 * time.Hour), now},
		{"P2DT12H30M", now.Add(-(60*time.Hour + 30*time.Minute)), now},
		{"PT0.5S", now.Add(-500 * time.Millisecond), now},
		{"2026-11-25T00:00:00Z/2026-11-26T00:00:00Z", now.Add(-36 * time.Hour), now.Add(-12 * time.Hour)},
		{"2026-11-25T00:00:00Z/PT6H", now.Add(-36 * time.Hour), now.Add(-30 * time.Hour)},
		{"PT6H/2026-11-26T00:00:00Z", now.Add(-18 * time.Hour), now.Add(-12 * time.Hour)},
	}
	for _, tc := range ok {
		from, to, err := parseTimespan(tc.in, now)
		if err != nil || !from.Equal(tc.from) || !to.Equal(tc.to) {
			t.Errorf("%s: %v..%v, %v; want %v..%v", tc.in, from, to, err, tc.from, tc.to)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "P1Y", "P1M", "PT-1H", "P0D", "PT1H/PT2H",
		"2026-11-26T00:00:00Z/2026-11-25T00:00:00Z", "yesterday/today", "P999999999D"} {
		if _, _, err := parseTimespan(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPreferWaitSetsTheTimeout(t *testing.T) {
	cases := map[string]time.Duration{"wait=10": 10 * time.Second, "include-statistics=true, wait=600": 600 * time.Second, "WAIT=3": 3 * time.Second}
	for h, want := range cases {
		if got, ok := preferWait(h); !ok || got != want {
			t.Errorf("%q: %v %v", h, got, ok)
		}
	}
	for _, h := range []string{"", "wait=0", "wait=abc", "nowait=5", "wait=99999999999999999999"} {
		if _, ok := preferWait(h); ok {
			t.Errorf("%q accepted", h)
		}
	}
}

func FuzzParseTimespan(f *testing.F) {
	for _, s := range []string{"PT1H", "P1DT2H", "2026-11-25T00:00:00Z/PT6H", "PT6H/2026-11-26T00:00:00Z", "x/y"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		from, to, err := parseTimespan(s, now)
		if err == nil && !from.Before(to) {
			t.Fatalf("%q gave an empty or reversed range %v..%v", s, from, to)
		}
	})
}

func TestQueryLimitsMapToTheirAnswers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		inner      string
		retryAfter int
	}{
		{"over the query's memory", &kql.LimitError{Limit: 1 << 30, Operator: "join", Err: kql.ErrMemoryLimit}, 400, "BadArgumentError", "QueryLimitExceeded", 0},
		{"over the row limit", &kql.LimitError{Limit: 500000, Err: kql.ErrTooManyRows}, 400, "BadArgumentError", "QueryLimitExceeded", 0},
		{"the node's memory in use", fmt.Errorf("run: %w", &kql.LimitError{Limit: 4 << 30, Operator: "sort", Err: kql.ErrNodeMemory}), 429, "ThrottledError", "QueryMemoryExhausted", queryMemoryRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *Error
			if !errors.As(kqlError(tc.err), &e) || e.Status != tc.status || e.Code != tc.code || e.InnerCode != tc.inner || e.RetryAfter != tc.retryAfter {
				t.Fatalf("got %+v, want %d %s/%s Retry-After %d", e, tc.status, tc.code, tc.inner, tc.retryAfter)
			}
			var le *kql.LimitError
			if errors.As(tc.err, &le); e.Message != le.Error() {
				t.Fatalf("message %q, want the engine's %q", e.Message, le.Error())
			}
		})
	}
	// a client that went away is not a server failure: below 500, so not logged as one
	if e := toAPIError(kqlError(fmt.Errorf("scan: %w", context.Canceled))); e.Status >= 500 {
		t.Fatalf("a cancelled query answers %d %s", e.Status, e.Code)
	}
}
