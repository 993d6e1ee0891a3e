package kql

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// didYouMean is a bind error's suggestion for a mistyped name: "; did you
// mean 'Computer'?" naming the candidate nearest to name, or "" when none is
// near enough to be the likely intent.
func didYouMean(name string, candidates []string) string {
	if s := nearestName(name, candidates); s != "" {
		return fmt.Sprintf("; did you mean '%s'?", s)
	}
	return ""
}

// nearestName is the candidate with the fewest edits from name, letter case
// aside (names in KQL are case-sensitive, and a wrong case is a common slip),
// within a third of name's length and never more than 3 edits, so that a
// short name is not matched to any other short name. Ties go to the earlier
// candidate, as the columns in scope come in their order.
func nearestName(name string, candidates []string) string {
	limit := min(3, utf8.RuneCountInString(name)/3)
	lower := []rune(strings.ToLower(name))
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := editDistance(lower, []rune(strings.ToLower(c)), bestDist); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, or any value
// of at least bound once it is clear the distance reaches bound.
func editDistance(a, b []rune, bound int) int {
	if d := len(a) - len(b); d >= bound || -d >= bound {
		return bound
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= bound {
			return bound
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// colNames is the names of cols, for didYouMean.
func colNames(cols []colInfo) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// tableNames is the names of the catalog's tables, for didYouMean.
func (c Catalog) tableNames() []string {
	out := make([]string, len(c.Tables))
	for i, t := range c.Tables {
		out[i] = t.Name
	}
	return out
}

// functionNames is the names of the catalog's stored functions, for didYouMean.
func (c Catalog) functionNames() []string {
	out := make([]string, len(c.Functions))
	for i, f := range c.Functions {
		out[i] = f.Name
	}
	return out
}

// builtinNames is the names of the built-in scalar functions, sorted so
// that a tie between two goes the same way every time.
func builtinNames() []string {
	return slices.Sorted(maps.Keys(funcs))
}

// operatorNames is the names of the tabular operators, sorted so that a tie
// between two goes the same way every time.
func operatorNames() []string {
	return slices.Sorted(maps.Keys(operatorParsers))
}
