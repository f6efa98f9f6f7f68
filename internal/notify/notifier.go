package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"unicode/utf8"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/user"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// Notifier turns domain events into notifications, inside the transaction of
// the change that caused them: IN_APP rows and EMAIL/SLACK outbox entries
// are written with the change or not at all. What must happen after commit
// (publishing to the live feed, waking the dispatcher) is collected in the
// transaction's Batch and done by Committed.
type Notifier struct {
	broker pubsub.Broker
	wake   func()
	log    *slog.Logger
}

// NewNotifier returns a notifier publishing to broker; wake (may be nil)
// tells the dispatcher that outbox entries are waiting.
func NewNotifier(broker pubsub.Broker, wake func(), log *slog.Logger) *Notifier {
	if wake == nil {
		wake = func() {}
	}
	return &Notifier{broker: broker, wake: wake, log: log}
}

// Batch is what one transaction will publish once it has committed.
type Batch struct {
	mu      sync.Mutex
	events  []pubsub.Event
	written []*ent.Notification
	outbox  bool
}

// Written returns the in-app rows the batch's transaction wrote (their
// edges not loaded): the live feed hands them to their subscribers without
// reading them back. Call it only after the transaction committed.
func (b *Batch) Written() []*ent.Notification {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written
}

type batchKey struct{}

// WithBatch returns ctx carrying a fresh batch for a transaction.
func WithBatch(ctx context.Context) (context.Context, *Batch) {
	b := &Batch{}
	return context.WithValue(ctx, batchKey{}, b), b
}

func batchFrom(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}

// Committed publishes the batch's in-app notifications to the live feed and
// wakes the dispatcher. Call it only after the transaction committed.
func (n *Notifier) Committed(ctx context.Context, b *Batch) {
	b.mu.Lock()
	events, outbox := b.events, b.outbox
	b.events, b.outbox = nil, false
	b.mu.Unlock()
	if len(events) > 0 {
		if err := n.broker.Publish(context.WithoutCancel(ctx), events...); err != nil {
			// The rows are committed: the notification list has them; only
			// the live push is lost.
			n.log.ErrorContext(ctx, "publishing notifications", "error", err.Error(), "count", len(events))
		}
	}
	if outbox {
		n.wake()
	}
}

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
				return fmt.Sprintf("%q was submitted for approval", p.Name),
					fmt.Sprintf("%s submitted the project %q for approval.", actor, p.Name)
			}
			return fmt.Sprintf("%q is now %s", p.Name, p.Status),
				fmt.Sprintf("%s moved the project %q from %s to %s.", actor, p.Name, from, p.Status)
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
			return fmt.Sprintf("You were assigned %q", t.Title), fmt.Sprintf("%s assigned you the task %q.", actor, t.Title)
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
			return fmt.Sprintf("New comment on %q", t.Title), fmt.Sprintf("%s: %s", actor, excerpt(cm.Body, 280))
		},
	})
}

// MemberAdded notifies a user added to the current tenant.
func (n *Notifier) MemberAdded(ctx context.Context, c *ent.Client, m *ent.Membership) error {
	return n.deliver(ctx, c, delivery{
		kind:       KindMemberAdded,
		recipients: MemberRecipients(m.UserID, viewer.FromContext(ctx).UserID),
		texts: func(actor string, t *ent.Tenant) (string, string) {
			return fmt.Sprintf("You were added to %s", t.Name), fmt.Sprintf("%s added you to %s as %s.", actor, t.Name, m.Role)
		},
	})
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
			events, rows, err := writeInApp(ctx, c, d, title, body)
			if err != nil {
				return err
			}
			if b != nil {
				b.mu.Lock()
				b.events = append(b.events, events...)
				b.written = append(b.written, rows...)
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

// excerpt shortens s to at most n characters.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
