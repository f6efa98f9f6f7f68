package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"tenantgraph/graph/model"
	"tenantgraph/internal/account"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/stats"
	"tenantgraph/internal/workflow"
)

func authPayload(s *account.Session, err error) (*model.AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.AuthPayload{Token: s.Token, ExpiresAt: s.ExpiresAt, User: s.User}, nil
}

// kept returns an update's value for a field that cannot be cleared (a
// name, a title, a status): nil when the field is absent, and an Invalid
// error naming it when it is null, which would otherwise change nothing
// without a word to a client that meant to clear it.
func kept[T any](field string, o graphql.Omittable[*T]) (*T, error) {
	if o.IsSet() && o.Value() == nil {
		return nil, apperr.InvalidField(field, "cannot be null: leave it out to keep its value")
	}
	return o.Value(), nil
}

// optional turns gqlgen's "absent, null or a value" into the domain's.
func optional[T any](o graphql.Omittable[*T]) projects.Optional[T] {
	return projects.Optional[T]{Set: o.IsSet(), Value: o.Value()}
}

func workflowRows() []*model.WorkflowTransition {
	rows := make([]*model.WorkflowTransition, len(workflow.Table))
	for i, t := range workflow.Table {
		rows[i] = &model.WorkflowTransition{From: t.From, To: t.To, MinRole: t.MinRole}
	}
	return rows
}

func tenantStats(s *stats.Tenant, err error) (*model.TenantStats, error) {
	if err != nil {
		return nil, err
	}
	out := &model.TenantStats{
		MemberCount: s.Members, ProjectCount: s.Projects, TaskCount: s.Tasks, CommentCount: s.Comments,
	}
	for _, p := range s.ProjectsByStatus {
		out.ProjectsByStatus = append(out.ProjectsByStatus, &model.ProjectStatusCount{Status: p.Status, Count: p.Count})
	}
	for _, t := range s.TasksByStatus {
		out.TasksByStatus = append(out.TasksByStatus, &model.TaskStatusCount{Status: t.Status, Count: t.Count})
	}
	return out, nil
}
