package workspace

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
)

const systemAssigned = "SystemAssigned"

// PutCluster creates a cluster or updates it as PATCH does. Creating makes the
// cluster's system-assigned identity; the customer grants it get, wrapKey and
// unwrapKey on their key and then sets the key (here or with PatchCluster).
func (s *Service) PutCluster(ctx context.Context, g ResourceGroup, name string, in ClusterParameters) (*Cluster, bool, error) {
	if err := validName("cluster", name); err != nil {
		return nil, false, err
	}
	existing, err := s.clusterRecord(ctx, g, name)
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		c, err := s.PatchCluster(ctx, g, name, in)
		return c, false, err
	}
	if in.Identity == nil || !strings.EqualFold(in.Identity.Type, systemAssigned) {
		got := "none"
		if in.Identity != nil {
			got = printable(in.Identity.Type)
		}
		return nil, false, fault.New(fault.Invalid, CodeInvalidIdentity,
			"a cluster needs identity.type SystemAssigned (got %s): its key is used by the cluster's own identity, which Sealwatch creates", got)
	}
	if in.SKU == nil {
		return nil, false, fault.New(fault.Invalid, CodeInvalidCapacity, "sku.capacity is required; use one of %v GB/day", CapacityTiers)
	}
	if err := validCapacity(in.SKU.Capacity); err != nil {
		return nil, false, err
	}
	if in.SKU.Name != "" && !strings.EqualFold(in.SKU.Name, "CapacityReservation") {
		return nil, false, badRequest("sku.name must be CapacityReservation, not '%s'", printable(in.SKU.Name))
	}
	var key *KeyVaultProperties
	if in.Properties != nil && in.Properties.KeyVaultProperties.IsSet() {
		key = in.Properties.KeyVaultProperties
		if err := validKey(key); err != nil {
			return nil, false, err
		}
	}

	p, secret, err := s.ids.CreateManagedIdentity(ctx, "cluster-"+name)
	if err != nil {
		return nil, false, fmt.Errorf("create the cluster's identity: %w", err)
	}
	now := s.now()
	rec := &clusterRecord{
		Cluster: Cluster{
			ID: g.id(TypeCluster, name), Name: name, Type: TypeCluster, Location: defaultLocation(in.Location), Tags: in.Tags,
			Identity: ManagedIdentity{Type: systemAssigned, PrincipalID: p.ObjectID, TenantID: s.ids.TenantID()},
			SKU:      ClusterSKU{Name: "CapacityReservation", Capacity: in.SKU.Capacity},
			Properties: ClusterProperties{
				ClusterID: newGUID(), ProvisioningState: "Succeeded", BillingType: "Cluster",
				CreatedDate: now, LastModifiedDate: now,
			},
		},
		IdentityApp: p.AppID,
	}
	rec.SealedSecret, err = s.sealSecret("cluster-identity", rec.Cluster.Properties.ClusterID, []byte(secret))
	if err != nil {
		_ = s.ids.Delete(ctx, p.ObjectID)
		return nil, false, err
	}
	if key != nil {
		// A key given at creation is validated like any other: the identity
		// has just been made, so this works only for keys whose vault grants
		// access some other way. The usual path is create, grant, PATCH.
		if err := s.applyKey(ctx, rec, *key); err != nil {
			_ = s.ids.Delete(ctx, p.ObjectID)
			return nil, false, err
		}
	}
	err = s.update(ctx, func(tx kv.Tx) error {
		if tx.Bucket(bucketClusters).Get(storeKey(g, name)) != nil {
			return conflict(CodeConflict, "cluster '%s' was created by another request at the same time", name)
		}
		return putJSON(tx.Bucket(bucketClusters), storeKey(g, name), rec)
	})
	if err != nil {
		if key != nil {
			// The key layer made the new cluster's keyrings; nothing
			// else names its cluster ID.
			if ferr := s.keys.ForgetCluster(context.WithoutCancel(ctx), rec.Cluster.Properties.ClusterID); ferr != nil {
				s.log.Warn("the keyrings made for a cluster whose record was not saved were not released", "cluster", rec.Cluster.ID, "err", ferr)
			}
		}
		_ = s.ids.Delete(ctx, p.ObjectID)
		return nil, false, err
	}
	s.log.Info("cluster created", "cluster", rec.Cluster.ID, "principalId", p.ObjectID, "capacity", in.SKU.Capacity)
	return s.view(rec, nil), true, nil
}

