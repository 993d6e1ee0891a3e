package automation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/incident"
)

const hookSecret = "receiver-shared-secret-42"

// receiver is a webhook receiver on 127.0.0.1 that answers each call with
// the next of its statuses (the last one repeats) and keeps what it got.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	calls    []call
}

type call struct {
	header http.Header
	body   []byte
	err    error // from Verify
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, call{header: r.Header.Clone(), body: body, err: Verify([]byte(hookSecret), r.Header, body, time.Now(), 5*time.Minute)})
		status := rc.statuses[min(len(rc.calls), len(rc.statuses))-1]
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]call(nil), rc.calls...)
}

// webhookRun saves a rule posting to url, raises an incident, waits for
// the delivery to end and returns the rule's history entries.
func webhookRun(t *testing.T, url string) (*env, []incident.HistoryEntry) {
	e := newEnv(t)
	e.put("hook", rule(1, nil, webhook(1, url, hookSecret)))
	e.created(e.incident("i1", incident.Properties{Title: "Brute force", Severity: "High"}))
	e.hooks.Close() // waits for the delivery to record its outcome
	return e, e.ruleHistory("i1")
}

func TestWebhookPostsTheIncidentSigned(t *testing.T) {
	rc := newReceiver(t, 200)
	_, h := webhookRun(t, rc.srv.URL+"/hook?token=path-secret")
	calls := rc.got()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.err != nil {
		t.Fatalf("the receiver could not verify the delivery: %v", c.err)
	}
	var body struct {
		DeliveryID     string
		Event          string
		AutomationRule struct{ Name, DisplayName string }
		Incident       incident.Incident
	}
	if err := json.Unmarshal(c.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Event != "IncidentCreated" || c.header.Get(HeaderEvent) != "IncidentCreated" || body.DeliveryID == "" ||
		c.header.Get(HeaderDelivery) != body.DeliveryID || body.AutomationRule.Name != "hook" ||
		body.Incident.Name != "i1" || body.Incident.Properties.Title != "Brute force" || c.header.Get("Content-Type") != "application/json" {
		t.Fatalf("delivery: %+v %v", body, c.header)
	}
	// A body changed in transit, or signed with another secret, fails.
	if err := Verify([]byte(hookSecret), c.header, append(c.body, ' '), time.Now(), time.Minute); err != ErrBadSignature {
		t.Fatalf("a changed body verified: %v", err)
	}
	if err := Verify([]byte("another-secret-entirely"), c.header, c.body, time.Now(), time.Minute); err != ErrBadSignature {
		t.Fatalf("another secret verified: %v", err)
	}
	// A replay an hour later is stale.
	if err := Verify([]byte(hookSecret), c.header, c.body, time.Now().Add(time.Hour), 5*time.Minute); err != ErrStale {
		t.Fatalf("an old delivery verified: %v", err)
	}
	if len(h) != 1 || h[0].Action != "Webhook" || !strings.Contains(h[0].Detail, "delivered to "+rc.srv.URL+": 200 on attempt 1 of 3") ||
		!strings.Contains(h[0].Detail, body.DeliveryID) {
		t.Fatalf("history: %+v", h)
	}
	if strings.Contains(h[0].Detail, "path-secret") || strings.Contains(h[0].Detail, "/hook") {
		t.Fatalf("the history names the URL's path or query: %s", h[0].Detail)
	}
}

func TestWebhookRetriesAFailingReceiverAndRecordsIt(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		rc := newReceiver(t, 503, 500, 200)
		_, h := webhookRun(t, rc.srv.URL)
		calls := rc.got()
		if len(calls) != 3 || calls[0].header.Get(HeaderDelivery) != calls[2].header.Get(HeaderDelivery) {
			t.Fatalf("%d calls, or the delivery ID changed between attempts", len(calls))
		}
		for i, c := range calls {
			if c.err != nil {
				t.Fatalf("attempt %d does not verify: %v", i+1, c.err)
			}
		}
		if len(h) != 1 || !strings.Contains(h[0].Detail, "200 on attempt 3 of 3") ||
			!strings.Contains(h[0].Detail, "attempt 1: 503 Service Unavailable; attempt 2: 500 Internal Server Error") {
			t.Fatalf("history: %+v", h)
		}
	})
	t.Run("permanently failing", func(t *testing.T) {
		rc := newReceiver(t, 502)
		e, h := webhookRun(t, rc.srv.URL)
		if len(rc.got()) != 3 {
			t.Fatalf("%d attempts, want 3", len(rc.got()))
		}
		if len(h) != 1 || !strings.Contains(h[0].Detail, "not delivered to "+rc.srv.URL+" after 3 attempts") {
			t.Fatalf("history: %+v", h)
		}
		// The incident change stands.
		if inc := e.get("i1"); inc.Properties.Title != "Brute force" {
			t.Fatalf("incident: %+v", inc)
		}
	})
	t.Run("refused", func(t *testing.T) {
		rc := newReceiver(t, 401)
		_, h := webhookRun(t, rc.srv.URL)
		if len(rc.got()) != 1 || len(h) != 1 || !strings.Contains(h[0].Detail, "refused by "+rc.srv.URL+", not retried") ||
			!strings.Contains(h[0].Detail, "401 Unauthorized") {
			t.Fatalf("%d calls, history %+v", len(rc.got()), h)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		rc := newReceiver(t, 200)
		url := rc.srv.URL
		rc.srv.Close()
		_, h := webhookRun(t, url)
		if len(h) != 1 || !strings.Contains(h[0].Detail, "not delivered to "+url+" after 3 attempts") || !strings.Contains(h[0].Detail, "attempt 3:") {
			t.Fatalf("history: %+v", h)
		}
	})
}

