package projects_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"tenantgraph/ent"
	"tenantgraph/ent/comment"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/project"
	"tenantgraph/ent/task"
	"tenantgraph/ent/tenant"
	"tenantgraph/ent/user"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
)

// dataWorld is two tenants built through the API, seen as integer IDs by
// code that talks to ent directly.
type dataWorld struct {
	client                     *ent.Client
	victimTenant, victimUser   int
	victimOnly                 int // a user who is a member of the victim tenant alone
	victimProject, victimTask  int
	victimComment, victimMship int
	tenant, user               int // the attacker tenant and its OWNER
	project, task, comment     int // the attacker tenant's own objects
	mship                      int // the OWNER's membership
	both                       int // a user who is a member of both tenants
	bothMship                  int // their membership in the attacker tenant
}

func newDataWorld(t *testing.T, e *graphtest.Env) *dataWorld {
	t.Helper()
	id := func(s string) int {
		t.Helper()
		n, err := globalid.Decode(s)
		if err != nil {
			t.Fatalf("decoding %q: %v", s, err)
		}
		return n
	}
	v, only, a := e.Register("Victim"), e.Register("VictimOnly"), e.Register("Attacker")
	w := &dataWorld{client: e.DB.Client, victimUser: id(v.ID), victimOnly: id(only.ID), user: id(a.ID)}
	w.victimTenant = id(e.CreateTenant(v, "victim"))
	vc := v.Caller("victim")
	w.victimMship = id(e.AddMember(v, "victim", only, "MEMBER"))
	both := e.Register("Both")
	w.both = id(both.ID)
	e.AddMember(v, "victim", both, "VIEWER")
	vp := e.CreateProject(vc, "victim-secret project")
	vt := e.CreateTask(vc, vp, "victim-secret task")
	w.victimProject, w.victimTask = id(vp), id(vt)
	w.victimComment = id(e.CreateComment(vc, vt, "victim-secret comment"))

	w.tenant = id(e.CreateTenant(a, "attacker"))
	ac := a.Caller("attacker")
	ap := e.CreateProject(ac, "own project")
	at := e.CreateTask(ac, ap, "own task")
	w.project, w.task = id(ap), id(at)
	w.comment = id(e.CreateComment(ac, at, "own comment"))
	w.bothMship = id(e.AddMember(a, "attacker", both, "MEMBER"))
	m, err := w.client.Membership.Query().Where(membership.TenantID(w.tenant), membership.UserID(w.user)).
		OnlyID(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatalf("the attacker's membership: %v", err)
	}
	w.mship = m
	return w
}

// as returns a context whose viewer is the attacker tenant's user with r.
func (w *dataWorld) as(r role.Role) context.Context {
	return viewer.NewContext(context.Background(), &viewer.Viewer{UserID: w.user, TenantID: w.tenant, Role: r})
}

