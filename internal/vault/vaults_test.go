package vault

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
)

func TestVaultNameRules(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ name, inner string }{
		{"ab", "NameTooShort"},
		{"a234567890123456789012345", "NameTooLong"},
		{"kv_1", "NameInvalidCharacter"},
		{"kv.one", "NameInvalidCharacter"},
		{"1kv", "NameMustStartWithLetter"},
		{"-kv", "NameMustStartWithLetter"},
		{"kv-", "NameMustEndWithLetterOrDigit"},
		{"kv--one", "NameConsecutiveHyphens"},
	}
	for _, tc := range tests {
		t.Run(tc.inner+" "+tc.name, func(t *testing.T) {
			_, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, tc.name, VaultParameters{Location: "x", Properties: VaultCreateProperties{TenantID: testTenant}})
			var ve *fault.Error
			if !errors.As(err, &ve) || ve.Code != CodeVaultNameNotValid || ve.InnerCode != tc.inner || ve.Kind != fault.Invalid {
				t.Fatalf("err = %v, want %s / %s", err, CodeVaultNameNotValid, tc.inner)
			}
		})
	}
	for _, ok := range []string{"abc", "a23456789012345678901234", "kv-1-b", "K9"[0:1] + "v9"} {
		if _, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, ok, VaultParameters{Location: "x", Properties: VaultCreateProperties{TenantID: testTenant}}); err != nil {
			t.Errorf("valid name %q refused: %v", ok, err)
		}
	}
}

func TestVaultNamesAreUniqueCaseInsensitivelyAcrossSubscriptions(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-Unique", false, 90)
	_, err := e.svc.CreateOrUpdateVault(e.ctx, "other-sub", testRG, "KV-UNIQUE", VaultParameters{Location: "x", Properties: VaultCreateProperties{TenantID: testTenant}})
	wantErr(t, err, ErrConflict)
	_, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, "other-rg", "kv-unique", VaultParameters{Location: "x", Properties: VaultCreateProperties{TenantID: testTenant}})
	wantErr(t, err, ErrConflict)
	v, err := e.svc.GetVault(e.ctx, "KV-unique")
	if err != nil || v.Name != "kv-Unique" || v.Properties.VaultURI != "https://kv-unique.vault.localhost:8443/" {
		t.Fatalf("get = %+v, %v", v, err)
	}
}

func TestVaultResourceShape(t *testing.T) {
	e := newEnv(t)
	v := e.vault("kv-shape", true, 45)
	if v.ID != "/subscriptions/"+testSub+"/resourceGroups/"+testRG+"/providers/Microsoft.KeyVault/vaults/kv-shape" ||
		v.Type != "Microsoft.KeyVault/vaults" || v.Location != "westeurope" {
		t.Fatalf("vault = %+v", v)
	}
	p := v.Properties
	if !p.EnableSoftDelete || p.SoftDeleteRetentionInDays != 45 || !p.EnablePurgeProtection || p.SKU != (SKU{"A", "standard"}) ||
		p.TenantID != testTenant || p.ProvisioningState != "Succeeded" || len(p.AccessPolicies) != 1 {
		t.Fatalf("properties = %+v", p)
	}
	raw, _ := json.Marshal(v)
	for _, f := range []string{`"properties"`, `"tenantId"`, `"sku":{"family":"A","name":"standard"}`, `"accessPolicies"`, `"objectId"`,
		`"permissions":{"keys":["all"]}`, `"enableSoftDelete":true`, `"softDeleteRetentionInDays":45`, `"enablePurgeProtection":true`, `"vaultUri"`} {
		if !strings.Contains(string(raw), f) {
			t.Errorf("vault JSON lacks %s: %s", f, raw)
		}
	}
	list, err := e.svc.ListVaults(e.ctx, testSub, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	if list, _ := e.svc.ListVaults(e.ctx, "other", ""); len(list) != 0 {
		t.Fatal("subscription filter ignored")
	}
}

func TestSoftDeleteCannotBeDisabled(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-nosd", VaultParameters{Location: "x",
		Properties: VaultCreateProperties{TenantID: testTenant, EnableSoftDelete: ptr(false)}})
	wantErr(t, err, ErrBadParameter, &fault.Error{InnerCode: InnerSoftDeleteRequired})
	e.vault("kv-sd", false, 90)
	_, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-sd", VaultParameters{Properties: VaultCreateProperties{EnableSoftDelete: ptr(false)}})
	wantErr(t, err, &fault.Error{InnerCode: InnerSoftDeleteRequired})
}

