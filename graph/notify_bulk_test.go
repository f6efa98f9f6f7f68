package graph_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// A broadcast writes its in-app rows with INSERT … SELECT (one per 1,000
// recipients on SQLite, one in all on PostgreSQL: internal/notify/inapp.go),
// outside ent's builders. These
// tests hold it to what the builders wrote: one row per approver across
// several statements, each field as ent would set it, in the tenant, and
// refused where the Notification policy refuses it.

func TestBroadcastWritesOneRowPerApprover(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const n = 2100 // on SQLite three statements: 1,000, 1,000 and 100 recipients
		owner := e.Register("Owner")
		tenantGID := e.CreateTenant(owner, "crowd")
		tenant := authDecodeID(t, tenantGID)
		managers(t, e, tenant, n)
		project := e.CreateProject(owner.Caller("crowd"), "Broadcast")
		before := time.Now().UTC().Add(-time.Second)
		e.Transition(owner.Caller("crowd"), project, "SUBMITTED")
		e.Notifier.Wait() // the shares after the first thousand are written after the response

		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		rows, err := e.DB.Client.Notification.Query().
			Where(notification.ProjectID(authDecodeID(t, project))).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n {
			t.Fatalf("notifications: got %d, want one per manager (%d)", len(rows), n)
		}
		wantRecipients, err := e.DB.Client.Membership.Query().
			Where(membership.TenantID(tenant), membership.RoleEQ(role.Manager)).
			Select(membership.FieldUserID).Ints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, r := range rows {
			got = append(got, r.RecipientID)
			if r.TenantID != tenant || r.Kind != notification.KindPROJECT_SUBMITTED || r.Read ||
				r.TaskID != nil || r.Title != `"Broadcast" was submitted for approval` ||
				r.Body != `Owner submitted the project "Broadcast" for approval.` {
				t.Fatalf("row %d: got %+v", r.ID, r)
			}
			if r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now().UTC()) || !r.UpdatedAt.Equal(r.CreatedAt) ||
				r.CreatedAt.Nanosecond()%1000 != 0 {
				t.Fatalf("row %d: created %v, updated %v: want now, equal, in microseconds", r.ID, r.CreatedAt, r.UpdatedAt)
			}
		}
		// Rows of later shares (shares.go) are the broadcast's as much as
		// the first thousand: one time for all, and no entry left behind.
		for _, r := range rows {
			if !r.CreatedAt.Equal(rows[0].CreatedAt) {
				t.Fatalf("row %d created %v, row %d %v: want one time for the broadcast", r.ID, r.CreatedAt, rows[0].ID, rows[0].CreatedAt)
			}
		}
		if left := inAppEntries(t, e); left != 0 {
			t.Errorf("IN_APP outbox entries left: %d, want none", left)
		}
		slices.Sort(got)
		slices.Sort(wantRecipients)
		if !slices.Equal(got, wantRecipients) {
			t.Fatalf("recipients: got %d distinct of %d, want each manager once", len(slices.Compact(got)), len(got))
		}

		// Read back through the API as one of them: the row is theirs, its
		// time round-trips, and the owner (the actor) has none.
		manager := graphtest.User{ID: globalid.Encode(got[n/2])}
		token, _, err := e.Tokens.Issue(got[n/2])
		if err != nil {
			t.Fatal(err)
		}
		manager.Token = token
		var out struct {
			Notifications struct {
				TotalCount int
				Edges      []struct {
					Node struct{ Kind, CreatedAt string }
				}
			}
		}
		e.MustDo(manager.Caller("crowd"), `{ notifications(first: 5) { totalCount edges { node { kind createdAt } } } }`, nil, &out)
		if out.Notifications.TotalCount != 1 || out.Notifications.Edges[0].Node.Kind != "PROJECT_SUBMITTED" {
			t.Fatalf("the manager's notifications: got %+v", out.Notifications)
		}
		created, err := time.Parse(time.RFC3339Nano, out.Notifications.Edges[0].Node.CreatedAt)
		if err != nil || created.Before(before) {
			t.Fatalf("createdAt %q: %v", out.Notifications.Edges[0].Node.CreatedAt, err)
		}
		e.MustDo(owner.Caller("crowd"), `{ notifications(first: 5) { totalCount edges { node { kind createdAt } } } }`, nil, &out)
		if out.Notifications.TotalCount != 0 {
			t.Fatalf("the owner's notifications: got %d, want none (the actor is not told)", out.Notifications.TotalCount)
		}
	})
}

