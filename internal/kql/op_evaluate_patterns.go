package kql

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Frequent patterns: basket and autocluster. Both read their whole input and look for
// patterns, sets of (column, value) items shared by many rows; both output SegmentId, Count
// and Percent, then the input's columns, each holding the pattern's value or a wildcard (null,
// or the CustomWildcard given for the column's type) where the pattern leaves it free.
//
// The items are the non-empty values of the input's scalar columns (dynamic columns, the
// weight column and null or empty values are never part of a pattern). Patterns are found
// level by level (Apriori): an item set is counted only when all of its smaller sets were
// frequent. A pattern is reported only when it is closed: no pattern of one more item has the
// same count, so that a value implied by the others is shown rather than left as a wildcard.

// patternOpts are a plugin's settings.
type patternOpts struct {
	minShare  float64 // of the total weight, for a pattern to be frequent
	maxDims   int     // items in a pattern at most
	weight    int     // input column of each row's weight, or -1
	wildcards map[Type]any
}

// bindBasket is basket([Threshold [, WeightColumn [, MaxDimensions [, CustomWildcard, ...]]]]):
// every closed pattern whose rows weigh at least Threshold (default 0.05) of the input, with
// at most MaxDimensions (default 5) items, largest count first.
func bindBasket(p *planner, in *plan, o *astEvaluateOp, ec *ectx) (*plan, error) {
	opts, err := p.patternArgs(in, o, ec, 0.05, 5)
	if err != nil {
		return nil, err
	}
	if opts.minShare < 0.015 || opts.minShare > 1 {
		return nil, bindErr(o.P, "basket's Threshold is between 0.015 and 1, not %g", opts.minShare)
	}
	return p.patternPlan(in, o, opts, func(ps []pattern, _ *patternMiner, _ int) []pattern { return ps })
}

// bindAutocluster is autocluster([SizeWeight [, WeightColumn [, NumSeeds [, CustomWildcard,
// ...]]]]): a few patterns that together cover the input. Not the Seed-Expand search of the
// cloud's engine: it takes the closed patterns of at least 5% of the input, scores each by the
// documented weighted geometric mean of its coverage and of the share of columns it fixes
// (weights SizeWeight, default 0.5, and 1-SizeWeight), and picks them greedily, best score on
// the rows not yet covered first, until no pattern adds 5% of the input or NumSeeds (default
// 25) are picked. Patterns may overlap and some rows may belong to none, as documented.
func bindAutocluster(p *planner, in *plan, o *astEvaluateOp, ec *ectx) (*plan, error) {
	sizeWeight := 0.5
	if v, err := p.constArg(o, o.arg(0, "SizeWeight"), "SizeWeight", ec, TypeReal); err != nil {
		return nil, err
	} else if v != nil {
		sizeWeight, _ = asReal(v)
	}
	if sizeWeight <= 0 || sizeWeight >= 1 {
		return nil, bindErr(o.P, "autocluster's SizeWeight is between 0 and 1, not %g", sizeWeight)
	}
	opts, err := p.patternArgs(in, o, ec, 0.05, 25)
	if err != nil {
		return nil, err
	}
	seeds := opts.maxDims
	opts.minShare, opts.maxDims = 0.05, 5
	pick := func(ps []pattern, m *patternMiner, dims int) []pattern {
		return pickClusters(ps, m, dims, sizeWeight, seeds)
	}
	return p.patternPlan(in, o, opts, pick)
}

// patternArgs reads the arguments basket and autocluster share: the first (threshold or size
// weight, read by the caller unless it is basket's threshold), the weight column, a count
// (MaxDimensions or NumSeeds), then wildcards.
func (p *planner) patternArgs(in *plan, o *astEvaluateOp, ec *ectx, share float64, count int) (patternOpts, error) {
	opts := patternOpts{minShare: share, maxDims: count, weight: -1, wildcards: map[Type]any{}}
	if err := o.checkNames(); err != nil {
		return opts, err
	}
	if o.Name == "basket" {
		v, err := p.constArg(o, o.arg(0, ""), "Threshold", ec, TypeReal)
		if err != nil {
			return opts, err
		}
		if v != nil {
			opts.minShare, _ = asReal(v)
		}
	}
	if w := o.arg(1, ""); w != nil {
		i, err := o.inputColumn(in, w, "WeightColumn")
		if err != nil {
			return opts, err
		}
		if i < 0 || !isNumeric(in.cols[i].Type) {
			return opts, bindErr(w.pos(), "%s's WeightColumn must be a numeric column of its input", o.Name)
		}
		opts.weight = i
	}
	v, err := p.constArg(o, o.arg(2, ""), "third argument", ec, TypeLong)
	if err != nil {
		return opts, err
	}
	if v != nil {
		n, _ := asLong(v)
		if n < 1 {
			return opts, bindErr(o.arg(2, "").pos(), "%s's third argument must be at least 1", o.Name)
		}
		opts.maxDims = int(n)
	}
	for i := 3; i < o.positional(); i++ {
		c, err := p.expr(o.arg(i, ""), ec)
		if err != nil {
			return opts, err
		}
		if !c.konst {
			return opts, bindErr(o.arg(i, "").pos(), "%s's wildcards must be constants", o.Name)
		}
		opts.wildcards[c.t] = c.value()
	}
	return opts, nil
}

