package kql

import "fmt"

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

// CheckFunction parses a stored function as the engine does when a query
// first calls it, without binding it: the tables and functions its body
// names may not exist yet. It returns a *FunctionError naming the part at
// fault, its line and column counted within that part, or nil; so a function
// CheckFunction accepts is one a query can call.
func CheckFunction(f Function) error {
	if !ValidFunctionName(f.Name) {
		return &FunctionError{Part: FunctionPartName, Err: &SyntaxError{Line: 1, Col: 1,
			Msg: fmt.Sprintf("a function name is 1-%d letters, digits and underscores, not starting with a digit", MaxFunctionNameLength)}}
	}
	_, err := parseStoredFunction(f)
	return err
}
