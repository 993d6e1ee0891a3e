package wsdata

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/watchlist"
)

// A workspace's watchlists are tables of its Source, under the names
// kql.WatchlistTable gives them, read from the sealed document store: the
// query engine binds _GetWatchlist('alias') against them and scans them
// like any table.

// WithWatchlists makes the source serve wl's watchlists beside the logs,
// and returns it.
func (s *Source) WithWatchlists(wl *watchlist.Watchlists) *Source {
	s.watchlists = wl
	return s
}

// watchlistTables lists the schemas of the workspace's watchlists. It
// decrypts the watchlists' documents, not their items; a workspace without
// watchlists needs no key for it.
func (s *Source) watchlistTables(ctx context.Context) ([]kql.TableSchema, error) {
	if s.watchlists == nil {
		return nil, nil
	}
	list, err := s.watchlists.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list watchlists: %w", err)
	}
	out := make([]kql.TableSchema, 0, len(list))
	for _, w := range list {
		cols := slices.Clone(kql.WatchlistColumns)
		for _, c := range w.Properties.Columns {
			cols = append(cols, kql.Column{Name: c, Type: kql.TypeString})
		}
		out = append(out, kql.TableSchema{Name: kql.WatchlistTable(w.Name), Columns: cols})
	}
	return out, nil
}

// watchlistBatchRows is how many items a batch of a watchlist holds.
const watchlistBatchRows = 4096

// scanWatchlist reads a watchlist's items, decrypting its documents only,
// and hands out the requested columns. Predicates are advisory, and a
// watchlist is small: the engine applies them.
func (s *Source) scanWatchlist(ctx context.Context, alias string, req kql.ScanRequest) (kql.BatchIterator, error) {
	if s.watchlists == nil {
		return nil, fmt.Errorf("scan watchlist %s: this source has no watchlists", alias)
	}
	tab, err := s.watchlists.Table(ctx, alias)
	if err != nil {
		return nil, err
	}
	n := len(tab.Rows)
	columns := make([]func(lo, hi int) (*kql.Vector, []any), len(req.Columns))
	for i, name := range req.Columns {
		col, err := watchlistColumn(tab, alias, name)
		if err != nil {
			return nil, err
		}
		columns[i] = col
	}
	return &watchlistIter{n: n, columns: columns, held: heldBytes(tab)}, nil
}

// heldBytes estimates the memory of a watchlist read whole: its values,
// IDs and times, and their headers.
func heldBytes(tab *watchlist.Table) int64 {
	n := int64(64 * len(tab.Columns))
	for _, r := range tab.Rows {
		n += 16 + int64(len(r.ID)) + 24 + 24 + 16*int64(len(r.Values))
		for _, v := range r.Values {
			n += int64(len(v))
		}
	}
	return n
}

// watchlistColumn returns how to build column name of rows [lo, hi): as a
// typed vector, or boxed for the dynamic WatchlistItem.
func watchlistColumn(tab *watchlist.Table, alias, name string) (func(lo, hi int) (*kql.Vector, []any), error) {
	strs := func(value func(r watchlist.Row) string) func(lo, hi int) (*kql.Vector, []any) {
		return func(lo, hi int) (*kql.Vector, []any) {
			v := &kql.Vector{Type: kql.TypeString, Strings: make([]string, hi-lo)}
			for i, r := range tab.Rows[lo:hi] {
				v.Strings[i] = value(r)
			}
			return v, nil
		}
	}
	switch name {
	case "_DTItemId":
		return strs(func(r watchlist.Row) string { return r.ID }), nil
	case "SearchKey":
		return strs(func(r watchlist.Row) string { return r.Values[tab.SearchKey] }), nil
	case "LastUpdatedTimeUTC":
		return func(lo, hi int) (*kql.Vector, []any) {
			v := &kql.Vector{Type: kql.TypeDatetime, Ints: make([]int64, hi-lo)}
			for i, r := range tab.Rows[lo:hi] {
				v.Ints[i] = r.Updated.UnixNano()
			}
			return v, nil
		}, nil
	case "WatchlistItem":
		return func(lo, hi int) (*kql.Vector, []any) {
			out := make([]any, hi-lo)
			for i, r := range tab.Rows[lo:hi] {
				bag := make(map[string]any, len(tab.Columns))
				for j, c := range tab.Columns {
					bag[c] = r.Values[j]
				}
				out[i] = bag
			}
			return nil, out
		}, nil
	}
	j := slices.Index(tab.Columns, name)
	if j < 0 {
		// the watchlist was uploaded again with other columns since the
		// query was compiled
		return nil, fault.New(fault.Conflict, "Conflict", "watchlist '%s' has no column '%s' any more: it was changed since the query was compiled; run it again", alias, fault.Shorten(name))
	}
	return strs(func(r watchlist.Row) string { return r.Values[j] }), nil
}

// watchlistIter hands out a watchlist's rows in batches.
type watchlistIter struct {
	n, pos  int
	columns []func(lo, hi int) (*kql.Vector, []any)
	held    int64
}

// HeldBytes implements kql.MemoryHolder: the watchlist is held whole while
// it is scanned, whichever columns the query reads.
func (it *watchlistIter) HeldBytes() int64 { return it.held }

func (it *watchlistIter) Next(ctx context.Context) (*kql.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if it.pos >= it.n {
		return nil, io.EOF
	}
	lo, hi := it.pos, min(it.pos+watchlistBatchRows, it.n)
	it.pos = hi
	b := &kql.Batch{Len: hi - lo, Columns: make([][]any, len(it.columns)), Vectors: make([]*kql.Vector, len(it.columns))}
	for i, col := range it.columns {
		b.Vectors[i], b.Columns[i] = col(lo, hi)
	}
	return b, nil
}

func (it *watchlistIter) Close() error { return nil }