// PatchCluster changes capacity, tags, or the key: set it, rotate it (a new
// pinned version) or replace it (another key or vault). The key is checked
// and put in force before it is stored; it can never be removed.
func (s *Service) PatchCluster(ctx context.Context, g ResourceGroup, name string, in ClusterParameters) (*Cluster, error) {
	rec, err := s.clusterRecord(ctx, g, name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, notFound("cluster", name)
	}
	if in.Identity != nil && in.Identity.Type != "" && !strings.EqualFold(in.Identity.Type, systemAssigned) {
		return nil, fault.New(fault.Invalid, CodeInvalidIdentity,
			"a cluster's identity stays SystemAssigned; '%s' is not supported", printable(in.Identity.Type))
	}
	if in.SKU != nil {
		if err := validCapacity(in.SKU.Capacity); err != nil {
			return nil, err
		}
	}
	keySet := false // this PATCH put a key in force
	prev := *rec    // as stored before: the key to put back if saving fails
	if in.Properties != nil && in.Properties.KeyVaultProperties != nil {
		kv := *in.Properties.KeyVaultProperties
		current := rec.Cluster.Properties.KeyVaultProperties
		secretName, _ := secretOf(&kv)
		switch {
		case !kv.IsSet() && current.IsSet():
			return nil, conflict(CodeConflict,
				"the customer-managed key of cluster '%s' cannot be removed; rotate it or replace it with another key instead", name)
		case !kv.IsSet():
		case current.IsSet() && *current == kv:
			// Unchanged: the stored properties hold no secret, so a body
			// that sends one is a change of credential and goes on below.
		default:
			if secretName == "" && takesSecret(&kv) {
				if err := s.keepSecret(rec, &kv); err != nil {
					return nil, err
				}
			}
			if err := validKey(&kv); err != nil {
				return nil, err
			}
			if !current.IsSet() {
				if err := s.noPlatformData(ctx, rec); err != nil {
					return nil, err
				}
			}
			if err := s.applyKey(ctx, rec, kv); err != nil {
				return nil, err
			}
			keySet = true
		}
	}
	var links []AssociatedWorkspace
	err = s.update(ctx, func(tx kv.Tx) error {
		latest, err := getJSON[clusterRecord](tx.Bucket(bucketClusters), storeKey(g, name))
		if err != nil || latest == nil {
			return notFound("cluster", name)
		}
		if links, err = linksOf(tx, storeKey(g, name)); err != nil {
			return err
		}
		if in.SKU != nil {
			latest.Cluster.SKU.Capacity = in.SKU.Capacity
		}
		if in.Tags != nil {
			latest.Cluster.Tags = in.Tags
		}
		if keySet {
			// Otherwise the stored key stands: another node may have put
			// another in force since rec was read.
			latest.Cluster.Properties.KeyVaultProperties = rec.Cluster.Properties.KeyVaultProperties
			latest.SealedKeySecret = rec.SealedKeySecret
		}
		latest.Cluster.Properties.LastModifiedDate = s.now()
		rec = latest
		return putJSON(tx.Bucket(bucketClusters), storeKey(g, name), latest)
	})
	if err != nil {
		if keySet {
			s.undoKey(ctx, g, name, &prev)
		}
		return nil, err
	}
	return s.view(rec, links), nil
}

// undoTimeout bounds putting a cluster's previous key back in force after
// a PATCH that could not save its new one: a few key service round trips.
const undoTimeout = time.Minute

// undoKey puts the key prev stores back in force, after a PATCH put
// another in force and could not save it: otherwise the key layer's
// registry names a key the cluster's record does not store, and no node
// opens the cluster's keyrings once it restarts (each opens the stored
// key). A first key is undone by forgetting the keyrings it made. If the
// record changed meanwhile (another node's PATCH, or this save committed
// though its answer was lost), or cannot be read, the key in force is left
// as it is: the undo would then make things worse, not better. The request's own context may be what ended the save, so the
// undo runs on its own deadline.
func (s *Service) undoKey(ctx context.Context, g ResourceGroup, name string, prev *clusterRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	err := s.restoreKey(ctx, g, name, prev)
	if err != nil {
		s.log.Error("the cluster's new key is in force but its record was not saved, and the previous key could not be put back; set the key again with PATCH",
			"cluster", prev.Cluster.ID, "err", err)
		return
	}
	s.log.Warn("the cluster's record was not saved; its previous key is back in force", "cluster", prev.Cluster.ID)
}

