package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"tenantgraph/graph/model"
	"tenantgraph/internal/account"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/workflow"
)

func authPayload(s *account.Session, err error) (*model.AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.AuthPayload{Token: s.Token, ExpiresAt: s.ExpiresAt, User: s.User}, nil
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
