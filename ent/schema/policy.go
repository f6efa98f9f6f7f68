package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/entql"

	gen "tenantgraph/ent"
	"tenantgraph/ent/hook"
	"tenantgraph/ent/intercept"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/project"
	"tenantgraph/ent/task"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
)

// This file holds every rule that confines reads and writes to the caller's
// tenant, and is the only schema file that imports generated packages (move
// it aside for the very first `go generate` of a fresh schema).
//
// Rules never Allow a request: an Allow would end evaluation before the
// tenant filter ran. They Deny, or add a filter and Skip. Only system work
// bypasses them, with privacy.DecisionContext(ctx, privacy.Allow): the
// default tenant and the demo seed at start-up, the outbox dispatcher and
// the notifier's writing of a committed broadcast's shares (in the tenant
// of the entry the change wrote: internal/notify/shares.go), the live
// feed's batched reads (graph/feed_hub.go, which checks each
// row's recipient and tenant itself) and the benchmark's data set.

// Policy of the Project: members read; MEMBER and up write.
func (Project) Policy() ent.Policy { return tenantPolicy(role.Member) }

// Policy of the Task: members read; MEMBER and up write.
func (Task) Policy() ent.Policy { return tenantPolicy(role.Member) }

// Policy of the Comment: members read; MEMBER and up write.
func (Comment) Policy() ent.Policy { return tenantPolicy(role.Member) }

// Interceptors of the Project.
func (Project) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Interceptors of the Task.
func (Task) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Interceptors of the Comment.
func (Comment) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Hooks of the Task: due_sort follows due_date (task.go), and the task's
// project and its assignee's membership must be visible through the scoped
// client, so that no task hangs under another tenant's project or goes to
// someone outside the tenant, whatever the caller. internal/projects checks
// the same first, to answer with the precise error (CONFLICT for an archived
// project, BAD_USER_INPUT for an assignee); this is the layer that holds even
// when a caller forgets.
func (Task) Hooks() []ent.Hook {
	return []ent.Hook{syncDueSort, hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.TaskFunc(func(ctx context.Context, m *gen.TaskMutation) (ent.Value, error) {
			if id, ok := m.ProjectID(); ok {
				if err := mustSee(ctx, "project", func() (bool, error) {
					return m.Client().Project.Query().Where(project.ID(id)).Exist(ctx)
				}); err != nil {
					return nil, err
				}
			}
			if id, ok := m.AssigneeID(); ok {
				if err := mustSee(ctx, "assignee", func() (bool, error) {
					return m.Client().Membership.Query().Where(membership.UserID(id)).Exist(ctx)
				}); err != nil {
					return nil, err
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne)}
}

// Hooks of the Comment: its task must be visible through the scoped client.
func (Comment) Hooks() []ent.Hook {
	return []ent.Hook{hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.CommentFunc(func(ctx context.Context, m *gen.CommentMutation) (ent.Value, error) {
			if id, ok := m.TaskID(); ok {
				if err := mustSee(ctx, "task", func() (bool, error) {
					return m.Client().Task.Query().Where(task.ID(id)).Exist(ctx)
				}); err != nil {
					return nil, err
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate)}
}

// mustSee runs a scoped existence check unless this is system work.
func mustSee(ctx context.Context, what string, exists func() (bool, error)) error {
	if d, ok := privacy.DecisionFromContext(ctx); ok && d == nil {
		return nil
	}
	ok, err := exists()
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "no such %s in this tenant", what)
	}
	return nil
}

// Interceptors of the ActivityLog.
func (ActivityLog) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Policy of the ActivityLog: the trail is the OWNERs' to read, written by
// whoever makes a change (any member: even marking notifications read is a
// change), and append-only: nothing updates or deletes an entry, system work
// included.
func (ActivityLog) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Has(role.Owner) {
					return privacy.Denyf("only an OWNER reads the activity log")
				}
				f.(tenantFilter).WhereTenantID(entql.IntEQ(v.TenantID))
				return privacy.Skip
			}),
		},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
			tenantPolicy(role.Viewer).(privacy.Policy).Mutation,
		},
	}
}

// Interceptors of the Notification.
func (Notification) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Interceptors of the OutboxEntry.
func (OutboxEntry) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Policy of the OutboxEntry: written (by MEMBER and up, whose changes notify
// people) inside the request's transaction; read and updated only by the
// dispatcher, which is system work.
func (OutboxEntry) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
			tenantPolicy(role.Member).(privacy.Policy).Mutation,
		},
	}
}

// Policy of the Notification: a notification is its recipient's alone, in
// the tenant it belongs to. Members whose changes notify people create them;
// the recipient (any role) marks them read; nobody deletes them.
func (Notification) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Member() {
					return privacy.Denyf("not a member of the tenant")
				}
				nf := f.(*gen.NotificationFilter)
				nf.WhereTenantID(entql.IntEQ(v.TenantID))
				nf.WhereRecipientID(entql.IntEQ(v.UserID))
				return privacy.Skip
			}),
		},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpDelete|ent.OpDeleteOne),
			privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Has(role.Member) {
					return privacy.Denyf("role %q does not notify anyone", v.Role)
				}
				return privacy.Skip
			}), ent.OpCreate),
			privacy.OnMutationOperation(privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Member() {
					return privacy.Denyf("not a member of the tenant")
				}
				nf := f.(*gen.NotificationFilter)
				nf.WhereTenantID(entql.IntEQ(v.TenantID))
				nf.WhereRecipientID(entql.IntEQ(v.UserID))
				return privacy.Skip
			}), ent.OpUpdate|ent.OpUpdateOne),
		},
	}
}

