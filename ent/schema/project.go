package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"tenantgraph/internal/workflow"
)

// Project is a body of work moving through the approval workflow.
type Project struct{ ent.Schema }

// Mixin of the Project.
func (Project) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

// Fields of the Project. Status changes only through the workflow
// (projects.Transition), never through an update input.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Validate(maxRunes(200)).Annotations(entgql.OrderField("NAME")),
		field.Text("description").Optional().Nillable().Validate(maxRunes(10000)),
		field.Enum("status").GoType(workflow.Status("")).Default(string(workflow.Initial)).
			Annotations(entgql.Type("ProjectStatus"), entgql.OrderField("STATUS")),
		field.Int("created_by_id").Immutable().Annotations(hidden),
	}
}

// Edges of the Project.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		tenantEdge("projects", false),
		edge.From("created_by", User.Type).Ref("created_projects").Field("created_by_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("tasks", Task.Type).Annotations(entgql.RelayConnection(), cascade),
		edge.To("notifications", Notification.Type).Annotations(entgql.Skip(entgql.SkipAll), setNull),
	}
}

// Indexes of the Project: a tenant's projects by time (the common read) and
// by ID (the default order of a list without orderBy). Without the second,
// PostgreSQL read a small tenant's first page by walking the primary key
// through every other tenant's projects.
func (Project) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "created_at"),
		index.Fields("tenant_id", "id"),
	}
}

// Annotations of the Project.
func (Project) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
