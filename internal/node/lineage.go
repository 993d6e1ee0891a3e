package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// lineageTerm is the lease of the node's lineage (Config.LineageLease).
func (n *Node) lineageTerm() time.Duration {
	if n.cfg.LineageLease > 0 {
		return n.cfg.LineageLease
	}
	return wsdata.DefaultLineageLease
}

// renewLineage renews the lease on the node's lineage; if another node
// adopted it (this node was taken for gone), the node takes a new lineage,
// kept in its data directory, goes on under it, and re-ingests into it
// the rows of the old one it acknowledged and never flushed
// (wsdata.Data.ChangeLineage).
func (n *Node) renewLineage(ctx context.Context) error {
	err := n.data.RenewLineage(ctx)
	if !errors.Is(err, logstore.ErrLineageAdopted) {
		return err
	}
	if err := os.Remove(filepath.Join(n.cfg.DataDir, lineageFile)); err != nil {
		return fmt.Errorf("take a new lineage: %w", err)
	}
	next, err := nodeLineage(n.cfg.DataDir)
	if err != nil {
		return err
	}
	all, err := n.workspaces.AllWorkspaces(ctx)
	if err != nil { // the logs go aside all the same, and are taken at the next start
		n.log.Error("list the workspaces whose unflushed rows of the adopted lineage to re-ingest", "err", err)
	}
	if err := n.data.ChangeLineage(ctx, next, all); err != nil {
		n.log.Error("move the adopted lineage's logs aside and re-ingest their unflushed rows; what is left is tried again at the next start", "err", err)
	}
	if err := n.data.RenewLineage(ctx); err != nil {
		return err
	}
	// The new lineage is live now: until it has a mark, every node's
	// analytics rules wait (wsdata.Data.ClusterMark).
	return n.data.PublishMarks(ctx)
}

// takeFenced re-ingests the rows of the write-ahead logs an adopted lineage
// left (wsdata.Data.TakeFenced); what fails stays aside, and is tried again
// at the node's next start.
func (n *Node) takeFenced(ctx context.Context) {
	all, err := n.workspaces.AllWorkspaces(ctx)
	if err == nil {
		err = n.data.TakeFenced(ctx, all)
	}
	if err != nil {
		n.log.Error("re-ingest the unflushed rows of this node's adopted lineage; tried again at the next start", "err", err)
	}
}

// markInterval is how often a node of a cluster publishes its ingestion
// marks (wsdata.Data.PublishMarks): the other nodes' analytics rules run
// up to them, so they lag by about this much. One small write a period.
const markInterval = 2 * time.Second

// publishMarks publishes the node's ingestion marks every markInterval
// until ctx ends. A publication that fails holds the other nodes' rules
// at the last mark: they wait, and miss nothing.
func (n *Node) publishMarks(ctx context.Context) {
	t := time.NewTicker(markInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.data.PublishMarks(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("publish the node's ingestion marks; the other nodes' analytics rules wait for the next", "err", err)
		}
	}
}

// lineageLoops renew the node's lease five times a lease and, apart, so
// that an adoption however long never delays a renewal, adopt the lineages
// of nodes whose leases ran out and close the stores of workspaces deleted
// through other nodes, and publish the node's ingestion marks, until ctx
// ends.
func (n *Node) lineageLoops(ctx context.Context) {
	var loops sync.WaitGroup
	loops.Go(func() {
		n.everyFifthOfALease(ctx, func() {
			if err := n.renewLineage(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("renew the node's lineage lease", "err", err)
			}
		})
	})
	loops.Go(func() { n.publishMarks(ctx) })
	loops.Go(func() {
		n.everyFifthOfALease(ctx, func() {
			if _, err := n.data.CloseDeleted(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("close the stores of workspaces deleted through other nodes", "err", err)
			}
			all, err := n.workspaces.AllWorkspaces(ctx)
			if err == nil {
				_, err = n.data.AdoptLineages(ctx, all)
			}
			if err != nil && ctx.Err() == nil {
				n.log.Warn("adopt the lineages of nodes gone; tried again later", "err", err)
			}
		})
	})
	loops.Wait()
}

// everyFifthOfALease runs f every fifth of the lineage lease until ctx ends.
func (n *Node) everyFifthOfALease(ctx context.Context, f func()) {
	t := time.NewTicker(n.lineageTerm() / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
