package graph_test

// Reading the activity log: filters, order, pages, who may read it, and
// the per-project view.

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

// actWorld is a tenant with a log written by two people, and a second
// tenant with a log of its own.
type actWorld struct {
	owner, mia, other graphtest.User
	manager, viewer   graphtest.User
	nonMember         graphtest.User
	o, m              graphtest.Caller
	rocket, probe     string // projects of acme
	task              string
	otherProject      string // a project of the other tenant
	otherEntries      int    // how many entries the other tenant has
	all               []actEntry
}

func newActWorld(t *testing.T, e *graphtest.Env) *actWorld {
	t.Helper()
	w := &actWorld{}
	w.owner, w.mia, w.other = e.Register("Owner"), e.Register("Mia"), e.Register("Other")
	w.manager, w.viewer, w.nonMember = e.Register("Manny"), e.Register("Vic"), e.Register("Nobody")
	e.CreateTenant(w.owner, "acme")
	w.o, w.m = w.owner.Caller("acme"), w.mia.Caller("acme")
	e.AddMember(w.owner, "acme", w.mia, "MEMBER")
	e.AddMember(w.owner, "acme", w.manager, "MANAGER")
	e.AddMember(w.owner, "acme", w.viewer, "VIEWER")
	w.rocket = e.CreateProject(w.m, "Rocket")
	w.task = e.CreateTask(w.m, w.rocket, "Fuel")
	e.Transition(w.m, w.rocket, "SUBMITTED")
	w.probe = e.CreateProject(w.o, "Probe")
	e.MustDo(w.o, `mutation($id: ID!) { updateProject(id: $id, input: {name: "Probe II"}) { id } }`, map[string]any{"id": w.probe}, nil)
	e.CreateComment(w.o, w.task, "ordered")

	// The other tenant's owner is also a MEMBER of acme: sharing a user must
	// not share logs.
	e.CreateTenant(w.other, "other")
	e.AddMember(w.owner, "acme", w.other, "MEMBER")
	w.otherProject = e.CreateProject(w.other.Caller("other"), "Rocket")
	e.Transition(w.other.Caller("other"), w.otherProject, "SUBMITTED")
	w.otherEntries = 3 // tenant.create, project.create, project.transition
	w.all = actLog(t, e, w.o, nil)
	return w
}

func TestActivityLogFilters(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newActWorld(t, e)
		if len(w.all) != 11 {
			t.Fatalf("acme's entries: got %d, want 11", len(w.all))
		}
		times := make([]time.Time, len(w.all))
		for i, a := range w.all {
			ts, err := time.Parse(time.RFC3339Nano, a.CreatedAt)
			if err != nil {
				t.Fatalf("createdAt %q: %v", a.CreatedAt, err)
			}
			times[i] = ts
		}
		mid := times[5] // the sixth newest
		match := func(keep func(i int, a actEntry) bool) []string {
			var ids []string
			for i, a := range w.all {
				if keep(i, a) {
					ids = append(ids, a.ID)
				}
			}
			return ids
		}
		tests := []struct {
			name  string
			where map[string]any
			want  []string
		}{
			{"action", map[string]any{"action": "project.create"},
				match(func(_ int, a actEntry) bool { return a.Action == "project.create" })},
			{"actionIn", map[string]any{"actionIn": []string{"member.add", "comment.create"}},
				match(func(_ int, a actEntry) bool { return a.Action == "member.add" || a.Action == "comment.create" })},
			{"entityType", map[string]any{"entityType": "Task"},
				match(func(_ int, a actEntry) bool { return a.EntityType == "Task" })},
			{"entityID", map[string]any{"entityID": w.rocket},
				match(func(_ int, a actEntry) bool { return a.EntityID == w.rocket })},
			{"entityType and entityID", map[string]any{"entityType": "Project", "entityID": w.probe},
				match(func(_ int, a actEntry) bool { return a.EntityID == w.probe })},
			{"actorID", map[string]any{"actorID": w.mia.ID},
				match(func(_ int, a actEntry) bool { return a.Actor.ID == w.mia.ID })},
			{"createdAtGTE", map[string]any{"createdAtGTE": mid.Format(time.RFC3339Nano)},
				match(func(i int, _ actEntry) bool { return !times[i].Before(mid) })},
			{"createdAtLT", map[string]any{"createdAtLT": mid.Format(time.RFC3339Nano)},
				match(func(i int, _ actEntry) bool { return times[i].Before(mid) })},
			{"time range and actor", map[string]any{"createdAtGTE": times[len(times)-1].Format(time.RFC3339Nano), "createdAtLT": mid.Format(time.RFC3339Nano), "actorID": w.owner.ID},
				match(func(i int, a actEntry) bool { return times[i].Before(mid) && a.Actor.ID == w.owner.ID })},
			{"summaryContains", map[string]any{"summaryContains": "→"},
				match(func(_ int, a actEntry) bool { return a.Action == "project.transition" })},
			{"another tenant's project", map[string]any{"entityID": w.otherProject}, nil},
			{"another tenant's actor alone", map[string]any{"actorID": w.other.ID}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.want == nil && tt.name[:7] != "another" {
					t.Fatal("the expectation matches nothing: the world is wrong")
				}
				var got []string
				for _, a := range actLog(t, e, w.o, map[string]any{"where": tt.where}) {
					got = append(got, a.ID)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v (newest first)", got, tt.want)
				}
			})
		}
	})
}