func TestWebhookFollowsNoRedirectToAnotherHost(t *testing.T) {
	other := newReceiver(t, 200)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/here", http.StatusPermanentRedirect) // same host: followed
			return
		}
		if r.URL.Path == "/here" {
			http.Redirect(w, r, other.srv.URL+"/stolen", http.StatusTemporaryRedirect)
			return
		}
	}))
	t.Cleanup(redirect.Close)
	_, h := webhookRun(t, redirect.URL+"/moved")
	if len(other.got()) != 0 {
		t.Fatal("the delivery followed a redirect to another host")
	}
	if len(h) != 1 || !strings.Contains(h[0].Detail, "refused by "+redirect.URL) || !strings.Contains(h[0].Detail, "307 Temporary Redirect") {
		t.Fatalf("history: %+v", h)
	}
}

func TestAlertRulesPostTheAlert(t *testing.T) {
	rc := newReceiver(t, 200)
	e := newEnv(t)
	r := rule(1, []any{prop("AlertProductNames", "Equals", "Azure Sentinel"), prop("AlertAnalyticRuleIds", "Equals", "brute-force")},
		webhook(1, rc.srv.URL, hookSecret))
	logic(r)["triggersOn"] = "Alerts"
	e.put("alerts", r)
	mine := &alert.Alert{SystemAlertID: "a1", DisplayName: "Brute force", Severity: "High", RuleID: "brute-force"}
	other := &alert.Alert{SystemAlertID: "a2", DisplayName: "Other", Severity: "High", RuleID: "another-rule"}
	for _, a := range []*alert.Alert{mine, other} {
		if err := e.rules.OnAlert(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	e.hooks.Close()
	calls := rc.got()
	if len(calls) != 1 || calls[0].err != nil || calls[0].header.Get(HeaderEvent) != "AlertCreated" {
		t.Fatalf("calls: %+v", calls)
	}
	var body struct {
		Alert struct {
			Name       string
			Properties struct{ AlertDisplayName string }
		}
	}
	if err := json.Unmarshal(calls[0].body, &body); err != nil || body.Alert.Name != "a1" || body.Alert.Properties.AlertDisplayName != "Brute force" {
		t.Fatalf("body: %v %s", err, calls[0].body)
	}
}

func TestCloseCutsRetriesShort(t *testing.T) {
	rc := newReceiver(t, 503)
	e := newEnv(t)
	e.hooks = NewWebhooks(WebhookOptions{Backoff: time.Hour, ShutdownGrace: 50 * time.Millisecond}) // the retry would wait an hour
	e.rules.hooks = e.hooks
	e.put("hook", rule(1, nil, webhook(1, rc.srv.URL, hookSecret)))
	e.created(e.incident("i1", incident.Properties{Title: "t", Severity: "Low"}))
	done := make(chan struct{})
	go func() { e.hooks.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the retry")
	}
	h := e.ruleHistory("i1")
	if len(h) != 1 || !strings.Contains(h[0].Detail, "the node shut down before attempt 2") {
		t.Fatalf("history: %+v", h)
	}
}

// TestWebhookLogsNameTheHostOnly: the secret, and a URL's path and query
// (which may hold a token), reach no log line.
func TestWebhookLogsNameTheHostOnly(t *testing.T) {
	var logs bytes.Buffer
	for _, statuses := range [][]int{{200}, {500}, {403}} {
		rc := newReceiver(t, statuses...)
		e := newEnv(t)
		e.hooks = NewWebhooks(WebhookOptions{Backoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		e.rules.hooks = e.hooks
		e.put("hook", rule(1, nil, webhook(1, rc.srv.URL+"/t0ken-path?sig=t0ken-query", hookSecret)))
		e.created(e.incident("i1", incident.Properties{Title: "t", Severity: "Low"}))
		e.hooks.Close()
	}
	out := logs.String()
	if !strings.Contains(out, "webhook delivered") || !strings.Contains(out, "webhook not delivered") || !strings.Contains(out, "webhook refused") {
		t.Fatalf("the outcomes were not logged:\n%s", out)
	}
	for _, leak := range []string{hookSecret, "t0ken"} {
		if strings.Contains(out, leak) {
			t.Fatalf("a log line holds %q:\n%s", leak, out)
		}
	}
}