// pattern is a set of items, one per column at most, and the weight of the rows holding it.
type pattern struct {
	items  []int // item ids, in column order
	weight float64
	rows   []int32 // the rows holding it (kept for autocluster's greedy pick)
}

// patternItem is a column's value.
type patternItem struct {
	col int
	val any
}

// patternPlan reads the input, mines its closed frequent patterns and lays out those pick
// keeps.
func (p *planner) patternPlan(in *plan, o *astEvaluateOp, opts patternOpts, pick func([]pattern, *patternMiner, int) []pattern) (*plan, error) {
	p.markAll(in)
	cols := []colInfo{{Name: "SegmentId", Type: TypeLong}, {Name: "Count", Type: TypeLong}, {Name: "Percent", Type: TypeReal}}
	var dims []int
	for i, c := range in.cols {
		if i == opts.weight {
			continue
		}
		cols = append(cols, c)
		if c.Type != TypeDynamic {
			dims = append(dims, i)
		}
	}
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		acct := p.run.account(o.Name)
		rows, err := p.run.collect(in, acct)
		if err != nil {
			acct.release()
			return nil, err
		}
		m := newPatternMiner(rows, dims, opts)
		ps, err := m.mine(ctx, acct)
		if err != nil {
			acct.release()
			return nil, err
		}
		ps = pick(ps, m, len(dims))
		res := make([]Row, len(ps))
		for s, pt := range ps {
			row := make(Row, len(cols))
			row[0], row[1] = int64(s), int64(math.Round(pt.weight))
			row[2] = 0.0
			if m.total > 0 {
				row[2] = 100 * pt.weight / m.total
			}
			fixed := map[int]any{}
			for _, it := range pt.items {
				fixed[m.items[it].col] = m.items[it].val
			}
			k := 3
			for i, c := range in.cols {
				if i == opts.weight {
					continue
				}
				if v, ok := fixed[i]; ok {
					row[k] = v
				} else {
					row[k] = castFromDynamic(opts.wildcards[c.Type], c.Type)
				}
				k++
			}
			res[s] = row
		}
		if err := acct.setRows(res); err != nil {
			acct.release()
			return nil, err
		}
		return &sliceIter{rows: res, acct: acct}, nil
	}
	return out, nil
}

// patternMiner holds the input as item ids per row.
type patternMiner struct {
	opts    patternOpts
	items   []patternItem
	rowsOf  [][]int // each row's frequent items, in column order
	weights []float64
	total   float64
}

func newPatternMiner(rows []Row, dims []int, opts patternOpts) *patternMiner {
	m := &patternMiner{opts: opts, weights: make([]float64, len(rows))}
	for r, row := range rows {
		w := 1.0
		if opts.weight >= 0 {
			w, _ = asReal(row[opts.weight])
		}
		m.weights[r] = w
		m.total += w
	}
	// level 1: the frequent items
	ids := map[string]int{}
	var counts []float64
	raw := make([][]int, len(rows))
	for r, row := range rows {
		for _, c := range dims {
			v := row[c]
			if v == nil || v == "" {
				continue
			}
			k := string(keyAppend([]byte{byte(c), byte(c >> 8)}, v))
			id, ok := ids[k]
			if !ok {
				id = len(m.items)
				ids[k] = id
				m.items = append(m.items, patternItem{col: c, val: v})
				counts = append(counts, 0)
			}
			counts[id] += m.weights[r]
			raw[r] = append(raw[r], id)
		}
	}
	min := m.opts.minShare * m.total
	m.rowsOf = make([][]int, len(rows))
	for r, its := range raw {
		for _, id := range its {
			if counts[id] >= min && counts[id] > 0 {
				m.rowsOf[r] = append(m.rowsOf[r], id)
			}
		}
	}
	return m
}

