package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/console"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// twoNodes runs test with two consoles sharing one database (one node
// each, as behind a load balancer without sticky sessions): one boltkv
// handle, and PostgreSQL reached by each node through connections of its
// own.
func twoNodes(t *testing.T, cfg console.Config, test func(t *testing.T, a, b *fixture)) {
	t.Run("boltkv", func(t *testing.T) {
		a := newFixture(t, cfg)
		test(t, a, a.another(t, cfg, a.db))
	})
	t.Run("postgresql", func(t *testing.T) {
		url := pgtest.New(t)
		a := newFixtureOn(t, cfg, pgkvtest.Open(t, url, "identity"))
		test(t, a, a.another(t, cfg, pgkvtest.Open(t, url, "identity")))
	})
}

func TestASessionSignedInOnOneNodeIsServedByAnother(t *testing.T) {
	twoNodes(t, console.Config{}, func(t *testing.T, a, b *fixture) {
		id, secret := a.app(t, identity.RoleOwner)
		s := a.signIn(t, id, secret)
		if !isSignedIn(t, b.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
			t.Fatal("the other node does not know the session")
		}
		if rec := b.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}); rec.Code != 200 {
			t.Errorf("a read through the other node = %d %s", rec.Code, rec.Body)
		}
		create := request{method: "POST", path: "/v1.0/applications", body: `{"displayName":"made-on-b"}`, cookie: s.cookie}
		if code := errorCode(t, b.do(create), 403); code != "CsrfTokenInvalid" {
			t.Errorf("a change without the CSRF token on the other node: code %s", code)
		}
		create.header = map[string]string{"X-CSRF-Token": s.csrf}
		if rec := b.do(create); rec.Code != http.StatusCreated {
			t.Errorf("a change with the CSRF token on the other node = %d %s", rec.Code, rec.Body)
		}
	})
}

func TestSignOutOnOneNodeEndsTheSessionOnEveryNodeAtOnce(t *testing.T) {
	twoNodes(t, console.Config{}, func(t *testing.T, a, b *fixture) {
		id, secret := a.app(t, identity.RoleOwner)
		s := a.signIn(t, id, secret)
		for _, n := range []*fixture{a, b} {
			if rec := n.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}); rec.Code != 200 {
				t.Fatalf("before the sign-out: %d %s", rec.Code, rec.Body)
			}
		}
		if rec := b.do(request{method: "DELETE", path: "/console/session", cookie: s.cookie, header: map[string]string{"X-CSRF-Token": s.csrf}}); rec.Code != http.StatusNoContent {
			t.Fatalf("sign-out on the other node = %d %s", rec.Code, rec.Body)
		}
		if isSignedIn(t, a.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
			t.Error("the first node still knows the session signed out on the other")
		}
		if code := errorCode(t, a.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}), 401); code != "Unauthorized" {
			t.Errorf("the signed-out cookie on the first node: code %s", code)
		}
	})
}

// The idle time runs from the last use on any node, and ends the session
// on all of them.
func TestAnIdleSessionEndsOnEveryNode(t *testing.T) {
	const idle = 10 * time.Minute
	twoNodes(t, console.Config{IdleTimeout: idle}, func(t *testing.T, a, b *fixture) {
		id, secret := a.app(t, identity.RoleOwner)
		s := a.signIn(t, id, secret)
		use := request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}
		poll := request{method: "GET", path: "/v1.0/applications", cookie: s.cookie, header: map[string]string{"X-Sealwatch-Background": "1"}}
		a.advance(idle / 2)
		if rec := b.do(use); rec.Code != 200 {
			t.Fatalf("a use on the other node: %d %s", rec.Code, rec.Body)
		}
		a.advance(idle - time.Minute) // past the idle time since the sign-in, not since the use on b
		if rec := a.do(poll); rec.Code != 200 {
			t.Fatalf("the first node did not see the use on the other: %d %s", rec.Code, rec.Body)
		}
		a.advance(time.Minute)
		for name, n := range map[string]*fixture{"first": a, "other": b} {
			if code := errorCode(t, n.do(poll), 401); code != "Unauthorized" {
				t.Errorf("the idle session on the %s node: code %s", name, code)
			}
			if isSignedIn(t, n.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
				t.Errorf("the idle session is signed in on the %s node", name)
			}
		}
	})
}