func (s *Service) restoreKey(ctx context.Context, g ResourceGroup, name string, prev *clusterRecord) error {
	now, err := s.clusterRecord(ctx, g, name)
	if err != nil {
		return fmt.Errorf("read the cluster's record: %w", err)
	}
	was := prev.Cluster.Properties.KeyVaultProperties
	if now == nil || !sameStoredKey(now.Cluster.Properties.KeyVaultProperties, was) {
		return errors.New("the record changed meanwhile")
	}
	clusterID := prev.Cluster.Properties.ClusterID
	if !was.IsSet() {
		return s.keys.ForgetCluster(ctx, clusterID)
	}
	p, err := s.clusterPrincipal(prev)
	if err != nil {
		return err
	}
	key, err := s.keyOf(prev)
	if err != nil {
		return err
	}
	return s.keys.SetClusterKey(ctx, clusterID, p, key)
}

// sameStoredKey reports whether a and b, stored key properties (without
// secrets), name the same key; either may be unset.
func sameStoredKey(a, b *KeyVaultProperties) bool {
	if !a.IsSet() || !b.IsSet() {
		return a.IsSet() == b.IsSet()
	}
	return *a == *b
}

// applyKey checks kv with the cluster's identity and puts it in force; on
// success rec names it, and holds its secret (an access key's) sealed.
func (s *Service) applyKey(ctx context.Context, rec *clusterRecord, kv KeyVaultProperties) error {
	p, err := s.clusterPrincipal(rec)
	if err != nil {
		return err
	}
	clusterID := rec.Cluster.Properties.ClusterID
	if err := s.keys.CheckKey(ctx, clusterID, p, kv); err != nil {
		return err
	}
	var sealed []byte
	if plain := secretPlaintext(&kv); plain != nil {
		sealed, err = s.sealSecret("key-source-secret", clusterID, plain)
		clear(plain)
		if err != nil {
			return err
		}
	}
	if err := s.keys.SetClusterKey(ctx, clusterID, p, kv); err != nil {
		return err
	}
	stored := withoutSecret(kv)
	rec.Cluster.Properties.KeyVaultProperties = &stored
	rec.SealedKeySecret = sealed
	s.log.Info("cluster key set", append([]any{"cluster", rec.Cluster.ID}, logFields(kv)...)...)
	return nil
}

// keepSecret fills kv's empty secret with the stored one when kv names the
// same source and secret holder (access key, token) as the key in force: a
// PATCH that changes the key but not the credential need not send the
// secret again.
func (s *Service) keepSecret(rec *clusterRecord, kv *KeyVaultProperties) error {
	current := rec.Cluster.Properties.KeyVaultProperties
	if !current.IsSet() || !sameSecretHolder(current, kv) || rec.SealedKeySecret == nil {
		return nil
	}
	stored, err := s.keyOf(rec)
	if err != nil {
		return err
	}
	return putSecret(kv, secretPlaintext(&stored))
}

// keyOf is the cluster's key as the key layer opens it: the stored
// properties with the sealed secret opened.
func (s *Service) keyOf(rec *clusterRecord) (KeyVaultProperties, error) {
	kv := *rec.Cluster.Properties.KeyVaultProperties
	if rec.SealedKeySecret == nil {
		return kv, nil
	}
	secret, err := s.openSecret("key-source-secret", rec.Cluster.Properties.ClusterID, rec.SealedKeySecret)
	if err == nil {
		err = putSecret(&kv, secret)
		clear(secret)
	}
	if err != nil {
		return kv, fmt.Errorf("open the secret of cluster %s's key: %w", rec.Cluster.Name, err)
	}
	return kv, nil
}

func (s *Service) clusterPrincipal(rec *clusterRecord) (Principal, error) {
	secret, err := s.openSecret("cluster-identity", rec.Cluster.Properties.ClusterID, rec.SealedSecret)
	if err != nil {
		return Principal{}, fmt.Errorf("open the cluster identity's secret: %w", err)
	}
	return Principal{ObjectID: rec.Cluster.Identity.PrincipalID, AppID: rec.IdentityApp, Secret: string(secret)}, nil
}

func validKeyVaultProperties(kv *KeyVaultProperties) error {
	u, err := url.Parse(kv.KeyVaultURI)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return badRequest("keyVaultUri must be a vault's https URL such as https://myvault.vault.localhost:8443/, not '%s'", printable(kv.KeyVaultURI))
	}
	if kv.KeyName == "" || len(kv.KeyName) > 127 || strings.IndexFunc(kv.KeyName, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 {
		return badRequest("keyName must be 1-127 letters, digits and dashes, not '%s'", printable(kv.KeyName))
	}
	if kv.KeyVersion != "" && (len(kv.KeyVersion) != 32 || strings.Trim(strings.ToLower(kv.KeyVersion), "0123456789abcdef") != "") {
		return badRequest("keyVersion must be empty (follow the latest version) or a 32-character version ID, not '%s'", printable(kv.KeyVersion))
	}
	return validKeyVaultApp(kv)
}

