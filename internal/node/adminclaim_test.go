package node

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

var errCrash = errors.New("crashed (test)")

// TestAnAdminBootstrapCutShortIsFinishedByALaterStart stops the first node
// of a cluster after each step of the admin bootstrap, as a crash would:
// its own next start finishes it at once, and so does another node's once
// the claim's deadline has passed (not before, while the first may still
// be at it). Either way the cluster ends with one admin application, whose
// credentials in admin.json sign in.
func TestAnAdminBootstrapCutShortIsFinishedByALaterStart(t *testing.T) {
	for _, step := range []string{adminClaimed, adminAppMade, adminCredsWritten} {
		for _, who := range []string{"the same node", "another node"} {
			t.Run("stopped after "+step+", finished by "+who, func(t *testing.T) {
				ctx := context.Background()
				dbURL := pgtest.New(t)
				root := nodeseal.File(filepath.Join(t.TempDir(), "root.key"))
				cfg := func(dir string) Config {
					return Config{DataDir: dir, Addr: "127.0.0.1:0", PublicURL: clusterPublicURL, Root: root, Storage: sharedStorage(t, dbURL)}
				}
				first := cfg(t.TempDir())
				crashing := first
				crashing.adminStep = func(s string) error {
					if s == step {
						return errCrash
					}
					return nil
				}
				if _, err := Open(ctx, crashing); !errors.Is(err, errCrash) {
					t.Fatalf("the start stopped after %s: %v", step, err)
				}

				next := first
				if who == "another node" {
					waiting, err := Open(ctx, cfg(t.TempDir()))
					if err != nil {
						t.Fatal(err)
					}
					if waiting.FirstRun() || waiting.AdminCredentialsElsewhere() == "" {
						t.Fatal("a node started within the first's deadline did not leave it the bootstrap")
					}
					if err := waiting.Close(); err != nil {
						t.Fatal(err)
					}
					expireAdminClaim(t, dbURL)
					next = cfg(t.TempDir())
				}
				rn := serveNode(t, next, Credentials{})
				claim, found, err := rn.node.readAdminClaim(ctx)
				if err != nil || !found || claim.Pending || claim.AppID != rn.creds.ClientID {
					t.Fatalf("the claim after the bootstrap: %+v (found %v, %v); admin.json names %s", claim, found, err, rn.creds.ClientID)
				}
				if who == "another node" && step == adminCredsWritten {
					// The first node's admin.json holds the secret the
					// other node replaced: started again, it says so.
					again, err := Open(ctx, first)
					if err != nil {
						t.Fatal(err)
					}
					where := again.AdminCredentialsElsewhere()
					if err := again.Close(); err != nil {
						t.Fatal(err)
					}
					if !strings.HasSuffix(where, rn.node.CredentialsFile()) {
						t.Fatalf("the first node, its admin.json stale, points at %q, not %s", where, rn.node.CredentialsFile())
					}
				}

				requireOneAdmin(t, rn, rn.adminToken("https://management.azure.com/.default")) // admin.json signs in
			})
		}
	}
}

// expireAdminClaim moves the admin claim's deadline into the past, as the
// time passing would.
func expireAdminClaim(t *testing.T, dbURL string) {
	t.Helper()
	db := sharedStorage(t, dbURL).Identity
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket(bucketBootstrap)
		var claim adminClaim
		if err := json.Unmarshal(b.Get(keyAdminClaim), &claim); err != nil {
			return err
		}
		if !claim.Pending {
			return errors.New("the claim is not pending")
		}
		claim.Deadline = time.Now().Add(-time.Second)
		return putAdminClaim(b, claim)
	})
	if err != nil {
		t.Fatal(err)
	}
}
