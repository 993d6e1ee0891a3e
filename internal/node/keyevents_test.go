package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyevents"
	"github.com/sealwatch/sealwatch/internal/keyring"
)

// within waits until cond holds, polling, and fails after limit; it
// returns how long it took.
func within(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, limit)
		}
	}
	return time.Since(start)
}

// setKeyEnabled enables or disables the current version of the cluster's
// key, without probing: what follows is up to the node.
func (cs *cmkSetup) setKeyEnabled(enabled bool) {
	cs.t.Helper()
	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	kid := key["key"].(map[string]any)["kid"].(string)
	if st := cs.call("PATCH", keyURL+"/"+kid[strings.LastIndexByte(kid, '/')+1:]+"?api-version=7.6", cs.vtok,
		map[string]any{"attributes": map[string]any{"enabled": enabled}}, nil); st != 200 {
		cs.t.Fatalf("set enabled %v: %d", enabled, st)
	}
}

// ingestStatus ingests one row and returns the status and error code.
func (cs *cmkSetup) ingestStatus(immutableID, tok string) (int, string) {
	return cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "m"}})
}

func (cs *cmkSetup) queryRefused() bool {
	st, _, qe := cs.queryStatus("Events_CL | count", "P1D")
	return st == 403 && qe.Error.Code == "CustomerManagedKeyInaccessible"
}

// TestRevocationRestoreAndRotationTakeEffectWithinASecondThroughKeyEvents:
// at the default key-check interval (30 s), the vault's own events make
// the node check the key at once: disabling it refuses ingestion and
// queries in under a second, enabling it serves them again, and a new
// version wraps the account keys, each in under a second.
func TestRevocationRestoreAndRotationTakeEffectWithinASecondThroughKeyEvents(t *testing.T) {
	cs := setUpCMK(t)
	if cs.node.cfg.KeyCheckInterval != 0 {
		t.Fatal("this test is about the default interval")
	}
	immutableID, tok := cs.dcr()
	if st, code := cs.ingestStatus(immutableID, tok); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	cs.setKeyEnabled(false)
	revoked := within(t, time.Second, "ingestion and queries refused after disabling the key", func() bool {
		st, code := cs.ingestStatus(immutableID, tok)
		return st == 403 && code == "CustomerManagedKeyInaccessible" && cs.queryRefused()
	})
	cs.setKeyEnabled(true)
	restored := within(t, time.Second, "ingestion served after enabling the key", func() bool {
		st, _ := cs.ingestStatus(immutableID, tok)
		return st == 204 && !cs.queryRefused()
	})
	var rotated map[string]any
	if st := cs.call("POST", cs.vaultURL("cmkvault")+"/keys/ws-cmk/rotate?api-version=7.6", cs.vtok, nil, &rotated); st != 200 {
		t.Fatalf("rotate: %d", st)
	}
	newKID := rotated["key"].(map[string]any)["kid"].(string)
	rotation := within(t, time.Second, "account keys wrapped by the new version", func() bool {
		for _, u := range cs.keyUsage() {
			if u.InUse && u.KeyURI != newKID {
				return false
			}
		}
		return true
	})
	t.Logf("event to effect: revocation %s, restore %s, rotation %s", revoked, restored, rotation)
}

// TestWithKeyEventsLostRevocationTakesOneInterval: the events of the own
// vault lost, the periodic check still revokes within one interval.
func TestWithKeyEventsLostRevocationTakesOneInterval(t *testing.T) {
	const interval = 500 * time.Millisecond
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), KeyCheckInterval: interval})
	cs.node.keyEvents.drop.Store(true)
	immutableID, tok := cs.dcr()
	if st, code := cs.ingestStatus(immutableID, tok); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	cs.setKeyEnabled(false)
	// One interval, and what one check of the key takes on a shared machine.
	took := within(t, interval+500*time.Millisecond, "ingestion refused with the events lost", func() bool {
		st, code := cs.ingestStatus(immutableID, tok)
		return st == 403 && code == "CustomerManagedKeyInaccessible"
	})
	if n := cs.node.keyEvents.checks.Load(); n != 0 {
		t.Fatalf("%d checks asked for by events that were lost", n)
	}
	t.Logf("revoked %s after the key was disabled, at a %s interval, events lost", took, interval)
}

