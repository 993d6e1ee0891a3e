package kql

import "strings"

// _GetWatchlist('alias') reads a watchlist: reference rows a workspace
// keeps beside its logs. The engine knows nothing of where watchlists are
// kept: a source serves each one as a table under WatchlistTable(alias), a
// name no log table can have, so that a query naming one binds at Compile
// (a rule naming an unknown watchlist is refused when it is saved) and
// scans through the Source like any table. Inside a stored function an
// unknown watchlist has no rows instead, as the cloud answers: parsers
// written for it read watchlists that need not exist (ASimDisabledParsers).
// Wildcards (union *, search) leave watchlists out, as they are not logs.

// WatchlistTable is the catalog name of the watchlist alias.
func WatchlistTable(alias string) string { return watchlistPrefix + alias + "')" }

// WatchlistAlias is the alias of a watchlist's catalog name, and whether
// name is one.
func WatchlistAlias(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, watchlistPrefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "')")
}

const watchlistPrefix = "_GetWatchlist('"

// WatchlistColumns are the columns _GetWatchlist returns before the
// watchlist's own, which are strings: the item's ID, when it last changed,
// the value of the watchlist's search key column, and the item as a bag of
// column to value.
var WatchlistColumns = []Column{
	{Name: "_DTItemId", Type: TypeString},
	{Name: "LastUpdatedTimeUTC", Type: TypeDatetime},
	{Name: "SearchKey", Type: TypeString},
	{Name: "WatchlistItem", Type: TypeDynamic},
}

// watchlistOperator names the memory a watchlist's rows hold in a run.
const watchlistOperator = "_GetWatchlist"

// getWatchlist binds _GetWatchlist('alias') to the source's table of that
// watchlist. Its rows are charged to the run's memory while the scan is
// open: what the source says it holds (MemoryHolder), else the batches.
func (p *planner) getWatchlist(x *astCall) (*plan, error) {
	usage := "_GetWatchlist() expects one argument, a watchlist's alias as a string literal, such as _GetWatchlist('vips')"
	if len(x.Args) != 1 {
		return nil, bindErr(x.P, "%s", usage)
	}
	lit, ok := x.Args[0].(*astLit)
	if !ok || lit.T != TypeString {
		return nil, bindErr(x.P, "%s", usage)
	}
	alias := lit.Val.(string)
	name := WatchlistTable(alias)
	if _, ok := p.cat.Table(name); !ok {
		if p.inStored > 0 {
			// parsers written for the cloud read optional watchlists (ASimDisabledParsers),
			// which the cloud's _GetWatchlist answers with no rows when they do not exist
			return rowsPlan(watchlistCols(), func() ([]Row, error) { return nil, nil }), nil
		}
		return nil, bindErr(x.P, "unknown watchlist '%s'; list the workspace's watchlists with `sealwatch watchlist list` (GET …/providers/Microsoft.SecurityInsights/watchlists); aliases are case-sensitive", shorten(alias))
	}
	pl, err := p.scanTable(x, name, false)
	if err != nil {
		return nil, err
	}
	pl.scan.account = watchlistOperator
	pl.ingest = nil // its rows have no ingestion time
	return pl, nil
}

// MemoryHolder is implemented by a BatchIterator that holds what it scans
// in memory while it is open, as a source holds a watchlist read whole: the
// scan charges that to the query's memory when it opens, whatever columns
// the query reads, instead of the batches as they come.
type MemoryHolder interface {
	HeldBytes() int64
}

// charge opens the scan's memory account for operator op.
func (s *scanCols) charge(op string) error {
	s.acct = s.run.account(op)
	h, ok := s.it.(MemoryHolder)
	if !ok {
		return nil
	}
	s.held = true
	if err := s.acct.add(h.HeldBytes()); err != nil {
		s.Close()
		return err
	}
	return nil
}

// shorten cuts a name from the query for a message.
func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// batchBytes estimates the memory a source's batch holds.
func batchBytes(b *Batch) int64 {
	var n int64
	for i := range b.Columns {
		if v := b.vector(i); v != nil {
			for _, s := range v.Strings {
				n += 16 + int64(len(s))
			}
			for _, s := range v.Dict {
				n += 16 + int64(len(s))
			}
			n += 4*int64(len(v.Codes)) + 8*int64(len(v.Ints)+len(v.Reals)+len(v.Bools))
			continue
		}
		for _, x := range b.Columns[i] {
			n += cellBytes + valueBytes(x)
		}
	}
	return n
}

// watchlistCols are the columns of a watchlist that does not exist: those every watchlist has.
func watchlistCols() []colInfo {
	cols := make([]colInfo, len(WatchlistColumns))
	for i, c := range WatchlistColumns {
		cols[i] = colInfo{Name: c.Name, Type: c.Type}
	}
	return cols
}