// victimRows reads every row of the victim tenant past the privacy layer.
func (w *dataWorld) victimRows(t *testing.T) string {
	t.Helper()
	ctx, c := privacy.DecisionContext(context.Background(), privacy.Allow), w.client
	ts, err1 := c.Tenant.Query().Where(tenant.ID(w.victimTenant)).All(ctx)
	ms, err2 := c.Membership.Query().Where(membership.TenantID(w.victimTenant)).Order(ent.Asc("id")).All(ctx)
	ps, err3 := c.Project.Query().Where(project.TenantID(w.victimTenant)).Order(ent.Asc("id")).All(ctx)
	tks, err4 := c.Task.Query().Where(task.TenantID(w.victimTenant)).Order(ent.Asc("id")).All(ctx)
	cs, err5 := c.Comment.Query().Where(comment.TenantID(w.victimTenant)).Order(ent.Asc("id")).All(ctx)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		t.Fatalf("reading the victim's rows: %v", err)
	}
	if len(ps) != 1 || len(tks) != 1 || len(cs) != 1 || len(ms) != 3 {
		t.Fatalf("the victim's rows: got %d projects, %d tasks, %d comments, %d memberships; want 1, 1, 1, 3", len(ps), len(tks), len(cs), len(ms))
	}
	b, err := json.Marshal([]any{ts, ms, ps, tks, cs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDataLayerIsolation shows that the ent privacy policies and the tenant
// interceptor scope every query and write to the viewer's tenant even when
// the caller (a resolver that forgot a where clause) asks for everything.
func TestDataLayerIsolation(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newDataWorld(t, e)
		c := w.client
		before := w.victimRows(t)
		defer func() {
			if after := w.victimRows(t); after != before {
				t.Errorf("the victim's rows changed:\ngot  %s\nwant %s", after, before)
			}
		}()

		t.Run("reads without a where clause", func(t *testing.T) {
			ctx := w.as(role.Owner)
			count := func(n int, err error) ([]int, error) { return []int{n}, err }
			reads := []struct {
				name string
				ids  func() ([]int, error)
				want []int
			}{
				{"Project.All", func() ([]int, error) { return c.Project.Query().IDs(ctx) }, []int{w.project}},
				{"Task.Count", func() ([]int, error) { return count(c.Task.Query().Count(ctx)) }, []int{1}},
				{"Comment.All", func() ([]int, error) { return c.Comment.Query().IDs(ctx) }, []int{w.comment}},
				{"Membership.All", func() ([]int, error) { return c.Membership.Query().Order(ent.Asc("id")).IDs(ctx) }, []int{w.mship, w.bothMship}},
				{"Tenant.All", func() ([]int, error) { return c.Tenant.Query().IDs(ctx) }, []int{w.tenant}},
				{"Project by victim ID", func() ([]int, error) { return c.Project.Query().Where(project.ID(w.victimProject)).IDs(ctx) }, nil},
				{"Project in victim tenant", func() ([]int, error) { return c.Project.Query().Where(project.TenantID(w.victimTenant)).IDs(ctx) }, nil},
				{"Project hasTasksWith victim title", func() ([]int, error) {
					return c.Project.Query().Where(project.HasTasksWith(task.TitleContains("victim-secret"))).IDs(ctx)
				}, nil},
				{"Project hasTenantWith victim", func() ([]int, error) {
					return c.Project.Query().Where(project.HasTenantWith(tenant.Slug("victim"))).IDs(ctx)
				}, nil},
				{"Task hasAssigneeWith victim-only user", func() ([]int, error) {
					return c.Task.Query().Where(task.HasAssigneeWith(user.ID(w.victimOnly))).IDs(ctx)
				}, nil},
				{"victim Project's tasks", func() ([]int, error) {
					return c.Project.Query().Where(project.ID(w.victimProject)).QueryTasks().IDs(ctx)
				}, nil},
				{"victim Task's comments", func() ([]int, error) { return c.Comment.Query().Where(comment.TaskID(w.victimTask)).IDs(ctx) }, nil},
				{"victim user's memberships", func() ([]int, error) { return c.User.Query().Where(user.ID(w.victimUser)).QueryMemberships().IDs(ctx) }, nil},
				{"victim user's projects", func() ([]int, error) {
					return c.User.Query().Where(user.ID(w.victimUser)).QueryCreatedProjects().IDs(ctx)
				}, nil},
				{"victim user's comments", func() ([]int, error) { return c.User.Query().Where(user.ID(w.victimUser)).QueryComments().IDs(ctx) }, nil},
				{"victim-only user's assigned tasks", func() ([]int, error) {
					return c.User.Query().Where(user.ID(w.victimOnly)).QueryAssignedTasks().IDs(ctx)
				}, nil},
				{"eager-loaded tree", func() ([]int, error) {
					ps, err := c.Project.Query().WithTasks(func(q *ent.TaskQuery) { q.WithComments() }).All(ctx)
					var ids []int
					for _, p := range ps {
						ids = append(ids, p.ID)
						for _, tk := range p.Edges.Tasks {
							ids = append(ids, tk.ID)
							for _, cm := range tk.Edges.Comments {
								ids = append(ids, cm.ID)
							}
						}
					}
					return ids, err
				}, []int{w.project, w.task, w.comment}},
			}
			for _, r := range reads {
				got, err := r.ids()
				if err != nil || !slices.Equal(got, r.want) {
					t.Errorf("%s: got %v, %v; want %v", r.name, got, err, r.want)
				}
			}
			gets := []struct {
				name string
				get  func() error
			}{
				{"Project.Get", func() error { _, err := c.Project.Get(ctx, w.victimProject); return err }},
				{"Task.Get", func() error { _, err := c.Task.Get(ctx, w.victimTask); return err }},
				{"Comment.Get", func() error { _, err := c.Comment.Get(ctx, w.victimComment); return err }},
				{"Membership.Get", func() error { _, err := c.Membership.Get(ctx, w.victimMship); return err }},
				{"Tenant.Get", func() error { _, err := c.Tenant.Get(ctx, w.victimTenant); return err }},
			}
			for _, g := range gets {
				if err := g.get(); !ent.IsNotFound(err) {
					t.Errorf("%s of the victim's object: got %v, want not found", g.name, err)
				}
			}
		})

		t.Run("writes to the victim's rows", func(t *testing.T) {
			ctx := w.as(role.Owner)
			writes := []struct {
				name  string
				write func() error
			}{
				{"Project.UpdateOneID", func() error { return c.Project.UpdateOneID(w.victimProject).SetName("pwned").Exec(ctx) }},
				{"Task.UpdateOneID", func() error { return c.Task.UpdateOneID(w.victimTask).SetTitle("pwned").Exec(ctx) }},
				{"Comment.UpdateOneID", func() error { return c.Comment.UpdateOneID(w.victimComment).SetBody("pwned").Exec(ctx) }},
				{"Membership.UpdateOneID", func() error { return c.Membership.UpdateOneID(w.victimMship).SetRole(role.Viewer).Exec(ctx) }},
				{"Tenant.UpdateOneID", func() error { return c.Tenant.UpdateOneID(w.victimTenant).SetName("pwned").Exec(ctx) }},
				{"Comment.DeleteOneID", func() error { return c.Comment.DeleteOneID(w.victimComment).Exec(ctx) }},
				{"Task.DeleteOneID", func() error { return c.Task.DeleteOneID(w.victimTask).Exec(ctx) }},
				{"Project.DeleteOneID", func() error { return c.Project.DeleteOneID(w.victimProject).Exec(ctx) }},
				{"Membership.DeleteOneID", func() error { return c.Membership.DeleteOneID(w.victimMship).Exec(ctx) }},
			}
			for _, wr := range writes {
				if err := wr.write(); !ent.IsNotFound(err) {
					t.Errorf("%s of the victim's row: got %v, want not found", wr.name, err)
				}
			}
			// Creates are not filtered; the create hook refuses another
			// tenant's tenant_id.
			creates := []struct {
				name   string
				create func() error
			}{
				{"Project", func() error {
					return c.Project.Create().SetTenantID(w.victimTenant).SetName("pwned").SetCreatedByID(w.user).Exec(ctx)
				}},
				{"Task", func() error {
					return c.Task.Create().SetTenantID(w.victimTenant).SetProjectID(w.victimProject).SetTitle("pwned").SetCreatedByID(w.user).Exec(ctx)
				}},
				{"Comment", func() error {
					return c.Comment.Create().SetTenantID(w.victimTenant).SetTaskID(w.victimTask).SetBody("pwned").SetAuthorID(w.user).Exec(ctx)
				}},
				{"Membership", func() error {
					return c.Membership.Create().SetTenantID(w.victimTenant).SetUserID(w.user).SetRole(role.Owner).Exec(ctx)
				}},
			}
			for _, cr := range creates {
				if err := cr.create(); err == nil || !strings.Contains(err.Error(), "refused") {
					t.Errorf("creating a %s with the victim's tenant_id: got %v, want refused by the create hook", cr.name, err)
				}
			}
		})

		t.Run("bulk writes without a where clause", func(t *testing.T) {
			tx, err := c.Tx(w.as(role.Owner))
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			ctx := w.as(role.Owner)
			bulk := []struct {
				name string
				do   func() (int, error)
				want int // the attacker tenant's own rows
			}{
				{"Project.Update", func() (int, error) { return tx.Project.Update().SetName("pwned").Save(ctx) }, 1},
				{"Task.Update", func() (int, error) { return tx.Task.Update().SetTitle("pwned").Save(ctx) }, 1},
				{"Membership.Update", func() (int, error) { return tx.Membership.Update().SetRole(role.Owner).Save(ctx) }, 2},
				{"Comment.Delete", func() (int, error) { return tx.Comment.Delete().Exec(ctx) }, 1},
				{"Task.Delete", func() (int, error) { return tx.Task.Delete().Exec(ctx) }, 1},
				{"Project.Delete", func() (int, error) { return tx.Project.Delete().Exec(ctx) }, 1},
			}
			for _, b := range bulk {
				if n, err := b.do(); err != nil || n != b.want {
					t.Errorf("%s: got %d rows, %v; want %d (the attacker tenant's own)", b.name, n, err, b.want)
				}
			}
		})

		t.Run("the viewer's own memberships", func(t *testing.T) {
			// The one widening of the membership scope: the viewer's own
			// memberships in every tenant, and nobody else's.
			ctx := viewer.WithOwnMemberships(viewer.NewContext(context.Background(),
				&viewer.Viewer{UserID: w.both, TenantID: w.tenant, Role: role.Member}))
			ms, err := c.Membership.Query().All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tenants := []int{}
			for _, m := range ms {
				if m.UserID != w.both {
					t.Errorf("got the membership of user %d, want only the viewer's (%d)", m.UserID, w.both)
				}
				tenants = append(tenants, m.TenantID)
			}
			slices.Sort(tenants)
			if want := []int{w.victimTenant, w.tenant}; !slices.Equal(tenants, want) {
				t.Errorf("tenants of the viewer's memberships: got %v, want %v", tenants, want)
			}
		})

		t.Run("domain functions given the victim's IDs", func(t *testing.T) {
			desc := "pwned"
			svc := projects.NewService(nil)
			ops := []struct {
				name string
				do   func(context.Context, *ent.Client) error
				want apperr.Kind
			}{
				{"UpdateProject", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.UpdateProject(ctx, c, w.victimProject, projects.UpdateProjectInput{Name: &desc})
					return err
				}, apperr.NotFound},
				{"DeleteProject", func(ctx context.Context, c *ent.Client) error { return svc.DeleteProject(ctx, c, w.victimProject) }, apperr.NotFound},
				{"Transition", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.Transition(ctx, c, w.victimProject, "SUBMITTED")
					return err
				}, apperr.NotFound},
				{"CreateTask under the victim's project", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.CreateTask(ctx, c, projects.CreateTaskInput{ProjectID: w.victimProject, Title: "pwned"})
					return err
				}, apperr.NotFound},
				{"CreateTask assigned to a victim-only user", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.CreateTask(ctx, c, projects.CreateTaskInput{ProjectID: w.project, Title: "x", AssigneeID: &w.victimOnly})
					return err
				}, apperr.Invalid},
				{"UpdateTask", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.UpdateTask(ctx, c, w.victimTask, projects.UpdateTaskInput{Title: &desc})
					return err
				}, apperr.NotFound},
				{"DeleteTask", func(ctx context.Context, c *ent.Client) error { return svc.DeleteTask(ctx, c, w.victimTask) }, apperr.NotFound},
				{"CreateComment on the victim's task", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.CreateComment(ctx, c, w.victimTask, "pwned")
					return err
				}, apperr.NotFound},
				{"UpdateComment", func(ctx context.Context, c *ent.Client) error {
					_, err := svc.UpdateComment(ctx, c, w.victimComment, "pwned")
					return err
				}, apperr.NotFound},
				{"DeleteComment", func(ctx context.Context, c *ent.Client) error { return svc.DeleteComment(ctx, c, w.victimComment) }, apperr.NotFound},
			}
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					ctx := w.as(role.Owner)
					tx, err := c.Tx(ctx)
					if err != nil {
						t.Fatal(err)
					}
					defer tx.Rollback()
					if err := op.do(ctx, tx.Client()); !apperr.Is(err, op.want) {
						t.Errorf("got %v, want %s", err, op.want)
					}
				})
			}
		})

		t.Run("no tenant in the context", func(t *testing.T) {
			contexts := map[string]context.Context{
				"no viewer":             context.Background(),
				"tenant not resolved":   viewer.NewContext(context.Background(), &viewer.Viewer{UserID: w.user}),
				"not a member":          viewer.NewContext(context.Background(), &viewer.Viewer{UserID: w.victimUser, TenantID: w.tenant}),
				"anonymous in a tenant": viewer.NewContext(context.Background(), &viewer.Viewer{TenantID: w.tenant}),
			}
			for name, ctx := range contexts {
				ops := map[string]func() error{
					"Project.All": func() error { _, err := c.Project.Query().All(ctx); return err },
					"Task.Count":  func() error { _, err := c.Task.Query().Count(ctx); return err },
					"Comment.Get": func() error { _, err := c.Comment.Get(ctx, w.comment); return err },
					"Membership.All": func() error {
						ms, err := c.Membership.Query().All(ctx)
						if len(ms) > 0 {
							return errors.New("read memberships")
						}
						return err
					},
					"Project.Create": func() error {
						return c.Project.Create().SetTenantID(w.tenant).SetName("x").SetCreatedByID(w.user).Exec(ctx)
					},
					"Project.Update": func() error { return c.Project.UpdateOneID(w.project).SetName("x").Exec(ctx) },
					"Comment.Delete": func() error { return c.Comment.DeleteOneID(w.comment).Exec(ctx) },
					"Membership.Make": func() error {
						return c.Membership.Create().SetTenantID(w.tenant).SetUserID(w.victimUser).SetRole(role.Owner).Exec(ctx)
					},
				}
				for op, do := range ops {
					err := do()
					if name == "not a member" && op == "Membership.All" {
						// A non-member reads only their own (absent)
						// membership: that is how a request's role is found.
						if err != nil {
							t.Errorf("%s, %s: got %v, want no error and no rows", name, op, err)
						}
						continue
					}
					if !errors.Is(err, privacy.Deny) {
						t.Errorf("%s, %s: got %v, want denied", name, op, err)
					}
				}
			}
		})

		t.Run("a VIEWER writes nothing", func(t *testing.T) {
			ctx := w.as(role.Viewer)
			if err := c.Project.UpdateOneID(w.project).SetName("x").Exec(ctx); !errors.Is(err, privacy.Deny) {
				t.Errorf("updating a project: got %v, want denied", err)
			}
			if err := c.Comment.DeleteOneID(w.comment).Exec(ctx); !errors.Is(err, privacy.Deny) {
				t.Errorf("deleting a comment: got %v, want denied", err)
			}
		})
	})
}
