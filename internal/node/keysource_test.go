package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"
)

// The key-source tests (AWS KMS, PKCS#11) move cluster1 off its Key Vault
// key the same way and check the same things around it; what they share
// is here, what differs (the source's fields, its faults) stays with them.

// keySourceBody is the PATCH body that moves cluster1 to the key source
// whose keyVaultProperties are fields, with changes applied (an empty
// value leaves the field out).
func keySourceBody(fields, changes map[string]string) map[string]any {
	kv := maps.Clone(fields)
	for k, v := range changes {
		if v == "" {
			delete(kv, k)
		} else {
			kv[k] = v
		}
	}
	return map[string]any{"properties": map[string]any{"keyVaultProperties": kv}}
}

// keySourceRefusal is a PATCH to a key source that is refused: body's
// fields changed by fields, answered status with a message naming want.
type keySourceRefusal struct {
	name   string
	fields map[string]string
	status int
	want   string
}

// requireRefusalsName PATCHes cluster1 with body(tc.fields) for each case
// and fails unless the answer is tc.status naming tc.want, and never
// repeats secret (what says which secret it is).
func (cs *cmkSetup) requireRefusalsName(t *testing.T, body func(changes map[string]string) map[string]any, what, secret string, cases []keySourceRefusal) {
	t.Helper()
	clusterURL := cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var er struct {
				Error struct{ Code, Message string }
			}
			if st := cs.call("PATCH", clusterURL, cs.mgmt, body(tc.fields), &er); st != tc.status || !strings.Contains(er.Error.Message, tc.want) {
				t.Fatalf("%d %+v, want %d naming %q", st, er, tc.status, tc.want)
			}
			if strings.Contains(er.Error.Message, secret) {
				t.Fatalf("the refusal repeats %s: %s", what, er.Error.Message)
			}
		})
	}
}

// requireMovedTo fails unless moved (the answer to the PATCH that moved
// cluster1) and a GET of cluster1 both show the want keyVaultProperties
// and neither holds secret, and unless every account key in use is
// wrapped by keyURI.
func (cs *cmkSetup) requireMovedTo(t *testing.T, moved map[string]any, want map[string]string, secret, keyURI string) {
	t.Helper()
	var got map[string]any
	cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, nil, &got)
	for _, c := range []map[string]any{moved, got} {
		raw, _ := json.Marshal(c)
		kv := c["properties"].(map[string]any)["keyVaultProperties"].(map[string]any)
		for k, v := range want {
			if kv[k] != v {
				t.Fatalf("cluster after the move: %s", raw)
			}
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("cluster after the move: %s", raw)
		}
	}
	cs.requireWrappedBy(t, keyURI, "after the move to "+keyURI)
}

// requireWrappedBy fails unless every account key in use is wrapped by
// keyURI; when says after what.
func (cs *cmkSetup) requireWrappedBy(t *testing.T, keyURI, when string) {
	t.Helper()
	for _, u := range cs.keyUsage() {
		if u.InUse && u.KeyURI != keyURI {
			t.Fatalf("%s account keys still wrapped by %s %s", u.Resource, u.KeyURI, when)
		}
	}
}

// requireCount fails unless the workspace answers want to an Events_CL
// count over the last day.
func (cs *cmkSetup) requireCount(t *testing.T, want int) {
	t.Helper()
	st, n, qe := cs.queryStatus("Events_CL | count", "P1D")
	if st != 200 || n != float64(want) {
		t.Fatalf("count: %d %v %+v, want %d", st, n, qe, want)
	}
}

// bulkIngest ingests rows of 512 random bytes (hex) into the workspace
// through one DCR and counts them back.
type bulkIngest struct {
	t                *testing.T
	cs               *cmkSetup
	immutableID, tok string
	ingested         int
}

func (cs *cmkSetup) bulkIngest(t *testing.T) *bulkIngest {
	immutableID, tok := cs.dcr()
	return &bulkIngest{t: t, cs: cs, immutableID: immutableID, tok: tok}
}

func (b *bulkIngest) ingest(n int) {
	b.t.Helper()
	rows := make([]map[string]any, n)
	msg := make([]byte, 512)
	for i := range rows {
		rand.Read(msg)
		rows[i] = map[string]any{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": hex.EncodeToString(msg)}
	}
	if st, code := b.cs.ingest(b.immutableID, b.tok, rows); st != 204 {
		b.t.Fatalf("ingest: %d %s", st, code)
	}
	b.ingested += n
}

// ingestMiB ingests about mib MiB in calls of about 0.85 MB, under the
// 1 MB limit.
func (b *bulkIngest) ingestMiB(mib int) {
	b.t.Helper()
	const rowsPerCall = 800
	for range mib * (1 << 20) / (rowsPerCall * 1024) {
		b.ingest(rowsPerCall)
	}
}

// flushAndCount flushes the workspace and fails unless a count answers
// every row ingested.
func (b *bulkIngest) flushAndCount() {
	b.t.Helper()
	if st := b.cs.call("POST", b.cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/flush"), b.cs.mgmt, nil, nil); st != 200 && st != 204 {
		b.t.Fatalf("flush: %d", st)
	}
	b.cs.requireCount(b.t, b.ingested)
}
