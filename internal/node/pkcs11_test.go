package node

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
	"github.com/sealwatch/sealwatch/internal/logtest"
	"github.com/sealwatch/sealwatch/internal/metricstest"
)

// pkcs11KeyBody is the PATCH body that moves cluster1 to the key labelled
// "sealwatch-cmk" on tok, with fields changed (an empty value leaves the
// field out).
func pkcs11KeyBody(tok *softhsmtest.Token, fields map[string]string) map[string]any {
	return keySourceBody(map[string]string{"keySource": "pkcs11", "pkcs11ModulePath": tok.Module, "pkcs11TokenLabel": tok.Label,
		"pkcs11KeyLabel": "sealwatch-cmk", "pkcs11Pin": tok.PIN}, fields)
}

// TestPKCS11ClusterKeyIngestsQueriesAndIsRevokedWhenDestroyed moves a
// cluster whose workspace holds data from its Key Vault key to an AES key
// on a SoftHSM2 token: ingestion and queries go on under it, a new key
// object rotates it, a token taken out is an outage (Unreachable, never
// Revoked) and comes back, a restart reopens it with the PIN the node kept
// sealed, and the key object wiped from the token revokes the cluster:
// queries and ingestion are refused. The PIN is never returned, logged or
// written in the clear; a missing field, a module the node does not load
// and a wrong PIN are named.
func TestPKCS11ClusterKeyIngestsQueriesAndIsRevokedWhenDestroyed(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-node")
	tok.AddProtectedKey("sealwatch-cmk", []byte{1})
	logs := &logtest.Buffer{}
	cfg := Config{DataDir: t.TempDir(), PKCS11Modules: []string{tok.Module}, UnreachableGrace: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cs := setUpCMKWith(t, cfg)
	immutableID, ingestTok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "before the move"}}
	if st, code := cs.ingest(immutableID, ingestTok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	clusterURL := cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1")

	t.Run("what is missing or wrong is named", func(t *testing.T) {
		tok.AddKey("destroyable", []byte{1})
		body := func(changes map[string]string) map[string]any { return pkcs11KeyBody(tok, changes) }
		cs.requireRefusalsName(t, body, "the PIN", tok.PIN, []keySourceRefusal{
			{"no module", map[string]string{"pkcs11ModulePath": ""}, 400, "pkcs11ModulePath is required"},
			{"a relative module path", map[string]string{"pkcs11ModulePath": "libsofthsm2.so"}, 400, "absolute"},
			{"no token", map[string]string{"pkcs11TokenLabel": ""}, 400, "pkcs11TokenLabel is required"},
			{"no key label", map[string]string{"pkcs11KeyLabel": ""}, 400, "pkcs11KeyLabel is required"},
			{"no PIN", map[string]string{"pkcs11Pin": ""}, 400, "pkcs11Pin is required"},
			{"a Key Vault field too", map[string]string{"keyName": "ws-cmk"}, 400, "keyName belong to another key source"},
			{"a module the node does not load", map[string]string{"pkcs11ModulePath": "/usr/lib/other/libp11.so"}, 400, "--pkcs11-module /usr/lib/other/libp11.so"},
			{"a token that is not there", map[string]string{"pkcs11TokenLabel": "elsewhere"}, 503, `no token labelled "elsewhere"`},
			{"a key label with no key", map[string]string{"pkcs11KeyLabel": "missing"}, 400, `no AES key object labelled "missing"`},
			{"a key that can be destroyed", map[string]string{"pkcs11KeyLabel": "destroyable"}, 400, "CKA_DESTROYABLE"},
			{"a wrong PIN", map[string]string{"pkcs11Pin": "wrong-" + tok.PIN}, 403, "refused the PIN"},
		})
	})

	var cluster map[string]any
	if st := cs.call("PATCH", clusterURL, cs.mgmt, pkcs11KeyBody(tok, nil), &cluster); st != 200 {
		t.Fatalf("move to the PKCS#11 key: %d %v", st, cluster)
	}
	v1 := "pkcs11:token=sealwatch-node;object=sealwatch-cmk;type=secret-key;id=%01"
	cs.requireMovedTo(t, cluster, map[string]string{"keySource": "pkcs11", "pkcs11TokenLabel": tok.Label, "pkcs11KeyLabel": "sealwatch-cmk"}, tok.PIN, v1)
	rows[0]["Message"] = "under the token's key"
	if st, code := cs.ingest(immutableID, ingestTok, rows); st != 204 {
		t.Fatalf("ingest under the PKCS#11 key: %d %s", st, code)
	}
	cs.requireCount(t, 2)

	// A PATCH that keeps the token need not send the PIN again.
	if st := cs.call("PATCH", clusterURL, cs.mgmt, pkcs11KeyBody(tok, map[string]string{"pkcs11Pin": ""}), nil); st != 200 {
		t.Fatalf("the same key without its PIN: %d", st)
	}

	// Rotation: a new key object with the same label and a higher ID.
	tok.AddProtectedKey("sealwatch-cmk", []byte{2})
	cs.probe()
	v2 := strings.Replace(v1, "%01", "%02", 1)
	cs.requireWrappedBy(t, v2, "after rotation to "+v2)

	tok.Remove()
	cs.requireKeyState(t, "Unreachable", "with the token removed")
	cs.requireCount(t, 2) // within the grace, from memory
	tok.Insert()
	cs.requireKeyState(t, "Accessible", "with the token back")

	cs.restartWith(cfg, func() { requireNoneUnder(t, cs.dir, leakForms("the PIN", []byte(tok.PIN)), 0) })
	cs.requireCount(t, 2)

	tok.Zeroize("sealwatch-cmk", []byte{2})
	cs.requireKeyState(t, "Revoked", "with the key object destroyed")
	if st, _, qe := cs.queryStatus("Events_CL | count", "P1D"); st != 403 || qe.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("query with the key object destroyed: %d %+v", st, qe)
	}
	if st, code := cs.ingest(immutableID, ingestTok, rows); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest with the key object destroyed: %d %s", st, code)
	}
	if strings.Contains(logs.String(), tok.PIN) {
		t.Fatal("the node's log holds the PIN")
	}
	if !strings.Contains(logs.String(), "pkcs11") {
		t.Fatal("the node logged nothing of the PKCS#11 key: the log scan proves nothing")
	}
}