func TestActivityLogOrderAndPages(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newActWorld(t, e)
		if got := w.all[len(w.all)-1].Action; got != "tenant.create" {
			t.Errorf("oldest entry: got %s, want tenant.create", got)
		}
		if got := w.all[0].Action; got != "member.add" {
			t.Errorf("newest entry: got %s, want member.add (the other tenant's owner joining)", got)
		}
		for i := 1; i < len(w.all); i++ {
			if w.all[i-1].CreatedAt < w.all[i].CreatedAt && len(w.all[i-1].CreatedAt) == len(w.all[i].CreatedAt) {
				t.Errorf("entry %d (%s) is older than entry %d (%s): want newest first", i-1, w.all[i-1].CreatedAt, i, w.all[i].CreatedAt)
			}
		}
		desc := actLog(t, e, w.o, map[string]any{"orderBy": map[string]any{"field": "CREATED_AT", "direction": "DESC"}})
		asc := actLog(t, e, w.o, map[string]any{"orderBy": map[string]any{"field": "CREATED_AT", "direction": "ASC"}})
		if !slices.EqualFunc(desc, w.all, func(a, b actEntry) bool { return a.ID == b.ID }) {
			t.Errorf("explicit DESC: got another order than the default")
		}
		slices.Reverse(asc)
		if !slices.EqualFunc(asc, w.all, func(a, b actEntry) bool { return a.ID == b.ID }) {
			t.Errorf("ASC: got another order than the default reversed")
		}

		// Pages of three walk the whole log once.
		var walked []string
		var after any
		for page := 0; page < 10; page++ {
			var out struct {
				ActivityLogs struct {
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
					Edges []struct{ Node struct{ ID string } }
				}
			}
			isoMust(t, e, w.o, actLogQuery, map[string]any{"first": 3, "after": after}, &out)
			for _, edge := range out.ActivityLogs.Edges {
				walked = append(walked, edge.Node.ID)
			}
			if !out.ActivityLogs.PageInfo.HasNextPage {
				break
			}
			after = out.ActivityLogs.PageInfo.EndCursor
		}
		var want []string
		for _, a := range w.all {
			want = append(want, a.ID)
		}
		if !slices.Equal(walked, want) {
			t.Errorf("paged walk: got %v, want %v", walked, want)
		}
	})
}