// Interceptors of the Membership.
func (Membership) Interceptors() []ent.Interceptor { return []ent.Interceptor{tenantInterceptor} }

// Policy of the Membership: members see the tenant's memberships; a
// non-member sees only their own (absent) one, which is how a request's role
// is looked up; the viewer's own membership list sees theirs in every tenant.
// Only OWNERs write.
func (Membership) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				mf := f.(*gen.MembershipFilter)
				if !v.Authenticated() {
					return privacy.Denyf("anonymous read of memberships")
				}
				if viewer.OwnMemberships(ctx) {
					mf.WhereUserID(entql.IntEQ(v.UserID))
					return privacy.Skip
				}
				mf.WhereTenantID(entql.IntEQ(v.TenantID))
				if !v.Member() {
					mf.WhereUserID(entql.IntEQ(v.UserID))
				}
				return privacy.Skip
			}),
		},
		Mutation: privacy.MutationPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Has(role.Owner) {
					return privacy.Denyf("only an OWNER changes memberships")
				}
				f.(tenantFilter).WhereTenantID(entql.IntEQ(v.TenantID))
				return privacy.Skip
			}),
		},
	}
}

// Policy of the Tenant. Before a request's tenant is resolved, tenants can be
// looked up (by slug or ID, from the request's headers: a tenant's id, slug
// and name are what a client already names it by). Once resolved, only the
// current tenant is visible, plus, for the viewer's own membership list, the
// tenants the viewer belongs to. Any authenticated user creates a tenant;
// only its OWNER updates it; nobody deletes one.
func (Tenant) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v := viewer.FromContext(ctx)
				if v == nil || v.TenantID == 0 {
					return privacy.Skip
				}
				tf := f.(*gen.TenantFilter)
				if viewer.OwnMemberships(ctx) && v.Authenticated() {
					tf.WhereHasMembershipsWith(membership.UserID(v.UserID))
					return privacy.Skip
				}
				tf.WhereID(entql.IntEQ(v.TenantID))
				return privacy.Skip
			}),
		},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
				if v := viewer.FromContext(ctx); !v.Authenticated() {
					return privacy.Denyf("creating a tenant needs an account")
				}
				return privacy.Skip
			}), ent.OpCreate),
			privacy.OnMutationOperation(privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Has(role.Owner) {
					return privacy.Denyf("only an OWNER changes a tenant")
				}
				f.(*gen.TenantFilter).WhereID(entql.IntEQ(v.TenantID))
				return privacy.Skip
			}), ent.OpUpdate|ent.OpUpdateOne),
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpDelete|ent.OpDeleteOne),
		},
	}
}

// Policy of the User: accounts are global and readable; they are created by
// registration; nothing on a request path updates or deletes one.
func (User) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
		},
	}
}

// tenantFilter is implemented by the entql filter of every tenant-owned entity.
type tenantFilter interface {
	WhereTenantID(entql.IntP)
}

// tenantPolicy scopes reads, updates and deletes of a tenant-owned entity to
// the caller's tenant, lets only members read, and only minWrite and up write.
func tenantPolicy(minWrite role.Role) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Member() {
					return privacy.Denyf("not a member of the tenant")
				}
				f.(tenantFilter).WhereTenantID(entql.IntEQ(v.TenantID))
				return privacy.Skip
			}),
		},
		Mutation: privacy.MutationPolicy{
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v, err := requestViewer(ctx)
				if err != nil {
					return err
				}
				if !v.Has(minWrite) {
					return privacy.Denyf("role %q may not write here", v.Role)
				}
				f.(tenantFilter).WhereTenantID(entql.IntEQ(v.TenantID))
				return privacy.Skip
			}),
		},
	}
}

// requestViewer returns the viewer of a request whose tenant is resolved.
func requestViewer(ctx context.Context) (*viewer.Viewer, error) {
	v := viewer.FromContext(ctx)
	if v == nil || v.TenantID == 0 {
		return nil, privacy.Denyf("tenant-owned data accessed without a tenant")
	}
	return v, nil
}

// tenantInterceptor is a second layer, independent of the privacy filters: it
// adds tenant_id = <current tenant> to every traversal of tenant-owned data.
var tenantInterceptor = intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
	if d, ok := privacy.DecisionFromContext(ctx); ok && d == nil {
		return nil // system work, such as seeding
	}
	v, err := requestViewer(ctx)
	if err != nil {
		return err
	}
	if q.Type() == gen.TypeMembership && viewer.OwnMemberships(ctx) {
		q.WhereP(sql.FieldEQ(membership.FieldUserID, v.UserID))
		return nil
	}
	q.WhereP(sql.FieldEQ("tenant_id", v.TenantID))
	return nil
})
