package kql

import "context"

// Function is a function stored in a workspace (a saved search with a
// function alias): any query or rule of the workspace may call it by Name,
// as if it were declared with let at the top of the query.
type Function struct {
	Name string
	// Parameters is the parameter list as the cloud stores it, without the
	// parentheses: "starttime:datetime=datetime(null), T:(TimeGenerated:datetime)".
	Parameters string
	// Body is the function's query: lets and one tabular or scalar expression.
	Body string
}

// FunctionSource is a Source that also serves its workspace's stored functions.
type FunctionSource interface {
	Functions(ctx context.Context) ([]Function, error)
}
