package kql

// JSONValue is a run-time value as the query API renders it in JSON:
// datetimes as RFC 3339 text, timespans as [d.]hh:mm:ss[.fffffff], reals
// that are not numbers as text, dynamic values element by element.
func JSONValue(v any) any { return toJSONValue(v) }
