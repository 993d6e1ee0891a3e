package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sealwatch/sealwatch/internal/replay"
)

// ReplayGuard is the record of taken Data Collector signatures the API consults:
// replay.Guard (shared by the nodes of a cluster) and replay.Memory (one node's) satisfy it.
type ReplayGuard interface {
	// Reserve records mac, the signature of a request signed at date, or refuses it with
	// replay.ErrOutsideWindow, replay.ErrBeforeRecord, replay.ErrSeen or *replay.FullError.
	Reserve(ctx context.Context, mac []byte, date time.Time) (release func(context.Context) error, err error)
	// CheckDate returns replay.ErrOutsideWindow for a date outside the clock window.
	CheckDate(date time.Time) error
	// Since is when the record began.
	Since() time.Time
}

// reserveCollectorRequest records the signature mac of a Data Collector request signed at
// date, or refuses the request: its date is outside the window (403), it was signed before
// the record began (403), its signature was already taken, by this node or another (409),
// or a lone node's record is full (429). The caller calls release if the request is then not
// stored, so that a retry of it is not a duplicate.
func (s *Server) reserveCollectorRequest(r *http.Request, mac []byte, date time.Time) (release func(), err error) {
	rel, err := s.cfg.CollectorReplays.Reserve(r.Context(), mac, date)
	if err != nil {
		return nil, s.replayError(err)
	}
	return func() {
		// The request's own context may be ending with its failure; the release is quick.
		if err := rel(context.WithoutCancel(r.Context())); err != nil {
			s.log.Warn("signature of a request that was not stored stays recorded: a retry of it is refused as a duplicate",
				"requestId", requestID(r), "err", err)
		}
	}, nil
}

// checkCollectorDate refuses a request signed outside the clock window before its body is
// read.
func (s *Server) checkCollectorDate(date time.Time) error {
	if err := s.cfg.CollectorReplays.CheckDate(date); err != nil {
		return s.replayError(err)
	}
	return nil
}

// replayError words the replay record's refusals; a failure of the database is passed on.
func (s *Server) replayError(err error) error {
	var full *replay.FullError
	switch {
	case errors.Is(err, replay.ErrOutsideWindow):
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization",
			Message: "x-ms-date is more than 15 minutes from the server's clock; sign the request with the current time"}
	case errors.Is(err, replay.ErrBeforeRecord):
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization",
			Message: fmt.Sprintf("x-ms-date is before Sealwatch began recording Data Collector signatures (%s), so it cannot tell whether it already stored the request; sign it again with the current time",
				s.cfg.CollectorReplays.Since().UTC().Format(http.TimeFormat))}
	case errors.As(err, &full):
		return &Error{Status: http.StatusTooManyRequests, Code: "ThrottledError",
			RetryAfter: max(1, int((full.RetryAfter+time.Second-1)/time.Second)),
			Message:    fmt.Sprintf("the node remembers the signatures of the last %d Data Collector requests for the 15-minute clock window, to refuse replays, and holds that many; retry after Retry-After seconds", full.Limit)}
	case errors.Is(err, replay.ErrSeen):
		return &Error{Status: http.StatusConflict, Code: "DuplicateRequest",
			Message: "a request with this signature was already accepted: the signature covers the date to the second and the body's length, not the body, so Sealwatch takes each signature once within the 15-minute clock window, whichever node it is sent to. " +
				"A retry of a request that was stored is a duplicate and is not stored again; to send new rows, sign each request with a fresh x-ms-date"}
	}
	return err
}
