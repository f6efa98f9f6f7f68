package graph

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/migrate"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/viewer"
)

// maxNodes bounds nodes(ids:).
const maxNodes = MaxPageSize

// nodeTables maps the upper 32 bits of a global ID to its table: ent's
// global-ID feature gives every table its own range of 2^32 IDs.
var nodeTables = func() map[int]string {
	m := map[int]string{}
	for _, t := range migrate.Tables {
		if t.Annotation != nil && t.Annotation.IncrementStart != nil {
			m[*t.Annotation.IncrementStart>>32] = t.Name
		}
	}
	return m
}()

var errUnknownRange = errors.New("ID outside every table's range")

func nodeType(_ context.Context, id int) (string, error) {
	if t, ok := nodeTables[id>>32]; ok {
		return t, nil
	}
	return "", errUnknownRange
}

// node loads any object by ID through the tenant-scoped client. Whatever the
// caller may not see (another tenant's object, a user who shares no tenant
// with the caller) is null, exactly like an ID that does not exist.
func (r *Resolver) node(ctx context.Context, id int) (ent.Noder, error) {
	ns, denied, err := r.load(ctx, []int{id})
	if err != nil {
		return nil, err
	}
	if denied[0] != nil {
		return nil, denied[0]
	}
	return ns[0], nil
}

// nodes loads up to maxNodes objects, as node does, in one query per table
// they name and one more for the visibility of the users among them: a
// statement per ID let one request of 50 aliased nodes(ids:) with 100 IDs
// each run 10,000 statements for a complexity of about 5,000.
//
// An object of a type the caller may not read at all (an activity-log
// entry, for anyone but the tenant's OWNER) is null in its place with
// a FORBIDDEN error at its index (nodes.3), as GraphQL reports a field
// that failed: the other objects of the list are still answered.
func (r *Resolver) nodes(ctx context.Context, ids []int) ([]ent.Noder, error) {
	ns, denied, err := r.load(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, err := range denied {
		if err != nil {
			graphql.AddError(ctx, &gqlerror.Error{
				Err: err, Message: err.Error(), Path: append(graphql.GetPath(ctx), ast.PathIndex(i)),
			})
		}
	}
	return ns, nil
}

// load loads ids for node and nodes: the objects, nil for those that do
// not exist or that the caller may not see, and, for those of a type the
// caller may not read, the policy's error at their index in denied.
func (r *Resolver) load(ctx context.Context, ids []int) (out []ent.Noder, denied []error, err error) {
	if len(ids) > maxNodes {
		return nil, nil, apperr.InvalidField("ids", "at most %d IDs at a time, got %d", maxNodes, len(ids))
	}
	out, denied = make([]ent.Noder, len(ids)), make([]error, len(ids))
	byTable := map[string][]int{} // indexes into ids
	for i, id := range ids {
		if t, err := nodeType(ctx, id); err == nil {
			byTable[t] = append(byTable[t], i)
		}
	}
	for _, table := range slices.Sorted(maps.Keys(byTable)) {
		at := byTable[table]
		tableIDs := make([]int, len(at))
		for j, i := range at {
			tableIDs[j] = ids[i]
		}
		found, err := r.client.NodersOf(ctx, table, tableIDs)
		if ent.IsNotFound(err) {
			continue // a table with IDs but no node type (the outbox): nothing to see
		}
		if errors.Is(err, privacy.Deny) {
			for _, i := range at {
				denied[i] = err
			}
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("graph: loading nodes: %w", err)
		}
		for j, i := range at {
			out[i] = found[j]
		}
	}
	if err := hideInvisibleUsers(ctx, r.client, out); err != nil {
		return nil, nil, err
	}
	return out, denied, nil
}

// hideInvisibleUsers sets to nil each user in ns the caller may not see:
// anyone but themself who is not a member of the current tenant.
func hideInvisibleUsers(ctx context.Context, c *ent.Client, ns []ent.Noder) error {
	self := viewer.FromContext(ctx).UserID
	var others []int
	for _, n := range ns {
		if u, ok := n.(*ent.User); ok && u.ID != self {
			others = append(others, u.ID)
		}
	}
	if len(others) == 0 {
		return nil
	}
	// The Membership interceptor scopes this to the current tenant.
	members, err := c.Membership.Query().Where(membership.UserIDIn(others...)).
		Select(membership.FieldUserID).Ints(ctx)
	if err != nil {
		return fmt.Errorf("graph: checking user visibility: %w", err)
	}
	for i, n := range ns {
		if u, ok := n.(*ent.User); ok && u.ID != self && !slices.Contains(members, u.ID) {
			ns[i] = nil
		}
	}
	return nil
}

// userMemberships is the viewer's memberships in every tenant (with those
// tenants), or another user's membership in the current tenant, batched
// across a list of users when the operation is a query. The user that
// login or register answers with is the viewer for this: the request is
// anonymous (or another user's), but the token in the same answer is theirs.
func userMemberships(ctx context.Context, u *ent.User) ([]*ent.Membership, error) {
	v := viewer.FromContext(ctx)
	own := u.ID == v.UserID
	if !own && signedIn(ctx) {
		as := *v
		as.UserID, as.Role = u.ID, "" // their own memberships need no role
		ctx, own = viewer.NewContext(ctx, &as), true
	}
	if l := loadersFrom(ctx); l != nil && !own {
		return l.membershipsByUser().Load(ctx, u.ID)()
	}
	if own {
		ctx = viewer.WithOwnMemberships(ctx)
	}
	return u.QueryMemberships().WithTenant().WithUser().Order(ent.Asc(membership.FieldCreatedAt), ent.Asc(membership.FieldID)).All(ctx)
}

// signedIn reports whether ctx's field is one of an AuthPayload's user: the
// user whom login or register, the only fields that answer an AuthPayload,
// has just issued a token.
func signedIn(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Parent != nil && fc.Parent.Object == "AuthPayload" && fc.Parent.Field.Name == "user"
}
