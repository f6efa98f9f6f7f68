package graph

import (
	"context"
	"errors"
	"fmt"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/migrate"
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
	n, err := r.client.Noder(ctx, id, ent.WithNodeType(nodeType))
	switch {
	case ent.IsNotFound(err), errors.Is(err, errUnknownRange):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("graph: loading node: %w", err)
	}
	if u, ok := n.(*ent.User); ok {
		visible, err := userVisible(ctx, r.client, u.ID)
		if err != nil || !visible {
			return nil, err
		}
	}
	return n, nil
}

// nodes loads up to maxNodes objects; each invisible one is null.
func (r *Resolver) nodes(ctx context.Context, ids []int) ([]ent.Noder, error) {
	if len(ids) > maxNodes {
		return nil, apperr.InvalidField("ids", "at most %d IDs at a time, got %d", maxNodes, len(ids))
	}
	out := make([]ent.Noder, len(ids))
	for i, id := range ids {
		n, err := r.node(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// userVisible reports whether the caller may see the user: themself, or a
// member of the current tenant.
func userVisible(ctx context.Context, c *ent.Client, id int) (bool, error) {
	if id == viewer.FromContext(ctx).UserID {
		return true, nil
	}
	ok, err := c.Membership.Query().Where(membership.UserID(id)).Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("graph: checking user visibility: %w", err)
	}
	return ok, nil
}

// userMemberships is the viewer's memberships in every tenant (with those
// tenants), or another user's membership in the current tenant, batched
// across a list of users when the operation is a query.
func userMemberships(ctx context.Context, u *ent.User) ([]*ent.Membership, error) {
	own := u.ID == viewer.FromContext(ctx).UserID
	if l := loadersFrom(ctx); l != nil && !own {
		return l.membershipsByUser().Load(ctx, u.ID)()
	}
	if own {
		ctx = viewer.WithOwnMemberships(ctx)
	}
	return u.QueryMemberships().WithTenant().WithUser().Order(ent.Asc(membership.FieldCreatedAt), ent.Asc(membership.FieldID)).All(ctx)
}
