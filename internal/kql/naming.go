package kql

// The language names an unnamed result column after its expression: a column keeps its
// name, a property path joins its parts with "_" (Props.ip is Props_ip), an aggregate is
// its function's name, "_" and its argument's name (count_, sum_Count), and the functions
// below pass their first argument's name through, so that `summarize by tostring(x)` names
// its column x. Anything else gets Column1, Column2, … in the order it is written.

// firstArgNamed lists the scalar functions whose result is named after their first
// argument: the conversions, the parsers of a text into dynamic, formatting and rounding.
// Other functions (strlen, tolower, …) give no name, as in the cloud's engine.
var firstArgNamed = map[string]bool{
	"tostring": true, "tohex": true, "todynamic": true, "toobject": true,
	"tolong": true, "toint": true, "toreal": true, "todouble": true, "todecimal": true,
	"todatetime": true, "totimespan": true, "totime": true,
	"tobool": true, "toboolean": true, "toguid": true,
	"parse_json": true, "parsejson": true, "parse_xml": true, "parse_csv": true,
	"split": true, "format_datetime": true, "format_timespan": true,
	"bin": true, "bin_at": true, "floor": true,
}

// prefixArgNamed lists the scalar functions named by a prefix and their first argument's
// name, as aggregates are (gettype(x) is type_x).
var prefixArgNamed = map[string]string{"gettype": "type_"}

// callResultName is the name the language derives for a call to the scalar function name
// (lower case) with the bound arguments cs, or "" when it derives none.
func callResultName(name string, cs []cexpr) string {
	if len(cs) == 0 || cs[0].name == "" {
		return ""
	}
	if firstArgNamed[name] {
		return cs[0].name
	}
	if prefix, ok := prefixArgNamed[name]; ok {
		return prefix + cs[0].name
	}
	return ""
}
