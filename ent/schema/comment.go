package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Comment is a remark on a task.
type Comment struct{ ent.Schema }

// Mixin of the Comment.
func (Comment) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

// Fields of the Comment.
func (Comment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("task_id").Immutable().Annotations(hidden),
		field.Int("author_id").Immutable().Annotations(hidden),
		field.Text("body").NotEmpty().Validate(maxRunes(10000)),
	}
}

// Edges of the Comment.
func (Comment) Edges() []ent.Edge {
	return []ent.Edge{
		tenantEdge("comments", false),
		edge.From("task", Task.Type).Ref("comments").Field("task_id").Unique().Required().Immutable(),
		edge.From("author", User.Type).Ref("comments").Field("author_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of the Comment. (tenant_id, task_id, created_at) serves every
// comments-of-these-tasks read: the tenant interceptor always adds
// tenant_id = ?, and without it SQLite's planner prefers the tenant_id index
// and scans every comment of the tenant.
func (Comment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("task_id", "created_at"),
		index.Fields("tenant_id", "task_id", "created_at"),
	}
}

// Annotations of the Comment.
func (Comment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
