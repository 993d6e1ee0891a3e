package keyevents

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

type gcmSealer struct{ aead cipher.AEAD }

func newSealer(t *testing.T) gcmSealer {
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return gcmSealer{a}
}

func (s gcmSealer) Seal(pt, aad []byte) ([]byte, error) {
	n := make([]byte, s.aead.NonceSize())
	rand.Read(n)
	return s.aead.Seal(n, n, pt, aad), nil
}

func (s gcmSealer) Open(ct, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ct) < n {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, ct[:n], ct[n:], aad)
}

// receiver is a webhook endpoint on 127.0.0.1 that answers the handshake
// and records the deliveries it accepts; fail makes it answer 503 that
// many times first.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	bodies    [][]byte
	sigs      []string
	counts    []string
	fail      atomic.Int32
	got       chan struct{}
	handshake atomic.Bool // answer the validation handshake
	// hang, when set before the first delivery, holds every delivery
	// until it is closed.
	hang chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan struct{}, 100)}
	r.handshake.Store(true)
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method == http.MethodOptions {
			if r.handshake.Load() {
				w.Header().Set("WebHook-Allowed-Origin", req.Header.Get("WebHook-Request-Origin"))
			}
			return
		}
		d, err := Parse(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if d.ValidationCode != "" {
			if r.handshake.Load() {
				json.NewEncoder(w).Encode(map[string]string{"validationResponse": d.ValidationCode})
			} else {
				w.WriteHeader(http.StatusForbidden)
			}
			return
		}
		if r.hang != nil {
			<-r.hang
			return
		}
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.sigs = append(r.sigs, req.Header.Get(SignatureHeader))
		r.counts = append(r.counts, req.Header.Get("aeg-delivery-count"))
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10 s")
	}
}

