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
// never whether two holders can both commit. The effects of a run outside
// the documents — its rows in the log store, its automation and webhooks —
// cannot be in those batches: each is preceded by a check of the lease
// (keep), so a paused holder stops at its next effect, but the one under
// way when it paused happens again on the new holder.
//
// Workspaces spread over the nodes: a node that holds at least two fewer
// workspaces than another asks for one of that node's, in a standby
// document next to the lease, and the holder, at its next renewal, hands
// the lease over to it directly, while it holds at least two more.
const (
	collLease = "ruleLease"
	leaseID   = "scheduler"
	standbyID = "standby"
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

// holder names the scheduler holding l.
func (l lease) holder() string { return l.Node + "/" + l.Incarnation }

// standby is the document of a scheduler asking for a workspace.
type standby struct {
	Node        string    `json:"node"`
	Incarnation string    `json:"incarnation"`
	Until       time.Time `json:"until"`
	// Holds is how many workspaces it held when it asked.
	Holds int `json:"holds"`
}

// tickLeases is what a tick learns of the leases: how many workspaces each
// scheduler holds, for the next tick's requests; and whether it asked for
// one already.
type tickLeases struct {
	holds map[string]int
	asked bool
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
func (s *Scheduler) acquire(ctx context.Context, docs *docstore.Store, ws *workspace.WorkspaceInfo, now time.Time, tl *tickLeases) (*held, error) {
	id := ws.Workspace.Properties.CustomerID
	cur, ifMatch, err := readLease(ctx, docs, id)
	if err != nil {
		return nil, err
	}
	mine := cur.Node == s.cfg.Node && cur.Incarnation == s.incarnation
	if !mine && now.Before(cur.Until) {
		s.forget(id)
		tl.holds[cur.holder()]++
		if err := s.ask(ctx, docs, id, cur, now, tl); err != nil {
			s.log.Warn("analytics rules: could not ask for a workspace of a busier node", "workspace", ws.Workspace.ID, "err", err)
		}
		return nil, nil
	}
	if mine {
		if to := s.handOver(ctx, docs, ws, now); to != nil {
			return nil, s.give(ctx, docs, ws, cur, ifMatch, to, now, tl)
		}
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
	tl.holds[next.holder()]++
	s.mu.Lock()
	s.held[id] = h
	s.mu.Unlock()
	return h, nil
}

// holds is how many workspaces the scheduler holds.
func (s *Scheduler) holds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// ask asks for the workspace id, held by another scheduler (cur), if that
// one held at least two more workspaces than this one at the last tick,
// nobody else asks for it already, and this tick asked for no other.
func (s *Scheduler) ask(ctx context.Context, docs *docstore.Store, id string, cur lease, now time.Time, tl *tickLeases) error {
	s.mu.Lock()
	theirs := s.lastHolds[cur.holder()]
	s.mu.Unlock()
	mine := s.holds()
	if tl.asked || theirs < mine+2 {
		return nil
	}
	sb, ifMatch, err := readStandby(ctx, docs, id)
	if err != nil || now.Before(sb.Until) {
		return err
	}
	body, _ := json.Marshal(standby{Node: s.cfg.Node, Incarnation: s.incarnation, Until: now.Add(s.cfg.LeaseTTL), Holds: mine})
	_, err = docs.Put(ctx, id, collLease, standbyID, body, ifMatch)
	if errors.Is(err, docstore.ErrConflict) {
		return nil // another asked first
	}
	tl.asked = err == nil
	return err
}

// handOver returns the scheduler the workspace ws, held by this one, goes
// to: one that asked for it, holding at least two fewer workspaces than
// this one holds now; nil if there is none. Spreading the work is worth
// a warning when it fails, never a missed run.
func (s *Scheduler) handOver(ctx context.Context, docs *docstore.Store, ws *workspace.WorkspaceInfo, now time.Time) *standby {
	sb, _, err := readStandby(ctx, docs, ws.Workspace.Properties.CustomerID)
	if err != nil {
		s.log.Warn("analytics rules: could not read who asks for a workspace", "workspace", ws.Workspace.ID, "err", err)
		return nil
	}
	if !now.Before(sb.Until) || sb.Node == s.cfg.Node && sb.Incarnation == s.incarnation || s.holds() < sb.Holds+2 {
		return nil
	}
	return &sb
}

// give hands the lease cur of ws, read under ifMatch, over to the
// scheduler that asked for it: it becomes the holder, under a new fence,
// without waiting for an expiry.
func (s *Scheduler) give(ctx context.Context, docs *docstore.Store, ws *workspace.WorkspaceInfo, cur lease, ifMatch string, to *standby, now time.Time, tl *tickLeases) error {
	s.forget(ws.Workspace.Properties.CustomerID)
	next := lease{Node: to.Node, Incarnation: to.Incarnation, Until: now.Add(s.cfg.LeaseTTL), Fence: cur.Fence + 1}
	_, err := putLease(ctx, docs, ws.Workspace.Properties.CustomerID, next, ifMatch)
	if errors.Is(err, docstore.ErrConflict) {
		return nil // the lease moved meanwhile: not this scheduler's to give
	}
	if err != nil {
		return err
	}
	s.log.Info("analytics rules: handed the workspace over to a node that runs fewer", "workspace", ws.Workspace.ID, "to", to.Node, "fence", next.Fence)
	tl.holds[next.holder()]++
	return nil
}

func readStandby(ctx context.Context, docs *docstore.Store, ws string) (standby, string, error) {
	doc, err := docs.Get(ctx, ws, collLease, standbyID)
	if errors.Is(err, docstore.ErrNotFound) {
		return standby{}, docstore.CreateOnly, nil
	}
	if err != nil {
		return standby{}, "", err
	}
	var sb standby
	if err := json.Unmarshal(doc.Body, &sb); err != nil {
		return standby{}, "", fmt.Errorf("decode the rules' standby: %w", err)
	}
	return sb, doc.ETag, nil
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
