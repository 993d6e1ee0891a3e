package kql

// astInvokeOp is invoke f(args): a call of the user function f with the operator's input as
// its first, tabular, argument and args as the rest.
type astInvokeOp struct {
	P    srcPos
	Call *astCall
}

func (o *astInvokeOp) opPos() srcPos { return o.P }

// parseInvoke reads invoke Name(args).
func parseInvoke(p *parser, pos srcPos, _ string) (astOp, error) {
	t := p.peek()
	if t.kind != tIdent || !(p.peekN(1).kind == tOp && p.peekN(1).text == "(") {
		return nil, p.expected("a function call after invoke, such as invoke f(x)")
	}
	p.next()
	c, err := p.call(t)
	if err != nil {
		return nil, err
	}
	return &astInvokeOp{P: pos, Call: c.(*astCall)}, nil
}

// bind: the function, declared by let or stored, must take a table first; its body is bound
// for this call with that parameter bound to the input's plan.
func (o *astInvokeOp) bind(p *planner, in *plan, ec *ectx) (*plan, error) {
	b := ec.sc.lookup(o.Call.Name)
	if b == nil || !b.isFunc() {
		if err := defenderCloudCallErr(o.Call); b == nil && err != nil {
			return nil, err
		}
		return nil, bindErr(o.Call.P, "invoke: unknown function %q; invoke calls a function declared by let or stored in the workspace", o.Call.Name)
	}
	return p.userTabularCall(o.Call, b, ec.sc, in)
}
