package kql

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
)

// astSampleOp is sample N, and sample-distinct N of Expr when Of is set.
type astSampleOp struct {
	P        srcPos
	N        astExpr
	Of       astExpr // sample-distinct: the values to sample
	Distinct bool
}

func (o *astSampleOp) opPos() srcPos { return o.P }

// parseSample reads sample N and sample-distinct N of Expr.
func parseSample(p *parser, pos srcPos, name string) (astOp, error) {
	if _, err := p.params(); err != nil { // hint.distribution and the like change nothing here
		return nil, err
	}
	op := &astSampleOp{P: pos, Distinct: name == "sample-distinct"}
	var err error
	if op.N, err = p.expr(); err != nil {
		return nil, err
	}
	if op.Distinct {
		if err := p.wantKw("of"); err != nil {
			return nil, err
		}
		if op.Of, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// maxSample bounds N: the rows or values a sample holds until its input ends.
const maxSample = 1 << 20

func (o *astSampleOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	what := "sample"
	if o.Distinct {
		what = "sample-distinct"
	}
	nc, err := p.expr(o.N, ec)
	if err != nil {
		return nil, err
	}
	n, ok := konstLong(nc)
	if !ok || n < 0 || n > maxSample {
		return nil, bindErr(o.N.pos(), "%s needs a constant number of rows from 0 to %d", what, maxSample)
	}
	if !o.Distinct {
		p.markAll(in)
		out := &plan{cols: in.cols}
		out.open = func(ctx context.Context) (iterator, error) {
			acct := p.run.account("sample")
			rows, err := reservoir(ctx, in, int(n), acct)
			if err != nil {
				acct.release()
				return nil, err
			}
			return &sliceIter{rows: rows, acct: acct}, nil
		}
		return out, nil
	}
	c, err := p.expr(o.Of, ec)
	if err != nil {
		return nil, err
	}
	name := c.name
	if name == "" {
		name = "Column1"
	}
	out := &plan{cols: []colInfo{{Name: name, Type: nonNull(c.t)}}}
	out.open = func(ctx context.Context) (iterator, error) {
		acct := p.run.account("sample-distinct")
		rows, err := firstDistinct(ctx, in, c.fn, int(n), acct)
		if err != nil {
			acct.release()
			return nil, err
		}
		return &sliceIter{rows: rows, acct: acct}, nil
	}
	return out, nil
}

// reservoir keeps n rows of the input chosen uniformly at random (Algorithm R), in the order
// they came.
func reservoir(ctx context.Context, in *plan, n int, acct *memAccount) ([]Row, error) {
	type kept struct {
		seq int64
		row Row
	}
	var keep []kept
	var seen int64
	err := readAll(ctx, in.open, func(rows []Row) error {
		var grown []Row
		for _, r := range rows {
			seen++
			switch {
			case len(keep) < n:
				keep = append(keep, kept{seen, r})
				grown = append(grown, r)
			case n > 0:
				if j := rand.Int64N(seen); j < int64(n) {
					keep[j] = kept{seen, r}
					grown = append(grown, r)
				}
			}
		}
		return acct.addRows(grown)
	})
	if err != nil {
		return nil, err
	}
	// replaced rows stay charged: they may still be in use downstream of the scan
	out := make([]Row, len(keep))
	slices.SortFunc(keep, func(a, b kept) int { return cmp3(a.seq, b.seq) })
	for i, k := range keep {
		out[i] = k.row
	}
	return out, nil
}

// firstDistinct is the first n distinct values of fn over the input: the language documents
// sample-distinct as answering fast rather than fairly.
func firstDistinct(ctx context.Context, in *plan, fn func(Row) any, n int, acct *memAccount) ([]Row, error) {
	seen := map[any]bool{}
	var out []Row
	var kb []byte
	err := readAll(ctx, in.open, func(rows []Row) error {
		var grown []Row
		for _, r := range rows {
			if len(out) >= n {
				break
			}
			v := fn(r)
			kb = keyAppend(kb[:0], v)
			if seen[string(kb)] {
				continue
			}
			seen[string(kb)] = true
			out = append(out, Row{v})
			grown = append(grown, out[len(out)-1])
		}
		if err := acct.addRows(grown); err != nil {
			return err
		}
		if len(out) >= n {
			return errEnough // the rest of the input cannot change the answer
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return out, err
}

// errEnough ends reading an input whose remaining rows cannot change an operator's result.
var errEnough = errors.New("enough rows read")
