package kql

import (
	"context"
	"testing"
)

func TestCatalogOfIncludesTheSourcesStoredFunctions(t *testing.T) {
	src := NewMemSource(&MemTable{Schema: TableSchema{Name: "Events", Columns: []Column{{"Msg", TypeString}}}})
	src.SetFunctions(Function{Name: "Recent", Body: "Events | take 1"})
	cat, err := CatalogOf(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Table("Events"); !ok {
		t.Error("Catalog.Table(Events) not found")
	}
	if f, ok := cat.Function("Recent"); !ok || f.Body != "Events | take 1" {
		t.Errorf("Catalog.Function(Recent) = %+v, %v", f, ok)
	}
	if _, ok := cat.Function("Events"); ok {
		t.Error("a table was found as a function")
	}
}
