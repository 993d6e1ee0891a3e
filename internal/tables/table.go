// Package tables is a workspace's declared tables: the standard security
// tables built in, and custom _CL tables declared through the tables API.
// A declared table's columns keep the order they were declared in, and rows
// ingested into it are converted to the declared types, or refused.
package tables

// Column is a declared column, with the type spelled as the cloud's tables
// API spells it: string, int, long, real, boolean (or bool), datetime, guid,
// dynamic.
type Column struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// Schema is a table's name and its columns in declared order.
type Schema struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Columns     []Column `json:"columns"`
}
