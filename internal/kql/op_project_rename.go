package kql

// astProjectRenameOp is project-rename of Pairs (new name, old name).
type astProjectRenameOp struct {
	P     srcPos
	Pairs [][2]string // new, old
}

func (o *astProjectRenameOp) opPos() srcPos { return o.P }

// parseProjectRename reads project-rename New=Old, ...
func parseProjectRename(p *parser, pos srcPos, _ string) (astOp, error) {
	op := &astProjectRenameOp{P: pos}
	for {
		nn, err := p.name("a new column name")
		if err != nil {
			return nil, err
		}
		if err := p.wantOp("="); err != nil {
			return nil, err
		}
		old, err := p.name("an existing column name")
		if err != nil {
			return nil, err
		}
		op.Pairs = append(op.Pairs, [2]string{nn, old})
		if !p.acceptOp(",") {
			return op, nil
		}
	}
}

func (o *astProjectRenameOp) bind(p *planner, in *plan, _ *ectx) (*plan, error) {
	return p.projectRename(in, o)
}

func (p *planner) projectRename(in *plan, o *astProjectRenameOp) (*plan, error) {
	cols := append([]colInfo(nil), in.cols...)
	for _, pr := range o.Pairs {
		i := findCol(cols, pr[1])
		if i < 0 {
			// the run pass sees only used columns; columns evaluate's data name are not
			// known when binding
			if p.run != nil || in.dataSchema != nil {
				continue
			}
			return nil, bindErr(o.P, "unknown column %q in project-rename", pr[1])
		}
		cols[i].Name = pr[0]
	}
	out := *in
	out.cols = cols
	return &out, nil
}
