package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// vaultEnv is a test server with one vault, "kv1", on which the admin holds
// every key permission.
type vaultEnv struct {
	*testEnv
	mgmt     string // management token of the admin
	adminOID string
	vtok     string // vault token of the admin
}

func newVaultEnv(t testing.TB) *vaultEnv {
	e := newTestEnv(t, nil)
	admin, err := e.identity.Get(context.Background(), e.adminID)
	if err != nil {
		t.Fatal(err)
	}
	ve := &vaultEnv{testEnv: e, mgmt: e.adminToken("https://management.azure.com/.default"), adminOID: admin.ObjectID,
		vtok: e.adminToken("https://vault.azure.net/.default")}
	body := fmt.Sprintf(`{"location":"local","properties":{"sku":{"family":"A","name":"standard"},"enablePurgeProtection":true,
		"accessPolicies":[{"objectId":%q,"permissions":{"keys":["all"]}}]}}`, admin.ObjectID)
	var out map[string]any
	if resp := e.do("PUT", ve.vaultRes("kv1"), ve.mgmt, body, &out); resp.StatusCode != 201 {
		t.Fatalf("create vault: %d %v", resp.StatusCode, out)
	}
	return ve
}

func (ve *vaultEnv) vaultRes(name string) string {
	return ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/"+name+"?api-version=2023-07-01")
}

// key returns the URL of a data-plane path on vault v1 with api-version 7.6.
func (ve *vaultEnv) key(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return ve.url("kv1."+testDNSSuffix, path+sep+"api-version=7.6")
}

func (ve *vaultEnv) createKey(name, body string) string {
	ve.t.Helper()
	var b struct{ Key struct{ KID string } }
	if resp := ve.do("POST", ve.key("/keys/"+name+"/create"), ve.vtok, body, &b); resp.StatusCode != 200 {
		ve.t.Fatalf("create key %s: %d", name, resp.StatusCode)
	}
	return b.Key.KID
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestVaultChallengeNamesAuthorityAndResource(t *testing.T) {
	ve := newVaultEnv(t)
	var er errResp
	resp := ve.do("GET", ve.key("/keys"), "", "", &er)
	if resp.StatusCode != 401 || er.Error.Code != "Unauthorized" {
		t.Fatalf("no token: %d %+v", resp.StatusCode, er)
	}
	_, port, _ := strings.Cut(ve.srv.Listener.Addr().String(), ":")
	want := fmt.Sprintf(`Bearer authorization="%s", resource="https://%s:%s"`, ve.identity.AuthorityURL(), testDNSSuffix, port)
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Fatalf("challenge\n got %s\nwant %s", got, want)
	}
	mgmtTok := ve.mgmt
	if resp := ve.do("GET", ve.key("/keys"), mgmtTok, "", &er); resp.StatusCode != 401 || !strings.Contains(er.Error.Message, "https://vault.azure.net") {
		t.Fatalf("management token on the vault: %d %+v", resp.StatusCode, er)
	}
}

