package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

type fakeIdentities struct {
	mu      sync.Mutex
	made    map[string]string // objectID → secret
	deleted []string
}

func (f *fakeIdentities) TenantID() string { return "tenant-1" }

func (f *fakeIdentities) CreateManagedIdentity(_ context.Context, name string) (*identity.Principal, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &identity.Principal{ObjectID: uuid.NewString(), AppID: uuid.NewString(), DisplayName: name, Kind: identity.KindManagedIdentity}
	secret := "sws~secret-" + p.ObjectID
	if f.made == nil {
		f.made = map[string]string{}
	}
	f.made[p.ObjectID] = secret
	return p, secret, nil
}

func (f *fakeIdentities) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, id)
	return nil
}

// fakeKeys accepts keys named "good*" and refuses others, as a key service
// would for a key the identity may not use.
type fakeKeys struct {
	mu     sync.Mutex
	state  map[string]string
	set    map[string]KeyVaultProperties
	seenBy map[string]string // clusterID → principal object ID that checked
	// onSet, when set, is called after a key is put in force.
	onSet func()
}

func (f *fakeKeys) CheckKey(_ context.Context, _ string, p Principal, kv KeyVaultProperties) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Secret == "" || p.AppID == "" {
		return errors.New("no credentials")
	}
	if f.seenBy == nil {
		f.seenBy = map[string]string{}
	}
	name := kv.KeyName
	if kv.Source() == KeySourceAWSKMS {
		name = strings.TrimPrefix(kv.KMSKeyARN, "alias/")
	}
	f.seenBy[name] = p.ObjectID
	if name == "unrecoverable" {
		return fault.New(fault.Invalid, CodeKeyNotRecoverable, "turn on purge protection")
	}
	if !strings.HasPrefix(name, "good") {
		return fault.New(fault.Forbidden, CodeForbidden, "the cluster identity lacks wrapKey")
	}
	return nil
}

func (f *fakeKeys) SetClusterKey(_ context.Context, clusterID string, _ Principal, kv KeyVaultProperties) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set, f.state = map[string]KeyVaultProperties{}, map[string]string{}
	}
	f.set[clusterID] = kv
	f.state[clusterID] = "Accessible"
	if f.onSet != nil {
		f.onSet()
	}
	return nil
}

func (f *fakeKeys) KeyState(clusterID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state[clusterID]
}

func (f *fakeKeys) LastKeyCheck(string) (time.Time, string) { return time.Time{}, "" }

func (f *fakeKeys) ForgetCluster(_ context.Context, clusterID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.state, clusterID)
	delete(f.set, clusterID)
	return nil
}

