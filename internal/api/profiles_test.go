package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
)

// getProfile sends GET path with token (none when empty) and returns the
// status, the Content-Type and the body.
func (e *testEnv) getProfile(path, token string) (int, string, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url("", path), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// gunzipped is a profile's protocol buffer, or fails the test when body is
// not gzip, as every profile `go tool pprof` reads is.
func gunzipped(t *testing.T, body []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the profile is not gzipped: %v (%d bytes)", err, len(body))
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the profile's gzip stream is damaged: %v", err)
	}
	return raw
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var er errResp
	if err := json.Unmarshal(body, &er); err != nil || er.Error.Code == "" || er.Error.Message == "" {
		t.Fatalf("not an error body with code and message: %.300s", body)
	}
	return er.Error.Code
}

// monitoringTokens returns management tokens of a MonitoringReader and of an
// application without a role, and a query token of the MonitoringReader.
func (e *testEnv) monitoringTokens() (reader, plain, readerQuery string) {
	e.t.Helper()
	ctx := context.Background()
	r, rSecret, err := e.identity.CreateApplication(ctx, "profiler", identity.RoleMonitoringReader)
	if err != nil {
		e.t.Fatal(err)
	}
	p, pSecret, err := e.identity.CreateApplication(ctx, "plain")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.token(r.AppID, rSecret, "https://management.azure.com/.default"),
		e.token(p.AppID, pSecret, "https://management.azure.com/.default"),
		e.token(r.AppID, rSecret, "https://api.loganalytics.io/.default")
}

func TestProfilesAreServedOnlyToMonitoringReadersAndOwners(t *testing.T) {
	e := newTestEnv(t, nil)
	reader, plain, readerQuery := e.monitoringTokens()
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/allocs", "/debug/pprof/goroutine", "/debug/pprof/profile?seconds=1", "/debug/pprof/trace?seconds=1"} {
		t.Run(path, func(t *testing.T) {
			for _, tc := range []struct {
				name, token string
				status      int
				code        string
			}{
				{"without a token", "", http.StatusUnauthorized, "Unauthorized"},
				{"with a query token", readerQuery, http.StatusUnauthorized, "Unauthorized"},
				{"for an application without a role", plain, http.StatusForbidden, "AuthorizationFailed"},
			} {
				st, _, body := e.getProfile(path, tc.token)
				if st != tc.status || errorCode(t, body) != tc.code {
					t.Errorf("%s: %d %.200s, want %d %s", tc.name, st, body, tc.status, tc.code)
				}
			}
		})
	}
	t.Run("heap to a monitoring reader", func(t *testing.T) {
		st, ct, body := e.getProfile("/debug/pprof/heap?gc=1", reader)
		if st != http.StatusOK || ct != "application/octet-stream" {
			t.Fatalf("%d %s %.200s", st, ct, body)
		}
		if raw := gunzipped(t, body); !bytes.Contains(raw, []byte("inuse_space")) {
			t.Fatal("the heap profile names no inuse_space sample type")
		}
	})
	t.Run("goroutines as text to a monitoring reader", func(t *testing.T) {
		st, ct, body := e.getProfile("/debug/pprof/goroutine?debug=1", reader)
		if st != http.StatusOK || !strings.HasPrefix(ct, "text/plain") || !bytes.HasPrefix(body, []byte("goroutine profile: total")) {
			t.Fatalf("%d %s %.200s", st, ct, body)
		}
		if !bytes.Contains(body, []byte("net/http.(*conn).serve")) {
			t.Fatalf("the goroutine dump does not show the request being served:\n%.2000s", body)
		}
	})
	t.Run("CPU profile to an owner", func(t *testing.T) {
		st, ct, body := e.getProfile("/debug/pprof/profile?seconds=1", e.adminToken("https://management.azure.com/.default"))
		if st != http.StatusOK || ct != "application/octet-stream" {
			t.Fatalf("%d %s %.200s", st, ct, body)
		}
		if raw := gunzipped(t, body); !bytes.Contains(raw, []byte("nanoseconds")) || !bytes.Contains(raw, []byte("cpu")) {
			t.Fatal("the CPU profile names no cpu/nanoseconds period type")
		}
	})
	t.Run("execution trace to a monitoring reader", func(t *testing.T) {
		st, ct, body := e.getProfile("/debug/pprof/trace?seconds=1", reader)
		if st != http.StatusOK || ct != "application/octet-stream" || !bytes.HasPrefix(body, []byte("go 1.")) {
			t.Fatalf("%d %s %.40q", st, ct, body)
		}
	})
}

