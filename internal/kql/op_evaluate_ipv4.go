package kql

import (
	"context"
	"net/netip"
	"slices"
)

// bindIPv4Lookup is ipv4_lookup(LookupTable, SourceIPv4Key, IPv4LookupKey [, ExtraKey, ...]
// [, return_unmatched]): each input row joined to the rows of the lookup table whose IPv4
// address or CIDR range (IPv4LookupKey) holds the row's address (SourceIPv4Key, itself maybe
// a range, which must then lie inside), and whose extra key columns equal the row's. The
// output is the input's columns, then the lookup table's but its extra keys, as lookup's;
// with return_unmatched a row that matches nothing is kept with the lookup columns null.
// The lookup table is held as a binary trie of its prefixes: a row finds its ranges in at
// most 33 steps, whatever the table's size.
func bindIPv4Lookup(p *planner, in *plan, o *astEvaluateOp, ec *ectx) (*plan, error) {
	if err := o.checkNames("return_unmatched"); err != nil {
		return nil, err
	}
	n := o.positional()
	unmatchedArg := o.arg(-1, "return_unmatched")
	if unmatchedArg == nil && n > 3 {
		if l, ok := o.arg(n-1, "").(*astLit); ok && l.T == TypeBool {
			unmatchedArg, n = l, n-1
		}
	}
	if n < 3 {
		return nil, bindErr(o.P, "ipv4_lookup expects a lookup table, the input's IPv4 column and the lookup table's IPv4 column, then optionally extra key columns and return_unmatched")
	}
	unmatched, err := p.constArg(o, unmatchedArg, "return_unmatched", ec, TypeBool)
	if err != nil {
		return nil, err
	}
	lt := o.arg(0, "")
	if !p.isTabular(lt, ec.sc) {
		return nil, bindErr(lt.pos(), "ipv4_lookup's first argument is the lookup table: a table, a let name or (a query)")
	}
	lookup, err := p.tabular(lt, ec.sc)
	if err != nil {
		return nil, err
	}
	p.markAll(lookup)
	p.markAll(in)
	src, err := o.inputColumn(in, o.arg(1, ""), "source IPv4 column")
	if err != nil {
		return nil, err
	}
	if src < 0 {
		return nil, bindErr(o.arg(1, "").pos(), "ipv4_lookup's source IPv4 column must be a column its input is known to have")
	}
	key, err := o.inputColumn(lookup, o.arg(2, ""), "lookup IPv4 column")
	if err != nil || key < 0 {
		if err == nil {
			err = bindErr(o.arg(2, "").pos(), "ipv4_lookup's lookup IPv4 column must be a column of the lookup table")
		}
		return nil, err
	}
	var extraIn, extraLk []int
	for i := 3; i < n; i++ {
		a := o.arg(i, "")
		ii, err := o.inputColumn(in, a, "extra key")
		if err != nil {
			return nil, err
		}
		li, err := o.inputColumn(lookup, a, "extra key")
		if err != nil {
			return nil, err
		}
		if ii < 0 || li < 0 {
			return nil, bindErr(a.pos(), "ipv4_lookup's extra keys must be columns of both the input and the lookup table")
		}
		extraIn, extraLk = append(extraIn, ii), append(extraLk, li)
	}
	// the output: the input's columns, then the lookup table's but its extra keys
	cols := slices.Clone(in.cols)
	var from []int
	for i, c := range lookup.cols {
		if slices.Contains(extraLk, i) {
			continue
		}
		c.Name = uniqueName(c.Name, func(n string) bool { return findCol(cols, n) >= 0 })
		cols = append(cols, c)
		from = append(from, i)
	}
	keep, _ := unmatched.(bool)
	inWidth, width := len(in.cols), len(cols)
	rowCost := int64(rowHeaderBytes + cellBytes*width)
	out := &plan{cols: cols}
	out.open = func(ctx context.Context) (iterator, error) {
		acct := p.run.account("ipv4_lookup")
		rows, err := p.run.collect(lookup, acct)
		if err != nil {
			acct.release()
			return nil, err
		}
		trie := newIPv4Trie()
		for i, r := range rows {
			if pf, ok := ipv4Masked(r[key], nil); ok && pf.Addr().Is4() {
				trie.insert(pf, i)
			}
		}
		if err := acct.add(int64(len(trie.nodes)) * 40); err != nil {
			acct.release()
			return nil, err
		}
		it, err := in.open(ctx)
		if err != nil {
			acct.release()
			return nil, err
		}
		var hits []int
		match := func(r Row) []int {
			hits = hits[:0]
			pf, ok := ipv4Masked(r[src], nil)
			if !ok || !pf.Addr().Is4() {
				return hits
			}
			hits = trie.lookup(pf, hits)
			kept := hits[:0]
			for _, h := range hits {
				if extraEqual(r, rows[h], extraIn, extraLk) {
					kept = append(kept, h)
				}
			}
			slices.Sort(kept)
			return kept
		}
		return &lookupIter{expandIter: expandIter{in: it, out: batchAccount{acct: p.run.account("ipv4_lookup")}, fn: func(batch []Row, ob *batchAccount) ([]Row, error) {
			var res []Row
			for _, r := range batch {
				hs := match(r)
				n := len(hs)
				if n == 0 && keep {
					n = 1
				}
				var err error
				if res, err = ob.grow(res, n, rowCost); err != nil {
					return nil, err
				}
				for k := 0; k < n; k++ {
					row := make(Row, width)
					copy(row, r[:inWidth])
					for j, f := range from {
						c := inWidth + j
						switch {
						case k < len(hs):
							row[c] = rows[hs[k]][f]
						case cols[c].Type == TypeString:
							row[c] = ""
						}
					}
					res = append(res, row)
				}
			}
			return res, nil
		}}, build: acct}, nil
	}
	return out, nil
}