// What the database holds can be read by its operator and its backups:
// a session there must give neither its ID, nor its tokens, nor its CSRF
// token, nor a way to match a stolen cookie by hashing it.
func TestTheDatabaseHoldsNoSessionIDTokenOrCSRFTokenInTheClear(t *testing.T) {
	signInAndUse := func(t *testing.T, a, b *fixture) map[string][]byte {
		id, secret := a.app(t, identity.RoleOwner)
		s := a.signIn(t, id, secret)
		for _, n := range []*fixture{a, b} {
			a.advance(2 * time.Minute) // each use writes its time
			if rec := n.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}); rec.Code != 200 {
				t.Fatalf("use: %d %s", rec.Code, rec.Body)
			}
		}
		secrets := map[string][]byte{"the session ID": []byte(s.cookie.Value), "the CSRF token": []byte(s.csrf)}
		raw, err := base64.RawURLEncoding.DecodeString(s.cookie.Value)
		if err != nil {
			t.Fatal(err)
		}
		secrets["the session ID's bytes"] = raw
		sum := sha256.Sum256([]byte(s.cookie.Value))
		secrets["the session ID's SHA-256"] = sum[:]
		tokens := append(a.sessionTokens(), b.sessionTokens()...)
		if len(tokens) == 0 {
			t.Fatal("the API was handed no session token")
		}
		for i, tok := range tokens {
			for j, part := range strings.Split(tok, ".") {
				secrets[fmt.Sprintf("part %d of token %d", j, i)] = []byte(part)
			}
		}
		return secrets
	}
	t.Run("boltkv", func(t *testing.T) {
		a := newFixture(t, console.Config{})
		secrets := signInAndUse(t, a, a.another(t, console.Config{}, a.db))
		file, err := os.ReadFile(a.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		assertNotIn(t, "the database file", file, secrets)
	})
	t.Run("postgresql", func(t *testing.T) {
		url := pgtest.New(t)
		a := newFixtureOn(t, console.Config{}, pgkvtest.Open(t, url, "identity"))
		secrets := signInAndUse(t, a, a.another(t, console.Config{}, pgkvtest.Open(t, url, "identity")))
		dump := pgtest.Dump(t, url)
		if !bytes.Contains(dump, []byte(hex.EncodeToString([]byte("console.sessions")))) {
			t.Fatal("the dump holds no session bucket: the test would prove nothing")
		}
		assertNotIn(t, "pg_dump's output", dump, secrets)
	})
}

// assertNotIn fails for each secret found in data as it is or in hex, as
// pg_dump writes bytea.
func assertNotIn(t *testing.T, where string, data []byte, secrets map[string][]byte) {
	t.Helper()
	lower := bytes.ToLower(data)
	for name, v := range secrets {
		if bytes.Contains(data, v) || bytes.Contains(lower, []byte(hex.EncodeToString(v))) {
			t.Errorf("%s holds %s in the clear", where, name)
		}
	}
}

func (f *fixture) sessionTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// countingDB counts the transactions the console makes.
type countingDB struct {
	kv.DB
	views, updates atomic.Int64
}

func (d *countingDB) View(ctx context.Context, fn func(kv.Tx) error) error {
	d.views.Add(1)
	return d.DB.View(ctx, fn)
}

func (d *countingDB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	d.updates.Add(1)
	return d.DB.Update(ctx, fn)
}

