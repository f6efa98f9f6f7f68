// Package role defines the per-tenant role ladder OWNER > MANAGER > MEMBER > VIEWER
// and the comparisons every permission check is built from.
package role

import (
	"fmt"
	"io"
	"strconv"
)

// Role is what a member may do in one tenant. The zero value means "no role":
// the caller is not a member of the tenant.
type Role string

// The roles, highest first.
const (
	Owner   Role = "OWNER"
	Manager Role = "MANAGER"
	Member  Role = "MEMBER"
	Viewer  Role = "VIEWER"
)

// All lists every role, highest first.
var All = []Role{Owner, Manager, Member, Viewer}

var rank = map[Role]int{Viewer: 1, Member: 2, Manager: 3, Owner: 4}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return rank[r] > 0 }

// AtLeast reports whether r is min or above it on the ladder. No role is
// never at least anything.
func (r Role) AtLeast(min Role) bool { return r.Valid() && rank[r] >= rank[min] }

// Values lets ent store Role as an enum column.
func (Role) Values() []string {
	out := make([]string, len(All))
	for i, r := range All {
		out[i] = string(r)
	}
	return out
}

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !Role(s).Valid() {
		return fmt.Errorf("%v is not a valid Role", v)
	}
	*r = Role(s)
	return nil
}
