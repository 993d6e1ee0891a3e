package clusterkeys

import (
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// KeyWatch is taken before a cache is filled with what was decrypted under
// a workspace's keys, and checked before the cache serves: what it holds
// stands only while each keyring that governs the workspace is the one it
// was, in the Accessible state it was in, with no change of state between.
// A revocation, a lock, even an unreachable vault for a moment, ends it for
// good: the cache is filled again from the sealed data, under the keys'
// checks, once the key is back.
type KeyWatch struct {
	m     *Manager
	rings [2]watchedRing
}

type watchedRing struct {
	key     string
	ring    *keyring.Keyring
	changed <-chan struct{}
}

// WatchKeys returns a watch on the keyrings of ws, its cluster's or the
// platform's, and false when one of them is not open or not Accessible
// now: then nothing decrypted under them may be kept.
func (m *Manager) WatchKeys(ws *workspace.WorkspaceInfo) (KeyWatch, bool) {
	cluster := platformCluster
	if ws.CMK {
		cluster = ws.ClusterID
	}
	w := KeyWatch{m: m}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, res := range []string{Logs, Documents} {
		key := ringKey(cluster, res)
		ring := m.rings[key]
		if ring == nil {
			return KeyWatch{}, false
		}
		st, changed := ring.Watch()
		if st != keyring.Accessible {
			return KeyWatch{}, false
		}
		w.rings[i] = watchedRing{key: key, ring: ring, changed: changed}
	}
	return w, true
}

// Holds reports whether every keyring watched is still the workspace's and
// has not changed state since the watch was taken. The zero KeyWatch never
// holds.
func (w KeyWatch) Holds() bool {
	if w.m == nil {
		return false
	}
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	for _, r := range w.rings {
		if w.m.rings[r.key] != r.ring {
			return false
		}
		select {
		case <-r.changed:
			return false
		default:
		}
	}
	return true
}
