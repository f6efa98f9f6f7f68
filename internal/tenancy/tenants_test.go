package tenancy_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/database"
	"tenantgraph/internal/tenancy"

	_ "tenantgraph/ent/runtime"
)

// racingDriver plays a second instance starting at the same moment: its
// first INSERT into tenants is preceded by the same INSERT, as if the other
// instance had created the row between this one's look-up and its insert.
type racingDriver struct {
	dialect.Driver
	once sync.Once
}

func (d *racingDriver) race(ctx context.Context, query string, args any) error {
	var err error
	if strings.HasPrefix(query, `INSERT INTO "tenants"`) || strings.HasPrefix(query, "INSERT INTO `tenants`") {
		d.once.Do(func() {
			var rows entsql.Rows
			if err = d.Driver.Query(ctx, query, args, &rows); err == nil {
				err = rows.Close()
			}
		})
	}
	return err
}

func (d *racingDriver) Exec(ctx context.Context, query string, args, v any) error {
	if err := d.race(ctx, query, args); err != nil {
		return err
	}
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *racingDriver) Query(ctx context.Context, query string, args, v any) error {
	if err := d.race(ctx, query, args); err != nil {
		return err
	}
	return d.Driver.Query(ctx, query, args, v)
}

// TestEnsureDefaultRacingAnotherInstance starts as the second of two
// instances on a fresh database: the default tenant is missing when it looks
// and present when it inserts. It must start with that tenant, not fail.
func TestEnsureDefaultRacingAnotherInstance(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			url := graphtest.NewDatabaseURL(t, d)
			setup, err := database.Open(ctx, url, database.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer setup.Close()
			if err := setup.MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}
			db, err := database.Open(ctx, url, database.Options{
				Wrap: func(drv dialect.Driver) dialect.Driver { return &racingDriver{Driver: drv} },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			def, err := tenancy.EnsureDefault(ctx, db.Client)
			if err != nil {
				t.Fatalf("EnsureDefault: %v", err)
			}
			if def.Slug != tenancy.DefaultSlug {
				t.Errorf("EnsureDefault returned tenant %q, want %q", def.Slug, tenancy.DefaultSlug)
			}
			var n int
			if err := setup.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM tenants").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d tenants after EnsureDefault, want 1", n)
			}
		})
	}
}
