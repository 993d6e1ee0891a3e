package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestPatternsMatchByCodeAndInnerCode(t *testing.T) {
	disabled := &Error{Kind: Forbidden, Code: "Forbidden", InnerCode: "KeyDisabled", Message: "enable the key"}
	err := fmt.Errorf("unwrap: %w", disabled)
	cases := []struct {
		name    string
		pattern *Error
		want    bool
	}{
		{"same code", &Error{Code: "Forbidden"}, true},
		{"same inner code", &Error{InnerCode: "KeyDisabled"}, true},
		{"same code and inner code", &Error{Code: "Forbidden", InnerCode: "KeyDisabled"}, true},
		{"other code", &Error{Code: "Conflict"}, false},
		{"other inner code", &Error{InnerCode: "AccessDenied"}, false},
		{"same code, other inner code", &Error{Code: "Forbidden", InnerCode: "AccessDenied"}, false},
		{"empty pattern matches nothing", &Error{Kind: Forbidden}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(err, tc.pattern); got != tc.want {
				t.Fatalf("errors.Is(%v, %+v) = %v, want %v", err, tc.pattern, got, tc.want)
			}
		})
	}
}

func TestKindOfFindsTheRefusalInTheChain(t *testing.T) {
	cause := errors.New("disk full")
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"refusal", New(NotFound, "KeyNotFound", "key '%s' was not found", "k"), NotFound},
		{"wrapped refusal", fmt.Errorf("get: %w", New(Conflict, "Conflict", "in use")), Conflict},
		{"plain error", cause, Internal},
		{"nil", nil, Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.want {
				t.Fatalf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if e := (&Error{Code: "InternalError", Message: "m", Err: cause}); !errors.Is(e, cause) {
		t.Fatal("the cause is not reachable through Unwrap")
	}
}