// TestPKCS11IsNotCalledPerRowIngested ingests about 16 MiB into a
// workspace whose cluster's key is on a SoftHSM2 token, after a warm-up,
// and fails if the keyrings called the key (a wrap, unwrap or describe,
// as sealwatch_keyring_kek_calls_total counts them) while doing it: the
// account keys are unwrapped once and held.
func TestPKCS11IsNotCalledPerRowIngested(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-node")
	tok.AddProtectedKey("sealwatch-cmk", []byte{1})
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), PKCS11Modules: []string{tok.Module}, KeyCheckInterval: time.Hour})
	if st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, pkcs11KeyBody(tok, nil), nil); st != 200 {
		t.Fatalf("move to the PKCS#11 key: %d", st)
	}
	kekCalls := func() float64 {
		return metricstest.Sum(cs.scrape()["sealwatch_keyring_kek_calls_total"], map[string]string{"cluster": cs.clusterID})
	}
	in := cs.bulkIngest(t)
	in.ingest(10) // warm-up: the account keys are unwrapped and held
	in.flushAndCount()
	before := kekCalls()
	if before == 0 {
		t.Fatal("no key call counted while the key was set: the counter proves nothing")
	}
	const mib = 16
	in.ingestMiB(mib)
	in.flushAndCount()
	if after := kekCalls(); after != before {
		t.Fatalf("ingesting %d rows (about %d MiB) made %v calls to the PKCS#11 key; want none", in.ingested, mib, after-before)
	}
}