// The bulk write applies the Notification policy itself (without it, the
// VIEWER below writes a row): a VIEWER's change notifies nobody, and a
// recipient who is not a member of the viewer's tenant gets no row there.
func TestInAppWriteAppliesThePolicy(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, outsider := e.Register("Owner"), e.Register("Member"), e.Register("Outsider")
		tenant := authDecodeID(t, e.CreateTenant(owner, "acme"))
		e.AddMember(owner, "acme", member, "MEMBER")
		e.CreateTenant(outsider, "elsewhere")
		project := e.CreateProject(owner.Caller("acme"), "Rocket")
		ownerID, memberID, outsiderID := authDecodeID(t, owner.ID), authDecodeID(t, member.ID), authDecodeID(t, outsider.ID)

		system := privacy.DecisionContext(context.Background(), privacy.Allow)
		task, err := e.DB.Client.Task.Create().SetTenantID(tenant).SetProjectID(authDecodeID(t, project)).
			SetTitle("Assign me").SetCreatedByID(ownerID).SetAssigneeID(memberID).Save(system)
		if err != nil {
			t.Fatal(err)
		}
		n := notify.NewNotifier(pubsub.NewLocal(0), nil, slog.New(slog.DiscardHandler))
		count := func() int {
			t.Helper()
			c, err := e.DB.Client.Notification.Query().Where(notification.TaskID(task.ID)).Count(system)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		as := func(r role.Role, tenantID int) context.Context {
			return viewer.NewContext(context.Background(), &viewer.Viewer{UserID: ownerID, TenantID: tenantID, Role: r})
		}

		if err := n.TaskAssigned(as(role.Viewer, tenant), e.DB.Client, task); err == nil {
			t.Error("a VIEWER's change: got no error, want the policy's refusal")
		}
		if got := count(); got != 0 {
			t.Errorf("after a VIEWER's change: %d rows, want none", got)
		}

		// The outsider is no member of acme: the assignment names them, and
		// nothing is written for them there.
		foreign := *task
		foreign.AssigneeID = &outsiderID
		if err := n.TaskAssigned(as(role.Owner, tenant), e.DB.Client, &foreign); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != 0 {
			t.Errorf("assigning a non-member: %d rows, want none", got)
		}

		if err := n.TaskAssigned(as(role.Owner, tenant), e.DB.Client, task); err != nil {
			t.Fatal(err)
		}
		rows, err := e.DB.Client.Notification.Query().Where(notification.TaskID(task.ID)).All(system)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].RecipientID != memberID || rows[0].TenantID != tenant ||
			rows[0].ProjectID == nil || *rows[0].ProjectID != task.ProjectID || rows[0].Kind != notification.KindTASK_ASSIGNED {
			t.Fatalf("assigning the member: got %+v, want one TASK_ASSIGNED row for them in acme", rows)
		}
	})
}

