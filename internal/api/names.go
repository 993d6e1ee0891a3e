package api

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sealwatch/sealwatch/internal/textcheck"
)

// nameRule is the cloud's naming rule for one kind of name that travels in a
// path: a resource name, an ID, a location. The API checks every path
// segment against its rule before anything is looked up or stored, so that
// no name the cloud would refuse reaches a store, a log line or a listing.
type nameRule struct {
	what     string // "resource group name": how a message names it
	code     string // the error code the cloud's API answers for a bad one
	min, max int    // length in characters
	// char reports whether r may appear at position i of a name of n
	// characters; nil for rules that check the whole name with shape.
	char  func(r rune, i, n int) bool
	shape func(s string) bool // whole-name check (GUIDs), or nil
	// noDoubleHyphen refuses "--", as vault names do.
	noDoubleHyphen bool
	says           string // the rule in words, for the message
}

// Codes the API answers for a bad name. InvalidResourceName is the
// management API's; the others are the codes the cloud's own APIs use.
const (
	codeInvalidName   = "InvalidResourceName"
	codeInvalidSub    = "InvalidSubscriptionId"
	codeVaultName     = "VaultNameNotValid"
	codeKeyVaultParam = "BadParameter"
)

func isAlnum(r rune) bool { return r < utf8.RuneSelf && (isASCIILetter(r) || r >= '0' && r <= '9') }
func isASCIILetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// alnumHyphenInside allows letters, digits and hyphens, with a letter or digit
// at both ends: the rule of clusters and workspaces.
func alnumHyphenInside(r rune, i, n int) bool {
	return isAlnum(r) || r == '-' && i > 0 && i < n-1
}

