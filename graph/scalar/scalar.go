// Package scalar binds GraphQL scalars to Go types: ID is an opaque string on
// the wire and the data layer's int inside.
package scalar

import (
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"tenantgraph/internal/globalid"
)

// MarshalID writes an int ID in its opaque form.
func MarshalID(id int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(globalid.Encode(id)))
	})
}

// UnmarshalID reads an opaque ID.
func UnmarshalID(v any) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, globalid.ErrMalformed
	}
	return globalid.Decode(s)
}
