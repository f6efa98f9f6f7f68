package graph_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/pubsub"
)

// announcer is the PostgreSQL broker as the notifier sees it, noting for
// each notification it announces whether its row could already be read
// from outside the change's transaction, and refusing to announce while
// fail is set.
type announcer struct {
	*pubsub.Postgres
	fail    atomic.Bool
	visible func(id int) bool

	mu        sync.Mutex
	announced []bool // per notification announced: its row visible outside then
}

// newAnnouncer wraps broker, a PostgreSQL one, reading rows through c.
func newAnnouncer(t *testing.T, broker pubsub.Broker, c *ent.Client) *announcer {
	return &announcer{Postgres: broker.(*pubsub.Postgres), visible: func(id int) bool {
		found, err := c.Notification.Query().Where(notification.ID(id)).
			Exist(privacy.DecisionContext(context.Background(), privacy.Allow))
		if err != nil {
			t.Error(err)
		}
		return found
	}}
}

func (a *announcer) PublishIn(ctx context.Context, exec pubsub.Exec, events ...pubsub.Event) error {
	if a.fail.Load() {
		return errors.New("test: NOTIFY refused")
	}
	for _, ev := range events {
		if !ev.Revokes() {
			seen := a.visible(ev.NotificationID)
			a.mu.Lock()
			a.announced = append(a.announced, seen)
			a.mu.Unlock()
		}
	}
	return a.Postgres.PublishIn(ctx, exec, events...)
}

// On PostgreSQL a change's notifications are announced to the live feed
// (NOTIFY) inside its transaction, and so by its commit: a change is never
// committed without its announcement, as it was when the NOTIFY was a
// statement of its own after the commit, and a pool too busy to take that
// statement within its time (or a database gone meanwhile) left every
// subscriber's stream open with a silent gap. An announcement that cannot
// be made fails the change, which writes nothing.
func TestPostgresChangeIsAnnouncedByItsCommit(t *testing.T) {
	graphtest.NeedPostgres(t) // NOTIFY is PostgreSQL's
	var a *announcer
	e := graphtest.NewWithOptions(t, dialect.Postgres, graphtest.Options{Deps: func(deps *graph.Deps) {
		a = newAnnouncer(t, deps.Broker, deps.Client)
		deps.Notifier = notify.NewNotifier(a, nil, deps.Logger)
		t.Cleanup(deps.Notifier.Close)
	}})
	owner, member, project := feedWorld(e)
	feed := subscribe(t, e, member, "acme")
	a.mu.Lock()
	a.announced = nil // the member's MEMBER_ADDED
	a.mu.Unlock()

	first := createAssignedTask(t, e, owner.Caller("acme"), project, "announced", member.ID)
	if got := feed.next(t, 5*time.Second); got.Task == nil || got.Task.ID != first {
		t.Fatalf("pushed: got %+v, want the assignment of task %s", got, first)
	}
	a.mu.Lock()
	announced := a.announced
	a.mu.Unlock()
	if len(announced) != 1 || announced[0] {
		t.Fatalf("announcements (true: the row was committed already): got %v, want one, made inside the transaction", announced)
	}

	before := len(notificationIDs(t, e, member.Caller("acme")))
	a.fail.Store(true)
	r := e.Do(owner.Caller("acme"), `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"projectID": project, "title": "unannounced", "assigneeID": member.ID}})
	a.fail.Store(false)
	if r.Code() != "INTERNAL_SERVER_ERROR" || string(r.Data) != "null" {
		t.Fatalf("a change that cannot be announced: got %s %s, want INTERNAL_SERVER_ERROR and no data", r.Code(), r.Data)
	}
	if after := len(notificationIDs(t, e, member.Caller("acme"))); after != before {
		t.Errorf("notifications after the refused change: got %d, want %d (nothing written)", after, before)
	}
	var tasks struct {
		Tasks struct{ TotalCount int } `json:"tasks"`
	}
	e.MustDo(owner.Caller("acme"), `query($w: TaskWhereInput) { tasks(where: $w) { totalCount } }`,
		map[string]any{"w": map[string]any{"title": "unannounced"}}, &tasks)
	if tasks.Tasks.TotalCount != 0 {
		t.Errorf("tasks titled %q after the refused change: got %d, want none", "unannounced", tasks.Tasks.TotalCount)
	}

	// The stream goes on with the next change, having missed nothing.
	next := createAssignedTask(t, e, owner.Caller("acme"), project, "next", member.ID)
	if got := feed.next(t, 5*time.Second); got.Task == nil || got.Task.ID != next {
		t.Fatalf("pushed: got %+v, want the assignment of task %s", got, next)
	}
}

// A broadcast's shares after its first thousand rows (internal/notify/
// shares.go) are announced by their own transactions' commits in the same
// way: a share whose announcement cannot be made is not written, and its
// outbox entry stays for the dispatcher, which writes and announces it
// later.
func TestPostgresShareIsAnnouncedByItsCommit(t *testing.T) {
	graphtest.NeedPostgres(t) // NOTIFY is PostgreSQL's
	e := graphtest.New(t, dialect.Postgres)
	const n = 1500 // the change's 1,000, then one share of 500
	w := newBroadcastWorld(t, e, n, "Announced")
	a := newAnnouncer(t, e.Broker, e.DB.Client)
	a.fail.Store(true)
	notifier := notify.NewNotifier(a, nil, slog.New(slog.DiscardHandler))
	notifier.Committed(w.ctx, e.DB.Client, w.broadcast(t, notifier, true), nil)
	notifier.Wait()
	if got, left := w.rows(t), inAppEntries(t, e); got != 1000 || left != 1 {
		t.Fatalf("the share unannounced: %d rows and %d entries, want the change's 1,000 and the share's entry", got, left)
	}

	a.fail.Store(false)
	later := time.Now().Add(2 * time.Minute)
	dispatcher := e.NewDispatcher(nil, notify.DispatcherConfig{Broker: a, Now: func() time.Time { return later }})
	if _, err := dispatcher.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, left := w.rows(t), inAppEntries(t, e); got != n || left != 0 {
		t.Fatalf("after the dispatcher: %d rows and %d entries, want %d and none", got, left, n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.announced) != n-1000 || slices.Contains(a.announced, true) {
		t.Fatalf("the share's announcements: %d, %d of them after the commit; want %d, all inside the transaction",
			len(a.announced), len(slices.DeleteFunc(slices.Clone(a.announced), func(v bool) bool { return !v })), n-1000)
	}
}
