package detection

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// A workspace's rules are run by one scheduler at a time among those that
// share its documents (the nodes of a cluster): the one holding the
// workspace's lease, a document next to the rules' state. A scheduler
// claims a lease that has expired, renews it at every tick and with every
// commit of a rule's state, and releases it when it stops cleanly; one that
// stops otherwise leaves it to expire, after LeaseTTL, and another takes
// the workspace and catches up the windows it missed.
//
// The lease is also the fence of the state: a run commits its alert keys
// and its state in batches that rewrite the lease under the etag the
// scheduler last wrote it with, so once another scheduler has taken the
// lease, a former holder that was paused past its expiry commits nothing,
// and gives the workspace up. Clocks bound only how soon a lease is taken,
// never whether two holders can both commit.
const (
	collLease = "ruleLease"
	leaseID   = "scheduler"
)

// lease is the document of a workspace's lease.
type lease struct {
	// Node and Incarnation name the holder: a node, and the scheduler
	// it runs (a node restarted is another incarnation).
	Node        string `json:"node"`
	Incarnation string `json:"incarnation"`
	// Until is when the lease expires unless renewed.
	Until time.Time `json:"until"`
	// Fence counts the claims of the lease: each holder has its own.
	Fence uint64 `json:"fence"`
}

// held is a lease the scheduler holds, as it last wrote it.
type held struct {
	ws    workspace.WorkspaceInfo
	lease lease
	etag  string
}

// errLeaseLost stops a workspace's work: its lease, or a rule's state, was
// written by another scheduler since this one wrote or read it.
var errLeaseLost = errors.New("the workspace's rules are run by another node now")

// newIncarnation names one Scheduler among those of its node.
func newIncarnation() string {
	return rand.Text()[:16]
}

// acquire claims or renews the lease of ws, whose documents are docs. It
// returns nil, without error, when another scheduler holds it.
func (s *Scheduler) acquire(ctx context.Context, docs *docstore.Store, ws *workspace.WorkspaceInfo, now time.Time) (*held, error) {
	id := ws.Workspace.Properties.CustomerID
	cur, ifMatch, err := readLease(ctx, docs, id)
	if err != nil {
		return nil, err
	}
	mine := cur.Node == s.cfg.Node && cur.Incarnation == s.incarnation
	if !mine && now.Before(cur.Until) {
		s.forget(id)
		return nil, nil
	}
	next := lease{Node: s.cfg.Node, Incarnation: s.incarnation, Until: now.Add(s.cfg.LeaseTTL), Fence: cur.Fence}
	if !mine {
		next.Fence++
	}
	h := &held{ws: *ws, lease: next}
	h.etag, err = putLease(ctx, docs, id, next, ifMatch)
	if errors.Is(err, docstore.ErrConflict) {
		s.forget(id) // another scheduler claimed it first
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !mine {
		s.log.Info("analytics rules: took the workspace's lease", "workspace", ws.Workspace.ID,
			"fence", next.Fence, "from", cur.Node, "expired", cur.Until)
	}
	s.mu.Lock()
	s.held[id] = h
	s.mu.Unlock()
	return h, nil
}

// forget drops the scheduler's lease of a workspace from its memory.
func (s *Scheduler) forget(id string) {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
}

// readLease reads a workspace's lease and the precondition to replace it
// under: the zero lease and CreateOnly when it has none.
func readLease(ctx context.Context, docs *docstore.Store, ws string) (lease, string, error) {
	doc, err := docs.Get(ctx, ws, collLease, leaseID)
	if errors.Is(err, docstore.ErrNotFound) {
		return lease{}, docstore.CreateOnly, nil
	}
	if err != nil {
		return lease{}, "", err
	}
	var l lease
	if err := json.Unmarshal(doc.Body, &l); err != nil {
		return lease{}, "", fmt.Errorf("decode the rules' lease: %w", err)
	}
	return l, doc.ETag, nil
}

func putLease(ctx context.Context, docs *docstore.Store, ws string, l lease, ifMatch string) (string, error) {
	body, _ := json.Marshal(l)
	return docs.Put(ctx, ws, collLease, leaseID, body, ifMatch)
}

// renewal is the write that renews the lease h until now+TTL, for a batch
// that must commit only while h is held.
func (s *Scheduler) renewal(h *held, now time.Time) (docstore.Write, lease) {
	next := h.lease
	next.Until = now.Add(s.cfg.LeaseTTL)
	body, _ := json.Marshal(next)
	return docstore.Write{Collection: collLease, ID: leaseID, Body: body, IfMatch: h.etag}, next
}

// fenced applies writes to a workspace's documents together with the
// renewal of its lease h: all of them, or, when the lease or another
// precondition moved, none, and errLeaseLost. It returns the writes' etags.
func (s *Scheduler) fenced(ctx context.Context, docs *docstore.Store, h *held, writes []docstore.Write) ([]string, error) {
	id := h.ws.Workspace.Properties.CustomerID
	renew, next := s.renewal(h, s.cfg.Now().UTC())
	etags, err := docs.Batch(ctx, id, append(writes, renew))
	if errors.Is(err, docstore.ErrConflict) {
		s.forget(id)
		return nil, fmt.Errorf("%w (%v)", errLeaseLost, err)
	}
	if err != nil {
		return nil, err
	}
	h.lease, h.etag = next, etags[len(writes)]
	return etags[:len(writes)], nil
}

// keep renews the lease h if a third of its TTL has passed since it was
// last written, so that a long run keeps it; errLeaseLost if it was taken.
func (s *Scheduler) keep(ctx context.Context, docs *docstore.Store, h *held) error {
	now := s.cfg.Now().UTC()
	if h.lease.Until.Sub(now) > s.cfg.LeaseTTL*2/3 {
		return nil
	}
	_, err := s.fenced(ctx, docs, h, nil)
	return err
}

// release gives up every lease the scheduler holds, so that other nodes
// take its workspaces at once rather than after the TTL. A lease it can no
// longer write expires.
func (s *Scheduler) release(ctx context.Context) {
	s.mu.Lock()
	leases := make([]*held, 0, len(s.held))
	for _, h := range s.held {
		leases = append(leases, h)
	}
	clear(s.held)
	s.mu.Unlock()
	for _, h := range leases {
		err := s.releaseOne(ctx, h)
		if err != nil && !errors.Is(err, docstore.ErrConflict) {
			s.log.Warn("analytics rules: a workspace's lease was not released; another node takes it when it expires",
				"workspace", h.ws.Workspace.ID, "err", err)
		}
	}
}

func (s *Scheduler) releaseOne(ctx context.Context, h *held) error {
	docs, err := s.cfg.Docs(ctx, &h.ws)
	if err != nil {
		return err
	}
	l := h.lease
	l.Until = time.Time{}
	_, err = putLease(ctx, docs, h.ws.Workspace.Properties.CustomerID, l, h.etag)
	return err
}
