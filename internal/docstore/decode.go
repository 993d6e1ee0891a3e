package docstore

import (
	"context"
	"encoding/json"
	"fmt"
)

// GetJSON reads a document, decodes its JSON body into v and returns its
// etag: the read every domain store makes of one resource. kind names the
// resource ("saved search", "rule") in the domain's refusals, as Refusal
// makes them, and in the error for a body that does not decode.
func (s *Store) GetJSON(ctx context.Context, workspace, collection, kind, id string, v any) (etag string, err error) {
	doc, err := s.Get(ctx, workspace, collection, id)
	if err != nil {
		return "", Refusal(err, kind, id)
	}
	if err := json.Unmarshal(doc.Body, v); err != nil {
		return "", fmt.Errorf("decode %s %s: %w", kind, id, err)
	}
	return doc.ETag, nil
}

// ListJSON reads every document of a collection, by ID, and calls fn with
// each one's ID, etag and JSON body decoded into a T; kind is as GetJSON's.
func ListJSON[T any](ctx context.Context, s *Store, workspace, collection, kind string, fn func(id, etag string, v T)) error {
	docs, err := s.List(ctx, workspace, collection)
	if err != nil {
		return Refusal(err, kind, "")
	}
	for _, doc := range docs {
		var v T
		if err := json.Unmarshal(doc.Body, &v); err != nil {
			return fmt.Errorf("decode %s %s: %w", kind, doc.ID, err)
		}
		fn(doc.ID, doc.ETag, v)
	}
	return nil
}
