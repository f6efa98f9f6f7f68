// Package scalar binds GraphQL scalars to Go types: ID is an opaque string on
// the wire and the data layer's int inside.
package scalar

import (
	"io"

	"github.com/99designs/gqlgen/graphql"

	"tenantgraph/internal/globalid"
)

// MarshalID writes an int ID in its opaque form.
func MarshalID(id int) graphql.Marshaler {
	return idJSON(id)
}

// idJSON writes an ID as a JSON string without allocating: the opaque form
// is base64url, which never needs escaping.
type idJSON int

func (id idJSON) MarshalGQL(w io.Writer) {
	var buf [48]byte
	b := append(buf[:0], '"')
	b = globalid.Append(b, int(id))
	_, _ = w.Write(append(b, '"'))
}

// UnmarshalID reads an opaque ID.
func UnmarshalID(v any) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, globalid.ErrMalformed
	}
	return globalid.Decode(s)
}
