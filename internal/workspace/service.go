// Package workspace is the control plane of security workspaces: clusters
// with their system-assigned identities and customer-managed keys,
// workspaces, the links between them, and onboarding — with the cloud's rules
// on which workspace may live under which key.
package workspace

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Identities creates and removes the managed identities of clusters.
type Identities interface {
	TenantID() string
	CreateManagedIdentity(ctx context.Context, displayName string) (*identity.Principal, string, error)
	Delete(ctx context.Context, id string) error
}

// Principal is a managed identity as the key layer needs it: who it is and
// the secret it gets tokens with.
type Principal struct {
	ObjectID string
	AppID    string
	Secret   string
}

// String names the principal without its secret, so that a %v of it (or of
// a struct holding it, such as a key request) never prints the secret.
func (p Principal) String() string {
	return fmt.Sprintf("{ObjectID:%s AppID:%s Secret:[redacted]}", p.ObjectID, p.AppID)
}

// GoString is String, for %#v.
func (p Principal) GoString() string { return "workspace.Principal" + p.String() }

// LogValue is String, for log handlers that would marshal the fields.
func (p Principal) LogValue() slog.Value { return slog.StringValue(p.String()) }

// KeyManager is the key layer as the control plane sees it: it proves that a
// cluster identity can use a key before the key is stored, and puts a key in
// force. The node implements it with keyrings over the key service.
type KeyManager interface {
	// CheckKey validates a key for a cluster: reachable, enabled, recoverable,
	// of a usable type, and usable by the cluster's identity (get, wrapKey,
	// unwrapKey). It returns a *fault.Error that says what to fix.
	CheckKey(ctx context.Context, clusterID string, cluster Principal, kv KeyVaultProperties) error
	// SetClusterKey puts kv in force for the cluster: it creates the
	// cluster's account keys on first use, or rewraps them under kv.
	SetClusterKey(ctx context.Context, clusterID string, cluster Principal, kv KeyVaultProperties) error
	// KeyState is "Accessible", "Unreachable", "Locked" or "Revoked" for a
	// cluster whose key is set, "" otherwise.
	KeyState(clusterID string) string
	// LastKeyCheck is when the cluster's key was last checked (zero before
	// the first check, or without a key) and, if that check failed, why.
	LastKeyCheck(clusterID string) (time.Time, string)
	// ForgetCluster drops a deleted cluster's keys.
	ForgetCluster(ctx context.Context, clusterID string) error
}

// secretSealer seals secrets the control plane keeps (cluster identities'
// client secrets, workspaces' shared keys); *rootkey.Key is one.
type secretSealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Options tune a Service.
type Options struct {
	// DocumentStorePrincipalID is shown on every cluster: the customer grants
	// it key access next to the cluster's own identity.
	DocumentStorePrincipalID string
	Now                      func() time.Time
	Logger                   *slog.Logger
}

// Service is the workspace control plane over one kv database.
type Service struct {
	db   kv.DB
	ids  Identities
	keys KeyManager
	seal secretSealer
	opts Options
	log  *slog.Logger
	// cache keeps the records the data plane looks up on every call.
	cache lookupCache
}

var (
	bucketClusters   = []byte("workspace.clusters")   // lower(sub/rg/name) → clusterRecord
	bucketWorkspaces = []byte("workspace.workspaces") // lower(sub/rg/name) → workspaceRecord
	bucketCustomerID = []byte("workspace.customerIds")
)

