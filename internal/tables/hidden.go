package tables

// HiddenColumns are the standard columns every table of a workspace has, standard or custom,
// that the cloud leaves out of the schema view and of results unless a query names them. The
// workspace does not compute them: a row holds one only if its sender gave it.
func HiddenColumns() []Column {
	return []Column{
		{Name: "_ResourceId", Type: "string", Description: "A unique identifier for the resource that the record is associated with"},
		{Name: "_SubscriptionId", Type: "string", Description: "A unique identifier for the subscription that the record is associated with"},
		{Name: "_BilledSize", Type: "real", Description: "The record size in bytes"},
		{Name: "_IsBillable", Type: "string", Description: "Whether ingesting the record is billable"},
	}
}
