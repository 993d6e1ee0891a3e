package kql

import "strings"

// astProjectReorderOp is project-reorder Pats.
type astProjectReorderOp struct {
	P    srcPos
	Pats []string
}

func (o *astProjectReorderOp) opPos() srcPos { return o.P }

// parseProjectReorder reads project-reorder Column, ... (with wildcards).
func parseProjectReorder(p *parser, pos srcPos, _ string) (astOp, error) {
	pats, err := p.colPatterns()
	return &astProjectReorderOp{P: pos, Pats: pats}, err
}

func (o *astProjectReorderOp) bind(p *planner, in *plan, _ *ectx) (*plan, error) {
	return p.projectReorder(in, o)
}

func (p *planner) projectReorder(in *plan, o *astProjectReorderOp) (*plan, error) {
	var idx []int
	taken := make([]bool, len(in.cols))
	for _, pat := range o.Pats {
		found := false
		for i, c := range in.cols {
			if !taken[i] && matchPattern(pat, c.Name) {
				idx = append(idx, i)
				taken[i], found = true, true
			}
		}
		if !found && !strings.Contains(pat, "*") && p.run == nil {
			return nil, bindErr(o.P, "unknown column %q in project-reorder", pat)
		}
	}
	for i := range in.cols {
		if !taken[i] {
			idx = append(idx, i)
		}
	}
	return selectCols(in, idx), nil
}
