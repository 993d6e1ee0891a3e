package docstore

import (
	"errors"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// QuoteETag is a document's etag as the API shows it: in double quotes.
func QuoteETag(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

// IfMatch reads an If-Match value (or an etag sent in a body) as Put and
// Delete take it: "*" is AnyVersion, quotes are dropped.
func IfMatch(v string) string {
	if v == "*" {
		return AnyVersion
	}
	return strings.Trim(v, `"`)
}

// Refusal turns the store's refusals about the document of a kind (a
// noun: "incident", "rule") and ID into the domain's: not found, changed
// since read, invalid. Anything else (a revoked key, damage) passes through
// for the API layer to map.
func Refusal(err error, kind, id string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return fault.New(fault.NotFound, "NotFound", "%s '%s' was not found", kind, fault.Shorten(id))
	case errors.Is(err, ErrConflict):
		return fault.New(fault.PreconditionFailed, "PreconditionFailed",
			"%s '%s' changed since you read it; read it again and retry with its new etag", kind, fault.Shorten(id))
	case errors.Is(err, ErrInvalid):
		return fault.New(fault.Invalid, "BadRequest", "%v", err)
	}
	return err
}
