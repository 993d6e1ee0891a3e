package automation

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers of a webhook delivery. A receiver checks the signature as
// Verify does: HMAC-SHA256 keyed by the rule's secret over the timestamp,
// a dot and the body, in hex after "sha256=".
const (
	HeaderSignature = "X-Sealwatch-Signature"
	HeaderTimestamp = "X-Sealwatch-Timestamp" // Unix seconds when the attempt was signed
	HeaderDelivery  = "X-Sealwatch-Delivery"  // the same for every attempt of one delivery
	HeaderEvent     = "X-Sealwatch-Event"     // IncidentCreated, IncidentUpdated or AlertCreated
)

// Webhook delivery defaults.
const (
	DefaultWebhookAttempts = 3
	DefaultWebhookBackoff  = 2 * time.Second
	DefaultWebhookTimeout  = 10 * time.Second
	defaultMaxInFlight     = 32
	defaultShutdownGrace   = 5 * time.Second
	maxRedirects           = 3
	recordTimeout          = 10 * time.Second
)

// WebhookOptions configure webhook delivery.
type WebhookOptions struct {
	// Client sends the requests; nil is NewWebhookClient(). Its redirect
	// policy is replaced by Sealwatch's, and a zero Timeout becomes
	// DefaultWebhookTimeout.
	Client *http.Client
	// Attempts bounds the tries of one delivery (default 3); Backoff is the
	// wait before the first retry, doubled before each next (default 2 s).
	Attempts int
	Backoff  time.Duration
	// MaxInFlight bounds the deliveries running at once (default 32); a
	// rule run waits for a free one.
	MaxInFlight int
	// ShutdownGrace is how long Close lets deliveries in flight finish
	// before cancelling them (default 5 s).
	ShutdownGrace time.Duration
	Logger        *slog.Logger
}

// Webhooks delivers webhook actions in the background, so that a slow or
// failing receiver never holds up or fails the incident change that
// triggered it. A delivery is signed, each attempt bounded in time, retried
// on a failure that may pass (no answer, 408, 429, 5xx), and its outcome
// handed to the caller to record.
type Webhooks struct {
	client   *http.Client
	attempts int
	backoff  time.Duration
	grace    time.Duration
	log      *slog.Logger
	now      func() time.Time
	ctx      context.Context // cancelled by Close after the grace: deliveries give up
	cancel   context.CancelFunc
	slots    chan struct{}

	mu      sync.Mutex // orders starting a delivery with Close
	closing chan struct{}
	closed  bool
	wg      sync.WaitGroup
}

// NewWebhooks returns a webhook sender; Close stops it.
func NewWebhooks(o WebhookOptions) *Webhooks {
	client := o.Client
	if client == nil {
		client = NewWebhookClient()
	}
	c := *client
	c.CheckRedirect = checkRedirect
	if c.Timeout == 0 {
		c.Timeout = DefaultWebhookTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultWebhookAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultWebhookBackoff
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = defaultShutdownGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhooks{client: &c, attempts: o.Attempts, backoff: o.Backoff, grace: o.ShutdownGrace, log: o.Logger, now: time.Now,
		ctx: ctx, cancel: cancel, slots: make(chan struct{}, o.MaxInFlight), closing: make(chan struct{})}
}

// NewWebhookClient is the production client: bounded dial, TLS handshake,
// response header and overall times, system roots for TLS.
func NewWebhookClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = DefaultWebhookTimeout
	t.MaxIdleConnsPerHost = 4
	return &http.Client{Transport: t, Timeout: DefaultWebhookTimeout}
}

// checkRedirect follows a redirect only to the same scheme and host, and
// only one that keeps the POST and its body (307, 308): the signature was
// made for the receiver the rule names.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if len(via) > maxRedirects || req.Method != http.MethodPost ||
		req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return http.ErrUseLastResponse
	}
	return nil
}

// Close takes no more deliveries, lets those in flight finish for the
// grace, then cancels their requests and retries, and returns once every
// delivery has recorded its outcome.
func (w *Webhooks) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.closing)
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	grace := time.NewTimer(w.grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
	}
	w.cancel()
	<-done
	return nil
}

// delivery is one webhook call to make.
type delivery struct {
	id     string
	event  string // HeaderEvent
	url    string
	secret []byte
	body   []byte
	// record hands the outcome to the caller, such as an incident's history.
	record func(ctx context.Context, outcome string) error
}

