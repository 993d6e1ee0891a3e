package workspace

import (
	"context"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Link links a workspace to a cluster, so that its data is sealed under the
// cluster's key from then on. The cloud's rules: a workspace onboarded
// without a customer-managed key, or holding data sealed under the platform
// key, cannot move under a CMK cluster (its earlier data would stay on the
// platform key); a cluster takes at most MaxWorkspacesPerCluster workspaces.
func (s *Service) Link(ctx context.Context, g ResourceGroup, name, clusterResourceID string) (*LinkedService, error) {
	var out *LinkedService
	err := s.update(ctx, func(tx kv.Tx) error {
		rec, err := workspaceTx(tx, g, name)
		if err != nil {
			return err
		}
		c, ck, err := s.clusterByID(tx, clusterResourceID)
		if err != nil {
			return err
		}
		if c.Cluster.Properties.KeyVaultProperties.IsSet() {
			if err := s.clusterKeyInForce(c); err != nil {
				return err
			}
		}
		current := rec.Workspace.Properties.ClusterResourceID
		switch {
		case strings.EqualFold(current, c.Cluster.ID):
			out = linkView(rec)
			return nil
		case current != "":
			return conflict(CodeConflict, "workspace '%s' is already linked to %s; unlink it first", name, current)
		}
		if c.Cluster.Properties.KeyVaultProperties.IsSet() {
			switch {
			case rec.Onboarded && !rec.OnboardedCMK:
				return conflict(CodeWorkspaceNotCmkEligible,
					"workspace '%s' was onboarded without a customer-managed key, so it cannot move under CMK cluster '%s': a customer-managed key applies only to new workspaces; create a new workspace, link it, then onboard it with customerManagedKey: true", name, c.Cluster.Name)
			case rec.HasPlatformData:
				return conflict(CodeWorkspaceNotCmkEligible,
					"workspace '%s' already holds data sealed under the platform key, which would stay outside the customer-managed key of cluster '%s'; link a new workspace instead", name, c.Cluster.Name)
			}
		}
		if c.LinkedWorkspaces >= MaxWorkspacesPerCluster {
			return conflict(CodeTooManyWorkspaces, "cluster '%s' already has %d workspaces, the most one cluster takes; use another cluster", c.Cluster.Name, MaxWorkspacesPerCluster)
		}
		now := s.now()
		rec.Workspace.Properties.ClusterResourceID = c.Cluster.ID
		rec.LinkedAt = now
		err = addLink(tx, c, ck, AssociatedWorkspace{
			WorkspaceID: rec.Workspace.Properties.CustomerID, WorkspaceName: rec.Workspace.Name,
			ResourceID: rec.Workspace.ID, AssociateDate: now,
		})
		if err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketClusters), ck, c); err != nil {
			return err
		}
		out = linkView(rec)
		return putJSON(tx.Bucket(bucketWorkspaces), storeKey(g, name), rec)
	})
	if err == nil {
		s.log.Info("workspace linked", "workspace", g.id(TypeWorkspace, name), "cluster", clusterResourceID)
	}
	return out, err
}

// GetLink returns a workspace's link to its cluster.
func (s *Service) GetLink(ctx context.Context, g ResourceGroup, name string) (*LinkedService, error) {
	rec, err := s.workspaceRecord(ctx, g, name)
	if err != nil {
		return nil, err
	}
	if rec.Workspace.Properties.ClusterResourceID == "" {
		return nil, fault.New(fault.NotFound, CodeNotFound, "workspace '%s' is not linked to a cluster", name)
	}
	return linkView(rec), nil
}

// Unlink removes a workspace's link. A workspace onboarded under a
// customer-managed key cannot be unlinked: its data is sealed under the
// cluster's key.
func (s *Service) Unlink(ctx context.Context, g ResourceGroup, name string) error {
	return s.update(ctx, func(tx kv.Tx) error {
		rec, err := workspaceTx(tx, g, name)
		if err != nil {
			return err
		}
		cid := rec.Workspace.Properties.ClusterResourceID
		if cid == "" {
			return nil
		}
		if rec.OnboardedCMK || rec.HasClusterKeyData {
			return conflict(CodeConflict,
				"workspace '%s' keeps its data under the customer-managed key of %s and cannot be unlinked; delete the workspace to remove it", name, cid)
		}
		if err := s.unlinkFromCluster(tx, cid, rec.Workspace.ID); err != nil {
			return err
		}
		rec.Workspace.Properties.ClusterResourceID = ""
		return putJSON(tx.Bucket(bucketWorkspaces), storeKey(g, name), rec)
	})
}

