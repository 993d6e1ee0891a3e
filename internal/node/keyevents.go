package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/keyevents"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// keyEvents is the node's side of key events: those of its own vault,
// handed over in process, and those delivered to POST /keyEvents by a
// remote Sealwatch vault or the cloud's Event Grid. Each only makes the
// check of the cluster keys it names come at once; the check decides.
type keyEvents struct {
	n      *Node
	secret []byte
	// drop, set by tests, loses the own vault's events, as a lost delivery
	// would.
	drop atomic.Bool
	// checks counts the key checks events asked for.
	checks atomic.Int64
}

// Secret is the node's key events secret: remote vaults sign deliveries
// with it, the cloud's Event Grid carries it as ?code=.
func (k *keyEvents) Secret() []byte { return k.secret }

// Receive triggers the checks of the keys events delivered over HTTPS name.
func (k *keyEvents) Receive(evs []keyevents.Event) {
	go k.check(evs, false)
}

// own takes an event of this node's vault, as it commits: it must not
// block the vault's operation.
func (k *keyEvents) own(ev keyevents.Event) {
	if k.drop.Load() {
		return
	}
	go k.check([]keyevents.Event{ev}, true)
}

// check asks for a check of every cluster key the events may concern: the
// key they name, or every key of their vault for a vault event. With own,
// only keys in this node's vault of that name are matched.
func (k *keyEvents) check(evs []keyevents.Event, own bool) {
	n := k.n
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.workspaces.ClustersWithKeys(ctx, func(clusterID string, _ workspace.Principal, kv workspace.KeyVaultProperties) error {
		if kv.Source() != workspace.KeySourceKeyVault {
			return nil
		}
		for _, ev := range evs {
			if k.names(ev, kv, own) {
				k.checks.Add(1)
				n.keys.CheckSoon(clusterID)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("key event: the cluster keys could not be listed; the periodic check still runs", "err", err)
	}
}

// names reports whether ev may concern the cluster key kv.
func (k *keyEvents) names(ev keyevents.Event, kv workspace.KeyVaultProperties, own bool) bool {
	if !ev.AboutKeys() || !strings.EqualFold(vaultOf(kv.KeyVaultURI), ev.Data.VaultName) {
		return false
	}
	if own && !strings.EqualFold(strings.TrimSuffix(kv.KeyVaultURI, "/"), strings.TrimSuffix(k.n.vault.VaultURI(ev.Data.VaultName), "/")) {
		return false
	}
	return ev.WholeVault() || strings.EqualFold(kv.KeyName, ev.Data.ObjectName)
}

// vaultOf is the vault name of a key vault URI, https://{vault}.{suffix}/.
func vaultOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	return name
}

var keyEventsName = []byte("key-events-secret")

// keyEventsSecret is the node's key events secret, made on first use and
// kept sealed in the control plane. Nodes sharing their databases share it:
// of several that find none, the first to commit its own stores it, and
// the others use that one.
func (n *Node) keyEventsSecret(ctx context.Context) ([]byte, error) {
	aad := envelope.AAD("sealwatch/node/key-events-secret/v1")
	rec, err := n.readBuiltin(ctx, keyEventsName)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		return n.secrets.Open(rec.SealedSecret, aad)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := []byte(base64.RawURLEncoding.EncodeToString(b[:]))
	sealed, err := n.secrets.Seal(secret, aad)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(builtinRecord{SealedSecret: sealed})
	var theirs []byte
	err = n.controlDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBuiltin)
		if err != nil {
			return err
		}
		if v := b.Get(keyEventsName); v != nil {
			var cur builtinRecord
			if err := json.Unmarshal(v, &cur); err != nil {
				return fmt.Errorf("the key events secret's record is damaged: %w", err)
			}
			theirs = cur.SealedSecret
			return nil
		}
		return b.Put(keyEventsName, raw)
	})
	switch {
	case err != nil:
		return nil, err
	case theirs != nil:
		return n.secrets.Open(theirs, aad)
	}
	return secret, nil
}
