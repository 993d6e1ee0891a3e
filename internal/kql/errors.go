package kql

import (
	"errors"
	"fmt"
)

// SyntaxError is a query that does not parse; Line and Col are 1-based.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at %d:%d: %s", e.Line, e.Col, e.Msg)
}

// BindError is a query that parses but names an unknown table, column or function, or
// combines types the language does not allow.
type BindError struct {
	Line, Col int
	Msg       string
}

func (e *BindError) Error() string {
	return fmt.Sprintf("semantic error at %d:%d: %s", e.Line, e.Col, e.Msg)
}

func bindErr(p srcPos, format string, args ...any) error {
	return &BindError{Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)}
}

// Limit errors: callers map them to the query API's error codes.
var (
	// ErrTooManyRows: the result has more rows than Options.MaxRows.
	ErrTooManyRows = errors.New("query result exceeds the row limit")
	// ErrMemoryLimit: the query's operators needed more memory than Options.MaxMemory.
	ErrMemoryLimit = errors.New("query exceeds its memory limit")
	// ErrNodeMemory: the node's query memory (Options.Memory) stayed in use by other queries
	// for longer than the pool's wait; the query may succeed when retried.
	ErrNodeMemory = errors.New("the node's query memory is in use")
)

// LimitError names the limit hit and, for memory, the operator that hit it.
type LimitError struct {
	Limit    int64  // rows, or bytes for memory
	Operator string // for memory: the operator that needed more
	Err      error  // ErrTooManyRows, ErrMemoryLimit or ErrNodeMemory
}

func (e *LimitError) Error() string {
	switch e.Err {
	case ErrMemoryLimit:
		return fmt.Sprintf("%v: operator %s needed more than the query's %s; narrow the time range, or add filters or take before it", e.Err, e.Operator, FormatBytes(e.Limit))
	case ErrNodeMemory:
		return fmt.Sprintf("%v: operator %s waited for memory while other queries held all of the node's %s; retry shortly", e.Err, e.Operator, FormatBytes(e.Limit))
	}
	return fmt.Sprintf("%v of %d rows; add take, summarize or filters", e.Err, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.Err }

// FormatBytes writes a byte count in the largest binary unit that divides it, so that a
// limit reads as it was set (1 GiB, 256 MiB): for the messages of the query's limits here,
// and of the sources' (externaldata's) that the engine's errors stand beside.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n > 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
