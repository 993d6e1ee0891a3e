package kql

import "strings"

// astRenderOp is render Chart with (Props).
type astRenderOp struct {
	P     srcPos
	Chart string
	Props map[string]string
}

func (o *astRenderOp) opPos() srcPos { return o.P }

// parseRender reads render Chart [with (Property=Value, ...)].
func parseRender(p *parser, pos srcPos, _ string) (astOp, error) {
	op := &astRenderOp{P: pos, Props: map[string]string{}}
	n, err := p.name("a visualization kind")
	if err != nil {
		return nil, err
	}
	op.Chart = strings.ToLower(n)
	if p.acceptKw("with") {
		if err := p.wantOp("("); err != nil {
			return nil, err
		}
		err := p.list(")", func() error {
			k, err := p.name("a render property")
			if err != nil {
				return err
			}
			if err := p.wantOp("="); err != nil {
				return err
			}
			v, err := p.expr()
			if err != nil {
				return err
			}
			if l, ok := v.(*astLit); ok {
				op.Props[k] = toString(l.Val)
			} else if id, ok := v.(*astIdent); ok {
				op.Props[k] = id.Name
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return op, nil
}

// bind keeps the input's rows and attaches the visualization to the result.
func (o *astRenderOp) bind(p *planner, in *plan, _ *ectx) (*plan, error) {
	p.markAll(in)
	cp := *in
	cp.scan = nil
	cp.render = &Visualization{Visualization: o.Chart, Properties: o.Props}
	return &cp, nil
}
