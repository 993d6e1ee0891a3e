// Package kql compiles and runs Kusto Query Language queries — the hunting and detection-rule
// language of the workspace — over any Source of tables, pushing time ranges, simple
// predicates and the columns a query touches down to the source so that sealed columns a
// query never reads are never opened.
//
// A query goes through four stages: a hand-written lexer and recursive-descent parser build an
// AST; the planner binds names and types against a Catalog of tables and stored functions (unknown tables, columns and
// functions are *BindError values, reported before anything runs); a second planning pass at Run
// time builds a pipeline of streaming operators over the Source; and the result is shaped like a
// Log Analytics query API response. What the operators hold is charged to a per-query limit
// and to a MemoryPool that the queries of a node share (memory.go).
//
// Each tabular operator is one file, op_<name>.go: its AST node (an astOp), its parse function
// and its bind method, which plans it over its input, with its iterators. Adding an operator is
// such a file plus one entry per name it is written with in operatorParsers (parser.go); the
// helpers operators share stay in plan.go (plans, scans, filters) and pushdown.go.
package kql