// TestActivityLogAccess: the OWNER of the current tenant alone reads its
// log, and no one ever reads another tenant's.
func TestActivityLogAccess(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newActWorld(t, e)
		callers := []struct {
			name string
			as   graphtest.Caller
			want string
		}{
			{"MANAGER", w.manager.Caller("acme"), "FORBIDDEN"},
			{"MEMBER", w.m, "FORBIDDEN"},
			{"VIEWER", w.viewer.Caller("acme"), "FORBIDDEN"},
			{"another tenant's OWNER who is a MEMBER here", w.other.Caller("acme"), "FORBIDDEN"},
			{"non-member", w.nonMember.Caller("acme"), "FORBIDDEN"},
			{"anonymous", graphtest.Caller{TenantSlug: "acme"}, "UNAUTHENTICATED"},
		}
		reads := []struct{ name, query string }{
			{"activityLogs", `{ activityLogs(first: 100) { totalCount edges { node { id summary } } } }`},
			{"Project.activity", `query($id: ID!) { node(id: $id) { ... on Project { name activity(first: 10) { totalCount edges { node { id } } } } } }`},
			{"node of an entry", `query($entry: ID!) { node(id: $entry) { id ... on ActivityLog { summary } } }`},
		}
		for _, c := range callers {
			for _, read := range reads {
				t.Run(c.name+"/"+read.name, func(t *testing.T) {
					r := e.Do(c.as, read.query, map[string]any{"id": w.rocket, "entry": w.all[0].ID})
					if r.Code() != c.want {
						t.Errorf("got %q %s, want %s", r.Code(), r.Data, c.want)
					}
					ids, _ := isoCollect(t, r.Data)
					for _, id := range ids {
						if slices.ContainsFunc(w.all, func(a actEntry) bool { return a.ID == id }) {
							t.Errorf("got entry %s in %s, want none", id, r.Data)
						}
					}
				})
			}
		}

		t.Run("the other tenant's OWNER in their own tenant", func(t *testing.T) {
			oc := w.other.Caller("other")
			entries := actLog(t, e, oc, nil)
			if len(entries) != w.otherEntries {
				t.Errorf("entries: got %d, want %d (their own only)", len(entries), w.otherEntries)
			}
			for _, a := range entries {
				if slices.ContainsFunc(w.all, func(b actEntry) bool { return a.ID == b.ID }) || a.Actor.ID != w.other.ID {
					t.Errorf("got %+v, want only the other tenant's own entries", a)
				}
			}
			for _, filter := range []map[string]any{
				{"entityID": w.rocket}, {"actorID": w.mia.ID}, {"idIn": []string{w.all[0].ID, w.all[1].ID}}, {"entityType": "Comment"},
			} {
				if got := actLog(t, e, oc, map[string]any{"where": filter}); len(got) != 0 {
					t.Errorf("filter %v: got %+v, want nothing of acme's", filter, got)
				}
			}
			var node struct{ Node *struct{ ID string } }
			isoMust(t, e, oc, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": w.all[0].ID}, &node)
			if node.Node != nil {
				t.Errorf("node(acme's entry): got %+v, want null", node.Node)
			}
		})
	})
}

