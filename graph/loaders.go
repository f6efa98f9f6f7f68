package graph

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/vektah/gqlparser/v2/ast"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
)

// loaders batch the reads that ent's eager loading does not reach: fields
// with hand-written resolvers, such as User.memberships under a members
// list. They are made per operation (a websocket runs many operations; one
// cache across them would serve stale data), when first used, and only for
// queries: a mutation's reads must see its own uncommitted writes, so they
// go through the transaction instead, and a subscription lives for hours,
// over which a loader's cache would go stale.
type loaders struct {
	ext    loaderExtension
	once   sync.Once
	byUser *dataloader.Loader[int, []*ent.Membership]
}

// membershipsByUser is the operation's loader of users' memberships.
func (l *loaders) membershipsByUser() *dataloader.Loader[int, []*ent.Membership] {
	l.once.Do(func() {
		l.byUser = dataloader.NewBatchedLoader(l.ext.membershipsByUser,
			dataloader.WithWait[int, []*ent.Membership](loaderWait),
			dataloader.WithBatchCapacity[int, []*ent.Membership](500))
	})
	return l.byUser
}

// loaderWait is how long a loader collects keys before it queries. Sibling
// fields resolve concurrently, so a short window catches a whole list.
const loaderWait = 3 * time.Millisecond

type loadersKey struct{}

// loaderExtension gives every query operation its loaders.
type loaderExtension struct{ client *ent.Client }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = loaderExtension{}

func (loaderExtension) ExtensionName() string                   { return "Loaders" }
func (loaderExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (e loaderExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Query {
		return next(ctx)
	}
	return next(context.WithValue(ctx, loadersKey{}, &loaders{ext: e}))
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// membershipsByUser loads the memberships of many users in one query. The
// context carries the request's viewer, so the privacy layer scopes the
// query to the current tenant like any other.
func (e loaderExtension) membershipsByUser(ctx context.Context, userIDs []int) []*dataloader.Result[[]*ent.Membership] {
	out := make([]*dataloader.Result[[]*ent.Membership], len(userIDs))
	ms, err := e.client.Membership.Query().
		Where(membership.UserIDIn(userIDs...)).
		WithTenant().WithUser().
		Order(ent.Asc(membership.FieldCreatedAt), ent.Asc(membership.FieldID)).
		All(ctx)
	byUser := map[int][]*ent.Membership{}
	for _, m := range ms {
		byUser[m.UserID] = append(byUser[m.UserID], m)
	}
	for i, id := range userIDs {
		if err != nil {
			out[i] = &dataloader.Result[[]*ent.Membership]{Error: err}
			continue
		}
		list := byUser[id]
		if list == nil {
			list = []*ent.Membership{}
		}
		out[i] = &dataloader.Result[[]*ent.Membership]{Data: list}
	}
	return out
}