// send starts d in the background, once a slot is free.
func (w *Webhooks) send(d delivery) {
	shutdown := func() {
		w.report(d, fmt.Sprintf("not delivered to %s: the node is shutting down (delivery %s)", endpoint(d.url), d.id))
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.closing:
		shutdown()
		return
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.slots
		shutdown()
		return
	}
	w.wg.Go(func() {
		defer func() { <-w.slots }()
		w.report(d, w.deliver(d))
	})
	w.mu.Unlock()
}

// report records a delivery's outcome; a failure to record it is logged.
func (w *Webhooks) report(d delivery, outcome string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), recordTimeout)
	defer cancel()
	if err := d.record(ctx, outcome); err != nil {
		w.log.Warn("webhook outcome not recorded", "delivery", d.id, "endpoint", endpoint(d.url), "err", err)
	}
}

// deliver makes up to w.attempts attempts and says how it went. It names
// the receiver by scheme and host only: a URL's path or query may hold a
// token.
func (w *Webhooks) deliver(d delivery) string {
	var tries []string
	wait := w.backoff
	for attempt := 1; attempt <= w.attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-w.ctx.Done():
				t.Stop()
				return fmt.Sprintf("not delivered to %s: the node shut down before attempt %d (delivery %s; %s)", endpoint(d.url), attempt, d.id, strings.Join(tries, "; "))
			}
			wait *= 2
		}
		status, err := w.attempt(d)
		switch {
		case err == nil && status/100 == 2:
			msg := fmt.Sprintf("delivered to %s: %d on attempt %d of %d (delivery %s)", endpoint(d.url), status, attempt, w.attempts, d.id)
			if len(tries) > 0 {
				msg += "; before: " + strings.Join(tries, "; ")
			}
			w.log.Info("webhook delivered", "delivery", d.id, "endpoint", endpoint(d.url), "status", status, "attempt", attempt)
			return msg
		case err != nil:
			tries = append(tries, fmt.Sprintf("attempt %d: %v", attempt, err))
		default:
			tries = append(tries, fmt.Sprintf("attempt %d: %d %s", attempt, status, http.StatusText(status)))
			if !retryable(status) {
				w.log.Warn("webhook refused", "delivery", d.id, "endpoint", endpoint(d.url), "status", status)
				return fmt.Sprintf("refused by %s, not retried (delivery %s): %s", endpoint(d.url), d.id, strings.Join(tries, "; "))
			}
		}
	}
	w.log.Warn("webhook not delivered", "delivery", d.id, "endpoint", endpoint(d.url), "attempts", w.attempts)
	return fmt.Sprintf("not delivered to %s after %d attempts (delivery %s): %s", endpoint(d.url), w.attempts, d.id, strings.Join(tries, "; "))
}

// retryable: a status that says the receiver may take the call later.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status/100 == 5
}

// attempt makes one signed POST and returns the status; an error says why
// there was none, without the URL.
func (w *Webhooks) attempt(d delivery) (int, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, errors.New("the URL cannot be requested")
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sealwatch-Webhook/1")
	req.Header.Set(HeaderEvent, d.event)
	req.Header.Set(HeaderDelivery, d.id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, "sha256="+sign(d.secret, ts, d.body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, transportError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// transportError is err without the URL the http package puts in it.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("no answer in time")
		}
		err = ue.Err
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("cancelled: the node is shutting down")
	}
	return err
}

// endpoint is how logs and history name a webhook: scheme and host.
func endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the webhook"
	}
	return u.Scheme + "://" + u.Host
}

// sign is the hex HMAC-SHA256 of "<timestamp>.<body>" keyed by secret.
func sign(secret []byte, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp is too far from now")
)

// Verify checks a delivery as a receiver should: the signature header
// matches the HMAC of the timestamp header and the body under secret, and
// the timestamp lies within tolerance of now (a replay of an old delivery
// is refused; receivers should also drop a delivery ID seen before).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no %s", ErrBadSignature, HeaderTimestamp)
	}
	got, ok := strings.CutPrefix(h.Get(HeaderSignature), "sha256=")
	mac, err := hex.DecodeString(got)
	if !ok || err != nil {
		return fmt.Errorf("%w: %s is not sha256=<hex>", ErrBadSignature, HeaderSignature)
	}
	want, _ := hex.DecodeString(sign(secret, ts, body))
	if !hmac.Equal(mac, want) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// newID is a random version 4 UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
