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
// and the retention sweep. The dispatcher stops claiming when ctx ends;
// stop ends the notifier's writing of broadcasts, waits for the
// dispatcher's sends under way (bounded: notify.DispatcherConfig.StopGrace)
// and ends the sweep, then the broker.
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
	if cfg.SMTPURL == "" && cfg.production() {
		log.Warn("SMTP_URL is not set: EMAIL notifications are written to this log, with their text, and reach no one")
	}
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
	// The dispatcher stops claiming as soon as shutdown begins (ctx ends),
	// while the HTTP server drains, rather than after: its sends under way
	// get the dispatcher's StopGrace (5s) and their records 5s more, at the
	// same time as requests get SHUTDOWN_GRACE (15s), so the shutdown takes
	// the longer of the two, no longer than it did with the defaults.
	// Entries queued by the requests still draining are delivered after the
	// restart, or by another instance.
	dispatchCtx, stopDispatching := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dispatcher.Run(dispatchCtx)
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
			stopDispatching()
			cancel()
			wg.Wait()
			_ = broker.Close()
		},
	}, nil
}
