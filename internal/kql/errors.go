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
	// ErrMemoryLimit: an operator needed more memory than Options.MaxMemory.
	ErrMemoryLimit = errors.New("query exceeds the memory limit")
)

// LimitError names the limit hit and, for memory, the operator that hit it.
type LimitError struct {
	Limit    int64
	Operator string // for memory: the operator that exceeded it
	Err      error  // ErrTooManyRows or ErrMemoryLimit
}

func (e *LimitError) Error() string {
	if e.Err == ErrMemoryLimit {
		return fmt.Sprintf("%v: operator %s needed more than %d bytes; narrow the time range or add filters before it", e.Err, e.Operator, e.Limit)
	}
	return fmt.Sprintf("%v of %d rows; add take, summarize or filters", e.Err, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.Err }
