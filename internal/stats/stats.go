// Package stats computes a tenant's numbers with aggregate queries (COUNT
// and GROUP BY), never by loading rows. The tenant-scoped client confines
// every count to the caller's tenant.
package stats

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"tenantgraph/ent"
	"tenantgraph/ent/project"
	"tenantgraph/ent/task"
	"tenantgraph/internal/workflow"
)

// Tenant is a tenant's numbers.
type Tenant struct {
	Members, Projects, Tasks, Comments int
	ProjectsByStatus                   []ProjectCount // every status, in workflow order
	TasksByStatus                      []TaskCount    // every status
}

// ProjectCount is how many projects are in one status.
type ProjectCount struct {
	Status workflow.Status
	Count  int
}

// TaskCount is how many tasks are in one status.
type TaskCount struct {
	Status task.Status
	Count  int
}

// Of computes the current tenant's numbers: four aggregate queries, two at
// a time (an OWNER's dashboard must not take a large share of the pool's
// connections). The project and task totals are the sums of their
// statuses' counts, so each total agrees with its breakdown.
func Of(ctx context.Context, c *ent.Client) (*Tenant, error) {
	var (
		out       Tenant
		byProject []struct {
			Status workflow.Status `json:"status"`
			Count  int             `json:"count"`
		}
		byTask []struct {
			Status task.Status `json:"status"`
			Count  int         `json:"count"`
		}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	count := func(dst *int, q interface {
		Count(context.Context) (int, error)
	}) {
		g.Go(func() (err error) { *dst, err = q.Count(gctx); return err })
	}
	count(&out.Members, c.Membership.Query())
	count(&out.Comments, c.Comment.Query())
	g.Go(func() error {
		return c.Project.Query().GroupBy(project.FieldStatus).Aggregate(ent.Count()).Scan(gctx, &byProject)
	})
	g.Go(func() error {
		return c.Task.Query().GroupBy(task.FieldStatus).Aggregate(ent.Count()).Scan(gctx, &byTask)
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("stats: counting: %w", err)
	}
	projects := map[workflow.Status]int{}
	for _, r := range byProject {
		projects[r.Status] = r.Count
		out.Projects += r.Count
	}
	for _, s := range workflow.Statuses {
		out.ProjectsByStatus = append(out.ProjectsByStatus, ProjectCount{Status: s, Count: projects[s]})
	}
	tasks := map[task.Status]int{}
	for _, r := range byTask {
		tasks[r.Status] = r.Count
		out.Tasks += r.Count
	}
	for _, s := range []task.Status{task.StatusTODO, task.StatusIN_PROGRESS, task.StatusDONE} {
		out.TasksByStatus = append(out.TasksByStatus, TaskCount{Status: s, Count: tasks[s]})
	}
	return &out, nil
}
