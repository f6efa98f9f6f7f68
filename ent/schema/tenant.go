package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Tenant is an organisation. Everything but users belongs to exactly one.
type Tenant struct{ ent.Schema }

// Mixin of the Tenant.
func (Tenant) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Tenant.
func (Tenant) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Validate(maxRunes(100)),
		field.String("slug").NotEmpty().Validate(maxRunes(63)).Unique().Immutable(),
		// Notification settings, served through the hand-written
		// Tenant.config field (the webhook URL to OWNERs alone).
		field.Strings("notification_channels").Default([]string{"IN_APP"}).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("slack_webhook_url").Optional().Sensitive(),
	}
}

// Edges of the Tenant. Hidden from GraphQL: a tenant's data is reached through
// the tenant-scoped root fields, never by walking from a tenant.
func (Tenant) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("memberships", Membership.Type).Annotations(skip),
		edge.To("projects", Project.Type).Annotations(skip),
		edge.To("tasks", Task.Type).Annotations(skip),
		edge.To("comments", Comment.Type).Annotations(skip),
		edge.To("notifications", Notification.Type).Annotations(skip),
		edge.To("outbox_entries", OutboxEntry.Type).Annotations(skip),
		edge.To("activity_logs", ActivityLog.Type).Annotations(skip),
	}
}

// Annotations of the Tenant.
func (Tenant) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