// lookupIter is an expandIter that also holds a build side until it closes.
type lookupIter struct {
	expandIter
	build *memAccount
}

func (l *lookupIter) Close() {
	l.expandIter.Close()
	l.build.release()
}

// extraEqual reports whether an input row and a lookup row agree on the extra keys.
func extraEqual(r, l Row, in, lk []int) bool {
	for i := range in {
		a, b := r[in[i]], l[lk[i]]
		if a == nil || b == nil || !valuesEqual(a, b) {
			return false
		}
	}
	return true
}

// ipv4Trie is a binary trie of IPv4 prefixes, each node holding the rows whose prefix ends
// there.
type ipv4Trie struct {
	nodes []ipv4Node
}

type ipv4Node struct {
	child [2]int32 // 0: none (the root is never a child)
	rows  []int
}

func newIPv4Trie() *ipv4Trie { return &ipv4Trie{nodes: make([]ipv4Node, 1)} }

func (t *ipv4Trie) insert(pf netip.Prefix, row int) {
	a := pf.Masked().Addr().As4()
	n := 0
	for d := 0; d < pf.Bits(); d++ {
		bit := a[d/8] >> (7 - d%8) & 1
		if t.nodes[n].child[bit] == 0 {
			t.nodes = append(t.nodes, ipv4Node{})
			t.nodes[n].child[bit] = int32(len(t.nodes) - 1)
		}
		n = int(t.nodes[n].child[bit])
	}
	t.nodes[n].rows = append(t.nodes[n].rows, row)
}

// lookup appends the rows of every prefix holding pf (pf's own bits included) to out.
func (t *ipv4Trie) lookup(pf netip.Prefix, out []int) []int {
	a := pf.Addr().As4()
	n := 0
	for d := 0; ; d++ {
		out = append(out, t.nodes[n].rows...)
		if d == pf.Bits() {
			return out
		}
		next := t.nodes[n].child[a[d/8]>>(7-d%8)&1]
		if next == 0 {
			return out
		}
		n = int(next)
	}
}