func TestRetentionDaysMustBe7To90AndCannotChange(t *testing.T) {
	e := newEnv(t)
	for _, days := range []int{6, 91, 0, -1} {
		_, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-ret", VaultParameters{Location: "x",
			Properties: VaultCreateProperties{TenantID: testTenant, SoftDeleteRetentionInDays: ptr(days)}})
		wantErr(t, err, &fault.Error{InnerCode: InnerRetentionOutOfRange})
	}
	for _, days := range []int{7, 90} {
		e.vault("kv-ret"+string(rune('a'+days%26)), false, days)
	}
	v, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-default", VaultParameters{Location: "x", Properties: VaultCreateProperties{TenantID: testTenant}})
	if err != nil || v.Properties.SoftDeleteRetentionInDays != 90 {
		t.Fatalf("default retention = %v, %v", v, err)
	}
	_, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-default", VaultParameters{Properties: VaultCreateProperties{SoftDeleteRetentionInDays: ptr(30)}})
	wantErr(t, err, &fault.Error{InnerCode: InnerRetentionImmutable})
	if _, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-default", VaultParameters{Properties: VaultCreateProperties{SoftDeleteRetentionInDays: ptr(90)}}); err != nil {
		t.Fatalf("restating the same retention refused: %v", err)
	}
}

func TestPurgeProtectionCannotBeTurnedOff(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-pp", false, 90)
	tag := map[string]string{"env": "prod"}
	v, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-pp", VaultParameters{Tags: tag, Properties: VaultCreateProperties{EnablePurgeProtection: ptr(true)}})
	if err != nil || !v.Properties.EnablePurgeProtection || v.Tags["env"] != "prod" || len(v.Properties.AccessPolicies) != 1 {
		t.Fatalf("turning purge protection on: %+v, %v", v, err)
	}
	_, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-pp", VaultParameters{Properties: VaultCreateProperties{EnablePurgeProtection: ptr(false)}})
	wantErr(t, err, ErrBadParameter, &fault.Error{InnerCode: InnerPurgeProtectionIrreversible})
	if !strings.Contains(err.Error(), "cannot be turned off") {
		t.Fatalf("unclear message: %v", err)
	}
	// An update that leaves the field out keeps it on.
	v, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-pp", VaultParameters{})
	if err != nil || !v.Properties.EnablePurgeProtection {
		t.Fatalf("purge protection lost on update: %+v, %v", v, err)
	}
	b := e.createKey("kv-pp", "k", CreateKeyParameters{Kty: "oct"})
	if b.Attributes.RecoveryLevel != "Recoverable" {
		t.Fatalf("recoveryLevel under purge protection = %s", b.Attributes.RecoveryLevel)
	}
}

