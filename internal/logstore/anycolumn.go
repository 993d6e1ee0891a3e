package logstore

import (
	"bytes"
	"cmp"
	"slices"
)

// This file is the AnyColumn predicate (see there): which columns of a block
// it reads, when the block's filters let it skip the block, and how it
// matches rows, column after column, on the rows no column has matched yet.

// newAnyPred prepares what an AnyColumn predicate p (compiled but for this)
// knows of the types without text of their own.
func newAnyPred(p *pred) *anyPred {
	a := &anyPred{
		true_:  matchString("true", p),
		false_: matchString("false", p),
		// the engine writes a long in decimal, or as a real where the
		// table's column is real
		long:     madeOf(p.lower, "0123456789+-.e"),
		real:     madeOf(p.lower, "0123456789+-.enaifty"), // NaN, Infinity, +Inf
		datetime: madeOf(p.lower, "0123456789+-.:tz"),
		word:     p.op == OpHas && isWord(p.lower),
		words:    allWords(p),
	}
	return a
}

// isWord reports whether term is one that the engine finds in a dynamic
// value it decodes and renders again only if the value's verbatim JSON text
// (no escape, ASCII only) holds it too: letters and digits, with a letter no
// number's text has (a number may be written anew, 1e3 as 1000), and not
// what encoding/json writes for <, > and &.
func isWord(term []byte) bool {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	if len(term) == 0 || !madeOf(term, alnum) || madeOf(term, "0123456789e") {
		return false
	}
	for _, esc := range []string{"u003c", "u003e", "u0026"} {
		if bytes.HasPrefix(term, []byte(esc)) {
			return false
		}
	}
	return true
}

// allWords reports whether has predicate p's constant has terms, all words.
func allWords(p *pred) bool {
	words := p.op == OpHas && len(p.terms) > 0
	forTerms(p.lower, func(t []byte) { words = words && isWord(t) })
	return words
}

// madeOf reports whether every byte of s is one of chars.
func madeOf(s []byte, chars string) bool {
	for _, c := range s {
		found := false
		for i := 0; i < len(chars) && !found; i++ {
			found = chars[i] == c
		}
		if !found {
			return false
		}
	}
	return true
}

// mayMatch reports whether a valid value of a column of type t, other than
// string, may match p, given its block's statistics.
func (a *anyPred) mayMatch(t Type, minI, maxI int64) bool {
	switch t {
	case TypeBool:
		return a.true_ && maxI == 1 || a.false_ && minI == 0
	case TypeLong:
		return a.long
	case TypeReal:
		return a.real
	case TypeDatetime:
		return a.datetime
	}
	return true
}

// searched reports whether an AnyColumn predicate p reads column c of a
// block to match rows.
func (p *pred) searched(c *colMeta, rows int) bool {
	if c.name == IngestionTimeColumn || c.nulls >= rows {
		return false
	}
	switch c.typ {
	case TypeString:
		return charsHold(c.chars, p.lower)
	case TypeDynamic:
		return true
	}
	return p.any.mayMatch(c.typ, c.minI, c.maxI)
}

// anyUndecided reports whether an AnyColumn predicate of the scan searches
// a column of the block bp plans, among those its filters leave, whose
// values it keeps without matching them (see matchAny): a long, real or
// datetime that may hold the constant, or a dynamic value. Strings and
// bools it matches as the engine does.
func (sc *Scanner) anyUndecided(bp *blockPlan) bool {
	for i := range sc.preds {
		p := &sc.preds[i]
		if p.any == nil {
			continue
		}
		for j := range bp.bm.cols {
			c := &bp.bm.cols[j]
			if search, ok := bp.narrowed[p]; ok && !search[c.name] {
				continue
			}
			if c.typ != TypeString && c.typ != TypeBool && p.searched(c, bp.bm.rows) {
				return true
			}
		}
	}
	return false
}

// searchesText reports whether every column of the block bp plans that the
// AnyColumn predicate p searches, among those its filters leave, is a
// column of strings: matched as a has or contains on that column alone
// matches them (see matchAnyInPlace).
func searchesText(bp *blockPlan, p *pred) bool {
	for i := range bp.bm.cols {
		c := &bp.bm.cols[i]
		if search, ok := bp.narrowed[p]; ok && !search[c.name] {
			continue
		}
		if c.typ != TypeString && p.searched(c, bp.bm.rows) {
			return false
		}
	}
	return true
}

// matchAnyInPlace clears sel where no column of the block bp plans that the
// AnyColumn predicate p searches holds its constant, every such column
// being strings (searchesText): each is matched in place as a predicate of
// its own (see blockReader.match: a dictionary's entries compared once, in
// its bytes, text searched whole, parts of pages its filter rules out left
// unread), on the rows of sel no column has matched yet. Smaller columns
// go first: a dictionary's rows matched there are not looked for again.
func (sc *Scanner) matchAnyInPlace(rd blockReader, bp *blockPlan, p *pred, sel []bool) error {
	bm := bp.bm
	var cols []*colMeta
	for i := range bm.cols {
		c := &bm.cols[i]
		if search, ok := bp.narrowed[p]; ok && !search[c.name] {
			continue
		}
		if p.searched(c, bm.rows) {
			cols = append(cols, c)
		}
	}
	slices.SortStableFunc(cols, func(a, b *colMeta) int { return cmp.Compare(a.size, b.size) })
	one := *p // p on one column
	one.any = nil
	hit := make([]bool, len(sel))
	todo := make([]bool, len(sel))
	for _, c := range cols {
		left := false
		for r := range todo {
			todo[r] = sel[r] && !hit[r]
			left = left || todo[r]
		}
		if !left {
			break
		}
		one.col = c.name
		if err := rd.match(c, &sc.buf, &one, todo); err != nil {
			return err
		}
		sc.stats.BytesRead += c.size
		for r, ok := range todo {
			hit[r] = hit[r] || ok
		}
	}
	for r := range sel {
		sel[r] = sel[r] && hit[r]
	}
	return nil
}

