package notify_test

import (
	"context"
	"slices"
	"testing"

	"entgo.io/ent/dialect"

	"tenantgraph/ent/privacy"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
)

// Two OWNERs changing the notification settings at once each keep the
// other's change: one changes the channels while the other sets the
// webhook URL, and the tenant ends with both (PostgreSQL: the second reads
// the tenant's row once the first has committed; each writes both
// settings, so reading it earlier undid the first change). SQLite's write
// transactions take turns from their start.
func TestConfigChangesKeepEachOthers(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		owner := e.Register("Olga")
		tenant, err := globalid.Decode(e.CreateTenant(owner, "acme"))
		if err != nil {
			t.Fatal(err)
		}
		ownerID, err := globalid.Decode(owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		ctx := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: ownerID, TenantID: tenant, Role: role.Owner})
		check := func(in notify.ConfigInput) notify.CheckedConfig {
			t.Helper()
			checked, err := notify.CheckConfig(ctx, notify.WebhookGuard{}, in)
			if err != nil {
				t.Fatal(err)
			}
			return checked
		}
		channels := check(notify.ConfigInput{Channels: []string{notify.InApp, notify.Email}})
		url := "https://93.184.216.34/hook"
		webhook := check(notify.ConfigInput{WebhookSet: true, WebhookURL: &url})

		first, err := e.DB.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Rollback() //nolint:errcheck // a no-op after Commit
		if _, err := notify.UpdateConfig(ctx, first.Client(), channels); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() {
			tx, err := e.DB.Client.Tx(ctx)
			if err == nil {
				if _, err = notify.UpdateConfig(ctx, tx.Client(), webhook); err == nil {
					err = tx.Commit()
				}
				_ = tx.Rollback()
			}
			second <- err
		}()
		e.AwaitLockWait(t)
		if err := first.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatalf("the second change: %v", err)
		}
		got, err := e.DB.Client.Tenant.Get(privacy.DecisionContext(context.Background(), privacy.Allow), tenant)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.NotificationChannels, []string{notify.InApp, notify.Email}) || got.SlackWebhookURL != url {
			t.Errorf("settings: got channels %v and webhook %q, want [IN_APP EMAIL] and %q", got.NotificationChannels, got.SlackWebhookURL, url)
		}
	})
}