// Every kv Update waits for every other node's, so a session in use writes
// its last use once a minute, not once a request; each request reads its
// record once.
func TestASessionInUseWritesItsLastUseAtMostOnceAMinute(t *testing.T) {
	counted := &countingDB{}
	f := newFixture(t, console.Config{})
	counted.DB = f.db
	b := f.another(t, console.Config{DB: counted}, f.db)
	id, secret := f.app(t, identity.RoleOwner)
	s := f.signIn(t, id, secret)
	const every, requests = 5 * time.Second, 120 // ten minutes of use
	for range requests {
		f.advance(every)
		if rec := b.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}); rec.Code != 200 {
			t.Fatalf("use: %d %s", rec.Code, rec.Body)
		}
	}
	if got := counted.views.Load(); got != requests {
		t.Errorf("%d reads for %d requests, want one each", got, requests)
	}
	if got, want := counted.updates.Load(), int64(requests*every/time.Minute); got != want {
		t.Errorf("%d writes over %s of use, want %d: one a minute", got, requests*every, want)
	}
}

// Sessions that end without a sign-out leave records, deleted by a sweep
// every few minutes (an Update reads them all), not by each request.
func TestEndedSessionsAreSweptEveryFewMinutes(t *testing.T) {
	const idle = 10 * time.Minute
	f := newFixture(t, console.Config{IdleTimeout: idle})
	id, secret := f.app(t)
	for range 3 {
		f.signIn(t, id, secret)
	}
	if n := f.records(t); n != 3 {
		t.Fatalf("%d session records after three sign-ins, want 3", n)
	}
	f.advance(idle)
	s := f.signIn(t, id, secret) // the last sweep is 10 minutes old: this one sweeps
	if n := f.records(t); n != 1 {
		t.Errorf("%d session records once three ended and one began, want 1", n)
	}
	f.advance(idle)
	f.signIn(t, id, secret) // sweeps s
	f.advance(time.Minute)
	f.signIn(t, id, secret) // the last sweep is a minute old: none
	if n := f.records(t); n != 2 {
		t.Errorf("%d session records, want 2: a sweep a minute after the last", n)
	}
	if isSignedIn(t, f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Error("a swept session is signed in")
	}
}

// failingDB fails every transaction once failing is set, as a database
// out of reach does.
type failingDB struct {
	kv.DB
	failing atomic.Bool
}

var errUnreachable = errors.New("database unreachable")

func (d *failingDB) View(ctx context.Context, fn func(kv.Tx) error) error {
	if d.failing.Load() {
		return errUnreachable
	}
	return d.DB.View(ctx, fn)
}

func (d *failingDB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if d.failing.Load() {
		return errUnreachable
	}
	return d.DB.Update(ctx, fn)
}

// When the sessions' database is out of reach, whether a cookie is signed
// in cannot be told: its requests are answered 503 with Retry-After, never
// served as signed out, and a sign-out is not claimed done.
func TestARequestWhoseSessionCannotBeReadIs503(t *testing.T) {
	db := &failingDB{}
	f := newFixture(t, console.Config{})
	db.DB = f.db
	n := f.another(t, console.Config{DB: db}, f.db)
	id, secret := n.app(t, identity.RoleOwner)
	s := n.signIn(t, id, secret)
	db.failing.Store(true)
	for _, r := range []request{
		{method: "GET", path: "/console/session", cookie: s.cookie},
		{method: "GET", path: "/v1.0/applications", cookie: s.cookie},
		{method: "DELETE", path: "/console/session", cookie: s.cookie, header: map[string]string{"X-CSRF-Token": s.csrf}},
		{method: "POST", path: "/console/session", body: `{"clientId":"` + id + `","clientSecret":"` + secret + `"}`},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			rec := n.do(r)
			if code := errorCode(t, rec, 503); code != "SessionsUnavailable" || rec.Header().Get("Retry-After") == "" {
				t.Errorf("code %s, Retry-After %q", code, rec.Header().Get("Retry-After"))
			}
			if len(rec.Result().Cookies()) != 0 {
				t.Error("the answer sets or clears the cookie")
			}
		})
	}
	db.failing.Store(false)
	if !isSignedIn(t, n.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Error("the session did not outlive the outage")
	}
}