// pruneAny is prune for an AnyColumn predicate: the block is pruned when no
// column of it may match, and its filters may rule it out when every column
// that may match is text whose terms they hold.
func pruneAny(bm *blockMeta, p *pred) (pruned, bloom bool) {
	if len(p.lower) == 0 {
		return false, false // every row, null or not, has the empty string
	}
	possible, covered := false, p.op == OpHas && len(p.terms) > 0
	for i := range bm.cols {
		c := &bm.cols[i]
		if !p.searched(c, bm.rows) {
			continue
		}
		possible = true
		switch c.typ {
		case TypeString:
		case TypeDynamic:
			covered = covered && p.any.words
		default:
			covered = false
		}
	}
	return !possible, possible && covered
}

// admits reports whether the bloom filters of the block bm describes, read
// through rd, leave p possible; for an AnyColumn predicate, also which of
// the columns it searches they leave (nil: all).
func admits(rd blockReader, bm *blockMeta, p *pred) (bool, map[string]bool, error) {
	if p.any != nil {
		return anyAdmits(rd, bm, p)
	}
	f, err := rd.bloom(bm.col(p.col))
	if err != nil {
		return false, nil, err
	}
	return bloomAdmits(f, p), nil, nil
}

// anyAdmits reports whether a block's filters leave an AnyColumn has
// predicate possible, and in which of the columns it searches: the
// any-column filter must hold every term (one read skips a block without
// them), then a string column's own filter, where it has one, too, so that
// a term in one column of every block reads that column alone. A segment
// written before any-column filters has the second test only.
func anyAdmits(rd blockReader, bm *blockMeta, p *pred) (bool, map[string]bool, error) {
	if bm.anySize > 0 {
		f, err := rd.anyBloom()
		if err != nil {
			return false, nil, err
		}
		if len(f) >= 1 && f[0]&anyLoose == 0 {
			for _, h := range p.terms {
				if !anyBloomHas(f[1:], h) {
					return false, nil, nil
				}
			}
		}
	}
	search := make(map[string]bool)
	for i := range bm.cols {
		c := &bm.cols[i]
		if !p.searched(c, bm.rows) {
			continue
		}
		if c.typ == TypeString && c.bloomSize > 0 {
			f, err := rd.bloom(c)
			if err != nil {
				return false, nil, err
			}
			if !bloomAdmits(f, p) {
				continue
			}
		}
		search[c.name] = true
	}
	return len(search) > 0, search, nil
}

// evaluateAny clears sel where no column of cols matches the AnyColumn
// predicate p. Columns without strings to read (dictionaries, scalars) go
// first; each column tests only the rows still selected and not yet
// matched, and the scan stops as soon as every row has matched.
func evaluateAny(cols map[string]*Column, p *pred, sel []bool) {
	if len(p.lower) == 0 {
		return
	}
	hit := make([]bool, len(sel))
	left := 0
	for _, ok := range sel {
		if ok {
			left++
		}
	}
	for _, text := range []bool{false, true} {
		for name, c := range cols {
			if left == 0 {
				break
			}
			if name != IngestionTimeColumn && (c.raw != nil || c.Strings != nil && c.Dict == nil) == text {
				left = matchAny(c, p, sel, hit, left)
			}
		}
	}
	for i := range sel {
		sel[i] = sel[i] && hit[i]
	}
}

// matchAny sets hit for the rows of sel not yet hit whose value in c
// matches the AnyColumn predicate p, and returns how many rows of sel are
// left without a hit.
func matchAny(c *Column, p *pred, sel, hit []bool, left int) int {
	test := func(i int, ok bool) {
		if ok {
			hit[i] = true
			left--
		}
	}
	todo := func(i int) bool { return sel[i] && !hit[i] && c.Valid[i] }
	dynamic := c.Type == TypeDynamic
	switch {
	case c.Type != TypeString && !dynamic:
		var minI, maxI int64 = 0, 1
		if !p.any.mayMatch(c.Type, minI, maxI) {
			return left
		}
		for i := range sel {
			if todo(i) {
				test(i, c.Type != TypeBool || c.Bools[i] && p.any.true_ || !c.Bools[i] && p.any.false_)
			}
		}
	case dynamic && !p.any.word:
		for i := range sel {
			if todo(i) {
				test(i, true) // the engine's text of it is not the stored one
			}
		}
	case c.raw != nil:
		found := make([]bool, len(c.raw.ends))
		rawFind(c.raw, p, func(j int) { found[j] = true })
		start, j := 0, 0
		for i := range sel {
			if !c.Valid[i] {
				continue
			}
			end := c.raw.ends[j]
			if todo(i) {
				test(i, found[j] || dynamic && !verbatimJSON(c.raw.data[start:end]))
			}
			start = end
			j++
		}
	case c.Dict != nil:
		match := make([]int8, len(c.Dict)) // 0 untested, 1 matches, 2 does not
		for i := range sel {
			if !todo(i) {
				continue
			}
			code := c.Codes[i]
			if match[code] == 0 {
				match[code] = 2
				if matchString(c.Dict[code], p) {
					match[code] = 1
				}
			}
			test(i, match[code] == 1)
		}
	default:
		for i := range sel {
			if todo(i) {
				v := c.Strings[i]
				test(i, dynamic && !verbatimJSON(v) || matchString(v, p))
			}
		}
	}
	return left
}
