package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// OutboxEntry is one outgoing EMAIL or SLACK delivery, written in the same
// transaction as the change that caused it and delivered after commit by the
// dispatcher (internal/notify), with retries. An IN_APP entry is a share of
// a large broadcast's in-app rows, beyond the first thousand (which the
// change writes itself): the committing instance writes them right after
// commit, share by share, each with the entry's deletion in one
// transaction; the dispatcher writes those an instance left (it stopped
// mid-way). Not part of the GraphQL API.
type OutboxEntry struct{ ent.Schema }

// Mixin of the OutboxEntry.
func (OutboxEntry) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

// Fields of the OutboxEntry.
func (OutboxEntry) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("channel").Values("EMAIL", "SLACK", "IN_APP").Immutable(),
		// payload is the message, encoded by internal/notify.
		field.JSON("payload", map[string]string{}).Immutable(),
		field.Enum("status").Values("PENDING", "DELIVERED", "FAILED").Default("PENDING"),
		field.Int("attempts").Default(0).NonNegative(),
		field.Time("next_attempt_at").Default(Now),
		// claimed_until is the lease of the instance delivering the entry; an
		// entry whose lease ran out (its deliverer died) is claimed again.
		field.Time("claimed_until").Optional().Nillable(),
		field.Text("last_error").Optional(),
		field.Time("delivered_at").Optional().Nillable(),
	}
}

// Edges of the OutboxEntry.
func (OutboxEntry) Edges() []ent.Edge {
	return []ent.Edge{tenantEdge("outbox_entries", false)}
}

// Indexes of the OutboxEntry: the dispatcher's "what is due" scan, and the
// retention sweep's finished entries by age, which read the whole outbox
// at every sweep without it.
func (OutboxEntry) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "next_attempt_at"),
		index.Fields("status", "updated_at"),
	}
}

// Annotations of the OutboxEntry.
func (OutboxEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