func newPublisher(t *testing.T, r *receiver) *Publisher {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "v.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := NewPublisher(db, newSealer(t), PublisherOptions{Client: r.srv.Client(), FirstRetry: 10 * time.Millisecond, Attempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

const topic = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v1"

func disabled(key string) Event {
	return KeyEvent(KeyDisabled, topic, "v1", "https://v1.vault.localhost/keys/"+key+"/abc", key, "abc", nil, nil, time.Now())
}

// TestADeliveryIsSignedRetriedAndInTheEventGridShape: the endpoint that
// fails twice gets the event on the third attempt, signed with the secret
// the creation returned, as an Event Grid array; the secret is never in a
// listing.
func TestADeliveryIsSignedRetriedAndInTheEventGridShape(t *testing.T) {
	r := newReceiver(t)
	p := newPublisher(t, r)
	ctx := context.Background()
	sub, secret, err := p.Create(ctx, "v1", topic, "node-a", SubscriptionInput{EndpointURL: r.srv.URL + "/keyEvents?code=hidden"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 32 || strings.Contains(sub.EndpointBaseURL, "hidden") || len(sub.IncludedEventTypes) != len(Types) {
		t.Fatalf("created %+v, secret of %d characters", sub, len(secret))
	}
	list, _ := p.List(ctx, "V1")
	raw, _ := json.Marshal(list)
	if len(list) != 1 || bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("hidden")) {
		t.Fatalf("listing %s", raw)
	}
	r.fail.Store(2)
	ev := disabled("cmk")
	p.Publish(ev)
	r.wait(t)
	r.mu.Lock()
	body, sig, count := r.bodies[0], r.sigs[0], r.counts[0]
	r.mu.Unlock()
	if count != "2" {
		t.Errorf("aeg-delivery-count %q, want 2 (the third attempt)", count)
	}
	if err := Verify(sig, body, time.Now(), []byte(secret)); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := Verify(sig, body, time.Now(), []byte("another secret of enough length......")); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another secret verifies: %v", err)
	}
	d, err := Parse(body)
	if err != nil || len(d.Events) != 1 || d.CloudEvents || d.Events[0].ID != ev.ID || d.Events[0].Data.ObjectName != "cmk" || d.Events[0].EventType != KeyDisabled {
		t.Fatalf("delivered %s: %+v %v", body, d, err)
	}
	var wire []map[string]any
	json.Unmarshal(body, &wire)
	data := wire[0]["data"].(map[string]any)
	for _, f := range []string{"Id", "VaultName", "ObjectType", "ObjectName", "Version"} {
		if _, ok := data[f]; !ok {
			t.Errorf("data lacks the cloud's field %s: %v", f, data)
		}
	}
}

// TestAFilterAndACloudEventsSubscription: a subscription gets only the
// types and keys it asked for, in the schema it asked for.
func TestAFilterAndACloudEventsSubscription(t *testing.T) {
	r := newReceiver(t)
	p := newPublisher(t, r)
	_, _, err := p.Create(context.Background(), "v1", topic, "ce-sub", SubscriptionInput{EndpointURL: r.srv.URL,
		Schema: SchemaCloudEvents, IncludedEventTypes: []string{KeyDisabled}, SubjectBeginsWith: "ws-"})
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(disabled("other"))
	p.Publish(KeyEvent(KeyEnabled, topic, "v1", "x", "ws-cmk", "", nil, nil, time.Now()))
	p.Publish(disabled("ws-cmk"))
	r.wait(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) != 1 {
		t.Fatalf("%d deliveries", len(r.bodies))
	}
	d, err := Parse(r.bodies[0])
	if err != nil || !d.CloudEvents || d.Events[0].Subject != "ws-cmk" || d.Events[0].EventType != KeyDisabled || d.Events[0].Topic != topic {
		t.Fatalf("%s: %+v %v", r.bodies[0], d, err)
	}
}

// TestAnEndpointThatDoesNotValidateIsNotSubscribed covers the handshake
// refused and bad input, each a typed refusal (never Internal).
func TestAnEndpointThatDoesNotValidateIsNotSubscribed(t *testing.T) {
	r := newReceiver(t)
	p := newPublisher(t, r)
	ctx := context.Background()
	r.handshake.Store(false)
	for _, schema := range []string{SchemaEventGrid, SchemaCloudEvents} {
		if _, _, err := p.Create(ctx, "v1", topic, "nope", SubscriptionInput{EndpointURL: r.srv.URL, Schema: schema}); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("%s: %v", schema, err)
		}
	}
	if l, _ := p.List(ctx, "v1"); len(l) != 0 {
		t.Fatalf("stored %v", l)
	}
	r.handshake.Store(true)
	for _, c := range []struct {
		name, sub string
		in        SubscriptionInput
	}{
		{"http, not https", "a-b-c", SubscriptionInput{EndpointURL: "http://127.0.0.1/x"}},
		{"no endpoint", "a-b-c", SubscriptionInput{}},
		{"user info", "a-b-c", SubscriptionInput{EndpointURL: "https://u:p@127.0.0.1/x"}},
		{"short name", "ab", SubscriptionInput{EndpointURL: r.srv.URL}},
		{"name with a slash", "a/b/c", SubscriptionInput{EndpointURL: r.srv.URL}},
		{"unknown event type", "a-b-c", SubscriptionInput{EndpointURL: r.srv.URL, IncludedEventTypes: []string{"Microsoft.KeyVault.SecretNewVersionCreated"}}},
		{"unknown schema", "a-b-c", SubscriptionInput{EndpointURL: r.srv.URL, Schema: "CustomInputSchema"}},
		{"short secret", "a-b-c", SubscriptionInput{EndpointURL: r.srv.URL, Secret: "short"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := p.Create(ctx, "v1", topic, c.sub, c.in); fault.KindOf(err) != fault.Invalid {
				t.Fatalf("%v", err)
			}
		})
	}
	if _, _, err := p.Create(ctx, "v1", topic, "dup", SubscriptionInput{EndpointURL: r.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Create(ctx, "v1", topic, "DUP", SubscriptionInput{EndpointURL: r.srv.URL}); fault.KindOf(err) != fault.Conflict {
		t.Fatalf("a second subscription of the same name: %v", err)
	}
}

// TestPublishNeverWaitsForAFailingEndpoint: with an endpoint that holds
// every delivery and never answers, 5000 events are published all the
// same (past the queue and the deliveries in flight, dropped), and Close
// ends the held deliveries.
func TestPublishNeverWaitsForAFailingEndpoint(t *testing.T) {
	r := newReceiver(t)
	r.hang = make(chan struct{})
	t.Cleanup(func() { close(r.hang) }) // after the publisher's Close, before the server's
	p := newPublisher(t, r)
	if _, _, err := p.Create(context.Background(), "v1", topic, "slow", SubscriptionInput{EndpointURL: r.srv.URL}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for range 5000 {
			p.Publish(disabled("cmk"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Publish waited for an endpoint that does not answer")
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for deliveries the endpoint holds")
	}
}

// TestADeletedSubscriptionGetsNothing: the delivery path reads the
// subscriptions afresh, so a deleted one is not called.
func TestADeletedSubscriptionGetsNothing(t *testing.T) {
	r := newReceiver(t)
	p := newPublisher(t, r)
	ctx := context.Background()
	for _, n := range []string{"gone", "kept"} {
		if _, _, err := p.Create(ctx, "v1", topic, n, SubscriptionInput{EndpointURL: r.srv.URL + "/" + n, IncludedEventTypes: []string{KeyDisabled}}); err != nil {
			t.Fatal(err)
		}
	}
	if found, err := p.Delete(ctx, "v1", "gone"); !found || err != nil {
		t.Fatal(found, err)
	}
	p.Publish(disabled("cmk"))
	r.wait(t)
	if found, _ := p.Delete(ctx, "v1", "gone"); found {
		t.Fatal("deleted twice")
	}
	p.Close() // waits for every delivery
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) != 1 {
		t.Fatalf("%d deliveries", len(r.bodies))
	}
}

func TestVerifyRefusesTamperingAndOldSignatures(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	body := []byte(`[{"id":"1"}]`)
	now := time.Now()
	good := Sign(secret, body, now)
	if err := Verify(good, body, now, secret); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, header string
		body         []byte
		at           time.Time
	}{
		{"no header", "", body, now},
		{"a changed body", good, []byte(`[{"id":"2"}]`), now},
		{"replayed after the skew", good, body, now.Add(MaxSkew + time.Second)},
		{"from the future", Sign(secret, body, now.Add(2*MaxSkew)), body, now},
		{"a changed time", strings.Replace(good, "t=", "t=1", 1), body, now},
		{"not hex", "t=1,v1=zz", body, time.Unix(1, 0)},
		{"garbage", "v1", body, now},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := Verify(c.header, c.body, c.at, secret); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%v", err)
			}
		})
	}
}

