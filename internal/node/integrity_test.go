package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// restart stops the node and starts it again on the same directory and
// port, waiting until its cluster's key is in force again.
func (cs *cmkSetup) restart(between func()) {
	cs.t.Helper()
	cs.restartWith(Config{}, between)
}

// restartWith is restart with cfg for the node's configuration (its data
// directory and address are the node's own).
func (cs *cmkSetup) restartWith(cfg Config, between func()) {
	cs.t.Helper()
	cs.stop()
	between()
	cfg.DataDir, cfg.Addr = cs.dir, "127.0.0.1:"+cs.port
	cs.running = startNodeWith(cs.t, cfg)
	cs.mgmt = cs.adminToken("https://management.azure.com/.default")
	// The stored cluster keys are reopened in the background.
	deadline := time.Now().Add(20 * time.Second)
	for cs.keyState() != "Accessible" {
		if time.Now().After(deadline) {
			cs.t.Fatalf("key state after restart: %q", cs.keyState())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queryStatus runs a query with an optional timespan and returns the status
// and either the first cell or the error.
func (cs *cmkSetup) queryStatus(kql, timespan string) (int, any, queryError) {
	cs.t.Helper()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var out struct {
		Tables []struct{ Rows [][]any } `json:"tables"`
		queryError
	}
	st := cs.call("POST", cs.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", cs.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": kql, "timespan": timespan}, &out)
	if st == 200 {
		return st, out.Tables[0].Rows[0][0], out.queryError
	}
	return st, nil, out.queryError
}

// TestDamagedDataIsNamedContainedAndFound deletes a sealed segment and
// alters an incident's sealed bytes while the node is down: queries that
// need the segment, and reads of the incident, answer 409
// DataIntegrityError naming them, while a query of undamaged hours answers;
// the workspace's state, /metrics and verify all report the damage.
func TestDamagedDataIsNamedContainedAndFound(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	// the middle of the last hour: its 20 rows make one segment whenever the test runs
	base := time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Minute)
	var rows []map[string]any
	for i := range 40 {
		at := base.Add(-time.Duration(i) * time.Second)
		if i >= 20 {
			at = at.Add(-3 * time.Hour)
		}
		rows = append(rows, map[string]any{"TimeGenerated": at.Format(time.RFC3339), "Message": fmt.Sprintf("event %d", i)})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	if err := cs.node.data.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := cs.call("PUT", cs.incidentURL("i1"), cs.mgmt, map[string]any{"properties": map[string]any{"title": "t", "severity": "Low"}}, nil); st != 201 {
		t.Fatalf("create incident: %d", st)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var segs []string
	filepath.WalkDir(filepath.Join(cs.dir, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			segs = append(segs, p)
		}
		return nil
	})
	slices.SortFunc(segs, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	if len(segs) != 2 {
		t.Fatalf("%d segments, want one per hour of rows", len(segs))
	}
	cs.restart(func() {
		os.Remove(segs[0]) // the older rows
		flipDocument(t, filepath.Join(cs.dir, "documents", "documents.db"), customerID)
	})

	st, _, qe := cs.queryStatus("Events_CL | count", "")
	if st != 409 || qe.Error.Code != "DataIntegrityError" || !strings.Contains(qe.Error.Message, filepath.Base(segs[0])) ||
		!strings.Contains(qe.Error.Message, "missing") {
		t.Fatalf("a query that needs the deleted segment: %d %+v", st, qe.Error)
	}
	if st, n, qe := cs.queryStatus("Events_CL | count", "PT2H"); st != 200 || n != 20.0 {
		t.Fatalf("a query of the last two hours: %d %v %+v", st, n, qe.Error)
	}
	var er struct {
		Error struct{ Code, Message string }
	}
	if st := cs.call("GET", cs.incidentURL("i1"), cs.mgmt, nil, &er); st != 409 || er.Error.Code != "DataIntegrityError" || !strings.Contains(er.Error.Message, "i1") {
		t.Fatalf("reading the altered incident: %d %+v", st, er)
	}

	var ws map[string]any
	cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, nil, &ws)
	integrity, _ := ws["properties"].(map[string]any)["dataIntegrity"].(map[string]any)
	if integrity["state"] != "Damaged" || integrity["damagedObjects"] != 1.0 {
		t.Fatalf("workspace dataIntegrity before verify: %v", integrity)
	}

	lines := cs.verify("secops")
	last := lines[len(lines)-1]
	var res struct {
		Result struct {
			Healthy bool
			Objects int
			Damaged []struct{ Kind, Object, Problem string }
		}
	}
	json.Unmarshal(last, &res)
	if res.Result.Healthy || len(res.Result.Damaged) != 2 || res.Result.Damaged[0].Object != filepath.Base(segs[0]) ||
		res.Result.Damaged[0].Problem != "missing" || res.Result.Damaged[1].Kind != "document" || res.Result.Damaged[1].Object != "i1" {
		t.Fatalf("verify result: %s", last)
	}
	if len(lines) < 3 || !bytes.Contains(lines[0], []byte(`"progress"`)) {
		t.Fatalf("verify showed no progress: %q", lines)
	}
	cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, nil, &ws)
	integrity = ws["properties"].(map[string]any)["dataIntegrity"].(map[string]any)
	if integrity["state"] != "Damaged" || integrity["damagedObjects"] != 2.0 || integrity["lastVerified"] == nil {
		t.Fatalf("workspace dataIntegrity after verify: %v", integrity)
	}
	req, _ := http.NewRequest("GET", cs.creds.Endpoint+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cs.mgmt)
	resp, err := cs.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`sealwatch_damaged_objects{kind="log",workspace=%q} 1`, customerID),
		fmt.Sprintf(`sealwatch_damaged_objects{kind="document",workspace=%q} 1`, customerID),
		fmt.Sprintf(`sealwatch_last_verified_timestamp_seconds{workspace=%q}`, customerID),
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %s:\n%s", want, body)
		}
	}
}

