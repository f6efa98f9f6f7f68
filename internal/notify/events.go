package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/user"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// ProjectTransitioned notifies about a project that has just moved from
// status from to p.Status.
func (n *Notifier) ProjectTransitioned(ctx context.Context, c *ent.Client, p *ent.Project, from workflow.Status) error {
	var approvers []int
	if p.Status == workflow.Submitted {
		ids, err := c.Membership.Query().
			Where(membership.RoleIn(role.Manager, role.Owner)).
			Select(membership.FieldUserID).Ints(ctx)
		if err != nil {
			return fmt.Errorf("notify: finding approvers: %w", err)
		}
		approvers = ids
	}
	kind, recipients := TransitionRecipients(p.Status, p.CreatedByID, approvers, viewer.FromContext(ctx).UserID)
	return n.deliver(ctx, c, delivery{
		kind: kind, recipients: recipients, projectID: &p.ID,
		texts: func(actor string, _ *ent.Tenant) (string, string) {
			if kind == KindProjectSubmitted {
				return quote(p.Name) + " was submitted for approval",
					fmt.Sprintf("%s submitted the project %s for approval.", actor, quote(p.Name))
			}
			return fmt.Sprintf("%s is now %s", quote(p.Name), p.Status),
				fmt.Sprintf("%s moved the project %s from %s to %s.", actor, quote(p.Name), from, p.Status)
		},
	})
}

// TaskAssigned notifies a task's new assignee.
func (n *Notifier) TaskAssigned(ctx context.Context, c *ent.Client, t *ent.Task) error {
	if t.AssigneeID == nil {
		return nil
	}
	return n.deliver(ctx, c, delivery{
		kind:       KindTaskAssigned,
		recipients: AssignmentRecipients(*t.AssigneeID, viewer.FromContext(ctx).UserID),
		projectID:  &t.ProjectID, taskID: &t.ID,
		texts: func(actor string, _ *ent.Tenant) (string, string) {
			return "You were assigned " + quote(t.Title), fmt.Sprintf("%s assigned you the task %s.", actor, quote(t.Title))
		},
	})
}

// CommentAdded notifies a task's creator and assignee of a new comment.
func (n *Notifier) CommentAdded(ctx context.Context, c *ent.Client, cm *ent.Comment, t *ent.Task) error {
	assignee := 0
	if t.AssigneeID != nil {
		assignee = *t.AssigneeID
	}
	return n.deliver(ctx, c, delivery{
		kind:       KindCommentAdded,
		recipients: CommentRecipients(t.CreatedByID, assignee, viewer.FromContext(ctx).UserID),
		projectID:  &t.ProjectID, taskID: &t.ID,
		texts: func(actor string, _ *ent.Tenant) (string, string) {
			return "New comment on " + quote(t.Title), fmt.Sprintf("%s: %s", actor, excerpt(cm.Body, 280))
		},
	})
}

// MemberAdded notifies a user added to the current tenant. A removal of
// the same user earlier in the transaction no longer ends their feeds:
// they are a member when it commits.
func (n *Notifier) MemberAdded(ctx context.Context, c *ent.Client, m *ent.Membership) error {
	if b := batchFrom(ctx); b != nil {
		b.mu.Lock()
		b.events = slices.DeleteFunc(b.events, func(e pubsub.Event) bool {
			return e.Revokes() && e.TenantID == m.TenantID && e.UserID == m.UserID
		})
		b.mu.Unlock()
	}
	return n.deliver(ctx, c, delivery{
		kind:       KindMemberAdded,
		recipients: MemberRecipients(m.UserID, viewer.FromContext(ctx).UserID),
		texts: func(actor string, t *ent.Tenant) (string, string) {
			return "You were added to " + oneLine(t.Name), fmt.Sprintf("%s added you to %s as %s.", actor, t.Name, m.Role)
		},
	})
}

// MemberRemoved ends, once the transaction has committed, every live feed
// the removed member has open in the tenant, on every instance
// (pubsub.Revoke): notifications written while they were a member and
// not yet pushed are then not pushed, and their streams complete rather
// than stay open, empty, until their tokens expire.
func (n *Notifier) MemberRemoved(ctx context.Context, m *ent.Membership) {
	if b := batchFrom(ctx); b != nil {
		b.mu.Lock()
		b.events = append(b.events, pubsub.Revoke(m.TenantID, m.UserID))
		b.mu.Unlock()
	}
}

// bulkRows bounds the rows of one INSERT (and the IDs of one IN list): each
// row takes about ten bind parameters, and SQLite allows 32,766 per
// statement, PostgreSQL 65,535. A project submitted in a tenant with
// thousands of approvers still writes.
const bulkRows = 1000

type delivery struct {
	kind       string
	recipients []int
	projectID  *int
	taskID     *int
	// texts writes the title and body, given the actor's name and the tenant.
	texts func(actor string, t *ent.Tenant) (title, body string)
}

