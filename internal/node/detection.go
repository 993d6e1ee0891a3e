package node

import (
	"context"
	"crypto/rand"
	"os"
	"time"

	"github.com/sealwatch/sealwatch/internal/automation"
	"github.com/sealwatch/sealwatch/internal/detection"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// newScheduler makes the scheduler of the workspaces' analytics rules. It
// opens their stores as the API does, under the workspaces' keys, and its
// queries draw on the same memory pool as the API's.
func (n *Node) newScheduler() (*detection.Scheduler, error) {
	var clusterMark func(ctx context.Context, workspace string) (time.Time, string, error)
	if n.data.Lineage() != "" {
		clusterMark = func(ctx context.Context, workspace string) (time.Time, string, error) {
			m, err := n.data.ClusterMark(ctx, workspace)
			return m.At, m.Lineage, err
		}
	}
	return detection.New(detection.Config{
		Node:       schedulerNode(),
		Workspaces: n.workspaces.AllWorkspaces,
		Docs:       n.data.Docs,
		Logs:       n.data.Logs,
		Source: func(ctx context.Context, ws *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			src, err := n.data.Source(ctx, ws)
			if err != nil {
				return nil, nil, err
			}
			return src, src.Release, nil
		},
		ClusterMark:     clusterMark,
		OnAlert:         n.automateAlert,
		Interval:        n.cfg.RuleInterval,
		NRTInterval:     n.cfg.NRTInterval,
		MaxAlertsPerRun: n.cfg.MaxAlertsPerRun,
		MaxQueryMemory:  n.cfg.QueryMemory,
		QueryMemory:     n.queryMem,
		GeoIP:           n.geoIP,
		ExternalData:    n.externalData,
		Logger:          n.log.With("component", "detection"),
		Registerer:      n.metrics,
	})
}

// automateAlert runs the workspace's automation rules on an alert a rule
// raised and on the incident it created or joined. Their failures are the
// automation's, recorded in the incident's history; the alert stands.
func (n *Node) automateAlert(ctx context.Context, ev detection.AlertEvent) {
	ws := ev.Workspace.Workspace
	rules := automation.New(ev.Docs, ws.Properties.CustomerID, ws.ID, n.webhooks, n.automationCache, nil)
	if ev.Incident != nil {
		aev := automation.Event{When: automation.Created, Incident: ev.Incident}
		if !ev.Created {
			// the alert joined it; the detection layer does not see the incident before,
			// so property-changed conditions compare it with itself
			aev = automation.Event{When: automation.Updated, Incident: ev.Incident, Before: ev.Incident, AlertAdded: true}
		}
		if err := rules.OnIncident(ctx, ev.Incidents, aev); err != nil {
			n.log.Warn("automation rules on a raised incident failed", "workspace", ws.ID, "incident", ev.Incident.Name, "err", err)
		}
	}
	if err := rules.OnAlert(ctx, ev.Alert); err != nil {
		n.log.Warn("automation rules on a raised alert failed", "workspace", ws.ID, "alert", ev.Alert.SystemAlertID, "err", err)
	}
}

// schedulerNode names this process among the nodes sharing the databases,
// in the leases of the workspaces whose rules it runs and in the key check
// records it writes: the
// host's name, for an operator reading them, and a random part, as a node
// has no identity of its own yet (two nodes may share a host; a restarted
// node is a new holder, and its former leases expire after their TTL).
func schedulerNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	return host + "-" + rand.Text()[:8]
}