func linkView(rec *workspaceRecord) *LinkedService {
	l := &LinkedService{ID: rec.Workspace.ID + "/linkedServices/cluster", Name: "cluster", Type: TypeLink}
	l.Properties.WriteAccessResourceID = rec.Workspace.Properties.ClusterResourceID
	l.Properties.ProvisioningState = "Succeeded"
	return l
}

// Onboard onboards a workspace. With customerManagedKey true it must be
// linked to a cluster whose key is set and in force; a workspace onboarded
// without the key can never be switched to it, nor the other way round.
func (s *Service) Onboard(ctx context.Context, g ResourceGroup, name string, cmk bool, ifMatch string) (*OnboardingState, error) {
	var out *OnboardingState
	err := s.update(ctx, func(tx kv.Tx) error {
		rec, err := workspaceTx(tx, g, name)
		if err != nil {
			return err
		}
		if ifMatch != "" && ifMatch != "*" && ifMatch != rec.OnboardingEtag {
			return fault.New(fault.PreconditionFailed, "PreconditionFailed", "the onboarding state changed since you read it (etag %s); read it again", rec.OnboardingEtag)
		}
		if rec.Onboarded && rec.OnboardedCMK != cmk {
			if rec.OnboardedCMK {
				return conflict(CodeConflict, "workspace '%s' is onboarded under a customer-managed key, which cannot be turned off", name)
			}
			return conflict(CodeWorkspaceNotCmkEligible,
				"workspace '%s' was onboarded without a customer-managed key and cannot be switched to one: the key applies only to new workspaces; create a new workspace for CMK", name)
		}
		var cluster *clusterRecord
		if cid := rec.Workspace.Properties.ClusterResourceID; cid != "" {
			if cluster, _, err = s.clusterByID(tx, cid); err != nil {
				return err
			}
		}
		cmkCluster := cluster != nil && cluster.Cluster.Properties.KeyVaultProperties.IsSet()
		switch {
		case cmk && cluster == nil:
			return conflict(CodeWorkspaceNotCmkEligible,
				"workspace '%s' is not linked to a cluster; link it to a cluster whose customer-managed key is set, then onboard with customerManagedKey: true", name)
		case cmk && !cmkCluster:
			return conflict(CodeWorkspaceNotCmkEligible,
				"cluster '%s' has no customer-managed key yet; set its keyVaultProperties first", cluster.Cluster.Name)
		case cmk && s.keys.KeyState(cluster.Cluster.Properties.ClusterID) != "Accessible":
			return conflict(CodeWorkspaceNotCmkEligible,
				"the customer-managed key of cluster '%s' is not in force (state %s); restore access to the key, then onboard", cluster.Cluster.Name, s.keys.KeyState(cluster.Cluster.Properties.ClusterID))
		case !cmk && cmkCluster:
			return conflict(CodeWorkspaceNotCmkEligible,
				"workspace '%s' is linked to CMK cluster '%s'; onboard it with customerManagedKey: true", name, cluster.Cluster.Name)
		}
		if cmk {
			for _, f := range rec.Workspace.Properties.Features {
				if f.Enabled && !f.CMKSupported {
					return conflict(CodeFeatureNotSupported, "feature '%s' is on and does not support customer-managed keys; turn it off, then onboard", f.Name)
				}
			}
		}
		rec.Onboarded, rec.OnboardedCMK = true, cmk
		rec.OnboardingEtag = `"` + newGUID() + `"`
		out = onboardingView(rec)
		return putJSON(tx.Bucket(bucketWorkspaces), storeKey(g, name), rec)
	})
	if err == nil {
		s.log.Info("workspace onboarded", "workspace", g.id(TypeWorkspace, name), "customerManagedKey", cmk)
	}
	return out, err
}

