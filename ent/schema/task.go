package schema

import (
	"context"
	"fmt"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"tenantgraph/internal/priority"
)

// Task is a unit of work inside a project.
type Task struct{ ent.Schema }

// Mixin of the Task.
func (Task) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

// Fields of the Task.
func (Task) Fields() []ent.Field {
	return []ent.Field{
		field.Int("project_id").Immutable().Annotations(hidden),
		field.String("title").NotEmpty().Validate(maxRunes(200)).Annotations(entgql.OrderField("TITLE")),
		field.Text("description").Optional().Nillable().Validate(maxRunes(10000)),
		field.Enum("status").Values("TODO", "IN_PROGRESS", "DONE").Default("TODO").
			Annotations(entgql.Type("TaskStatus"), entgql.OrderField("STATUS")),
		field.Int8("priority").GoType(priority.Priority(0)).Default(int8(priority.Medium)).
			Annotations(entgql.Type("TaskPriority"), entgql.OrderField("PRIORITY")),
		field.Int("assignee_id").Optional().Nillable().Annotations(hidden),
		field.Time("due_date").Optional().Nillable(),
		// due_sort mirrors due_date for ordering, with tasks that have no due
		// date last: cursor pagination cannot page over NULLs.
		field.Time("due_sort").Default(noDueDate).
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput), entgql.OrderField("DUE_DATE")),
		field.Int("created_by_id").Immutable().Annotations(hidden),
	}
}

// Edges of the Task.
func (Task) Edges() []ent.Edge {
	return []ent.Edge{
		tenantEdge("tasks", false),
		edge.From("project", Project.Type).Ref("tasks").Field("project_id").Unique().Required().Immutable(),
		edge.From("assignee", User.Type).Ref("assigned_tasks").Field("assignee_id").Unique().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.From("created_by", User.Type).Ref("created_tasks").Field("created_by_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("comments", Comment.Type).Annotations(entgql.RelayConnection(), cascade),
		edge.To("notifications", Notification.Type).Annotations(entgql.Skip(entgql.SkipAll), setNull),
	}
}

// Indexes of the Task. (tenant_id, project_id, created_at) serves every
// tasks-of-these-projects read, which the tenant interceptor always scopes
// with tenant_id = ? (see Comment's indexes); (tenant_id, id) the default
// order of a list without orderBy, as Project's; (tenant_id, assignee_id)
// a member's tasks (where: {assigneeID}), for assigned tasks only.
func (Task) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "created_at"),
		index.Fields("tenant_id", "created_at"),
		index.Fields("tenant_id", "project_id", "created_at"),
		index.Fields("tenant_id", "id"),
		index.Fields("tenant_id", "assignee_id").Annotations(entsql.IndexWhere("assignee_id IS NOT NULL")),
	}
}

// Annotations of the Task.
func (Task) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// noDueDate is the sort key of a task without a due date: after every real one.
func noDueDate() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

type dueDateMutation interface {
	ent.Mutation
	DueDate() (time.Time, bool)
	DueDateCleared() bool
	SetDueSort(time.Time)
}

// syncDueSort keeps due_sort equal to due_date (or noDueDate) on every write.
func syncDueSort(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		dm, ok := m.(dueDateMutation)
		if !ok {
			return nil, fmt.Errorf("schema: %s mutation has no due date", m.Type())
		}
		if d, set := dm.DueDate(); set {
			dm.SetDueSort(d)
		} else if dm.DueDateCleared() {
			dm.SetDueSort(noDueDate())
		}
		return next.Mutate(ctx, m)
	})
}