func TestVaultSoftDeleteRecoverAndPurge(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-vsd", false, 14)
	e.createKey("kv-vsd", "k", CreateKeyParameters{Kty: "oct"})
	if err := e.svc.DeleteVault(e.ctx, "kv-vsd"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.GetVault(e.ctx, "kv-vsd")
	wantErr(t, err, ErrVaultNotFound)
	_, err = e.svc.GetKey(e.ctx, "kv-vsd", "k", "")
	wantErr(t, err, ErrVaultNotFound)
	err = e.svc.Authorize(e.ctx, "kv-vsd", testTenant, adminOID, "get")
	wantErr(t, err, ErrVaultNotFound)

	deleted, err := e.svc.ListDeletedVaults(e.ctx, "")
	if err != nil || len(deleted) != 1 {
		t.Fatalf("deleted vaults = %v, %v", deleted, err)
	}
	d := deleted[0]
	if d.ID != "/subscriptions/"+testSub+"/providers/Microsoft.KeyVault/locations/westeurope/deletedVaults/kv-vsd" ||
		!d.Properties.ScheduledPurgeDate.Equal(e.clock.Now().AddDate(0, 0, 14)) || d.Properties.VaultID == "" {
		t.Fatalf("deleted vault = %+v", d)
	}
	// The name is reserved.
	_, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-vsd", VaultParameters{Location: "x", Properties: VaultCreateProperties{TenantID: testTenant}})
	wantErr(t, err, ErrConflict, ErrDeletedButRecoverable)

	v, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-vsd", VaultParameters{Properties: VaultCreateProperties{CreateMode: "recover"}})
	if err != nil || v.Properties.SoftDeleteRetentionInDays != 14 {
		t.Fatalf("recover = %+v, %v", v, err)
	}
	if _, err := e.svc.GetKey(e.ctx, "kv-vsd", "k", ""); err != nil {
		t.Fatalf("key lost across vault delete and recover: %v", err)
	}
	_, err = e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, "kv-vsd", VaultParameters{Properties: VaultCreateProperties{CreateMode: "recover"}})
	wantErr(t, err, ErrVaultNotFound)

	wantErr(t, e.svc.PurgeVault(e.ctx, "kv-vsd"), ErrVaultNotFound) // live vaults are not purged
	if err := e.svc.DeleteVault(e.ctx, "kv-vsd"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PurgeVault(e.ctx, "kv-vsd"); err != nil {
		t.Fatalf("purge without purge protection: %v", err)
	}
	e.vault("kv-vsd", false, 90)
	if keys, _ := e.svc.ListKeys(e.ctx, "kv-vsd"); len(keys) != 0 {
		t.Fatal("purged vault's keys came back")
	}
}

func TestPurgeProtectionBlocksVaultPurgeUntilScheduledDate(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-vpp", true, 7)
	if err := e.svc.DeleteVault(e.ctx, "kv-vpp"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.svc.PurgeVault(e.ctx, "kv-vpp"), ErrPurgeProtected)
	e.clock.Advance(7 * 24 * time.Hour)
	if err := e.svc.PurgeVault(e.ctx, "kv-vpp"); err != nil {
		t.Fatalf("purge at the scheduled date: %v", err)
	}
}

func TestAccessPoliciesAddReplaceRemove(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-pol", false, 90)
	perms := func(policies []AccessPolicy, oid string) string {
		for _, p := range policies {
			if p.ObjectID == oid {
				return strings.Join(p.Permissions.Keys, ",")
			}
		}
		return "<none>"
	}
	steps := []struct {
		name string
		kind PolicyUpdateKind
		keys []string
		want string
	}{
		{"add creates the entry in canonical spelling", PolicyAdd, []string{"GET", "wrapkey"}, "get,wrapKey"},
		{"add merges", PolicyAdd, []string{"unwrapKey", "get"}, "get,wrapKey,unwrapKey"},
		{"remove takes listed permissions away", PolicyRemove, []string{"wrapKey"}, "get,unwrapKey"},
		{"replace sets exactly", PolicyReplace, []string{"list"}, "list"},
		{"remove of the last permission drops the entry", PolicyRemove, []string{"list"}, "<none>"},
		{"replace creates a missing entry", PolicyReplace, []string{"all"}, "all"},
		{"remove from all expands it", PolicyRemove, []string{"purge"}, "get,list,create,import,update,delete,recover,backup,restore,wrapKey,unwrapKey,encrypt,decrypt,sign,verify,rotate,getrotationpolicy,setrotationpolicy"},
		{"remove with no permissions drops the entry", PolicyRemove, nil, "<none>"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-pol", s.kind, []AccessPolicy{{ObjectID: clusterOID, Permissions: Permissions{Keys: s.keys}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := perms(out, clusterOID); got != s.want {
				t.Fatalf("permissions = %s, want %s", got, s.want)
			}
			if perms(out, adminOID) != "all" {
				t.Fatal("another principal's entry changed")
			}
			v, _ := e.svc.GetVault(e.ctx, "kv-pol")
			if perms(v.Properties.AccessPolicies, clusterOID) != s.want {
				t.Fatal("change not stored")
			}
		})
	}
	bad := []struct {
		name string
		kind PolicyUpdateKind
		p    AccessPolicy
	}{
		{"unknown permission", PolicyAdd, AccessPolicy{ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"exfiltrate"}}}},
		{"another tenant", PolicyAdd, AccessPolicy{TenantID: "other", ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"get"}}}},
		{"no object ID", PolicyAdd, AccessPolicy{Permissions: Permissions{Keys: []string{"get"}}}},
		{"unknown operation", "merge", AccessPolicy{ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"get"}}}},
	}
	for _, b := range bad {
		t.Run("refuses "+b.name, func(t *testing.T) {
			_, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-pol", b.kind, []AccessPolicy{b.p})
			wantErr(t, err, ErrBadParameter)
		})
	}
}