// records counts the sessions' records in f's database.
func (f *fixture) records(t *testing.T) int {
	t.Helper()
	n := -1
	err := f.db.View(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket([]byte("console.sessions"))
		if b == nil {
			return fmt.Errorf("no session bucket")
		}
		n = b.KeyN()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A node given another secrets key names the records by another MAC and
// cannot open them: it serves none of the others' sessions.
func TestANodeWithOtherSecretsServesNoSession(t *testing.T) {
	a := newFixture(t, console.Config{})
	id, secret := a.app(t, identity.RoleOwner)
	s := a.signIn(t, id, secret)
	raw := make([]byte, 32)
	rand.Read(raw)
	other, err := rootkey.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	b := (&cluster{dir: a.dir, secrets: other, now: a.clock()}).node(t, console.Config{}, a.db)
	if isSignedIn(t, b.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Error("a node with other secrets serves the session")
	}
	if code := errorCode(t, b.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}), 401); code != "Unauthorized" {
		t.Errorf("its API call: code %s", code)
	}
}

// Whoever may write the database cannot hand one session's record to
// another's cookie: a sealed record opens only under its own key, and the
// node says so in its log.
func TestASessionRecordMovedInTheDatabaseIsRefusedAndLogged(t *testing.T) {
	f := newFixture(t, console.Config{})
	owner, ownerSecret := f.app(t, identity.RoleOwner)
	reader, readerSecret := f.app(t, identity.RoleMonitoringReader)
	admin := f.signIn(t, owner, ownerSecret)
	weak := f.signIn(t, reader, readerSecret)
	// The two records swap what they hold.
	err := f.db.Update(context.Background(), func(tx kv.Tx) error {
		records := tx.Bucket([]byte("console.sessions"))
		var keys, values [][]byte
		if err := records.ForEach(func(k, v []byte) error {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
			return nil
		}); err != nil {
			return err
		}
		if len(keys) != 2 {
			return fmt.Errorf("%d session records, want 2", len(keys))
		}
		if err := records.Put(keys[0], values[1]); err != nil {
			return err
		}
		return records.Put(keys[1], values[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]signedIn{"the Owner's": admin, "the reader's": weak} {
		if isSignedIn(t, f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
			t.Errorf("%s cookie is signed in with another's record", name)
		}
	}
	f.mu.Lock()
	logs := f.logs.String()
	f.mu.Unlock()
	if !strings.Contains(logs, "does not open") {
		t.Errorf("the refusal is not logged: %s", logs)
	}
}

// BenchmarkSessionRequest is what a session costs a request on each
// backend: "read", its record read (most requests); "write", read and its
// last use written (once a minute per session in use). The idle time is
// short so that the clock, moved by a tenth of it between writes, stays
// within the tokens' hour however many iterations run.
func BenchmarkSessionRequest(b *testing.B) {
	const idle = 100 * time.Millisecond
	cfg := console.Config{IdleTimeout: idle}
	backends := map[string]func(b *testing.B) *fixture{
		"boltkv": func(b *testing.B) *fixture { return newFixture(b, cfg) },
		"postgresql": func(b *testing.B) *fixture {
			return newFixtureOn(b, cfg, pgkvtest.Open(b, pgtest.New(b), "identity"))
		},
	}
	for _, backend := range []string{"boltkv", "postgresql"} {
		for _, write := range []bool{false, true} {
			name := backend + "/read"
			if write {
				name = backend + "/write"
			}
			b.Run(name, func(b *testing.B) {
				f := backends[backend](b)
				id, secret := f.app(b)
				s := f.signIn(b, id, secret)
				req := request{method: "GET", path: "/console/session", cookie: s.cookie}
				b.ResetTimer()
				for range b.N {
					if write {
						f.advance(idle / 10)
					}
					if rec := f.do(req); rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
