package detection

import (
	"slices"
	"time"
)

// window is a span of TimeGenerated that a Scheduled rule's query is run
// over: [start, end).
type window struct {
	start, end time.Time
	outcome    string // OutcomeRan, OutcomeCaughtUp or OutcomeLate
}

// maxCatchUpWindows bounds the windows one tick evaluates for one rule
// after downtime; the rest follow on the next ticks.
const maxCatchUpWindows = 48

// dueWindows returns the windows a Scheduled rule with frequency freq and
// period period must run now, given the end of the last window it ran
// (zero: never) and how far back rows are kept. The second result is the
// end of the last window returned.
//
// Runs end on a grid of freq from the first run, which ends at now
// rounded up to the second. One due run is an
// ordinary run over [end−period, end). More than one means runs were missed
// (the node was down, or the key was unavailable): the rows since the last
// run are then covered once by consecutive windows of one period, the last
// ending on the grid — at most maxCatchUpWindows a tick, never before the
// retention horizon, where rows are gone.
func dueWindows(lastEnd, now time.Time, freq, period, retention time.Duration) ([]window, time.Time) {
	if lastEnd.IsZero() {
		// whole seconds keep the windows readable; rounding up keeps the
		// rows of this very second in the first window
		end := now.Truncate(time.Second)
		if end.Before(now) {
			end = end.Add(time.Second)
		}
		return []window{{start: end.Add(-period), end: end, outcome: OutcomeRan}}, end
	}
	next := lastEnd.Add(freq)
	if now.Before(next) {
		return nil, lastEnd
	}
	missed := int64(now.Sub(lastEnd) / freq) // ≥ 1
	grid := lastEnd.Add(time.Duration(missed) * freq)
	if missed == 1 {
		return []window{{start: next.Add(-period), end: next, outcome: OutcomeRan}}, next
	}
	from := lastEnd
	if horizon := now.Add(-retention); from.Before(horizon) {
		from = horizon
	}
	var ws []window
	for start := from; start.Before(grid) && len(ws) < maxCatchUpWindows; start = start.Add(period) {
		end := start.Add(period)
		if !end.Before(grid) {
			end = grid
			start = grid.Add(-period) // the last window is a whole period, ending on the grid
		}
		ws = append(ws, window{start: start, end: end, outcome: OutcomeCaughtUp})
	}
	return ws, ws[len(ws)-1].end
}

// lateWindows returns the windows to evaluate again for rows that arrived
// after their window had run: rows whose TimeGenerated is in lateMinutes
// (each the start of a minute holding such rows), all before first — the
// start of the earliest window this run evaluates anyway. The windows are
// of one period, laid back from first, so that each late row falls in
// exactly one.
func lateWindows(lateMinutes []time.Time, first time.Time, period time.Duration) []window {
	seen := map[int64]bool{}
	var ws []window
	for _, m := range lateMinutes {
		for _, t := range []time.Time{m, m.Add(time.Minute - time.Nanosecond)} {
			if !t.Before(first) {
				continue
			}
			k := int64(first.Sub(t)-1)/int64(period) + 1 // t ∈ [first−k·period, first−(k−1)·period)
			if seen[k] {
				continue
			}
			seen[k] = true
			end := first.Add(-time.Duration(k-1) * period)
			ws = append(ws, window{start: end.Add(-period), end: end, outcome: OutcomeLate})
		}
	}
	slices.SortFunc(ws, func(a, b window) int { return a.start.Compare(b.start) })
	return ws
}
