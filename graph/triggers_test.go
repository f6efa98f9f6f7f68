package graph_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
)

// Who hears about what, through the API: each step runs one mutation and
// compares, for every member, the in-app notifications it produced (read
// with the `notifications` query as that member) with the table.

// trigNote is one notification as its recipient lists it.
type trigNote struct {
	ID, Kind, Title, Body string
	Read                  bool
	Project, Task         *struct{ ID string }
}

// trigWorld is tenant "acme": Olivia (OWNER), Mark and Max (MANAGER), Ada
// and Bo (MEMBER), Vera (VIEWER).
type trigWorld struct {
	e           *graphtest.Env
	slug        string
	users       map[string]graphtest.User // the members, by name
	memberships map[string]string         // their membership IDs (Olivia's excepted)
}

const trigInbox = `query { notifications(first: 100) { totalCount edges { node { id kind title body read project { id } task { id } } } } }`

// inbox returns u's notifications in the tenant, newest first.
func (w *trigWorld) inbox(t *testing.T, u graphtest.User) []trigNote {
	t.Helper()
	var out struct {
		Notifications struct {
			TotalCount int
			Edges      []struct{ Node trigNote }
		}
	}
	w.e.MustDo(u.Caller(w.slug), trigInbox, nil, &out)
	if out.Notifications.TotalCount != len(out.Notifications.Edges) {
		t.Fatalf("inbox: %d of %d notifications on the page, want them all", len(out.Notifications.Edges), out.Notifications.TotalCount)
	}
	notes := make([]trigNote, len(out.Notifications.Edges))
	for i, e := range out.Notifications.Edges {
		notes[i] = e.Node
	}
	return notes
}

// notified runs act and returns the notifications it produced, by member.
func (w *trigWorld) notified(t *testing.T, act func()) map[string][]trigNote {
	t.Helper()
	before := map[string]int{}
	for name, u := range w.users {
		before[name] = len(w.inbox(t, u))
	}
	act()
	got := map[string][]trigNote{}
	for name, u := range w.users {
		after := w.inbox(t, u)
		if n := len(after) - before[name]; n > 0 {
			got[name] = after[:n]
		}
	}
	return got
}

// trigCheck compares who got which kinds with want (member name → kinds).
func trigCheck(t *testing.T, got map[string][]trigNote, want map[string][]string) {
	t.Helper()
	names := map[string]bool{}
	for n := range got {
		names[n] = true
	}
	for n := range want {
		names[n] = true
	}
	for name := range names {
		var kinds []string
		for _, n := range got[name] {
			kinds = append(kinds, n.Kind)
		}
		sort.Strings(kinds)
		w := slices.Clone(want[name])
		sort.Strings(w)
		if !slices.Equal(kinds, w) {
			t.Errorf("%s: got %v, want %v", name, kinds, w)
		}
	}
}

// trigMentions fails t unless every notification names subject (the
// project or task) in its title, has each of bodyWords (the subject again,
// the actor, the new status) in its body, is unread, and links to the
// project and task given ("" for none).
func trigMentions(t *testing.T, got map[string][]trigNote, projectID, taskID, subject string, bodyWords ...string) {
	t.Helper()
	for name, notes := range got {
		for _, n := range notes {
			if !strings.Contains(n.Title, subject) {
				t.Errorf("%s's %s: title %q should name %q", name, n.Kind, n.Title, subject)
			}
			for _, word := range bodyWords {
				if !strings.Contains(n.Body, word) {
					t.Errorf("%s's %s: body %q should mention %q", name, n.Kind, n.Body, word)
				}
			}
			if got := trigLink(n.Project); got != projectID {
				t.Errorf("%s's %s: project link got %q, want %q", name, n.Kind, got, projectID)
			}
			if got := trigLink(n.Task); got != taskID {
				t.Errorf("%s's %s: task link got %q, want %q", name, n.Kind, got, taskID)
			}
			if n.Read {
				t.Errorf("%s's %s: read, want unread", name, n.Kind)
			}
		}
	}
}

