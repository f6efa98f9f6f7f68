// Package jsonenc encodes JSON as every response of the API is written:
// as encoding/json does, except that <, > and & inside strings are left as
// they are rather than written \u003c, \u003e and \u0026. Error messages
// such as "send Authorization: Bearer <token>" or the parser's "found
// <Invalid>" then reach a client as written, as the data does. Responses
// are application/json under X-Content-Type-Options: nosniff, never taken
// for HTML.
package jsonenc

import (
	"bytes"
	"encoding/json"
)

// Append appends v's JSON to b, without the newline json.Encoder ends each
// value with; on error b is as it was.
func Append(b *bytes.Buffer, v any) error {
	n := b.Len()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.Truncate(n)
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's '\n'
	return nil
}

// Marshal is json.Marshal without its HTML escaping.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := Append(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