var (
	ruleSubscription = nameRule{what: "subscription ID", code: codeInvalidSub, min: 36, max: 36, shape: isGUID,
		says: "a subscription ID is a GUID such as 00000000-0000-0000-0000-000000000000"}
	ruleResourceGroup = nameRule{what: "resource group name", code: codeInvalidName, min: 1, max: 90,
		char: func(r rune, i, n int) bool {
			ok := unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.()", r)
			return ok && (r != '.' || i < n-1)
		},
		says: "a resource group name is 1-90 letters, digits, underscores, hyphens, periods and parentheses, and does not end with a period"}
	ruleCluster = nameRule{what: "cluster name", code: codeInvalidName, min: 4, max: 63, char: alnumHyphenInside,
		says: "a cluster name is 4-63 letters, digits and hyphens, and starts and ends with a letter or digit"}
	ruleWorkspace = nameRule{what: "workspace name", code: codeInvalidName, min: 4, max: 63, char: alnumHyphenInside,
		says: "a workspace name is 4-63 letters, digits and hyphens, and starts and ends with a letter or digit"}
	ruleDCR = nameRule{what: "data collection rule name", code: codeInvalidName, min: 4, max: 63, char: alnumHyphenInside,
		says: "a data collection rule name is 4-63 letters, digits and hyphens, and starts and ends with a letter or digit"}
	ruleVault = nameRule{what: "vault name", code: codeVaultName, min: 3, max: 24, noDoubleHyphen: true,
		char: func(r rune, i, n int) bool {
			switch i {
			case 0:
				return r < utf8.RuneSelf && isASCIILetter(r)
			case n - 1:
				return isAlnum(r)
			}
			return isAlnum(r) || r == '-'
		},
		says: "a vault name is 3-24 letters, digits and hyphens, starts with a letter, ends with a letter or digit, and has no consecutive hyphens"}
	ruleKey = nameRule{what: "key name", code: codeKeyVaultParam, min: 1, max: 127,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' },
		says: "a key name is 1-127 letters, digits and hyphens"}
	ruleKeyVersion = nameRule{what: "key version", code: codeKeyVaultParam, min: 32, max: 32,
		char: func(r rune, _, _ int) bool { return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' },
		says: "a key version is 32 lowercase hexadecimal digits"}
	ruleLocation = nameRule{what: "location", code: codeInvalidName, min: 1, max: 64,
		char: func(r rune, _, _ int) bool { return isAlnum(r) },
		says: "a location is 1-64 letters and digits, such as westeurope"}
	ruleIncident = nameRule{what: "incident ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "an incident ID is 1-128 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleAlertRule = nameRule{what: "alert rule ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "an alert rule ID is 1-128 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleComment = nameRule{what: "comment ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a comment ID is 1-128 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleAutomationRule = nameRule{what: "automation rule ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "an automation rule ID is 1-128 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleTask = nameRule{what: "task ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a task ID is 1-128 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleWatchlist = nameRule{what: "watchlist alias", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a watchlist alias is 1-128 letters, digits, hyphens and underscores"}
	ruleWatchlistItem = nameRule{what: "watchlist item ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a watchlist item ID is 1-128 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleTable = nameRule{what: "table name", code: codeInvalidName, min: 1, max: 63,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '_' },
		says: "a table name is 1-63 letters, digits and underscores; a custom table's ends in _CL"}
	ruleSavedSearch = nameRule{what: "saved search ID", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a saved search ID is 1-128 letters, digits, hyphens and underscores (a parser's name or a GUID is usual)"}
	ruleRoleAssignment = nameRule{what: "role assignment name", code: codeInvalidName, min: 1, max: 64,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a role assignment name is 1-64 letters, digits, hyphens and underscores (a GUID is usual)"}
	ruleAccessPolicyKind = nameRule{what: "access policy operation", code: codeInvalidName, min: 1, max: 16,
		char: func(r rune, _, _ int) bool { return r < utf8.RuneSelf && isASCIILetter(r) },
		says: "the access policy operation is add, replace or remove"}
	ruleObjectID = nameRule{what: "application object ID", code: codeInvalidName, min: 36, max: 36, shape: isGUID,
		says: "an application is named by its object ID, a GUID"}
	ruleCustomerID = nameRule{what: "workspace ID", code: codeInvalidName, min: 36, max: 36, shape: isGUID,
		says: "the query API names a workspace by its workspace ID (customerId), a GUID"}
	ruleImmutableID = nameRule{what: "data collection rule immutable ID", code: codeInvalidName, min: 36, max: 36,
		shape: func(s string) bool {
			h, ok := strings.CutPrefix(strings.ToLower(s), "dcr-")
			return ok && strings.Trim(h, "0123456789abcdef") == ""
		},
		says: "a data collection rule's immutable ID is dcr- and 32 hexadecimal digits"}
	ruleStream = nameRule{what: "stream name", code: codeInvalidName, min: 1, max: 128,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' || r == '_' },
		says: "a stream name is Custom-<table> or Microsoft-<table>: 1-128 letters, digits, hyphens and underscores"}
	ruleEventSubscription = nameRule{what: "event subscription name", code: codeInvalidName, min: 3, max: 64,
		char: func(r rune, _, _ int) bool { return isAlnum(r) || r == '-' },
		says: "an event subscription's name is 3-64 letters, digits and hyphens"}
	ruleTenant = nameRule{what: "tenant", code: codeInvalidName, min: 1, max: 253,
		char: func(r rune, i, n int) bool { return isAlnum(r) || (r == '-' || r == '.') && i > 0 && i < n-1 },
		says: "a tenant is named by its ID (a GUID) or a domain name"}
	// ruleProviderSegment covers the other segments of a role assignment's
	// scope (provider namespaces, resource types, names of other resources).
	ruleProviderSegment = nameRule{what: "scope segment", code: codeInvalidName, min: 1, max: 260,
		char: func(r rune, _, _ int) bool {
			return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.()", r)
		},
		says: "each segment of a scope is 1-260 letters, digits, underscores, hyphens, periods and parentheses"}
)

func isGUID(s string) bool { return len(s) == 36 && uuid.Validate(s) == nil }

// routeRules names the rule of each path wildcard by the literal segment
// before it and the wildcard itself, as the route patterns spell them.
// Registering a route with a wildcard missing here panics: a new route
// cannot skip validation.
var routeRules = map[string]*nameRule{
	"/{tenant}":                     &ruleTenant,
	"subscriptions/{sub}":           &ruleSubscription,
	"resourceGroups/{rg}":           &ruleResourceGroup,
	"clusters/{name}":               &ruleCluster,
	"workspaces/{name}":             &ruleWorkspace,
	"workspaces/{id}":               &ruleCustomerID,
	"dataCollectionRules/{name}":    &ruleDCR,
	"dataCollectionRules/{id}":      &ruleImmutableID,
	"streams/{stream}":              &ruleStream,
	"vaults/{name}":                 &ruleVault,
	"deletedVaults/{name}":          &ruleVault,
	"locations/{loc}":               &ruleLocation,
	"accessPolicies/{kind}":         &ruleAccessPolicyKind,
	"keys/{key}":                    &ruleKey,
	"applications/{id}":             &ruleObjectID,
	"incidents/{id}":                &ruleIncident,
	"comments/{cid}":                &ruleComment,
	"alertRules/{ruleId}":           &ruleAlertRule,
	"automationRules/{ruleId}":      &ruleAutomationRule,
	"tasks/{taskId}":                &ruleTask,
	"watchlists/{alias}":            &ruleWatchlist,
	"watchlistItems/{itemId}":       &ruleWatchlistItem,
	"tables/{table}":                &ruleTable,
	"savedSearches/{id}":            &ruleSavedSearch,
	"eventSubscriptions/{eventSub}": &ruleEventSubscription,
	// The role assignment routes take the rest of the path; roleAssignmentPath
	// checks each of its segments.
	"subscriptions/{scope...}": nil,
}

// pathParam is one wildcard of a route and the rule its value must follow.
type pathParam struct {
	name string
	rule *nameRule
}

// pathParams returns the wildcards of a route pattern with their rules, and
// panics on a wildcard that has no rule.
func pathParams(pattern string) []pathParam {
	_, path, _ := strings.Cut(pattern, " ")
	var out []pathParam
	prev := ""
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			key := prev + "/" + seg
			rule, ok := routeRules[key]
			if !ok {
				panic(fmt.Sprintf("api: route %q: no naming rule for %s; add one to routeRules", pattern, key))
			}
			if rule != nil {
				out = append(out, pathParam{name: strings.Trim(seg, "{}."), rule: rule})
			}
		}
		prev = seg
	}
	return out
}

// checkPathParams refuses a request whose path values break their rules.
// The values are the mux's decoded segments: "..%2F.." is checked as "../..".
func checkPathParams(r *http.Request, params []pathParam) error {
	for _, p := range params {
		if err := p.rule.check(r.PathValue(p.name)); err != nil {
			return err
		}
	}
	return nil
}

// check returns nil when s follows the rule, else the refusal naming the
// part of the rule s breaks.
func (n *nameRule) check(s string) error {
	if why := n.breach(s); why != "" {
		return &Error{Status: http.StatusBadRequest, Code: n.code,
			Message: fmt.Sprintf("%s is not valid: %s; %s", n.subject(s), why, n.says)}
	}
	return nil
}

// breach says how s breaks the rule, or "" when it does not.
func (n *nameRule) breach(s string) string {
	if !utf8.ValidString(s) {
		return fmt.Sprintf("it is not valid UTF-8 (at byte %d)", textcheck.InvalidUTF8([]byte(s)))
	}
	count := utf8.RuneCountInString(s)
	switch {
	case count == 0:
		return "it is empty"
	case n.shape != nil && !n.shape(s):
		return "it does not have that form"
	case count < n.min:
		return fmt.Sprintf("it is shorter than %d characters", n.min)
	case count > n.max:
		return fmt.Sprintf("it is longer than %d characters", n.max)
	case n.noDoubleHyphen && strings.Contains(s, "--"):
		return "it contains consecutive hyphens"
	}
	if n.char == nil {
		return ""
	}
	i := 0
	for _, r := range s {
		if !n.char(r, i, count) {
			if r < 0x20 || r == 0x7f {
				return fmt.Sprintf("character %d is a control character", i+1)
			}
			return fmt.Sprintf("character %d (%q) is not allowed there", i+1, r)
		}
		i++
	}
	return ""
}

// subject names the value in a message: quoted when it is fit to echo
// (valid UTF-8, no control characters, bounded), else by kind alone.
func (n *nameRule) subject(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "the " + n.what + " in the request"
	}
	return fmt.Sprintf("%s '%s'", n.what, truncateRunes(s, 64))
}

// truncateRunes bounds s to n characters, never cutting one in half.
func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// checkCleanPath refuses a path with an empty, "." or ".." segment: the mux
// would redirect it to another path than the caller wrote. (A trailing slash
// is left to the routes, which have none.)
func checkCleanPath(escaped string) error {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || seg == "" && i < len(segs)-1 {
			return &Error{Status: http.StatusBadRequest, Code: codeInvalidName,
				Message: fmt.Sprintf("path segment %d is empty, . or ..; every segment of the path names something (see docs/api.md)", i+1)}
		}
	}
	return nil
}

// echo bounds a value from the request before a message repeats it, and
// repeats it only when it is valid UTF-8 without control characters.
func echo(s string, n int) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "(not shown: not valid UTF-8, or holds control characters)"
	}
	return truncateRunes(s, n)
}
