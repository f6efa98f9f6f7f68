package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
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
		field.String("title").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("TITLE")),
		field.Text("description").Optional().Nillable().MaxLen(10000),
		field.Enum("status").Values("TODO", "IN_PROGRESS", "DONE").Default("TODO").
			Annotations(entgql.Type("TaskStatus"), entgql.OrderField("STATUS")),
		field.Int8("priority").GoType(priority.Priority(0)).Default(int8(priority.Medium)).
			Annotations(entgql.Type("TaskPriority"), entgql.OrderField("PRIORITY")),
		field.Int("assignee_id").Optional().Nillable().Annotations(hidden),
		field.Time("due_date").Optional().Nillable().Annotations(entgql.OrderField("DUE_DATE")),
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
	}
}

// Indexes of the Task.
func (Task) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "created_at"), index.Fields("tenant_id", "created_at")}
}

// Annotations of the Task.
func (Task) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
