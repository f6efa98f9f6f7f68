package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Notification is an in-app message to one member of a tenant. Only its
// recipient ever sees it.
type Notification struct{ ent.Schema }

// Mixin of the Notification.
func (Notification) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

// Fields of the Notification.
func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.Int("recipient_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("kind").
			Values("PROJECT_SUBMITTED", "PROJECT_TRANSITIONED", "TASK_ASSIGNED", "COMMENT_ADDED", "MEMBER_ADDED").
			Immutable().Annotations(entgql.Type("NotificationKind")),
		field.String("title").NotEmpty().Validate(maxRunes(300)).Immutable(),
		field.Text("body").Validate(maxRunes(10000)).Immutable(),
		field.Bool("read").Default(false),
		field.Int("project_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("task_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Notification. The project and task it is about may be deleted
// later; the notification then stays, pointing at nothing.
func (Notification) Edges() []ent.Edge {
	return []ent.Edge{
		tenantEdge("notifications", false),
		edge.From("recipient", User.Type).Ref("notifications").Field("recipient_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("project", Project.Type).Ref("notifications").Field("project_id").Unique(),
		edge.From("task", Task.Type).Ref("notifications").Field("task_id").Unique(),
	}
}

// Indexes of the Notification: a recipient's list, newest first; their
// unread ones, newest first, and the unread count (without created_at, an
// unread page walked every read notification of the recipient); and the
// rows of a project or a task, which its deletion sets to NULL (ON DELETE
// SET NULL reads them by project_id or task_id: without these, deleting a
// project read the whole table once for the project and once for each of
// its tasks). Only rows that have a project
// or a task are indexed: a project's broadcasts have no task, so a
// broadcast to 10,000 writes no entry in the task index.
func (Notification) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "recipient_id", "created_at"),
		index.Fields("tenant_id", "recipient_id", "read", "created_at"),
		index.Fields("project_id").Annotations(entsql.IndexWhere("project_id IS NOT NULL")),
		index.Fields("task_id").Annotations(entsql.IndexWhere("task_id IS NOT NULL")),
	}
}

// Annotations of the Notification.
func (Notification) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
