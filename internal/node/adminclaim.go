package node

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Nodes sharing their databases make one admin application between them,
// and the node that makes it writes admin.json. The bootstrap takes three
// steps — claim it in the identity database, make the application (its
// secret exists only in memory until written), write admin.json — and a
// node may stop between any two. So the claim is pending until admin.json
// is written: the node that claimed it resumes it at its next start, and
// past the claim's deadline the next node to start takes it over. Resuming
// gives the application named in the claim a new secret rather than making
// another, so the cluster keeps one admin application.

var (
	bucketBootstrap = []byte("node.bootstrap")
	keyAdminClaim   = []byte("admin")
)

// adminBootstrapWindow is how long a node that claimed the admin bootstrap
// has to finish it, a few round trips to the identity database, before the
// next node to start takes it over.
const adminBootstrapWindow = 2 * time.Minute

// The steps of the admin bootstrap, after which Config.adminStep is called.
const (
	adminClaimed      = "claimed"     // the claim is recorded, pending
	adminAppMade      = "application" // the application has a secret, named in the claim
	adminCredsWritten = "admin.json"  // admin.json is written, the claim still pending
)

// errAdminTakenOver: another node took over this node's unfinished admin
// bootstrap, its deadline having passed.
var errAdminTakenOver = errors.New("node: another node took over the admin bootstrap")