// post sends a key event delivery to the node's endpoint.
func (cs *cmkSetup) post(query string, body []byte, header map[string]string) (int, []byte) {
	cs.t.Helper()
	req, _ := http.NewRequest("POST", cs.creds.Endpoint+"/keyEvents"+query, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := cs.client.Do(req)
	if err != nil {
		cs.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (cs *cmkSetup) eventBody(eventType string) []byte {
	ev := keyevents.KeyEvent(eventType, "/subscriptions/x/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/cmkvault", "cmkvault",
		cs.vaultURL("cmkvault")+"/keys/ws-cmk", "ws-cmk", "", nil, nil, time.Now())
	body, _ := json.Marshal([]keyevents.Event{ev})
	return body
}

// TestAForgedKeyEventIsRefusedAndTriggersNothing: with the key disabled
// and the own vault's events lost, deliveries unsigned, signed with another
// secret, replayed past the skew or with a wrong code are 401 and ask for
// no check, so the key stays Accessible; a genuine delivery makes the check
// that revokes it; and a genuine event that says the key is enabled does not
// make it so — the check decides.
func TestAForgedKeyEventIsRefusedAndTriggersNothing(t *testing.T) {
	cs := setUpCMK(t)
	cs.node.keyEvents.drop.Store(true)
	cs.setKeyEnabled(false)
	secret := cs.node.keyEvents.Secret()
	body := cs.eventBody(keyevents.KeyDisabled)
	for _, c := range []struct {
		name, query string
		header      map[string]string
	}{
		{"unsigned", "", nil},
		{"signed with another secret", "", map[string]string{keyevents.SignatureHeader: keyevents.Sign([]byte("not the node's secret at all, forged"), body, time.Now())}},
		{"replayed after the skew", "", map[string]string{keyevents.SignatureHeader: keyevents.Sign(secret, body, time.Now().Add(-keyevents.MaxSkew-time.Minute))}},
		{"a wrong code", "?code=guess", nil},
		{"a signature over another body", "", map[string]string{keyevents.SignatureHeader: keyevents.Sign(secret, []byte("[]"), time.Now())}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, out := cs.post(c.query, body, c.header)
			if st != 401 || !bytes.Contains(out, []byte(`"Unauthorized"`)) {
				t.Fatalf("%d %s", st, out)
			}
		})
	}
	if n := cs.node.keyEvents.checks.Load(); n != 0 || cs.keyState() != "Accessible" {
		t.Fatalf("forged deliveries asked for %d checks; key state %s", n, cs.keyState())
	}
	// A genuine one, signed: the check it triggers revokes.
	if st, out := cs.post("", body, map[string]string{keyevents.SignatureHeader: keyevents.Sign(secret, body, time.Now())}); st != 200 {
		t.Fatalf("genuine delivery: %d %s", st, out)
	}
	within(t, time.Second, "revoked by the check a genuine event triggered", func() bool { return cs.keyState() == "Revoked" })
	// A genuine delivery that says "enabled", with the key still disabled,
	// and the cloud's shape with the code: checks run, the key stays revoked.
	before := cs.node.keyEvents.checks.Load()
	enabled := cs.eventBody(keyevents.KeyEnabled)
	if st, _ := cs.post("?code="+string(secret), enabled, nil); st != 200 {
		t.Fatalf("enabled event with the code: %d", st)
	}
	within(t, time.Second, "the check the event asked for", func() bool {
		at, _ := cs.node.keys.LastKeyCheck(cs.clusterID)
		return cs.node.keyEvents.checks.Load() > before && time.Since(at) < time.Second && cs.node.keys.Keyring(cs.clusterID, "logs").State() == keyring.Revoked
	})
	if got := cs.keyState(); got != "Revoked" {
		t.Fatalf("an event decided the state: %s", got)
	}
}

// TestTheEventGridHandshakeAndBadDeliveries: the node answers the cloud's
// SubscriptionValidationEvent with its validationResponse, and the
// CloudEvents OPTIONS handshake; bad bodies, once authenticated, are 400 or
// 413, never 500.
func TestTheEventGridHandshakeAndBadDeliveries(t *testing.T) {
	cs := setUpCMK(t)
	code := "?code=" + string(cs.node.keyEvents.Secret())
	validation := []byte(`[{"id":"2d1781af","topic":"/subscriptions/x","subject":"","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",
		"eventTime":"2026-10-28T04:23:35Z","data":{"validationCode":"512D38B6-C7B8-40C8","validationUrl":"https://eventgrid.example/validate"},"dataVersion":"1","metadataVersion":"1"}]`)
	st, out := cs.post(code, validation, map[string]string{"aeg-event-type": "SubscriptionValidation"})
	var answer struct{ ValidationResponse string }
	if json.Unmarshal(out, &answer); st != 200 || answer.ValidationResponse != "512D38B6-C7B8-40C8" {
		t.Fatalf("handshake: %d %s", st, out)
	}
	if st, _ := cs.post("", validation, nil); st != 401 {
		t.Fatalf("handshake without the code: %d", st)
	}
	req, _ := http.NewRequest("OPTIONS", cs.creds.Endpoint+"/keyEvents", nil)
	req.Header.Set("WebHook-Request-Origin", "eventgrid.azure.net")
	resp, err := cs.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" {
		t.Fatalf("CloudEvents handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for _, c := range []struct {
		name string
		body []byte
		want int
	}{
		{"empty", nil, 400},
		{"not JSON", []byte("{"), 400},
		{"an object that is no CloudEvent", []byte(`{"id":"1"}`), 400},
		{"an event without type", []byte(`[{"id":"1"}]`), 400},
		{"invalid UTF-8", []byte("[{\"id\":\"\xff\"}]"), 400},
		{"data of another shape", []byte(`[{"id":"1","eventType":"Microsoft.KeyVault.KeyNewVersionCreated","data":"x"}]`), 400},
		{"over 1 MB", bytes.Repeat([]byte(" "), keyevents.MaxBody+1), 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, out := cs.post(code, c.body, nil)
			if st != c.want || !bytes.Contains(out, []byte(`"error"`)) {
				t.Fatalf("%d %s, want %d", st, out, c.want)
			}
		})
	}
}

// TestANodeSubscribedToAVaultOverHTTPSRevokesWithinASecond: the vault's
// subscription API points a webhook at the node's endpoint, with the
// node's secret; with the in-process path lost, the signed HTTPS delivery
// alone revokes the key in under a second. The subscription's secret is
// never read back, and deleting it leaves the periodic check.
func TestANodeSubscribedToAVaultOverHTTPSRevokesWithinASecond(t *testing.T) {
	cs := setUpCMK(t)
	cs.node.keyEvents.drop.Store(true)
	var ep struct{ EndpointURL, Secret string }
	if st := cs.call("POST", cs.creds.Endpoint+"/keyEvents/listSecret", cs.mgmt, nil, &ep); st != 200 || ep.Secret == "" {
		t.Fatalf("listSecret: %d %+v", st, ep)
	}
	subURL := cs.mgmtURL("Microsoft.KeyVault/vaults/cmkvault/providers/Microsoft.EventGrid/eventSubscriptions/node-1")
	body := map[string]any{"properties": map[string]any{
		"destination": map[string]any{"endpointType": "WebHook", "properties": map[string]any{"endpointUrl": ep.EndpointURL, "signingSecret": ep.Secret}},
		"filter":      map[string]any{"subjectBeginsWith": "ws-"}}}
	var created map[string]any
	if st := cs.call("PUT", subURL, cs.mgmt, body, &created); st != 201 {
		t.Fatalf("subscribe: %d %v", st, created)
	}
	for _, url := range []string{subURL, cs.mgmtURL("Microsoft.KeyVault/vaults/cmkvault/providers/Microsoft.EventGrid/eventSubscriptions")} {
		var out any
		if st := cs.call("GET", url, cs.mgmt, nil, &out); st != 200 || strings.Contains(fmt.Sprint(out), ep.Secret) || !strings.Contains(fmt.Sprint(out), "node-1") {
			t.Fatalf("read %s: %d %v", url, st, out)
		}
	}
	if strings.Contains(fmt.Sprint(created), ep.Secret) {
		t.Fatal("the caller's own secret was echoed")
	}
	immutableID, tok := cs.dcr()
	if st, code := cs.ingestStatus(immutableID, tok); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	cs.setKeyEnabled(false)
	took := within(t, time.Second, "revoked through the webhook", func() bool {
		st, code := cs.ingestStatus(immutableID, tok)
		return st == 403 && code == "CustomerManagedKeyInaccessible"
	})
	t.Logf("revoked %s after the key was disabled, through the HTTPS webhook", took)
	var audit struct{ Value []struct{ Operation string } }
	cs.call("GET", cs.mgmtURL("Microsoft.KeyVault/vaults/cmkvault/auditRecords"), cs.mgmt, nil, &audit)
	if !strings.Contains(fmt.Sprint(audit.Value), "EventSubscriptionCreate") {
		t.Fatalf("the subscription is not audited: %v", audit.Value)
	}
	if st := cs.call("DELETE", subURL, cs.mgmt, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st := cs.call("GET", subURL, cs.mgmt, nil, nil); st != 404 {
		t.Fatalf("read after delete: %d", st)
	}
}

// BenchmarkKeyEventToRefusal measures, at the default key-check interval,
// the time from the vault's answer to disabling the key to the first
// refused ingestion, and from enabling it to the first served one: through
// the own vault's in-process events, and through a signed webhook delivery
// over HTTPS (the in-process path lost).
func BenchmarkKeyEventToRefusal(b *testing.B) {
	for _, path := range []string{"in-process", "webhook"} {
		b.Run("path="+path, func(b *testing.B) {
			cs := setUpCMK(b)
			if path == "webhook" {
				cs.node.keyEvents.drop.Store(true)
				var ep struct{ EndpointURL, Secret string }
				cs.call("POST", cs.creds.Endpoint+"/keyEvents/listSecret", cs.mgmt, nil, &ep)
				body := map[string]any{"properties": map[string]any{"destination": map[string]any{"endpointType": "WebHook",
					"properties": map[string]any{"endpointUrl": ep.EndpointURL, "signingSecret": ep.Secret}}}}
				if st := cs.call("PUT", cs.mgmtURL("Microsoft.KeyVault/vaults/cmkvault/providers/Microsoft.EventGrid/eventSubscriptions/bench"), cs.mgmt, body, nil); st != 201 {
					b.Fatalf("subscribe: %d", st)
				}
			}
			immutableID, tok := cs.dcr()
			until := func(want int) time.Duration {
				start := time.Now()
				for {
					if st, _ := cs.ingestStatus(immutableID, tok); st == want {
						return time.Since(start)
					}
					if time.Since(start) > 5*time.Second {
						b.Fatalf("no %d within 5 s", want)
					}
				}
			}
			var revoke, restore, worst time.Duration
			b.ResetTimer()
			for b.Loop() {
				cs.setKeyEnabled(false)
				r := until(403)
				cs.setKeyEnabled(true)
				revoke, restore, worst = revoke+r, restore+until(204), max(worst, r)
			}
			b.ReportMetric(float64(revoke.Microseconds())/1000/float64(b.N), "revoke-ms")
			b.ReportMetric(float64(restore.Microseconds())/1000/float64(b.N), "restore-ms")
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-revoke-ms")
		})
	}
}