// GetOnboarding returns a workspace's onboarding state.
func (s *Service) GetOnboarding(ctx context.Context, g ResourceGroup, name string) (*OnboardingState, error) {
	rec, err := s.workspaceRecord(ctx, g, name)
	if err != nil {
		return nil, err
	}
	if !rec.Onboarded {
		return nil, fault.New(fault.NotFound, CodeNotFound, "workspace '%s' is not onboarded", name)
	}
	return onboardingView(rec), nil
}

// Offboard removes the onboarding state. A CMK workspace stays under its key
// (and linked): offboarding changes what runs on it, not how it is sealed.
func (s *Service) Offboard(ctx context.Context, g ResourceGroup, name string) error {
	return s.update(ctx, func(tx kv.Tx) error {
		rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), storeKey(g, name))
		if err != nil || rec == nil {
			return err
		}
		if rec.OnboardedCMK {
			rec.HasClusterKeyData = true
		}
		rec.Onboarded, rec.OnboardingEtag = false, ""
		return putJSON(tx.Bucket(bucketWorkspaces), storeKey(g, name), rec)
	})
}

func onboardingView(rec *workspaceRecord) *OnboardingState {
	o := &OnboardingState{ID: rec.Workspace.ID + "/providers/" + TypeOnboarding + "/default", Name: "default", Type: TypeOnboarding, Etag: rec.OnboardingEtag}
	o.Properties.CustomerManagedKey = rec.OnboardedCMK
	return o
}

// MarkData records that the workspace ws describes holds data under the key
// ws names (its cluster's key when ws.CMK, the platform key otherwise), so
// that the linking rules can tell an empty workspace from one with data. The
// caller calls it before it seals anything: the mark is durable before the
// data is, so a link to a customer-managed key, on any node, sees it.
//
// It refuses with ErrWorkspaceKeyChanged when the workspace is under another
// key by now (another node linked it to a CMK cluster since ws was read), and
// with a NotFound refusal when it is gone: the caller looks the workspace up
// again rather than seal under a key that no longer governs it.
//
// Every ingest calls it, and a workspace is marked once: the mark is read
// from the lookup cache first, which the caller's lookup just filled, so
// that the calls after the first take no transaction at all, and above all
// no write transaction (each of which waits for every other writer, on every
// node, and moves the generation on, emptying every node's cache).
func (s *Service) MarkData(ctx context.Context, ws *WorkspaceInfo) error {
	id := ws.Workspace.Properties.CustomerID
	if s.cache.markedWorkspace(strings.ToLower(id), sealingKey(ws)) {
		return nil
	}
	w, err := s.cachedWorkspace(ctx, id)
	if err != nil {
		return err
	}
	if sealingKey(&w.info) != sealingKey(ws) {
		return keyChanged(ws)
	}
	if ws.CMK && w.clusterKeyData || !ws.CMK && w.platformData {
		return nil
	}
	return s.update(ctx, func(tx kv.Tx) error {
		k := tx.Bucket(bucketCustomerID).Get([]byte(strings.ToLower(id)))
		if k == nil {
			return fault.New(fault.NotFound, "WorkspaceNotFound", "no workspace has ID '%s'", printable(id))
		}
		rec, err := getJSON[workspaceRecord](tx.Bucket(bucketWorkspaces), k)
		if err != nil {
			return err
		}
		if rec == nil {
			return fault.New(fault.NotFound, "WorkspaceNotFound", "no workspace has ID '%s'", printable(id))
		}
		now, err := s.workspaceInfo(tx, rec)
		if err != nil {
			return err
		}
		if sealingKey(now) != sealingKey(ws) {
			return keyChanged(ws)
		}
		switch {
		case ws.CMK && rec.HasClusterKeyData, !ws.CMK && rec.HasPlatformData:
			return errUnchanged // another node marked it first
		case ws.CMK:
			rec.HasClusterKeyData = true
		default:
			rec.HasPlatformData = true
		}
		return putJSON(tx.Bucket(bucketWorkspaces), k, rec)
	})
}

// sealingKey names the key a workspace's data is sealed under: its cluster's,
// or the platform's.
func sealingKey(ws *WorkspaceInfo) string {
	if ws.CMK {
		return "cluster " + ws.ClusterID
	}
	return "platform"
}

func keyChanged(ws *WorkspaceInfo) error {
	return fault.New(fault.Conflict, CodeWorkspaceKeyChanged,
		"workspace '%s' moved under another key while the request was handled; send it again",
		ws.Workspace.Name)
}