// GetCluster returns a cluster.
func (s *Service) GetCluster(ctx context.Context, g ResourceGroup, name string) (*Cluster, error) {
	var out *Cluster
	err := s.db.View(ctx, func(tx kv.Tx) error {
		rec, err := getJSON[clusterRecord](tx.Bucket(bucketClusters), storeKey(g, name))
		if err != nil {
			return err
		}
		if rec == nil {
			return notFound("cluster", name)
		}
		links, err := linksOf(tx, storeKey(g, name))
		out = s.view(rec, links)
		return err
	})
	return out, err
}

// ClusterPrincipal returns a cluster's identity with its secret, for the key layer.
func (s *Service) ClusterPrincipal(ctx context.Context, clusterID string) (Principal, *Cluster, error) {
	var found *clusterRecord
	var links []AssociatedWorkspace
	err := s.db.View(ctx, func(tx kv.Tx) error {
		err := tx.Bucket(bucketClusters).ForEach(func(k, v []byte) error {
			rec, err := decodeJSON[clusterRecord](k, v)
			if err == nil && rec.Cluster.Properties.ClusterID == clusterID {
				found = rec
			}
			return err
		})
		if err != nil || found == nil {
			return err
		}
		links, err = linksOf(tx, clusterKeyOf(found))
		return err
	})
	if err != nil {
		return Principal{}, nil, err
	}
	if found == nil {
		return Principal{}, nil, notFound("cluster", clusterID)
	}
	p, err := s.clusterPrincipal(found)
	return p, s.view(found, links), err
}

// ListClusters lists the clusters of a subscription, or of one resource group
// when g.Group is set.
func (s *Service) ListClusters(ctx context.Context, g ResourceGroup) ([]Cluster, error) {
	prefix := strings.ToLower(g.Subscription + "/")
	if g.Group != "" {
		prefix += strings.ToLower(g.Group) + "/"
	}
	var out []Cluster
	err := s.db.View(ctx, func(tx kv.Tx) error {
		c := tx.Bucket(bucketClusters).Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			rec, err := decodeJSON[clusterRecord](k, v)
			if err != nil {
				return err
			}
			links, err := linksOf(tx, k)
			if err != nil {
				return err
			}
			out = append(out, *s.view(rec, links))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// DeleteCluster deletes a cluster with no linked workspaces, its identity and
// its account keys.
func (s *Service) DeleteCluster(ctx context.Context, g ResourceGroup, name string) error {
	rec, err := s.clusterRecord(ctx, g, name)
	if err != nil || rec == nil {
		return err
	}
	if n := rec.LinkedWorkspaces; n > 0 {
		return conflict(CodeConflict, "cluster '%s' has %d linked workspaces; unlink or delete them first", name, n)
	}
	err = s.update(ctx, func(tx kv.Tx) error {
		latest, err := getJSON[clusterRecord](tx.Bucket(bucketClusters), storeKey(g, name))
		if err != nil || latest == nil {
			return err
		}
		if hasLinks(tx, storeKey(g, name)) {
			return conflict(CodeConflict, "cluster '%s' got a linked workspace meanwhile; unlink it first", name)
		}
		return tx.Bucket(bucketClusters).Delete(storeKey(g, name))
	})
	if err != nil {
		return err
	}
	if err := s.keys.ForgetCluster(ctx, rec.Cluster.Properties.ClusterID); err != nil {
		s.log.Warn("cluster keys not released", "cluster", rec.Cluster.ID, "err", err)
	}
	if err := s.ids.Delete(ctx, rec.Cluster.Identity.PrincipalID); err != nil {
		s.log.Warn("cluster identity not deleted", "cluster", rec.Cluster.ID, "err", err)
	}
	s.log.Info("cluster deleted", "cluster", rec.Cluster.ID)
	return nil
}

func (s *Service) clusterRecord(ctx context.Context, g ResourceGroup, name string) (*clusterRecord, error) {
	var rec *clusterRecord
	err := s.db.View(ctx, func(tx kv.Tx) error {
		var err error
		rec, err = getJSON[clusterRecord](tx.Bucket(bucketClusters), storeKey(g, name))
		return err
	})
	return rec, err
}

// clusterByID finds a cluster by its resource ID.
func (s *Service) clusterByID(tx kv.Tx, resourceID string) (*clusterRecord, []byte, error) {
	g, name, ok := parseResourceID(resourceID, TypeCluster)
	if !ok {
		return nil, nil, badRequest("'%s' is not a cluster resource ID (/subscriptions/{sub}/resourceGroups/{rg}/providers/%s/{name})", printable(resourceID), TypeCluster)
	}
	k := storeKey(g, name)
	rec, err := getJSON[clusterRecord](tx.Bucket(bucketClusters), k)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, notFound("cluster", resourceID)
	}
	return rec, k, nil
}

func parseResourceID(id, typ string) (ResourceGroup, string, bool) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	typParts := strings.Split(typ, "/")
	if len(parts) != 6+len(typParts) || !strings.EqualFold(parts[0], "subscriptions") || !strings.EqualFold(parts[2], "resourceGroups") || !strings.EqualFold(parts[4], "providers") {
		return ResourceGroup{}, "", false
	}
	for i, p := range typParts {
		if !strings.EqualFold(parts[5+i], p) {
			return ResourceGroup{}, "", false
		}
	}
	return ResourceGroup{Subscription: parts[1], Group: parts[3]}, parts[len(parts)-1], true
}

// view is the cluster of rec as the API shows it, with the workspaces
// linked to it.
func (s *Service) view(rec *clusterRecord, links []AssociatedWorkspace) *Cluster {
	c := rec.Cluster
	c.Properties.AssociatedWorkspaces = append([]AssociatedWorkspace{}, links...)
	c.Properties.DocumentStorePrincipalID = s.opts.DocumentStorePrincipalID
	if c.Properties.KeyVaultProperties.IsSet() {
		kv := withoutSecret(*c.Properties.KeyVaultProperties)
		c.Properties.KeyVaultProperties = &kv
		c.Properties.KeyState = s.keys.KeyState(c.Properties.ClusterID)
		if at, why := s.keys.LastKeyCheck(c.Properties.ClusterID); !at.IsZero() {
			at = at.UTC()
			c.Properties.LastKeyCheckDate, c.Properties.KeyCheckError = &at, why
		}
	}
	return &c
}

func defaultLocation(l string) string {
	if l == "" {
		return "local"
	}
	return l
}

// ClusterNames maps the ID of every cluster to its name, so that metrics can
// name a cluster as its owner knows it. It decrypts nothing.
func (s *Service) ClusterNames(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket(bucketClusters).ForEach(func(k, _ []byte) error {
			rec, err := getJSON[clusterRecord](tx.Bucket(bucketClusters), k)
			if err == nil {
				out[rec.Cluster.Properties.ClusterID] = rec.Cluster.Name
			}
			return err
		})
	})
	return out, err
}