// The rows handed to the feed straight from the mutation resolve their
// project and task, and those objects' own edges, after the transaction
// that wrote them has ended: the feed hub loads them through its own
// client, not the finished transaction's.
func TestFeedResolvesEdgesOfRowsJustWritten(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		const query = `subscription { notificationAdded { kind
			project { name status createdBy { name } }
			task { title assignee { name } } } }`
		type edges struct {
			Data struct {
				NotificationAdded struct {
					Kind    string
					Project *struct {
						Name, Status string
						CreatedBy    struct{ Name string }
					}
					Task *struct {
						Title    string
						Assignee struct{ Name string }
					}
				}
			}
		}
		manager := e.Register("Manager")
		e.AddMember(owner, "acme", manager, "MANAGER")
		n := subscribers(t, e)
		managerFeed := read(dialFeed(t, wsURL(e.URL), initPayload(manager.Token, "acme"), query, nil), 16)
		memberFeed := read(dialFeed(t, wsURL(e.URL), initPayload(member.Token, "acme"), query, nil), 16)
		waitSubscribers(t, e, n+2, 5*time.Second)
		receive := func(c *feedClient) edges {
			t.Helper()
			select {
			case m, ok := <-c.msgs:
				if !ok || m.Type != "next" {
					t.Fatalf("got %+v (open %v, %v), want next", m, ok, c.err)
				}
				var out edges
				if err := json.Unmarshal(m.Payload, &out); err != nil {
					t.Fatal(err)
				}
				return out
			case <-time.After(5 * time.Second):
				t.Fatal("no notification within 5s")
				return edges{}
			}
		}

		// The owner submits: the manager (an approver) is told, and the
		// project comes with its creator.
		launch := e.CreateProject(owner.Caller("acme"), "Launch")
		e.Transition(owner.Caller("acme"), launch, "SUBMITTED")
		got := receive(managerFeed).Data.NotificationAdded
		if got.Kind != "PROJECT_SUBMITTED" || got.Project == nil || got.Project.Name != "Launch" ||
			got.Project.Status != "SUBMITTED" || got.Project.CreatedBy.Name != "Owner" || got.Task != nil {
			t.Fatalf("submitted: got %+v", got)
		}

		// A task assigned to the member: the task, its assignee, its project.
		createAssignedTask(t, e, owner.Caller("acme"), project, "Fuel", member.ID)
		got = receive(memberFeed).Data.NotificationAdded
		if got.Kind != "TASK_ASSIGNED" || got.Task == nil || got.Task.Title != "Fuel" || got.Task.Assignee.Name != "Member" ||
			got.Project == nil || got.Project.Name != "Rocket" || got.Project.CreatedBy.Name != "Owner" {
			t.Fatalf("assigned: got %+v", got)
		}
	})
}

