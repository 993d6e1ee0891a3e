package kql

import "strings"

// crossServices are the functions through which a cloud query reads another service's or
// another workspace's data: Azure Resource Graph (arg("").Resources), Azure Data Explorer
// (adx(), cluster().database()), Application Insights (app()), other workspaces
// (workspace()) and resources (resource()). A sealed workspace answers from its own tables
// only, so these are refused when the query compiles, saying why, rather than failing as an
// unknown function or a non-table.
var crossServices = map[string]string{
	"arg":       "Azure Resource Graph",
	"adx":       "an Azure Data Explorer cluster",
	"cluster":   "an Azure Data Explorer cluster",
	"database":  "another database",
	"app":       "an Application Insights resource",
	"workspace": "another Log Analytics workspace",
	"resource":  "an Azure resource's logs",
}

// crossServiceCall is the call at the root of e (arg("").Resources, workspace("w").T), when it
// is one of crossServices and sc binds no function of that name.
func crossServiceCall(e astExpr, sc *scope) (*astCall, bool) {
	for {
		switch x := e.(type) {
		case *astMember:
			e = x.X
		case *astCall:
			_, ok := crossServices[strings.ToLower(x.Name)]
			return x, ok && sc.lookup(x.Name) == nil
		default:
			return nil, false
		}
	}
}

// crossServiceErr refuses a query of another service's data.
func crossServiceErr(c *astCall) error {
	name := strings.ToLower(c.Name)
	return bindErr(c.P, "%s() reads %s, outside this workspace: a sealed workspace answers from its own tables only and does not reach "+
		"other services or workspaces; ingest the data into one of its tables, or read a reference file with externaldata", name, crossServices[name])
}
