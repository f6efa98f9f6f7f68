package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"tenantgraph/ent"
	"tenantgraph/ent/activitylog"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/tenant"
	"tenantgraph/internal/activity"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/role"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
)

// CreateTenantInput names a new tenant.
type CreateTenantInput struct {
	Name string
	Slug string
}

// CreateTenant creates a tenant and makes the caller its OWNER, unless they
// have created most tenants already (Forbidden; most 0: no bound). A taken
// slug is Conflict; invalid input is Invalid.
//
// Anyone can register, and a tenant is three rows that nothing deletes
// (the tenant, its OWNER's membership, its activity entry): without a bound,
// one account, at its request budget and fifty createTenant fields a
// mutation, could write tens of thousands a minute. What is bounded is
// the tenants a user created (their TenantCreated entries in the activity
// log, which is append-only), not the tenants they own: anyone may make
// anyone OWNER of their tenant with addMember, and counting those let an
// attacker use up someone else's quota, while handing a tenant on and
// leaving it gave the quota back.
func CreateTenant(ctx context.Context, c *ent.Client, in CreateTenantInput, most int) (*ent.Tenant, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, apperr.New(apperr.Unauthenticated, "creating a tenant needs a token")
	}
	if err := validate.Line("name", in.Name, 1, 100); err != nil {
		return nil, err
	}
	if err := validate.Slug("slug", in.Slug); err != nil {
		return nil, err
	}
	if most > 0 {
		if err := withinTenantQuota(ctx, c, v.UserID, most); err != nil {
			return nil, err
		}
	}
	t, err := c.Tenant.Create().SetName(in.Name).SetSlug(in.Slug).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.New(apperr.Conflict, "the slug %q is taken", in.Slug)
	}
	if err != nil {
		return nil, fmt.Errorf("tenancy: creating tenant: %w", err)
	}
	// The creator acts as the new tenant's OWNER to write its first membership.
	owner := viewer.NewContext(ctx, &viewer.Viewer{UserID: v.UserID, TenantID: t.ID, Role: role.Owner})
	if _, err := c.Membership.Create().SetUserID(v.UserID).SetRole(role.Owner).Save(owner); err != nil {
		return nil, fmt.Errorf("tenancy: making the creator OWNER: %w", err)
	}
	var ch changes.List
	ch.Add("name", "", t.Name)
	ch.Add("slug", "", t.Slug)
	return t, activity.Record(owner, c, activity.Entry{
		Action: TenantCreated, EntityType: "Tenant", EntityID: t.ID,
		Summary: "created tenant " + activity.Quote(t.Name), Changes: ch,
	})
}

// TenantCreated is the activity log's action for a tenant's creation,
// whose actor created it (ent/schema's ActivityLog has an index by actor
// and action for withinTenantQuota).
const TenantCreated = "tenant.create"

// withinTenantQuota answers Forbidden when user has created most tenants or
// more. On PostgreSQL it first takes a lock of the user's, held until the
// transaction ends, so that their creations at once are counted one after
// the other; SQLite's write transactions take turns already.
func withinTenantQuota(ctx context.Context, c *ent.Client, user, most int) error {
	if c.Dialect() == dialect.Postgres {
		var rows entsql.Rows
		if err := c.RawQuery(ctx, "SELECT pg_advisory_xact_lock($1, $2)", []any{tenantCreationLock, int32(user)}, &rows); err != nil {
			return fmt.Errorf("tenancy: locking the user's tenant creation: %w", err)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("tenancy: locking the user's tenant creation: %w", err)
		}
	}
	// Across tenants: system work, as the count reads other tenants' trails.
	created, err := c.ActivityLog.Query().Where(activitylog.ActorID(user), activitylog.Action(TenantCreated)).
		Count(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return fmt.Errorf("tenancy: counting the tenants the user created: %w", err)
	}
	if created >= most {
		return apperr.New(apperr.Forbidden, "you have created %d tenants already, the most one user may", created)
	}
	return nil
}

// tenantCreationLock is the first key of the advisory lock that
// withinTenantQuota takes; the second is the user's ID, of which only the
// low 32 bits count (a user's sequence number within its global ID range,
// internal/globalid): two users would share a lock only past four billion
// users, and then only wait for each other. Two-key advisory locks never
// conflict with one-key ones (the migrations').
const tenantCreationLock int32 = 0x74656e74 // "tent"

// EnsureDefault creates the "default" tenant when it is missing. It is system
// work run at start, outside any request.
func EnsureDefault(ctx context.Context, c *ent.Client) (*ent.Tenant, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	t, err := c.Tenant.Query().Where(tenant.Slug(DefaultSlug)).Only(ctx)
	if err == nil {
		return t, nil
	}
	if !ent.IsNotFound(err) {
		return nil, fmt.Errorf("tenancy: finding the default tenant: %w", err)
	}
	// Another instance starting at the same time may insert it first: the
	// conflicting insert then returns no row (sql.ErrNoRows), which is fine.
	err = c.Tenant.Create().SetName("Default").SetSlug(DefaultSlug).OnConflictColumns(tenant.FieldSlug).DoNothing().Exec(ctx)
	if err != nil && !ent.IsConstraintError(err) && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tenancy: creating the default tenant: %w", err)
	}
	return c.Tenant.Query().Where(tenant.Slug(DefaultSlug)).Only(ctx)
}
