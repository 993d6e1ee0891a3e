// Package jsonbody decodes the JSON bodies of resources strictly — a field
// the resource does not have, or a value of the wrong type, is refused, never
// dropped — and says what is wrong in JSON's terms rather than Go's.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// errTrailing refuses a body with more after its value.
var errTrailing = errors.New("more than one JSON value")

// DecodeStrict decodes data, one JSON value, into v, refusing fields v
// does not have.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	return nil
}

// Message says what is wrong with a body that failed to decode: the field
// and the JSON type it needs, an unknown field followed by unknownHint
// (where to find the fields there are), or a time not in RFC 3339 form.
func Message(err error, unknownHint string) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "it must be a JSON " + typeName(te.Type) + ", not " + te.Value
		}
		return fmt.Sprintf("%s must be a JSON %s, not %s", te.Field, typeName(te.Type), te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unknownHint == "" {
			return "unknown field " + f
		}
		return "unknown field " + f + "; " + unknownHint
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return "a time is not in RFC 3339 form, such as 2026-12-31T23:59:59Z"
	}
	return err.Error()
}

// typeName is the JSON type a Go type decodes from.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}
