package kql

import (
	"fmt"
	"strings"
)

// Parts of a stored function that CheckFunction names in its errors.
const (
	FunctionPartName       = "name"
	FunctionPartParameters = "parameters"
	FunctionPartBody       = "body"
)

// MaxFunctionNameLength bounds a stored function's name.
const MaxFunctionNameLength = 128

// FunctionError is a stored function that does not parse. Part says which
// of its texts is at fault, and Err's Line and Col count within that text,
// so that a caller can point at the line the author wrote.
type FunctionError struct {
	Part string // FunctionPartName, FunctionPartParameters or FunctionPartBody
	Err  *SyntaxError
}

func (e *FunctionError) Error() string { return "function " + e.Part + ": " + e.Err.Error() }

// Unwrap makes a FunctionError a *SyntaxError for errors.As.
func (e *FunctionError) Unwrap() error { return e.Err }

// ValidFunctionName reports whether name can name a stored function: 1 to
// MaxFunctionNameLength ASCII letters, digits and underscores, not starting
// with a digit, so that a query calls it without brackets.
func ValidFunctionName(name string) bool {
	if name == "" || len(name) > MaxFunctionNameLength || isDigit(name[0]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '$' || !isIdentChar(c) {
			return false
		}
	}
	return true
}

// CheckFunction parses a stored function as a query would declare it, let
// Name = (Parameters) { Body }, without binding it: the tables and functions
// its body names may not exist yet. It returns a *FunctionError naming the
// part at fault, or nil.
func CheckFunction(f Function) error {
	if !ValidFunctionName(f.Name) {
		return &FunctionError{Part: FunctionPartName, Err: &SyntaxError{Line: 1, Col: 1,
			Msg: fmt.Sprintf("a function name is 1-%d letters, digits and underscores, not starting with a digit", MaxFunctionNameLength)}}
	}
	// Each part starts on a line of its own, so that a position in the
	// declaration maps back to a line and column of the part.
	src := "let " + f.Name + " = (\n" + f.Parameters + "\n) {\n" + f.Body + "\n};\nprint 0"
	paramLines := strings.Count(f.Parameters, "\n") + 1
	bodyLines := strings.Count(f.Body, "\n") + 1
	firstBody := paramLines + 3 // line 1 is the let, then the parameters, then ") {"
	b, err := parseQuery(src)
	if err != nil {
		se, ok := err.(*SyntaxError)
		if !ok {
			return err
		}
		switch line := se.Line; {
		case line == 1 && len(src) > MaxQueryBytes:
			return &FunctionError{Part: FunctionPartBody, Err: &SyntaxError{Line: 1, Col: 1,
				Msg: fmt.Sprintf("the function is longer than %d bytes", MaxQueryBytes)}}
		case line == 1: // about the function as a whole, such as a body without an expression
			return &FunctionError{Part: FunctionPartBody, Err: &SyntaxError{Line: 1, Col: 1, Msg: se.Msg}}
		case line < firstBody-1:
			return &FunctionError{Part: FunctionPartParameters, Err: &SyntaxError{Line: line - 1, Col: se.Col, Msg: se.Msg}}
		case line == firstBody-1: // the parameter list did not end where it should
			return &FunctionError{Part: FunctionPartParameters, Err: endOf(f.Parameters, se.Msg)}
		case line < firstBody+bodyLines:
			return &FunctionError{Part: FunctionPartBody, Err: &SyntaxError{Line: line - firstBody + 1, Col: se.Col, Msg: se.Msg}}
		default: // the body did not end where it should
			return &FunctionError{Part: FunctionPartBody, Err: endOf(f.Body, se.Msg)}
		}
	}
	// Text that closes the declaration early would parse as more statements
	// than the one let and the print: it is not a parameter list or a body.
	if len(b.Lets) != 1 || !b.Lets[0].IsFunc || len(b.Exprs) != 1 {
		return &FunctionError{Part: FunctionPartBody, Err: &SyntaxError{Line: 1, Col: 1,
			Msg: "the parameters or the body close the function early: a parameter list holds only parameters, and a body only lets and one expression"}}
	}
	return nil
}

// endOf is a syntax error placed just after the last character of text.
func endOf(text, msg string) *SyntaxError {
	lines := strings.Split(text, "\n")
	last := lines[len(lines)-1]
	return &SyntaxError{Line: len(lines), Col: len([]rune(last)) + 1, Msg: msg}
}
