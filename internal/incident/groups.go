package incident

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
)

// collGroups holds the grouping state: which incident each group of a
// rule's alerts goes into. A rule's groups are spread over groupShards
// documents, "<ruleID>.<shard>", by their key; every raise of a grouping
// rule rewrites its group's shard under its etag, so that two alerts of one
// group raised at once agree on one incident, and the cost of a raise does
// not grow with the rule's other groups.
const collGroups = "incidentGroups"

const (
	groupShards       = 64
	maxGroupsPerShard = 256 // 16,384 open groups per rule at most; past that the idlest close
)

// saltID is the document, among the counters, of the workspace's grouping
// salt: the key of the digests that name groups and pick their shards.
const (
	saltID   = "groupingSalt"
	saltSize = 32
)

// shardID names the document of the shard that holds the group key of
// the rule ruleID.
func shardID(ruleID, key string) string {
	n, _ := strconv.ParseUint(key[:2], 16, 8) // key is hex
	return fmt.Sprintf("%s.%02x", ruleID, n%groupShards)
}

// groupingSalt returns the workspace's grouping salt, made on first use.
func (s *Incidents) groupingSalt(ctx context.Context) ([]byte, error) {
	s.saltMu.Lock()
	defer s.saltMu.Unlock()
	if s.salt != nil {
		return s.salt, nil
	}
	for range maxRetries {
		doc, err := s.docs.Get(ctx, s.workspace, collCounters, saltID)
		if err == nil {
			var salt []byte
			if err := json.Unmarshal(doc.Body, &salt); err != nil {
				return nil, fmt.Errorf("decode grouping salt: %w", err)
			}
			if len(salt) != saltSize {
				return nil, fmt.Errorf("grouping salt is %d bytes, not %d", len(salt), saltSize)
			}
			s.salt = salt
			return salt, nil
		}
		if !errors.Is(err, docstore.ErrNotFound) {
			return nil, docstore.Refusal(err, "grouping salt", saltID)
		}
		salt := make([]byte, saltSize)
		rand.Read(salt)
		body, _ := json.Marshal(salt)
		_, err = s.docs.Put(ctx, s.workspace, collCounters, saltID, body, docstore.CreateOnly)
		if err != nil && !errors.Is(err, docstore.ErrConflict) {
			return nil, docstore.Refusal(err, "grouping salt", saltID)
		}
		// Made, by this call or a concurrent one: read back the one stored.
	}
	return nil, errContention(saltID)
}

// groups is a rule's grouping state.
type groups struct {
	Groups map[string]group `json:"groups"`
}

type group struct {
	IncidentID string    `json:"incidentId"`
	LastAlert  time.Time `json:"lastAlert"`
}

// ungroup drops the groups of the rules (resource IDs) that name the
// incident id, so that their next alerts start a new incident instead of
// making the deleted one again.
func (s *Incidents) ungroup(ctx context.Context, id string, ruleIDs []string) error {
	for _, rid := range ruleIDs {
		if err := s.ungroupRule(ctx, id, rid[strings.LastIndexByte(rid, '/')+1:]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Incidents) ungroupRule(ctx context.Context, id, ruleID string) error {
	if validID(ruleID) != nil {
		return nil
	}
	for n := range groupShards {
		if err := s.ungroupShard(ctx, id, fmt.Sprintf("%s.%02x", ruleID, n)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Incidents) ungroupShard(ctx context.Context, id, shard string) error {
	for range maxRetries {
		gs, etag, err := s.readGroups(ctx, shard)
		if err != nil {
			return err
		}
		n := len(gs.Groups)
		maps.DeleteFunc(gs.Groups, func(_ string, g group) bool { return g.IncidentID == id })
		if len(gs.Groups) == n {
			return nil
		}
		body, _ := json.Marshal(gs)
		_, err = s.docs.Put(ctx, s.workspace, collGroups, shard, body, etag)
		if !errors.Is(err, docstore.ErrConflict) {
			return docstore.Refusal(err, "grouping state", shard)
		}
	}
	return errContention(id)
}

// prune drops the groups no alert can join any more: those whose last
// alert is older than the lookback before now (or before the alert being
// raised, if that is older: a run catching up). Past maxGroupsPerShard,
// the groups idle longest go too, so that a shard stays one small document.
func (s *Incidents) prune(gs *groups, a *alert.Alert, lookback time.Duration) {
	oldest := s.now()
	if a.TimeGenerated.Before(oldest) {
		oldest = a.TimeGenerated
	}
	oldest = oldest.Add(-lookback)
	maps.DeleteFunc(gs.Groups, func(_ string, g group) bool { return g.LastAlert.Before(oldest) })
	if over := len(gs.Groups) - maxGroupsPerShard; over > 0 {
		keys := slices.SortedFunc(maps.Keys(gs.Groups), func(x, y string) int { return gs.Groups[x].LastAlert.Compare(gs.Groups[y].LastAlert) })
		for _, k := range keys[:over] {
			delete(gs.Groups, k)
		}
	}
}

// readGroups returns a shard of grouping state and the etag to write it
// back with (CreateOnly when there is none yet).
func (s *Incidents) readGroups(ctx context.Context, shard string) (groups, string, error) {
	gs := groups{Groups: map[string]group{}}
	doc, err := s.docs.Get(ctx, s.workspace, collGroups, shard)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
		return gs, docstore.CreateOnly, nil
	case err != nil:
		return gs, "", docstore.Refusal(err, "grouping state", shard)
	}
	if err := json.Unmarshal(doc.Body, &gs); err != nil {
		return gs, "", fmt.Errorf("decode grouping state %s: %w", shard, err)
	}
	if gs.Groups == nil {
		gs.Groups = map[string]group{}
	}
	return gs, doc.ETag, nil
}
