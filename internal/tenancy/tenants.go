package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tenantgraph/ent"
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

// CreateTenant creates a tenant and makes the caller its OWNER. A taken slug
// is Conflict; invalid input is Invalid.
func CreateTenant(ctx context.Context, c *ent.Client, in CreateTenantInput) (*ent.Tenant, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, apperr.New(apperr.Unauthenticated, "creating a tenant needs a token")
	}
	if err := validate.Text("name", in.Name, 1, 100); err != nil {
		return nil, err
	}
	if err := validate.Slug("slug", in.Slug); err != nil {
		return nil, err
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
		Action: "tenant.create", EntityType: "Tenant", EntityID: t.ID,
		Summary: "created tenant " + activity.Quote(t.Name), Changes: ch,
	})
}

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