func TestKeyVaultRefusesBadInput(t *testing.T) {
	ve := newVaultEnv(t)
	rsaKID := ve.createKey("rsa1", `{"kty":"RSA","key_size":2048}`)
	ve.createKey("oct1", `{"kty":"oct-HSM","key_size":256}`)
	rsaVersion := rsaKID[strings.LastIndexByte(rsaKID, '/')+1:]
	big := b64(make([]byte, 70<<10))
	cases := []struct {
		name, method, url, body string
		status                  int
		code, inner             string
	}{
		{"malformed JSON", "POST", ve.key("/keys/k2/create"), `{"kty":`, 400, "BadParameter", ""},
		{"wrong JSON type", "POST", ve.key("/keys/k2/create"), `{"kty":5}`, 400, "BadParameter", ""},
		{"missing api-version", "GET", ve.url("kv1."+testDNSSuffix, "/keys"), "", 400, "BadParameter", ""},
		{"unknown api-version", "GET", ve.url("kv1."+testDNSSuffix, "/keys?api-version=2016-10-01"), "", 400, "BadParameter", ""},
		{"unknown key type", "POST", ve.key("/keys/k2/create"), `{"kty":"DSA"}`, 400, "BadParameter", ""},
		{"unsupported RSA size", "POST", ve.key("/keys/k2/create"), `{"kty":"RSA","key_size":1024}`, 400, "BadParameter", ""},
		{"unknown algorithm", "POST", ve.key("/keys/rsa1/" + rsaVersion + "/wrapkey"), `{"alg":"RSA-OAEP-512","value":"AAAA"}`, 400, "BadParameter", "UnsupportedAlgorithm"},
		{"algorithm for another key type", "POST", ve.key("/keys/rsa1/" + rsaVersion + "/wrapkey"), `{"alg":"A256KW","value":"` + b64(make([]byte, 32)) + `"}`, 400, "BadParameter", "AlgorithmNotSupportedForKeyType"},
		{"RSA algorithm on oct key", "POST", ve.key("/keys/oct1/wrapkey"), `{"alg":"RSA-OAEP-256","value":"` + b64(make([]byte, 32)) + `"}`, 400, "BadParameter", "AlgorithmNotSupportedForKeyType"},
		{"oversized value", "POST", ve.key("/keys/oct1/wrapkey"), `{"alg":"A256KW","value":"` + big + `"}`, 400, "BadParameter", "ValueTooLarge"},
		{"value too large for RSA-OAEP", "POST", ve.key("/keys/rsa1/wrapkey"), `{"alg":"RSA-OAEP-256","value":"` + b64(make([]byte, 300)) + `"}`, 400, "BadParameter", "ValueTooLarge"},
		{"value not base64url", "POST", ve.key("/keys/rsa1/wrapkey"), `{"alg":"RSA-OAEP-256","value":"***"}`, 400, "BadParameter", ""},
		{"ciphertext that does not unwrap (RSA)", "POST", ve.key("/keys/rsa1/unwrapkey"), `{"alg":"RSA-OAEP-256","value":"` + b64(make([]byte, 256)) + `"}`, 400, "BadParameter", "DecryptionFailed"},
		{"ciphertext that does not unwrap (oct)", "POST", ve.key("/keys/oct1/unwrapkey"), `{"alg":"A256KW","value":"` + b64(make([]byte, 40)) + `"}`, 400, "BadParameter", "DecryptionFailed"},
		{"unknown version", "GET", ve.key("/keys/rsa1/0123456789abcdef0123456789abcdef"), "", 404, "KeyNotFound", ""},
		{"unknown version for unwrap", "POST", ve.key("/keys/rsa1/0123456789abcdef0123456789abcdef/unwrapkey"), `{"alg":"RSA-OAEP-256","value":"AAAA"}`, 404, "KeyNotFound", ""},
		{"unknown key", "GET", ve.key("/keys/nope"), "", 404, "KeyNotFound", ""},
		{"key name with underscore", "POST", ve.key("/keys/bad_name/create"), `{"kty":"RSA"}`, 400, "BadParameter", ""},
		{"key name of 128 characters", "POST", ve.key("/keys/" + strings.Repeat("a", 128) + "/create"), `{"kty":"RSA"}`, 400, "BadParameter", ""},
		{"body over 1 MB", "POST", ve.key("/keys/k2/create"), `{"tags":{"a":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, "PayloadTooLarge", ""},
		{"not an operation", "POST", ve.key("/keys/rsa1/explode"), `{}`, 404, "NotFound", ""},
		{"maxresults above 25", "GET", ve.key("/keys?maxresults=26"), "", 400, "BadParameter", ""},
		{"forged skiptoken", "GET", ve.key("/keys?$skiptoken=zz!"), "", 400, "BadParameter", ""},
		{"vault name of one letter", "PUT", ve.vaultRes("a"), `{"location":"local","properties":{"sku":{"family":"A","name":"standard"}}}`, 400, "VaultNameNotValid", ""},
		{"vault name with underscore", "PUT", ve.vaultRes("my_vault"), `{"location":"local","properties":{"sku":{"family":"A","name":"standard"}}}`, 400, "VaultNameNotValid", ""},
		{"retention out of range", "PUT", ve.vaultRes("kv2"), `{"location":"local","properties":{"softDeleteRetentionInDays":3}}`, 400, "BadParameter", ""},
		{"soft delete off", "PUT", ve.vaultRes("kv2"), `{"location":"local","properties":{"enableSoftDelete":false}}`, 400, "BadParameter", ""},
		{"unknown permission", "PUT", ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/accessPolicies/add?api-version=2023-07-01"), `{"properties":{"accessPolicies":[{"objectId":"x","permissions":{"keys":["fly"]}}]}}`, 400, "BadParameter", ""},
		{"missing management api-version", "GET", ve.url("", "/subscriptions/"+testSub+"/providers/Microsoft.KeyVault/vaults"), "", 400, "MissingApiVersionParameter", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := ve.vtok
			if strings.Contains(tc.url, "/subscriptions/") {
				tok = ve.mgmt
			}
			var er errResp
			resp := ve.do(tc.method, tc.url, tok, tc.body, &er)
			inner := ""
			if er.Error.InnerError != nil {
				inner = er.Error.InnerError.Code
			}
			if resp.StatusCode != tc.status || er.Error.Code != tc.code || (tc.inner != "" && inner != tc.inner) {
				t.Fatalf("got %d %s/%s %q; want %d %s/%s", resp.StatusCode, er.Error.Code, inner, er.Error.Message, tc.status, tc.code, tc.inner)
			}
			if er.Error.Message == "" {
				t.Fatal("error without a message")
			}
		})
	}
	// Purge protection, once on, cannot be turned off.
	var er errResp
	resp := ve.do("PUT", ve.vaultRes("kv1"), ve.mgmt, `{"location":"local","properties":{"enablePurgeProtection":false}}`, &er)
	if resp.StatusCode != 400 {
		t.Fatalf("turning purge protection off: %d %+v", resp.StatusCode, er)
	}
}

func TestMissingPermissionIsForbiddenUntilGranted(t *testing.T) {
	ve := newVaultEnv(t)
	ve.createKey("cmk", `{"kty":"oct","key_size":256}`)
	app, secret, err := ve.identity.CreateApplication(context.Background(), "cluster")
	if err != nil {
		t.Fatal(err)
	}
	tok := ve.token(app.AppID, secret, "https://vault.azure.net/.default")
	wrap := func() (*http.Response, errResp) {
		var er errResp
		resp := ve.do("POST", ve.key("/keys/cmk/wrapkey"), tok, `{"alg":"A256KW","value":"`+b64(make([]byte, 32))+`"}`, &er)
		return resp, er
	}
	resp, er := wrap()
	if resp.StatusCode != 403 || er.Error.Code != "Forbidden" ||
		!strings.Contains(er.Error.Message, "wrapKey") || !strings.Contains(er.Error.Message, "'cmk'") || !strings.Contains(er.Error.Message, app.ObjectID) {
		t.Fatalf("without policy: %d %+v", resp.StatusCode, er)
	}
	policies := ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/accessPolicies/%s?api-version=2023-07-01")
	grant := fmt.Sprintf(`{"properties":{"accessPolicies":[{"objectId":%q,"permissions":{"keys":["get","wrapKey","unwrapKey"]}}]}}`, app.ObjectID)
	if resp := ve.do("PUT", fmt.Sprintf(policies, "add"), ve.mgmt, grant, nil); resp.StatusCode != 200 {
		t.Fatalf("add policy: %d", resp.StatusCode)
	}
	if resp, er := wrap(); resp.StatusCode != 200 {
		t.Fatalf("after grant, the very next request: %d %+v", resp.StatusCode, er)
	}
	// The same token, the next request: removed access is refused at once.
	if resp := ve.do("PUT", fmt.Sprintf(policies, "remove"), ve.mgmt, grant, nil); resp.StatusCode != 200 {
		t.Fatalf("remove policy: %d", resp.StatusCode)
	}
	if resp, er := wrap(); resp.StatusCode != 403 {
		t.Fatalf("after remove: %d %+v", resp.StatusCode, er)
	}
}

func TestDisabledVersionAnswersKeyDisabled(t *testing.T) {
	ve := newVaultEnv(t)
	kid := ve.createKey("cmk", `{"kty":"oct","key_size":256}`)
	version := kid[strings.LastIndexByte(kid, '/')+1:]
	if resp := ve.do("PATCH", ve.key("/keys/cmk/"+version), ve.vtok, `{"attributes":{"enabled":false}}`, nil); resp.StatusCode != 200 {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	for _, op := range []string{"wrapkey", "unwrapkey", "encrypt", "decrypt"} {
		var er errResp
		resp := ve.do("POST", ve.key("/keys/cmk/"+version+"/"+op), ve.vtok, `{"alg":"A256KW","value":"`+b64(make([]byte, 40))+`"}`, &er)
		if resp.StatusCode != 403 || er.Error.InnerError == nil || er.Error.InnerError.Code != "KeyDisabled" {
			t.Errorf("%s on a disabled version: %d %+v", op, resp.StatusCode, er)
		}
	}
}

func TestListingsPageWithNextLink(t *testing.T) {
	ve := newVaultEnv(t)
	for i := range 30 {
		ve.createKey(fmt.Sprintf("k%02d", i), `{"kty":"oct","key_size":256}`)
	}
	seen := map[string]bool{}
	next := ve.key("/keys?maxresults=7")
	pages := 0
	for next != "" {
		var page struct {
			Value []struct {
				KID string `json:"kid"`
			} `json:"value"`
			NextLink *string `json:"nextLink"`
		}
		if resp := ve.do("GET", next, ve.vtok, "", &page); resp.StatusCode != 200 {
			t.Fatalf("page %d: %d", pages, resp.StatusCode)
		}
		if len(page.Value) > 7 {
			t.Fatalf("page of %d items, asked for 7", len(page.Value))
		}
		for _, k := range page.Value {
			if seen[k.KID] {
				t.Fatalf("%s listed twice", k.KID)
			}
			seen[k.KID] = true
		}
		next = ""
		if page.NextLink != nil {
			next = *page.NextLink
		}
		pages++
	}
	if len(seen) != 30 || pages != 5 {
		t.Fatalf("%d keys in %d pages, want 30 in 5", len(seen), pages)
	}
}

type auditPage struct {
	Value []struct {
		Operation      string `json:"operation"`
		CallerObjectID string `json:"callerObjectId"`
		KeyName        string `json:"keyName"`
		KeyVersion     string `json:"keyVersion"`
		Status         int    `json:"httpStatus"`
		ClientIP       string `json:"clientIp"`
	} `json:"value"`
	ChainVerified bool    `json:"chainVerified"`
	ChainError    string  `json:"chainError"`
	ChainBrokenAt *uint64 `json:"chainBrokenAt"`
}

func TestEveryVaultRequestIsAuditedAndTamperingIsDetected(t *testing.T) {
	ve := newVaultEnv(t)
	kid := ve.createKey("cmk", `{"kty":"oct","key_size":256}`)
	version := kid[strings.LastIndexByte(kid, '/')+1:]
	ve.do("POST", ve.key("/keys/cmk/wrapkey"), ve.vtok, `{"alg":"A256KW","value":"`+b64(make([]byte, 32))+`"}`, nil)
	ve.do("POST", ve.key("/keys/cmk/wrapkey"), "", `{}`, nil) // refused: no token
	stranger, secret, _ := ve.identity.CreateApplication(context.Background(), "stranger")
	ve.do("GET", ve.key("/keys/cmk"), ve.token(stranger.AppID, secret, "https://vault.azure.net/.default"), "", nil) // refused: no policy

	var page auditPage
	auditURL := ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/auditRecords?api-version=2023-07-01&key=cmk")
	if resp := ve.do("GET", auditURL, ve.mgmt, "", &page); resp.StatusCode != 200 {
		t.Fatalf("audit: %d", resp.StatusCode)
	}
	if !page.ChainVerified || page.ChainBrokenAt != nil {
		t.Fatalf("untouched chain does not verify: %s (broken at %v)", page.ChainError, page.ChainBrokenAt)
	}
	type want struct {
		op, oid, version string
		status           int
	}
	wants := []want{
		{"KeyCreate", ve.adminOID, version, 200},
		{"KeyWrap", ve.adminOID, version, 200},
		{"KeyWrap", "", "", 401},
		{"KeyGet", stranger.ObjectID, "", 403},
	}
	if len(page.Value) != len(wants) {
		t.Fatalf("%d records for key cmk, want %d: %+v", len(page.Value), len(wants), page.Value)
	}
	for i, w := range wants {
		r := page.Value[i]
		if r.Operation != w.op || r.CallerObjectID != w.oid || r.KeyVersion != w.version || r.Status != w.status || r.ClientIP != "127.0.0.1" || r.KeyName != "cmk" {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}

	// Edit one stored record (seq 4: VaultPut, KeyCreate and KeyWrap came
	// first) behind the log's back: the next read says which.
	err := ve.db.Update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket([]byte("audit"))
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var rec map[string]any
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if rec["operation"] == "KeyWrap" && rec["httpStatus"].(float64) == 401 {
				rec["httpStatus"] = 200
				buf, _ := json.Marshal(rec)
				return b.Put(k, buf)
			}
		}
		return fmt.Errorf("record not found")
	})
	if err != nil {
		t.Fatal(err)
	}
	page = auditPage{}
	ve.do("GET", auditURL, ve.mgmt, "", &page)
	if page.ChainVerified || !strings.Contains(page.ChainError, "record 4") || page.ChainBrokenAt == nil || *page.ChainBrokenAt != 4 {
		t.Fatalf("edited record not detected: verified=%v %q, broken at %v", page.ChainVerified, page.ChainError, page.ChainBrokenAt)
	}
}

type armKeyAnswer struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		Attributes struct {
			Enabled       bool   `json:"enabled"`
			RecoveryLevel string `json:"recoveryLevel"`
		} `json:"attributes"`
		Kty               string   `json:"kty"`
		KeyOps            []string `json:"keyOps"`
		KeySize           int      `json:"keySize"`
		KeyURI            string   `json:"keyUri"`
		KeyURIWithVersion string   `json:"keyUriWithVersion"`
	} `json:"properties"`
}

// TestManagementAPIListsReadsAndCreatesAVaultsKeys: through the management
// endpoint an Owner creates a key if it does not exist (an existing one is
// answered unchanged), reads it and lists the vault's keys — type, size,
// attributes and URIs, no key material — and each call is in the vault's
// audit log under the key's name.
func TestManagementAPIListsReadsAndCreatesAVaultsKeys(t *testing.T) {
	ve := newVaultEnv(t)
	dataKID := ve.createKey("from-data-plane", `{"kty":"oct","key_size":256}`)
	keysURL := func(path string) string {
		return ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/keys"+path+"?api-version=2023-07-01")
	}

	var created armKeyAnswer
	resp := ve.do("PUT", keysURL("/cmk"), ve.mgmt, `{"properties":{"kty":"RSA","keySize":3072,"attributes":{"enabled":true}}}`, &created)
	p := created.Properties
	if resp.StatusCode != 200 || created.Name != "cmk" || created.Type != "Microsoft.KeyVault/vaults/keys" || !strings.HasSuffix(created.ID, "/vaults/kv1/keys/cmk") ||
		p.Kty != "RSA" || p.KeySize != 3072 || !p.Attributes.Enabled || p.Attributes.RecoveryLevel != "Recoverable" ||
		!strings.HasSuffix(p.KeyURI, "/keys/cmk") || !strings.HasPrefix(p.KeyURIWithVersion, p.KeyURI+"/") {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	// The data plane holds the same key.
	var bundle struct{ Key struct{ KID string } }
	if resp := ve.do("GET", ve.key("/keys/cmk"), ve.vtok, "", &bundle); resp.StatusCode != 200 || bundle.Key.KID != p.KeyURIWithVersion {
		t.Fatalf("the data plane answers %d with %q, want %q", resp.StatusCode, bundle.Key.KID, p.KeyURIWithVersion)
	}
	// Again, with other parameters: the key is answered as it is.
	var again armKeyAnswer
	if resp := ve.do("PUT", keysURL("/cmk"), ve.mgmt, `{"properties":{"kty":"oct"}}`, &again); resp.StatusCode != 200 ||
		again.Properties.KeyURIWithVersion != p.KeyURIWithVersion || again.Properties.Kty != "RSA" {
		t.Fatalf("create again: %d %+v, want the existing key unchanged", resp.StatusCode, again)
	}
	var got armKeyAnswer
	if resp := ve.do("GET", keysURL("/cmk"), ve.mgmt, "", &got); resp.StatusCode != 200 || got.Properties.KeyURIWithVersion != p.KeyURIWithVersion {
		t.Fatalf("get: %d %+v", resp.StatusCode, got)
	}
	var list struct{ Value []armKeyAnswer }
	var raw map[string]any
	ve.do("GET", keysURL(""), ve.mgmt, "", &raw)
	if resp := ve.do("GET", keysURL(""), ve.mgmt, "", &list); resp.StatusCode != 200 || len(list.Value) != 2 ||
		list.Value[0].Name != "cmk" || list.Value[1].Name != "from-data-plane" ||
		list.Value[1].Properties.Kty != "oct" || list.Value[1].Properties.KeySize != 256 || list.Value[1].Properties.KeyURIWithVersion != dataKID {
		t.Fatalf("list: %d %+v", resp.StatusCode, list.Value)
	}
	if s := fmt.Sprint(raw); strings.Contains(s, "\"d\"") || strings.Contains(s, " n:") || strings.Contains(s, " k:") {
		t.Errorf("the list shows key material: %s", s)
	}

	var page auditPage
	ve.do("GET", ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/auditRecords?api-version=2023-07-01&key=cmk"), ve.mgmt, "", &page)
	var ops []string
	for _, r := range page.Value {
		ops = append(ops, fmt.Sprintf("%s %d", r.Operation, r.Status))
	}
	if got, want := strings.Join(ops, ","), "KeyCreate 200,KeyGet 200,KeyCreate 200,KeyGet 200"; got != want {
		t.Errorf("the audit log of key cmk holds %q, want %q", got, want)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"elliptic-curve type", "PUT", "/ec", `{"properties":{"kty":"EC"}}`, 400, "BadParameter"},
		{"RSA size not offered", "PUT", "/small", `{"properties":{"kty":"RSA","keySize":1024}}`, 400, "BadParameter"},
		{"key name with underscore", "PUT", "/bad_name", `{"properties":{"kty":"RSA"}}`, 400, "BadParameter"},
		{"body not JSON", "PUT", "/k3", `{"properties":`, 400, "BadParameter"},
		{"unknown key", "GET", "/nope", "", 404, "KeyNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var er errResp
			resp := ve.do(tc.method, keysURL(tc.path), ve.mgmt, tc.body, &er)
			if resp.StatusCode != tc.status || er.Error.Code != tc.code || er.Error.Message == "" {
				t.Fatalf("got %d %s %q; want %d %s", resp.StatusCode, er.Error.Code, er.Error.Message, tc.status, tc.code)
			}
		})
	}
	var er errResp
	other := ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv1/keys?api-version=2023-07-01")
	if resp := ve.do("GET", other, ve.mgmt, "", &er); resp.StatusCode != 404 || er.Error.Code != "ResourceNotFound" {
		t.Errorf("the keys of a vault of another resource group: %d %s", resp.StatusCode, er.Error.Code)
	}
}

// TestOnlyAnOwnerReachesAVaultsKeysThroughTheManagementAPI: an application
// without the Owner role is refused (403) listing, reading and creating a
// vault's keys through the management endpoint, creates nothing, and each
// refusal is in the vault's audit log under its caller.
func TestOnlyAnOwnerReachesAVaultsKeysThroughTheManagementAPI(t *testing.T) {
	ve := newVaultEnv(t)
	ve.createKey("cmk", `{"kty":"oct","key_size":256}`)
	keysURL := func(path string) string {
		return ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/keys"+path+"?api-version=2023-07-01")
	}
	stranger, secret, err := ve.identity.CreateApplication(context.Background(), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	tok := ve.token(stranger.AppID, secret, "https://management.azure.com/.default")
	for _, tc := range []struct{ name, method, path, body string }{
		{"list the keys", "GET", "", ""},
		{"read a key", "GET", "/cmk", ""},
		{"create a key", "PUT", "/made-by-stranger", `{"properties":{"kty":"RSA","keySize":2048}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var er errResp
			if resp := ve.do(tc.method, keysURL(tc.path), tok, tc.body, &er); resp.StatusCode != 403 || er.Error.Code != "AuthorizationFailed" || er.Error.Message == "" {
				t.Fatalf("got %d %s %q, want 403 AuthorizationFailed", resp.StatusCode, er.Error.Code, er.Error.Message)
			}
		})
	}
	if resp := ve.do("GET", ve.key("/keys/made-by-stranger"), ve.vtok, "", nil); resp.StatusCode != 404 {
		t.Errorf("the refused create made a key: the data plane answers %d", resp.StatusCode)
	}

	var page auditPage
	ve.do("GET", ve.url("", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/auditRecords?api-version=2023-07-01"), ve.mgmt, "", &page)
	var refused []string
	for _, r := range page.Value {
		if r.CallerObjectID == stranger.ObjectID {
			refused = append(refused, fmt.Sprintf("%s %s %d", r.Operation, r.KeyName, r.Status))
		}
	}
	if got, want := strings.Join(refused, ","), "KeyList  403,KeyGet cmk 403,KeyCreate made-by-stranger 403"; got != want {
		t.Errorf("the audit log holds the stranger's calls as %q, want %q", got, want)
	}
}
