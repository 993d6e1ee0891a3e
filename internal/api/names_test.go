package api

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestNamesFollowTheCloudsRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		rule  *nameRule
		name  string
		valid bool
	}{
		{&ruleSubscription, "6b1f3c7e-2a4d-4e8f-9c0b-1d2e3f4a5b6c", true},
		{&ruleSubscription, "s1", false},
		{&ruleSubscription, "6b1f3c7e2a4d4e8f9c0b1d2e3f4a5b6c0000", false},
		{&ruleResourceGroup, "rg1", true},
		{&ruleResourceGroup, "My_RG-(prod).eu", true},
		{&ruleResourceGroup, "grüppe", true},
		{&ruleResourceGroup, "rg.", false},
		{&ruleResourceGroup, "../..", false},
		{&ruleResourceGroup, "..", false},
		{&ruleResourceGroup, "a b", false},
		{&ruleResourceGroup, long(90), true},
		{&ruleResourceGroup, long(91), false},
		{&ruleResourceGroup, long(100000), false},
		{&ruleResourceGroup, "", false},
		{&ruleResourceGroup, "rg\x00", false},
		{&ruleResourceGroup, "rg\xff", false},
		{&ruleCluster, "sec-cluster1", true},
		{&ruleCluster, "abc", false},
		{&ruleCluster, "-abcd", false},
		{&ruleCluster, "abcd-", false},
		{&ruleCluster, long(63), true},
		{&ruleCluster, long(64), false},
		{&ruleWorkspace, "secops", true},
		{&ruleWorkspace, "sec_ops", false},
		{&ruleVault, "kv1", true},
		{&ruleVault, "kv", false},
		{&ruleVault, "1kv", false},
		{&ruleVault, "kv--1", false},
		{&ruleVault, "kv-", false},
		{&ruleVault, long(24), true},
		{&ruleVault, long(25), false},
		{&ruleKey, "cmk-2026", true},
		{&ruleKey, long(127), true},
		{&ruleKey, long(128), false},
		{&ruleKey, "cmk_1", false},
		{&ruleKeyVersion, "0123456789abcdef0123456789abcdef", true},
		{&ruleKeyVersion, "0123456789ABCDEF0123456789ABCDEF", false},
		{&ruleImmutableID, "dcr-0123456789abcdef0123456789abcdef", true},
		{&ruleImmutableID, "dcr-0123456789abcdef0123456789abcdeg", false},
		{&ruleCustomerID, "6b1f3c7e-2a4d-4e8f-9c0b-1d2e3f4a5b6c", true},
		{&ruleCustomerID, "secops", false},
		{&ruleStream, "Custom-Events_CL", true},
		{&ruleStream, "Custom-Events CL", false},
		{&ruleIncident, "5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1a", true},
		{&ruleIncident, "inc/1", false},
		{&ruleAlertRule, "brute-force_1", true},
		{&ruleAlertRule, "rule.1", false},
		{&ruleTenant, "contoso.example", true},
		{&ruleTenant, ".contoso", false},
		{&ruleRoleAssignment, "a1", true},
		{&ruleRoleAssignment, "a 1", false},
	}
	for _, tc := range cases {
		name := tc.rule.what + " " + strings.ToValidUTF8(truncateRunes(tc.name, 20), "?")
		t.Run(name, func(t *testing.T) {
			err := tc.rule.check(tc.name)
			if (err == nil) != tc.valid {
				t.Fatalf("check(%q) = %v, want valid=%v", truncateRunes(tc.name, 40), err, tc.valid)
			}
			if err == nil {
				return
			}
			e := err.(*Error)
			if e.Status != 400 || e.Code != tc.rule.code || e.Message == "" || !utf8.ValidString(e.Message) {
				t.Fatalf("refusal %+v", e)
			}
			if len(e.Message) > 600 {
				t.Fatalf("the message is %d bytes: a long name is echoed whole", len(e.Message))
			}
		})
	}
}

func TestCleanPathsOnly(t *testing.T) {
	for path, ok := range map[string]bool{
		"/subscriptions/x":            true,
		"/v1.0/applications/":         true, // a trailing slash is the routes' business
		"/subscriptions//x":           false,
		"/subscriptions/./x":          false,
		"/subscriptions/../x":         false,
		"/subscriptions/x/..":         false,
		"/subscriptions/..%2F..":      true, // one segment; its rule refuses it
		"/subscriptions/x/%2e%2e/abc": true, // decoded "..", refused by the segment's rule
	} {
		if err := checkCleanPath(path); (err == nil) != ok {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestEveryRouteWildcardHasARule(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a wildcard without a naming rule was accepted")
		}
	}()
	pathParams("GET /subscriptions/{sub}/widgets/{widget}")
}

// FuzzNameRules checks every rule on arbitrary input: no panic, and a name
// accepted is valid UTF-8 without control characters and within the rule's
// length; a refusal is a 400 whose message is valid UTF-8 and bounded.
func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"rg1", "../..", "kv--1", "\xff", "a\x00b", "6b1f3c7e-2a4d-4e8f-9c0b-1d2e3f4a5b6c", "dcr-0123456789abcdef0123456789abcdef"} {
		f.Add(s)
	}
	rules := []*nameRule{&ruleSubscription, &ruleResourceGroup, &ruleCluster, &ruleWorkspace, &ruleDCR, &ruleVault,
		&ruleKey, &ruleKeyVersion, &ruleLocation, &ruleIncident, &ruleAlertRule, &ruleComment, &ruleRoleAssignment,
		&ruleAccessPolicyKind, &ruleObjectID, &ruleCustomerID, &ruleImmutableID, &ruleStream, &ruleTenant, &ruleProviderSegment}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range rules {
			err := r.check(s)
			if err == nil {
				n := utf8.RuneCountInString(s)
				if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) || n < r.min || n > r.max || strings.Contains(s, "/") {
					t.Fatalf("%s accepted %q", r.what, s)
				}
				continue
			}
			e := err.(*Error)
			if e.Status != 400 || !utf8.ValidString(e.Message) || len(e.Message) > 600 {
				t.Fatalf("%s: refusal %+v", r.what, e)
			}
		}
	})
}
