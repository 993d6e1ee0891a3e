package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
)

const (
	minRetentionDays     = 30
	maxRetentionDays     = 730
	defaultRetentionDays = 90
)

// defaultFeatures are the preview features a workspace can turn on. Those
// that would carry data out of the sealed stores do not support a
// customer-managed key and are refused on CMK workspaces.
func defaultFeatures() []Feature {
	return []Feature{
		{Name: "searchJobs", CMKSupported: true, Description: "long-running searches over the whole retention; results stay in sealed tables"},
		{Name: "exportToStorage", CMKSupported: false, Description: "continuous export of ingested rows to external storage, outside the customer's key"},
		{Name: "threatIntelEnrichment", CMKSupported: false, Description: "sends indicators to an external enrichment service in the clear"},
	}
}

// PutWorkspace creates a workspace or updates its retention, tags and features.
func (s *Service) PutWorkspace(ctx context.Context, g ResourceGroup, name string, in WorkspaceParameters) (*Workspace, bool, error) {
	if err := validName("workspace", name); err != nil {
		return nil, false, err
	}
	var created bool
	var out *Workspace
	err := s.update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketWorkspaces)
		rec, err := getJSON[workspaceRecord](b, storeKey(g, name))
		if err != nil {
			return err
		}
		now := s.now()
		if rec != nil {
			if err := s.keyInForce(tx, rec); err != nil {
				return err
			}
		}
		if rec == nil {
			created = true
			rec = &workspaceRecord{Workspace: Workspace{
				ID: g.id(TypeWorkspace, name), Name: name, Type: TypeWorkspace, Location: defaultLocation(in.Location),
				Properties: WorkspaceProperties{
					CustomerID: newGUID(), ProvisioningState: "Succeeded", RetentionInDays: defaultRetentionDays,
					SKU: WorkspaceSKU{Name: "PerGB2018"}, CreatedDate: now, Features: defaultFeatures(),
				},
			}}
			keys, _ := json.Marshal(SharedKeys{PrimarySharedKey: randomKey(), SecondarySharedKey: randomKey()})
			if rec.SealedSharedKeys, err = s.sealSecret("shared-keys", rec.Workspace.Properties.CustomerID, keys); err != nil {
				return err
			}
			if err := tx.Bucket(bucketCustomerID).Put([]byte(rec.Workspace.Properties.CustomerID), storeKey(g, name)); err != nil {
				return err
			}
		}
		if in.Tags != nil {
			rec.Workspace.Tags = in.Tags
		}
		if p := in.Properties; p != nil {
			if p.RetentionInDays != nil {
				if *p.RetentionInDays < minRetentionDays || *p.RetentionInDays > maxRetentionDays {
					return badRequest("retentionInDays must be from %d to %d, not %d", minRetentionDays, maxRetentionDays, *p.RetentionInDays)
				}
				rec.Workspace.Properties.RetentionInDays = *p.RetentionInDays
			}
			if p.SKU != nil && p.SKU.Name != "" && !strings.EqualFold(p.SKU.Name, "PerGB2018") && !strings.EqualFold(p.SKU.Name, "LACluster") {
				return badRequest("sku.name must be PerGB2018 (a linked workspace shows LACluster), not '%s'", printable(p.SKU.Name))
			}
			if err := s.setFeatures(rec, p.Features); err != nil {
				return err
			}
		}
		rec.Workspace.Properties.ModifiedDate = now
		out = viewWorkspace(rec)
		return putJSON(b, storeKey(g, name), rec)
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		s.log.Info("workspace created", "workspace", out.ID, "customerId", out.Properties.CustomerID)
	}
	return out, created, nil
}

