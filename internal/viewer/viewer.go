// Package viewer carries who is calling, in which tenant and with which role,
// through a request's context. The data layer's privacy rules read it to scope
// every query and write to the caller's tenant.
package viewer

import (
	"context"

	"tenantgraph/internal/role"
)

// Viewer is the caller of one operation. Identity comes from the token;
// TenantID and Role are looked up for every operation, never trusted from the
// token, so a removed member loses access at once.
type Viewer struct {
	UserID   int       // 0: anonymous
	TenantID int       // 0: tenant not resolved yet
	Role     role.Role // "": not a member of the tenant
}

// Authenticated reports whether the caller presented a valid token.
func (v *Viewer) Authenticated() bool { return v != nil && v.UserID != 0 }

// Member reports whether the caller holds any role in the tenant.
func (v *Viewer) Member() bool { return v != nil && v.TenantID != 0 && v.Role.Valid() }

// Has reports whether the caller's role is min or above.
func (v *Viewer) Has(min role.Role) bool { return v != nil && v.TenantID != 0 && v.Role.AtLeast(min) }

type ctxKey struct{}

type ownKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, or nil.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(ctxKey{}).(*Viewer)
	return v
}

// WithOwnMemberships widens the membership scope of ctx from "memberships of
// the current tenant" to "the caller's own memberships in every tenant" (and
// those tenants). Only the viewer's own membership list uses it.
func WithOwnMemberships(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownKey{}, true)
}

// OwnMemberships reports whether ctx was widened by WithOwnMemberships.
func OwnMemberships(ctx context.Context) bool {
	b, _ := ctx.Value(ownKey{}).(bool)
	return b
}