// mine finds the frequent patterns level by level and keeps the closed ones, largest weight
// first, then more items first.
func (m *patternMiner) mine(ctx context.Context, acct *memAccount) ([]pattern, error) {
	min := m.opts.minShare * m.total
	var all []pattern
	level := map[string]*pattern{}
	// level 1
	for r, its := range m.rowsOf {
		for _, id := range its {
			m.count(level, []int{id}, r)
		}
	}
	for size := 1; len(level) > 0; size++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var frequent []*pattern
		for _, pt := range level {
			if pt.weight >= min && pt.weight > 0 {
				frequent = append(frequent, pt)
			}
		}
		if len(frequent) == 0 {
			break
		}
		known := map[string]bool{}
		var held int64
		for _, pt := range frequent {
			known[itemsKey(pt.items)] = true
			all = append(all, *pt)
			held += int64(96 + 8*len(pt.items) + 4*len(pt.rows))
		}
		if err := acct.add(held); err != nil {
			return nil, err
		}
		if size == m.opts.maxDims {
			break
		}
		// next level: extend each row's frequent sets of this size by one of its later items,
		// counting a set only when every subset one item smaller is frequent
		next := map[string]*pattern{}
		for _, pt := range frequent {
			for _, r := range pt.rows {
				last := pt.items[len(pt.items)-1]
				for _, id := range m.rowsOf[r] {
					if id <= last || m.hasColumn(pt.items, m.items[id].col) {
						continue
					}
					cand := append(append([]int(nil), pt.items...), id)
					if subsetsKnown(cand, known) {
						m.count(next, cand, int(r))
					}
				}
			}
		}
		level = next
	}
	// closed: no frequent pattern of one more item has the same weight
	var closed []pattern
	for _, pt := range all {
		if !supersetSame(pt, all) {
			closed = append(closed, pt)
		}
	}
	sort.SliceStable(closed, func(i, j int) bool {
		a, b := closed[i], closed[j]
		if a.weight != b.weight {
			return a.weight > b.weight
		}
		if len(a.items) != len(b.items) {
			return len(a.items) > len(b.items)
		}
		return itemsKey(a.items) < itemsKey(b.items)
	})
	return closed, nil
}

// hasColumn reports whether one of items is a value of column c.
func (m *patternMiner) hasColumn(items []int, c int) bool {
	for _, id := range items {
		if m.items[id].col == c {
			return true
		}
	}
	return false
}

// count adds row r to the pattern of items in level.
func (m *patternMiner) count(level map[string]*pattern, items []int, r int) {
	k := itemsKey(items)
	pt := level[k]
	if pt == nil {
		pt = &pattern{items: items}
		level[k] = pt
	}
	pt.weight += m.weights[r]
	pt.rows = append(pt.rows, int32(r))
}

func itemsKey(items []int) string {
	var b strings.Builder
	for _, id := range items {
		b.WriteString(strconv.Itoa(id))
		b.WriteByte(',')
	}
	return b.String()
}

// subsetsKnown reports whether every subset of cand one item smaller is frequent.
func subsetsKnown(cand []int, known map[string]bool) bool {
	sub := make([]int, 0, len(cand)-1)
	for skip := range cand {
		sub = sub[:0]
		for i, id := range cand {
			if i != skip {
				sub = append(sub, id)
			}
		}
		if !known[itemsKey(sub)] {
			return false
		}
	}
	return true
}

// supersetSame reports whether a pattern of one more item has pt's weight.
func supersetSame(pt pattern, all []pattern) bool {
	for _, q := range all {
		if len(q.items) == len(pt.items)+1 && q.weight == pt.weight && containsAll(q.items, pt.items) {
			return true
		}
	}
	return false
}

func containsAll(set, sub []int) bool {
	i := 0
	for _, id := range set {
		if i < len(sub) && sub[i] == id {
			i++
		}
	}
	return i == len(sub)
}

// pickClusters is autocluster's greedy choice among the closed patterns: the best score by
// the weight of the rows a pattern adds to those already covered.
func pickClusters(ps []pattern, m *patternMiner, dims int, sizeWeight float64, seeds int) []pattern {
	if m.total <= 0 || dims == 0 {
		return nil
	}
	covered := make([]bool, len(m.weights))
	used := make([]bool, len(ps))
	var picked []pattern
	for len(picked) < seeds {
		best, bestScore := -1, 0.0
		for i, pt := range ps {
			if used[i] {
				continue
			}
			fresh := 0.0
			for _, r := range pt.rows {
				if !covered[r] {
					fresh += m.weights[r]
				}
			}
			share := fresh / m.total
			score := math.Pow(share, sizeWeight) * math.Pow(float64(len(pt.items))/float64(dims), 1-sizeWeight)
			if share >= 0.05 && score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		for _, r := range ps[best].rows {
			covered[r] = true
		}
		picked = append(picked, ps[best])
	}
	return picked
}