func trigLink(l *struct{ ID string }) string {
	if l == nil {
		return ""
	}
	return l.ID
}

// newTrigWorld builds the tenant, checking MEMBER_ADDED on the way: the
// added user hears of it, the OWNER who added them does not.
func newTrigWorld(t *testing.T, e *graphtest.Env, slug string) *trigWorld {
	t.Helper()
	owner := e.Register("Olivia")
	e.CreateTenant(owner, slug)
	w := &trigWorld{e: e, slug: slug, users: map[string]graphtest.User{"Olivia": owner}, memberships: map[string]string{}}
	if got := w.inbox(t, owner); len(got) != 0 {
		t.Fatalf("the creator of a tenant: got %d notifications, want none", len(got))
	}
	for _, m := range []struct{ name, role string }{
		{"Mark", "MANAGER"}, {"Max", "MANAGER"}, {"Ada", "MEMBER"}, {"Bo", "MEMBER"}, {"Vera", "VIEWER"},
	} {
		u := e.Register(m.name)
		got := w.notified(t, func() { w.memberships[m.name] = e.AddMember(owner, slug, u, m.role) })
		w.users[m.name] = u
		// The new member is listed only after being added: read their inbox.
		got[m.name] = w.inbox(t, u)
		trigCheck(t, got, map[string][]string{m.name: {"MEMBER_ADDED"}})
		for _, n := range got[m.name] {
			if !strings.Contains(n.Title, "Tenant "+slug) || !strings.Contains(n.Body, "Olivia") || !strings.Contains(n.Body, m.role) {
				t.Errorf("%s's MEMBER_ADDED: title %q, body %q; want the tenant, who added them and the role", m.name, n.Title, n.Body)
			}
		}
	}
	return w
}

func (w *trigWorld) c(name string) graphtest.Caller { return w.users[name].Caller(w.slug) }

