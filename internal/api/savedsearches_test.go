package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// savedSearchPath is the path of the test workspace's saved searches.
func (f *fullEnv) savedSearchPath(rest string) string {
	return f.url("", f.arm("Microsoft.OperationalInsights/workspaces/secops/savedSearches"+rest))
}

const dnsParser = `{"properties":{"category":"ASIM","displayName":"DNS parser for tests","functionAlias":"vimDnsTest",
	"functionParameters":"starttime:datetime=datetime(null), disabled:bool=false",
	"query":"DnsEvents\n| where not(disabled)","version":1,"tags":[{"name":"ParserVersion","value":"0.1"}]}}`

type savedSearchBody struct {
	ID, Name, Type, Etag string
	Properties           struct {
		Category, DisplayName, Query, FunctionAlias, FunctionParameters string
		Version                                                         int
		Tags                                                            []struct{ Name, Value string }
	}
}

func TestSavedSearchesOverHTTPS(t *testing.T) {
	f := newFullEnv(t)
	var got savedSearchBody
	resp := f.do("PUT", f.savedSearchPath("/vimDnsTest"), f.mgmt, dnsParser, &got)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != got.Etag || got.Etag == "" ||
		got.Name != "vimDnsTest" || got.Type != "Microsoft.OperationalInsights/savedSearches" ||
		!strings.HasSuffix(got.ID, "/workspaces/secops/savedSearches/vimDnsTest") ||
		got.Properties.FunctionAlias != "vimDnsTest" || got.Properties.Version != 1 || got.Properties.Tags[0].Value != "0.1" {
		t.Fatalf("create: %d %+v", resp.StatusCode, got)
	}
	var read savedSearchBody
	if resp := f.do("GET", f.savedSearchPath("/vimDnsTest"), f.mgmt, "", &read); resp.StatusCode != 200 || read.Etag != got.Etag ||
		read.Properties.Query != "DnsEvents\n| where not(disabled)" {
		t.Fatalf("get: %d %+v", resp.StatusCode, read)
	}
	var list struct{ Value []savedSearchBody }
	if resp := f.do("GET", f.savedSearchPath(""), f.mgmt, "", &list); resp.StatusCode != 200 || len(list.Value) != 1 || list.Value[0].Name != "vimDnsTest" {
		t.Fatalf("list: %d %+v", resp.StatusCode, list)
	}
	// the body's etag, as the cloud's clients send it, is the condition
	withEtag := strings.Replace(dnsParser, `{"properties"`, `{"etag":`+jsonQuote(got.Etag)+`,"properties"`, 1)
	var again savedSearchBody
	if resp := f.do("PUT", f.savedSearchPath("/vimDnsTest"), f.mgmt, withEtag, &again); resp.StatusCode != 200 || again.Etag == got.Etag {
		t.Fatalf("update under the etag read: %d %+v", resp.StatusCode, again)
	}
	var er errResp
	if resp := f.do("PUT", f.savedSearchPath("/vimDnsTest"), f.mgmt, withEtag, &er); resp.StatusCode != 412 || er.Error.Code != "PreconditionFailed" {
		t.Fatalf("update under a stale etag: %d %+v", resp.StatusCode, er)
	}
	if resp := f.do("PUT", f.savedSearchPath("/copy"), f.mgmt, dnsParser, &er); resp.StatusCode != 409 || er.Error.Code != "FunctionAliasInUse" ||
		!strings.Contains(er.Error.Message, "function alias 'vimDnsTest' is already saved search 'vimDnsTest''s") {
		t.Fatalf("a second search with the alias: %d %+v", resp.StatusCode, er)
	}
	if resp := f.do("DELETE", f.savedSearchPath("/vimDnsTest"), f.mgmt, "", nil); resp.StatusCode != 200 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp := f.do("GET", f.savedSearchPath("/vimDnsTest"), f.mgmt, "", &er); resp.StatusCode != 404 || er.Error.Code != "NotFound" {
		t.Fatalf("get after delete: %d %+v", resp.StatusCode, er)
	}
	if resp := f.do("PUT", f.savedSearchPath("/copy"), f.mgmt, dnsParser, nil); resp.StatusCode != 200 {
		t.Fatalf("the alias of the deleted search: %d", resp.StatusCode)
	}
}

