package kql

import (
	"context"
	"strconv"
)

// astExtendOp is extend Cols.
type astExtendOp struct {
	P    srcPos
	Cols []astNamedExpr
}

// astProjectOp is project Cols.
type astProjectOp struct {
	P    srcPos
	Cols []astNamedExpr
}

func (o *astExtendOp) opPos() srcPos { return o.P }

func (o *astProjectOp) opPos() srcPos { return o.P }

// parseExtend reads extend [Name=]Expr, ..., where (a, b) = f(x) names the columns of a
// function that returns several.
func parseExtend(p *parser, pos srcPos, _ string) (astOp, error) {
	cols, err := p.aggList()
	return &astExtendOp{P: pos, Cols: cols}, err
}

// parseProject reads project [Name=]Expr, ..., where (a, b) = f(x) names the columns of a
// function that returns several.
func parseProject(p *parser, pos srcPos, _ string) (astOp, error) {
	cols, err := p.aggList()
	return &astProjectOp{P: pos, Cols: cols}, err
}

func (o *astExtendOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.extend(in, o.Cols, withIngest(ec, in), false)
}

func (o *astProjectOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	return p.extend(in, o.Cols, withIngest(ec, in), true)
}

func (p *planner) extend(in *plan, cols []astNamedExpr, ec *ectx, project bool) (*plan, error) {
	var outCols []colInfo
	if !project {
		outCols = append(outCols, in.cols...)
	}
	type slot struct {
		idx int
		fn  func(Row) any
		src int // for project of a bare column: copy
	}
	var slots []slot
	var spreads []spreadSlot
	auto := 0
	for _, ne := range cols {
		if tn, ok := asTuple(ne); ok {
			sp, err := p.spread(tn, ec, &outCols, project)
			if err != nil {
				return nil, err
			}
			spreads = append(spreads, sp)
			continue
		}
		c, err := p.expr(ne.X, ec)
		if err != nil {
			return nil, err
		}
		name := ne.Name
		if name == "" {
			name = c.name
			if name == "" || (c.konst && c.col < 0 && isLiteral(ne.X)) {
				used := func(n string) bool { return findCol(outCols, n) >= 0 || findCol(in.cols, n) >= 0 }
				for {
					auto++
					name = "Column" + strconv.Itoa(auto)
					if !used(name) {
						break
					}
				}
			}
		}
		ci := colInfo{Name: name, Type: nonNull(c.t)}
		if c.col >= 0 && ne.Name == "" || (c.col >= 0 && project) {
			ci.origin = in.cols[c.col].origin
		}
		idx := findCol(outCols, name)
		if idx >= 0 {
			if project {
				return nil, bindErr(ne.X.pos(), "column %q is projected twice", name)
			}
			outCols[idx] = ci
		} else {
			idx = len(outCols)
			outCols = append(outCols, ci)
		}
		slots = append(slots, slot{idx: idx, fn: c.fn, src: c.col})
	}
	if ec.usesIngest() {
		in = in.ingest() // rows carry the cell after their columns, which inWidth leaves out
	}
	width, inWidth := len(outCols), len(in.cols)
	// extend and project keep every row, and pass-through columns keep their origin, so a
	// later where on them may still be pushed to the scan
	out := &plan{cols: outCols, scan: in.scan}
	out.open = func(ctx context.Context) (iterator, error) {
		it, err := in.open(ctx)
		if err != nil {
			return nil, err
		}
		return &mapIter{in: it, fn: func(rows []Row) []Row {
			cells := make([]any, len(rows)*width)
			out := make([]Row, len(rows))
			for i, r := range rows {
				row := cells[i*width : (i+1)*width : (i+1)*width]
				if !project {
					copy(row, r[:inWidth])
				}
				for _, s := range slots {
					row[s.idx] = s.fn(r)
				}
				for _, s := range spreads {
					s.fill(row, r)
				}
				out[i] = row
			}
			return out
		}}, nil
	}
	return out, nil
}
