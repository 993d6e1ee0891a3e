package kql

// astAsOp is as Name.
type astAsOp struct {
	P    srcPos
	Name string
}

func (o *astAsOp) opPos() srcPos { return o.P }

// parseAs reads as [hints] Name.
func parseAs(p *parser, pos srcPos, _ string) (astOp, error) {
	if _, err := p.params(); err != nil {
		return nil, err
	}
	n, err := p.name("a name after as")
	return &astAsOp{P: pos, Name: n}, err
}

// bind: as binds the name for the rest of the query (a later join (X) or statement) and
// names the result table; the input runs once however often the name is used.
func (o *astAsOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	p.markAll(in)
	m := p.materialize(in)
	m.name, m.render = o.Name, in.render
	ec.sc.names[o.Name] = &binding{tabPlan: m}
	return m, nil
}
