package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// User is a person with an account. Users are global; what they may see and do
// comes from their memberships.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").NotEmpty().Validate(maxRunes(254)).Unique(),
		field.String("name").NotEmpty().Validate(maxRunes(100)),
		field.String("password_hash").Sensitive().NotEmpty(),
	}
}

// Edges of the User. All hidden from GraphQL and from where-inputs: a filter
// that walked from a user into their other tenants would leak those tenants'
// data. The viewer's own memberships are a hand-written field.
func (User) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("memberships", Membership.Type).Annotations(skip),
		edge.To("created_projects", Project.Type).Annotations(skip),
		edge.To("created_tasks", Task.Type).Annotations(skip),
		edge.To("assigned_tasks", Task.Type).Annotations(skip),
		edge.To("comments", Comment.Type).Annotations(skip),
		edge.To("notifications", Notification.Type).Annotations(skip),
		edge.To("activity_logs", ActivityLog.Type).Annotations(skip),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipOrderField, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