func TestProjectActivity(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newActWorld(t, e)
		const q = `query($id: ID!) { node(id: $id) { ... on Project { activity(first: 10) { totalCount edges { node { action summary entityID actor { id } } } } } } }`
		var out struct {
			Node *struct {
				Activity struct {
					TotalCount int
					Edges      []struct{ Node actEntry }
				}
			}
		}
		isoMust(t, e, w.o, q, map[string]any{"id": w.rocket}, &out)
		var got []string
		for _, edge := range out.Node.Activity.Edges {
			got = append(got, edge.Node.Action+" by "+edge.Node.Actor.ID)
			if edge.Node.EntityID != w.rocket {
				t.Errorf("entry about %s in Rocket's activity", edge.Node.EntityID)
			}
		}
		want := []string{"project.transition by " + w.mia.ID, "project.create by " + w.mia.ID}
		if !slices.Equal(got, want) || out.Node.Activity.TotalCount != 2 {
			t.Errorf("Rocket's activity: got %v (total %d), want %v (the task and comment are their own entities)", got, out.Node.Activity.TotalCount, want)
		}

		// Probe's own two entries, newest first.
		isoMust(t, e, w.o, q, map[string]any{"id": w.probe}, &out)
		if n := len(out.Node.Activity.Edges); n != 2 || out.Node.Activity.Edges[0].Node.Summary != `updated project "Probe II"` {
			t.Errorf("Probe's activity: got %+v, want the update then the creation", out.Node.Activity.Edges)
		}

		// The other tenant's project of the same name: not found at all.
		out.Node = nil
		isoMust(t, e, w.o, q, map[string]any{"id": w.otherProject}, &out)
		if out.Node != nil {
			t.Errorf("another tenant's project: got %+v, want null", out.Node)
		}

		// A MEMBER reads the project but not its activity.
		r := e.Do(w.m, `query($id: ID!) { node(id: $id) { ... on Project { name activity(first: 10) { totalCount } } } }`, map[string]any{"id": w.rocket})
		if r.Code() != "FORBIDDEN" || len(r.Errors) != 1 || len(r.Errors[0].Path) < 2 || r.Errors[0].Path[1] != "activity" {
			t.Errorf("MEMBER: got %q %+v, want FORBIDDEN on activity", r.Code(), r.Errors)
		}
	})
}

// TestNodesAnswersAroundAnEntryItMayNotRead: in nodes(ids:), an activity
// entry that the caller may not read (they are not the OWNER) is null with
// FORBIDDEN at its index; the list's other objects are still answered. The
// OWNER gets the entry. node(id:) of the entry is FORBIDDEN as before.
func TestNodesAnswersAroundAnEntryItMayNotRead(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newActWorld(t, e)
		const query = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`
		ids := []string{w.rocket, w.all[0].ID, w.task, w.all[1].ID}
		type node struct {
			Typename string `json:"__typename"`
			ID       string
		}
		decode := func(r *graphtest.Response) []*node {
			t.Helper()
			var data struct{ Nodes []*node }
			if err := json.Unmarshal(r.Data, &data); err != nil {
				t.Fatalf("decoding %s: %v", r.Data, err)
			}
			return data.Nodes
		}

		for _, c := range []struct {
			name string
			as   graphtest.Caller
		}{{"MEMBER", w.m}, {"MANAGER", w.manager.Caller("acme")}} {
			t.Run(c.name, func(t *testing.T) {
				r := e.Do(c.as, query, map[string]any{"ids": ids})
				got := decode(r)
				if len(got) != 4 || got[0] == nil || got[0].ID != w.rocket || got[2] == nil || got[2].ID != w.task || got[1] != nil || got[3] != nil {
					t.Fatalf("nodes: got %s, want the project, null, the task, null", r.Data)
				}
				var paths []string
				for _, err := range r.Errors {
					if err.Code() != "FORBIDDEN" {
						t.Errorf("error %+v: want FORBIDDEN", err)
					}
					paths = append(paths, fmt.Sprint(err.Path...))
				}
				if want := []string{"nodes1", "nodes3"}; !slices.Equal(paths, want) {
					t.Errorf("error paths: got %q, want %q", paths, want)
				}
				if r := e.Do(c.as, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": w.all[0].ID}); r.Code() != "FORBIDDEN" {
					t.Errorf("node of an entry: got %q %s, want FORBIDDEN", r.Code(), r.Data)
				}
			})
		}

		t.Run("OWNER", func(t *testing.T) {
			r := e.Do(w.o, query, map[string]any{"ids": ids})
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %+v", r.Errors)
			}
			got := decode(r)
			for i, want := range []string{"Project", "ActivityLog", "Task", "ActivityLog"} {
				if got[i] == nil || got[i].Typename != want || got[i].ID != ids[i] {
					t.Errorf("nodes[%d]: got %+v, want the %s %s", i, got[i], want, ids[i])
				}
			}
		})
	})
}