// verify runs a workspace's verification and returns its answer's lines.
func (cs *cmkSetup) verify(name string) [][]byte {
	cs.t.Helper()
	req, _ := http.NewRequest("POST", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/"+name+"/verify"), nil)
	req.Header.Set("Authorization", "Bearer "+cs.mgmt)
	resp, err := cs.client.Do(req)
	if err != nil {
		cs.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		b, _ := io.ReadAll(resp.Body)
		cs.t.Fatalf("verify: %d %s", resp.StatusCode, b)
	}
	var lines [][]byte
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// flipDocument flips the last byte of every sealed incident of a workspace
// in the document database, as someone editing the file would.
func flipDocument(t *testing.T, path, customerID string) {
	t.Helper()
	db, err := boltkv.Open(path, boltkv.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(context.Background(), func(tx kv.Tx) error {
		wb := tx.Bucket([]byte("docstore." + customerID))
		if wb == nil {
			return fmt.Errorf("no documents for workspace %s", customerID)
		}
		b := wb.Bucket([]byte("incidents"))
		if b == nil {
			return fmt.Errorf("no incidents collection")
		}
		var keys, vals [][]byte
		b.ForEach(func(k, v []byte) error {
			keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
			return nil
		})
		for i := range keys {
			vals[i][len(vals[i])-1] ^= 1
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBackgroundScrubFindsDamageNoQueryTouched: with the scrub on, a byte
// flipped in a sealed segment of a running node shows in the workspace's
// state without any query reading it.
func TestBackgroundScrubFindsDamageNoQueryTouched(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), ScrubRate: 1 << 30, ScrubInterval: 50 * time.Millisecond})
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "m"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	if err := cs.node.data.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	state := func() map[string]any {
		var ws map[string]any
		cs.call("GET", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, nil, &ws)
		d, _ := ws["properties"].(map[string]any)["dataIntegrity"].(map[string]any)
		return d
	}
	await := func(what string, ok func(map[string]any) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok(state()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: dataIntegrity %v", what, state())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	await("a verification after the flush", func(d map[string]any) bool { return d["lastVerified"] != nil && d["state"] == "Healthy" })
	var seg string
	filepath.WalkDir(filepath.Join(cs.dir, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			seg = p
		}
		return nil
	})
	b, _ := os.ReadFile(seg)
	b[len(b)/3] ^= 1
	os.WriteFile(seg, b, 0o600)
	await("the scrub finding the flipped byte", func(d map[string]any) bool { return d["state"] == "Damaged" })
}

// TestDeletedWorkspaceLeavesNoIntegrityMetrics: a deleted workspace's last
// verification goes with it; /metrics does not go on reporting it.
func TestDeletedWorkspaceLeavesNoIntegrityMetrics(t *testing.T) {
	cs := setUpCMK(t)
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	cs.verify("secops")
	metrics := func() string {
		req, _ := http.NewRequest("GET", cs.creds.Endpoint+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+cs.mgmt)
		resp, err := cs.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if m := metrics(); !strings.Contains(m, fmt.Sprintf(`sealwatch_last_verified_timestamp_seconds{workspace=%q}`, customerID)) {
		t.Fatalf("metrics lack the verified workspace:\n%s", m)
	}
	if st := cs.call("DELETE", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, nil, nil); st != 200 && st != 204 {
		t.Fatalf("delete the workspace: %d", st)
	}
	if m := metrics(); strings.Contains(m, customerID) {
		t.Fatalf("metrics still report the deleted workspace:\n%s", m)
	}
}

// TestScrubOfAWorkspaceDeletedSinceItWasListedOpensNothing: the scrub lists
// the workspaces once a round; one deleted meanwhile is not opened again (its
// directory recreated, a store kept open for it) nor reported.
func TestScrubOfAWorkspaceDeletedSinceItWasListedOpensNothing(t *testing.T) {
	cs := setUpCMK(t)
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	all, err := cs.node.workspaces.AllWorkspaces(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("workspaces: %d, %v", len(all), err)
	}
	if st := cs.call("DELETE", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops"), cs.mgmt, nil, nil); st != 200 && st != 204 {
		t.Fatalf("delete the workspace: %d", st)
	}
	if _, err := cs.node.data.Verify(context.Background(), &all[0], nil); err == nil {
		t.Fatal("verify of a deleted workspace succeeded")
	}
	if _, err := os.Stat(filepath.Join(cs.dir, "logs", customerID)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the deleted workspace's log directory: %v", err)
	}
	if in := cs.node.data.Integrity(customerID); !in.LastVerified.IsZero() {
		t.Fatalf("the deleted workspace is reported verified: %+v", in)
	}
}
