// Package seed fills the default tenant with demo data so that a new user can
// explore the API in GraphiQL at once. It is system work, run at start.
package seed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/project"
	"tenantgraph/ent/user"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/priority"
	"tenantgraph/internal/role"
	"tenantgraph/internal/workflow"
)

// Account is a demo user with the password set for this start.
type Account struct {
	Email    string
	Password string
	Role     role.Role
}

// Demo makes one user per role in the tenant (resetting their passwords to
// fresh random ones every time) and, when the tenant has no projects yet,
// projects in several statuses with tasks and comments. It returns the
// accounts so that the caller can print them.
func Demo(ctx context.Context, c *ent.Client, passwords *auth.Passwords, tenantID int) ([]Account, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	var accounts []Account
	users := map[role.Role]int{}
	for _, r := range role.All {
		email := fmt.Sprintf("%s@demo.local", lower(r))
		pw, err := randomPassword()
		if err != nil {
			return nil, err
		}
		hash, err := passwords.Hash(pw)
		if err != nil {
			return nil, err
		}
		id, err := c.User.Create().SetEmail(email).SetName("Demo " + title(r)).SetPasswordHash(hash).
			OnConflictColumns(user.FieldEmail).UpdatePasswordHash().ID(ctx)
		if err != nil {
			return nil, fmt.Errorf("seed: user %s: %w", email, err)
		}
		err = c.Membership.Create().SetTenantID(tenantID).SetUserID(id).SetRole(r).
			OnConflictColumns(membership.FieldTenantID, membership.FieldUserID).UpdateRole().Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("seed: membership of %s: %w", email, err)
		}
		users[r] = id
		accounts = append(accounts, Account{Email: email, Password: pw, Role: r})
	}
	n, err := c.Project.Query().Where(project.TenantID(tenantID)).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: counting projects: %w", err)
	}
	if n == 0 {
		if err := demoProjects(ctx, c, tenantID, users); err != nil {
			return nil, err
		}
	}
	return accounts, nil
}

func demoProjects(ctx context.Context, c *ent.Client, tenantID int, users map[role.Role]int) error {
	plans := []struct {
		name   string
		status workflow.Status
		tasks  []string
	}{
		{"Website relaunch", workflow.Draft, []string{"Audit current pages", "Write new copy", "Pick a typeface"}},
		{"Mobile app v2", workflow.Submitted, []string{"Offline mode spike", "Push notification design"}},
		{"Billing migration", workflow.Approved, []string{"Map old plans to new", "Dry-run the import"}},
		{"Customer portal", workflow.Active, []string{"Login flow", "Invoice list", "Support chat widget", "Accessibility review"}},
		{"Legacy reports", workflow.Rejected, []string{"Inventory report usage"}},
		{"Q3 security review", workflow.Completed, []string{"Rotate secrets", "Pen-test follow-ups"}},
		{"Old intranet", workflow.Archived, []string{"Export wiki pages"}},
	}
	due := time.Now().UTC().Truncate(24 * time.Hour).Add(14 * 24 * time.Hour)
	prios := []priority.Priority{priority.Low, priority.Medium, priority.High, priority.Urgent}
	for i, p := range plans {
		creator := users[role.Member]
		if i%2 == 1 {
			creator = users[role.Manager]
		}
		proj, err := c.Project.Create().SetTenantID(tenantID).SetName(p.name).
			SetDescription("Demo project: " + p.name + ".").SetStatus(p.status).SetCreatedByID(creator).Save(ctx)
		if err != nil {
			return fmt.Errorf("seed: project %q: %w", p.name, err)
		}
		for j, t := range p.tasks {
			task, err := c.Task.Create().SetTenantID(tenantID).SetProjectID(proj.ID).SetTitle(t).
				SetPriority(prios[(i+j)%len(prios)]).SetAssigneeID(users[role.Member]).
				SetDueDate(due.Add(time.Duration(j) * 24 * time.Hour)).SetCreatedByID(creator).Save(ctx)
			if err != nil {
				return fmt.Errorf("seed: task %q: %w", t, err)
			}
			for k, author := range []int{users[role.Manager], users[role.Member]} {
				_, err := c.Comment.Create().SetTenantID(tenantID).SetTaskID(task.ID).SetAuthorID(author).
					SetBody(fmt.Sprintf("Demo comment %d on %q.", k+1, t)).Save(ctx)
				if err != nil {
					return fmt.Errorf("seed: comment: %w", err)
				}
			}
		}
	}
	return nil
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("seed: random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func lower(r role.Role) string { return strings.ToLower(string(r)) }

func title(r role.Role) string {
	s := lower(r)
	return strings.ToUpper(s[:1]) + s[1:]
}