func TestProfilesRefuseBadParameters(t *testing.T) {
	e := newTestEnv(t, nil)
	owner := e.adminToken("https://management.azure.com/.default")
	for _, tc := range []struct{ name, path string }{
		{"zero seconds", "/debug/pprof/profile?seconds=0"},
		{"negative seconds", "/debug/pprof/profile?seconds=-1"},
		{"seconds past the bound", "/debug/pprof/profile?seconds=301"},
		{"fractional seconds", "/debug/pprof/trace?seconds=1.5"},
		{"seconds not a number", "/debug/pprof/trace?seconds=soon"},
		{"seconds on a snapshot", "/debug/pprof/heap?seconds=5"},
		{"goroutine dump with arguments", "/debug/pprof/goroutine?debug=2"},
		{"gc not a flag", "/debug/pprof/heap?gc=yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ct, body := e.getProfile(tc.path, owner)
			if st != http.StatusBadRequest || errorCode(t, body) != "InvalidParameter" || !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("%d %s %.200s", st, ct, body)
			}
		})
	}
	t.Run("a profile that is not served", func(t *testing.T) {
		if st, _, body := e.getProfile("/debug/pprof/cmdline", owner); st != http.StatusNotFound || errorCode(t, body) != "NotFound" {
			t.Fatalf("%d %.200s", st, body)
		}
	})
}

func TestSecondCPUProfileIsRefusedWhileOneRecords(t *testing.T) {
	e := newTestEnv(t, nil)
	// Under go test -cpuprofile the binary profiles already: the server must refuse all the same.
	started := pprof.StartCPUProfile(io.Discard) == nil
	st, ct, body := e.getProfile("/debug/pprof/profile?seconds=1", e.adminToken("https://management.azure.com/.default"))
	if started {
		pprof.StopCPUProfile()
	}
	if st != http.StatusConflict || errorCode(t, body) != "ProfileInProgress" || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%d %s %.200s", st, ct, body)
	}
}

// TestARecordingUnderWayEndsWhenTheServerShutsDown: a recording (a CPU
// profile, a trace) asked for 20 seconds, longer than the shutdown waits
// here, does not hold the server's shutdown: it is stopped when the shutdown begins and answered with what
// it recorded, and one asked for after is stopped at once. The recording is
// a stand-in, so that the test binary's own profiling does not matter.
func TestARecordingUnderWayEndsWhenTheServerShutsDown(t *testing.T) {
	h := newTestEnv(t, nil).srv.Config.Handler.(*Server)
	started, stopped := make(chan struct{}, 2), make(chan struct{}, 2)
	start := func(w io.Writer) error {
		_, err := w.Write([]byte("recorded"))
		started <- struct{}{}
		return err
	}
	stop := func() { stopped <- struct{}{} }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.record(w, r, "profile", start, stop); err != nil {
			t.Errorf("record: %v", err)
		}
	}))
	srv.Config.RegisterOnShutdown(h.StopRecordings) // as the node does
	defer srv.Close()
	type answer struct {
		status int
		body   string
		err    error
	}
	get := func() answer {
		resp, err := srv.Client().Get(srv.URL + "/?seconds=20")
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(body), err}
	}
	first := make(chan answer, 1)
	go func() { first <- get() }()
	select {
	case <-started:
	case a := <-first:
		t.Fatalf("the recording ended before it started: %+v", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("the shutdown waited for the recording: %v", err)
	}
	<-stopped
	if a := <-first; a.err != nil || a.status != http.StatusOK || a.body != "recorded" {
		t.Fatalf("the recording ended by the shutdown answered %+v", a)
	}

	// A recording that starts after the shutdown began stops at once.
	w := httptest.NewRecorder()
	if err := h.record(w, httptest.NewRequest("GET", "/?seconds=20", nil), "profile", start, stop); err != nil || w.Body.String() != "recorded" {
		t.Fatalf("a recording after the shutdown: %v, %q", err, w.Body)
	}
	<-stopped
}