// TestBadDeliveriesAreRefusedWhole: every body a receiver may be sent that
// is not a delivery is ErrBadDelivery, naming what is wrong.
func TestBadDeliveriesAreRefusedWhole(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"empty", ""},
		{"not JSON", "hello"},
		{"a number", "42"},
		{"an empty array", "[]"},
		{"an Event Grid event outside an array", `{"id":"1","eventType":"x"}`},
		{"an event without id", `[{"eventType":"Microsoft.KeyVault.KeyNewVersionCreated"}]`},
		{"an event without type", `[{"id":"1"}]`},
		{"data of the wrong shape", `[{"id":"1","eventType":"Microsoft.KeyVault.KeyNewVersionCreated","data":[1]}]`},
		{"a bad time", `[{"id":"1","eventType":"x","eventTime":"yesterday"}]`},
		{"invalid UTF-8", "[{\"id\":\"\xff\",\"eventType\":\"x\"}]"},
		{"a validation without code", `[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}]`},
		{"a validation among events", `[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"A"}},{"id":"2","eventType":"x"}]`},
		{"CloudEvents 0.3", `{"specversion":"0.3","id":"1","type":"x","source":"s"}`},
		{"mixed schemas", `[{"id":"1","eventType":"x"},{"specversion":"1.0","id":"2","type":"x","source":"s"}]`},
		{"too big", "[" + strings.Repeat(" ", MaxBody) + "]"},
		{"too many events", "[" + strings.TrimSuffix(strings.Repeat(`{"id":"1","eventType":"x"},`, maxEvents+1), ",") + "]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse([]byte(c.body)); !errors.Is(err, ErrBadDelivery) {
				t.Fatalf("%v", err)
			}
		})
	}
}

// TestTheCloudsDeliveriesParse reads the shapes the cloud's Event Grid
// sends a webhook: the validation handshake and a Key Vault event, in both
// schemas.
func TestTheCloudsDeliveriesParse(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       func(Delivery) bool
	}{
		{"validation", "validation.json", func(d Delivery) bool { return d.ValidationCode == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" }},
		{"new version, Event Grid schema", "newversion.json", func(d Delivery) bool {
			e := d.Events[0]
			return e.EventType == KeyNewVersionCreated && e.Data.VaultName == "sample-kv" && e.Data.ObjectName == "newkey" && e.Data.NBF != nil
		}},
		{"access policy, CloudEvents schema", "policy.cloudevent.json", func(d Delivery) bool {
			e := d.Events[0]
			return d.CloudEvents && e.EventType == VaultAccessPolicyChanged && e.Data.VaultName == "sample-kv" && e.WholeVault()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(body)
			if err != nil || !c.want(d) {
				t.Fatalf("%+v %v", d, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"validation.json", "newversion.json", "policy.cloudevent.json"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrBadDelivery) {
				t.Fatalf("an error that is not ErrBadDelivery: %v", err)
			}
			return
		}
		if d.ValidationCode == "" && len(d.Events) == 0 {
			t.Fatal("accepted a delivery with nothing in it")
		}
	})
}

// TestAPurgedVaultsSubscriptionsGoWithIt: DeleteVault removes the
// subscriptions of one vault, and only those (v1 is no prefix of v10's).
func TestAPurgedVaultsSubscriptionsGoWithIt(t *testing.T) {
	r := newReceiver(t)
	p := newPublisher(t, r)
	ctx := context.Background()
	for _, v := range []string{"v1", "v10"} {
		if _, _, err := p.Create(ctx, v, topic, "sub-a", SubscriptionInput{EndpointURL: r.srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.DeleteVault(ctx, "V1"); err != nil {
		t.Fatal(err)
	}
	if l, _ := p.List(ctx, "v1"); len(l) != 0 {
		t.Fatalf("v1 keeps %v", l)
	}
	if l, _ := p.List(ctx, "v10"); len(l) != 1 {
		t.Fatalf("v10 has %v", l)
	}
}
