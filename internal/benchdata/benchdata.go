// Package benchdata generates the benchmark data set of issue 5: tenants ×
// users × projects × tasks × comments, written with ent bulk creates under
// a system context. The data is deterministic (a seeded generator), and
// created_at increases with the ID within each table, so that ordering by
// creation time and ordering by ID agree.
package benchdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/task"
	"tenantgraph/internal/priority"
	"tenantgraph/internal/role"
	"tenantgraph/internal/workflow"
)

// Shape is the size of a data set: Users per tenant, Projects per tenant,
// Tasks per project, Comments per task.
type Shape struct {
	Tenants, Users, Projects, Tasks, Comments int
}

// Full is the data set: 10 tenants × 10 users × 100 projects × 20
// tasks × 5 comments (1,000 projects, 20,000 tasks, 100,000 comments).
var Full = Shape{Tenants: 10, Users: 10, Projects: 100, Tasks: 20, Comments: 5}

// ParseShape reads "TxUxPxTxC", such as "10x10x100x20x5".
func ParseShape(s string) (Shape, error) {
	var sh Shape
	n, err := fmt.Sscanf(s, "%dx%dx%dx%dx%d", &sh.Tenants, &sh.Users, &sh.Projects, &sh.Tasks, &sh.Comments)
	if err != nil || n != 5 || sh.Tenants < 1 || sh.Users < 1 || sh.Projects < 1 || sh.Tasks < 0 || sh.Comments < 0 {
		return Shape{}, fmt.Errorf("benchdata: shape %q: want TENANTSxUSERSxPROJECTSxTASKSxCOMMENTS, all positive", s)
	}
	return sh, nil
}

func (s Shape) String() string {
	return fmt.Sprintf("%d tenants × %d users × %d projects × %d tasks × %d comments", s.Tenants, s.Users, s.Projects, s.Tasks, s.Comments)
}

// Tenant is one generated tenant.
type Tenant struct {
	ID     int
	Slug   string
	Emails []string // its users; the first is its OWNER, the others MEMBERs
}

// Dataset is what Generate wrote.
type Dataset struct {
	Shape    Shape
	Tenants  []Tenant
	Password string // every generated user's password
	Rows     int    // rows written, all tables
	Took     time.Duration
}

// Password is every generated user's password.
const Password = "benchmark-password"

// TitleLen and BodyLen are the lengths of task titles and comment bodies.
const (
	TitleLen = 40
	BodyLen  = 200
)

// batch is the rows per bulk insert: well under SQLite's 32,766 and
// PostgreSQL's 65,535 bound parameters for the widest table (tasks).
const batch = 1000

// base is the first created_at; each row is a millisecond after the last
// one of its table.
var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate writes the data set through c. passwordHash is the stored hash of
// Password (hash once: bcrypt is slow by design). Each tenant is written in
// one transaction.
func Generate(ctx context.Context, c *ent.Client, passwordHash string, s Shape) (*Dataset, error) {
	start := time.Now()
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	g := &gen{rnd: rand.New(rand.NewPCG(5, 2025)), clock: map[string]int{}}
	ds := &Dataset{Shape: s, Password: Password}
	for t := 0; t < s.Tenants; t++ {
		tx, err := c.Tx(ctx)
		if err != nil {
			return nil, err
		}
		tn, rows, err := g.tenant(ctx, tx.Client(), passwordHash, s, t)
		if err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("benchdata: tenant %d: %w", t, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("benchdata: committing tenant %d: %w", t, err)
		}
		ds.Tenants = append(ds.Tenants, tn)
		ds.Rows += rows
	}
	ds.Took = time.Since(start)
	return ds, nil
}

type gen struct {
	rnd   *rand.Rand
	clock map[string]int // per table: rows so far, for created_at
}

func (g *gen) at(table string) time.Time {
	g.clock[table]++
	return base.Add(time.Duration(g.clock[table]) * time.Millisecond)
}