// New opens the control plane's buckets in db.
func New(db kv.DB, ids Identities, keys KeyManager, seal secretSealer, opts Options) (*Service, error) {
	if db == nil || ids == nil || keys == nil || seal == nil {
		return nil, errors.New("workspace: database, identities, key manager and sealer are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		for _, b := range [][]byte{bucketClusters, bucketWorkspaces, bucketCustomerID, bucketClusterLinks, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := moveLinksOutOfClusters(tx); err != nil {
			return err
		}
		return indexDCRs(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("workspace: open store: %w", err)
	}
	return &Service{db: db, ids: ids, keys: keys, seal: seal, opts: opts, log: opts.Logger}, nil
}

// clusterRecord is a cluster as stored. Its linked workspaces are kept in
// bucketClusterLinks (Cluster.Properties.AssociatedWorkspaces stays empty),
// and only counted here.
type clusterRecord struct {
	Cluster      Cluster `json:"cluster"`
	IdentityApp  string  `json:"identityAppId"`
	SealedSecret []byte  `json:"sealedSecret"`
	// SealedKeySecret is the secret of the key's source (an AWS access
	// key's), sealed; the stored KeyVaultProperties hold none.
	SealedKeySecret  []byte `json:"sealedKeySecret,omitempty"`
	LinkedWorkspaces int    `json:"linkedWorkspaces,omitempty"`
}

type workspaceRecord struct {
	Workspace        Workspace `json:"workspace"`
	SealedSharedKeys []byte    `json:"sealedSharedKeys"`
	Onboarded        bool      `json:"onboarded"`
	OnboardedCMK     bool      `json:"onboardedCmk"`
	OnboardingEtag   string    `json:"onboardingEtag,omitempty"`
	LinkedAt         time.Time `json:"linkedAt,omitzero"`
	// HasPlatformData and HasClusterKeyData record under which keys the
	// workspace has stored data; the linking rules depend on it.
	HasPlatformData   bool `json:"hasPlatformData,omitempty"`
	HasClusterKeyData bool `json:"hasClusterKeyData,omitempty"`
}

// ResourceGroup names where a resource lives.
type ResourceGroup struct{ Subscription, Group string }

func (g ResourceGroup) id(typ, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", g.Subscription, g.Group, typ, name)
}

func storeKey(g ResourceGroup, name string) []byte {
	return []byte(strings.ToLower(g.Subscription + "/" + g.Group + "/" + name))
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

// validName follows the cloud's rule for clusters and workspaces: 4–63
// letters, digits and hyphens, starting and ending with a letter or digit.
func validName(kind, name string) error {
	if len(name) < 4 || len(name) > 63 {
		return fault.New(fault.Invalid, CodeInvalidName, "%s name '%s' must be 4 to 63 characters", kind, printable(name))
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (r != '-' || i == 0 || i == len(name)-1) {
			return fault.New(fault.Invalid, CodeInvalidName,
				"%s name '%s' may hold only letters, digits and hyphens, and must start and end with a letter or digit", kind, printable(name))
		}
	}
	return nil
}

// printable keeps a name from the request fit to echo in a message.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func validCapacity(c int) error {
	if slices.Contains(CapacityTiers, c) {
		return nil
	}
	return fault.New(fault.Invalid, CodeInvalidCapacity,
		"capacity %d GB/day is not a commitment tier; use one of %v (the minimum is 100)", c, CapacityTiers)
}

func getJSON[T any](b kv.Bucket, key []byte) (*T, error) {
	raw := b.Get(key)
	if raw == nil {
		return nil, nil
	}
	return decodeJSON[T](key, raw)
}

// decodeJSON decodes the value raw of key: for iterations, which hold the
// value already, where reading the key again would give nil for a read
// that failed (on a database, until the transaction reports its error).
func decodeJSON[T any](key, raw []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

func putJSON(b kv.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func (s *Service) sealSecret(kind, id string, secret []byte) ([]byte, error) {
	return s.seal.Seal(secret, envelope.AAD("sealwatch/workspace/secret/v1", kind, strings.ToLower(id)))
}

func (s *Service) openSecret(kind, id string, sealed []byte) ([]byte, error) {
	return s.seal.Open(sealed, envelope.AAD("sealwatch/workspace/secret/v1", kind, strings.ToLower(id)))
}

func randomKey() string {
	b := make([]byte, 64)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func newGUID() string { return uuid.NewString() }

// keyInForce refuses a configuration change of a workspace whose cluster's
// customer-managed key is revoked (403) or unreachable past the grace (503):
// under a revoked key the only change left is deleting the workspace.
func (s *Service) keyInForce(tx kv.Tx, rec *workspaceRecord) error {
	cid := rec.Workspace.Properties.ClusterResourceID
	if cid == "" {
		return nil
	}
	c, _, err := s.clusterByID(tx, cid)
	if err != nil || !c.Cluster.Properties.KeyVaultProperties.IsSet() {
		return nil
	}
	return s.clusterKeyInForce(c)
}

func (s *Service) clusterKeyInForce(c *clusterRecord) error {
	switch s.keys.KeyState(c.Cluster.Properties.ClusterID) {
	case "Revoked":
		// The API layer words these refusals, the same as the data plane's.
		return &fault.Error{Kind: fault.KeyInaccessible, Err: fmt.Errorf("the customer-managed key of cluster '%s' is revoked", c.Cluster.Name)}
	case "Locked":
		return &fault.Error{Kind: fault.KeyUnreachable, Err: fmt.Errorf("the key vault of cluster '%s' cannot be reached", c.Cluster.Name)}
	case "":
		// The key is set, but this node has not checked it yet (it was set
		// on another node, or the node is starting): nothing proves it is
		// not revoked, so the change waits for the check.
		return &fault.Error{Kind: fault.KeyUnreachable, Err: fmt.Errorf("the key of cluster '%s' has not been checked on this node yet", c.Cluster.Name)}
	}
	return nil
}