// inAppEntries counts the IN_APP outbox entries: shares of broadcasts not
// written yet.
func inAppEntries(t *testing.T, e *graphtest.Env) int {
	t.Helper()
	n, err := e.DB.Client.OutboxEntry.Query().Where(outboxentry.ChannelEQ(outboxentry.ChannelIN_APP)).
		Count(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A broadcast to more than a thousand writes the first thousand rows with
// the change and queues the rest as IN_APP outbox entries, which the
// committing instance writes right after commit (internal/notify/shares.go).
// Here the instance stops right after the commit: only the first thousand
// rows exist. The dispatcher leaves the entries alone during their grace,
// then writes each share once, even with two dispatchers and the late
// instance at it together, and pushes the rows to the live feed. A change
// rolled back queues nothing.
func TestBroadcastSharesLeftByAStoppedInstance(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		// The change's 1,000, then shares of 1,000, 1,000 and 500 on SQLite,
		// of 2,000 and 500 on PostgreSQL (internal/notify/shares.go).
		const n = 3500
		shares := 3
		if e.Dialect == dialect.Postgres {
			shares = 2
		}
		w := newBroadcastWorld(t, e, n, "Left")
		notifier := notify.NewNotifier(e.Broker, nil, slog.New(slog.DiscardHandler))

		w.broadcast(t, notifier, false)
		if got, left := len(w.recipients(t)), inAppEntries(t, e); got != 0 || left != 0 {
			t.Fatalf("rolled back: %d rows and %d entries, want none", got, left)
		}
		batch := w.broadcast(t, notifier, true) // and the instance stops: Committed is not called
		written := w.recipients(t)
		if len(written) != 1000 || inAppEntries(t, e) != shares {
			t.Fatalf("after the commit: %d rows and %d entries, want 1,000 and %d", len(written), inAppEntries(t, e), shares)
		}
		// A manager whose row is in a share not written yet listens.
		var waiting graphtest.User
		for _, token := range w.tokens {
			uid, _, err := e.Tokens.Verify(token)
			if err != nil {
				t.Fatal(err)
			}
			if written[uid] == 0 {
				waiting = graphtest.User{ID: globalid.Encode(uid), Token: token}
				break
			}
		}
		feed := subscribe(t, e, waiting, "crowd")

		now := time.Now()
		early := e.NewDispatcher(nil, notify.DispatcherConfig{Now: func() time.Time { return now.Add(30 * time.Second) }})
		if claimed, err := early.RunOnce(context.Background()); err != nil || claimed != 0 {
			t.Fatalf("within the grace: the dispatcher claimed %d (%v), want none", claimed, err)
		}
		late := notify.DispatcherConfig{Now: func() time.Time { return now.Add(2 * time.Minute) }}
		one, two := e.NewDispatcher(nil, late), e.NewDispatcher(nil, late)
		var wg sync.WaitGroup
		for _, d := range []*notify.Dispatcher{one, two} {
			wg.Go(func() {
				if _, err := d.RunOnce(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() { notifier.Committed(w.ctx, e.DB.Client, batch, nil) }) // the instance, back late
		wg.Wait()
		notifier.Wait()
		all := w.recipients(t)
		if len(all) != n || inAppEntries(t, e) != 0 {
			t.Fatalf("after the dispatchers: %d recipients and %d entries, want %d and none", len(all), inAppEntries(t, e), n)
		}
		for uid, rows := range all {
			if rows != 1 {
				t.Fatalf("user %d has %d rows, want one", uid, rows)
			}
		}
		if got := feed.next(t, 5*time.Second); got.Kind != "PROJECT_SUBMITTED" || got.Project == nil {
			t.Fatalf("pushed: got %+v, want the PROJECT_SUBMITTED of the project", got)
		}
	})
}

// The change's response does not wait for a broadcast's shares: they are
// written in the background, and a notifier closed (a server shutting
// down) writes none of those it has not begun, leaving them to the
// dispatcher after a restart.
func TestClosedNotifierLeavesSharesToTheDispatcher(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const n = 1500 // the change's 1,000, then one share of 500
		w := shareLeftByAClosedNotifier(t, e, n, "Closing")
		if got, left := w.rows(t), inAppEntries(t, e); got != 1000 || left != 1 {
			t.Fatalf("closed: %d rows and %d entries, want the change's 1,000 and one entry", got, left)
		}
		later := time.Now().Add(2 * time.Minute)
		if _, err := e.NewDispatcher(nil, notify.DispatcherConfig{Now: func() time.Time { return later }}).RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, left := w.rows(t), inAppEntries(t, e); got != n || left != 0 {
			t.Fatalf("after the dispatcher: %d rows and %d entries, want %d and none", got, left, n)
		}
	})
}

// OUTBOX_MAX_ATTEMPTS bounds the attempts at an email or a Slack message,
// not at a share of in-app rows: a share whose attempts reached the limit
// (its last one cut short by a crash, so its outcome was never recorded, or
// the limit lowered since) is written all the same, never marked FAILED,
// which would lose its notifications for good.
func TestSharesOutliveTheAttemptLimit(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const n = 1500 // the change's 1,000, then one share of 500
		w := shareLeftByAClosedNotifier(t, e, n, "Persistent")
		sys := privacy.DecisionContext(context.Background(), privacy.Allow)
		now := time.Now()
		// Its third attempt was claimed a while ago and never recorded.
		if err := e.DB.Client.OutboxEntry.Update().Where(outboxentry.ChannelEQ(outboxentry.ChannelIN_APP)).
			SetAttempts(3).SetClaimedUntil(now.Add(-time.Minute)).Exec(sys); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(2 * time.Minute)
		d := e.NewDispatcher(nil, notify.DispatcherConfig{MaxAttempts: 3, Now: func() time.Time { return later }})
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows := w.rows(t)
		failed, err := e.DB.Client.OutboxEntry.Query().Where(outboxentry.StatusEQ(outboxentry.StatusFAILED)).Count(sys)
		if err != nil {
			t.Fatal(err)
		}
		if rows != n || inAppEntries(t, e) != 0 || failed != 0 {
			t.Fatalf("after the dispatcher: %d rows, %d entries left, %d FAILED; want %d rows and no entry", rows, inAppEntries(t, e), failed, n)
		}
	})
}