func (g *gen) tenant(ctx context.Context, c *ent.Client, hash string, s Shape, t int) (Tenant, int, error) {
	slug := fmt.Sprintf("bench-%02d", t)
	tn, err := c.Tenant.Create().SetName(fmt.Sprintf("Bench tenant %02d", t)).SetSlug(slug).Save(ctx)
	if err != nil {
		return Tenant{}, 0, err
	}
	out := Tenant{ID: tn.ID, Slug: slug}
	rows := 1

	users := make([]*ent.UserCreate, s.Users)
	for u := range users {
		email := fmt.Sprintf("user%02d@%s.bench.local", u, slug)
		out.Emails = append(out.Emails, email)
		at := g.at("users")
		users[u] = c.User.Create().SetEmail(email).SetName(fmt.Sprintf("%s %s", pick(g.rnd, firstNames), pick(g.rnd, lastNames))).
			SetPasswordHash(hash).SetCreatedAt(at).SetUpdatedAt(at)
	}
	us, err := c.User.CreateBulk(users...).Save(ctx)
	if err != nil {
		return Tenant{}, 0, fmt.Errorf("users: %w", err)
	}
	userIDs := make([]int, len(us))
	members := make([]*ent.MembershipCreate, len(us))
	for i, u := range us {
		userIDs[i] = u.ID
		r := role.Member
		if i == 0 {
			r = role.Owner
		}
		members[i] = c.Membership.Create().SetTenantID(tn.ID).SetUserID(u.ID).SetRole(r)
	}
	if err := c.Membership.CreateBulk(members...).Exec(ctx); err != nil {
		return Tenant{}, 0, fmt.Errorf("memberships: %w", err)
	}
	rows += 2 * len(us)

	projects := make([]*ent.ProjectCreate, s.Projects)
	for p := range projects {
		at := g.at("projects")
		projects[p] = c.Project.Create().SetTenantID(tn.ID).SetName(fmt.Sprintf("Project %03d %s", p, pick(g.rnd, words))).
			SetStatus(workflow.Statuses[p%len(workflow.Statuses)]).SetCreatedByID(userIDs[p%len(userIDs)]).
			SetCreatedAt(at).SetUpdatedAt(at)
	}
	ps, err := c.Project.CreateBulk(projects...).Save(ctx)
	if err != nil {
		return Tenant{}, 0, fmt.Errorf("projects: %w", err)
	}
	rows += len(ps)

	var taskIDs []int
	var tasks []*ent.TaskCreate
	flushTasks := func() error {
		if len(tasks) == 0 {
			return nil
		}
		ts, err := c.Task.CreateBulk(tasks...).Save(ctx)
		if err != nil {
			return fmt.Errorf("tasks: %w", err)
		}
		for _, t := range ts {
			taskIDs = append(taskIDs, t.ID)
		}
		rows += len(ts)
		tasks = tasks[:0]
		return nil
	}
	prios := []priority.Priority{priority.Low, priority.Medium, priority.High, priority.Urgent}
	statuses := []task.Status{task.StatusTODO, task.StatusIN_PROGRESS, task.StatusDONE}
	for _, p := range ps {
		for k := 0; k < s.Tasks; k++ {
			at := g.at("tasks")
			tc := c.Task.Create().SetTenantID(tn.ID).SetProjectID(p.ID).SetTitle(text(g.rnd, TitleLen)).
				SetStatus(statuses[g.rnd.IntN(len(statuses))]).SetPriority(prios[g.rnd.IntN(len(prios))]).
				SetCreatedByID(userIDs[g.rnd.IntN(len(userIDs))]).SetCreatedAt(at).SetUpdatedAt(at)
			if k%4 != 3 { // a quarter unassigned
				tc.SetAssigneeID(userIDs[g.rnd.IntN(len(userIDs))])
			}
			if k%2 == 0 { // half with a due date
				tc.SetDueDate(base.AddDate(0, 0, 30+g.rnd.IntN(300)))
			}
			tasks = append(tasks, tc)
			if len(tasks) == batch {
				if err := flushTasks(); err != nil {
					return Tenant{}, 0, err
				}
			}
		}
	}
	if err := flushTasks(); err != nil {
		return Tenant{}, 0, err
	}

	var comments []*ent.CommentCreate
	flushComments := func() error {
		if len(comments) == 0 {
			return nil
		}
		if err := c.Comment.CreateBulk(comments...).Exec(ctx); err != nil {
			return fmt.Errorf("comments: %w", err)
		}
		rows += len(comments)
		comments = comments[:0]
		return nil
	}
	for _, id := range taskIDs {
		for k := 0; k < s.Comments; k++ {
			at := g.at("comments")
			comments = append(comments, c.Comment.Create().SetTenantID(tn.ID).SetTaskID(id).
				SetAuthorID(userIDs[g.rnd.IntN(len(userIDs))]).SetBody(text(g.rnd, BodyLen)).SetCreatedAt(at).SetUpdatedAt(at))
			if len(comments) == batch {
				if err := flushComments(); err != nil {
					return Tenant{}, 0, err
				}
			}
		}
	}
	if err := flushComments(); err != nil {
		return Tenant{}, 0, err
	}
	return out, rows, nil
}

// text returns words of the word list joined by spaces, exactly n bytes long.
func text(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pick(r, words))
	}
	s := strings.TrimRight(b.String()[:n], " ")
	if len(s) < n {
		s += strings.Repeat(".", n-len(s))
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

var words = strings.Fields(`review update design draft ship migrate refactor test deploy audit invoice
customer portal billing report dashboard onboarding search index cache queue worker schema backup restore
login session token tenant project task comment release sprint roadmap budget vendor contract support
ticket metric alert latency throughput capacity database replica shard network gateway mobile desktop`)

var firstNames = strings.Fields(`Ada Grace Alan Edsger Barbara Donald Ken Dennis Margaret Linus Guido Rob Frances John Radia Leslie`)

var lastNames = strings.Fields(`Lovelace Hopper Turing Dijkstra Liskov Knuth Thompson Ritchie Hamilton Torvalds Rossum Pike Allen Backus Perlman Lamport`)