func TestAuthorizeReadsPoliciesOnEveryCall(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-authz", false, 90)
	if err := e.svc.Authorize(e.ctx, "kv-authz", testTenant, adminOID, "UnwrapKey"); err != nil {
		t.Fatalf("all should grant unwrapKey: %v", err)
	}
	err := e.svc.Authorize(e.ctx, "kv-authz", testTenant, clusterOID, PermUnwrapKey)
	var fe *ForbiddenError
	if !errors.As(err, &fe) || fe.Permission != "unwrapKey" || fe.ObjectID != clusterOID || fe.Vault != "kv-authz" {
		t.Fatalf("err = %#v", err)
	}
	wantErr(t, err, ErrForbidden, ErrAccessDenied)
	fe.Key = "cmk"
	if !strings.Contains(fe.Error(), "unwrapKey") || !strings.Contains(fe.Error(), clusterOID) ||
		!strings.Contains(fe.Error(), "kv-authz") || !strings.Contains(fe.Error(), "'cmk'") {
		t.Fatalf("message = %s", fe.Error())
	}
	var ve *fault.Error
	if !errors.As(err, &ve) || ve.Kind != fault.Forbidden || ve.Code != CodeForbidden {
		t.Fatalf("as *fault.Error = %+v", ve)
	}

	grant := []AccessPolicy{{ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"get", "wrapKey", "unwrapKey"}}}}
	if _, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-authz", PolicyAdd, grant); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Authorize(e.ctx, "kv-authz", testTenant, strings.ToUpper(clusterOID), PermUnwrapKey); err != nil {
		t.Fatalf("granted permission refused: %v", err)
	}
	wantErr(t, e.svc.Authorize(e.ctx, "kv-authz", "other-tenant", clusterOID, PermUnwrapKey), ErrAccessDenied)
	wantErr(t, e.svc.Authorize(e.ctx, "kv-authz", testTenant, clusterOID, PermDelete), ErrAccessDenied)

	if _, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-authz", PolicyRemove, []AccessPolicy{{ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"unwrapKey"}}}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.svc.Authorize(e.ctx, "kv-authz", testTenant, clusterOID, PermUnwrapKey), ErrAccessDenied)
	if err := e.svc.Authorize(e.ctx, "kv-authz", testTenant, clusterOID, PermGet); err != nil {
		t.Fatalf("remaining permission refused: %v", err)
	}
	wantErr(t, e.svc.Authorize(e.ctx, "kv-authz", testTenant, clusterOID, "teleport"), ErrBadParameter)
}

// A trusted tenant's principal (an operator's cluster identity) can be granted
// access, and is told apart from the vault tenant's principal with the same
// object ID; an untrusted tenant cannot be named.
func TestAccessPoliciesMayNameTrustedTenantsOnly(t *testing.T) {
	const operator = "33333333-3333-3333-3333-333333333333"
	e := newEnv(t)
	e.opts.TrustedTenants = []string{operator}
	e.reopen()
	e.vault("kv-trust", true, 90)
	grant := []AccessPolicy{{TenantID: strings.ToUpper(operator), ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"get", "unwrapKey"}}}}
	if _, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-trust", PolicyAdd, grant); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Authorize(e.ctx, "kv-trust", operator, clusterOID, PermUnwrapKey); err != nil {
		t.Fatalf("the trusted tenant's principal: %v", err)
	}
	var fe *ForbiddenError
	if err := e.svc.Authorize(e.ctx, "kv-trust", testTenant, clusterOID, PermUnwrapKey); !errors.As(err, &fe) {
		t.Fatalf("the same object ID in the vault's own tenant: err = %v, want ForbiddenError", err)
	}
	untrusted := []AccessPolicy{{TenantID: "44444444-4444-4444-4444-444444444444", ObjectID: clusterOID, Permissions: Permissions{Keys: []string{"get"}}}}
	_, err := e.svc.UpdateAccessPolicies(e.ctx, "kv-trust", PolicyAdd, untrusted)
	wantErr(t, err, ErrBadParameter)
}
