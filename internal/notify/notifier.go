package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/user"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// Notifier turns domain events into notifications, inside the transaction of
// the change that caused them: IN_APP rows (beyond a broadcast's first
// 1,000, an IN_APP outbox entry per share: shares.go) and EMAIL/SLACK
// outbox entries are written with the change or not at all. What must
// happen after commit (publishing to the live feed, writing the shares,
// waking the dispatcher) is collected in the transaction's Batch and done
// by Committed.
type Notifier struct {
	broker pubsub.Broker
	wake   func()
	log    *slog.Logger

	// The writers of committed broadcasts' shares (shares.go): at most
	// shareWriters broadcasts at once, on goroutines of their own.
	turns   chan struct{}
	mu      sync.Mutex
	idle    *sync.Cond // broadcast when writers falls to 0
	writers int
	closing chan struct{} // closed by Close
}

// shareWriters bounds the broadcasts whose shares are written at once: the
// writing is done by the database, which more writers would only make
// take turns (SQLite) or compete for its cores (PostgreSQL).
const shareWriters = 2

// maxShareWriters bounds the broadcasts being written or waiting for a
// turn (writeShares).
const maxShareWriters = 64

// NewNotifier returns a notifier publishing to broker; wake (may be nil)
// tells the dispatcher that outbox entries are waiting.
func NewNotifier(broker pubsub.Broker, wake func(), log *slog.Logger) *Notifier {
	if wake == nil {
		wake = func() {}
	}
	n := &Notifier{broker: broker, wake: wake, log: log, turns: make(chan struct{}, shareWriters), closing: make(chan struct{})}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// Wait returns once no broadcast's shares are being written.
func (n *Notifier) Wait() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.writers > 0 {
		n.idle.Wait()
	}
}

// Close stops writing shares (each writer finishes the share it is
// writing) and waits for the writers. The shares left are the
// dispatcher's, once their grace has passed: a server shutting down closes
// its notifier after its last request and before its database.
func (n *Notifier) Close() {
	n.mu.Lock()
	select {
	case <-n.closing:
	default:
		close(n.closing)
	}
	n.mu.Unlock()
	n.Wait()
}

// Batch is what one transaction will publish once it has committed.
type Batch struct {
	mu      sync.Mutex
	events  []pubsub.Event
	written []*ent.Notification
	shares  []int // IN_APP outbox entries to write after commit (shares.go)
	outbox  bool
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

// Committed publishes the batch's in-app notifications to the live feed,
// starts writing the shares of large broadcasts that the transaction queued
// (shares.go) and wakes the dispatcher. c is the client outside the
// transaction. written, when set, is given each set of rows before they
// are published: the live feed hands them to their subscribers without
// reading them back. Call it only after the transaction committed. It does
// not wait for the shares: they are written in the background, one
// transaction each, each published as it commits (Wait waits for them).
func (n *Notifier) Committed(ctx context.Context, c *ent.Client, b *Batch, written func([]*ent.Notification)) {
	b.mu.Lock()
	events, rows, shares, outbox := b.events, b.written, b.shares, b.outbox
	b.events, b.written, b.shares, b.outbox = nil, nil, nil, false
	b.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	n.publish(ctx, events, rows, written)
	if len(shares) > 0 {
		n.writeShares(ctx, c, shares, written)
	}
	if outbox {
		n.wake()
	}
}

// writeShares writes a committed broadcast's shares on a goroutine of its
// own, in order, stopping at an error or when the notifier closes: the
// dispatcher then writes the rest. When maxShareWriters broadcasts are
// being written or waiting for their turn already, it leaves this one's to
// the dispatcher too, once their grace has passed: when the database
// falls behind, a goroutine per waiting broadcast, each holding its
// request's context, would pile up without bound.
func (n *Notifier) writeShares(ctx context.Context, c *ent.Client, shares []int, written func([]*ent.Notification)) {
	n.mu.Lock()
	select {
	case <-n.closing:
		n.mu.Unlock()
		return
	default:
	}
	if n.writers >= maxShareWriters {
		n.mu.Unlock()
		n.log.WarnContext(ctx, "too many broadcasts waiting to be written; the dispatcher will write this one's after its grace",
			"entries", len(shares), "waiting", maxShareWriters)
		return
	}
	n.writers++
	n.mu.Unlock()
	go func() {
		defer func() {
			n.mu.Lock()
			n.writers--
			if n.writers == 0 {
				n.idle.Broadcast()
			}
			n.mu.Unlock()
		}()
		select {
		case n.turns <- struct{}{}:
			defer func() { <-n.turns }()
		case <-n.closing:
			return
		}
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		for i, id := range shares {
			select {
			case <-n.closing:
				return
			default:
			}
			events, rows, err := writeShare(sys, c, id)
			if err != nil {
				// Its entry stays: the dispatcher writes it, and those
				// after it, once their grace has passed.
				n.log.ErrorContext(ctx, "writing a broadcast's in-app notifications; the dispatcher will", "error", err.Error(),
					"entry", id, "shares_left", len(shares)-i)
				return
			}
			n.publish(ctx, events, rows, written)
		}
	}()
}

// publish hands committed rows to written and their events to the broker.
func (n *Notifier) publish(ctx context.Context, events []pubsub.Event, rows []*ent.Notification, written func([]*ent.Notification)) {
	if written != nil && len(rows) > 0 {
		written(rows)
	}
	publishEvents(ctx, n.broker, n.log, events)
}

// publishTimeout bounds one Publish. A mutation's response waits for it
// (Committed runs before the response is written), and on PostgreSQL it
// is a statement: a stalled database must not hold an answer whose
// transaction has already committed.
var publishTimeout = 5 * time.Second

// publishEvents hands committed rows' events to broker. Failing, or taking
// longer than publishTimeout, it logs: the rows are committed, and the
// notification list has them; only the live push is lost.
func publishEvents(ctx context.Context, broker pubsub.Broker, log *slog.Logger, events []pubsub.Event) {
	if broker == nil || len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := broker.Publish(ctx, events...); err != nil {
		log.ErrorContext(ctx, "publishing notifications", "error", err.Error(), "count", len(events))
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
