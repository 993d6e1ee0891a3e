package kql

import (
	"maps"
	"slices"
)

// Builtins are the words of the language the engine knows, each list
// sorted: what an editor offers to complete.
type Builtins struct {
	Operators    []string // the tabular operators, written after |
	Functions    []string // the scalar functions
	Aggregations []string // the aggregation functions of summarize
}

// BuiltinNames lists the engine's tabular operators, scalar functions and
// aggregations.
func BuiltinNames() Builtins {
	scalar := slices.Collect(maps.Keys(funcs))
	scalar = slices.AppendSeq(scalar, maps.Keys(specialForms))
	slices.Sort(scalar)
	return Builtins{
		Operators:    slices.Sorted(maps.Keys(operatorParsers)),
		Functions:    slices.Compact(scalar),
		Aggregations: slices.Sorted(maps.Keys(aggs)),
	}
}
