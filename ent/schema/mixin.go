// Package schema is the ent schema: the entities, their fields and edges, and
// (in policy.go) the privacy rules that confine every read and write of
// tenant-owned data to the caller's tenant.
package schema

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"tenantgraph/internal/viewer"
)

// Now is the clock for timestamps: UTC truncated to microseconds, so values
// round-trip identically through SQLite and PostgreSQL and cursors match.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// TimeMixin adds created_at and updated_at, both orderable in GraphQL.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(Now).UpdateDefault(Now).
			Annotations(entgql.OrderField("UPDATED_AT")),
	}
}

// TenantMixin marks an entity as tenant-owned: a tenant_id column stamped
// on create from the request's viewer (never from input). It declares no
// index: each entity's own indexes begin with tenant_id, for its queries
// (the tenant interceptor adds tenant_id = ? to every one), and a lone
// tenant_id index beside them was written with every row and never the
// best choice (ent/schema's TestTenantQueriesHaveAnIndex). The outbox is
// read by the dispatcher by status, across tenants, and has none. The
// mixin's privacy policy and query interceptor live in policy.go.
type TenantMixin struct{ mixin.Schema }

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int("tenant_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Hooks of the TenantMixin: the create hook that stamps tenant_id. Privacy
// filters do not apply to creates, so this is what keeps a new row in the
// caller's tenant.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{stampTenant}
}

type tenantMutation interface {
	ent.Mutation
	TenantID() (int, bool)
	SetTenantID(int)
}

func stampTenant(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if !m.Op().Is(ent.OpCreate) {
			return next.Mutate(ctx, m)
		}
		tm, ok := m.(tenantMutation)
		if !ok {
			return nil, fmt.Errorf("schema: %s mutation has no tenant_id", m.Type())
		}
		v := viewer.FromContext(ctx)
		if v == nil || v.TenantID == 0 {
			// System work (seeding) sets tenant_id explicitly; a request
			// always carries a viewer with a tenant.
			if _, set := tm.TenantID(); set {
				return next.Mutate(ctx, m)
			}
			return nil, fmt.Errorf("schema: creating %s without a tenant", m.Type())
		}
		if id, set := tm.TenantID(); set && id != v.TenantID {
			return nil, fmt.Errorf("schema: creating %s in tenant %d from tenant %d refused", m.Type(), id, v.TenantID)
		}
		tm.SetTenantID(v.TenantID)
		return next.Mutate(ctx, m)
	})
}

// tenantEdge is the edge from a tenant-owned entity to its tenant, bound to
// the tenant_id field. Hidden from GraphQL unless visible is set.
func tenantEdge(ref string, visible bool) ent.Edge {
	e := edge.From("tenant", Tenant.Type).Ref(ref).Field("tenant_id").Unique().Required().Immutable()
	if !visible {
		e = e.Annotations(entgql.Skip(entgql.SkipAll))
	}
	return e
}

// hidden hides a field or edge from the GraphQL type while keeping it in the
// where-input (edge fields such as project_id are useful filters).
var hidden = entgql.Skip(entgql.SkipType)

// cascade deletes children with their parent at the database level too.
var cascade = entsql.OnDelete(entsql.Cascade)

// setNull keeps a row whose parent is deleted, pointing at nothing.
var setNull = entsql.OnDelete(entsql.SetNull)

// maxRunes limits a string to n characters. ent's MaxLen counts bytes, which
// would refuse a 100-character name written in a script of multibyte letters.
func maxRunes(n int) func(string) error {
	return func(s string) error {
		if c := utf8.RuneCountInString(s); c > n {
			return fmt.Errorf("at most %d characters, got %d", n, c)
		}
		return nil
	}
}
