package tenancy

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/tenant"
	"tenantgraph/ent/user"
	"tenantgraph/internal/activity"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/role"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
)

// MemberNotifier is told, inside the transaction, that a user was added
// or removed.
type MemberNotifier interface {
	MemberAdded(ctx context.Context, c *ent.Client, m *ent.Membership) error
	MemberRemoved(ctx context.Context, m *ent.Membership)
}

// Members administers the members of the current tenant.
type Members struct{ notify MemberNotifier }

// NewMembers returns a Members notifying through n (nil: nobody is notified).
func NewMembers(n MemberNotifier) *Members { return &Members{notify: n} }

// AddMember gives the registered user with email a role in the current
// tenant. An unknown email is NotFound; an existing member is Conflict.
func (s *Members) AddMember(ctx context.Context, c *ent.Client, email string, r role.Role) (*ent.Membership, error) {
	if !r.Valid() {
		return nil, apperr.InvalidField("role", "must be one of OWNER, MANAGER, MEMBER, VIEWER")
	}
	norm, err := validate.Email("email", email)
	if err != nil {
		return nil, err
	}
	if err := LockAsOwner(ctx, c); err != nil {
		return nil, err
	}
	u, err := c.User.Query().Where(user.Email(norm)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "no registered user has the email %q", norm)
	}
	if err != nil {
		return nil, fmt.Errorf("tenancy: finding user: %w", err)
	}
	exists, err := c.Membership.Query().Where(membership.UserID(u.ID)).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenancy: checking membership: %w", err)
	}
	if exists {
		return nil, apperr.New(apperr.Conflict, "%s is already a member", norm)
	}
	m, err := c.Membership.Create().SetUserID(u.ID).SetRole(r).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.New(apperr.Conflict, "%s is already a member", norm)
	}
	if err != nil {
		return nil, fmt.Errorf("tenancy: adding member: %w", err)
	}
	if s.notify != nil {
		if err := s.notify.MemberAdded(ctx, c, m); err != nil {
			return nil, err
		}
	}
	var ch changes.List
	ch.Add("user", "", norm)
	ch.Add("role", "", string(m.Role))
	return m, activity.Record(ctx, c, activity.Entry{
		Action: "member.add", EntityType: "Membership", EntityID: m.ID,
		Summary: fmt.Sprintf("added %s as %s", norm, m.Role), Changes: ch,
	})
}

// UpdateMemberRole changes a member's role. Demoting the last OWNER is
// Conflict; a membership of another tenant is NotFound.
func (s *Members) UpdateMemberRole(ctx context.Context, c *ent.Client, id int, r role.Role) (*ent.Membership, error) {
	if !r.Valid() {
		return nil, apperr.InvalidField("role", "must be one of OWNER, MANAGER, MEMBER, VIEWER")
	}
	m, err := lockedMembership(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if m.Role == role.Owner && r != role.Owner {
		if err := keepAnOwner(ctx, c, "demote"); err != nil {
			return nil, err
		}
	}
	old := m.Role
	m, err = m.Update().SetRole(r).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenancy: updating role: %w", err)
	}
	var ch changes.List
	ch.Add("role", string(old), string(m.Role))
	return m, activity.Record(ctx, c, activity.Entry{
		Action: "member.update_role", EntityType: "Membership", EntityID: m.ID,
		Summary: fmt.Sprintf("%s → %s", old, m.Role), Changes: ch,
	})
}

// RemoveMember removes a membership. Removing the last OWNER is Conflict; a
// membership of another tenant is NotFound.
func (s *Members) RemoveMember(ctx context.Context, c *ent.Client, id int) error {
	m, err := lockedMembership(ctx, c, id)
	if err != nil {
		return err
	}
	if m.Role == role.Owner {
		if err := keepAnOwner(ctx, c, "remove"); err != nil {
			return err
		}
	}
	if err := c.Membership.DeleteOne(m).Exec(ctx); err != nil {
		return fmt.Errorf("tenancy: removing member: %w", err)
	}
	if s.notify != nil {
		s.notify.MemberRemoved(ctx, m)
	}
	var ch changes.List
	ch.Add("role", string(m.Role), "")
	return activity.Record(ctx, c, activity.Entry{
		Action: "member.remove", EntityType: "Membership", EntityID: m.ID,
		Summary: fmt.Sprintf("removed a %s", m.Role), Changes: ch,
	})
}

// LockAsOwner serialises the current tenant's administration (its
// memberships and its settings: so that two concurrent demotions cannot
// both see "another OWNER remains") and checks, under that lock, that the
// caller is still an OWNER of it. The caller's role was read when the
// operation started, before its transaction: an OWNER removed or demoted
// by a change that committed since (or that held the lock while this
// waited) must not go on to add an accomplice as OWNER or point the
// tenant's Slack at themselves. On PostgreSQL the tenant's row is locked
// (SELECT … FOR UPDATE: a write would also move the tenant's public
// updatedAt); SQLite's write transactions take turns from their start.
func LockAsOwner(ctx context.Context, c *ent.Client) error {
	v := viewer.FromContext(ctx)
	if c.Dialect() == dialect.Postgres {
		if _, err := c.Tenant.Query().Where(tenant.ID(v.TenantID)).ForUpdate().Only(ctx); err != nil {
			return fmt.Errorf("tenancy: locking tenant: %w", err)
		}
	}
	now, err := RoleIn(ctx, c, v.TenantID, v.UserID)
	if err != nil {
		return fmt.Errorf("tenancy: reading the caller's role: %w", err)
	}
	if now != role.Owner {
		return apperr.New(apperr.Forbidden, "you are no longer an OWNER of this tenant")
	}
	heldUnderLock(ctx) // ConfirmRole need not read it again
	return nil
}

// lockedMembership takes the tenant's administration lock as its OWNER
// (LockAsOwner), then loads the membership through the scoped client.
func lockedMembership(ctx context.Context, c *ent.Client, id int) (*ent.Membership, error) {
	if err := LockAsOwner(ctx, c); err != nil {
		return nil, err
	}
	m, err := c.Membership.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "no such member")
	}
	if err != nil {
		return nil, fmt.Errorf("tenancy: loading member: %w", err)
	}
	return m, nil
}

func keepAnOwner(ctx context.Context, c *ent.Client, verb string) error {
	owners, err := c.Membership.Query().Where(membership.RoleEQ(role.Owner)).Count(ctx)
	if err != nil {
		return fmt.Errorf("tenancy: counting owners: %w", err)
	}
	if owners <= 1 {
		return apperr.New(apperr.Conflict, "cannot %s the last OWNER of the tenant", verb)
	}
	return nil
}
