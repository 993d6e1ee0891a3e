package kql

// astGetSchemaOp is getschema.
type astGetSchemaOp struct{ P srcPos }

func (o *astGetSchemaOp) opPos() srcPos { return o.P }

// parseGetSchema reads getschema.
func parseGetSchema(_ *parser, pos srcPos, _ string) (astOp, error) {
	return &astGetSchemaOp{P: pos}, nil
}

func (o *astGetSchemaOp) bind(p *planner, in *plan, _ *ectx) (*plan, error) {
	return p.getschema(in), nil
}

func (p *planner) getschema(in *plan) *plan {
	p.markAll(in)
	cols := []colInfo{{Name: "ColumnName", Type: TypeString}, {Name: "ColumnOrdinal", Type: TypeInt}, {Name: "DataType", Type: TypeString}, {Name: "ColumnType", Type: TypeString}}
	netNames := map[Type]string{TypeString: "System.String", TypeInt: "System.Int32", TypeLong: "System.Int64", TypeReal: "System.Double", TypeBool: "System.SByte", TypeDatetime: "System.DateTime", TypeTimespan: "System.TimeSpan", TypeGUID: "System.Guid", TypeDynamic: "System.Object"}
	var rows []Row
	for _, c := range in.cols {
		if !c.hidden {
			rows = append(rows, Row{c.Name, int64(len(rows)), netNames[c.Type], c.Type.String()})
		}
	}
	return rowsPlan(cols, func() ([]Row, error) { return rows, nil })
}