// deliver writes the notification over every channel the tenant has on: an
// IN_APP row per recipient, an EMAIL outbox entry per recipient, one SLACK
// outbox entry. All in c, the transaction of the change.
func (n *Notifier) deliver(ctx context.Context, c *ent.Client, d delivery) error {
	if len(d.recipients) == 0 {
		return nil
	}
	v := viewer.FromContext(ctx)
	t, err := c.Tenant.Get(ctx, v.TenantID)
	if err != nil {
		return fmt.Errorf("notify: loading tenant configuration: %w", err)
	}
	if len(t.NotificationChannels) == 0 {
		return nil
	}
	// Only current members: a creator or assignee who has left the tenant
	// hears nothing more of it (an email would carry its content outside).
	// The in-app rows' INSERT … SELECT reads the memberships itself
	// (writeInApp), so the check is made here only for email and Slack: a
	// broadcast to 10,000 in-app subscribers skips ten queries.
	if slices.ContainsFunc(t.NotificationChannels, func(ch string) bool { return ch != InApp }) {
		members := map[int]bool{}
		for ids := range slices.Chunk(d.recipients, bulkRows) {
			found, err := c.Membership.Query().
				Where(membership.TenantID(v.TenantID), membership.UserIDIn(ids...)).
				Select(membership.FieldUserID).Ints(ctx)
			if err != nil {
				return fmt.Errorf("notify: checking recipients' memberships: %w", err)
			}
			for _, id := range found {
				members[id] = true
			}
		}
		d.recipients = slices.DeleteFunc(d.recipients, func(id int) bool { return !members[id] })
		if len(d.recipients) == 0 {
			return nil
		}
	}
	actor, err := actorName(ctx, c)
	if err != nil {
		return err
	}
	title, body := d.texts(actor, t)
	b := batchFrom(ctx)
	for _, ch := range t.NotificationChannels {
		switch ch {
		case InApp:
			// The Notification policy, as ent's create hook evaluates it:
			// the rows are written outside ent's builders (inapp.go).
			if err := notification.Policy.EvalMutation(ctx, c.Notification.Create().Mutation()); err != nil {
				return fmt.Errorf("notify: writing in-app notifications: %w", err)
			}
			n := inApp{tenant: v.TenantID, at: notification.DefaultCreatedAt(), kind: notification.Kind(d.kind),
				title: title, body: body, projectID: d.projectID, taskID: d.taskID, recipients: d.recipients}
			later := []int(nil)
			if len(n.recipients) > shareRows { // the rest after commit, in shares (shares.go)
				n.recipients, later = n.recipients[:shareRows], n.recipients[shareRows:]
			}
			events, rows, err := writeInApp(ctx, c, n)
			if err != nil {
				return err
			}
			var shares []int
			if len(later) > 0 {
				if shares, err = queueShares(ctx, c, n, later); err != nil {
					return err
				}
			}
			if b != nil {
				b.mu.Lock()
				b.events = append(b.events, events...)
				b.written = append(b.written, rows...)
				b.shares = append(b.shares, shares...)
				b.mu.Unlock()
			}
		case Email:
			var users []*ent.User
			for ids := range slices.Chunk(d.recipients, bulkRows) {
				some, err := c.User.Query().Where(user.IDIn(ids...)).All(ctx)
				if err != nil {
					return fmt.Errorf("notify: loading recipients: %w", err)
				}
				users = append(users, some...)
			}
			builders := make([]*ent.OutboxEntryCreate, len(users))
			for i, u := range users {
				builders[i] = c.OutboxEntry.Create().SetChannel(outboxentry.ChannelEMAIL).
					SetPayload(payload(Message{To: u.Email, Subject: title, Body: body}))
			}
			for chunk := range slices.Chunk(builders, bulkRows) {
				if err := c.OutboxEntry.CreateBulk(chunk...).Exec(ctx); err != nil {
					return fmt.Errorf("notify: queueing email: %w", err)
				}
			}
			markOutbox(b)
		case Slack:
			err := c.OutboxEntry.Create().SetChannel(outboxentry.ChannelSLACK).
				SetPayload(payload(Message{Subject: title, Body: body})).Exec(ctx)
			if err != nil {
				return fmt.Errorf("notify: queueing Slack message: %w", err)
			}
			markOutbox(b)
		}
	}
	return nil
}

func markOutbox(b *Batch) {
	if b != nil {
		b.mu.Lock()
		b.outbox = true
		b.mu.Unlock()
	}
}

func actorName(ctx context.Context, c *ent.Client) (string, error) {
	u, err := c.User.Get(ctx, viewer.FromContext(ctx).UserID)
	if err != nil {
		return "", fmt.Errorf("notify: loading actor: %w", err)
	}
	return u.Name, nil
}

// quote puts a name in double quotes in a notification's text, as it is
// but on one line (see oneLine). %q escaped every quote, backslash and
// character Go does not print (the zero-width joiner inside 👨‍💻 became
// \u200d), up to ten characters for one, so that the text misquoted the
// name, and a 200-character name (as projects and tasks may have) could
// make a title longer than the 300 characters a notification's title
// holds: the change that notified then failed.
func quote(s string) string { return `"` + oneLine(s) + `"` }

// oneLine replaces control characters (line breaks, tabs) with spaces: a
// title is an email's subject, which holds one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// excerpt shortens s to at most n characters.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
