package api

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"
)

// The node's runtime profiles, for finding where a slow query or ingest spends
// its time, are served at /debug/pprof/ in the format `go tool pprof` reads, to
// the same principals as the metrics. They hold stacks, counts and sizes,
// never memory contents: the goroutine dump with function arguments
// (debug=2), whose words could be a key passed by value, is not served.

// snapshotProfiles are the profiles answered as they stand at the request.
var snapshotProfiles = []string{"heap", "allocs", "goroutine"}

// Bounds of the seconds a CPU profile or an execution trace records. The
// default is the one `go tool pprof` assumes.
const (
	defaultProfileSeconds = 30
	maxProfileSeconds     = 300
)

func (s *Server) routeProfiles() {
	s.handle("GET /debug/pprof/profile", s.handleCPUProfile)
	s.handle("GET /debug/pprof/trace", s.handleTrace)
	for _, name := range snapshotProfiles {
		s.handle("GET /debug/pprof/"+name, s.snapshotProfileHandler(name))
	}
}

// handleCPUProfile records the node's CPU profile for ?seconds=N (default 30).
func (s *Server) handleCPUProfile(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireMonitoring(r, "read profiles"); err != nil {
		return err
	}
	return s.record(w, r, "profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// handleTrace records the runtime's execution trace for ?seconds=N (default 30).
func (s *Server) handleTrace(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireMonitoring(r, "read profiles"); err != nil {
		return err
	}
	return s.record(w, r, "trace", trace.Start, trace.Stop)
}

// StopRecordings ends the CPU profiles and execution traces being
// recorded, each answered with what it recorded so far, and ends at once
// any started later. A node shutting down calls it (through
// http.Server.RegisterOnShutdown), so that a recording does not hold the
// shutdown for the rest of its seconds.
func (s *Server) StopRecordings() { s.stopOnce.Do(func() { close(s.stopping) }) }

// record streams what start writes to w until the request's seconds have
// passed, the caller has gone or the server stops recording, then stops.
// The runtime records one CPU profile and one trace at a time: a second is
// refused, not queued, since waiting for the first would stretch the
// second's window.
func (s *Server) record(w http.ResponseWriter, r *http.Request, name string, start func(io.Writer) error, stop func()) error {
	d, err := profileDuration(r)
	if err != nil {
		return err
	}
	// The headers must be in place before start: from then on the runtime
	// may write the body at any time.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	if err := start(w); err != nil {
		w.Header().Del("Content-Disposition")
		return &Error{Status: http.StatusConflict, Code: "ProfileInProgress",
			Message: fmt.Sprintf("another %s is being recorded on this node; retry when it ends", name)}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.stopping:
	}
	stop()
	return nil
}

// profileDuration is the request's ?seconds, 1 to maxProfileSeconds.
func profileDuration(r *http.Request) (time.Duration, error) {
	raw := r.URL.Query().Get("seconds")
	if raw == "" {
		return defaultProfileSeconds * time.Second, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxProfileSeconds {
		return 0, &Error{Status: http.StatusBadRequest, Code: "InvalidParameter",
			Message: fmt.Sprintf("seconds must be a whole number from 1 to %d, not %q", maxProfileSeconds, echo(raw, 20))}
	}
	return time.Duration(n) * time.Second, nil
}

// snapshotProfileHandler answers the named profile as it stands: gzipped
// protocol buffers, or text with ?debug=1. ?gc=1 collects garbage first, so
// that a heap profile shows only live memory.
func (s *Server) snapshotProfileHandler(name string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.requireMonitoring(r, "read profiles"); err != nil {
			return err
		}
		q := r.URL.Query()
		if q.Has("seconds") {
			return &Error{Status: http.StatusBadRequest, Code: "InvalidParameter",
				Message: fmt.Sprintf("the %s profile is a snapshot and takes no seconds; fetch it twice and compare with `go tool pprof -diff_base`", name)}
		}
		debug, err := zeroOrOne(q.Get("debug"), "debug")
		if err != nil {
			return err
		}
		gc, err := zeroOrOne(q.Get("gc"), "gc")
		if err != nil {
			return err
		}
		if gc == 1 {
			runtime.GC()
		}
		if debug == 1 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		}
		// A write error is the caller gone: nothing is left to answer.
		_ = pprof.Lookup(name).WriteTo(w, debug)
		return nil
	}
}

// zeroOrOne reads a flag parameter: absent is 0.
func zeroOrOne(raw, param string) (int, error) {
	switch raw {
	case "", "0":
		return 0, nil
	case "1":
		return 1, nil
	}
	return 0, &Error{Status: http.StatusBadRequest, Code: "InvalidParameter",
		Message: fmt.Sprintf("%s must be 0 or 1, not %q", param, echo(raw, 20))}
}
