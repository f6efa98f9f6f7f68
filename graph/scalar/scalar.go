// Package scalar binds GraphQL scalars to Go types: ID is an opaque string on
// the wire and the data layer's int inside; Time is written as gqlgen's own
// Time scalar writes it, with fewer allocations, and read in UTC.
package scalar

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"tenantgraph/internal/globalid"
)

// MarshalID writes an int ID in its opaque form.
func MarshalID(id int) graphql.Marshaler {
	return idJSON(id)
}

// idJSON writes an ID as a JSON string. Its opaque form is base64url, which
// never needs escaping.
type idJSON int

func (id idJSON) MarshalGQL(w io.Writer) { write(w, int(id), appendID) }

func appendID(b []byte, id int) []byte {
	b = append(b, '"')
	b = globalid.Append(b, id)
	return append(b, '"')
}

// MarshalTime writes a time as gqlgen's graphql.MarshalTime does (RFC 3339
// with nanoseconds, quoted; the zero time as null), without the closure,
// the formatted string and its quoted copy that gqlgen allocates for each.
func MarshalTime(t time.Time) graphql.Marshaler {
	if t.IsZero() {
		return graphql.Null
	}
	return timeJSON(t)
}

// UnmarshalTime reads a time as gqlgen's graphql.UnmarshalTime does, in
// UTC whatever offset the client wrote: every time a client sends (a due
// date, a filter's bound) enters the data layer through it. SQLite stores
// times as text in UTC and compares them as text, so a bound kept at
// +05:00 compared with the stored times five hours off.
//
// A time whose UTC falls outside the years 1 to 9999 is refused: RFC 3339
// writes four-digit years, yet an offset can carry 9999-12-31T23:00:00-01:00
// into the year 10000, which SQLite's driver stores as text it cannot
// read back (the row's every read then failed), and which this API would
// answer in a form its own input refuses.
func UnmarshalTime(v any) (time.Time, error) {
	t, err := graphql.UnmarshalTime(v)
	if err != nil {
		return time.Time{}, err
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("%v is outside the years 1 to 9999 in UTC", v)
	}
	return t.UTC(), nil
}

type timeJSON time.Time

func (t timeJSON) MarshalGQL(w io.Writer) { write(w, time.Time(t), appendTime) }

// write writes v as appendTo encodes it. The executor writes into a
// bytes.Buffer: v is then encoded straight into the buffer's spare capacity.
func write[T any](w io.Writer, v T, appendTo func([]byte, T) []byte) {
	if b, ok := w.(*bytes.Buffer); ok {
		_, _ = b.Write(appendTo(b.AvailableBuffer(), v))
		return
	}
	var buf [48]byte
	_, _ = w.Write(appendTo(buf[:0], v))
}

// appendTime appends t quoted. RFC 3339 has nothing a JSON string escapes.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// UnmarshalID reads an opaque ID.
func UnmarshalID(v any) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, globalid.ErrMalformed
	}
	return globalid.Decode(s)
}
