package logstore

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt means sealed data failed its integrity check: a flipped bit,
	// a block or file moved to another place, a truncated or foreign file.
	// Nothing from such data is ever returned.
	ErrCorrupt = errors.New("sealed log data failed its integrity check")
	// ErrInvalidInput means an ingest body was refused whole; a *RowError
	// names the row.
	ErrInvalidInput = errors.New("invalid ingest input")
	// ErrInvalidName means a workspace or table name cannot name a directory.
	ErrInvalidName = errors.New("invalid workspace or table name")
	// ErrInvalidScan means a scan request cannot be served as asked.
	ErrInvalidScan = errors.New("invalid scan request")
	// ErrClosed means the store, or the workspace being deleted, is closed.
	ErrClosed = errors.New("log store closed")
	// ErrCountNeedsRows means a scan for row counts (ScanRequest.RowsOnly)
	// met a block whose column holds longs, reals, bools or datetimes under
	// a predicate with a string constant, or whose long, real, datetime or
	// dynamic column an AnyColumn predicate may find its constant in: the
	// query engine reads those values as text, which the store does not, so
	// only the rows can tell.
	ErrCountNeedsRows = errors.New("the count needs the rows read")
)

// RowError names the first row of an ingest body that was refused and why.
// It never holds the row's content: errors reach logs, rows must not.
type RowError struct {
	Index  int    // position of the row in the body's array, from 0
	Reason string // what is wrong, in terms of the schema, not of the values
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %s", e.Index, e.Reason) }

// Unwrap makes every RowError an ErrInvalidInput.
func (e *RowError) Unwrap() error { return ErrInvalidInput }

// authError is a sealed part that failed authentication (see open): a
// flipped bit, a part moved from elsewhere, another key's. Every other
// ErrCorrupt of a block read is of bytes that authenticated.
type authError struct{ msg string }

func (e *authError) Error() string { return ErrCorrupt.Error() + ": " + e.msg }

// Unwrap makes every authError an ErrCorrupt.
func (e *authError) Unwrap() error { return ErrCorrupt }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