// adminClaim records, in the identity database, which node made the admin
// application of nodes sharing it, and where it wrote its credentials.
type adminClaim struct {
	ObjectID    string    `json:"objectId,omitempty"`
	AppID       string    `json:"appId,omitempty"`
	Host        string    `json:"host"`
	Credentials string    `json:"credentials"`
	Created     time.Time `json:"created"`
	// Pending is set from the claim until admin.json is written; a claim
	// without it (one a node wrote before claims could be pending, too) is
	// finished. Attempt tells a claim from the one a node that took it over
	// wrote.
	Pending  bool      `json:"pending,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	Attempt  string    `json:"attempt,omitempty"`
}

// claimedHere reports whether this node made claim: its host, and the
// admin.json of its data directory.
func (n *Node) claimedHere(claim adminClaim) bool {
	host, _ := os.Hostname()
	return claim.Host == host && claim.Credentials == n.CredentialsFile()
}

// claimAdmin makes the admin application of nodes sharing their databases
// unless another node's claim holds: finished, or pending within its
// deadline. It returns the claim that holds, and whether it is this node's
// (this node then wrote admin.json).
func (n *Node) claimAdmin(ctx context.Context) (adminClaim, bool, error) {
	claim, ours, err := n.takeAdminClaim(ctx)
	if err != nil || !ours {
		return claim, false, err
	}
	if err := n.finishAdmin(ctx, &claim); err != nil {
		return claim, false, err
	}
	return claim, true, nil
}

// takeAdminClaim records a pending claim of this node's, unless another
// holds. A claim taken over keeps the application it names.
func (n *Node) takeAdminClaim(ctx context.Context) (adminClaim, bool, error) {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	attempt := rand.Text()
	var (
		claim adminClaim
		won   bool
	)
	err := n.identityDB.Update(ctx, func(tx kv.Tx) error {
		claim, won = adminClaim{}, false
		b, err := tx.CreateBucketIfNotExists(bucketBootstrap)
		if err != nil {
			return err
		}
		if v := b.Get(keyAdminClaim); v != nil {
			if err := json.Unmarshal(v, &claim); err != nil {
				return fmt.Errorf("the admin application's claim is damaged: %w", err)
			}
			if !claim.Pending || (now.Before(claim.Deadline) && !n.claimedHere(claim)) {
				return nil
			}
		}
		claim = adminClaim{ObjectID: claim.ObjectID, AppID: claim.AppID, Host: host, Credentials: n.CredentialsFile(),
			Created: now, Pending: true, Deadline: now.Add(adminBootstrapWindow), Attempt: attempt}
		won = true
		return putAdminClaim(b, claim)
	})
	if err != nil {
		return adminClaim{}, false, fmt.Errorf("claim the admin bootstrap: %w", err)
	}
	return claim, won, nil
}

// finishAdmin gives the claimed application a secret (making it if the
// claim names none), writes admin.json and marks the claim finished.
func (n *Node) finishAdmin(ctx context.Context, claim *adminClaim) error {
	if err := n.adminStep(adminClaimed); err != nil {
		return err
	}
	secret, err := n.adminApplication(ctx, claim)
	if err != nil {
		return err
	}
	if err := n.adminStep(adminAppMade); err != nil {
		return err
	}
	creds := Credentials{
		TenantID: n.identity.TenantID(), ClientID: claim.AppID, ClientSecret: secret,
		Endpoint: n.publicURL(), CAFile: n.tls.CAFile, VaultDNSSuffix: n.cfg.VaultDNSSuffix,
	}
	if err := n.writeCredentials(creds); err != nil {
		return err
	}
	if err := n.adminStep(adminCredsWritten); err != nil {
		return err
	}
	claim.Pending, claim.Deadline = false, time.Time{}
	if err := n.updateAdminClaim(ctx, *claim); err != nil {
		if errors.Is(err, errAdminTakenOver) {
			// The other node resets the application's secret: this
			// admin.json would not sign in.
			err = errors.Join(fmt.Errorf("%w: this node took longer than %s; start it again", err, adminBootstrapWindow),
				os.Remove(n.CredentialsFile()))
		}
		return err
	}
	n.log.Info("admin principal created", "objectId", claim.ObjectID, "appId", claim.AppID, "credentials", n.CredentialsFile())
	return nil
}

// adminApplication returns a new secret of the application claim names,
// or makes the application and names it in the claim.
func (n *Node) adminApplication(ctx context.Context, claim *adminClaim) (string, error) {
	if claim.ObjectID != "" {
		_, secret, err := n.identity.ResetSecret(ctx, claim.ObjectID)
		if !errors.Is(err, identity.ErrNotFound) {
			if err != nil {
				return "", fmt.Errorf("give the admin principal a new secret: %w", err)
			}
			return secret, nil
		}
	}
	p, secret, err := n.identity.CreateApplication(ctx, "sealwatch-admin", identity.RoleOwner)
	if err != nil {
		return "", fmt.Errorf("create admin principal: %w", err)
	}
	claim.ObjectID, claim.AppID = p.ObjectID, p.AppID
	if err := n.updateAdminClaim(ctx, *claim); err != nil {
		return "", errors.Join(err, n.identity.Delete(ctx, p.ObjectID))
	}
	return secret, nil
}

// confirmAdminClaim checks, on a start with an admin.json, that it is the
// cluster's. A pending claim of this node's is finished: marked so when
// admin.json holds the application it names (the node stopped after
// writing it), resumed otherwise. When another node made the cluster's
// admin application, this admin.json (a copy of that node's, or one a node
// that took over the bootstrap has made stale) is checked to sign in,
// and the node warns if it does not.
func (n *Node) confirmAdminClaim(ctx context.Context, creds Credentials) error {
	claim, found, err := n.readAdminClaim(ctx)
	switch {
	case err != nil || !found:
		return err
	case n.claimedHere(claim) && claim.Pending && claim.AppID != creds.ClientID:
		_, n.firstRun, err = n.claimAdmin(ctx)
		return err
	case n.claimedHere(claim) && claim.Pending:
		claim.Pending, claim.Deadline = false, time.Time{}
		return n.updateAdminClaim(ctx, claim)
	case n.claimedHere(claim):
		return nil
	}
	if _, err := n.identity.Authenticate(ctx, creds.ClientID, creds.ClientSecret); err != nil {
		n.adminElsewhere = claim.Host + ":" + claim.Credentials
		n.log.Warn("this node's admin.json does not sign in: another node made the cluster's admin application; sign in with that node's admin.json",
			"credentials", n.CredentialsFile(), "admin", n.adminElsewhere)
	}
	return nil
}

// updateAdminClaim stores claim in place of the one it updates, unless
// another node took the bootstrap over.
func (n *Node) updateAdminClaim(ctx context.Context, claim adminClaim) error {
	return n.identityDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBootstrap)
		if err != nil {
			return err
		}
		var held adminClaim
		if v := b.Get(keyAdminClaim); v != nil {
			if err := json.Unmarshal(v, &held); err != nil {
				return fmt.Errorf("the admin application's claim is damaged: %w", err)
			}
		}
		if held.Attempt != claim.Attempt {
			return errAdminTakenOver
		}
		return putAdminClaim(b, claim)
	})
}

func putAdminClaim(b kv.Bucket, claim adminClaim) error {
	raw, err := json.Marshal(claim)
	if err != nil {
		return err
	}
	return b.Put(keyAdminClaim, raw)
}

func (n *Node) readAdminClaim(ctx context.Context) (adminClaim, bool, error) {
	var (
		claim adminClaim
		found bool
	)
	err := n.identityDB.View(ctx, func(tx kv.Tx) error {
		if b := tx.Bucket(bucketBootstrap); b != nil {
			if v := b.Get(keyAdminClaim); v != nil {
				found = true
				return json.Unmarshal(v, &claim)
			}
		}
		return nil
	})
	if err != nil {
		return claim, false, fmt.Errorf("read the admin application's claim: %w", err)
	}
	return claim, found, nil
}

// adminStep is called after each step of the admin bootstrap: a test's
// Config.adminStep stops it there with an error, as a crash would.
func (n *Node) adminStep(step string) error {
	if n.cfg.adminStep == nil {
		return nil
	}
	return n.cfg.adminStep(step)
}