func (w *trigWorld) createTask(t *testing.T, as, projectID, title, assignee string) string {
	t.Helper()
	input := map[string]any{"projectID": projectID, "title": title}
	if assignee != "" {
		input["assigneeID"] = w.users[assignee].ID
	}
	var out struct{ CreateTask struct{ ID string } }
	w.e.MustDo(w.c(as), `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, map[string]any{"i": input}, &out)
	return out.CreateTask.ID
}

func (w *trigWorld) updateTask(t *testing.T, as, taskID string, input map[string]any) {
	t.Helper()
	w.e.MustDo(w.c(as), `mutation($id: ID!, $i: UpdateTaskInput!) { updateTask(id: $id, input: $i) { id } }`,
		map[string]any{"id": taskID, "i": input}, nil)
}

var trigApprovers = map[string][]string{"Olivia": {"PROJECT_SUBMITTED"}, "Mark": {"PROJECT_SUBMITTED"}, "Max": {"PROJECT_SUBMITTED"}}

// trigExcept returns m without the named member.
func trigExcept(m map[string][]string, name string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		if k != name {
			out[k] = v
		}
	}
	return out
}

func TestNotificationTriggersProjects(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newTrigWorld(t, e, "acme")
		apollo := e.CreateProject(w.c("Ada"), "Apollo")
		luna := e.CreateProject(w.c("Mark"), "Luna")
		transitioned := map[string][]string{"Ada": {"PROJECT_TRANSITIONED"}}

		steps := []struct {
			name    string
			as      string
			project string
			to      string
			want    map[string][]string
			subject string
		}{
			{"a MEMBER submits: every MANAGER and OWNER", "Ada", apollo, "SUBMITTED", trigApprovers, "Apollo"},
			{"a MANAGER approves: the creator", "Mark", apollo, "APPROVED", transitioned, "Apollo"},
			{"another MANAGER activates: the creator", "Max", apollo, "ACTIVE", transitioned, "Apollo"},
			{"the OWNER completes: the creator", "Olivia", apollo, "COMPLETED", transitioned, "Apollo"},
			{"archived: the creator", "Mark", apollo, "ARCHIVED", transitioned, "Apollo"},
			{"the OWNER restores to DRAFT: the creator", "Olivia", apollo, "DRAFT", transitioned, "Apollo"},
			{"resubmitted by the creator: the approvers again", "Ada", apollo, "SUBMITTED", trigApprovers, "Apollo"},
			{"rejected: the creator", "Max", apollo, "REJECTED", transitioned, "Apollo"},
			{"another MEMBER moves it back to DRAFT: the creator", "Bo", apollo, "DRAFT", transitioned, "Apollo"},
			{"submitted by another MEMBER: the approvers, not the creator", "Bo", apollo, "SUBMITTED", trigApprovers, "Apollo"},
			{"the creator withdraws it: no one", "Ada", apollo, "DRAFT", nil, "Apollo"},
			{"a MANAGER submits: the other approvers, not themself", "Mark", luna, "SUBMITTED", trigExcept(trigApprovers, "Mark"), "Luna"},
			{"the creator approves their own: no one", "Mark", luna, "APPROVED", nil, "Luna"},
			{"another approver moves it on: the creator", "Olivia", luna, "ACTIVE", map[string][]string{"Mark": {"PROJECT_TRANSITIONED"}}, "Luna"},
		}
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				got := w.notified(t, func() { e.Transition(w.c(s.as), s.project, s.to) })
				trigCheck(t, got, s.want)
				// The body says who moved it and, but for a submission, where to.
				words := []string{s.subject, s.as}
				if s.to != "SUBMITTED" {
					words = append(words, s.to)
				}
				trigMentions(t, got, s.project, "", s.subject, words...)
			})
		}

		t.Run("the OWNER submits: the MANAGERs, not the OWNER", func(t *testing.T) {
			mars := e.CreateProject(w.c("Olivia"), "Mars")
			got := w.notified(t, func() { e.Transition(w.c("Olivia"), mars, "SUBMITTED") })
			trigCheck(t, got, trigExcept(trigApprovers, "Olivia"))
			trigMentions(t, got, mars, "", "Mars", "Mars", "Olivia")
		})
		t.Run("a MANAGER archives a DRAFT: the creator", func(t *testing.T) {
			venus := e.CreateProject(w.c("Bo"), "Venus")
			got := w.notified(t, func() { e.Transition(w.c("Max"), venus, "ARCHIVED") })
			trigCheck(t, got, map[string][]string{"Bo": {"PROJECT_TRANSITIONED"}})
			trigMentions(t, got, venus, "", "Venus", "Venus", "Max", "ARCHIVED")
		})
	})
}

func TestNotificationTriggersTasks(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newTrigWorld(t, e, "acme")
		project := e.CreateProject(w.c("Ada"), "Apollo")
		assigned := func(name string) map[string][]string { return map[string][]string{name: {"TASK_ASSIGNED"}} }
		var design string

		t.Run("created with an assignee: the assignee", func(t *testing.T) {
			got := w.notified(t, func() { design = w.createTask(t, "Ada", project, "Design the lander", "Bo") })
			trigCheck(t, got, assigned("Bo"))
			trigMentions(t, got, project, design, "Design the lander", "Design the lander", "Ada")
		})
		t.Run("created assigned to the creator: no one", func(t *testing.T) {
			got := w.notified(t, func() { w.createTask(t, "Ada", project, "Solo", "Ada") })
			trigCheck(t, got, nil)
		})
		t.Run("created with no assignee: no one", func(t *testing.T) {
			got := w.notified(t, func() { w.createTask(t, "Ada", project, "Unassigned", "") })
			trigCheck(t, got, nil)
		})

		steps := []struct {
			name  string
			as    string
			input map[string]any
			want  map[string][]string
		}{
			{"changed to another assignee: the new one", "Ada", map[string]any{"assigneeID": w.users["Max"].ID}, assigned("Max")},
			{"the same assignee again: no one", "Ada", map[string]any{"assigneeID": w.users["Max"].ID}, nil},
			{"another field changes: no one", "Ada", map[string]any{"title": "Design the lander", "priority": "HIGH"}, nil},
			{"the assignee assigns themself again: no one", "Max", map[string]any{"assigneeID": w.users["Max"].ID}, nil},
			{"someone takes the task: no one", "Bo", map[string]any{"assigneeID": w.users["Bo"].ID}, nil},
			{"unassigned: no one", "Ada", map[string]any{"assigneeID": nil}, nil},
			{"assigned again after being unassigned: the assignee", "Mark", map[string]any{"assigneeID": w.users["Bo"].ID}, assigned("Bo")},
			{"assigned to the OWNER by a MEMBER: the OWNER", "Bo", map[string]any{"assigneeID": w.users["Olivia"].ID}, assigned("Olivia")},
			{"assigned to a VIEWER: the VIEWER", "Ada", map[string]any{"assigneeID": w.users["Vera"].ID}, assigned("Vera")},
		}
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				got := w.notified(t, func() { w.updateTask(t, s.as, design, s.input) })
				trigCheck(t, got, s.want)
				trigMentions(t, got, project, design, "Design the lander", "Design the lander", s.as)
			})
		}
	})
}

func TestNotificationTriggersComments(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newTrigWorld(t, e, "acme")
		project := e.CreateProject(w.c("Ada"), "Apollo")
		build := w.createTask(t, "Ada", project, "Build the lander", "Bo")
		solo := w.createTask(t, "Ada", project, "Solo work", "Ada")
		open := w.createTask(t, "Ada", project, "Open work", "")
		commented := func(names ...string) map[string][]string {
			out := map[string][]string{}
			for _, n := range names {
				out[n] = []string{"COMMENT_ADDED"}
			}
			return out
		}

		steps := []struct {
			name  string
			as    string
			task  string
			title string
			want  map[string][]string
		}{
			{"by a third person: the creator and the assignee", "Olivia", build, "Build the lander", commented("Ada", "Bo")},
			{"by a VIEWER's neighbour MEMBER: the creator and the assignee", "Mark", build, "Build the lander", commented("Ada", "Bo")},
			{"by the creator: the assignee", "Ada", build, "Build the lander", commented("Bo")},
			{"by the assignee: the creator", "Bo", build, "Build the lander", commented("Ada")},
			{"creator and assignee are one person: once", "Max", solo, "Solo work", commented("Ada")},
			{"by the creator who is the assignee: no one", "Ada", solo, "Solo work", nil},
			{"no assignee: the creator", "Bo", open, "Open work", commented("Ada")},
			{"no assignee, by the creator: no one", "Ada", open, "Open work", nil},
		}
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				body := "Looks good to me, " + s.as
				got := w.notified(t, func() { e.CreateComment(w.c(s.as), s.task, body) })
				trigCheck(t, got, s.want)
				for name, notes := range got {
					for _, n := range notes {
						if !strings.Contains(n.Title, s.title) || !strings.Contains(n.Body, body) || !strings.HasPrefix(n.Body, s.as) {
							t.Errorf("%s's COMMENT_ADDED: title %q, body %q; want the task's title, the author and the comment", name, n.Title, n.Body)
						}
					}
				}
				trigMentions(t, got, project, s.task, s.title)
			})
		}
		t.Run("a long comment is shortened", func(t *testing.T) {
			long := strings.Repeat("x", 1000)
			got := w.notified(t, func() { e.CreateComment(w.c("Olivia"), open, long) })
			trigCheck(t, got, commented("Ada"))
			for _, n := range got["Ada"] {
				if len([]rune(n.Body)) > 300 || !strings.HasSuffix(n.Body, "…") {
					t.Errorf("body: got %d characters ending %q, want at most 300 ending …", len([]rune(n.Body)), n.Body[len(n.Body)-5:])
				}
			}
		})
	})
}

func TestNotificationChannelsEmptyNotifiesNoOne(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newTrigWorld(t, e, "acme")
		var cfg struct {
			UpdateTenantConfig struct {
				Config struct{ NotificationChannels []string }
			}
		}
		e.MustDo(w.c("Olivia"), `mutation { updateTenantConfig(input: {notificationChannels: []}) { config { notificationChannels } } }`, nil, &cfg)
		if got := cfg.UpdateTenantConfig.Config.NotificationChannels; len(got) != 0 {
			t.Fatalf("channels: got %v, want []", got)
		}
		late := e.Register("Late")
		got := w.notified(t, func() {
			project := e.CreateProject(w.c("Ada"), "Apollo")
			e.Transition(w.c("Ada"), project, "SUBMITTED")
			e.Transition(w.c("Mark"), project, "APPROVED")
			task := w.createTask(t, "Ada", project, "Design", "Bo")
			w.updateTask(t, "Ada", task, map[string]any{"assigneeID": w.users["Max"].ID})
			e.CreateComment(w.c("Olivia"), task, "hello")
			e.AddMember(w.users["Olivia"], "acme", late, "MEMBER")
		})
		trigCheck(t, got, nil)
		if n := len(w.inbox(t, late)); n != 0 {
			t.Errorf("the member added meanwhile: got %d notifications, want 0", n)
		}
		if n, err := e.DB.Client.OutboxEntry.Query().Count(obSystem()); err != nil || n != 0 {
			t.Errorf("outbox entries: got (%d, %v), want 0", n, err)
		}
	})
}

func TestNotificationsStayInTheirTenant(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		acme := newTrigWorld(t, e, "acme")
		ada, mark := acme.users["Ada"], acme.users["Mark"]
		// Ada is a MEMBER of acme and the OWNER of beta, where Mark manages too.
		e.CreateTenant(ada, "beta")
		e.AddMember(ada, "beta", mark, "MANAGER")
		beta := &trigWorld{e: e, slug: "beta", users: map[string]graphtest.User{"Ada": ada, "Mark": mark}}

		apollo := e.CreateProject(acme.c("Ada"), "Apollo")
		zephyr := e.CreateProject(beta.c("Mark"), "Zephyr")
		gotAcme := acme.notified(t, func() {
			e.Transition(acme.c("Ada"), apollo, "SUBMITTED")
			e.Transition(acme.c("Mark"), apollo, "APPROVED")
		})
		trigCheck(t, gotAcme, map[string][]string{
			"Olivia": {"PROJECT_SUBMITTED"}, "Mark": {"PROJECT_SUBMITTED"}, "Max": {"PROJECT_SUBMITTED"}, "Ada": {"PROJECT_TRANSITIONED"},
		})
		gotBeta := beta.notified(t, func() {
			e.Transition(beta.c("Mark"), zephyr, "SUBMITTED")
			e.Transition(beta.c("Ada"), zephyr, "APPROVED")
		})
		trigCheck(t, gotBeta, map[string][]string{"Ada": {"PROJECT_SUBMITTED"}, "Mark": {"PROJECT_TRANSITIONED"}})

		for _, name := range []string{"Ada", "Mark"} {
			inAcme, inBeta := acme.inbox(t, acme.users[name]), beta.inbox(t, beta.users[name])
			ids := map[string]string{}
			for _, n := range inAcme {
				ids[n.ID] = "acme"
				if trigLink(n.Project) == zephyr {
					t.Errorf("%s's list in acme has beta's project: %+v", name, n)
				}
			}
			for _, n := range inBeta {
				if ids[n.ID] != "" {
					t.Errorf("%s's notification %s is listed in acme and in beta, want one tenant", name, n.ID)
				}
				if trigLink(n.Project) == apollo {
					t.Errorf("%s's list in beta has acme's project: %+v", name, n)
				}
			}
			for _, tenant := range []struct {
				w    *trigWorld
				want int
			}{{acme, len(inAcme)}, {beta, len(inBeta)}} {
				var out struct{ UnreadNotificationCount int }
				e.MustDo(tenant.w.c(name), `{ unreadNotificationCount }`, nil, &out)
				if out.UnreadNotificationCount != tenant.want {
					t.Errorf("%s's unread count in %s: got %d, want %d", name, tenant.w.slug, out.UnreadNotificationCount, tenant.want)
				}
			}
			// An acme notification cannot be read from beta, even by its recipient.
			r := e.Do(beta.c(name), `mutation($id: ID!) { markNotificationRead(id: $id) { id } }`, map[string]any{"id": inAcme[0].ID})
			if r.Code() != "NOT_FOUND" {
				t.Errorf("%s marking an acme notification read from beta: got %q, want NOT_FOUND", name, r.Code())
			}
		}
		// Bo, in acme only, lists nothing of beta's; a stranger lists nothing at all.
		stranger := e.Register("Stranger")
		if r := e.Do(stranger.Caller("acme"), trigInbox, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("a non-member listing acme's notifications: got %q, want FORBIDDEN", r.Code())
		}
	})
}

// TestFormerMembersAreNotNotified: a creator or assignee who has left the
// tenant hears nothing more of it, in the app or by email (the email would
// carry the tenant's project names and comments to someone outside it);
// also in a tenant with in-app notifications alone, where the rows'
// INSERT … SELECT is what leaves them out.
func TestFormerMembersAreNotNotified(t *testing.T) {
	for _, channels := range []string{"[IN_APP, EMAIL]", "[IN_APP]"} {
		t.Run(channels, func(t *testing.T) {
			graphtest.Run(t, func(t *testing.T, e *graphtest.Env) { formerMembersNotNotified(t, e, channels) })
		})
	}
}

// formerMembersNotNotified is TestFormerMembersAreNotNotified with the
// tenant's channels set to channels.
func formerMembersNotNotified(t *testing.T, e *graphtest.Env, channels string) {
	w := newTrigWorld(t, e, "acme")
	e.MustDo(w.c("Olivia"), `mutation { updateTenantConfig(input: {notificationChannels: `+channels+`}) { id } }`, nil, nil)
	project := e.CreateProject(w.c("Ada"), "Apollo")
	task := w.createTask(t, "Ada", project, "Build the lander", "Bo")

	// heard counts u's notification rows and queued emails, in any tenant.
	heard := func(u graphtest.User) (rows, emails int) {
		t.Helper()
		id, err := globalid.Decode(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		rows, err = e.DB.Client.Notification.Query().Where(notification.RecipientID(id)).Count(obSystem())
		if err != nil {
			t.Fatal(err)
		}
		entries, err := e.DB.Client.OutboxEntry.Query().Where(outboxentry.ChannelEQ(outboxentry.ChannelEMAIL)).All(obSystem())
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			if en.Payload["to"] == u.Email {
				emails++
			}
		}
		return rows, emails
	}
	former := map[string]graphtest.User{}
	before := map[string][2]int{}
	for _, name := range []string{"Ada", "Bo"} {
		e.MustDo(w.c("Olivia"), `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": w.memberships[name]}, nil)
		former[name] = w.users[name]
		delete(w.users, name)
		r, m := heard(former[name])
		before[name] = [2]int{r, m}
	}

	got := w.notified(t, func() {
		e.CreateComment(w.c("Mark"), task, "Still on it?") // to the task's creator Ada and assignee Bo
		e.Transition(w.c("Max"), project, "ARCHIVED")      // to the project's creator Ada
	})
	trigCheck(t, got, nil)
	for name, u := range former {
		if r, m := heard(u); r != before[name][0] || m != before[name][1] {
			t.Errorf("%s, removed from acme: got %d new notification rows and %d new emails, want none",
				name, r-before[name][0], m-before[name][1])
		}
	}

	// The same triggers still reach current members.
	luna := e.CreateProject(w.c("Olivia"), "Luna")
	got = w.notified(t, func() {
		next := w.createTask(t, "Olivia", luna, "Next", "Max")
		e.CreateComment(w.c("Mark"), next, "On it")
	})
	trigCheck(t, got, map[string][]string{"Max": {"TASK_ASSIGNED", "COMMENT_ADDED"}, "Olivia": {"COMMENT_ADDED"}})
	wantEmails := 2
	if channels == "[IN_APP]" {
		wantEmails = 0
	}
	if _, m := heard(w.users["Max"]); m != wantEmails {
		t.Errorf("emails to Max: got %d, want %d", m, wantEmails)
	}
}