type fixture struct {
	svc  *Service
	ids  *fakeIdentities
	keys *fakeKeys
	db   *boltkv.DB
	dir  string
	g    ResourceGroup
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "control.db"), boltkv.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "platform.key"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ids: &fakeIdentities{}, keys: &fakeKeys{}, db: db, dir: dir, g: ResourceGroup{"sub1", "rg1"}}
	f.svc, err = New(db, f.ids, f.keys, root, Options{Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// clusterRecords are the cluster records as stored.
func (f *fixture) clusterRecords(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	err := f.db.View(context.Background(), func(tx kv.Tx) error {
		return tx.Bucket(bucketClusters).ForEach(func(_, v []byte) error {
			out = append(out, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) cluster(t testing.TB, name string) *Cluster {
	t.Helper()
	c, created, err := f.svc.PutCluster(context.Background(), f.g, name, ClusterParameters{
		Identity: &ManagedIdentity{Type: "SystemAssigned"}, SKU: &ClusterSKU{Capacity: 100}})
	if err != nil || !created {
		t.Fatalf("create cluster: %v", err)
	}
	return c
}

func (f *fixture) setKey(t testing.TB, cluster, key string) error {
	t.Helper()
	_, err := f.svc.PatchCluster(context.Background(), f.g, cluster, keyParams(key))
	return err
}

// keyParams is a cluster PATCH that sets the Key Vault key named key.
func keyParams(key string) ClusterParameters {
	return clusterKeyParams(KeyVaultProperties{KeyVaultURI: "https://cmk1.vault.localhost:8443/", KeyName: key})
}

// clusterKeyParams is a cluster PATCH that sets kv.
func clusterKeyParams(kv KeyVaultProperties) ClusterParameters {
	return ClusterParameters{Properties: &struct {
		KeyVaultProperties *KeyVaultProperties `json:"keyVaultProperties,omitempty"`
	}{&kv}}
}

func (f *fixture) workspace(t testing.TB, name string) *Workspace {
	t.Helper()
	w, _, err := f.svc.PutWorkspace(context.Background(), f.g, name, WorkspaceParameters{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *fault.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	if e.Message == "" {
		t.Fatal("refusal without a message")
	}
}

func wantKind(t *testing.T, err error, kind fault.Kind) {
	t.Helper()
	if got := fault.KindOf(err); got != kind {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
}

func TestClusterNeedsSystemAssignedIdentityAndATier(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name string
		in   ClusterParameters
		code string
	}{
		{"no identity", ClusterParameters{SKU: &ClusterSKU{Capacity: 100}}, CodeInvalidIdentity},
		{"user-assigned identity", ClusterParameters{Identity: &ManagedIdentity{Type: "UserAssigned"}, SKU: &ClusterSKU{Capacity: 100}}, CodeInvalidIdentity},
		{"identity None", ClusterParameters{Identity: &ManagedIdentity{Type: "None"}, SKU: &ClusterSKU{Capacity: 100}}, CodeInvalidIdentity},
		{"no sku", ClusterParameters{Identity: &ManagedIdentity{Type: "SystemAssigned"}}, CodeInvalidCapacity},
		{"below the minimum tier", ClusterParameters{Identity: &ManagedIdentity{Type: "SystemAssigned"}, SKU: &ClusterSKU{Capacity: 50}}, CodeInvalidCapacity},
		{"between tiers", ClusterParameters{Identity: &ManagedIdentity{Type: "SystemAssigned"}, SKU: &ClusterSKU{Capacity: 150}}, CodeInvalidCapacity},
		{"above the top tier", ClusterParameters{Identity: &ManagedIdentity{Type: "SystemAssigned"}, SKU: &ClusterSKU{Capacity: 60000}}, CodeInvalidCapacity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.PutCluster(ctx, f.g, "cl-"+uuid.NewString()[:8], tc.in)
			wantCode(t, err, tc.code)
		})
	}
	if len(f.ids.made) != 0 {
		t.Fatalf("refused clusters left %d identities", len(f.ids.made))
	}
	for _, tier := range CapacityTiers {
		if _, _, err := f.svc.PutCluster(ctx, f.g, fmt.Sprintf("tier-%d", tier), ClusterParameters{
			Identity: &ManagedIdentity{Type: "systemassigned"}, SKU: &ClusterSKU{Capacity: tier}}); err != nil {
			t.Errorf("tier %d refused: %v", tier, err)
		}
	}
	c, _ := f.svc.GetCluster(ctx, f.g, "tier-100")
	if c.Identity.Type != "SystemAssigned" || c.Identity.PrincipalID == "" || c.Properties.ClusterID == "" || c.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("cluster view %+v", c)
	}
	_, err := f.svc.PatchCluster(ctx, f.g, "tier-100", ClusterParameters{Identity: &ManagedIdentity{Type: "UserAssigned"}})
	wantCode(t, err, CodeInvalidIdentity)
}

func TestClusterKeyIsCheckedWithTheClusterIdentityBeforeItIsStored(t *testing.T) {
	f := newFixture(t)
	c := f.cluster(t, "cluster1")
	err := f.setKey(t, "cluster1", "denied")
	wantCode(t, err, CodeForbidden)
	wantCode(t, f.setKey(t, "cluster1", "unrecoverable"), CodeKeyNotRecoverable)
	got, _ := f.svc.GetCluster(context.Background(), f.g, "cluster1")
	if got.Properties.KeyVaultProperties != nil {
		t.Fatal("a refused key was stored")
	}
	if f.keys.seenBy["denied"] != c.Identity.PrincipalID {
		t.Fatal("the key was not checked with the cluster's own identity")
	}
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	got, _ = f.svc.GetCluster(context.Background(), f.g, "cluster1")
	if got.Properties.KeyVaultProperties == nil || got.Properties.KeyVaultProperties.KeyName != "good-key" || got.Properties.KeyState != "Accessible" {
		t.Fatalf("key not in force: %+v", got.Properties)
	}
	// Removing it is refused; replacing it is not.
	_, err = f.patchKey("cluster1", KeyVaultProperties{})
	wantCode(t, err, CodeConflict)
	if err := f.setKey(t, "cluster1", "good-other"); err != nil {
		t.Fatal(err)
	}
}

func TestKeyVaultPropertiesAreValidated(t *testing.T) {
	f := newFixture(t)
	f.cluster(t, "cluster1")
	for name, kv := range map[string]KeyVaultProperties{
		"http vault":       {KeyVaultURI: "http://v.vault.localhost/", KeyName: "good"},
		"not a URL":        {KeyVaultURI: "::", KeyName: "good"},
		"URI with a path":  {KeyVaultURI: "https://v.vault.localhost/keys/good", KeyName: "good"},
		"key name with _":  {KeyVaultURI: "https://v.vault.localhost/", KeyName: "good_key"},
		"key name missing": {KeyVaultURI: "https://v.vault.localhost/"},
		"short version":    {KeyVaultURI: "https://v.vault.localhost/", KeyName: "good", KeyVersion: "abc"},
		"non-hex version":  {KeyVaultURI: "https://v.vault.localhost/", KeyName: "good", KeyVersion: "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.patchKey("cluster1", kv)
			wantCode(t, err, CodeBadRequest)
		})
	}
}

func TestWorkspaceOnboardedWithoutCMKNeverMovesUnderTheKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	f.workspace(t, "plain-ws")
	if _, err := f.svc.Onboard(ctx, f.g, "plain-ws", false, ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Link(ctx, f.g, "plain-ws", c.ID)
	wantCode(t, err, CodeWorkspaceNotCmkEligible)
	_, err = f.svc.Onboard(ctx, f.g, "plain-ws", true, "")
	wantCode(t, err, CodeWorkspaceNotCmkEligible)

	// Data already sealed under the platform key also keeps it out.
	w := f.workspace(t, "used-ws")
	if err := f.svc.MarkData(ctx, f.info(t, w.Properties.CustomerID)); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Link(ctx, f.g, "used-ws", c.ID)
	wantCode(t, err, CodeWorkspaceNotCmkEligible)
}

func TestCMKOnboardingNeedsALinkedClusterWithItsKeyInForce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.workspace(t, "sec-ws")
	_, err := f.svc.Onboard(ctx, f.g, "sec-ws", true, "")
	wantCode(t, err, CodeWorkspaceNotCmkEligible) // not linked

	c := f.cluster(t, "cluster1")
	if _, err := f.svc.Link(ctx, f.g, "sec-ws", c.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Onboard(ctx, f.g, "sec-ws", true, "")
	wantCode(t, err, CodeWorkspaceNotCmkEligible) // cluster has no key

	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	f.keys.state[c.Properties.ClusterID] = "Revoked"
	_, err = f.svc.Onboard(ctx, f.g, "sec-ws", true, "")
	wantCode(t, err, CodeWorkspaceNotCmkEligible) // key not in force
	f.keys.state[c.Properties.ClusterID] = "Accessible"

	_, err = f.svc.Onboard(ctx, f.g, "sec-ws", false, "")
	wantCode(t, err, CodeWorkspaceNotCmkEligible) // linked to CMK: only with the key

	o, err := f.svc.Onboard(ctx, f.g, "sec-ws", true, "")
	if err != nil || !o.Properties.CustomerManagedKey || o.Etag == "" {
		t.Fatalf("onboard: %v %+v", err, o)
	}
	_, err = f.svc.Onboard(ctx, f.g, "sec-ws", true, `"stale"`)
	if e := (*fault.Error)(nil); !errors.As(err, &e) || e.Kind != fault.PreconditionFailed {
		t.Fatalf("stale etag: %v", err)
	}
	_, err = f.svc.Onboard(ctx, f.g, "sec-ws", false, "")
	wantCode(t, err, CodeConflict) // CMK cannot be turned off

	wantCode(t, f.svc.Unlink(ctx, f.g, "sec-ws"), CodeConflict)
	wantCode(t, f.svc.DeleteCluster(ctx, f.g, "cluster1"), CodeConflict)

	info, err := f.svc.WorkspaceByCustomerID(ctx, mustWorkspace(t, f, "sec-ws").Properties.CustomerID)
	if err != nil || !info.CMK || info.ClusterID != c.Properties.ClusterID {
		t.Fatalf("data-plane view: %v %+v", err, info)
	}
	// Deleting the workspace always works, and frees the cluster.
	deleted := ""
	if err := f.svc.DeleteWorkspace(ctx, f.g, "sec-ws", func(_ context.Context, id string) error { deleted = id; return nil }); err != nil {
		t.Fatal(err)
	}
	if deleted != info.Workspace.Properties.CustomerID {
		t.Fatal("workspace data not deleted")
	}
	if err := f.svc.DeleteCluster(ctx, f.g, "cluster1"); err != nil {
		t.Fatal(err)
	}
	if len(f.ids.deleted) != 1 || f.ids.deleted[0] != c.Identity.PrincipalID {
		t.Fatalf("cluster identity not deleted: %v", f.ids.deleted)
	}
}

func mustWorkspace(t *testing.T, f *fixture, name string) *Workspace {
	t.Helper()
	w, err := f.svc.GetWorkspace(context.Background(), f.g, name)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestFeaturesWithoutCMKSupportStayOffOnCMKWorkspaces(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	f.workspace(t, "sec-ws")
	on := func(name string) WorkspaceParameters {
		p := WorkspaceParameters{}
		p.Properties = &struct {
			RetentionInDays *int          `json:"retentionInDays,omitempty"`
			SKU             *WorkspaceSKU `json:"sku,omitempty"`
			Features        []Feature     `json:"features,omitempty"`
		}{Features: []Feature{{Name: name, Enabled: true}}}
		return p
	}
	// Turned on before onboarding: onboarding under CMK is refused.
	if _, _, err := f.svc.PutWorkspace(ctx, f.g, "sec-ws", on("exportToStorage")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Link(ctx, f.g, "sec-ws", c.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Onboard(ctx, f.g, "sec-ws", true, "")
	wantCode(t, err, CodeFeatureNotSupported)
	off := on("exportToStorage")
	off.Properties.Features[0].Enabled = false
	if _, _, err := f.svc.PutWorkspace(ctx, f.g, "sec-ws", off); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Onboard(ctx, f.g, "sec-ws", true, ""); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.PutWorkspace(ctx, f.g, "sec-ws", on("threatIntelEnrichment"))
	wantCode(t, err, CodeFeatureNotSupported)
	if _, _, err := f.svc.PutWorkspace(ctx, f.g, "sec-ws", on("searchJobs")); err != nil {
		t.Fatalf("a CMK-capable feature: %v", err)
	}
	_, _, err = f.svc.PutWorkspace(ctx, f.g, "sec-ws", on("teleport"))
	wantCode(t, err, CodeBadRequest)
}

func TestWorkspaceInputIsValidated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, days := range []int{29, 731, -1} {
		p := WorkspaceParameters{}
		p.Properties = &struct {
			RetentionInDays *int          `json:"retentionInDays,omitempty"`
			SKU             *WorkspaceSKU `json:"sku,omitempty"`
			Features        []Feature     `json:"features,omitempty"`
		}{RetentionInDays: &days}
		_, _, err := f.svc.PutWorkspace(ctx, f.g, "ws-retention", p)
		wantCode(t, err, CodeBadRequest)
	}
	for _, name := range []string{"abc", "-abcd", "abcd-", "a_bcd", string(make([]byte, 64))} {
		_, _, err := f.svc.PutWorkspace(ctx, f.g, name, WorkspaceParameters{})
		wantCode(t, err, CodeInvalidName)
	}
	w := f.workspace(t, "good-ws")
	if w.Properties.RetentionInDays != 90 || w.Properties.CustomerID == "" {
		t.Fatalf("defaults: %+v", w.Properties)
	}
}

func TestClusterTakesAtMostAThousandWorkspaces(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,001 workspaces")
	}
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	for i := range MaxWorkspacesPerCluster {
		name := fmt.Sprintf("ws-%04d", i)
		f.workspace(t, name)
		if _, err := f.svc.Link(ctx, f.g, name, c.ID); err != nil {
			t.Fatalf("link %d: %v", i, err)
		}
	}
	f.workspace(t, "ws-extra")
	_, err := f.svc.Link(ctx, f.g, "ws-extra", c.ID)
	wantCode(t, err, CodeTooManyWorkspaces)
}

func TestControlPlaneSecretsAreSealedAtRest(t *testing.T) {
	f := newFixture(t)
	f.cluster(t, "cluster1")
	f.workspace(t, "ws-one")
	keys, err := f.svc.SharedKeys(context.Background(), f.g, "ws-one")
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, s := range f.ids.made {
		secrets = append(secrets, s)
	}
	secrets = append(secrets, keys.PrimarySharedKey, keys.SecondarySharedKey)
	raw, err := os.ReadFile(filepath.Join(f.dir, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s[:20])) {
			t.Fatalf("a secret is stored in the clear")
		}
	}
	if !bytes.Contains(raw, []byte("ws-one")) {
		t.Fatal("the search is blind: the workspace name should be there in the clear")
	}
}

func TestFirstKeyIsRefusedWhileALinkedWorkspaceHoldsPlatformData(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	w := f.workspace(t, "early-ws")
	if _, err := f.svc.Link(ctx, f.g, "early-ws", c.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.MarkData(ctx, f.info(t, w.Properties.CustomerID)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.setKey(t, "cluster1", "good-key"), CodeWorkspaceNotCmkEligible)
	if err := f.svc.Unlink(ctx, f.g, "early-ws"); err != nil {
		t.Fatal(err)
	}
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatalf("after unlinking: %v", err)
	}
}

func TestConfigurationChangesStopWhileTheKeyIsRevoked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.cluster(t, "cluster1")
	if err := f.setKey(t, "cluster1", "good-key"); err != nil {
		t.Fatal(err)
	}
	f.workspace(t, "sec-ws")
	f.workspace(t, "other-ws")
	if _, err := f.svc.Link(ctx, f.g, "sec-ws", c.ID); err != nil {
		t.Fatal(err)
	}
	f.keys.state[c.Properties.ClusterID] = "Revoked"
	_, _, err := f.svc.PutWorkspace(ctx, f.g, "sec-ws", WorkspaceParameters{Tags: map[string]string{"a": "b"}})
	wantKind(t, err, fault.KeyInaccessible)
	_, err = f.svc.RegenerateSharedKey(ctx, f.g, "sec-ws", "primary")
	wantKind(t, err, fault.KeyInaccessible)
	_, err = f.svc.Link(ctx, f.g, "other-ws", c.ID)
	wantKind(t, err, fault.KeyInaccessible)
	f.keys.state[c.Properties.ClusterID] = "Locked"
	_, _, err = f.svc.PutWorkspace(ctx, f.g, "sec-ws", WorkspaceParameters{})
	wantKind(t, err, fault.KeyUnreachable)
	if err := f.svc.DeleteWorkspace(ctx, f.g, "sec-ws", nil); err != nil {
		t.Fatalf("delete is the one change left: %v", err)
	}
}

// TestRoleAssignmentsReachDownTheirScope: an assignment on a scope grants
// its role on that scope and everything below it, and nothing beside it.
func TestRoleAssignmentsReachDownTheirScope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ws := "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/secops"
	for _, a := range []struct{ scope, name, role, principal string }{
		{"/subscriptions/sub1", "a1", RoleReader, "p-sub"},
		{"/subscriptions/sub1/resourceGroups/rg1/", "a2", RoleResponder, "p-rg"},
		{ws, "a3", RoleIngestor, "p-ws"},
		{"/subscriptions/sub1/resourceGroups/rg10", "a4", RoleContributor, "p-other-rg"},
		{ws + "-2", "a5", RoleContributor, "p-other-ws"},
	} {
		if _, err := f.svc.PutRoleAssignment(ctx, a.scope, a.name, a.role, a.principal); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		principal, resource, role string
		ok                        bool
	}{
		{"p-sub", ws, RoleReader, true},
		{"p-sub", ws, RoleResponder, false},
		{"p-rg", strings.ToUpper(ws), RoleReader, true},
		{"p-rg", ws, RoleResponder, true},
		{"p-rg", "/subscriptions/sub1/resourceGroups/rg1", RoleReader, true},
		{"p-rg", "/subscriptions/sub1", RoleReader, false},
		{"p-ws", ws, RoleIngestor, true},
		{"p-ws", ws, RoleReader, false},
		{"p-ws", ws + "/tables/x", RoleIngestor, true},
		{"p-other-rg", ws, RoleReader, false},
		{"p-other-ws", ws, RoleReader, false},
		{"p-nobody", ws, RoleReader, false},
	} {
		err := f.svc.Authorize(ctx, c.principal, c.resource, c.role)
		if (err == nil) != c.ok {
			t.Errorf("Authorize(%s, %s, %s) = %v, want allowed=%v", c.principal, c.resource, c.role, err, c.ok)
		}
	}
}