// setFeatures turns features on and off; on a CMK workspace, one that does
// not support the key is refused.
func (s *Service) setFeatures(rec *workspaceRecord, want []Feature) error {
	for _, f := range want {
		i := featureIndex(rec.Workspace.Properties.Features, f.Name)
		if i < 0 {
			return badRequest("'%s' is not a feature; the features are %s", printable(f.Name), featureNames(rec.Workspace.Properties.Features))
		}
		have := &rec.Workspace.Properties.Features[i]
		if f.Enabled && !have.CMKSupported && rec.OnboardedCMK {
			return conflict(CodeFeatureNotSupported,
				"feature '%s' does not support customer-managed keys (%s), so it stays off on this CMK workspace", have.Name, have.Description)
		}
		have.Enabled = f.Enabled
	}
	return nil
}

func featureIndex(fs []Feature, name string) int {
	for i, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

func featureNames(fs []Feature) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// GetWorkspace returns a workspace.
func (s *Service) GetWorkspace(ctx context.Context, g ResourceGroup, name string) (*Workspace, error) {
	rec, err := s.workspaceRecord(ctx, g, name)
	if err != nil {
		return nil, err
	}
	w := viewWorkspace(rec)
	s.setKeyState(ctx, w)
	return w, nil
}

// setKeyState puts in w the state of the customer-managed key its data is
// sealed under, if any: its cluster's keyState, which those who may read
// the workspace but not the cluster need too, to know why their queries
// are refused.
func (s *Service) setKeyState(ctx context.Context, w *Workspace) {
	info, err := s.WorkspaceByCustomerID(ctx, w.Properties.CustomerID)
	if err == nil && info.CMK && info.ClusterID != "" {
		w.Properties.KeyState = s.keys.KeyState(info.ClusterID)
	}
}

// WorkspaceInfo is what the data plane needs to know about a workspace.
type WorkspaceInfo struct {
	Workspace Workspace
	// ClusterID is the linked cluster's clusterId, empty when none.
	ClusterID string
	// CMK is true when the workspace's data is sealed under its cluster's
	// customer-managed key, false when under the platform key.
	CMK       bool
	Onboarded bool
}

// WorkspaceByCustomerID finds a workspace by its customerId (the ID the query
// and Data Collector APIs use). Every query and ingest calls it: it answers
// from the lookup cache while nothing changed.
func (s *Service) WorkspaceByCustomerID(ctx context.Context, customerID string) (*WorkspaceInfo, error) {
	w, err := s.cachedWorkspace(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return copyInfo(&w.info), nil
}

// cachedWorkspace is the workspace with customerID as the lookup cache
// holds it, read into the cache if it is not there or the control plane
// changed since. Either way it takes one read transaction, which reads the
// generation first.
func (s *Service) cachedWorkspace(ctx context.Context, customerID string) (*cachedWorkspace, error) {
	var w *cachedWorkspace
	err := s.db.View(ctx, func(tx kv.Tx) error {
		var err error
		w, err = s.workspaceInTx(tx, readGeneration(tx), customerID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// workspaceInTx is the workspace with customerID, from the lookup cache if
// its entries are of generation gen, which tx read, or read from tx into it.
func (s *Service) workspaceInTx(tx kv.Tx, gen uint64, customerID string) (*cachedWorkspace, error) {
	customerID = strings.ToLower(customerID)
	if w, ok := s.cache.getWorkspace(gen, customerID); ok {
		return w, nil
	}
	k := tx.Bucket(bucketCustomerID).Get([]byte(customerID))
	if k == nil {
		return nil, fault.New(fault.NotFound, "WorkspaceNotFound", "no workspace has ID '%s'", printable(customerID))
	}
	rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), k)
	if err != nil || rec == nil {
		return nil, fault.New(fault.NotFound, "WorkspaceNotFound", "no workspace has ID '%s'", printable(customerID))
	}
	info, err := s.workspaceInfo(tx, rec)
	if err != nil {
		return nil, err
	}
	w := &cachedWorkspace{info: *info, sealedSharedKeys: rec.SealedSharedKeys, platformData: rec.HasPlatformData, clusterKeyData: rec.HasClusterKeyData}
	s.cache.putWorkspace(gen, customerID, w)
	return w, nil
}

// workspaceInfo is rec as lookups see it, with its cluster's ID and whether
// its data is sealed under a customer-managed key.
func (s *Service) workspaceInfo(tx kv.Tx, rec *workspaceRecord) (*WorkspaceInfo, error) {
	info := &WorkspaceInfo{Workspace: *viewWorkspace(rec), Onboarded: rec.Onboarded, CMK: rec.OnboardedCMK}
	if cid := rec.Workspace.Properties.ClusterResourceID; cid != "" {
		c, _, err := s.clusterByID(tx, cid)
		if err != nil {
			return nil, err
		}
		info.ClusterID = c.Cluster.Properties.ClusterID
		info.CMK = info.CMK || c.Cluster.Properties.KeyVaultProperties.IsSet()
	}
	return info, nil
}

// ListWorkspaces lists the workspaces of a subscription or resource group.
func (s *Service) ListWorkspaces(ctx context.Context, g ResourceGroup) ([]Workspace, error) {
	prefix := strings.ToLower(g.Subscription + "/")
	if g.Group != "" {
		prefix += strings.ToLower(g.Group) + "/"
	}
	var out []Workspace
	err := s.db.View(ctx, func(tx kv.Tx) error {
		c := tx.Bucket(bucketWorkspaces).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
			rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), k)
			if err != nil {
				return err
			}
			out = append(out, *viewWorkspace(rec))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		s.setKeyState(ctx, &out[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteWorkspace deletes a workspace, its link, and (through deleteData) its
// data. It needs no key: it is the one operation left when the key is revoked.
func (s *Service) DeleteWorkspace(ctx context.Context, g ResourceGroup, name string, deleteData func(ctx context.Context, customerID string) error) error {
	var customerID string
	err := s.update(ctx, func(tx kv.Tx) error {
		rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), storeKey(g, name))
		if err != nil || rec == nil {
			return err
		}
		customerID = rec.Workspace.Properties.CustomerID
		if cid := rec.Workspace.Properties.ClusterResourceID; cid != "" {
			if err := s.unlinkFromCluster(tx, cid, rec.Workspace.ID); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketCustomerID).Delete([]byte(customerID)); err != nil {
			return err
		}
		return tx.Bucket(bucketWorkspaces).Delete(storeKey(g, name))
	})
	if err != nil || customerID == "" {
		return err
	}
	if deleteData != nil {
		if err := deleteData(ctx, customerID); err != nil {
			return fmt.Errorf("delete the data of workspace %s: %w", name, err)
		}
	}
	s.log.Info("workspace deleted", "workspace", g.id(TypeWorkspace, name), "customerId", customerID)
	return nil
}

// SharedKeys returns the keys that sign Data Collector API requests.
func (s *Service) SharedKeys(ctx context.Context, g ResourceGroup, name string) (*SharedKeys, error) {
	rec, err := s.workspaceRecord(ctx, g, name)
	if err != nil {
		return nil, err
	}
	return s.sharedKeys(rec)
}

// CollectorWorkspace is the workspace with customerID and its shared keys,
// for the Data Collector API, which names workspaces by customerId and
// checks each request's signature against those keys. Every Data Collector
// request calls it: one read transaction, answered from the lookup cache
// while nothing changed (a regenerated key, like every write, moves the
// generation on).
func (s *Service) CollectorWorkspace(ctx context.Context, customerID string) (*WorkspaceInfo, *SharedKeys, error) {
	w, err := s.cachedWorkspace(ctx, customerID)
	if err != nil {
		return nil, nil, err
	}
	keys, err := s.openSharedKeys(w.info.Workspace.Properties.CustomerID, w.info.Workspace.Name, w.sealedSharedKeys)
	if err != nil {
		return nil, nil, err
	}
	return copyInfo(&w.info), keys, nil
}

func (s *Service) sharedKeys(rec *workspaceRecord) (*SharedKeys, error) {
	return s.openSharedKeys(rec.Workspace.Properties.CustomerID, rec.Workspace.Name, rec.SealedSharedKeys)
}

// openSharedKeys opens the shared keys of the workspace named name, sealed
// under its customerID.
func (s *Service) openSharedKeys(customerID, name string, sealed []byte) (*SharedKeys, error) {
	raw, err := s.openSecret("shared-keys", customerID, sealed)
	if err != nil {
		return nil, fmt.Errorf("open the shared keys of workspace %s: %w", name, err)
	}
	var k SharedKeys
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RegenerateSharedKey replaces the primary or the secondary key.
func (s *Service) RegenerateSharedKey(ctx context.Context, g ResourceGroup, name, which string) (*SharedKeys, error) {
	var out *SharedKeys
	err := s.update(ctx, func(tx kv.Tx) error {
		rec, err := workspaceTx(tx, g, name)
		if err != nil {
			return err
		}
		if err := s.keyInForce(tx, rec); err != nil {
			return err
		}
		k, err := s.sharedKeys(rec)
		if err != nil {
			return err
		}
		switch strings.ToLower(which) {
		case "primary":
			k.PrimarySharedKey = randomKey()
		case "secondary":
			k.SecondarySharedKey = randomKey()
		default:
			return badRequest("keyName must be primary or secondary, not '%s'", printable(which))
		}
		raw, _ := json.Marshal(k)
		if rec.SealedSharedKeys, err = s.sealSecret("shared-keys", rec.Workspace.Properties.CustomerID, raw); err != nil {
			return err
		}
		out = k
		return putJSON(tx.Bucket(bucketWorkspaces), storeKey(g, name), rec)
	})
	return out, err
}

func (s *Service) workspaceRecord(ctx context.Context, g ResourceGroup, name string) (*workspaceRecord, error) {
	var rec *workspaceRecord
	err := s.db.View(ctx, func(tx kv.Tx) error {
		var err error
		rec, err = workspaceTx(tx, g, name)
		return err
	})
	return rec, err
}

// workspaceTx reads a workspace's record in tx; a missing one is NotFound.
func workspaceTx(tx kv.Tx, g ResourceGroup, name string) (*workspaceRecord, error) {
	rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), storeKey(g, name))
	if err == nil && rec == nil {
		err = notFound("workspace", name)
	}
	return rec, err
}

func viewWorkspace(rec *workspaceRecord) *Workspace {
	w := rec.Workspace
	w.Properties.Features = append([]Feature{}, w.Properties.Features...)
	if w.Properties.ClusterResourceID != "" {
		w.Properties.SKU = WorkspaceSKU{Name: "LACluster"}
	}
	return &w
}

// unlinkFromCluster forgets the link of workspace workspaceID to the
// cluster clusterResourceID; a cluster deleted meanwhile has none.
func (s *Service) unlinkFromCluster(tx kv.Tx, clusterResourceID, workspaceID string) error {
	c, ck, err := s.clusterByID(tx, clusterResourceID)
	if err != nil {
		return nil
	}
	if err := removeLink(tx, c, ck, workspaceID); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketClusters), ck, c)
}

// Info is WorkspaceByCustomerID for a workspace named by resource group and name.
func (s *Service) Info(ctx context.Context, g ResourceGroup, name string) (*WorkspaceInfo, error) {
	rec, err := s.workspaceRecord(ctx, g, name)
	if err != nil {
		return nil, err
	}
	return s.WorkspaceByCustomerID(ctx, rec.Workspace.Properties.CustomerID)
}

// AllWorkspaces returns the data-plane view of every workspace.
func (s *Service) AllWorkspaces(ctx context.Context) ([]WorkspaceInfo, error) {
	var ids []string
	err := s.db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket(bucketCustomerID).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceInfo, 0, len(ids))
	for _, id := range ids {
		info, err := s.WorkspaceByCustomerID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}
