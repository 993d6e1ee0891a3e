// Package extdata fetches the files the query language's externaldata operator reads, only
// under the URL prefixes the node's operator allowed, each within a size and a time limit.
// A *Policy is the kql.ExternalFetcher a node gives its queries and analytics rules.
package extdata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kql"
)

// Defaults of a Policy. The language documents externaldata for reference tables of up to
// 100 MB.
const (
	DefaultMaxBytes = 100 << 20
	DefaultTimeout  = 30 * time.Second
	maxRedirects    = 10
)

// Policy is what externaldata may fetch: URLs under the allowed prefixes, each within a size
// and a time limit. A nil *Policy fetches nothing.
type Policy struct {
	allow []*url.URL
	// Client makes the requests; nil: a client over http.DefaultTransport. Its redirect
	// policy is replaced by one that follows only redirects to allowed URLs.
	Client *http.Client
	// MaxBytes is the largest file read from one URL; 0: DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds the fetch of one URL; 0: DefaultTimeout.
	Timeout time.Duration
}

var _ kql.ExternalFetcher = (*Policy)(nil)

// New allows fetching URLs that start with one of prefixes: absolute http or https URLs
// without a query. A URL is under a prefix when its scheme and host (with port) are the
// prefix's and its path starts with the prefix's path, so that an allowed https://example.com
// never lets https://example.com.evil.test through; end a prefix with / to allow a folder
// rather than every path that starts with the same letters.
func New(prefixes []string) (*Policy, error) {
	pol := &Policy{}
	for _, s := range prefixes {
		u, err := kql.ParseExternalURL(s)
		if err != nil {
			return nil, fmt.Errorf("externaldata prefix %s: %w", kql.RedactURL(s), err)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			return nil, fmt.Errorf("externaldata prefix %s: a prefix has no query or fragment; give the start of the URLs' path", kql.RedactURL(s))
		}
		pol.allow = append(pol.allow, u)
	}
	return pol, nil
}

// Prefixes are the allowed URL prefixes, as given.
func (pol *Policy) Prefixes() []string {
	var out []string
	for _, u := range pol.allow {
		out = append(out, u.String())
	}
	return out
}

// allows reports whether u is under one of the allowed prefixes.
func (pol *Policy) allows(u *url.URL) bool {
	if pol == nil {
		return false
	}
	for _, a := range pol.allow {
		if u.Scheme == a.Scheme && strings.EqualFold(u.Host, a.Host) && strings.HasPrefix(u.EscapedPath(), a.EscapedPath()) {
			return true
		}
	}
	return false
}

// Fetch GETs rawURL within the policy's limits, following redirects only to allowed URLs. A
// URL (or a redirect's target) under no allowed prefix is a *kql.ExternalDataError with
// Refused set, and no request reaches it; no error holds a URL's query string.
func (pol *Policy) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := kql.ParseExternalURL(rawURL)
	if err != nil || !pol.allows(u) {
		return nil, &kql.ExternalDataError{URL: kql.RedactURL(rawURL), Refused: true}
	}
	timeout := pol.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := pol.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	resp, err := pol.client().Do(req)
	if err != nil {
		return nil, unwrapURLError(err, timeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered %s", resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("the file is %d bytes, more than externaldata's limit of %s", resp.ContentLength, kql.FormatBytes(limit))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, unwrapURLError(err, timeout)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("the file is more than externaldata's limit of %s", kql.FormatBytes(limit))
	}
	return body, nil
}

// client is the policy's client, or a default one, that follows only redirects to allowed
// URLs: a redirect must not carry a fetch outside the prefixes.
func (pol *Policy) client() *http.Client {
	c := &http.Client{}
	if pol.Client != nil {
		cc := *pol.Client
		c = &cc
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !pol.allows(req.URL) {
			return &kql.ExternalDataError{URL: kql.RedactURL(req.URL.String()), Refused: true}
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		return nil
	}
	return c
}

// unwrapURLError drops the *url.Error around err, whose text holds the whole URL with its
// query string, keeping what happened.
func unwrapURLError(err error, timeout time.Duration) error {
	var ee *kql.ExternalDataError
	if errors.As(err, &ee) {
		return ee
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
