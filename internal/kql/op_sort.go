package kql

import (
	"context"
	"slices"
	"sort"
)

// astSortOp is sort (order) by Keys.
type astSortOp struct {
	P    srcPos
	Keys []astSortKey
}

// astTopOp is top N by Keys.
type astTopOp struct {
	P    srcPos
	N    astExpr
	Keys []astSortKey
}

// astSortKey is one key of sort/top.
type astSortKey struct {
	X          astExpr
	Asc        bool
	NullsFirst bool
}

func (o *astSortOp) opPos() srcPos { return o.P }

func (o *astTopOp) opPos() srcPos { return o.P }

// parseSort reads sort (order) by Key [asc|desc] [nulls first|last], ...
func parseSort(p *parser, pos srcPos, _ string) (astOp, error) {
	if err := p.wantKw("by"); err != nil {
		return nil, err
	}
	keys, err := p.sortKeys()
	return &astSortOp{P: pos, Keys: keys}, err
}

// parseTop reads top N by Key [asc|desc] [nulls first|last], ...
func parseTop(p *parser, pos srcPos, _ string) (astOp, error) {
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.wantKw("by"); err != nil {
		return nil, err
	}
	keys, err := p.sortKeys()
	return &astTopOp{P: pos, N: n, Keys: keys}, err
}

func (o *astSortOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.sortOp(in, o.Keys, nil, ec, "sort")
}

func (o *astTopOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.sortOp(in, o.Keys, o.N, ec, "top")
}

func (p *parser) sortKeys() ([]astSortKey, error) {
	var keys []astSortKey
	for {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		k := astSortKey{X: x}
		switch {
		case p.acceptKw("asc"):
			k.Asc = true
		case p.acceptKw("desc"):
		}
		// Nulls come first ascending and last descending unless stated.
		k.NullsFirst = k.Asc
		if p.acceptKw("nulls") {
			switch {
			case p.acceptKw("first"):
				k.NullsFirst = true
			case p.acceptKw("last"):
				k.NullsFirst = false
			default:
				return nil, p.expected(`"first" or "last"`)
			}
		}
		keys = append(keys, k)
		if !p.acceptOp(",") {
			return keys, nil
		}
	}
}

func (p *planner) sortOp(in *plan, keys []astSortKey, n astExpr, ec *ectx, opName string) (*plan, error) {
	var sk []sortKey
	for _, k := range keys {
		c, err := p.expr(k.X, ec)
		if err != nil {
			return nil, err
		}
		sk = append(sk, sortKey{fn: c.fn, asc: k.Asc, nullsFirst: k.NullsFirst})
	}
	var nfn func(Row) any
	if n != nil {
		c, err := p.expr(n, ec)
		if err != nil {
			return nil, err
		}
		if !isNumeric(c.t) || !c.konst {
			return nil, bindErr(n.pos(), "top needs a constant row count")
		}
		nfn = c.fn
	}
	out := &plan{cols: in.cols}
	out.open = func(ctx context.Context) (iterator, error) {
		limit := int64(-1)
		if nfn != nil {
			l, _ := asLong(nfn(nil))
			limit = max(l, 0)
		}
		// the account holds the rows until the consumer closes the iterator that replays them
		acct := p.run.account(opName)
		var all []Row
		err := readAll(ctx, in.open, func(rows []Row) error {
			if err := acct.addRows(rows); err != nil {
				return err
			}
			all = append(all, rows...)
			// top keeps memory bounded: trim to the best `limit` rows now and then
			if limit >= 0 && int64(len(all)) > 2*limit+4096 {
				best := firstRows(all, sk, int(limit))
				clear(all[copy(all, best):]) // let the trimmed rows go
				all = all[:limit]
				return acct.setRows(all)
			}
			return nil
		})
		if err != nil {
			acct.release()
			return nil, err
		}
		if limit >= 0 && int64(len(all)) > limit {
			all = firstRows(all, sk, int(limit))
		} else {
			sortRows(all, sk)
		}
		return &sliceIter{rows: all, acct: acct}, nil
	}
	return out, nil
}

func sortRows(rows []Row, keys []sortKey) {
	sort.SliceStable(rows, func(i, j int) bool { return lessRows(rows[i], rows[j], keys) })
}

// firstRows is the first n of rows (n < len(rows)) as sortRows orders them. For an n small
// beside the rows (top 5 of a summarize's groups) they are picked in one pass, each row
// compared with the last of the best so far and placed among them by binary search: no sort
// of the rest. Rows that tie keep their order, as in the stable sort.
func firstRows(rows []Row, keys []sortKey, n int) []Row {
	if n > 64 || 4*n > len(rows) {
		sortRows(rows, keys)
		return rows[:n]
	}
	best := make([]Row, 0, n+1)
	for _, r := range rows {
		if len(best) == n && (n == 0 || !lessRows(r, best[n-1], keys)) {
			continue // not before the last of the best: a tie keeps the earlier row
		}
		i := sort.Search(len(best), func(i int) bool { return lessRows(r, best[i], keys) })
		best = slices.Insert(best, i, r)
		best = best[:min(len(best), n)]
	}
	return best
}

type sortKey struct {
	fn         func(Row) any
	asc        bool
	nullsFirst bool
}

func lessRows(a, b Row, keys []sortKey) bool {
	for _, k := range keys {
		x, y := k.fn(a), k.fn(b)
		if x == nil || y == nil {
			if x == nil && y == nil {
				continue
			}
			return (x == nil) == k.nullsFirst
		}
		c := sortCompare(x, y)
		if c == 0 {
			continue
		}
		if k.asc {
			return c < 0
		}
		return c > 0
	}
	return false
}
