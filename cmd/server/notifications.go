package main

import (
	"context"
	"log/slog"
	"sync"

	"entgo.io/ent/dialect"

	"tenantgraph/internal/database"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/pubsub"
)

// notifications is the running notification machinery: the broker behind
// the live feed, the notifier used by mutations, the outbox dispatcher and,
// with NOTIFICATION_RETENTION, the deletion of old notifications.
type notifications struct {
	broker   pubsub.Broker
	notifier *notify.Notifier
	guard    notify.WebhookGuard
	stop     func()
}

// startNotifications picks the broker (LISTEN/NOTIFY on PostgreSQL, so that
// instances share one feed; in-process on SQLite) and starts the dispatcher
// and the retention sweep. stop ends the notifier's writing of broadcasts,
// the dispatcher and the sweep, then the broker.
func startNotifications(ctx context.Context, cfg config, db *database.DB, m *metrics.Metrics, log *slog.Logger) (*notifications, error) {
	var broker pubsub.Broker = pubsub.NewLocal(0)
	if db.Dialect == dialect.Postgres {
		pg, err := pubsub.NewPostgres(cfg.DatabaseURL, db.SQL, 0, log)
		if err != nil {
			return nil, err
		}
		broker = pg
	}
	var email notify.Sender = notify.LogEmail{Log: log}
	if cfg.SMTPURL != "" {
		smtpSender, err := notify.NewSMTPEmail(cfg.SMTPURL)
		if err != nil {
			broker.Close()
			return nil, err
		}
		email = smtpSender
	}
	guard := notify.WebhookGuard{AllowLoopback: cfg.WebhookLoopback}
	dispatcher := notify.NewDispatcher(db.Client, db.Dialect, map[string]notify.Sender{
		notify.Email: email,
		notify.Slack: notify.NewSlackSender(notify.SlackConfig{Guard: guard}),
	}, notify.DispatcherConfig{MaxAttempts: cfg.OutboxAttempts, Observe: m.Delivery, Broker: broker}, log)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dispatcher.Run(runCtx)
	}()
	if cfg.Retention > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			notify.Retention{Client: db.Client, Keep: cfg.Retention, Deleted: m.Expired, Log: log}.Run(runCtx)
		}()
	}
	notifier := notify.NewNotifier(broker, dispatcher.Wake, log)
	return &notifications{
		broker:   broker,
		notifier: notifier,
		guard:    guard,
		stop: func() {
			notifier.Close() // the shares of broadcasts not written yet are the dispatcher's after a restart
			cancel()
			wg.Wait()
			_ = broker.Close()
		},
	}, nil
}