// A project deleted after its broadcast committed, before the shares
// after the first thousand were written: every recipient still gets the
// notification, with no project, as the first thousand keep theirs once
// the deletion has cleared it. (The shares used to copy the project's ID,
// fail its foreign key on every attempt and end FAILED, unwritten.)
func TestBroadcastSharesOfADeletedProject(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const n = 1500 // the change's 1,000, then one share of 500
		w := newBroadcastWorld(t, e, n, "Doomed")
		notifier := notify.NewNotifier(e.Broker, nil, slog.New(slog.DiscardHandler))
		batch := w.broadcast(t, notifier, true)
		system := privacy.DecisionContext(context.Background(), privacy.Allow)
		if err := e.DB.Client.Project.DeleteOneID(w.project.ID).Exec(system); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var published []*ent.Notification
		notifier.Committed(w.ctx, e.DB.Client, batch, func(rows []*ent.Notification) {
			mu.Lock()
			defer mu.Unlock()
			published = append(published, rows...)
		})
		notifier.Wait()

		if left := inAppEntries(t, e); left != 0 {
			t.Fatalf("IN_APP outbox entries left: %d, want none (every share written)", left)
		}
		rows, err := e.DB.Client.Notification.Query().
			Where(notification.TenantID(w.project.TenantID), notification.KindEQ(notification.KindPROJECT_SUBMITTED)).All(system)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n {
			t.Fatalf("notifications: got %d, want one per manager (%d)", len(rows), n)
		}
		for _, r := range rows {
			if r.ProjectID != nil || r.TaskID != nil {
				t.Fatalf("row %d: project %v, task %v; want neither (the project is deleted)", r.ID, r.ProjectID, r.TaskID)
			}
		}
		// The rows handed on after commit are as each was written: the
		// change's thousand with the project, the share's without.
		withProject := 0
		for _, r := range published {
			if r.ProjectID != nil {
				withProject++
			}
		}
		if len(published) != n || withProject != 1000 {
			t.Fatalf("rows published: got %d, %d with a project; want %d, 1,000 with one", len(published), withProject, n)
		}
	})
}

// broadcastWorld is a tenant "crowd" with an OWNER and n MANAGERs, and a
// project of the owner's about to be submitted: submitting it notifies
// every manager, through a notifier the test drives itself.
type broadcastWorld struct {
	e       *graphtest.Env
	tokens  []string        // the managers'
	project *ent.Project    // with the status SUBMITTED, as ProjectTransitioned is given it
	ctx     context.Context // the owner's, in the tenant
}

func newBroadcastWorld(t *testing.T, e *graphtest.Env, n int, name string) *broadcastWorld {
	t.Helper()
	owner := e.Register("Owner")
	tenant := authDecodeID(t, e.CreateTenant(owner, "crowd"))
	w := &broadcastWorld{e: e, tokens: managers(t, e, tenant, n)}
	p, err := e.DB.Client.Project.Get(privacy.DecisionContext(context.Background(), privacy.Allow),
		authDecodeID(t, e.CreateProject(owner.Caller("crowd"), name)))
	if err != nil {
		t.Fatal(err)
	}
	p.Status = workflow.Submitted
	w.project = p
	w.ctx = viewer.NewContext(context.Background(), &viewer.Viewer{UserID: authDecodeID(t, owner.ID), TenantID: tenant, Role: role.Owner})
	return w
}

// broadcast has notifier notify the managers in a transaction, committed
// or rolled back, and returns its batch (Committed is the caller's to call).
func (w *broadcastWorld) broadcast(t *testing.T, notifier *notify.Notifier, commit bool) *notify.Batch {
	t.Helper()
	tx, err := w.e.DB.Client.Tx(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	bctx, batch := notify.WithBatch(w.ctx)
	if err := notifier.ProjectTransitioned(bctx, tx.Client(), w.project, workflow.Draft); err != nil {
		t.Fatal(err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
	return batch
}

// shareLeftByAClosedNotifier broadcasts to n managers (more than 1,000)
// through a notifier closed meanwhile, as a server shutting down: the
// change's 1,000 rows are written, the rest are left in IN_APP outbox
// entries for the dispatcher.
func shareLeftByAClosedNotifier(t *testing.T, e *graphtest.Env, n int, name string) *broadcastWorld {
	t.Helper()
	w := newBroadcastWorld(t, e, n, name)
	notifier := notify.NewNotifier(e.Broker, nil, slog.New(slog.DiscardHandler))
	notifier.Close()
	notifier.Committed(w.ctx, e.DB.Client, w.broadcast(t, notifier, true), nil)
	notifier.Wait()
	return w
}

// rows counts the project's notification rows.
func (w *broadcastWorld) rows(t *testing.T) int {
	t.Helper()
	rows := 0
	for _, c := range w.recipients(t) {
		rows += c
	}
	return rows
}

// recipients counts the project's notification rows by recipient.
func (w *broadcastWorld) recipients(t *testing.T) map[int]int {
	t.Helper()
	ids, err := w.e.DB.Client.Notification.Query().Where(notification.ProjectID(w.project.ID)).
		Select(notification.FieldRecipientID).Ints(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, id := range ids {
		seen[id]++
	}
	return seen
}
