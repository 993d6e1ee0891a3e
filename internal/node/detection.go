package node

import (
	"context"

	"github.com/sealwatch/sealwatch/internal/detection"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// newScheduler makes the scheduler of the workspaces' analytics rules. It
// opens their stores as the API does, under the workspaces' keys, and its
// queries draw on the same memory pool as the API's.
func (n *Node) newScheduler() (*detection.Scheduler, error) {
	return detection.New(detection.Config{
		Workspaces: n.workspaces.AllWorkspaces,
		Docs:       n.data.Docs,
		Logs:       n.data.Logs,
		Source: func(ctx context.Context, ws *workspace.WorkspaceInfo) (kql.Source, error) {
			return n.data.Source(ctx, ws)
		},
		Interval:        n.cfg.RuleInterval,
		NRTInterval:     n.cfg.NRTInterval,
		MaxAlertsPerRun: n.cfg.MaxAlertsPerRun,
		MaxQueryMemory:  n.cfg.QueryMemory,
		QueryMemory:     n.queryMem,
		Logger:          n.log.With("component", "detection"),
		Registerer:      n.metrics,
	})
}
