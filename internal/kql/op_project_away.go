package kql

import "strings"

// astProjectAwayOp is project-away or, with Keep, project-keep of the columns matching Pats.
type astProjectAwayOp struct {
	P    srcPos
	Keep bool // project-keep
	Pats []string
}

func (o *astProjectAwayOp) opPos() srcPos { return o.P }

// parseProjectAway reads project-away and project-keep Column, ... (with wildcards).
func parseProjectAway(p *parser, pos srcPos, name string) (astOp, error) {
	pats, err := p.colPatterns()
	return &astProjectAwayOp{P: pos, Pats: pats, Keep: name == "project-keep"}, err
}

func (o *astProjectAwayOp) bind(p *planner, in *plan, _ *ectx) (*plan, error) {
	return p.projectAway(in, o)
}

func (p *planner) projectAway(in *plan, o *astProjectAwayOp) (*plan, error) {
	hit := make([]bool, len(in.cols))
	for _, pat := range o.Pats {
		any := false
		for i, c := range in.cols {
			if matchPattern(pat, c.Name) {
				hit[i], any = true, true
			}
		}
		// the run pass sees only used columns; a name the bind pass accepted may be absent
		if !any && !strings.Contains(pat, "*") && p.run == nil && in.dataSchema == nil {
			return nil, bindErr(o.P, "unknown column %q in %s", pat, map[bool]string{true: "project-keep", false: "project-away"}[o.Keep])
		}
	}
	var idx []int
	for i := range in.cols {
		if hit[i] == o.Keep {
			idx = append(idx, i)
		}
	}
	return selectCols(in, idx), nil
}
