package tenancy_test

import (
	"context"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/user"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/role"
	"tenantgraph/internal/tenancy"
	"tenantgraph/internal/viewer"
)

// acmeOwners is a tenant acme with two OWNERs, Olga and Mallory, and a
// MEMBER, Mia; Mallory's context is her operation's, its role read as
// OWNER when it started.
type acmeOwners struct {
	e                  *graphtest.Env
	olga, mallory, mia graphtest.User
	tenant             int
	malloryCtx         context.Context
	malloryMembership  string
	miaMembership      int
	accomplice         graphtest.User
	slug               string
}

func newAcmeOwners(t *testing.T, e *graphtest.Env, suffix string) *acmeOwners {
	t.Helper()
	a := &acmeOwners{e: e, olga: e.Register("Olga" + suffix), mallory: e.Register("Mallory" + suffix), mia: e.Register("Mia" + suffix),
		accomplice: e.Register("Accomplice" + suffix), slug: "acme" + suffix}
	a.tenant = decode(t, e.CreateTenant(a.olga, a.slug))
	a.malloryMembership = e.AddMember(a.olga, a.slug, a.mallory, "OWNER")
	a.miaMembership = decode(t, e.AddMember(a.olga, a.slug, a.mia, "MEMBER"))
	a.malloryCtx = viewer.NewContext(context.Background(), &viewer.Viewer{UserID: decode(t, a.mallory.ID), TenantID: a.tenant, Role: role.Owner})
	return a
}

func decode(t *testing.T, gid string) int {
	t.Helper()
	id, err := globalid.Decode(gid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// administer runs each of the OWNER's changes as Mallory, in a
// transaction of its own, and returns their errors.
func (a *acmeOwners) administer(t *testing.T) map[string]error {
	t.Helper()
	members := tenancy.NewMembers(nil)
	olga := decode(t, a.olga.ID)
	url := "https://93.184.216.34/hook"
	checked, err := notify.CheckConfig(a.malloryCtx, notify.WebhookGuard{}, notify.ConfigInput{WebhookSet: true, WebhookURL: &url})
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(c *ent.Client) error{
		"addMember": func(c *ent.Client) error {
			_, err := members.AddMember(a.malloryCtx, c, a.accomplice.Email, role.Owner)
			return err
		},
		"updateMemberRole": func(c *ent.Client) error {
			_, err := members.UpdateMemberRole(a.malloryCtx, c, a.miaMembership, role.Owner)
			return err
		},
		"removeMember": func(c *ent.Client) error {
			owner, err := c.Membership.Query().Where(membership.UserID(olga)).OnlyID(a.malloryCtx)
			if err != nil {
				return err
			}
			return members.RemoveMember(a.malloryCtx, c, owner)
		},
		"updateTenantConfig": func(c *ent.Client) error {
			_, err := notify.UpdateConfig(a.malloryCtx, c, checked)
			return err
		},
	}
	out := map[string]error{}
	for name, change := range changes {
		tx, err := a.e.DB.Client.Tx(a.malloryCtx)
		if err != nil {
			t.Fatal(err)
		}
		if out[name] = change(tx.Client()); out[name] == nil {
			out[name] = tx.Commit()
		}
		_ = tx.Rollback()
	}
	return out
}

// An OWNER removed or demoted after their operation started (its role was
// read then, before its transaction) changes nothing of the tenant's
// administration: adding an accomplice as OWNER, promoting, removing the
// other OWNER or pointing the tenant's Slack elsewhere are FORBIDDEN once
// the role is read again under the tenant's lock.
func TestAFormerOwnerAdministersNothing(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		for _, how := range []string{"removed", "demoted"} {
			t.Run(how, func(t *testing.T) {
				a := newAcmeOwners(t, e, how)
				if how == "removed" {
					e.MustDo(a.olga.Caller(a.slug), `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": a.malloryMembership}, nil)
				} else {
					e.MustDo(a.olga.Caller(a.slug), `mutation($id: ID!) { updateMemberRole(id: $id, role: MANAGER) { id } }`, map[string]any{"id": a.malloryMembership}, nil)
				}
				for name, err := range a.administer(t) {
					if !apperr.Is(err, apperr.Forbidden) {
						t.Errorf("%s by the %s OWNER: got %v, want FORBIDDEN", name, how, err)
					}
				}
				system := privacy.DecisionContext(context.Background(), privacy.Allow)
				owners, err := e.DB.Client.Membership.Query().Where(membership.TenantID(a.tenant), membership.RoleEQ(role.Owner)).
					QueryUser().Select(user.FieldEmail).Strings(system)
				if err != nil {
					t.Fatal(err)
				}
				if len(owners) != 1 || owners[0] != a.olga.Email {
					t.Errorf("OWNERs afterwards: got %v, want only %s", owners, a.olga.Email)
				}
				tn, err := e.DB.Client.Tenant.Get(system, a.tenant)
				if err != nil || tn.SlackWebhookURL != "" {
					t.Errorf("the tenant's webhook afterwards: got %q (%v), want none", tn.SlackWebhookURL, err)
				}
			})
		}
	})
}

// The same when the removal holds the tenant's lock while the removed
// OWNER's change waits for it (PostgreSQL; SQLite's write transactions
// take turns from their start, which the test above covers): the change
// reads the role once the removal has committed.
func TestAnOwnerRemovedWhileTheirChangeWaitsAdministersNothing(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		a := newAcmeOwners(t, e, "")
		olgaCtx := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: decode(t, a.olga.ID), TenantID: a.tenant, Role: role.Owner})
		members := tenancy.NewMembers(nil)
		removal, err := e.DB.Client.Tx(olgaCtx)
		if err != nil {
			t.Fatal(err)
		}
		defer removal.Rollback() //nolint:errcheck // a no-op after Commit
		if err := members.RemoveMember(olgaCtx, removal.Client(), decode(t, a.malloryMembership)); err != nil {
			t.Fatal(err)
		}
		added := make(chan error, 1)
		go func() {
			tx, err := e.DB.Client.Tx(a.malloryCtx)
			if err == nil {
				if _, err = members.AddMember(a.malloryCtx, tx.Client(), a.accomplice.Email, role.Owner); err == nil {
					err = tx.Commit()
				}
				_ = tx.Rollback()
			}
			added <- err
		}()
		e.AwaitLockWait(t)
		if err := removal.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-added; !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("the removed OWNER's addMember: got %v, want FORBIDDEN", err)
		}
	})
}

// Membership changes lock the tenant without writing it: its updatedAt,
// which currentTenant shows anyone, does not tell when they happened.
func TestMembershipChangesLeaveTheTenantUntouched(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		a := newAcmeOwners(t, e, "")
		system := privacy.DecisionContext(context.Background(), privacy.Allow)
		before, err := e.DB.Client.Tenant.Get(system, a.tenant)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		e.MustDo(a.olga.Caller(a.slug), `mutation($id: ID!) { updateMemberRole(id: $id, role: VIEWER) { id } }`,
			map[string]any{"id": globalid.Encode(a.miaMembership)}, nil)
		after, err := e.DB.Client.Tenant.Get(system, a.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("the tenant's updatedAt moved from %v to %v with a role change", before.UpdatedAt, after.UpdatedAt)
		}
	})
}