// ClustersWithKeys calls fn for every cluster whose key is set, with its
// identity, so that the key layer can reopen their keyrings at start-up.
func (s *Service) ClustersWithKeys(ctx context.Context, fn func(clusterID string, p Principal, kv KeyVaultProperties) error) error {
	var recs []*clusterRecord
	err := s.db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket(bucketClusters).ForEach(func(k, v []byte) error {
			rec, err := decodeJSON[clusterRecord](k, v)
			if err == nil && rec.Cluster.Properties.KeyVaultProperties.IsSet() {
				recs = append(recs, rec)
			}
			return err
		})
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		p, err := s.clusterPrincipal(rec)
		var kv KeyVaultProperties
		if err == nil {
			kv, err = s.keyOf(rec)
		}
		if err == nil {
			err = fn(rec.Cluster.Properties.ClusterID, p, kv)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// noPlatformData refuses a cluster's first key while a linked workspace
// holds data sealed under the platform key: that data would stay outside the
// customer's key, and the workspace would move under a key its data is not
// sealed by.
func (s *Service) noPlatformData(ctx context.Context, rec *clusterRecord) error {
	var held []string
	err := s.db.View(ctx, func(tx kv.Tx) error {
		links, err := linksOf(tx, clusterKeyOf(rec))
		if err != nil {
			return err
		}
		for _, a := range links {
			g, name, ok := parseResourceID(a.ResourceID, TypeWorkspace)
			if !ok {
				continue
			}
			w, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), storeKey(g, name))
			if err != nil {
				return err
			}
			if w != nil && w.HasPlatformData {
				held = append(held, w.Workspace.Name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return conflict(CodeWorkspaceNotCmkEligible,
			"cluster '%s' has linked workspaces that already hold data under the platform key (%s); a customer-managed key applies only to new data: unlink or delete them, or use a new cluster",
			rec.Cluster.Name, strings.Join(held, ", "))
	}
	return nil
}