func TestBadSavedSearchesAreRefusedOverHTTPS(t *testing.T) {
	f := newFullEnv(t)
	props := func(fields string) string {
		return `{"properties":{` + fields + `}}`
	}
	const ok = `"category":"c","displayName":"d"`
	for _, tc := range []struct {
		name, id, body string
		status         int
		code, message  string
	}{
		{"no properties", "s1", `{}`, 400, "BadRequest", "has no properties"},
		{"unknown property", "s1", props(ok + `,"query":"T","color":"red"`), 400, "BadRequest", "color"},
		{"missing query", "s1", props(ok), 400, "BadRequest", "properties.query is required"},
		{"missing category", "s1", props(`"displayName":"d","query":"T"`), 400, "BadRequest", "properties.category is required"},
		{"query a number", "s1", props(ok + `,"query":5`), 400, "BadRequest", "query"},
		{"alias with a space", "s1", props(ok + `,"query":"T","functionAlias":"my parser"`), 400, "BadRequest", "is not a function name"},
		{"parameters without alias", "s1", props(ok + `,"query":"T","functionParameters":"a:long"`), 400, "BadRequest", "needs properties.functionAlias"},
		{"parameters that do not parse", "s1", props(ok + `,"query":"T","functionAlias":"f","functionParameters":"a:wibble"`), 400, "SyntaxError", "properties.functionParameters: syntax error at 1:"},
		{"body that does not parse", "s1", props(ok + `,"query":"T\n| where","functionAlias":"f"`), 400, "SyntaxError", "properties.query: syntax error at 2:"},
		{"version 0", "s1", props(ok + `,"query":"T","version":0`), 400, "BadRequest", "properties.version"},
		{"ID with a dot", "a.b", props(ok + `,"query":"T"`), 400, "InvalidResourceName", "saved search ID"},
		{"not JSON", "s1", `{"properties":`, 400, "", ""},
		{"over 4 MiB", "s1", props(ok + `,"query":"` + strings.Repeat("x", 5<<20) + `"`), 413, "PayloadTooLarge", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var er errResp
			resp := f.do("PUT", f.savedSearchPath("/"+tc.id), f.mgmt, tc.body, &er)
			if resp.StatusCode != tc.status || er.Error.Message == "" || (tc.code != "" && er.Error.Code != tc.code) ||
				!strings.Contains(er.Error.Message, tc.message) {
				t.Fatalf("PUT = %d %+v, want %d %s saying %q", resp.StatusCode, er.Error, tc.status, tc.code, tc.message)
			}
		})
	}
	var list struct{ Value []savedSearchBody }
	if resp := f.do("GET", f.savedSearchPath(""), f.mgmt, "", &list); resp.StatusCode != 200 || len(list.Value) != 0 {
		t.Fatalf("a refused search was stored: %+v", list)
	}
}

// FuzzSavedSearchBody PUTs arbitrary bodies as a saved search: nothing may
// panic or answer 5xx, and what is accepted reads back as it was stored.
func FuzzSavedSearchBody(f *testing.F) {
	fe := newFullEnv(f)
	for _, seed := range []string{
		dnsParser,
		`{"properties":{"category":"c","displayName":"d","query":"T | take 1"}}`,
		`{"etag":"*","properties":{"category":"c","displayName":"d","query":"x * 2","functionAlias":"Double","functionParameters":"x:long"}}`,
		`{"properties":{"category":"c","displayName":"d","query":"T","functionAlias":"f","functionParameters":"T:(TimeGenerated:datetime)","tags":[{"name":"a","value":"b"}]}}`,
		`{"properties":{"category":"c","displayName":"d","query":"T\n};\nlet g = () {\nprint 1","functionAlias":"f"}}`,
		`{"properties":null}`,
	} {
		f.Add(seed)
	}
	target := fe.arm("Microsoft.OperationalInsights/workspaces/secops/savedSearches/fuzzed")
	f.Fuzz(func(t *testing.T, body string) {
		rec := fe.serve("PUT", "127.0.0.1", target, fe.mgmt, body)
		if rec.Code >= 500 {
			t.Fatalf("PUT %q: %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code != 200 {
			refusal(t, rec, false)
			return
		}
		var put savedSearchBody
		if err := json.Unmarshal(rec.Body.Bytes(), &put); err != nil {
			t.Fatal(err)
		}
		got := fe.serve("GET", "127.0.0.1", target, fe.mgmt, "")
		var read savedSearchBody
		if err := json.Unmarshal(got.Body.Bytes(), &read); err != nil || got.Code != 200 ||
			read.Etag != put.Etag || read.Properties.Query != put.Properties.Query || read.Properties.FunctionParameters != put.Properties.FunctionParameters {
			t.Fatalf("read back %d %s, stored %s", got.Code, got.Body, rec.Body)
		}
		fe.serve("DELETE", "127.0.0.1", target, fe.mgmt, "") // free its alias for the next input
	})
}
