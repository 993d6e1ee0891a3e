package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
	"github.com/sealwatch/sealwatch/internal/metricstest"
)

// syncBuffer is a log destination the node's goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pkcs11KeyBody is the PATCH body that moves cluster1 to the key labelled
// "sealwatch-cmk" on tok, with fields changed (an empty value leaves the
// field out).
func pkcs11KeyBody(tok *softhsmtest.Token, fields map[string]string) map[string]any {
	kv := map[string]string{"keySource": "pkcs11", "pkcs11ModulePath": tok.Module, "pkcs11TokenLabel": tok.Label,
		"pkcs11KeyLabel": "sealwatch-cmk", "pkcs11Pin": tok.PIN}
	for k, v := range fields {
		if v == "" {
			delete(kv, k)
		} else {
			kv[k] = v
		}
	}
	return map[string]any{"properties": map[string]any{"keyVaultProperties": kv}}
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
	logs := &syncBuffer{}
	cfg := Config{DataDir: t.TempDir(), PKCS11Modules: []string{tok.Module}, UnreachableGrace: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cs := setUpCMKWith(t, cfg)
	immutableID, ingestTok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "before the move"}}
	if st, code := cs.ingest(immutableID, ingestTok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	clusterURL := cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1")
	type apiError struct {
		Error struct{ Code, Message string }
	}

	t.Run("what is missing or wrong is named", func(t *testing.T) {
		tok.AddKey("destroyable", []byte{1})
		for _, tc := range []struct {
			name   string
			fields map[string]string
			status int
			want   string
		}{
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
		} {
			t.Run(tc.name, func(t *testing.T) {
				var er apiError
				if st := cs.call("PATCH", clusterURL, cs.mgmt, pkcs11KeyBody(tok, tc.fields), &er); st != tc.status || !strings.Contains(er.Error.Message, tc.want) {
					t.Fatalf("%d %+v, want %d naming %q", st, er, tc.status, tc.want)
				}
				if strings.Contains(er.Error.Message, tok.PIN) {
					t.Fatalf("the refusal repeats the PIN: %s", er.Error.Message)
				}
			})
		}
	})

	var cluster map[string]any
	if st := cs.call("PATCH", clusterURL, cs.mgmt, pkcs11KeyBody(tok, nil), &cluster); st != 200 {
		t.Fatalf("move to the PKCS#11 key: %d %v", st, cluster)
	}
	var got map[string]any
	cs.call("GET", clusterURL, cs.mgmt, nil, &got)
	for _, c := range []map[string]any{cluster, got} {
		raw, _ := json.Marshal(c)
		kv := c["properties"].(map[string]any)["keyVaultProperties"].(map[string]any)
		if kv["keySource"] != "pkcs11" || kv["pkcs11TokenLabel"] != tok.Label || kv["pkcs11KeyLabel"] != "sealwatch-cmk" || bytes.Contains(raw, []byte(tok.PIN)) {
			t.Fatalf("cluster after the move: %s", raw)
		}
	}
	v1 := "pkcs11:token=sealwatch-node;object=sealwatch-cmk;type=secret-key;id=%01"
	for _, u := range cs.keyUsage() {
		if u.InUse && u.KeyURI != v1 {
			t.Fatalf("%s account keys still wrapped by %s after the move to %s", u.Resource, u.KeyURI, v1)
		}
	}
	count := func(want int) {
		t.Helper()
		st, n, qe := cs.queryStatus("Events_CL | count", "P1D")
		if st != 200 || n != float64(want) {
			t.Fatalf("count: %d %v %+v, want %d", st, n, qe, want)
		}
	}
	rows[0]["Message"] = "under the token's key"
	if st, code := cs.ingest(immutableID, ingestTok, rows); st != 204 {
		t.Fatalf("ingest under the PKCS#11 key: %d %s", st, code)
	}
	count(2)

	// A PATCH that keeps the token need not send the PIN again.
	if st := cs.call("PATCH", clusterURL, cs.mgmt, pkcs11KeyBody(tok, map[string]string{"pkcs11Pin": ""}), nil); st != 200 {
		t.Fatalf("the same key without its PIN: %d", st)
	}

	// Rotation: a new key object with the same label and a higher ID.
	tok.AddProtectedKey("sealwatch-cmk", []byte{2})
	cs.probe()
	v2 := strings.Replace(v1, "%01", "%02", 1)
	for _, u := range cs.keyUsage() {
		if u.InUse && u.KeyURI != v2 {
			t.Fatalf("after rotation, %s account keys are wrapped by %s, want %s", u.Resource, u.KeyURI, v2)
		}
	}

	tok.Remove()
	cs.probe()
	if st := cs.keyState(); st != "Unreachable" {
		t.Fatalf("key state with the token removed: %s", st)
	}
	count(2) // within the grace, from memory
	tok.Insert()
	cs.probe()
	if st := cs.keyState(); st != "Accessible" {
		t.Fatalf("key state with the token back: %s", st)
	}

	cs.stop()
	requireNoSecretUnder(t, cs.dir, "the PIN", tok.PIN)
	cfg.Addr = "127.0.0.1:" + cs.port
	cfg.DataDir = cs.dir
	cs.running = startNodeWith(t, cfg)
	cs.mgmt = cs.adminToken("https://management.azure.com/.default")
	deadline := time.Now().Add(20 * time.Second)
	for cs.keyState() != "Accessible" {
		if time.Now().After(deadline) {
			t.Fatalf("key state after restart: %q", cs.keyState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	count(2)

	tok.Zeroize("sealwatch-cmk", []byte{2})
	cs.probe()
	if st := cs.keyState(); st != "Revoked" {
		t.Fatalf("key state with the key object destroyed: %s", st)
	}
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
	immutableID, ingestTok := cs.dcr()
	ingested := 0
	ingest := func(n int) {
		t.Helper()
		rows := make([]map[string]any, n)
		msg := make([]byte, 512)
		for i := range rows {
			rand.Read(msg)
			rows[i] = map[string]any{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": hex.EncodeToString(msg)}
		}
		if st, code := cs.ingest(immutableID, ingestTok, rows); st != 204 {
			t.Fatalf("ingest: %d %s", st, code)
		}
		ingested += n
	}
	flushAndCount := func() {
		t.Helper()
		if st := cs.call("POST", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/flush"), cs.mgmt, nil, nil); st != 200 && st != 204 {
			t.Fatalf("flush: %d", st)
		}
		if st, n, qe := cs.queryStatus("Events_CL | count", "P1D"); st != 200 || n != float64(ingested) {
			t.Fatalf("count: %d %v %+v, want %d", st, n, qe, ingested)
		}
	}
	ingest(10) // warm-up: the account keys are unwrapped and held
	flushAndCount()
	before := kekCalls()
	if before == 0 {
		t.Fatal("no key call counted while the key was set: the counter proves nothing")
	}
	const rowsPerCall, mib = 800, 16 // about 0.85 MB a call, under the 1 MB limit
	for range mib * (1 << 20) / (rowsPerCall * 1024) {
		ingest(rowsPerCall)
	}
	flushAndCount()
	if after := kekCalls(); after != before {
		t.Fatalf("ingesting %d rows (about %d MiB) made %v calls to the PKCS#11 key; want none", ingested, mib, after-before)
	}
}
