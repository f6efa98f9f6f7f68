package notify

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tenantgraph/internal/pubsub"
)

// stalledBroker's Publish waits until its context ends, as a NOTIFY does
// on a database that stopped answering.
type stalledBroker struct{ pubsub.Broker }

func (stalledBroker) Publish(ctx context.Context, _ ...pubsub.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

// A publish that does not return is given up after publishTimeout and
// logged: the response of a mutation whose transaction committed waits
// for it, and must not wait on a stalled database for ever.
func TestPublishGivesUpOnAStalledBroker(t *testing.T) {
	defer func(d time.Duration) { publishTimeout = d }(publishTimeout)
	publishTimeout = 20 * time.Millisecond
	var logs bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishEvents(context.Background(), stalledBroker{}, slog.New(slog.NewTextHandler(&logs, nil)),
			[]pubsub.Event{{TenantID: 1, UserID: 2, NotificationID: 3}})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishEvents is still waiting on a stalled broker")
	}
	if !strings.Contains(logs.String(), "publishing notifications") || !strings.Contains(logs.String(), "deadline exceeded") {
		t.Errorf("log: got %q, want the failed publish", logs.String())
	}
}
