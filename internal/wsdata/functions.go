package wsdata

import (
	"context"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/savedsearch"
)

// A workspace's functions are its saved searches with a function alias,
// read from the sealed document store: the query engine declares them as
// if each query began with their lets.

var _ kql.FunctionSource = (*Source)(nil)

// WithFunctions makes the source serve ss's functions, and returns it.
func (s *Source) WithFunctions(ss *savedsearch.Searches) *Source {
	s.functions = ss
	return s
}

// Functions implements kql.FunctionSource. While the functions have not
// changed it decrypts one small document (see savedsearch.Searches.Functions);
// a workspace that never had a saved search needs no key for it.
func (s *Source) Functions(ctx context.Context) ([]kql.Function, error) {
	if s.functions == nil {
		return nil, nil
	}
	if s.catalog != nil {
		return s.catalog.functionsOf(ctx, s)
	}
	return s.loadFunctions(ctx)
}

// loadFunctions is Functions read from the sealed saved searches.
func (s *Source) loadFunctions(ctx context.Context) ([]kql.Function, error) {
	fns, err := s.functions.Functions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	return fns, nil
}
