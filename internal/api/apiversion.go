package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The api-version rule, the same on every API that takes one (docs/api.md,
// "API versions"):
//
//   - api-version is required;
//   - it is a date, YYYY-MM-DD, optionally followed by -preview, or, on the
//     Key Vault keys API only, one of its numbered versions (7.6, 7.6-preview.2);
//   - every version from the oldest the API implements on is accepted, those
//     released after the newest it implements included: the official SDKs
//     move to a new version with each release and mostly add optional fields,
//     so a version newer than ours is answered as our newest, rather than
//     refused until Sealwatch catches up;
//   - a malformed version, or one older than the oldest it implements, is
//     refused with 400 naming the range implemented.
//
// Versions compare within their scheme: dates with dates, numbers with
// numbers. The Log Analytics query API takes its version in the path (/v1)
// and reads no api-version.

// apiSurface is one API's versions: what it is called in refusals, the
// versions it implements (oldest first within each scheme), and the error
// codes its cloud counterpart answers.
type apiSurface struct {
	name        string
	versions    []string
	missingCode string
	invalidCode string
}

var (
	// keyVaultKeysAPI: azkeys v1.6.0 sends 2026-04-01, v1.5.0 2025-07-01;
	// @azure/keyvault-keys 4.10 sends 2025-07-01. The cloud answers an
	// unknown version with BadParameter, and so does this API.
	keyVaultKeysAPI = &apiSurface{name: "Key Vault keys API",
		versions:    []string{"7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"},
		missingCode: "BadParameter", invalidCode: "BadParameter"}
	// logsIngestionAPI: @azure/monitor-ingestion sends 2023-01-01.
	logsIngestionAPI = &apiSurface{name: "Logs Ingestion API",
		versions:    []string{"2021-11-01-preview", "2023-01-01"},
		missingCode: "MissingApiVersionParameter", invalidCode: "InvalidApiVersionParameter"}
	dataCollectorAPI = &apiSurface{name: "HTTP Data Collector API",
		versions:    []string{"2016-04-01"},
		missingCode: "MissingApiVersionParameter", invalidCode: "InvalidApiVersionParameter"}
)

// managementAPIs are the management API's resource providers, by lowercase
// namespace; each has versions of its own, as in the cloud. The oldest of
// each is the first whose resource shapes Sealwatch's match (soft-delete
// retention on vaults, clusters with keys, the first data collection rules,
// workspace onboarding and automation rules).
var managementAPIs = map[string]*apiSurface{
	"microsoft.keyvault": mgmtSurface("Microsoft.KeyVault",
		"2019-09-01", "2021-10-01", "2022-07-01", "2023-02-01", "2023-07-01", "2024-11-01", "2025-05-01", "2026-02-01"),
	"microsoft.operationalinsights": mgmtSurface("Microsoft.OperationalInsights",
		"2020-08-01", "2021-06-01", "2022-10-01", "2023-09-01", "2025-02-01"),
	"microsoft.insights": mgmtSurface("Microsoft.Insights",
		"2021-04-01", "2022-06-01", "2023-03-11", "2024-03-11"),
	"microsoft.securityinsights": mgmtSurface("Microsoft.SecurityInsights",
		"2021-10-01", "2022-11-01", "2023-02-01", "2024-03-01", "2024-09-01"),
	"microsoft.authorization": mgmtSurface("Microsoft.Authorization",
		"2015-07-01", "2022-04-01"),
}

func mgmtSurface(provider string, versions ...string) *apiSurface {
	return &apiSurface{name: "management API of " + provider, versions: versions,
		missingCode: "MissingApiVersionParameter", invalidCode: "InvalidApiVersionParameter"}
}

// managementAPI is the provider a management path addresses: the last
// /providers/{namespace}/ in it, as a role assignment on a workspace belongs
// to Microsoft.Authorization. A path naming none (only a malformed role
// assignment scope) is held to Microsoft.Authorization's versions.
func managementAPI(path string) *apiSurface {
	rest := path
	ns := ""
	for {
		i := strings.Index(strings.ToLower(rest), "/providers/")
		if i < 0 {
			break
		}
		rest = rest[i+len("/providers/"):]
		ns, _, _ = strings.Cut(rest, "/")
	}
	if s, ok := managementAPIs[strings.ToLower(ns)]; ok {
		return s
	}
	return managementAPIs["microsoft.authorization"]
}

// checkARMAPIVersion applies the api-version rule of the resource provider
// the request's path addresses.
func checkARMAPIVersion(r *http.Request) error {
	return managementAPI(r.URL.Path).check(r)
}

// apiVersion is a parsed api-version: a date, or a numbered version.
type apiVersion struct {
	date         time.Time
	major, minor int // numbered versions only
	numbered     bool
}

// parseAPIVersion reads s as one of the two schemes; ok is false for
// anything else. A preview suffix is allowed and does not change the order.
func parseAPIVersion(s string) (v apiVersion, ok bool) {
	previewNumber := false
	if d, rest, found := strings.Cut(s, "-preview"); found {
		// 7.6-preview.2 and 2021-11-01-preview; nothing else follows.
		if rest != "" && !(strings.HasPrefix(rest, ".") && isDigits(rest[1:])) {
			return v, false
		}
		s, previewNumber = d, rest != ""
	}
	if len(s) == len("2006-01-02") && s[4] == '-' {
		// A dated preview has no number of its own.
		d, err := time.Parse(time.DateOnly, s)
		return apiVersion{date: d}, err == nil && !previewNumber
	}
	maj, min, found := strings.Cut(s, ".")
	if !found || !isDigits(maj) || !isDigits(min) || len(maj) > 2 || len(min) > 2 {
		return v, false
	}
	v.major, _ = strconv.Atoi(maj)
	v.minor, _ = strconv.Atoi(min)
	v.numbered = true
	return v, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// before reports whether v is older than w; both are of the same scheme.
func (v apiVersion) before(w apiVersion) bool {
	if v.numbered {
		return v.major < w.major || v.major == w.major && v.minor < w.minor
	}
	return v.date.Before(w.date)
}

// oldest is the first version s implements in v's scheme; ok is false when
// s has no version of that scheme.
func (s *apiSurface) oldest(v apiVersion) (apiVersion, bool) {
	for _, known := range s.versions {
		if k, _ := parseAPIVersion(known); k.numbered == v.numbered {
			return k, true
		}
	}
	return apiVersion{}, false
}

// supported is the range s implements, for refusals.
func (s *apiSurface) supported() string {
	newest := s.versions[len(s.versions)-1]
	if len(s.versions) == 1 {
		return fmt.Sprintf("this node implements %s; later versions are answered as %s", newest, newest)
	}
	return fmt.Sprintf("this node implements %s through %s; later versions are answered as %s", s.versions[0], newest, newest)
}

// check applies the api-version rule to r.
func (s *apiSurface) check(r *http.Request) error {
	raw := r.URL.Query().Get("api-version")
	newest := s.versions[len(s.versions)-1]
	if raw == "" {
		return badRequest(s.missingCode, fmt.Sprintf("the api-version query parameter is required by the %s: use api-version=%s (%s)", s.name, newest, s.supported()))
	}
	v, ok := parseAPIVersion(raw)
	var oldest apiVersion
	if ok {
		oldest, ok = s.oldest(v)
	}
	if !ok {
		return badRequest(s.invalidCode, fmt.Sprintf("api-version %q is not a version of the %s: use a date such as %s (%s)", echo(raw, 40), s.name, newest, s.supported()))
	}
	if v.before(oldest) {
		return badRequest(s.invalidCode, fmt.Sprintf("api-version %q is older than any version the %s implements: use api-version=%s (%s)", echo(raw, 40), s.name, newest, s.supported()))
	}
	return nil
}
