package tenancy

import (
	"context"
	"fmt"
	"sync/atomic"

	"tenantgraph/ent"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/viewer"
)

// A mutation's checks use the caller's role as read when the operation
// started, before its transaction: a MANAGER demoted to MEMBER, or a
// member removed, by a change that commits while the mutation runs would
// otherwise still commit what only their old role allowed (move a project
// to APPROVED, delete someone else's task). ConfirmRole closes that
// window: it is called in the mutation's transaction just before it
// commits, and reads the role again.

// roleHoldKey keys the *roleHold of a mutation's context.
type roleHoldKey struct{}

// roleHold records that a mutation's transaction has already read the
// caller's role under the tenant's lock (LockAsOwner), which no change of
// a membership can pass until the transaction ends.
type roleHold struct{ locked atomic.Bool }

// WithRoleHold returns ctx for a mutation whose transaction ConfirmRole
// will confirm.
func WithRoleHold(ctx context.Context) context.Context {
	return context.WithValue(ctx, roleHoldKey{}, &roleHold{})
}

func heldUnderLock(ctx context.Context) {
	if h, ok := ctx.Value(roleHoldKey{}).(*roleHold); ok {
		h.locked.Store(true)
	}
}

// ConfirmRole reads, in the mutation's transaction c, the caller's role in
// the tenant, and refuses (Forbidden) if it is now below the role the
// mutation's checks used: the mutation must then be rolled back. On
// PostgreSQL the membership row is read FOR SHARE, so that a demotion or
// removal that has not committed yet waits for this transaction to end,
// and one that committed is seen (under READ COMMITTED, the locking read
// sees the latest committed row); SQLite's write transactions take turns
// from their start, so there the read is already the latest.
//
// Nothing is read when the caller used no role here (anonymous, or not a
// member of the tenant: register, login, createTenant), or when the
// transaction read the role under the tenant's lock already (the OWNER's
// administration, through LockAsOwner): that read holds until the commit,
// and an OWNER who removes or demotes themselves must not be refused for it.
func ConfirmRole(ctx context.Context, c *ent.Client) error {
	v := viewer.FromContext(ctx)
	if !v.Member() {
		return nil
	}
	if h, ok := ctx.Value(roleHoldKey{}).(*roleHold); ok && h.locked.Load() {
		return nil
	}
	now, err := roleIn(ctx, c, v.TenantID, v.UserID, true)
	if err != nil {
		return fmt.Errorf("tenancy: confirming the caller's role: %w", err)
	}
	switch {
	case !now.Valid():
		return apperr.New(apperr.Forbidden, "you were removed from this tenant while this ran; nothing was written")
	case !now.AtLeast(v.Role):
		return apperr.New(apperr.Forbidden, "your role in this tenant changed to %s while this ran; nothing was written", now)
	}
	return nil
}
