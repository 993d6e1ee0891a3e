package workspace

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// bucketClusterLinks holds the workspaces linked to each cluster, one key
// per link, apart from the cluster's record: every ingest and query reads
// that record (to learn the cluster's ID and whether its key is set), and
// with the list inside it each of them decoded up to
// MaxWorkspacesPerCluster entries.
var bucketClusterLinks = []byte("workspace.clusterLinks") // clusterKey \x00 lower(workspace resource ID) → AssociatedWorkspace

// linkPrefix is where the links of the cluster stored under clusterKey begin.
func linkPrefix(clusterKey []byte) []byte {
	return append(slices.Clip(clusterKey), 0)
}

func linkKey(clusterKey []byte, workspaceID string) []byte {
	return append(linkPrefix(clusterKey), strings.ToLower(workspaceID)...)
}

// addLink records a workspace linked to the cluster stored under clusterKey
// and counts it in c, which the caller stores.
func addLink(tx kv.Tx, c *clusterRecord, clusterKey []byte, a AssociatedWorkspace) error {
	if err := putJSON(tx.Bucket(bucketClusterLinks), linkKey(clusterKey, a.ResourceID), a); err != nil {
		return err
	}
	c.LinkedWorkspaces++
	return nil
}

// removeLink forgets the link of a workspace to the cluster stored under
// clusterKey, and uncounts it in c when it was there; the caller stores c.
func removeLink(tx kv.Tx, c *clusterRecord, clusterKey []byte, workspaceID string) error {
	b := tx.Bucket(bucketClusterLinks)
	k := linkKey(clusterKey, workspaceID)
	if b.Get(k) == nil {
		return nil
	}
	if err := b.Delete(k); err != nil {
		return err
	}
	c.LinkedWorkspaces = max(c.LinkedWorkspaces-1, 0)
	return nil
}

// hasLinks reports whether any workspace is linked to the cluster stored
// under clusterKey.
func hasLinks(tx kv.Tx, clusterKey []byte) bool {
	prefix := linkPrefix(clusterKey)
	k, _ := tx.Bucket(bucketClusterLinks).Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// linksOf lists the workspaces linked to the cluster stored under
// clusterKey, in the order they were linked.
func linksOf(tx kv.Tx, clusterKey []byte) ([]AssociatedWorkspace, error) {
	out := []AssociatedWorkspace{}
	prefix := linkPrefix(clusterKey)
	c := tx.Bucket(bucketClusterLinks).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var a AssociatedWorkspace
		if err := json.Unmarshal(v, &a); err != nil {
			return nil, fmt.Errorf("decode link %s: %w", k, err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, byLinkDate)
	return out, nil
}

// moveLinksOutOfClusters upgrades a database written when each cluster's
// record held the list of its linked workspaces: the list moves to
// bucketClusterLinks, and the record keeps only their count. Records
// already moved are left as they are, so running it at every open costs one
// read of each cluster's (small) record.
func moveLinksOutOfClusters(tx kv.Tx) error {
	clusters := tx.Bucket(bucketClusters)
	type moved struct {
		key []byte
		rec *clusterRecord
	}
	var todo []moved
	err := clusters.ForEach(func(k, _ []byte) error {
		rec, err := getJSON[clusterRecord](clusters, k)
		if err != nil {
			return err
		}
		if len(rec.Cluster.Properties.AssociatedWorkspaces) > 0 {
			todo = append(todo, moved{slices.Clone(k), rec})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range todo {
		for _, a := range m.rec.Cluster.Properties.AssociatedWorkspaces {
			if tx.Bucket(bucketClusterLinks).Get(linkKey(m.key, a.ResourceID)) != nil {
				continue
			}
			if err := addLink(tx, m.rec, m.key, a); err != nil {
				return err
			}
		}
		m.rec.Cluster.Properties.AssociatedWorkspaces = nil
		if err := putJSON(clusters, m.key, m.rec); err != nil {
			return err
		}
	}
	return nil
}

// clusterKeyOf is the key the cluster of rec is stored under.
func clusterKeyOf(rec *clusterRecord) []byte {
	g, name, _ := parseResourceID(rec.Cluster.ID, TypeCluster)
	return storeKey(g, name)
}

// byLinkDate orders links as they were made, then by workspace.
func byLinkDate(a, b AssociatedWorkspace) int {
	return cmp.Or(a.AssociateDate.Compare(b.AssociateDate), strings.Compare(a.ResourceID, b.ResourceID))
}
